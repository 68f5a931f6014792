//! Derived datasets (`stacforge derive`) and their lineage (`stacforge
//! lineage`): a Greenland clip of the polar stereographic sea-ice grid in
//! EPSG:3413 equal to gdalwarp's, items linking to their parents, a
//! derivation of a derivation walked back to the source file, and a changed
//! source byte found by `--verify`.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn ok(out: &Output) {
    assert!(out.status.success(), "{}", text(out));
}

fn greenland() -> PathBuf {
    fixtures().join("vector/greenland.geojson")
}

/// A catalog of the sea-ice concentration COG (`run netcdf`) from `nc`.
fn seaice_catalog(nc: &Path, out: &Path) {
    ok(&stacforge([
        "run",
        "netcdf",
        &s(nc),
        "--out",
        &s(out),
        "--variables",
        "cdr_seaice_conc",
        "--collection-id",
        "seaice",
    ]));
}

/// The one item of a catalog written by stacforge, and its path.
fn only_item(catalog: &Path) -> (PathBuf, Value) {
    let items: Vec<PathBuf> = std::fs::read_dir(catalog.join("items"))
        .unwrap()
        .map(|e| {
            let dir = e.unwrap().path();
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            dir.join(format!("{name}.json"))
        })
        .collect();
    assert_eq!(items.len(), 1, "{items:?}");
    let doc = json(&items[0]);
    (items[0].clone(), doc)
}

fn asset_path(item_path: &Path, item: &Value, key: &str) -> PathBuf {
    let href = item["assets"][key]["href"].as_str().unwrap();
    item_path.parent().unwrap().join(href)
}

fn geo_transform(path: &Path) -> [f64; 6] {
    stacforge_raster::init();
    gdal::Dataset::open(path).unwrap().geo_transform().unwrap()
}

const STEPS: [&str; 6] = [
    "--t-srs",
    "EPSG:3413",
    "--resolution",
    "12500",
    "--resampling",
    "nearest",
];

#[test]
fn a_greenland_clip_in_epsg_3413_equals_gdalwarp_and_links_to_its_parent() {
    let Some(data) = shared_data() else { return };
    let nc = data.join("netcdf/nc4/seaice_conc_daily_nh_20211231_f17_v04r00.nc");
    let dir = tempfile::tempdir().unwrap();
    let (cat, derived) = (dir.path().join("seaice"), dir.path().join("greenland"));
    seaice_catalog(&nc, &cat);
    let mut args = vec!["derive".to_string(), "--from".into(), s(&cat)];
    args.extend(["--out".into(), s(&derived)]);
    args.extend(STEPS.map(String::from));
    args.extend(["--clip".into(), s(&greenland())]);
    ok(&stacforge(&args));
    let (parent_path, parent) = only_item(&cat);
    let (item_path, item) = only_item(&derived);
    assert_schema_valid(&item_path);
    assert_schema_valid(&derived.join("collection.json"));
    // The same pixels and grid as gdalwarp with the same parameters (and
    // the GDAL configuration stacforge runs under).
    let parent_cog = asset_path(&parent_path, &parent, "cdr_seaice_conc");
    let cog = asset_path(&item_path, &item, "data");
    let reference = dir.path().join("gdalwarp.tif");
    let warped = Command::new("gdalwarp")
        .args(["-q", "--config", "OSR_USE_NON_DEPRECATED", "NO"])
        .args(["-t_srs", "EPSG:3413", "-tr", "12500", "12500", "-r", "near"])
        .args([
            "-cutline",
            &s(&greenland()),
            "-crop_to_cutline",
            "-dstnodata",
            "255",
        ])
        .arg(&parent_cog)
        .arg(&reference)
        .output()
        .unwrap();
    ok(&warped);
    assert_same_pixels(&cog, &reference);
    assert_eq!(geo_transform(&cog), geo_transform(&reference));
    let ((w, h), bands) = pixels(&cog);
    assert!(w > 50 && h > 100, "{w} x {h}");
    let inside = bands[0].iter().filter(|v| **v != 255.0).count();
    assert!(
        inside > 1000 && inside < w * h,
        "{inside} of {} pixels inside",
        w * h
    );
    // The item: its parent's time, a derived_from link to the parent, a
    // via link to the parent's asset with its checksum, the steps.
    assert_eq!(
        item["properties"]["datetime"],
        parent["properties"]["datetime"]
    );
    let link = |rel: &str| -> Vec<String> {
        item["links"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["rel"] == rel)
            .map(|l| l["href"].as_str().unwrap().to_string())
            .collect()
    };
    let derived_from = link("derived_from");
    assert_eq!(derived_from.len(), 1);
    let resolved = PathBuf::from(derived_from[0].strip_prefix("file://").unwrap());
    assert_eq!(
        resolved.canonicalize().unwrap(),
        parent_path.canonicalize().unwrap()
    );
    assert_eq!(json(&resolved)["id"], parent["id"]);
    let via = item["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "via")
        .unwrap();
    assert_eq!(
        via["file:checksum"],
        parent["assets"]["cdr_seaice_conc"]["file:checksum"]
    );
    let expression = &item["properties"]["processing:expression"];
    assert_eq!(expression["format"], "stacforge-derive/1");
    let steps = expression["expression"]["steps"].as_array().unwrap();
    assert_eq!(steps[0]["op"], "reproject");
    assert_eq!(steps[1]["op"], "clip");
    assert_eq!(
        steps[1]["checksum"],
        stacforge_core::Source::from_path(greenland())
            .unwrap()
            .checksum
    );
    assert!(item["properties"]["processing:lineage"]
        .as_str()
        .unwrap()
        .contains("clipped to the polygons of greenland.geojson"));
    // Deterministic: the same inputs and options give the same bytes.
    let again = dir.path().join("again");
    let mut args2 = args.clone();
    let at = args2.iter().position(|a| a == "--out").unwrap();
    args2[at + 1] = s(&again);
    ok(&stacforge(&args2));
    let (again_path, again_item) = only_item(&again);
    assert_eq!(
        std::fs::read(asset_path(&again_path, &again_item, "data")).unwrap(),
        std::fs::read(&cog).unwrap()
    );
    // A re-run into the same catalog does nothing (the run loop's ledger).
    let rerun = stacforge(&args);
    ok(&rerun);
    assert!(
        text(&rerun).contains("0 derived, 1 skipped"),
        "{}",
        text(&rerun)
    );
}

#[test]
fn lineage_walks_two_levels_back_to_the_source_and_verify_names_a_changed_byte() {
    let Some(data) = shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    // The source copied, so that one byte of it can change.
    let nc = dir
        .path()
        .join("seaice_conc_daily_nh_20211231_f17_v04r00.nc");
    std::fs::copy(
        data.join("netcdf/nc4/seaice_conc_daily_nh_20211231_f17_v04r00.nc"),
        &nc,
    )
    .unwrap();
    let (cat, one, two) = (
        dir.path().join("seaice"),
        dir.path().join("greenland"),
        dir.path().join("coarse"),
    );
    seaice_catalog(&nc, &cat);
    let mut first = vec!["derive".to_string(), "--from".into(), s(&cat)];
    first.extend(["--out".into(), s(&one)]);
    first.extend(STEPS.map(String::from));
    first.extend(["--clip".into(), s(&greenland())]);
    ok(&stacforge(&first));
    let (item1, _) = only_item(&one);
    // Derived from the derived item (given as a file): coarser again.
    ok(&stacforge([
        "derive",
        "--from",
        &s(&item1),
        "--out",
        &s(&two),
        "--collection-id",
        "coarse",
        "--resolution",
        "25000",
        "--resampling",
        "mode",
    ]));
    let (item2, _) = only_item(&two);
    let out = stacforge(["lineage", &s(&item2), "--json"]);
    ok(&out);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let chain = &report["chain"];
    assert_eq!(chain["collection"], "coarse");
    assert_eq!(chain["steps"]["steps"][0]["resolution"][0], 25000.0);
    let level1 = &chain["parents"][0];
    assert_eq!(level1["steps"]["steps"][1]["op"], "clip");
    let level0 = &level1["parents"][0];
    assert_eq!(level0["collection"], "seaice");
    assert_eq!(level0["parents"].as_array().unwrap().len(), 0);
    let source = &level0["sources"][0];
    let original = stacforge_core::Source::from_path(&nc).unwrap();
    assert_eq!(source["href"], original.href);
    assert_eq!(source["checksum"], original.checksum);
    assert_eq!(source["size"], original.size);
    // The tree says the same.
    let tree = stacforge(["lineage", &s(&item2)]);
    ok(&tree);
    let said = text(&tree);
    assert!(
        said.contains("derived from:") && said.contains(&original.checksum),
        "{said}"
    );
    // Everything verifies; then one byte of the source changes.
    let verified = stacforge(["lineage", &s(&item2), "--verify"]);
    ok(&verified);
    assert!(
        text(&verified).contains("0 problem(s)"),
        "{}",
        text(&verified)
    );
    let mut bytes = std::fs::read(&nc).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&nc, bytes).unwrap();
    let broken = stacforge(["lineage", &s(&item2), "--verify"]);
    assert_eq!(broken.status.code(), Some(1), "{}", text(&broken));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    let changed: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("CHANGED"))
        .collect();
    assert_eq!(changed.len(), 1, "{stderr}");
    assert!(
        changed[0].contains(&original.href) && changed[0].contains("checksum"),
        "{stderr}"
    );
    assert!(stderr.contains("1 problem(s)"), "{stderr}");
}

#[test]
fn bad_derivations_are_refused_with_reasons() {
    let Some(data) = shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cat = dir.path().join("seaice");
    seaice_catalog(
        &data.join("netcdf/nc4/seaice_conc_daily_nh_20211231_f17_v04r00.nc"),
        &cat,
    );
    let out = s(&dir.path().join("out"));
    let no_steps = stacforge(["derive", "--from", &s(&cat), "--out", &out]);
    assert_fails_saying(&no_steps, 2, &["no steps"]);
    let not_vector = dir.path().join("notes.txt");
    std::fs::write(&not_vector, "not polygons").unwrap();
    let bad_clip = stacforge([
        "derive",
        "--from",
        &s(&cat),
        "--out",
        &out,
        "--clip",
        &s(&not_vector),
    ]);
    assert_fails_saying(&bad_clip, 2, &["notes.txt", "not a vector file"]);
    let nothing = stacforge([
        "derive",
        "--from",
        &s(&dir.path().join("empty")),
        "--out",
        &out,
        "--resolution",
        "1000",
    ]);
    assert_fails_saying(&nothing, 2, &["no such catalog"]);
    assert!(
        !dir.path().join("empty").exists(),
        "nothing is created where parents were looked for"
    );
    let missing = stacforge(["lineage", &s(&dir.path().join("nope.json"))]);
    assert_fails_saying(&missing, 2, &["nope.json", "no item there"]);
}

/// Parents from a STAC API (assets on S3), the derived collection published
/// to S3 and the API too: `lineage` on the API's item URL walks back to the
/// source file, and `--verify` reads every object where it is published.
#[test]
fn a_published_derivation_keeps_its_lineage_walkable_from_the_api() {
    let Some(data) = shared_data() else { return };
    let (Some(s3), Some(api)) = (S3Server::start(), StacApi::start()) else {
        return;
    };
    let nc = data.join("netcdf/nc4/seaice_conc_daily_nh_20211231_f17_v04r00.nc");
    let dir = tempfile::tempdir().unwrap();
    let (cat, derived) = (dir.path().join("seaice"), dir.path().join("greenland"));
    seaice_catalog(&nc, &cat);
    let publish = |local: &Path, to: &str| {
        let out = s3
            .stacforge(S3_SECRET_KEY)
            .args(["publish", "--to", to, "--to-api", &api.url()])
            .arg(local)
            .output()
            .unwrap();
        ok(&out);
    };
    publish(&cat, "s3://bucket/seaice");
    let cache = dir.path().join("cache");
    let from = format!("{}/collections/seaice/items", api.url());
    let mut derive = s3.stacforge(S3_SECRET_KEY);
    derive
        .args(["derive", "--from", &from, "--out", &s(&derived)])
        .args(["--collection-id", "greenland", "--cache", &s(&cache)])
        .args(STEPS)
        .args(["--clip", &s(&greenland())]);
    ok(&derive.output().unwrap());
    let (item_path, item) = only_item(&derived);
    let id = item["id"].as_str().unwrap().to_string();
    // The parent is named by its API URL, its asset by its object URL.
    let parent_url = format!("{}/collections/seaice/items/{id}", api.url());
    let links = item["links"].as_array().unwrap();
    assert!(
        links
            .iter()
            .any(|l| l["rel"] == "derived_from" && l["href"] == parent_url),
        "{links:?}"
    );
    assert!(
        links.iter().any(|l| l["rel"] == "via"
            && l["href"]
                .as_str()
                .unwrap()
                .starts_with("s3://bucket/seaice/items/")),
        "{links:?}"
    );
    assert_schema_valid(&item_path);
    publish(&derived, "s3://bucket/greenland");
    let published = format!("{}/collections/greenland/items/{id}", api.url());
    let walked = s3
        .stacforge(S3_SECRET_KEY)
        .args(["lineage", &published, "--json", "--verify"])
        .output()
        .unwrap();
    ok(&walked);
    let report: Value = serde_json::from_slice(&walked.stdout).unwrap();
    let chain = &report["chain"];
    assert_eq!(chain["href"], published);
    assert!(chain["assets"][0]["href"]
        .as_str()
        .unwrap()
        .starts_with("s3://bucket/greenland/"));
    assert_eq!(chain["assets"][0]["verified"], "ok");
    let parent = &chain["parents"][0];
    assert_eq!(parent["href"], parent_url);
    assert_eq!(
        parent["sources"][0]["href"],
        stacforge_core::Source::from_path(&nc).unwrap().href
    );
    assert_eq!(parent["sources"][0]["verified"], "ok");
    assert_eq!(report["problems"], serde_json::json!([]));
}

/// Zonal statistics of a NetCDF series (as a Zarr store) over polygons
/// equal xarray's means over GDAL-rasterized masks, both cell rules.
#[test]
fn zonal_statistics_equal_xarray_over_gdal_rasterized_masks() {
    let Some(data) = shared_data() else { return };
    let Some(venv) = interop_venv() else { return };
    let (t1, t2, _) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let cat = dir.path().join("air");
    ok(&stacforge([
        "run",
        "netcdf-zarr",
        &s(&t1),
        &s(&t2),
        "--out",
        &s(&cat),
        "--item-id",
        "air",
    ]));
    let regions = fixtures().join("vector/regions.geojson");
    for (name, extra) in [("touched", Some("--all-touched")), ("centres", None)] {
        let out = dir.path().join(name);
        let mut args = vec![
            "derive".to_string(),
            "--from".into(),
            s(&cat),
            "--out".into(),
            s(&out),
            "--collection-id".into(),
            format!("air-{name}"),
            "--zonal".into(),
            s(&regions),
            "--zonal-field".into(),
            "region".into(),
        ];
        args.extend(extra.map(String::from));
        ok(&stacforge(&args));
        let (item_path, item) = only_item(&out);
        assert_schema_valid(&item_path);
        let step = &item["properties"]["processing:expression"]["expression"]["steps"][0];
        assert_eq!(step["op"], "zonal");
        assert_eq!(step["all_touched"], extra.is_some());
        let csv = asset_path(&item_path, &item, "table");
        let parquet = asset_path(&item_path, &item, "table-parquet");
        assert_eq!(
            item["assets"]["table"]["file:checksum"],
            stacforge_core::Source::from_path(&csv).unwrap().checksum
        );
        let store = cat.join("items/air/air.zarr");
        let mut check = vec![
            s(&store),
            s(&regions),
            "region".into(),
            s(&csv),
            s(&parquet),
        ];
        check.extend(extra.map(String::from));
        assert_python_check(&venv, "zonal_equal.py", &check);
    }
    // The two rules differ: touched cells are more.
    let count = |name: &str| -> u64 {
        let (item_path, item) = only_item(&dir.path().join(name));
        let csv = std::fs::read_to_string(asset_path(&item_path, &item, "table")).unwrap();
        csv.lines()
            .skip(1)
            .map(|l| l.rsplit(',').next().unwrap().parse::<u64>().unwrap())
            .sum()
    };
    assert!(count("touched") > count("centres"));
}

#[test]
fn the_vector_fixtures_are_what_their_generator_writes() {
    let Some(venv) = interop_venv() else { return };
    assert_generator_reproduces(
        &venv,
        "vector/generate.py",
        &[
            fixtures().join("vector/greenland.geojson"),
            fixtures().join("vector/regions.geojson"),
        ],
    );
}
