//! Serving published collections through titiler-pgstac: the collections
//! go to the S3 server and the STAC API (PostgreSQL + pgstac), and the
//! tiler, on the same database, reads the COGs from S3 with GDAL.
//!
//! - The collection's `default` render (listed by the tiler's
//!   `/collections/{id}/info`) makes a visible tile whose colours are the
//!   colour map at the rescaled values, on a real GeoTIFF, a MODIS HDF-EOS2
//!   granule and the NSIDC sea-ice file of ../shared/data.
//! - A mosaic (a registered search) over two items equals GDAL's warp of
//!   the COGs to the same tile grid, at two zoom levels.

mod common;

use common::*;
use serde_json::{json, Value};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The WebMercatorQuad tile at zoom `z` holding `lon`/`lat`.
fn tile_of(lon: f64, lat: f64, z: u32) -> (u32, u32) {
    let n = f64::from(1u32 << z);
    let x = (lon + 180.0) / 360.0 * n;
    let y = (1.0 - lat.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n;
    (x.floor() as u32, y.floor() as u32)
}

/// An image's bands, geotransform (none for a PNG) and size.
type Image = (Vec<Vec<f64>>, Option<[f64; 6]>, (usize, usize));

/// The image of PNG or GeoTIFF bytes (written to `dir/name`).
fn image(bytes: &[u8], dir: &Path, name: &str) -> Image {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let gt = gdal::Dataset::open(&path).unwrap().geo_transform().ok();
    let (size, bands) = pixels(&path);
    (bands, gt, size)
}

fn get_json(url: &str) -> Value {
    serde_json::from_slice(&http(url, None)).unwrap()
}

/// Runs `package` over `sources` into `out`, checks the collection's
/// tiler metadata and publishes it to `s3://bucket/<name>` and the API.
/// Returns the collection.
fn run_and_publish(
    s3: &S3Server,
    api: &StacApi,
    package: &str,
    sources: &[PathBuf],
    out: &Path,
    extra: &[&str],
) -> Value {
    let mut args: Vec<OsString> = vec!["run".into(), package.into()];
    args.extend(sources.iter().map(|s| s.clone().into_os_string()));
    args.extend(["--out".into(), out.as_os_str().to_owned()]);
    args.extend(extra.iter().map(OsString::from));
    let run = stacforge(args);
    assert!(run.status.success(), "{}", text(&run));
    let collection = json(&out.join("collection.json"));
    assert_tiler_metadata(&collection, out);
    assert_schema_valid(&out.join("collection.json"));
    let name = collection["id"].as_str().unwrap();
    let publish = s3
        .stacforge(S3_SECRET_KEY)
        .args(["publish", "--to", &format!("s3://bucket/{name}")])
        .args(["--to-api", &api.url()])
        .arg(out)
        .output()
        .unwrap();
    assert!(publish.status.success(), "{}", text(&publish));
    collection
}

/// `renders` with a `default`, `item_assets` naming every asset of every
/// item, summaries, and the render extension declared.
fn assert_tiler_metadata(collection: &Value, dir: &Path) {
    let id = &collection["id"];
    assert!(
        collection["renders"]["default"]["assets"].is_array(),
        "{id}: no default render: {collection:#}"
    );
    assert!(collection["summaries"].is_object(), "{id}: no summaries");
    let extensions = collection["stac_extensions"].as_array().unwrap();
    assert!(
        extensions
            .iter()
            .any(|e| e.as_str().unwrap().contains("/render/")),
        "{id}: {extensions:?}"
    );
    let item_assets = collection["item_assets"].as_object().unwrap();
    for entry in std::fs::read_dir(dir.join("items")).unwrap() {
        let folder = entry.unwrap().path();
        let name = folder.file_name().unwrap().to_string_lossy().into_owned();
        let item = json(&folder.join(format!("{name}.json")));
        for key in item["assets"].as_object().unwrap().keys() {
            assert!(
                item_assets.contains_key(key),
                "{id}: item_assets lacks `{key}`"
            );
        }
        assert!(
            item["properties"]["renders"]["default"].is_object(),
            "{name}"
        );
    }
}

/// The collection's `default` render, as the tiler lists it, makes a tile
/// at `lon`/`lat` and zoom `z` that is visible (a tenth of it data at
/// least, in as many colours as values up to 8) and correctly scaled:
/// every data pixel has the colour map's colour at its value rescaled by
/// the render (±1 step, for rounding), or its class's colour for
/// categorical data; every nodata pixel is transparent.
fn assert_default_render(
    tiler: &str,
    collection: &Value,
    (lon, lat): (f64, f64),
    z: u32,
    dir: &Path,
) {
    let id = collection["id"].as_str().unwrap();
    let info = get_json(&format!("{tiler}/collections/{id}/info"));
    let link = (info["links"].as_array().unwrap().iter())
        .find(|l| {
            l["rel"] == "tilejson"
                && l["title"]
                    .as_str()
                    .unwrap_or("")
                    .contains("`default` layer")
        })
        .unwrap_or_else(|| panic!("{id}: the tiler lists no default layer: {info:#}"));
    let tilejson = get_json(
        &link["href"]
            .as_str()
            .unwrap()
            .replace("{tileMatrixSetId}", "WebMercatorQuad"),
    );
    let template = tilejson["tiles"][0].as_str().unwrap();
    let (x, y) = tile_of(lon, lat, z);
    let url = (template.replace("{z}", &z.to_string()))
        .replace("{x}", &x.to_string())
        .replace("{y}", &format!("{y}.png"));
    let (rgba, _, (w, h)) = image(&http(&url, None), dir, &format!("{id}.png"));
    assert_eq!(rgba.len(), 4, "{url}: an RGBA tile");
    // The same tile's values: the query without the rendering parameters.
    let (path, query) = url.split_once('?').unwrap();
    let kept: Vec<&str> = (query.split('&'))
        .filter(|p| {
            ["assets=", "bidx=", "tilesize=", "nodata="]
                .iter()
                .any(|k| p.starts_with(k))
        })
        .collect();
    let raw_url = format!("{}?{}", path.replace(".png", ".tif"), kept.join("&"));
    let (raw, _, _) = image(&http(&raw_url, None), dir, &format!("{id}.tif"));
    assert_eq!(raw.len(), 2, "{raw_url}: values and mask");

    let render = &collection["renders"]["default"];
    let rgb = |c: &Value| -> Option<[f64; 3]> {
        let c = c.as_array()?;
        Some([0, 1, 2].map(|i| c[i].as_f64().unwrap()))
    };
    // The colours a value may have: its class's (categorical data), or the
    // colour map's at the rescaled value, ±1 step for rounding.
    let expected: Box<dyn Fn(f64) -> Vec<[f64; 3]>> = match render["colormap"].as_object() {
        Some(classes) => {
            let classes = classes.clone();
            Box::new(move |v| {
                let class = classes.get(&(v as i64).to_string());
                class.and_then(rgb).into_iter().collect()
            })
        }
        None => {
            let low = render["rescale"][0][0].as_f64().expect("a rescale");
            let high = render["rescale"][0][1].as_f64().unwrap();
            let name = render["colormap_name"].as_str().expect("a colour map");
            let lut = get_json(&format!("{tiler}/colorMaps/{name}"));
            Box::new(move |v| {
                let step = ((v.clamp(low, high) - low) / (high - low) * 255.0) as i64;
                (step - 1..=step + 1)
                    .filter_map(|k| rgb(&lut[k.clamp(0, 255).to_string()]))
                    .collect()
            })
        }
    };
    let (mut data, mut wrong) = (0, Vec::new());
    let mut colours = std::collections::BTreeSet::new();
    let mut values = std::collections::BTreeSet::new();
    for i in 0..w * h {
        if raw[1][i] == 0.0 {
            assert_eq!(rgba[3][i], 0.0, "{id}: nodata pixel {i} is not transparent");
            continue;
        }
        data += 1;
        values.insert(raw[0][i].to_bits());
        let got = [rgba[0][i], rgba[1][i], rgba[2][i]];
        colours.insert(got.map(|c| c as u8));
        if rgba[3][i] == 0.0 || !expected(raw[0][i]).contains(&got) {
            wrong.push((i, raw[0][i], got));
        }
    }
    assert!(
        wrong.is_empty(),
        "{id}: {} pixel(s) not coloured as rendered, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    assert!(
        data * 10 >= w * h,
        "{id}: only {data} of {} pixels have data",
        w * h
    );
    // Visible: as many colours as values, up to 8 (a continuous range
    // spread over the colour map, or every class apart).
    assert!(
        colours.len() >= values.len().min(8),
        "{id}: {} colour(s) for {} value(s)",
        colours.len(),
        values.len()
    );
}

/// A mosaic of the collection's items (a search registered with the
/// tiler) at zoom `z` equals `gdalwarp` of the COGs to the tile's grid
/// (nearest, into EPSG:3857): the same data mask, and the same values but
/// for nearest-neighbour ties, each of which must hold the value of an
/// adjacent reference pixel. GDAL's approximate transformer (0.125 px) is
/// evaluated over other chunks by gdalwarp than by the warped VRT the
/// tiler reads through, so a pixel centre on a source pixel edge may fall
/// either way. Tiles are at or above the data's resolution: below it the
/// tiler decimates a warped VRT over the overviews, which no gdalwarp
/// call reproduces.
fn assert_mosaic_equals_gdal(
    tiler: &str,
    id: &str,
    cogs: &[PathBuf],
    (lon, lat): (f64, f64),
    z: u32,
    dir: &Path,
) {
    let search: Value = serde_json::from_slice(&http(
        &format!("{tiler}/searches/register"),
        Some(&json!({"collections": [id]})),
    ))
    .unwrap();
    let search = search["id"].as_str().unwrap();
    let (x, y) = tile_of(lon, lat, z);
    let url = format!(
        "{tiler}/searches/{search}/tiles/WebMercatorQuad/{z}/{x}/{y}.tif?assets=data&tilesize=256"
    );
    let (tile, gt, (w, h)) = image(&http(&url, None), dir, "mosaic.tif");
    let gt = gt.expect("a georeferenced tile");
    let bounds = [
        gt[0],
        gt[3] + gt[5] * h as f64,
        gt[0] + gt[1] * w as f64,
        gt[3],
    ];
    let warp = |sources: &[PathBuf], name: &str| {
        let dst = dir.join(name);
        let out = Command::new("gdalwarp")
            .args([
                "-q",
                "-overwrite",
                "-t_srs",
                "EPSG:3857",
                "-r",
                "near",
                "-dstalpha",
                "-te",
            ])
            .args(bounds.map(|b| format!("{b:?}")))
            .args(["-ts", &w.to_string(), &h.to_string()])
            .args(sources)
            .arg(&dst)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        pixels(&dst).1
    };
    // Both items are in the tile.
    for (k, cog) in cogs.iter().enumerate() {
        let alone = warp(std::slice::from_ref(cog), &format!("alone{k}.tif"));
        assert!(
            alone[1].iter().any(|a| *a > 0.0),
            "z{z}: {} is not in the tile",
            cog.display()
        );
    }
    let reference = warp(cogs, "reference.tif");
    let valid = |a: f64| a > 0.0;
    let masks_differ = (0..w * h)
        .filter(|&i| valid(tile[1][i]) != valid(reference[1][i]))
        .count();
    assert_eq!(masks_differ, 0, "z{z}: data masks differ");
    let at = |r: isize, c: isize| {
        (r >= 0 && c >= 0 && (r as usize) < h && (c as usize) < w)
            .then(|| reference[0][r as usize * w + c as usize])
    };
    let mut ties = 0;
    for i in (0..w * h).filter(|&i| valid(tile[1][i]) && tile[0][i] != reference[0][i]) {
        let (r, c) = ((i / w) as isize, (i % w) as isize);
        let adjacent = (-1..=1).any(|dr| (-1..=1).any(|dc| at(r + dr, c + dc) == Some(tile[0][i])));
        assert!(
            adjacent,
            "z{z}: pixel ({r}, {c}) is {} in the tile, {} in GDAL's warp, and no neighbour has it",
            tile[0][i], reference[0][i]
        );
        ties += 1;
    }
    assert!(ties * 200 <= w * h, "z{z}: {ties} ties of {} pixels", w * h);
}

#[test]
fn published_collections_render_and_mosaic_like_gdal() {
    let Some(data) = shared_data() else { return };
    let (Some(s3), Some(api)) = (S3Server::start(), StacApi::start()) else {
        return;
    };
    let tiler = api.start_tiler(&s3);
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();

    // A real scene (UTM 21N, 100 m, uint16) cut in two: one collection of
    // two adjacent items, mosaicked by the tiler.
    let scene = data.join("geotiff/non_cog.tif");
    let halves: Vec<PathBuf> = [("west", 0), ("east", 1329)]
        .iter()
        .map(|(name, x)| {
            let half = dir.join(format!("{name}.tif"));
            let out = Command::new("gdal_translate")
                .args(["-q", "-srcwin", &x.to_string(), "0", "1329", "2667"])
                .arg(&scene)
                .arg(&half)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", text(&out));
            half
        })
        .collect();
    let geotiff = run_and_publish(
        &s3,
        &api,
        "geotiff",
        &halves,
        &dir.join("geotiff"),
        &["--datetime", "2021-06-01T00:00:00Z"],
    );
    // On the seam between the halves.
    let seam = (-56.8, 73.47);
    assert_default_render(&tiler, &geotiff, seam, 9, dir);
    let cogs: Vec<PathBuf> = ["west", "east"]
        .iter()
        .map(|n| dir.join(format!("geotiff/items/{n}/{n}.tif")))
        .collect();
    for z in [9, 10] {
        assert_mosaic_equals_gdal(&tiler, "geotiff", &cogs, seam, z, dir);
    }

    // MODIS snow cover (sinusoidal, no EPSG code): its default asset.
    let modis = run_and_publish(
        &s3,
        &api,
        "modis",
        &[data.join("hdf4/MOD10A2.A2022033.h09v05.061.2022042050729.hdf")],
        &dir.join("modis"),
        &[],
    );
    assert_eq!(
        modis["renders"]["default"]["assets"],
        json!(["Maximum_Snow_Extent"])
    );
    let bbox = &modis["extent"]["spatial"]["bbox"][0];
    let centre = |a: usize, b: usize| (bbox[a].as_f64().unwrap() + bbox[b].as_f64().unwrap()) / 2.0;
    assert_default_render(&tiler, &modis, (centre(0, 2), centre(1, 3)), 8, dir);

    // NSIDC sea-ice concentration (polar stereographic, 25 km): the
    // render spans the valid concentrations, not the land and coast flags.
    let seaice = run_and_publish(
        &s3,
        &api,
        "netcdf",
        &[data.join("netcdf/nc4/seaice_conc_daily_nh_20211231_f17_v04r00.nc")],
        &dir.join("seaice"),
        &["--collection-id", "seaice"],
    );
    let render = &seaice["renders"]["default"];
    assert_eq!(render["assets"], json!(["cdr_seaice_conc"]));
    let rescale: Vec<f64> = (render["rescale"][0].as_array().unwrap().iter())
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(rescale, [0.0, 100.0], "flags (251-254) left out");
    // Baffin Bay and Greenland, at the end of December.
    assert_default_render(&tiler, &seaice, (-65.0, 72.0), 3, dir);
}
