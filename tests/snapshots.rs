//! Snapshots of the generic package's collection and items, made from the
//! project's own fixtures.
//!
//! Refresh after an intended change: `INSTA_UPDATE=always cargo test --test snapshots`
//! (or `cargo insta review`), then read the diff before committing.
//! Redacted: the creation time and software version, the absolute path of
//! the source, and the bytes of generated assets (they depend on the GDAL
//! and zlib builds). Everything else, including the layout size of each COG
//! (`file:header_size`), the statistics and the footprints, is compared.

mod common;

use common::*;
use serde_json::{json, Value};

fn redact(doc: Value) -> Value {
    redact_in(doc, "geotiff")
}

/// Redacts `doc`, whose sources are in fixtures/`folder`.
fn redact_in(mut doc: Value, folder: &str) -> Value {
    if let Some(props) = doc.get_mut("properties") {
        props["created"] = json!("[created]");
        props["processing:software"] = json!({"stacforge": "[version]"});
    }
    if let Some(links) = doc.get_mut("links").and_then(Value::as_array_mut) {
        for link in links.iter_mut().filter(|l| l["rel"] == "via") {
            let href = link["href"].as_str().unwrap();
            let name = href.rsplit('/').next().unwrap();
            link["href"] = json!(format!("file://[fixtures]/{folder}/{name}"));
        }
    }
    if let Some(assets) = doc.get_mut("assets").and_then(Value::as_object_mut) {
        for asset in assets.values_mut() {
            asset["file:size"] = json!("[size]");
            asset["file:checksum"] = json!("[checksum]");
        }
    }
    doc
}

#[test]
fn geotiff_package_collection_and_items() {
    let out = tempfile::tempdir().unwrap();
    let sources = tifs(&fixtures().join("geotiff"));
    let run = create_items(&sources, out.path(), &["--jobs", "1"]);
    assert!(run.status.success(), "{}", text(&run));

    insta::assert_json_snapshot!("collection", json(&out.path().join("collection.json")));
    for src in &sources {
        let id = src.file_stem().unwrap().to_str().unwrap();
        let item = json(&out.path().join(format!("items/{id}/{id}.json")));
        insta::assert_json_snapshot!(format!("item-{id}"), redact(item));
    }
}

#[test]
fn modis_package_items_of_every_product_family() {
    let out = tempfile::tempdir().unwrap();
    let mut sources: Vec<std::path::PathBuf> = std::fs::read_dir(fixtures().join("modis"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "hdf"))
        .collect();
    sources.sort();
    let run = package_create_items("modis", &sources, out.path(), &["--jobs", "1"]);
    assert!(run.status.success(), "{}", text(&run));
    for src in &sources {
        let id = src.file_stem().unwrap().to_str().unwrap();
        let product = id.split('.').next().unwrap();
        let item = json(&out.path().join(format!("items/{id}/{id}.json")));
        insta::assert_json_snapshot!(format!("modis-{product}"), redact_in(item, "modis"));
    }
}
