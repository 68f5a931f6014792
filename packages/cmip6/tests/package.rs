//! The cmip6 package's own tests: the conformance kit over its fixtures,
//! and a snapshot of its item.
//!
//! The fixtures in `fixtures/` are written by `fixtures/generate.py` (see
//! its header). The snapshot `tests/snapshots/item.json` (of the
//! two-file monthly dataset) is written on the first run outside CI;
//! review and commit it, later runs compare.

use stacforge_core::{Job, Package, Source};
use std::path::{Path, PathBuf};

/// The good fixtures (every `.nc` under `fixtures/` but `bad/`): three
/// datasets, one of two files.
fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut files = Vec::new();
    let mut dirs = vec![dir.clone()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && path != dir.join("bad") {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "nc") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The official STAC schemas, when they are beside the checkout.
fn schemas() -> Option<PathBuf> {
    let dir = std::env::var_os("STACFORGE_SCHEMAS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/stac-schemas")
        });
    dir.join("schemas.stacspec.org").exists().then_some(dir)
}

fn package() -> stacforge_cmip6::Cmip6 {
    stacforge_cmip6::Cmip6::default()
}

#[test]
fn the_package_conforms() {
    stacforge_raster_init();
    // The CMIP6 extension's schema is not among the official schemas kept
    // offline; tests/cmip6.rs checks its fields against the attributes.
    stacforge_runner::conformance::assert_package_conforms_with(
        &package(),
        &fixtures(),
        schemas().as_deref(),
        &[stacforge_cmip6::EXTENSION],
    );
}

#[test]
fn its_item_matches_the_snapshot() {
    stacforge_raster_init();
    let package = package();
    let work = std::env::temp_dir().join(format!("cmip6-snapshot-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let unit = package.plan(&fixtures()).unwrap().remove(0);
    let job = Job {
        sources: unit
            .sources
            .iter()
            .map(|s| Source::from_path(s).unwrap())
            .collect(),
        item_id: unit.item_id,
        collection_id: package.id().to_string(),
        workdir: work.clone(),
        datetime: None,
        derived_from: None,
        previous: None,
    };
    let artifacts = package.convert(&job).unwrap();
    let item = package.describe(&job, &artifacts).unwrap();
    std::fs::remove_dir_all(&work).unwrap();
    let mut item = serde_json::to_value(&item).unwrap();
    // What changes from run to run or machine to machine.
    item["properties"]["created"] = serde_json::Value::Null;
    // A store's metadata records where its sources were read.
    for asset in item["assets"].as_object_mut().unwrap().values_mut() {
        if asset["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "zarr")
        {
            asset["file:size"] = serde_json::Value::Null;
            asset["file:checksum"] = serde_json::Value::Null;
        }
    }
    for link in item["links"].as_array_mut().unwrap() {
        if link["rel"] == "via" {
            let href = link["href"].as_str().unwrap();
            link["href"] = href.rsplit('/').next().unwrap().into();
        }
    }
    let snapshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/item.json");
    let text = serde_json::to_string_pretty(&item).unwrap() + "\n";
    match std::fs::read_to_string(&snapshot) {
        Ok(expected) => assert_eq!(
            text,
            expected,
            "the item differs from {}",
            snapshot.display()
        ),
        Err(_) if std::env::var_os("CI").is_none() => {
            std::fs::create_dir_all(snapshot.parent().unwrap()).unwrap();
            std::fs::write(&snapshot, text).unwrap();
            eprintln!("wrote {}; review and commit it", snapshot.display());
        }
        Err(e) => panic!(
            "{}: {e} (snapshots are written outside CI)",
            snapshot.display()
        ),
    }
}

fn stacforge_raster_init() {
    // The array engine sets GDAL up when it places a grid on Earth.
}
