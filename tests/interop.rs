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

fn venv() -> Option<PathBuf> {
    let dir = std::env::var_os("STACFORGE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv"));
    if dir.join("bin/rio").exists() && dir.join("bin/stac-valid").exists() {
        return Some(dir);
    }
    assert!(
        !in_ci(),
        "CI must run scripts/setup-interop.sh first ({} has no rio/stac-valid)",
        dir.display()
    );
    eprintln!(
        "skipping: no interop venv at {} (run scripts/setup-interop.sh)",
        dir.display()
    );
    None
}

fn create(out: &Path, sources: &[PathBuf], extra: &[&str]) {
    let run = create_items(sources, out, extra);
    assert!(run.status.success(), "{}", text(&run));
}

fn tifs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tif"))
        .collect();
    out.sort();
    out
}

#[test]
fn real_consumers_accept_every_output() {
    let (Some(venv), Some(schemas), Some(data)) = (venv(), schemas(), shared_data()) else {
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

        let rio = Command::new(venv.join("bin/rio"))
            .args(["cogeo", "validate", "--strict"])
            .arg(&cog)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&rio.stdout);
        assert!(
            rio.status.success() && said.contains("is a valid cloud optimized GeoTIFF"),
            "rio-cogeo on {}: {}{}",
            cog.display(),
            said,
            String::from_utf8_lossy(&rio.stderr)
        );

        let gdal = Command::new("/usr/bin/python3")
            .args(["-m", "osgeo_utils.samples.validate_cloud_optimized_geotiff"])
            .arg(&cog)
            .output()
            .expect("python3-gdal is installed");
        let said = String::from_utf8_lossy(&gdal.stdout);
        assert!(
            gdal.status.success(),
            "GDAL's validator on {}: {said}",
            cog.display()
        );
        // GDAL's count of header bytes is what the item states.
        let header = item["assets"]["data"]["file:header_size"].as_u64().unwrap();
        assert!(
            said.contains(&format!("The size of all IFD headers is {header} bytes")),
            "{}: file:header_size {header}, GDAL says: {said}",
            cog.display()
        );
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
