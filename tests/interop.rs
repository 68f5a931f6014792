//! Outputs checked by the tools users run: rio-cogeo and GDAL's
//! validate_cloud_optimized_geotiff.py on every COG, stac-validator on the
//! whole catalog, all with the official schemas and no network.
//!
//! The Python consumers are installed by `scripts/setup-interop.sh` into
//! `.venv` (or `STACFORGE_VENV`), with pinned versions.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn create(out: &Path, sources: &[PathBuf], extra: &[&str]) {
    let run = create_items(sources, out, extra);
    assert!(run.status.success(), "{}", text(&run));
}

#[test]
fn real_consumers_accept_every_output() {
    let (Some(venv), Some(schemas), Some(data)) = (interop_venv(), schemas(), shared_data()) else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    // Two runs into one catalog: the fixtures (dated by their metadata),
    // then the real files (undated, so --datetime).
    create(out.path(), &tifs(&fixtures().join("geotiff")), &[]);
    let real: Vec<_> = tifs(&data.join("geotiff"))
        .into_iter()
        .filter(|p| !p.ends_with("rotated.tif"))
        .collect();
    create(out.path(), &real, &["--datetime", "2020-01-01T00:00:00Z"]);

    let items: Vec<PathBuf> = tifs(&fixtures().join("geotiff"))
        .iter()
        .chain(&real)
        .map(|s| {
            let id = s.file_stem().unwrap().to_str().unwrap();
            out.path().join(format!("items/{id}/{id}.json"))
        })
        .collect();
    for item_path in &items {
        let item = json(item_path);
        let cog = item_path.with_file_name(
            item["assets"]["data"]["href"]
                .as_str()
                .unwrap()
                .trim_start_matches("./"),
        );

        let header = item["assets"]["data"]["file:header_size"].as_u64().unwrap();
        assert_external_validators_accept(&venv, &cog, header);
    }

    let config = schemas.join("stac-validator-schema-config.json");
    let run = Command::new(venv.join("bin/stac-valid"))
        .args(["validate", "--recursive", "--schema-config"])
        .arg(&config)
        .arg(out.path().join("collection.json"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let (start, end) = (stdout.find('[').unwrap(), stdout.rfind(']').unwrap());
    let results: Vec<Value> =
        serde_json::from_str(&stdout[start..=end]).unwrap_or_else(|_| panic!("{stdout}"));
    assert_eq!(
        results.len(),
        items.len() + 1,
        "the collection and every item: {stdout}"
    );
    for r in &results {
        assert_eq!(r["valid_stac"], true, "{r:#}");
    }
}
