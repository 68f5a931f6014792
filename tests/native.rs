//! stacforge's native COG writer against GDAL's COG driver: for every
//! GeoTIFF of the shared data and the fixtures, and for generated rasters of
//! every sample type, the native COG passes stacforge's checker, rio-cogeo
//! (`--strict`) and GDAL's validator, holds the source's pixels, has GDAL's
//! overviews (nearest: identical once decoded; average: within one unit)
//! and GDAL's descriptive tags (GeoKeys, GDAL metadata, nodata, photometric,
//! sample format, palette). Sources the native writer cannot handle go to
//! GDAL with one line saying why; `--engine gdal` is GDAL's output.

mod common;

use common::*;
use gdal::raster::Buffer;
use gdal::{Dataset, DriverManager, Metadata};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

fn cogify(src: &Path, dst: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&std::ffi::OsStr> = vec!["cogify".as_ref(), src.as_os_str(), dst.as_os_str()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    stacforge(args)
}

fn cogify_ok(src: &Path, dst: &Path, extra: &[&str]) -> String {
    let run = cogify(src, dst, extra);
    assert!(run.status.success(), "{}: {}", src.display(), text(&run));
    String::from_utf8_lossy(&run.stderr).into_owned()
}

/// One IFD: tag → (type, count, value bytes).
type Ifd = BTreeMap<u16, (u16, u64, Vec<u8>)>;

/// Every IFD's tags, of a little-endian file.
fn tags(path: &Path) -> Vec<Ifd> {
    let f = std::fs::read(path).unwrap();
    assert_eq!(&f[0..2], b"II", "{}", path.display());
    let big = u16::from_le_bytes([f[2], f[3]]) == 43;
    let word = |o: usize, n: usize| -> u64 {
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(&f[o..o + n]);
        u64::from_le_bytes(b)
    };
    let (w, cw, ew) = if big { (8, 8, 20) } else { (4, 2, 12) };
    let mut next = if big { word(8, 8) } else { word(4, 4) } as usize;
    let mut out = Vec::new();
    while next != 0 {
        let n = word(next, cw) as usize;
        let mut ifd = BTreeMap::new();
        for i in 0..n {
            let e = next + cw + i * ew;
            let tag = word(e, 2) as u16;
            let typ = word(e + 2, 2) as u16;
            let count = word(e + 4, w);
            let size = match typ {
                1 | 2 | 6 | 7 => 1,
                3 | 8 => 2,
                4 | 9 | 11 | 13 => 4,
                _ => 8,
            } * count as usize;
            let at = if size <= w {
                e + 4 + w
            } else {
                word(e + 4 + w, w) as usize
            };
            ifd.insert(tag, (typ, count, f[at..at + size].to_vec()));
        }
        out.push(ifd);
        next = word(next + cw + n * ew, w) as usize;
    }
    out
}

/// Tags that describe the dataset; the writer must give GDAL's values.
const DESCRIPTIVE: &[u16] = &[
    254, 256, 257, 258, 262, 277, 284, 306, 317, 320, 322, 323, 338, 339, 33550, 33922, 34264,
    34735, 34736, 34737, 42112, 42113,
];

/// One band of one overview level (0 = full resolution), as f64.
fn level_pixels(path: &Path, level: usize) -> Vec<Vec<f64>> {
    stacforge_raster::init();
    let ds = Dataset::open(path).unwrap();
    (1..=ds.raster_count())
        .map(|b| {
            let band = ds.rasterband(b).unwrap();
            let band = if level == 0 {
                band
            } else {
                band.overview(level - 1).unwrap()
            };
            let size = band.size();
            band.read_as::<f64>((0, 0), size, size, None)
                .unwrap()
                .data()
                .to_vec()
        })
        .collect()
}

fn overview_count(path: &Path) -> usize {
    let ds = Dataset::open(path).unwrap();
    ds.rasterband(1).unwrap().overview_count().unwrap() as usize
}

/// Converts `src` with both engines and checks the native COG against the
/// source and GDAL's; `tolerance` is the overview tolerance (0: identical).
fn assert_like_gdal(src: &Path, extra: &[&str], tolerance: f64) {
    let out = tempfile::tempdir().unwrap();
    let native = out.path().join("native.tif");
    let gdal = out.path().join("gdal.tif");
    let said = cogify_ok(src, &native, &[&["--engine", "native"], extra].concat());
    assert!(!said.contains("note:"), "{}: {said}", src.display());
    cogify_ok(src, &gdal, &[&["--engine", "gdal"], extra].concat());

    let report = stacforge_raster::layout::check(&native).unwrap();
    assert!(report.is_valid(), "{}: {:?}", src.display(), report.errors);
    if let Some(venv) = interop_venv() {
        assert_external_validators_accept(&venv, &native, report.header_size);
    }
    assert_same_pixels(src, &native);

    let (ours, theirs) = (tags(&native), tags(&gdal));
    assert_eq!(ours.len(), theirs.len(), "{}: IFD count", src.display());
    for (level, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        for tag in DESCRIPTIVE {
            assert_eq!(
                a.get(tag),
                b.get(tag),
                "{}: tag {tag} of IFD {level} differs from GDAL's",
                src.display()
            );
        }
    }
    let levels = overview_count(&gdal);
    assert_eq!(overview_count(&native), levels);
    for level in 1..=levels {
        let (a, b) = (level_pixels(&native, level), level_pixels(&gdal, level));
        for (band, (x, y)) in a.iter().zip(&b).enumerate() {
            let worst = x
                .iter()
                .zip(y)
                .filter(|(p, q)| !(p.is_nan() && q.is_nan()))
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f64::max);
            assert!(
                worst <= tolerance,
                "{}: overview {level} band {} differs from GDAL's by {worst}",
                src.display(),
                band + 1
            );
        }
    }
}

/// The GeoTIFFs of the shared data the native writer converts itself.
fn shared_geotiffs(data: &Path) -> Vec<PathBuf> {
    [
        "RGB.byte.tif",
        "dataset_colormap.tif",
        "LC08_LST_crop.tif",
        "elev.tif",
        "non_cog.tif",
    ]
    .iter()
    .map(|n| data.join("geotiff").join(n))
    .collect()
}

#[test]
fn shared_data_and_fixtures_match_gdal() {
    let Some(data) = shared_data() else { return };
    for src in shared_geotiffs(&data)
        .iter()
        .chain(&fixture_files("geotiff", "tif"))
    {
        assert_like_gdal(src, &[], 0.0);
    }
    let non_cog = data.join("geotiff/non_cog.tif");
    for extra in [
        &["--compression", "zstd", "--level", "1"][..],
        &[
            "--compression",
            "deflate",
            "--level",
            "1",
            "--blocksize",
            "256",
        ],
        &["--compression", "lzw"],
        &["--compression", "none"],
        &["--compression", "deflate", "--predictor", "none"],
        &["--nodata", "0"],
    ] {
        assert_like_gdal(&non_cog, extra, 0.0);
    }
}

/// A striped GeoTIFF `width` x `height` of `bands` bands of `T` with a
/// pattern of every value range, nodata in a corner.
fn generated<T: gdal::raster::GdalType + Copy>(
    dir: &Path,
    name: &str,
    (width, height, bands): (usize, usize, usize),
    value: impl Fn(usize, usize, usize) -> T,
    nodata: Option<f64>,
) -> PathBuf {
    let path = dir.join(name);
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = driver
        .create_with_band_type::<T, _>(&path, width, height, bands)
        .unwrap();
    ds.set_geo_transform(&[500000.0, 30.0, 0.0, 4500000.0, 0.0, -30.0])
        .unwrap();
    ds.set_spatial_ref(&gdal::spatial_ref::SpatialRef::from_epsg(32633).unwrap())
        .unwrap();
    ds.set_metadata_item("TIFFTAG_DATETIME", "2024:06:01 10:30:00", "")
        .unwrap();
    for b in 1..=bands {
        let mut band = ds.rasterband(b).unwrap();
        let data: Vec<T> = (0..width * height)
            .map(|i| value(i % width, i / width, b))
            .collect();
        let mut buf = Buffer::new((width, height), data);
        band.write((0, 0), (width, height), &mut buf).unwrap();
        if let Some(nd) = nodata {
            band.set_no_data_value(Some(nd)).unwrap();
        }
        band.set_description(&format!("band {b}")).unwrap();
        band.set_scale(0.5).unwrap();
        band.set_offset(-3.0).unwrap();
    }
    path
}

/// A copy of `src` with its bands stored one after the other
/// (`INTERLEAVE=BAND`, uncompressed strips): the native writer reads such
/// files itself and interleaves the bands as it cuts the tiles.
fn band_interleaved(src: &Path) -> PathBuf {
    let name = src.file_stem().unwrap().to_string_lossy();
    let path = src.with_file_name(format!("{name}-band.tif"));
    let ds = Dataset::open(src).unwrap();
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let options: gdal::raster::RasterCreationOptions = ["INTERLEAVE=BAND"].into_iter().collect();
    ds.create_copy(&driver, &path, &options).unwrap();
    path
}

#[test]
fn every_sample_type_matches_gdal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let shape = (1100, 1300, 2);
    let wave = |x: usize, y: usize, b: usize| ((x * 7 + y * 13 + b * 101) % 1000) as f64;
    let corner = |x: usize, y: usize| x < 100 && y < 80;
    let sources = [
        generated::<u8>(
            d,
            "u8.tif",
            (1030, 700, 4),
            |x, y, b| (wave(x, y, b) as u32 % 256) as u8,
            None,
        ),
        generated::<i16>(
            d,
            "i16.tif",
            shape,
            |x, y, b| {
                if corner(x, y) {
                    -9999
                } else {
                    wave(x, y, b) as i16 - 500
                }
            },
            Some(-9999.0),
        ),
        generated::<u32>(
            d,
            "u32.tif",
            shape,
            |x, y, b| (wave(x, y, b) as u32) * 400_000,
            None,
        ),
        generated::<i32>(
            d,
            "i32.tif",
            (600, 2100, 1),
            |x, y, b| wave(x, y, b) as i32 - 100_000,
            None,
        ),
        generated::<f32>(
            d,
            "f32.tif",
            shape,
            |x, y, b| {
                if corner(x, y) {
                    f32::NAN
                } else {
                    (wave(x, y, b) * 0.37) as f32
                }
            },
            Some(f64::NAN),
        ),
        generated::<f64>(
            d,
            "f64.tif",
            (1500, 900, 1),
            |x, y, b| wave(x, y, b) / 3.0 - 1e6,
            Some(-1e30),
        ),
    ];
    for src in &sources[..5] {
        assert_like_gdal(src, &[], 0.0);
    }
    // GDAL 3.6 computes Float64 overviews through float32 (its resampling
    // works in 32 bits): its values are the source's rounded to float32,
    // the native writer's are the source's (-1e6 + x: float32 steps 0.0625).
    assert_like_gdal(&sources[5], &[], 0.0625);
    // Average overviews: nodata left out, within one unit of GDAL's.
    for src in &sources[1..3] {
        assert_like_gdal(src, &["--overview-resampling", "average"], 1.0);
    }
    // Band-interleaved sources: bytes of 4 bands, nodata, the
    // floating-point predictor, and more bands than the fused
    // interleave-and-predict pass takes.
    let five = generated::<u16>(
        d,
        "u16-5.tif",
        (777, 1029, 5),
        |x, y, b| ((x * 3 + y * 11 + b * 900) % 60000) as u16,
        None,
    );
    for (i, src) in [&sources[0], &sources[1], &sources[4], &five]
        .into_iter()
        .enumerate()
    {
        let band = band_interleaved(src);
        assert_like_gdal(&band, &[], 0.0);
        // (The bytes' fourth band is alpha, and the five bands' levels are
        // odd-sized: GDAL averages those.)
        if i == 1 || i == 2 {
            assert_like_gdal(&band, &["--overview-resampling", "average"], 1.0);
        }
    }
}

/// A compression thread that dies (`STACFORGE_PANIC_AT`, debug builds)
/// fails the conversion, names the destination and leaves nothing behind:
/// before, its tiles were left empty in a COG that looked complete.
#[test]
fn a_compression_thread_that_dies_fails_the_write() {
    if cfg!(not(debug_assertions)) {
        eprintln!("skipped: STACFORGE_PANIC_AT exists in debug builds only");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = generated::<u16>(
        dir.path(),
        "src.tif",
        (1100, 1100, 1),
        |x, y, _| (x * 3 + y) as u16,
        None,
    );
    let dst = dir.path().join("out").join("cog.tif");
    std::fs::create_dir(dst.parent().unwrap()).unwrap();
    let run = std::process::Command::new(bin())
        .args(["cogify".as_ref(), src.as_os_str(), dst.as_os_str()])
        .args(["--engine", "native"])
        .env("STACFORGE_PANIC_AT", "compress:4")
        .output()
        .unwrap();
    assert!(!run.status.success(), "{}", text(&run));
    assert!(
        text(&run).contains("a compression thread failed") && text(&run).contains("cog.tif"),
        "{}",
        text(&run)
    );
    let left: Vec<_> = std::fs::read_dir(dst.parent().unwrap()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    // The same conversion with no panic succeeds: the failure was the thread's.
    cogify_ok(&src, &dst, &["--engine", "native"]);
}

#[test]
fn unsupported_requests_fall_back_to_gdal_saying_why() {
    let Some(data) = shared_data() else { return };
    let out = tempfile::tempdir().unwrap();
    // A source with overviews of its own: GDAL's driver copies them.
    let cog = data.join("geotiff/cog.tif");
    let said = cogify_ok(&cog, &out.path().join("a.tif"), &[]);
    let notes: Vec<&str> = said.lines().filter(|l| l.starts_with("note:")).collect();
    assert_eq!(notes.len(), 1, "{said}");
    assert!(
        notes[0].contains("overviews of its own") && notes[0].contains("cog.tif"),
        "{said}"
    );
    // A codec the native writer does not have.
    let said = cogify_ok(
        &data.join("geotiff/RGB.byte.tif"),
        &out.path().join("b.tif"),
        &["--compression", "jpeg"],
    );
    assert!(
        said.contains("note:") && said.contains("jpeg compression"),
        "{said}"
    );
    // Average overviews of a level that is not exactly halved: GDAL
    // weights windows of 2 to 3 pixels there (the writer's 2 x 2 means
    // differed from GDAL's by up to 14 on a 777 x 1029 image).
    let said = cogify_ok(
        &data.join("geotiff/RGB.byte.tif"),
        &out.path().join("odd.tif"),
        &["--overview-resampling", "average"],
    );
    assert!(
        said.contains("note:") && said.contains("odd-sized level (791 x 718, then 395 x 359)"),
        "{said}"
    );
    // Forced, it refuses.
    let run = cogify(&cog, &out.path().join("c.tif"), &["--engine", "native"]);
    assert!(!run.status.success(), "{}", text(&run));
    assert!(
        text(&run).contains("overviews of its own"),
        "{}",
        text(&run)
    );
    assert!(!out.path().join("c.tif").exists());
}

#[test]
fn engine_gdal_is_gdal_translate() {
    let Some(data) = shared_data() else { return };
    let out = tempfile::tempdir().unwrap();
    let src = data.join("geotiff/RGB.byte.tif");
    let ours = out.path().join("ours.tif");
    cogify_ok(&src, &ours, &["--engine", "gdal"]);
    let theirs = out.path().join("theirs.tif");
    let run = std::process::Command::new("gdal_translate")
        .args([
            "-q",
            "-of",
            "COG",
            "--config",
            "OSR_USE_NON_DEPRECATED",
            "NO",
        ])
        .args([
            "-co",
            "COMPRESS=DEFLATE",
            "-co",
            "BLOCKSIZE=512",
            "-co",
            "OVERVIEW_RESAMPLING=NEAREST",
        ])
        .args([
            "-co",
            "BIGTIFF=IF_SAFER",
            "-co",
            "NUM_THREADS=ALL_CPUS",
            "-co",
            "PREDICTOR=YES",
        ])
        .arg(&src)
        .arg(&theirs)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run));
    assert!(std::fs::read(&ours).unwrap() == std::fs::read(&theirs).unwrap());
}

/// The GDAL-free header reader gives GDAL's profile (but WKT2/PROJJSON,
/// which items carry only for CRSs without a code) for every GeoTIFF it
/// covers, and leaves the rest to GDAL.
#[test]
fn header_profiles_equal_gdal() {
    let Some(data) = shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let generated_i16 = generated::<i16>(
        dir.path(),
        "i16.tif",
        (300, 200, 3),
        |x, y, b| (x + y + b) as i16,
        Some(-1.0),
    );
    let generated_f64 = generated::<f64>(
        dir.path(),
        "f64.tif",
        (300, 200, 1),
        |x, _, _| x as f64,
        None,
    );
    let covered = [
        "RGB.byte.tif",
        "non_cog.tif",
        "cog.tif",
        "LC08_LST_crop.tif",
        "elev.tif",
        "dem_utm33.tif",
        "pacific_3832.tif",
        "rgb_wgs84.tif",
        "seaice_3413.tif",
        "i16.tif",
        "f64.tif",
    ];
    let mut sources = tifs(&data.join("geotiff"));
    sources.extend(fixture_files("geotiff", "tif"));
    sources.extend([generated_i16, generated_f64]);
    let options = stacforge_raster::InspectOptions {
        statistics: false,
        footprint: false,
    };
    for src in &sources {
        let report = stacforge_raster::layout::check(src).unwrap();
        let name = src.file_name().unwrap().to_str().unwrap();
        let Some(ours) = stacforge_raster::header::profile(&report) else {
            assert!(
                !covered.contains(&name),
                "{name}: the header reader should cover it"
            );
            continue;
        };
        assert!(
            covered.contains(&name),
            "{name}: covered, but expected GDAL's"
        );
        let gdal = stacforge_raster::inspect(src, &options).unwrap();
        assert_eq!(ours.crs.code, gdal.crs.code, "{name}");
        assert_eq!(
            (ours.width, ours.height),
            (gdal.width, gdal.height),
            "{name}"
        );
        assert_eq!(ours.geotransform, gdal.geotransform, "{name}");
        assert_eq!(
            serde_json::to_value(&ours.bands).unwrap(),
            serde_json::to_value(&gdal.bands).unwrap(),
            "{name}"
        );
        assert_eq!(ours.timing, gdal.timing, "{name}");
    }
}

/// The statistics and histograms the native writer counts while it writes
/// equal GDAL's, computed by reading the COG again.
#[test]
fn counted_statistics_equal_gdal() {
    let Some(data) = shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let signed = generated::<i16>(
        dir.path(),
        "i16.tif",
        (700, 600, 2),
        |x, y, b| {
            if x < 50 {
                -9999
            } else {
                ((x * y + b) % 3000) as i16 - 1500
            }
        },
        Some(-9999.0),
    );
    // 16-bit samples are counted by band count (1 to 4, then any).
    let multi = [3, 5].map(|bands| {
        generated::<u16>(
            dir.path(),
            &format!("u16-{bands}.tif"),
            (530, 517, bands),
            |x, y, b| ((x / 3 + y * 7 + b * 1000) % 40000) as u16,
            None,
        )
    });
    let [three, five] = multi;
    let (three_planar, five_planar) = (band_interleaved(&three), band_interleaved(&five));
    let sources = [
        data.join("geotiff/non_cog.tif"),
        data.join("geotiff/RGB.byte.tif"),
        fixtures().join("geotiff/dem_utm33.tif"),
        signed,
        three,
        five,
        three_planar,
        five_planar,
    ];
    let options = stacforge_raster::InspectOptions::default();
    for src in &sources {
        let cog = dir.path().join("counted.tif");
        let (_, counts) = stacforge_raster::cog::write_cog_counted(
            src,
            &cog,
            &stacforge_raster::CogOptions::default(),
            true,
        )
        .unwrap();
        let counts = counts.unwrap_or_else(|| panic!("{}: counted", src.display()));
        let ours = stacforge_raster::inspect_counted(&cog, &options, Some(&counts)).unwrap();
        let gdal = stacforge_raster::inspect(&cog, &options).unwrap();
        for (a, b) in ours.bands.iter().zip(&gdal.bands) {
            let (s, t) = (
                a.statistics.as_ref().unwrap(),
                b.statistics.as_ref().unwrap(),
            );
            assert_eq!(
                (s.minimum, s.maximum),
                (t.minimum, t.maximum),
                "{}",
                src.display()
            );
            for (x, y) in [(s.mean, t.mean), (s.stddev, t.stddev)] {
                assert!(
                    (x - y).abs() <= 1e-9 * y.abs().max(1.0),
                    "{}: {x} vs {y}",
                    src.display()
                );
            }
            assert_eq!(s.valid_percent, t.valid_percent, "{}", src.display());
            assert_eq!(a.histogram, b.histogram, "{}", src.display());
        }
        std::fs::remove_file(&cog).unwrap();
    }
}
