//! The imerg package on the project's GPM IMERG fixtures (fixtures/imerg,
//! written by fixtures/imerg/generate.py in the products' real layout).

mod common;

use common::*;
use std::path::PathBuf;

fn imerg_fixtures() -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(fixtures().join("imerg"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("3B-"))
        .collect();
    all.sort();
    all
}

#[test]
fn half_hourly_daily_and_monthly_files_give_north_up_cogs_of_the_transposed_grid() {
    let sources = imerg_fixtures();
    assert_eq!(sources.len(), 3, "{sources:?}");
    let out = tempfile::tempdir().unwrap();
    let run = package_create_items("imerg", &sources, out.path(), &[]);
    assert!(run.status.success(), "{}", text(&run));
    assert_schema_valid(&out.path().join("collection.json"));
    let venv = interop_venv();
    for src in &sources {
        let id = src.file_stem().unwrap().to_str().unwrap();
        let item_path = out.path().join(format!("items/{id}/{id}.json"));
        let item = json(&item_path);
        assert_schema_valid(&item_path);
        let props = &item["properties"];
        let product = id.split('.').next().unwrap();
        assert_eq!(props["imerg:product"], product);
        assert_eq!(props["imerg:version"], "V07B");
        let doi = props["sci:doi"].as_str().unwrap();
        assert!(doi.starts_with("10.5067/GPM/IMERG/3B-"), "{doi}");
        assert_eq!(
            props["imerg:cadence"],
            match product {
                "3B-HHR" => "half-hourly",
                "3B-DAY" => "daily",
                _ => "monthly",
            }
        );
        let precipitation = &item["assets"]["precipitation"];
        assert_eq!(precipitation["proj:code"], "EPSG:4326");
        assert_eq!(precipitation["proj:shape"], serde_json::json!([90, 180]));
        assert_eq!(precipitation["bands"][0]["unit"], "mm/hr");
        if let Some(venv) = &venv {
            // Pixel (i, j) = source [j, nlat-1-i]; bbox; period from time_bnds.
            assert_python_check(
                venv,
                "imerg_equal.py",
                &[item_path.as_os_str(), src.as_os_str()],
            );
            let cog = item_path.with_file_name(
                precipitation["href"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("./"),
            );
            let header = precipitation["file:header_size"].as_u64().unwrap();
            assert_external_validators_accept(venv, &cog, header);
        }
    }
}

#[test]
fn the_imerg_fixtures_are_what_their_generator_writes() {
    let Some(venv) = interop_venv() else { return };
    assert_generator_reproduces(&venv, "imerg/generate.py", &imerg_fixtures());
}
