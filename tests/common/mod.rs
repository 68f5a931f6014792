//! Helpers shared by the integration tests.
#![allow(dead_code)]

use gdal::Dataset;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// True under CI, where every external input must be present.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A folder from the environment or beside the checkout; `None` (with a
/// message) when it is absent, as in a user's clone. Under CI its absence
/// is a failure.
fn external(env: &str, default: PathBuf, probe: &str, what: &str) -> Option<PathBuf> {
    let dir = std::env::var_os(env).map(PathBuf::from).unwrap_or(default);
    if dir.join(probe).exists() {
        return Some(dir);
    }
    let message = format!("{what} not found at {} (set {env})", dir.display());
    assert!(!in_ci(), "CI must have it: {message}");
    eprintln!("skipping: {message}");
    None
}

/// `../shared/data`, the real third-party sample files (or `STACFORGE_TEST_DATA`).
pub fn shared_data() -> Option<PathBuf> {
    external(
        "STACFORGE_TEST_DATA",
        root().join("../shared/data"),
        "geotiff",
        "the shared sample data",
    )
}

/// The official STAC schemas laid out by URL (or `STACFORGE_SCHEMAS`).
pub fn schemas() -> Option<PathBuf> {
    external(
        "STACFORGE_SCHEMAS",
        root().join("../shared/stac-schemas"),
        "schemas.stacspec.org",
        "the STAC schema folder",
    )
}

/// The project's own generated fixtures.
pub fn fixtures() -> PathBuf {
    root().join("fixtures")
}

/// Runs the stacforge binary.
pub fn stacforge<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_stacforge"))
        .args(args)
        .output()
        .expect("stacforge runs")
}

/// Runs `stacforge geotiff create-item SOURCES --out OUT EXTRA...`.
pub fn create_items<P: AsRef<Path>>(sources: &[P], out: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&std::ffi::OsStr> = vec!["geotiff".as_ref(), "create-item".as_ref()];
    args.extend(sources.iter().map(|s| s.as_ref().as_os_str()));
    args.extend(["--out".as_ref(), out.as_os_str()]);
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    stacforge(args)
}

/// stdout and stderr as text, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every band's pixels as f64, with the raster size.
pub fn pixels(path: &Path) -> ((usize, usize), Vec<Vec<f64>>) {
    stacforge_raster::init(); // no .aux.xml side files from the test process
    let ds = Dataset::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let size = ds.raster_size();
    let bands = (1..=ds.raster_count())
        .map(|i| {
            ds.rasterband(i)
                .unwrap()
                .read_as::<f64>((0, 0), size, size, None)
                .unwrap()
                .data()
                .to_vec()
        })
        .collect();
    (size, bands)
}

/// Asserts that two rasters hold the same pixels (NaN equals NaN).
pub fn assert_same_pixels(a: &Path, b: &Path) {
    let (size_a, bands_a) = pixels(a);
    let (size_b, bands_b) = pixels(b);
    assert_eq!(size_a, size_b, "{} vs {}: size", a.display(), b.display());
    assert_eq!(
        bands_a.len(),
        bands_b.len(),
        "{} vs {}: band count",
        a.display(),
        b.display()
    );
    for (i, (x, y)) in bands_a.iter().zip(&bands_b).enumerate() {
        let differ = x
            .iter()
            .zip(y)
            .filter(|(p, q)| !(p == q || (p.is_nan() && q.is_nan())))
            .count();
        assert_eq!(
            differ,
            0,
            "{} vs {}: band {} differs in {differ} pixels",
            a.display(),
            b.display(),
            i + 1
        );
    }
}

/// Problems of a STAC document against the official schemas.
pub fn schema_problems(schemas: &Path, path: &Path) -> Vec<String> {
    let validator = stacforge_catalog::validate::Validator::new(schemas).unwrap();
    let doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    validator
        .validate(&doc)
        .unwrap()
        .iter()
        .map(|p| p.to_string())
        .collect()
}

/// Reads a JSON file.
pub fn json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}
