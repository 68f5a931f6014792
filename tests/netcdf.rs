//! `stacforge netcdf to-zarr`: real NetCDF series combined into Zarr,
//! read back by xarray, appended to safely, and described in STAC.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn to_zarr(sources: &[&Path], out: &Path, extra: &[&str]) -> std::process::Output {
    netcdf("to-zarr", sources, out, extra)
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
    let mut args = vec![full.clone()];
    args.extend(stores);
    assert_python_check(&venv, "xarray_equal.py", &args);
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
    assert_eq!(out.status.code(), Some(1));
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
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("air.nc") && text(&out).contains("shape"),
        "{}",
        text(&out)
    );
    assert_eq!(tree(&store), before);
}

#[test]
fn sources_on_another_grid_are_refused_before_anything_is_written() {
    let Some(data) = shared_data() else { return };
    let (t1, _, _) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.zarr");
    // air.nc has the same variables on another grid (it also starts 21
    // months after split1 ends, but the consistency check speaks first).
    let other = data.join("netcdf/nc4/air.nc");
    let out = to_zarr(&[&t1, &other], &store, &[]);
    assert_eq!(out.status.code(), Some(1));
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
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
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
    assert_eq!(out.status.code(), Some(1));
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
    // The store's file fields are those of its consolidated metadata.
    let document = std::fs::read(dir.path().join("air.zarr/zarr.json")).unwrap();
    assert_eq!(air["assets"]["zarr"]["file:size"], document.len());
    assert_eq!(
        air["assets"]["zarr"]["file:checksum"],
        stacforge_core::checksum::sha256_multihash(&document[..]).unwrap()
    );
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
    // A tile server's default: the store's first data variable.
    let render = &p["renders"]["default"];
    assert_eq!(render["assets"], serde_json::json!(["zarr"]));
    assert_eq!(render["variable"], "cdr_seaice_conc");
    let collection = json(&catalog.join("collection.json"));
    assert!(
        collection["renders"]["default"].is_object(),
        "{collection:#}"
    );
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

fn to_cog(sources: &[&Path], out: &Path, extra: &[&str]) -> std::process::Output {
    netcdf("to-cog", sources, out, extra)
}

/// The first band of a NetCDF variable through GDAL, values outside
/// `valid_range` kept.
fn raw_netcdf_pixels(name: &str) -> Vec<f64> {
    stacforge_raster::init();
    let options = gdal::DatasetOptions {
        open_options: Some(&["HONOUR_VALID_RANGE=NO"]),
        ..Default::default()
    };
    let ds = gdal::Dataset::open_ex(name, options).unwrap();
    let size = ds.raster_size();
    ds.rasterband(1)
        .unwrap()
        .read_as::<f64>((0, 0), size, size, None)
        .unwrap()
        .data()
        .to_vec()
}

fn geotransform(path: &Path) -> ([f64; 6], (usize, usize), String) {
    stacforge_raster::init();
    let ds = gdal::Dataset::open(path).unwrap();
    let srs = ds.spatial_ref().unwrap();
    let code = format!(
        "{}:{}",
        srs.auth_name().unwrap_or_default(),
        srs.auth_code().unwrap_or_default()
    );
    (ds.geo_transform().unwrap(), ds.raster_size(), code)
}

#[test]
fn seaice_cog_is_on_the_nsidc_polar_grid_with_the_source_pixels() {
    let (Some(data), Some(schemas)) = (shared_data(), schemas()) else {
        return;
    };
    let src = data.join("netcdf/nc4/seaice_conc_daily_nh_20211231_f17_v04r00.nc");
    let dir = tempfile::tempdir().unwrap();
    let out = to_cog(&[&src], dir.path(), &["--variables", "cdr_seaice_conc"]);
    assert!(out.status.success(), "{}", text(&out));
    let item_dir = dir
        .path()
        .join("items/seaice_conc_daily_nh_20211231_f17_v04r00");
    let cog = item_dir.join("seaice_conc_daily_nh_20211231_f17_v04r00_cdr_seaice_conc.tif");
    let (gt, size, code) = geotransform(&cog);
    // Not EPSG:3413 (WGS 84), which GDAL substitutes for the deprecated code
    // unless told not to: the grid is on the Hughes 1980 ellipsoid.
    assert_eq!(code, "EPSG:3411");
    assert_eq!(size, (304, 448));
    // The grid boundaries the file's `projection` attributes state:
    // left -3850000, top 5850000, right 3750000, bottom -5350000, 25 km cells.
    assert_eq!(
        gt,
        [-3_850_000.0, 25_000.0, 0.0, 5_850_000.0, 0.0, -25_000.0]
    );
    assert_eq!(gt[0] + 304.0 * gt[1], 3_750_000.0);
    assert_eq!(gt[3] + 448.0 * gt[5], -5_350_000.0);
    // The stored values, flags (251-254: pole hole, lakes, coast, land)
    // included: GDAL's netCDF driver masks them unless told not to.
    let netcdf_var = format!("NETCDF:\"{}\":cdr_seaice_conc", src.display());
    assert_eq!(raw_netcdf_pixels(&netcdf_var), pixels(&cog).1[0]);

    let item_path = item_dir.join("seaice_conc_daily_nh_20211231_f17_v04r00.json");
    let problems = schema_problems(&schemas, &item_path);
    assert!(problems.is_empty(), "{problems:#?}");
    let item = json(&item_path);
    assert_eq!(item["properties"]["datetime"], "2021-12-31T00:00:00Z");
    let band = &item["assets"]["cdr_seaice_conc"]["bands"][0];
    assert_eq!(band["nodata"], 255.0);
    assert!(
        (band["raster:scale"].as_f64().unwrap() - 0.01).abs() < 1e-9,
        "{band}"
    );
    assert_eq!(item["assets"]["cdr_seaice_conc"]["proj:code"], "EPSG:3411");
}

#[test]
fn oisst_longitudes_0_360_are_reported_and_rolled_to_minus_180_180() {
    let (Some(data), Some(schemas)) = (shared_data(), schemas()) else {
        return;
    };
    let src = data.join("netcdf/nc4/oisst-avhrr-v02r01.20220913.nc");
    let netcdf_var = PathBuf::from(format!("NETCDF:\"{}\":sst", src.display()));
    let (_, source) = pixels(&netcdf_var);
    let item_dir = |d: &Path| d.join("items/oisst-avhrr-v02r01.20220913");

    // As stored: 0-360, said so, rows north-up (the file runs south to north).
    let kept = tempfile::tempdir().unwrap();
    let out = to_cog(&[&src], kept.path(), &["--variables", "sst"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("0–360 longitudes"), "{}", text(&out));
    let cog = item_dir(kept.path()).join("oisst-avhrr-v02r01.20220913_sst.tif");
    let (gt, size, code) = geotransform(&cog);
    assert_eq!(
        (gt, size, code.as_str()),
        ([0.0, 0.25, 0.0, 90.0, 0.0, -0.25], (1440, 720), "EPSG:4326")
    );
    assert_same_pixels(&cog, &netcdf_var);

    // Rolled: -180..180, column c holds source column (c + 720) mod 1440.
    let rolled = tempfile::tempdir().unwrap();
    let out = to_cog(
        &[&src],
        rolled.path(),
        &["--variables", "sst", "--roll-longitude"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let cog = item_dir(rolled.path()).join("oisst-avhrr-v02r01.20220913_sst.tif");
    let (gt, _, _) = geotransform(&cog);
    assert_eq!(gt, [-180.0, 0.25, 0.0, 90.0, 0.0, -0.25]);
    let (_, ours) = pixels(&cog);
    let moved = (0..720 * 1440)
        .filter(|&i| {
            let (row, col) = (i / 1440, i % 1440);
            ours[0][i] != source[0][row * 1440 + (col + 720) % 1440]
        })
        .count();
    assert_eq!(moved, 0);
    let item_path = item_dir(rolled.path()).join("oisst-avhrr-v02r01.20220913.json");
    assert!(schema_problems(&schemas, &item_path).is_empty());
    let item = json(&item_path);
    assert_eq!(
        item["bbox"],
        serde_json::json!([-180.0, -90.0, 180.0, 90.0])
    );
    assert_eq!(item["properties"]["datetime"], "2022-09-13T12:00:00Z");
    let band = &item["assets"]["sst"]["bands"][0];
    assert_eq!(band["nodata"], -999.0);
    assert_eq!(band["unit"], "Celsius");
}

#[test]
fn a_netcdf3_file_gives_one_cog_per_variable_per_month() {
    let (Some(data), Some(schemas)) = (shared_data(), schemas()) else {
        return;
    };
    let src = data.join("netcdf/nc3/bcsd_obs_1999.nc");
    let dir = tempfile::tempdir().unwrap();
    let out = to_cog(&[&src], dir.path(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    let item_path = dir.path().join("items/bcsd_obs_1999/bcsd_obs_1999.json");
    assert!(schema_problems(&schemas, &item_path).is_empty());
    let item = json(&item_path);
    let assets = item["assets"].as_object().unwrap();
    assert_eq!(assets.len(), 24, "{:?}", assets.keys().collect::<Vec<_>>());
    assert_eq!(item["properties"]["start_datetime"], "1999-01-31T00:00:00Z");
    assert_eq!(
        item["assets"]["tas_t011"]["datetime"],
        "1999-12-31T00:00:00Z"
    );
    // Month 3 of `pr`, through GDAL's netCDF driver (band 3).
    let (_, source) = pixels(&PathBuf::from(format!("NETCDF:\"{}\":pr", src.display())));
    let (_, ours) = pixels(
        &dir.path()
            .join("items/bcsd_obs_1999/bcsd_obs_1999_pr_t002.tif"),
    );
    // The file stores NaN in some cells (its _FillValue is 1e20); the COG
    // keeps the stored NaN, GDAL's netCDF driver reports the fill value.
    let fill = f64::from(1e20f32);
    let differ = ours[0]
        .iter()
        .zip(&source[2])
        .filter(|(a, b)| !(a == b || (a.is_nan() && **b == fill)))
        .count();
    assert_eq!(differ, 0);
    assert!(ours[0].iter().any(|v| v.is_nan()) && ours[0].iter().any(|v| v.is_finite()));
}

#[test]
fn decoded_stores_hold_what_xarray_decodes() {
    let (Some(data), Some(venv)) = (shared_data(), interop_venv()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // OISST: int16 packed with a float32 scale and fill -999 -> float32 + NaN;
    // air: int16 with a float64 scale -> float64.
    let oisst = data.join("netcdf/nc4/oisst-avhrr-v02r01.20220913.nc");
    let (t1, t2, full) = air_series(&data);
    let checks = [
        (oisst.clone(), vec![oisst.clone()]),
        (full.clone(), vec![t1.clone(), t2.clone()]),
    ];
    for (i, (reference, sources)) in checks.iter().enumerate() {
        for version in ["3", "2"] {
            let store = dir.path().join(format!("{i}-v{version}.zarr"));
            let srcs: Vec<&Path> = sources.iter().map(PathBuf::as_path).collect();
            let out = to_zarr(&srcs, &store, &["--decode", "--zarr-version", version]);
            assert!(out.status.success(), "{}", text(&out));
            let args = [Path::new("--decoded"), reference, &store];
            assert_python_check(&venv, "xarray_equal.py", &args);
        }
    }
}

#[test]
fn a_store_written_to_s3_is_uploaded_whole_with_its_item() {
    let Some(data) = shared_data() else { return };
    let Some(server) = S3Server::start() else {
        return;
    };
    let (t1, t2, _) = air_series(&data);
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("stac");
    let out = server
        .stacforge(S3_SECRET_KEY)
        .args(["netcdf", "to-zarr"])
        .args([&t1, &t2])
        .args(["--out", "s3://bucket/air.zarr", "--catalog"])
        .arg(&catalog)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let local = dir.path().join("air.zarr");
    assert!(to_zarr(&[&t1, &t2], &local, &[]).status.success());
    let uploaded: Vec<_> = tree(&server.root.path().join("bucket/air.zarr"))
        .into_iter()
        .filter(|(p, _)| !p.to_string_lossy().contains(".s3s"))
        .collect();
    assert_eq!(uploaded, tree(&local));
    let item = json(&catalog.join("items/air/air.json"));
    assert_eq!(item["assets"]["zarr"]["href"], "s3://bucket/air.zarr");
    // Appending to a remote store is refused, not half-done.
    let out = server
        .stacforge(S3_SECRET_KEY)
        .args(["netcdf", "to-zarr"])
        .arg(&t2)
        .args(["--out", "s3://bucket/air.zarr", "--append"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--append"), "{}", text(&out));
}

#[test]
fn chunks_decoded_directly_equal_what_netcdf_c_reads() {
    let Some(data) = shared_data() else { return };
    let cases = [
        (
            "netcdf/nc4/oisst-avhrr-v02r01.20220913.nc",
            "sst",
            vec![0..1, 0..1, 100..620, 7..1400],
        ),
        (
            "netcdf/nc4/seaice_conc_daily_nh_20211231_f17_v04r00.nc",
            "cdr_seaice_conc",
            vec![0..1, 0..448, 0..304],
        ),
        (
            "netcdf/nc4/seaice_conc_daily_nh_20211231_f17_v04r00.nc",
            "stdev_of_cdr_seaice_conc",
            vec![0..1, 33..300, 5..17],
        ),
    ];
    for (file, var, ranges) in cases {
        let path = data.join(file);
        let direct = stacforge_array::chunks::read_direct(&path, var, &ranges)
            .unwrap()
            .unwrap_or_else(|| {
                panic!("{file}:{var} is chunked with zlib/shuffle: it must decode directly")
            });
        let reader = stacforge_array::inventory::Reader::open(&path, None).unwrap();
        assert_eq!(direct, reader.read(var, &ranges).unwrap(), "{file}:{var}");
    }
    // Contiguous storage (the air series, kerchunk's air.nc) falls back to
    // netCDF-C; NetCDF-3 is not HDF5.
    let (t1, _, _) = air_series(&data);
    assert!(
        stacforge_array::chunks::read_direct(&t1, "air", &[0..2, 0..25, 0..53])
            .unwrap()
            .is_none()
    );
    let nc3 = data.join("netcdf/nc3/bcsd_obs_1999.nc");
    assert!(
        stacforge_array::chunks::read_direct(&nc3, "pr", &[0..1, 0..33, 0..81])
            .unwrap()
            .is_none()
    );
}

/// `char` variables keep their bytes: NSIDC's scalar `projection` (the grid
/// mapping container) and a 2-D array of station names come back from the
/// Zarr copy (v3 and v2) and the references as xarray reads them from the
/// source (`S1`, the same bytes), not as an int32 0.
#[test]
fn char_variables_keep_their_bytes() {
    let (Some(data), Some(venv)) = (shared_data(), interop_venv()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let seaice = data.join("netcdf/nc4/seaice_conc_daily_nh_20211231_f17_v04r00.nc");
    let (t1, t2, _) = air_series(&data);
    let (l1, l2) = (dir.path().join("air1.nc"), dir.path().join("air2.nc"));
    make_bad_netcdf(&venv, "labels", &t1, &l1);
    make_bad_netcdf(&venv, "labels", &t2, &l2);
    for (src, sources, var) in [
        (&seaice, vec![seaice.as_path()], "projection"),
        (&l1, vec![l1.as_path(), l2.as_path()], "station_name"),
    ] {
        let mut outputs = Vec::new();
        for version in ["3", "2"] {
            let store = dir.path().join(format!("{var}-v{version}.zarr"));
            let out = to_zarr(&sources, &store, &["--zarr-version", version]);
            assert!(out.status.success(), "{}", text(&out));
            outputs.push(store);
        }
        let refs = dir.path().join(format!("{var}.json"));
        let out = netcdf("to-refs", &sources, &refs, &[]);
        assert!(out.status.success(), "{}", text(&out));
        outputs.push(refs);
        let mut args = vec![src.display().to_string(), var.to_string()];
        args.extend(outputs.iter().map(|p| p.display().to_string()));
        assert_python_check(&venv, "vars_identical.py", &args);
    }
}

/// float32 packing (OISST: int16 with float32 `scale_factor`/`add_offset`):
/// the store and the references keep the source's attribute values
/// exactly, so xarray's values cast to float32 are bit-identical to its
/// reading of the source, and `--decode` writes those float32 values
/// themselves. JSON attributes carry no width, so xarray decodes packed
/// Zarr (its own copy included) to float64; the check also proves that.
#[test]
fn float32_packing_survives_exactly() {
    let (Some(data), Some(venv)) = (shared_data(), interop_venv()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = data.join("netcdf/nc4/oisst-avhrr-v02r01.20220913.nc");
    let (store, refs, decoded) = (
        dir.path().join("oisst.zarr"),
        dir.path().join("oisst.json"),
        dir.path().join("decoded.zarr"),
    );
    for (out, extra) in [(&store, vec![]), (&decoded, vec!["--decode"])] {
        let run = to_zarr(&[&src], out, &extra);
        assert!(run.status.success(), "{}", text(&run));
    }
    let run = netcdf("to-refs", &[&src], &refs, &[]);
    assert!(run.status.success(), "{}", text(&run));
    assert_python_check(
        &venv,
        "packed_float32.py",
        &[
            src.display().to_string(),
            store.display().to_string(),
            refs.display().to_string(),
            decoded.display().to_string(),
            "sst,anom,err,ice".into(),
        ],
    );
}
