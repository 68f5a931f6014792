//! `stacforge validate`: COG layouts and STAC documents, with messages that
//! say what is wrong.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

fn validate(paths: &[&Path], schemas: &Path) -> std::process::Output {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "validate".as_ref(),
        "--schemas".as_ref(),
        schemas.as_os_str(),
    ];
    args.extend(paths.iter().map(|p| p.as_os_str()));
    stacforge(args)
}

/// A small valid catalog made by stacforge itself.
fn catalog(out: &Path) -> std::path::PathBuf {
    let run = create_items(&[fixtures().join("geotiff/rgb_wgs84.tif")], out, &[]);
    assert!(run.status.success(), "{}", text(&run));
    out.join("items/rgb_wgs84/rgb_wgs84.json")
}

#[test]
fn rejects_a_non_cog_and_says_why() {
    let (Some(data), Some(schemas)) = (shared_data(), schemas()) else {
        return;
    };
    let run = validate(&[&data.join("geotiff/non_cog.tif")], &schemas);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("INVALID") && stdout.contains("non_cog.tif"),
        "{stdout}"
    );
    assert!(
        stdout.contains("(2658x2667) is stored in strips, not tiles"),
        "{stdout}"
    );
    assert!(stdout.contains("has no overviews"), "{stdout}");

    // The real COG of the same scene passes.
    let run = validate(&[&data.join("geotiff/cog.tif")], &schemas);
    assert!(run.status.success(), "{}", text(&run));
}

#[test]
fn accepts_its_own_catalog_and_rejects_broken_items() {
    let Some(schemas) = schemas() else { return };
    let out = tempfile::tempdir().unwrap();
    let item_path = catalog(out.path());
    let run = validate(&[out.path()], &schemas);
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("3 passed, 0 failed"),
        "{}",
        text(&run)
    );

    let item: Value = json(&item_path);
    let broken = |name: &str, edit: &dyn Fn(&mut Value)| {
        let mut doc = item.clone();
        edit(&mut doc);
        let path = item_path.with_file_name(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
        let run = validate(&[&path], &schemas);
        assert_eq!(run.status.code(), Some(1), "{name}: {}", text(&run));
        let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
        std::fs::remove_file(&path).unwrap();
        stdout
    };
    let stdout = broken("no-datetime", &|d| {
        d["properties"].as_object_mut().unwrap().remove("datetime");
    });
    assert!(
        stdout.contains("INVALID") && stdout.contains("no-datetime.json"),
        "{stdout}"
    );
    assert!(
        stdout.contains("datetime"),
        "names the missing field: {stdout}"
    );

    let stdout = broken("bad-proj", &|d| {
        d["assets"]["data"]["proj:shape"] = serde_json::json!("big")
    });
    assert!(
        stdout.contains("/assets/data/proj:shape") && stdout.contains("projection"),
        "{stdout}"
    );

    let stdout = broken("bad-checksum", &|d| {
        d["assets"]["data"]["file:checksum"] = serde_json::json!("1220abcd")
    });
    assert!(
        stdout.contains("file:checksum does not match the content of ./rgb_wgs84.tif"),
        "{stdout}"
    );

    let stdout = broken("not-stac", &|d| {
        d.as_object_mut().unwrap().remove("type");
    });
    assert!(
        stdout.contains("not a STAC Item, Collection or Catalog"),
        "{stdout}"
    );
}

#[test]
fn missing_schemas_are_a_configuration_error() {
    let out = tempfile::tempdir().unwrap();
    let item = catalog(out.path());
    let run = stacforge([
        "validate".as_ref(),
        "--schemas".as_ref(),
        out.path().as_os_str(),
        item.as_os_str(),
    ]);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("not a STAC schema folder"),
        "{}",
        text(&run)
    );
}

#[test]
fn a_cog_edited_in_place_is_no_longer_valid() {
    let out = tempfile::tempdir().unwrap();
    let cog = out.path().join("edited.tif");
    let run = stacforge([
        "cogify".as_ref(),
        fixtures().join("geotiff/dem_utm33.tif").as_os_str(),
        cog.as_os_str(),
        "--blocksize".as_ref(),
        "128".as_ref(),
    ]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(stacforge_raster::layout::check(&cog).unwrap().is_valid());
    {
        let options = gdal::DatasetOptions {
            open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE | gdal::GdalOpenFlags::GDAL_OF_RASTER,
            ..Default::default()
        };
        let ds = gdal::Dataset::open_ex(&cog, options).unwrap();
        ds.rasterband(1)
            .unwrap()
            .set_no_data_value(Some(-1.0))
            .unwrap();
    }
    let report = stacforge_raster::layout::check(&cog).unwrap();
    let errors = report.errors.join("\n");
    assert!(errors.contains("is not before the image data"), "{errors}");
    assert!(
        errors.contains("KNOWN_INCOMPATIBLE_EDITION=YES"),
        "{errors}"
    );
}
