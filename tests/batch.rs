//! `stacforge geotiff create-item` over real files, good and bad, in one batch.

mod common;

use common::*;
use std::path::PathBuf;

#[test]
fn every_shared_geotiff_in_one_batch() {
    let (Some(data), Some(schemas)) = (shared_data(), schemas()) else {
        return;
    };
    let sources = tifs(&data.join("geotiff"));
    assert!(sources.len() >= 7, "{sources:?}");
    // Bad inputs of every kind, and a directory, in the same batch.
    let bad: Vec<PathBuf> = [
        "complex_cint16",
        "empty",
        "gcps_only",
        "no_crs",
        "not_a_raster",
        "truncated",
    ]
    .iter()
    .map(|n| fixtures().join(format!("bad/{n}.tif")))
    .chain([fixtures().join("geotiff")])
    .collect();
    let out = tempfile::tempdir().unwrap();
    let all: Vec<&PathBuf> = sources.iter().chain(&bad).collect();
    let run = create_items(
        &all,
        out.path(),
        &["--datetime", "2020-01-01T00:00:00Z", "--json"],
    );
    assert_eq!(
        run.status.code(),
        Some(1),
        "some inputs are bad: {}",
        text(&run)
    );
    let events = events(&run);
    let summary = events.last().unwrap();

    let invalid_reasons = [
        ("rotated.tif", "rotated or sheared"),
        ("complex_cint16.tif", "complex data type CInt16"),
        ("empty.tif", "is empty"),
        ("gcps_only.tif", "ground control points only"),
        ("no_crs.tif", "no coordinate reference system"),
        (
            "not_a_raster.tif",
            "not recognized as a supported file format",
        ),
        ("truncated.tif", "TIFFReadEncodedStrip() failed"),
        ("geotiff", "is a directory"),
    ];
    let entries: Vec<&serde_json::Value> = events.iter().filter(|e| e["event"] == "unit").collect();
    for (name, reason) in invalid_reasons {
        let entry = entries
            .iter()
            .find(|e| e["source"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} in the summary"));
        let error = entry["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} must fail: {entry}"));
        assert!(error.contains(name), "the error names the file: {error}");
        assert!(
            error.contains(reason),
            "{name}: expected {reason:?} in {error:?}"
        );
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(
            stderr.contains("FAILED") && stderr.contains(reason),
            "{stderr}"
        );
    }
    assert_eq!(summary["failed"], invalid_reasons.len());

    let valid: Vec<&PathBuf> = sources
        .iter()
        .filter(|s| !s.ends_with("rotated.tif"))
        .collect();
    assert_eq!(summary["written"], valid.len());
    for src in valid {
        let id = src.file_stem().unwrap().to_str().unwrap();
        let dir = out.path().join("items").join(id);
        let cog = dir.join(format!("{id}.tif"));
        let report = stacforge_raster::layout::check(&cog).unwrap();
        assert!(report.is_valid(), "{id}: {:?}", report.errors);
        assert_same_pixels(src, &cog);
        let item_path = dir.join(format!("{id}.json"));
        let problems = schema_problems(&schemas, &item_path);
        assert!(problems.is_empty(), "{id}: {problems:#?}");
        let item = json(&item_path);
        let via = item["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "via")
            .unwrap();
        assert_eq!(via["file:size"], std::fs::metadata(src).unwrap().len());
        assert_eq!(
            via["file:checksum"],
            stacforge_core::checksum::sha256_multihash(std::fs::File::open(src).unwrap()).unwrap()
        );
        assert_eq!(
            item["assets"]["data"]["file:size"],
            std::fs::metadata(&cog).unwrap().len()
        );
        assert_eq!(
            item["assets"]["data"]["file:header_size"],
            report.header_size
        );
    }
    let collection = out.path().join("collection.json");
    assert!(schema_problems(&schemas, &collection).is_empty());
    let links = json(&collection)["links"].as_array().unwrap().clone();
    assert_eq!(
        links.iter().filter(|l| l["rel"] == "item").count(),
        summary["written"].as_u64().unwrap() as usize
    );

    // Nothing half-written or left over from the failures.
    for entry in walk(out.path()) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.contains("partial") && !name.starts_with('.'),
            "leftover {}",
            entry.display()
        );
    }
    for (name, _) in invalid_reasons {
        let stem = name.trim_end_matches(".tif");
        assert!(
            !out.path().join("items").join(stem).exists(),
            "{stem} has no item"
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn datetimes_come_from_the_files_and_are_never_invented() {
    let out = tempfile::tempdir().unwrap();
    let run = create_items(&[fixtures().join("geotiff/dem_utm33.tif")], out.path(), &[]);
    assert!(run.status.success(), "{}", text(&run));
    let item = json(&out.path().join("items/dem_utm33/dem_utm33.json"));
    assert_eq!(item["properties"]["datetime"], "2021-06-15T10:30:00Z");

    // A file without a datetime and no --datetime: a clear error, no item.
    let Some(data) = shared_data() else { return };
    let elev = data.join("geotiff/elev.tif");
    let run = create_items(&[&elev], out.path(), &[]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("elev.tif") && stderr.contains("pass --datetime"),
        "{stderr}"
    );
    assert!(!out.path().join("items/elev").exists());

    // A range is written as start/end with a null datetime.
    let run = create_items(
        &[&elev],
        out.path(),
        &["--datetime", "2021-01-01/2021-12-31"],
    );
    assert!(run.status.success(), "{}", text(&run));
    let item = json(&out.path().join("items/elev/elev.json"));
    assert!(item["properties"]["datetime"].is_null());
    assert_eq!(item["properties"]["start_datetime"], "2021-01-01T00:00:00Z");
    let collection = json(&out.path().join("collection.json"));
    assert_eq!(
        collection["extent"]["temporal"]["interval"][0][0],
        "2021-01-01T00:00:00Z"
    );
    assert_eq!(
        collection["extent"]["temporal"]["interval"][0][1],
        "2021-12-31T00:00:00Z"
    );
}

#[test]
fn duplicate_ids_in_a_batch_are_refused_not_overwritten() {
    let out = tempfile::tempdir().unwrap();
    let copy = tempfile::tempdir().unwrap();
    let other = copy.path().join("dem_utm33.tif");
    std::fs::copy(fixtures().join("geotiff/rgb_wgs84.tif"), &other).unwrap();
    let run = create_items(
        &[fixtures().join("geotiff/dem_utm33.tif"), other],
        out.path(),
        &[],
    );
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("already taken"),
        "{}",
        text(&run)
    );
    let item = json(&out.path().join("items/dem_utm33/dem_utm33.json"));
    assert_eq!(
        item["assets"]["data"]["bands"].as_array().unwrap().len(),
        1,
        "the first source's item"
    );

    // The same file twice: the first occurrence is converted, the second refused.
    let again = tempfile::tempdir().unwrap();
    let dem = fixtures().join("geotiff/dem_utm33.tif");
    let run = create_items(&[&dem, &dem], again.path(), &["--json"]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let events = events(&run);
    let summary = events.last().unwrap();
    assert_eq!(summary["written"], 1);
    assert_eq!(summary["failed"], 1);
    assert!(
        events
            .iter()
            .any(|e| e["status"] == "written" && e["item"].is_string()),
        "{events:#?}"
    );
}

#[test]
fn a_stac_item_as_source_is_linked_with_derived_from() {
    let first = tempfile::tempdir().unwrap();
    let run = create_items(
        &[fixtures().join("geotiff/rgb_wgs84.tif")],
        first.path(),
        &[],
    );
    assert!(run.status.success(), "{}", text(&run));
    let old_path = first.path().join("items/rgb_wgs84/rgb_wgs84.json");
    let old = json(&old_path);

    let second = tempfile::tempdir().unwrap();
    let run = create_items(&[&old_path], second.path(), &["--compression", "zstd"]);
    assert!(run.status.success(), "{}", text(&run));
    let new = json(&second.path().join("items/rgb_wgs84/rgb_wgs84.json"));
    let link = |rel: &str| {
        new["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == rel)
            .unwrap_or_else(|| panic!("{rel} link in {new:#}"))
            .clone()
    };
    let canonical = std::fs::canonicalize(&old_path).unwrap();
    assert_eq!(
        link("derived_from")["href"],
        format!("file://{}", canonical.display())
    );
    // The chain holds: the bytes converted are the bytes the old item describes.
    assert_eq!(
        link("via")["file:checksum"],
        old["assets"]["data"]["file:checksum"]
    );
    assert_eq!(new["properties"]["datetime"], old["properties"]["datetime"]);
    if let Some(schemas) = schemas() {
        let problems = schema_problems(
            &schemas,
            &second.path().join("items/rgb_wgs84/rgb_wgs84.json"),
        );
        assert!(problems.is_empty(), "{problems:#?}");
    }

    // A JSON source that is not an item is refused with the reason.
    let run = create_items(&[first.path().join("collection.json")], second.path(), &[]);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&run.stderr)
            .contains("collection.json: a .json source must be a STAC item"),
        "{}",
        text(&run)
    );
}

#[test]
fn create_collection_recomputes_from_the_items_present() {
    let out = tempfile::tempdir().unwrap();
    let sources = [
        fixtures().join("geotiff/dem_utm33.tif"),
        fixtures().join("geotiff/rgb_wgs84.tif"),
    ];
    let run = create_items(&sources, out.path(), &["--collection-id", "dems"]);
    assert!(run.status.success(), "{}", text(&run));
    std::fs::remove_dir_all(out.path().join("items/rgb_wgs84")).unwrap();
    let run = stacforge([
        "geotiff".as_ref(),
        "create-collection".as_ref(),
        "--out".as_ref(),
        out.path().as_os_str(),
        "--collection-id".as_ref(),
        "dems".as_ref(),
    ]);
    assert!(run.status.success(), "{}", text(&run));
    let collection = json(&out.path().join("collection.json"));
    assert_eq!(collection["id"], "dems");
    let items: Vec<_> = collection["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["rel"] == "item")
        .collect();
    assert_eq!(items.len(), 1);
    let item = json(&out.path().join("items/dem_utm33/dem_utm33.json"));
    assert_eq!(item["collection"], "dems");
    assert_eq!(collection["extent"]["spatial"]["bbox"][0], item["bbox"]);
    assert_eq!(
        collection["extent"]["temporal"]["interval"][0][0],
        item["properties"]["datetime"]
    );
}

#[test]
fn thumbnails_show_palettes_and_hide_nodata() {
    let out = tempfile::tempdir().unwrap();
    let sources = [
        fixtures().join("geotiff/landcover_laea.tif"),
        fixtures().join("geotiff/dem_utm33.tif"),
    ];
    let run = create_items(&sources, out.path(), &[]);
    assert!(run.status.success(), "{}", text(&run));
    let pixel = |ds: &gdal::Dataset, band: usize, x: usize, y: usize| {
        ds.rasterband(band)
            .unwrap()
            .read_as::<u8>((x as isize, y as isize), (1, 1), (1, 1), None)
            .unwrap()
            .data()[0]
    };

    // Paletted: expanded to RGBA with the palette's colours; nodata (index 0,
    // alpha 0 in the palette) transparent.
    let png =
        gdal::Dataset::open(out.path().join("items/landcover_laea/landcover_laea.png")).unwrap();
    assert_eq!(png.raster_count(), 4);
    let (w, h) = png.raster_size();
    assert_eq!(w.max(h), 200, "never upsampled beyond the source");
    assert_eq!(pixel(&png, 4, 0, 0), 0, "corner is nodata");
    let centre: Vec<u8> = (1..=4).map(|b| pixel(&png, b, w / 2, h / 2)).collect();
    let palette = [
        [0, 100, 0, 255],
        [255, 200, 0, 255],
        [0, 0, 255, 255],
        [200, 0, 0, 255],
        [150, 150, 150, 255],
    ];
    assert!(
        palette.iter().any(|c| c[..] == centre[..]),
        "centre {centre:?} is a class colour"
    );

    // Single band: grey stretched, with the nodata mask as alpha.
    let png = gdal::Dataset::open(out.path().join("items/dem_utm33/dem_utm33.png")).unwrap();
    assert_eq!(png.raster_count(), 2);
    let (w, h) = png.raster_size();
    assert_eq!((w, h), (256, 170));
    assert_eq!(pixel(&png, 2, 0, 0), 0, "corner is nodata");
    assert_eq!(pixel(&png, 2, w / 2, h / 2), 255);
}

#[test]
fn in_place_items_link_the_sources_and_copy_nothing() {
    let sources = tifs(&fixtures().join("geotiff"));
    let out = tempfile::tempdir().unwrap();
    let converted = tempfile::tempdir().unwrap();
    let run = create_items(&sources, out.path(), &["--in-place"]);
    assert!(run.status.success(), "{}", text(&run));
    // The same sources converted: the in-place items must describe the same grids.
    let run = create_items(&sources, converted.path(), &[]);
    assert!(run.status.success(), "{}", text(&run));
    for src in &sources {
        let id = src.file_stem().unwrap().to_str().unwrap();
        let dir = out.path().join(format!("items/{id}"));
        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(files, [format!("{id}.json")], "only the item is written");
        let item = json(&dir.join(format!("{id}.json")));
        let asset = &item["assets"]["data"];
        let absolute = std::fs::canonicalize(src).unwrap();
        assert_eq!(asset["href"], format!("file://{}", absolute.display()));
        assert_eq!(asset["file:size"], std::fs::metadata(src).unwrap().len());
        let bytes = std::fs::read(src).unwrap();
        assert_eq!(
            asset["file:checksum"],
            stacforge_core::checksum::sha256_multihash(&bytes[..]).unwrap()
        );
        assert!(item["assets"].get("thumbnail").is_none());
        assert!(
            asset["bands"][0].get("statistics").is_none(),
            "no pixel read"
        );
        let cog = json(&converted.path().join(format!("items/{id}/{id}.json")));
        for key in ["proj:code", "proj:shape", "proj:transform"] {
            assert_eq!(asset[key], cog["assets"]["data"][key], "{id}: {key}");
        }
        assert_eq!(
            item["properties"]["datetime"],
            cog["properties"]["datetime"]
        );
        assert_schema_valid(&dir.join(format!("{id}.json")));
    }
    // Options that only make sense when converting are refused.
    let run = create_items(
        &sources[..1],
        out.path(),
        &["--in-place", "--t-srs", "EPSG:4326"],
    );
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
}

/// Each package's own options are its own: `--in-place` is the geotiff
/// package's (shown in its help, refused by the others), and `list` says
/// what each package writes.
#[test]
fn packages_declare_their_own_options() {
    let help = stacforge(["geotiff", "create-item", "--help"]);
    assert!(text(&help).contains("--in-place"), "{}", text(&help));
    let help = stacforge(["modis", "create-item", "--help"]);
    assert!(!text(&help).contains("--in-place"), "{}", text(&help));
    assert!(text(&help).contains("--compression"), "{}", text(&help));
    let dir = tempfile::tempdir().unwrap();
    let run = package_create_items(
        "modis",
        &[fixtures().join("geotiff/dem_utm33.tif")],
        dir.path(),
        &["--in-place"],
    );
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    let list = stacforge(["list", "--json"]);
    assert!(list.status.success(), "{}", text(&list));
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    // The built-in packages first; `stacforge new-package` adds more after them.
    assert_eq!(
        ids[..6],
        [
            "geotiff",
            "modis",
            "imerg",
            "netcdf",
            "netcdf-zarr",
            "netcdf-refs"
        ]
    );
    assert!(list[0]["outputs"].as_str().unwrap().contains("COG"));
}
