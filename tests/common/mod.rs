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

/// The files of `fixtures/<dir>` ending in `.<ext>` (any case), sorted.
pub fn fixture_files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(fixtures().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext)))
        .collect();
    all.sort();
    all
}

/// The stacforge binary under test: this build's, or `STACFORGE_TEST_BIN`
/// (to run a suite against another build, e.g. to see a test fail on the
/// code before a fix).
pub fn bin() -> PathBuf {
    std::env::var_os("STACFORGE_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_stacforge")))
}

/// Runs the stacforge binary.
pub fn stacforge<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(bin())
        .args(args)
        .output()
        .expect("stacforge runs")
}

/// Runs `stacforge geotiff create-item SOURCES --out OUT EXTRA...`.
pub fn create_items<P: AsRef<Path>>(sources: &[P], out: &Path, extra: &[&str]) -> Output {
    package_create_items("geotiff", sources, out, extra)
}

/// Runs `stacforge PACKAGE create-item SOURCES --out OUT EXTRA...`.
pub fn package_create_items<P: AsRef<Path>>(
    package: &str,
    sources: &[P],
    out: &Path,
    extra: &[&str],
) -> Output {
    let mut args: Vec<&std::ffi::OsStr> = vec![package.as_ref(), "create-item".as_ref()];
    args.extend(sources.iter().map(|s| s.as_ref().as_os_str()));
    args.extend(["--out".as_ref(), out.as_os_str()]);
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    stacforge(args)
}

/// The `.tif` files of `dir`, sorted.
pub fn tifs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tif"))
        .collect();
    out.sort();
    out
}

/// A local catalog of every fixture (dated by its own metadata) and, when
/// the shared data is present, every valid GeoTIFF of ../shared/data/geotiff
/// (dated 2020-01-01). Returns the items.
pub fn geotiff_catalog(out: &Path) -> Vec<Value> {
    let valid = |dir: &Path| -> Vec<PathBuf> {
        tifs(dir)
            .into_iter()
            .filter(|p| !p.ends_with("rotated.tif"))
            .collect()
    };
    let mut sources = valid(&fixtures().join("geotiff"));
    let run = create_items(&sources, out, &[]);
    assert!(run.status.success(), "{}", text(&run));
    if let Some(data) = shared_data() {
        let shared = valid(&data.join("geotiff"));
        let run = create_items(&shared, out, &["--datetime", "2020-01-01T00:00:00Z"]);
        assert!(run.status.success(), "{}", text(&run));
        sources.extend(shared);
    }
    sources
        .iter()
        .map(|s| {
            let id = s.file_stem().unwrap().to_str().unwrap();
            json(&out.join(format!("items/{id}/{id}.json")))
        })
        .collect()
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

/// Extension schemas the official schema folder lacks, which the tests
/// of the packages using them check otherwise (tests/cmip6.rs: the CMIP6
/// fields against the files' global attributes).
pub const UNCHECKED_OFFLINE: &[&str] = &[stacforge_cmip6::EXTENSION];

/// Problems of a STAC document against the official schemas (a declared
/// extension with no local schema is one, unless in [`UNCHECKED_OFFLINE`]).
pub fn schema_problems(schemas: &Path, path: &Path) -> Vec<String> {
    let validator = stacforge_catalog::validate::Validator::new(schemas).unwrap();
    let doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let (problems, missing) = validator.validate_available(&doc).unwrap();
    let mut found: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    found.extend(
        (missing.iter())
            .filter(|url| !UNCHECKED_OFFLINE.contains(&url.as_str()))
            .map(|url| format!("no local copy of the schema {url}")),
    );
    found
}

/// Asserts a STAC document is valid against the official schemas, when
/// they are present (tests skip the check, saying so, when they are not).
pub fn assert_schema_valid(path: &Path) {
    if let Some(schemas) = schemas() {
        let problems = schema_problems(&schemas, path);
        assert!(problems.is_empty(), "{}: {problems:#?}", path.display());
    }
}

/// Reads a JSON file.
pub fn json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// Credentials of the test S3 server.
pub const S3_ACCESS_KEY: &str = "stacforge-test";
/// Secret of the test S3 server.
pub const S3_SECRET_KEY: &str = "stacforge-test-secret-0123456789";

/// An s3s-fs server on a free loopback port, serving a temporary folder;
/// stopped when dropped.
pub struct S3Server {
    child: std::process::Child,
    /// The folder served (a bucket is a folder in it).
    pub root: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl S3Server {
    /// Starts the server with one bucket, `bucket`; `None` (with a message)
    /// when s3s-fs is not installed, except under CI.
    pub fn start() -> Option<S3Server> {
        let bin = std::env::var_os("STACFORGE_S3S_FS")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join(".tools/bin/s3s-fs"));
        if !bin.exists() {
            assert!(
                !in_ci(),
                "CI must run scripts/install-test-servers.sh first ({} is missing)",
                bin.display()
            );
            eprintln!(
                "skipping: no s3s-fs at {} (run scripts/install-test-servers.sh)",
                bin.display()
            );
            return None;
        }
        let root_dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(root_dir.path().join("bucket")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
            .arg(root_dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("s3s-fs starts");
        let server = S3Server {
            child,
            root: root_dir,
            port,
        };
        server.wait_ready();
        Some(server)
    }

    fn wait_ready(&self) {
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("s3s-fs did not listen on port {} within 5 s", self.port);
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the server (the folder stays).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port and folder.
    pub fn restart(&mut self) {
        self.stop();
        let bin = std::env::var_os("STACFORGE_S3S_FS")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join(".tools/bin/s3s-fs"));
        self.child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
            .arg(self.root.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("s3s-fs starts");
        self.wait_ready();
    }

    /// A `stacforge` command with this server's credentials and endpoint.
    pub fn stacforge(&self, secret: &str) -> Command {
        let mut cmd = Command::new(bin());
        cmd.env("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("STACFORGE_S3_ENDPOINT", self.endpoint());
        cmd
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A STAC API (stac-fastapi-pgstac on PostgreSQL + PostGIS) on free loopback
/// ports, started by `scripts/stac-api.sh`; stopped when dropped.
pub struct StacApi {
    dir: tempfile::TempDir,
    /// The API's port on 127.0.0.1.
    pub port: u16,
    /// The database's port on 127.0.0.1 (user and password `stac`, database `stac`).
    pub pg_port: u16,
}

impl StacApi {
    /// Starts the database and the API; `None` (with a message) when they
    /// are not installed, except under CI.
    pub fn start() -> Option<StacApi> {
        let venv = std::env::var_os("STACFORGE_API_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join(".venv-api"));
        let initdb = Path::new("/usr/lib/postgresql/15/bin/initdb");
        if !venv.join("bin/uvicorn").exists() || !initdb.exists() {
            assert!(!in_ci(), "CI must install the STAC API (scripts/install-test-servers.sh, install-system-deps.sh)");
            eprintln!("skipping: no STAC API installed (run scripts/install-system-deps.sh and scripts/install-test-servers.sh)");
            return None;
        }
        // Two free ports, held together while both are picked: picked one
        // after the other, the kernel may hand out the same port twice.
        let (api_port, pg_port) = {
            let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            (
                a.local_addr().unwrap().port(),
                b.local_addr().unwrap().port(),
            )
        };
        let api = StacApi {
            dir: tempfile::tempdir().unwrap(),
            port: api_port,
            pg_port,
        };
        api.script(&[
            "start",
            &api.dir_str(),
            &api.port.to_string(),
            &api.pg_port.to_string(),
        ]);
        Some(api)
    }

    fn dir_str(&self) -> String {
        self.dir.path().join("api").display().to_string()
    }

    fn script(&self, args: &[&str]) {
        let status = Command::new("bash")
            .arg(root().join("scripts/stac-api.sh"))
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "scripts/stac-api.sh {args:?} failed");
    }

    /// `pypgstac` from the API's venv, connected to its database.
    pub fn pypgstac(&self) -> Command {
        let venv = std::env::var_os("STACFORGE_API_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join(".venv-api"));
        let mut cmd = Command::new(venv.join("bin/pypgstac"));
        cmd.env("PGHOST", "127.0.0.1")
            .env("PGPORT", self.pg_port.to_string())
            .env("PGUSER", "stac")
            .env("PGPASSWORD", "stac")
            .env("PGDATABASE", "stac");
        cmd
    }

    /// The API's URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the API process; the database keeps its data.
    pub fn stop_api(&self) {
        self.script(&["stop-api", &self.dir_str()]);
    }

    /// Starts the API process again on the same database.
    pub fn restart_api(&self) {
        self.script(&[
            "serve",
            &self.dir_str(),
            &self.port.to_string(),
            &self.pg_port.to_string(),
        ]);
    }

    /// A request to the API; returns the JSON body.
    pub fn request(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.url());
        serde_json::from_slice(&http_request(method, &url, body.as_ref())).unwrap()
    }

    /// The ids `/search` returns for `query`, sorted (every page).
    pub fn search_ids(&self, mut query: Value) -> Vec<String> {
        query["limit"] = 1000.into();
        let found = self.request("POST", "/search", Some(query));
        let mut ids: Vec<String> = found["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    }
}

impl StacApi {
    /// Starts titiler-pgstac on this API's database (`scripts/stac-api.sh
    /// tiler`), reading assets from `s3` through GDAL; stopped with the API.
    /// Returns its URL.
    pub fn start_tiler(&self, s3: &S3Server) -> String {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let status = Command::new("bash")
            .arg(root().join("scripts/stac-api.sh"))
            .args(["tiler", &self.dir_str(), &port.to_string()])
            .arg(self.pg_port.to_string())
            .env("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_S3_ENDPOINT", format!("127.0.0.1:{}", s3.port))
            .env("AWS_HTTPS", "NO")
            .env("AWS_VIRTUAL_HOSTING", "FALSE")
            .status()
            .unwrap();
        assert!(status.success(), "scripts/stac-api.sh tiler failed");
        format!("http://127.0.0.1:{port}")
    }
}

/// GETs `url` (or POSTs `body` as JSON); the body's bytes, with the status
/// and body in the panic message when it is not a success.
pub fn http(url: &str, body: Option<&Value>) -> Vec<u8> {
    http_request(if body.is_some() { "POST" } else { "GET" }, url, body)
}

/// A `method` request to `url` with `body` as JSON; the body's bytes, with
/// the status and body in the panic message when it is not a success.
pub fn http_request(method: &str, url: &str, body: Option<&Value>) -> Vec<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut request = client.request(method.parse().unwrap(), url);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let bytes = response.bytes().await.unwrap();
        assert!(
            status.is_success(),
            "{method} {url}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
        bytes.to_vec()
    })
}

impl Drop for StacApi {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(root().join("scripts/stac-api.sh"))
            .args(["stop", &self.dir_str()])
            .status();
    }
}

/// The venv with the pinned Python consumers (`scripts/setup-interop.sh`);
/// `None` (with a message) when absent, except under CI.
pub fn interop_venv() -> Option<PathBuf> {
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

/// rio-cogeo (`validate --strict`) and GDAL's validate_cloud_optimized_geotiff.py
/// accept `cog`, and GDAL counts `header_size` bytes of IFDs, as the item says.
pub fn assert_external_validators_accept(venv: &Path, cog: &Path, header_size: u64) {
    let rio = Command::new(venv.join("bin/rio"))
        .args(["cogeo", "validate", "--strict"])
        .arg(cog)
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
        .arg(cog)
        .output()
        .expect("python3-gdal is installed");
    let said = String::from_utf8_lossy(&gdal.stdout);
    assert!(
        gdal.status.success(),
        "GDAL's validator on {}: {said}",
        cog.display()
    );
    assert!(
        said.contains(&format!(
            "The size of all IFD headers is {header_size} bytes"
        )),
        "{}: file:header_size {header_size}, GDAL says: {said}",
        cog.display()
    );
}

/// The three files of the NetCDF air series in the shared data: split 1
/// (00:00, 06:00), split 2 (12:00, 18:00) and the upstream full file.
pub fn air_series(data: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let d = data.join("netcdf/air-series");
    (
        d.join("test_ds_netcdf4_split_time1.nc"),
        d.join("test_ds_netcdf4_split_time2.nc"),
        d.join("test_ds_netcdf4_full_time.nc"),
    )
}

/// `stacforge netcdf VERB SRC... --out OUT EXTRA...`.
pub fn netcdf(verb: &str, sources: &[&Path], out: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec!["netcdf".into(), verb.into()];
    args.extend(sources.iter().map(|p| p.display().to_string()));
    args.extend(["--out".into(), out.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    stacforge(&args)
}

/// Runs one of the checks in `tests/python/` with the interop venv's
/// Python and asserts it succeeded.
pub fn assert_python_check<S: AsRef<std::ffi::OsStr>>(venv: &Path, script: &str, args: &[S]) {
    let check = Command::new(venv.join("bin/python"))
        .arg(root().join("tests/python").join(script))
        .args(args)
        .output()
        .unwrap();
    assert!(check.status.success(), "{script}: {}", text(&check));
}

/// Runs a fixture generator (`fixtures/<script>`, with the interop venv's
/// Python) into a temporary folder and asserts it writes exactly the
/// committed `fixtures`, byte for byte.
pub fn assert_generator_reproduces(venv: &Path, script: &str, committed: &[PathBuf]) {
    let dir = tempfile::tempdir().unwrap();
    let run = Command::new(venv.join("bin/python"))
        .arg(fixtures().join(script))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(run.status.success(), "{script}: {}", text(&run));
    let mut written: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    written.sort();
    let names: Vec<_> = committed
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    assert_eq!(written, names, "{script}");
    for path in committed {
        let fresh = dir.path().join(path.file_name().unwrap());
        assert!(
            std::fs::read(path).unwrap() == std::fs::read(&fresh).unwrap(),
            "{} differs from what fixtures/{script} writes now; regenerate and commit",
            path.display()
        );
    }
}

/// How many items the collection document at `path` links.
pub fn item_links(path: &Path) -> usize {
    json(path)["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["rel"] == "item")
        .count()
}

/// The JSON events a `--json` run printed, one a line; the last is its summary.
pub fn events(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|_| panic!("not a JSON event: {l}\n{}", text(out)))
        })
        .collect()
}

/// Every file under `dir`, relative, with its bytes (sorted; empty when
/// `dir` does not exist), without the run's bookkeeping (`.stacforge/`,
/// `run-report.json`).
pub fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    if !dir.exists() {
        return files;
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            // The run's bookkeeping (ledger, reports) is not output.
            let name = p.file_name().unwrap().to_string_lossy();
            if name == ".stacforge" || name == "run-report.json" {
                continue;
            }
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

/// The names under `dir` (recursively, relative), sorted.
pub fn names(dir: &Path) -> Vec<String> {
    tree(dir)
        .into_iter()
        .map(|(p, _)| p.display().to_string())
        .collect()
}

/// Writes the `kind` variant of the NetCDF file `src` to `dst` with
/// `tests/python/make_bad_netcdf.py` (netCDF4-python in the interop venv).
pub fn make_bad_netcdf(venv: &Path, kind: &str, src: &Path, dst: &Path) {
    let run = Command::new(venv.join("bin/python"))
        .arg(root().join("tests/python/make_bad_netcdf.py"))
        .args([kind.as_ref(), src.as_os_str(), dst.as_os_str()])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "make_bad_netcdf {kind}: {}",
        text(&run)
    );
}

/// The first `fraction` of `src`'s bytes written to `dst`.
pub fn truncate_copy(src: &Path, dst: &Path, fraction: f64) {
    let bytes = std::fs::read(src).unwrap();
    let n = (bytes.len() as f64 * fraction) as usize;
    std::fs::write(dst, &bytes[..n]).unwrap();
}

/// Asserts that a run exited with `code` and that its output says each
/// of `words`.
pub fn assert_fails_saying(run: &Output, code: i32, words: &[&str]) {
    let said = text(run);
    assert_eq!(run.status.code(), Some(code), "{said}");
    for w in words {
        assert!(said.contains(w), "expected {w:?} in: {said}");
    }
}

/// A single-node Slurm cluster started by `scripts/slurm.sh` in a scratch
/// folder; stopped when dropped. `None` (with a message) where Slurm is
/// not installed or cannot start (not root), except under CI.
pub struct Slurm {
    dir: PathBuf,
    conf: PathBuf,
}

impl Slurm {
    pub fn start(dir: &Path) -> Option<Slurm> {
        let root_user = unsafe_free_is_root();
        let installed = ["sbatch", "slurmctld", "slurmd", "munged"]
            .iter()
            .all(|tool| {
                Command::new("sh")
                    .args(["-c", &format!("command -v {tool}")])
                    .output()
                    .is_ok_and(|o| o.status.success())
            });
        if !installed || !root_user {
            assert!(
                !in_ci(),
                "CI must run the Slurm test: install slurm-wlm and munge (scripts/install-system-deps.sh) and run as root"
            );
            eprintln!("skipping: Slurm needs slurm-wlm and munge installed and root (scripts/install-system-deps.sh)");
            return None;
        }
        let started = Command::new("bash")
            .arg(root().join("scripts/slurm.sh"))
            .arg("start")
            .arg(dir)
            .output()
            .unwrap();
        if !started.status.success() {
            assert!(!in_ci(), "Slurm did not start: {}", text(&started));
            eprintln!("skipping: Slurm did not start: {}", text(&started));
            return None;
        }
        Some(Slurm {
            dir: dir.to_path_buf(),
            conf: dir.join("slurm.conf"),
        })
    }

    /// A Slurm client command (`sbatch`, `squeue`, …) for this cluster.
    pub fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(tool);
        cmd.env("SLURM_CONF", &self.conf);
        cmd
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(root().join("scripts/slurm.sh"))
            .arg("stop")
            .arg(&self.dir)
            .output();
    }
}

fn unsafe_free_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Azurite's well-known development account and key.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Azurite (the Azure Blob Storage emulator) on a free loopback port,
/// keeping its data in a temporary folder, with one container, `bucket`;
/// stopped when dropped. `None` (with a message) when it is not installed,
/// except under CI.
pub struct AzureServer {
    child: std::process::Child,
    _data: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl AzureServer {
    pub fn start() -> Option<AzureServer> {
        let tools = root().join(".tools");
        let bin = tools.join("azurite/node_modules/.bin/azurite-blob");
        let sdk = tools.join("azure/bin/python");
        if !bin.exists() || !sdk.exists() {
            assert!(
                !in_ci(),
                "CI must run scripts/install-test-servers.sh first ({} is missing)",
                bin.display()
            );
            eprintln!("skipping: no Azurite in .tools (run scripts/install-test-servers.sh)");
            return None;
        }
        let data = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = AzureServer {
            child: AzureServer::spawn(port, data.path()),
            _data: data,
            port,
        };
        server.wait_ready();
        server.create_container();
        Some(server)
    }

    /// Creates the container `bucket`, unless it is there (a restarted
    /// server may have kept it).
    fn create_container(&self) {
        let create = Command::new(root().join(".tools/azure/bin/python"))
            .arg("-c")
            .arg(format!(
                "from azure.core.exceptions import ResourceExistsError\n\
                 from azure.storage.blob import BlobServiceClient\n\
                 c = BlobServiceClient.from_connection_string('DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};BlobEndpoint={};')\n\
                 try:\n    c.create_container('bucket')\n\
                 except ResourceExistsError:\n    pass",
                self.endpoint()
            ))
            .output()
            .unwrap();
        assert!(
            create.status.success(),
            "creating the container: {}",
            text(&create)
        );
    }

    /// The account's URL (Azurite is path-style: the account in the path).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{AZURITE_ACCOUNT}", self.port)
    }

    /// A `stacforge` command with this server's endpoint and key.
    pub fn stacforge(&self) -> Command {
        let mut cmd = Command::new(bin());
        cmd.env("AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY)
            .env("STACFORGE_AZURE_ENDPOINT", self.endpoint());
        cmd
    }
}

impl AzureServer {
    fn spawn(port: u16, data: &Path) -> std::process::Child {
        Command::new(root().join(".tools/azurite/node_modules/.bin/azurite-blob"))
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(data)
            .args(["--silent", "--skipApiVersionCheck"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("azurite starts")
    }

    fn wait_ready(&self) {
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("azurite did not listen on port {} within 10 s", self.port);
    }
}

/// A test server that can be stopped and started again on its port, with
/// what it stored kept.
pub trait Restartable {
    /// Stops the server (gracefully, so it keeps what it stored).
    fn stop(&mut self);
    /// Starts it again.
    fn restart(&mut self);
}

impl Restartable for S3Server {
    fn stop(&mut self) {
        S3Server::stop(self)
    }
    fn restart(&mut self) {
        S3Server::restart(self)
    }
}

impl Restartable for AzureServer {
    fn stop(&mut self) {
        // Once only: a reaped child's PID may belong to another process.
        if self.child.try_wait().is_ok_and(|done| done.is_some()) {
            return;
        }
        // SIGTERM: Azurite saves its metadata as it closes, but it waits
        // for open connections to end first: after 5 s, SIGKILL.
        // SAFETY: signals a child process of this test, still running, by its PID.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        for _ in 0..50 {
            if self.child.try_wait().is_ok_and(|done| done.is_some()) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
    fn restart(&mut self) {
        self.stop();
        self.child = AzureServer::spawn(self.port, self._data.path());
        self.wait_ready();
        self.create_container();
    }
}

impl Drop for AzureServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
