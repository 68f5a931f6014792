//! `stacforge netcdf to-refs`: kerchunk references for real NetCDF-4 files,
//! read back through fsspec's reference:// filesystem by xarray, combined,
//! appended to without reading the files already in them, and verified.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn to_refs(sources: &[&Path], out: &Path, extra: &[&str]) -> std::process::Output {
    netcdf("to-refs", sources, out, extra)
}

/// The references read through fsspec's reference:// by xarray equal
/// `reference` (with `--raw`, compared as stored).
fn xarray_equal(venv: &Path, flags: &[&str], reference: &Path, refs: &[&Path]) {
    let mut args: Vec<&std::ffi::OsStr> = flags.iter().map(|f| f.as_ref()).collect();
    args.push(reference.as_os_str());
    args.extend(refs.iter().map(|r| r.as_os_str()));
    assert_python_check(venv, "refs_equal.py", &args);
}

#[test]
fn references_read_by_xarray_equal_the_files() {
    let (Some(data), Some(venv)) = (shared_data(), interop_venv()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // One file: kerchunk's own test file.
    let air = data.join("netcdf/nc4/air.nc");
    let single = dir.path().join("air.json");
    let out = to_refs(&[&air], &single, &[]);
    assert!(out.status.success(), "{}", text(&out));
    xarray_equal(&venv, &[], &air, &[&single]);
    // Two files combined along time equal the upstream full file.
    let (t1, t2, full) = air_series(&data);
    let combined = dir.path().join("combined.json");
    let out = to_refs(&[&t2, &t1], &combined, &[]);
    assert!(out.status.success(), "{}", text(&out));
    xarray_equal(&venv, &[], &full, &[&combined]);
    // The same in fsspec's Parquet layout (small records: several files per array).
    let (single_pq, combined_pq) = (
        dir.path().join("air.parq"),
        dir.path().join("combined.parq"),
    );
    let out = to_refs(
        &[&air],
        &single_pq,
        &["--format", "parquet", "--record-size", "50"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(single_pq.join(".zmetadata").is_file() && single_pq.join("air/refs.0.parq").is_file());
    let out = to_refs(
        &[&t1, &t2],
        &combined_pq,
        &["--format", "parquet", "--record-size", "1"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        combined_pq.join("air/refs.1.parq").is_file(),
        "one record per chunk"
    );
    xarray_equal(&venv, &[], &air, &[&single_pq]);
    xarray_equal(&venv, &[], &full, &[&combined_pq]);
    // Classic NetCDF (CDF-1): offsets from its header, record variables one
    // chunk per record, big-endian values.
    let nc3 = data.join("netcdf/nc3/bcsd_obs_1999.nc");
    let nc3_refs = dir.path().join("bcsd.json");
    let out = to_refs(&[&nc3], &nc3_refs, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let doc = json(&nc3_refs);
    let zarray: Value = serde_json::from_str(doc["refs"]["pr/.zarray"].as_str().unwrap()).unwrap();
    assert_eq!(
        (zarray["dtype"].as_str(), &zarray["chunks"]),
        (Some(">f4"), &serde_json::json!([1, 33, 81]))
    );
    assert!(doc["refs"]["pr/11.0.0"].is_array());
    xarray_equal(&venv, &[], &nc3, &[&nc3_refs]);
    // Chunked + zlib + shuffle (OISST): byte ranges and codecs from the HDF5 index.
    let oisst = data.join("netcdf/nc4/oisst-avhrr-v02r01.20220913.nc");
    let refs = dir.path().join("oisst.json");
    let out = to_refs(&[&oisst], &refs, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let doc = json(&refs);
    let zarray: Value = serde_json::from_str(doc["refs"]["sst/.zarray"].as_str().unwrap()).unwrap();
    assert_eq!(
        zarray["filters"],
        serde_json::json!([{"id": "shuffle", "elementsize": 2}, {"id": "zlib", "level": 4}])
    );
    let chunk = doc["refs"]["sst/0.0.0.0"].as_array().unwrap();
    assert!(chunk[1].as_u64().unwrap() > 0 && chunk[2].as_u64().unwrap() > 0);
    // Compared as stored (packed int16): a float32 scale_factor is a plain
    // JSON number in Zarr attributes, so xarray unpacks to float64 there (as
    // with kerchunk's own references); the stored values must be identical.
    xarray_equal(&venv, &["--raw"], &oisst, &[&refs]);
}

#[test]
fn appending_reads_only_the_new_file_and_equals_building_at_once() {
    let Some(data) = shared_data() else { return };
    let (t1, t2, _) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let (c1, c2) = (dir.path().join("split1.nc"), dir.path().join("split2.nc"));
    std::fs::copy(&t1, &c1).unwrap();
    std::fs::copy(&t2, &c2).unwrap();
    let at_once = dir.path().join("once.json");
    assert!(to_refs(&[&c1, &c2], &at_once, &[]).status.success());
    let grown = dir.path().join("grown.json");
    assert!(to_refs(&[&c1], &grown, &[]).status.success());
    // The first file is gone: an append that read it would fail.
    std::fs::remove_file(&c1).unwrap();
    let out = to_refs(&[&c2], &grown, &["--append", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let mut a = json(&at_once);
    let mut b = json(&grown);
    // Equal but for when each reference set recorded its sources' times.
    assert_eq!(strip_times(&mut a), strip_times(&mut b));
    // Appending it again is a no-op.
    let before = std::fs::read(&grown).unwrap();
    let again = to_refs(&[&c2], &grown, &["--append", "--json"]);
    assert!(again.status.success(), "{}", text(&again));
    let summary: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        (summary["added"].as_u64(), summary["skipped"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(std::fs::read(&grown).unwrap(), before);
}

fn strip_times(doc: &mut Value) -> Value {
    let attrs: Value = serde_json::from_str(doc["refs"][".zattrs"].as_str().unwrap()).unwrap();
    let mut record = attrs["stacforge"].clone();
    for s in record["sources"].as_array_mut().unwrap() {
        s.as_object_mut().unwrap().remove("modified");
    }
    let mut refs = doc["refs"].as_object().unwrap().clone();
    refs.remove(".zattrs");
    serde_json::json!({"refs": refs, "record": record})
}

#[test]
fn an_append_with_another_scale_factor_is_refused_naming_both() {
    let (Some(data), Some(venv)) = (shared_data(), interop_venv()) else {
        return;
    };
    let (t1, t2, _) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let refs = dir.path().join("refs.json");
    assert!(to_refs(&[&t1], &refs, &[]).status.success());
    let before = std::fs::read(&refs).unwrap();
    // split2 with another scale factor, rewritten by netCDF4-python (the
    // file was made with HDF5 1.14, which Debian's 1.10 should not modify).
    let rescaled = dir.path().join("split2-rescaled.nc");
    std::fs::copy(&t2, &rescaled).unwrap();
    let edit = Command::new(venv.join("bin/python"))
        .args(["-c", "import sys, netCDF4; d = netCDF4.Dataset(sys.argv[1], 'a'); d['air'].scale_factor = 0.02; d.close()"])
        .arg(&rescaled)
        .output()
        .unwrap();
    assert!(edit.status.success(), "{}", text(&edit));
    let out = to_refs(&[&rescaled], &refs, &["--append"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("split2-rescaled.nc")
            && said.contains("scale_factor")
            && said.contains("0.02")
            && said.contains("0.01"),
        "{said}"
    );
    assert_eq!(
        std::fs::read(&refs).unwrap(),
        before,
        "a refused append changes nothing"
    );
    // Overlapping times: refused too.
    let out = to_refs(&[&t1], &refs, &["--append"]);
    assert!(
        out.status.success(),
        "re-appending a recorded file is a no-op: {}",
        text(&out)
    );
    let full = data.join("netcdf/air-series/test_ds_netcdf4_full_time.nc");
    let out = to_refs(&[&full], &refs, &["--append"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("not after"), "{}", text(&out));
}

#[test]
fn reference_items_validate_and_changed_sources_are_detected() {
    let (Some(data), Some(schemas)) = (shared_data(), schemas()) else {
        return;
    };
    let (t1, t2, _) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let (c1, c2) = (dir.path().join("a1.nc"), dir.path().join("a2.nc"));
    std::fs::copy(&t1, &c1).unwrap();
    std::fs::copy(&t2, &c2).unwrap();
    let refs = dir.path().join("air.json");
    let catalog = dir.path().join("stac");
    let out = to_refs(
        &[&c1, &c2],
        &refs,
        &["--catalog", catalog.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    for path in [
        catalog.join("collection.json"),
        catalog.join("items/air/air.json"),
    ] {
        let problems = schema_problems(&schemas, &path);
        assert!(problems.is_empty(), "{}: {problems:#?}", path.display());
    }
    let item = json(&catalog.join("items/air/air.json"));
    assert_eq!(item["assets"]["references"]["type"], "application/json");
    // The asset's file fields are the reference file's.
    let bytes = std::fs::read(&refs).unwrap();
    assert_eq!(item["assets"]["references"]["file:size"], bytes.len());
    assert_eq!(
        item["assets"]["references"]["file:checksum"],
        stacforge_core::checksum::sha256_multihash(&bytes[..]).unwrap()
    );
    assert_eq!(
        item["properties"]["cube:dimensions"]["time"]["step"],
        "PT6H"
    );
    assert_eq!(
        item["links"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["rel"] == "via")
            .count(),
        2
    );

    let verify = stacforge(["netcdf", "verify-refs", refs.to_str().unwrap()]);
    assert!(verify.status.success(), "{}", text(&verify));
    let mut bytes = std::fs::read(&c2).unwrap();
    bytes.push(0);
    std::fs::write(&c2, bytes).unwrap();
    let verify = stacforge(["netcdf", "verify-refs", refs.to_str().unwrap()]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        text(&verify).contains("a2.nc") && text(&verify).contains("size"),
        "{}",
        text(&verify)
    );
}

#[test]
fn a_date_range_selects_the_sources() {
    let Some(data) = shared_data() else { return };
    let (t1, t2, _) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let refs = dir.path().join("afternoon.json");
    // split1 holds 00:00 and 06:00, split2 12:00 and 18:00.
    let out = to_refs(
        &[&t1, &t2],
        &refs,
        &["--from", "2013-01-01T10:00:00Z", "--to", "2013-01-02"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("split_time1.nc: left out"),
        "{}",
        text(&out)
    );
    let doc = json(&refs);
    let attrs: Value = serde_json::from_str(doc["refs"][".zattrs"].as_str().unwrap()).unwrap();
    let sources = attrs["stacforge"]["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 1);
    assert!(sources[0]["href"]
        .as_str()
        .unwrap()
        .ends_with("split_time2.nc"));
    let time: Value = serde_json::from_str(doc["refs"]["time/.zarray"].as_str().unwrap()).unwrap();
    assert_eq!(time["shape"], serde_json::json!([2]));
    // Nothing in range: a clear error, nothing written.
    let none = dir.path().join("none.json");
    let out = to_refs(&[&t1, &t2], &none, &["--from", "2020-01-01"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("date range"), "{}", text(&out));
    assert!(!none.exists());
}
