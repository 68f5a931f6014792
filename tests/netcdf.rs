//! `stacforge netcdf to-zarr`: real NetCDF series combined into Zarr,
//! read back by xarray, appended to safely, and described in STAC.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn air_series(data: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let d = data.join("netcdf/air-series");
    (
        d.join("test_ds_netcdf4_split_time1.nc"),
        d.join("test_ds_netcdf4_split_time2.nc"),
        d.join("test_ds_netcdf4_full_time.nc"),
    )
}

fn to_zarr(sources: &[&Path], out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = vec!["netcdf".into(), "to-zarr".into()];
    args.extend(sources.iter().map(|p| p.display().to_string()));
    args.extend(["--out".into(), out.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    stacforge(&args)
}

/// Every file under `dir`, relative, with its bytes.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn air_series_combined_equals_the_full_file_in_xarray_v2_and_v3() {
    let (Some(data), Some(venv)) = (shared_data(), interop_venv()) else {
        return;
    };
    let (t1, t2, full) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let mut stores = Vec::new();
    for version in ["3", "2"] {
        let store = dir.path().join(format!("air-v{version}.zarr"));
        // Given out of order: the sources are ordered by their time axis.
        let out = to_zarr(&[&t2, &t1], &store, &["--zarr-version", version]);
        assert!(out.status.success(), "{}", text(&out));
        let marker = if version == "3" {
            "zarr.json"
        } else {
            ".zmetadata"
        };
        assert!(store.join(marker).is_file());
        stores.push(store);
    }
    let check = Command::new(venv.join("bin/python"))
        .arg(root().join("tests/python/xarray_equal.py"))
        .arg(&full)
        .args(&stores)
        .output()
        .unwrap();
    assert!(check.status.success(), "xarray: {}", text(&check));
}

#[test]
fn appending_equals_making_at_once_and_repeating_it_changes_nothing() {
    let Some(data) = shared_data() else { return };
    let (t1, t2, _) = air_series(&data);
    for version in ["3", "2"] {
        let dir = tempfile::tempdir().unwrap();
        let (grown, once) = (dir.path().join("grown.zarr"), dir.path().join("once.zarr"));
        let v = ["--zarr-version", version];
        assert!(to_zarr(&[&t1], &grown, &v).status.success());
        let out = to_zarr(&[&t2], &grown, &["--append"]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(to_zarr(&[&t1, &t2], &once, &v).status.success());
        let grown_tree = tree(&grown);
        assert_eq!(
            grown_tree,
            tree(&once),
            "v{version}: appended store differs from the one made at once"
        );
        // Again: a no-op, byte for byte, and said so.
        let again = to_zarr(&[&t2, &t1], &grown, &["--append", "--json"]);
        assert!(again.status.success(), "{}", text(&again));
        let summary: Value = serde_json::from_slice(&again.stdout).unwrap();
        assert_eq!(summary["written"].as_array().unwrap().len(), 0);
        assert_eq!(summary["skipped"].as_array().unwrap().len(), 2);
        assert_eq!(tree(&grown), grown_tree);
        // No staging directory is left beside the store.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }
}

#[test]
fn appends_that_overlap_leave_gaps_or_differ_are_refused_and_change_nothing() {
    let Some(data) = shared_data() else { return };
    let (t1, t2, full) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.zarr");
    assert!(to_zarr(&[&t2], &store, &[]).status.success());
    let before = tree(&store);
    // Overlap: the full file repeats split2's times.
    let out = to_zarr(&[&full], &store, &["--append"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("overlaps") && text(&out).contains("test_ds_netcdf4_full_time.nc"),
        "{}",
        text(&out)
    );
    // Earlier than the store: also an overlap, not a silent reorder.
    let out = to_zarr(&[&t1], &store, &["--append"]);
    assert!(text(&out).contains("overlaps"), "{}", text(&out));
    // A different grid (kerchunk's air.nc: 11 x 21 cells, and months later).
    let other = data.join("netcdf/nc4/air.nc");
    let out = to_zarr(&[&other], &store, &["--append"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("air.nc") && text(&out).contains("shape"),
        "{}",
        text(&out)
    );
    assert_eq!(tree(&store), before);
}

#[test]
fn a_gap_in_the_time_axis_is_refused() {
    let Some(data) = shared_data() else { return };
    let (t1, _, _) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.zarr");
    // air.nc has the same variables but starts 21 months after split1 ends;
    // its grid differs too, so the consistency check speaks first.
    let other = data.join("netcdf/nc4/air.nc");
    let out = to_zarr(&[&t1, &other], &store, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("differ") && text(&out).contains("lat"),
        "{}",
        text(&out)
    );
    assert!(!store.exists());
}

#[test]
fn bad_sources_are_named_and_leave_no_store() {
    let Some(data) = shared_data() else { return };
    let (t1, _, _) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.zarr");
    let truncated = dir.path().join("truncated.nc");
    let bytes = std::fs::read(&t1).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let not_netcdf = fixtures().join("geotiff/dem_utm33.tif");
    for bad in [&truncated, &not_netcdf] {
        let out = to_zarr(&[&t1, bad], &store, &[]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            text(&out).contains(&bad.display().to_string()),
            "{}",
            text(&out)
        );
        assert!(!store.exists());
    }
    // A variable missing from one file: both files named.
    let oisst = data.join("netcdf/nc4/oisst-avhrr-v02r01.20220913.nc");
    let out = to_zarr(&[&t1, &oisst], &store, &["--variables", "air"]);
    assert_eq!(out.status.code(), Some(2));
    let said = text(&out);
    assert!(
        said.contains("split_time1.nc") && said.contains("oisst") && said.contains("missing"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only the truncated copy remains"
    );
}

#[test]
fn store_items_have_the_datacube_crs_time_and_sources_and_validate() {
    let (Some(data), Some(schemas)) = (shared_data(), schemas()) else {
        return;
    };
    let (t1, t2, _) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("stac");
    let cat = catalog.display().to_string();
    let out = to_zarr(
        &[&t1, &t2],
        &dir.path().join("air.zarr"),
        &["--catalog", &cat],
    );
    assert!(out.status.success(), "{}", text(&out));
    let seaice = data.join("netcdf/nc4/seaice_conc_daily_nh_20211231_f17_v04r00.nc");
    let out = to_zarr(
        &[&seaice],
        &dir.path().join("seaice.zarr"),
        &["--catalog", &cat, "--zarr-version", "2"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let oisst = data.join("netcdf/nc4/oisst-avhrr-v02r01.20220913.nc");
    let out = to_zarr(
        &[&oisst],
        &dir.path().join("oisst.zarr"),
        &["--catalog", &cat],
    );
    assert!(out.status.success(), "{}", text(&out));

    for path in [
        catalog.join("collection.json"),
        catalog.join("items/air/air.json"),
        catalog.join("items/seaice/seaice.json"),
        catalog.join("items/oisst/oisst.json"),
    ] {
        let problems = schema_problems(&schemas, &path);
        assert!(problems.is_empty(), "{}: {problems:#?}", path.display());
    }
    let air = json(&catalog.join("items/air/air.json"));
    let p = &air["properties"];
    assert_eq!(p["start_datetime"], "2013-01-01T00:00:00Z");
    assert_eq!(p["end_datetime"], "2013-01-01T18:00:00Z");
    assert_eq!(p["cube:dimensions"]["time"]["step"], "PT6H");
    assert_eq!(
        p["cube:dimensions"]["lon"]["extent"],
        serde_json::json!([200.0, 330.0])
    );
    assert_eq!(p["cube:variables"]["air"]["unit"], "degK");
    assert_eq!(p["cube:variables"]["air"]["type"], "data");
    assert_eq!(air["assets"]["zarr"]["type"], "application/vnd+zarr");
    // 0-360 longitudes 200-330 are -160..-30 on Earth (cell edges).
    assert_eq!(
        air["bbox"],
        serde_json::json!([-161.25, 13.75, -28.75, 76.25])
    );
    let via: Vec<&Value> = air["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["rel"] == "via")
        .collect();
    assert_eq!(via.len(), 2);
    for (link, src) in via.iter().zip([&t1, &t2]) {
        assert!(link["href"]
            .as_str()
            .unwrap()
            .ends_with(&src.file_name().unwrap().to_string_lossy().into_owned()));
        assert_eq!(link["file:size"], std::fs::metadata(src).unwrap().len());
        assert!(link["file:checksum"].as_str().unwrap().starts_with("1220"));
    }

    // Sea ice: the NSIDC north polar stereographic grid, from the grid mapping.
    let seaice = json(&catalog.join("items/seaice/seaice.json"));
    let p = &seaice["properties"];
    assert_eq!(p["proj:code"], "EPSG:3411");
    assert_eq!(p["proj:shape"], serde_json::json!([448, 304]));
    // The grid's edges are the extents the file's attributes state.
    assert_eq!(
        p["proj:transform"],
        serde_json::json!([25000.0, 0.0, -3850000.0, 0.0, -25000.0, 5850000.0])
    );
    assert_eq!(p["cube:dimensions"]["x"]["axis"], "x");
    assert_eq!(p["cube:dimensions"]["x"]["reference_system"], 3411);
    assert_eq!(p["datetime"], "2021-12-31T00:00:00Z");
    assert_eq!(p["cube:variables"]["projection"]["type"], "auxiliary");
    let bbox = seaice["bbox"].as_array().unwrap();
    assert!(
        bbox[1].as_f64().unwrap() > 30.0 && bbox[3] == 90.0,
        "{bbox:?}"
    );

    // OISST: 0-360 longitudes covering the globe; a depth (z) dimension.
    let oisst = json(&catalog.join("items/oisst/oisst.json"));
    let p = &oisst["properties"];
    assert_eq!(
        oisst["bbox"],
        serde_json::json!([-180.0, -90.0, 180.0, 90.0])
    );
    assert_eq!(
        p["cube:dimensions"]["lon"]["extent"],
        serde_json::json!([0.125, 359.875])
    );
    assert_eq!(p["cube:dimensions"]["zlev"]["axis"], "z");
    assert_eq!(p["datetime"], "2022-09-13T12:00:00Z");
}
