//! `stacforge cogify`: COG options, reprojection, palettes, nodata, atomicity.

mod common;

use common::*;
use gdal::{Dataset, Metadata};
use std::path::Path;
use std::process::Command;

fn cogify(src: &Path, dst: &Path, extra: &[&str]) {
    let mut args: Vec<&std::ffi::OsStr> = vec!["cogify".as_ref(), src.as_os_str(), dst.as_os_str()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    let run = stacforge(args);
    assert!(run.status.success(), "{}", text(&run));
    let report = stacforge_raster::layout::check(dst).unwrap();
    assert!(report.is_valid(), "{:?}", report.errors);
}

#[test]
fn reprojection_matches_gdalwarp() {
    let Some(data) = shared_data() else { return };
    let out = tempfile::tempdir().unwrap();
    let src = data.join("geotiff/non_cog.tif");
    let ours = out.path().join("ours.tif");
    cogify(
        &src,
        &ours,
        &["--t-srs", "EPSG:4326", "--resampling", "nearest"],
    );
    // The like-for-like reference is gdalwarp writing a COG: with a GTiff
    // output GDAL warps in other chunks, and its approximate transformer
    // (0.125 px error threshold) then picks other neighbours at a few
    // thousand edge pixels.
    let reference = out.path().join("gdalwarp.tif");
    let warp = Command::new("gdalwarp")
        .args(["-q", "-t_srs", "EPSG:4326", "-r", "near", "-of", "COG"])
        .arg(&src)
        .arg(&reference)
        .status()
        .expect("gdalwarp (gdal-bin) is installed");
    assert!(warp.success());
    assert_same_pixels(&reference, &ours);
    let (a, b) = (
        Dataset::open(&ours).unwrap(),
        Dataset::open(&reference).unwrap(),
    );
    let (ga, gb) = (a.geo_transform().unwrap(), b.geo_transform().unwrap());
    for i in 0..6 {
        assert!(
            (ga[i] - gb[i]).abs() < 1e-9,
            "geotransform {ga:?} vs {gb:?}"
        );
    }
    assert_eq!(a.spatial_ref().unwrap().auth_code().unwrap(), 4326);
}

#[test]
fn web_optimized_output_is_aligned_to_web_mercator_tiles() {
    let out = tempfile::tempdir().unwrap();
    let dst = out.path().join("web.tif");
    cogify(
        &fixtures().join("geotiff/rgb_wgs84.tif"),
        &dst,
        &["--web-optimized", "--blocksize", "256"],
    );
    let ds = Dataset::open(&dst).unwrap();
    assert_eq!(ds.spatial_ref().unwrap().auth_code().unwrap(), 3857);
    let gt = ds.geo_transform().unwrap();
    let origin = -20037508.342789244;
    // Resolution is a WebMercatorQuad zoom level's, and the origin a tile corner.
    let zoom = (2.0 * -origin / 256.0 / gt[1]).log2();
    assert!(
        (zoom - zoom.round()).abs() < 1e-9,
        "resolution {} is not a zoom level",
        gt[1]
    );
    let tile = 256.0 * gt[1];
    let (tx, ty) = ((gt[0] - origin) / tile, (-origin - gt[3]) / tile);
    assert!(
        (tx - tx.round()).abs() < 1e-6 && (ty - ty.round()).abs() < 1e-6,
        "{gt:?}"
    );
}

#[test]
fn palette_nodata_and_pixels_survive() {
    let out = tempfile::tempdir().unwrap();
    let src = fixtures().join("geotiff/landcover_laea.tif");
    let dst = out.path().join("landcover.tif");
    cogify(&src, &dst, &["--compression", "zstd", "--level", "9"]);
    assert_same_pixels(&src, &dst);
    let (a, b) = (Dataset::open(&src).unwrap(), Dataset::open(&dst).unwrap());
    let (ba, bb) = (a.rasterband(1).unwrap(), b.rasterband(1).unwrap());
    assert_eq!(ba.no_data_value(), bb.no_data_value());
    let (ta, tb) = (ba.color_table().unwrap(), bb.color_table().unwrap());
    assert_eq!(ta.entry_count(), tb.entry_count());
    for i in 0..ta.entry_count() {
        assert_eq!(
            format!("{:?}", ta.entry(i)),
            format!("{:?}", tb.entry(i)),
            "palette entry {i}"
        );
    }
    assert_eq!(
        b.metadata_item("COMPRESSION", "IMAGE_STRUCTURE").as_deref(),
        Some("ZSTD")
    );

    // NaN nodata on a float raster, with the floating-point predictor.
    let src = fixtures().join("geotiff/seaice_3413.tif");
    let dst = out.path().join("seaice.tif");
    cogify(
        &src,
        &dst,
        &[
            "--predictor",
            "floating-point",
            "--overview-resampling",
            "average",
            "--blocksize",
            "128",
        ],
    );
    assert_same_pixels(&src, &dst);
    assert!(Dataset::open(&dst)
        .unwrap()
        .rasterband(1)
        .unwrap()
        .no_data_value()
        .unwrap()
        .is_nan());
}

#[test]
fn a_failed_conversion_leaves_nothing_at_the_destination() {
    let out = tempfile::tempdir().unwrap();
    let dst = out.path().join("never.tif");
    let run = stacforge([
        "cogify".as_ref(),
        fixtures().join("bad/truncated.tif").as_os_str(),
        dst.as_os_str(),
    ]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("truncated.tif"),
        "{}",
        text(&run)
    );
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "no file, partial or final"
    );

    let run = stacforge([
        "cogify".as_ref(),
        fixtures().join("geotiff/dem_utm33.tif").as_os_str(),
        dst.as_os_str(),
        "--level".as_ref(),
        "40".as_ref(),
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("compression level"),
        "{}",
        text(&run)
    );
}

/// Several sources into a folder: each COG is the one `cogify` makes of
/// that source alone (the next source is read while one is written), a bad
/// source is named and the others are written, and two sources that would
/// write the same file are refused before any work.
#[test]
fn several_sources_go_into_a_folder() {
    let out = tempfile::tempdir().unwrap();
    let names = ["dem_utm33", "rgb_wgs84", "landcover_laea", "seaice_3413"];
    let mut sources: Vec<std::path::PathBuf> = names
        .iter()
        .map(|n| fixtures().join(format!("geotiff/{n}.tif")))
        .collect();
    // The bad source in the middle: the ones after it are still written.
    sources.insert(2, fixtures().join("bad/truncated.tif"));
    let folder = out.path().join("cogs");
    let mut args: Vec<&std::ffi::OsStr> = vec!["cogify".as_ref()];
    args.extend(sources.iter().map(|s| s.as_os_str()));
    args.push(folder.as_os_str());
    let run = stacforge(args);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("FAILED") && stderr.contains("truncated.tif"),
        "{}",
        text(&run)
    );
    assert!(
        stderr.contains("4 of 5 COGs written, 1 failed"),
        "{}",
        text(&run)
    );
    let mut written: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    let mut want: Vec<String> = names.iter().map(|n| format!("{n}.tif")).collect();
    want.sort();
    assert_eq!(written, want, "the four COGs and no partial file");
    for name in names {
        let alone = out.path().join(format!("{name}-alone.tif"));
        cogify(&fixtures().join(format!("geotiff/{name}.tif")), &alone, &[]);
        let batch = folder.join(format!("{name}.tif"));
        assert!(
            std::fs::read(&alone).unwrap() == std::fs::read(&batch).unwrap(),
            "{name}: the COG written among others differs from the one written alone"
        );
    }

    // One source into an existing folder takes the source's name.
    let one = stacforge([
        "cogify".as_ref(),
        sources[0].as_os_str(),
        out.path().as_os_str(),
    ]);
    assert!(one.status.success(), "{}", text(&one));
    assert!(out.path().join("dem_utm33.tif").is_file());

    let clash = out.path().join("clash");
    std::fs::create_dir(&clash).unwrap();
    let copy = clash.join("dem_utm33.tif");
    std::fs::copy(&sources[0], &copy).unwrap();
    let run = stacforge([
        "cogify".as_ref(),
        sources[0].as_os_str(),
        copy.as_os_str(),
        out.path().join("never").as_os_str(),
    ]);
    // A usage error: exit code 2.
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("would both be written to dem_utm33.tif"),
        "{}",
        text(&run)
    );
    assert!(
        !out.path().join("never").exists(),
        "refused before any work"
    );

    // A COG never replaces its source: `cogify *.tif .` in the scenes'
    // folder is refused, the sources untouched.
    let scenes = out.path().join("scenes");
    std::fs::create_dir(&scenes).unwrap();
    let mut before = Vec::new();
    for name in ["dem_utm33", "rgb_wgs84"] {
        let copy = scenes.join(format!("{name}.tif"));
        std::fs::copy(fixtures().join(format!("geotiff/{name}.tif")), &copy).unwrap();
        before.push((copy.clone(), std::fs::read(&copy).unwrap()));
    }
    for args in [
        vec![
            before[0].0.as_os_str(),
            before[1].0.as_os_str(),
            scenes.as_os_str(),
        ],
        vec![before[0].0.as_os_str(), before[0].0.as_os_str()],
    ] {
        let mut argv = vec!["cogify".as_ref()];
        argv.extend(args);
        let run = stacforge(argv);
        assert_eq!(run.status.code(), Some(2), "{}", text(&run));
        assert!(
            String::from_utf8_lossy(&run.stderr).contains("destroying it"),
            "{}",
            text(&run)
        );
    }
    for (path, bytes) in &before {
        assert!(
            std::fs::read(path).unwrap() == *bytes,
            "{} changed",
            path.display()
        );
    }
}

#[test]
fn info_reports_what_stacforge_sees() {
    let run = stacforge([
        "info".as_ref(),
        fixtures().join("geotiff/pacific_3832.tif").as_os_str(),
        "--json".as_ref(),
    ]);
    assert!(run.status.success(), "{}", text(&run));
    let info: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(info["profile"]["crs"]["code"], "EPSG:3832");
    assert_eq!(
        info["profile"]["footprint"]["geometry"]["type"], "MultiPolygon",
        "split at the antimeridian"
    );
    let bbox = info["profile"]["footprint"]["bbox"].as_array().unwrap();
    assert!(
        bbox[0].as_f64().unwrap() > bbox[2].as_f64().unwrap(),
        "west > east across the antimeridian: {bbox:?}"
    );
    // Stripped without overviews is only a warning at 200x100 (as in GDAL's validator).
    assert_eq!(info["cog"]["errors"], serde_json::json!([]));
    assert!(
        info["cog"]["warnings"][0]
            .as_str()
            .unwrap()
            .contains("strips"),
        "{}",
        info["cog"]
    );
}

/// Every overview pixel is nodata or lies within the valid range: averaging
/// did not mix nodata into data.
fn assert_overviews_honour_nodata(path: &Path, nodata: f64, valid: (f64, f64)) {
    let ds = Dataset::open(path).unwrap();
    let band = ds.rasterband(1).unwrap();
    assert_eq!(band.no_data_value(), Some(nodata));
    let count = band.overview_count().unwrap();
    assert!(count > 0, "{} has overviews", path.display());
    for i in 0..count as usize {
        let ovr = band.overview(i).unwrap();
        let size = ovr.size();
        let data = ovr.read_as::<f64>((0, 0), size, size, None).unwrap();
        let mixed = data
            .data()
            .iter()
            .filter(|&&v| v != nodata && !(valid.0..=valid.1).contains(&v))
            .count();
        assert_eq!(
            mixed,
            0,
            "overview {i} of {} mixes nodata into data",
            path.display()
        );
        assert!(data.data().contains(&nodata), "overview {i} keeps nodata");
    }
}

#[test]
fn nodata_is_set_before_overviews() {
    let out = tempfile::tempdir().unwrap();
    // The source's own nodata (-9999 outside an ellipse).
    let src = fixtures().join("geotiff/dem_utm33.tif");
    let dst = out.path().join("dem.tif");
    cogify(
        &src,
        &dst,
        &["--overview-resampling", "average", "--blocksize", "128"],
    );
    // Range of the valid pixels, computed here: GDAL's statistics would
    // write a .aux.xml beside the fixture.
    let (_, bands) = pixels(&src);
    let valid = bands[0].iter().copied().filter(|v| *v != -9999.0);
    let range = valid.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    assert_overviews_honour_nodata(&dst, -9999.0, range);

    // A nodata value assigned on the command line to a source without one.
    let src = fixtures().join("geotiff/rgb_wgs84.tif");
    let plain = out.path().join("plain.tif");
    let run = Command::new("gdal_translate")
        .args(["-q", "-b", "1", "-a_nodata", "none"])
        .arg(&src)
        .arg(&plain)
        .status()
        .unwrap();
    assert!(run.success());
    let dst = out.path().join("assigned.tif");
    cogify(
        &plain,
        &dst,
        &[
            "--nodata",
            "0",
            "--overview-resampling",
            "average",
            "--blocksize",
            "128",
        ],
    );
    assert_overviews_honour_nodata(&dst, 0.0, (1.0, 255.0));
}
