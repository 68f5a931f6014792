//! Publishing to a real S3-compatible server (s3s-fs, with request signing)
//! on loopback, and reading back through the S3 API and GDAL's /vsis3/.

mod common;

use common::*;
use object_store::{aws::AmazonS3Builder, path::Path as ObjectPath, ObjectStore, ObjectStoreExt};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The catalog's files, without the run's bookkeeping (ledger, report),
/// which is not published.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if name == ".stacforge" || name == "run-report.json" {
            continue;
        }
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn s3(server: &S3Server) -> (tokio::runtime::Runtime, impl ObjectStore) {
    let store = AmazonS3Builder::new()
        .with_bucket_name("bucket")
        .with_endpoint(server.endpoint())
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .with_access_key_id(S3_ACCESS_KEY)
        .with_secret_access_key(S3_SECRET_KEY)
        .with_region("us-east-1")
        .build()
        .unwrap();
    (
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        store,
    )
}

fn publish(server: &S3Server, catalog: &Path, secret: &str) -> std::process::Output {
    server
        .stacforge(secret)
        .args(["publish", "--json", "--to", "s3://bucket/catalog"])
        .arg(catalog)
        .output()
        .unwrap()
}

fn report(run: &std::process::Output) -> Value {
    let all: Value =
        serde_json::from_slice(&run.stdout).unwrap_or_else(|_| panic!("{}", text(run)));
    all["files"].clone()
}

#[test]
fn publish_to_s3_reads_back_identical_and_reruns_unchanged() {
    let Some(server) = S3Server::start() else {
        return;
    };
    let local = tempfile::tempdir().unwrap();
    geotiff_catalog(local.path());
    let run = publish(&server, local.path(), S3_SECRET_KEY);
    assert!(run.status.success(), "{}", text(&run));
    let first = report(&run);
    let local_files = files(local.path());
    assert_eq!(
        first["created"].as_array().unwrap().len(),
        local_files.len(),
        "{first:#}"
    );

    // Every file reads back through the S3 API: assets byte-identical,
    // documents equal as JSON.
    let (rt, store) = s3(&server);
    for file in &local_files {
        let rel = file.strip_prefix(local.path()).unwrap().to_str().unwrap();
        let key = ObjectPath::from(format!("catalog/{rel}"));
        let remote = rt.block_on(async { store.get(&key).await.unwrap().bytes().await.unwrap() });
        let mine = std::fs::read(file).unwrap();
        if rel.ends_with(".json") {
            let (a, b): (Value, Value) = (
                serde_json::from_slice(&remote).unwrap(),
                serde_json::from_slice(&mine).unwrap(),
            );
            assert_eq!(a, b, "{rel}");
        } else {
            assert!(remote[..] == mine[..], "{rel} differs after publishing");
        }
    }
    // Links resolve within the bucket.
    let collection: Value =
        serde_json::from_slice(&std::fs::read(local.path().join("collection.json")).unwrap())
            .unwrap();
    for link in collection["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["rel"] == "item")
    {
        let item_key = format!(
            "catalog/{}",
            link["href"].as_str().unwrap().trim_start_matches("./")
        );
        let item: Value = serde_json::from_slice(&rt.block_on(async {
            store
                .get(&ObjectPath::from(item_key.clone()))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        }))
        .unwrap();
        let dir = item_key.rsplit_once('/').unwrap().0;
        for asset in item["assets"].as_object().unwrap().values() {
            let key = format!(
                "{dir}/{}",
                asset["href"].as_str().unwrap().trim_start_matches("./")
            );
            rt.block_on(store.head(&ObjectPath::from(key.clone())))
                .unwrap_or_else(|e| panic!("{key}: {e}"));
        }
        assert_eq!(item["links"][0]["href"], "../../collection.json");
    }

    // GDAL reads a published COG through /vsis3/ from the same endpoint.
    for (key, value) in [
        ("AWS_S3_ENDPOINT", format!("127.0.0.1:{}", server.port)),
        ("AWS_HTTPS", "NO".into()),
        ("AWS_VIRTUAL_HOSTING", "FALSE".into()),
        ("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY.into()),
        ("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY.into()),
        ("AWS_REGION", "us-east-1".into()),
    ] {
        gdal::config::set_config_option(key, &value).unwrap();
    }
    let remote = PathBuf::from("/vsis3/bucket/catalog/items/dem_utm33/dem_utm33.tif");
    assert_same_pixels(&local.path().join("items/dem_utm33/dem_utm33.tif"), &remote);

    // Publishing again sends nothing.
    let run = publish(&server, local.path(), S3_SECRET_KEY);
    assert!(run.status.success(), "{}", text(&run));
    let again = report(&run);
    assert_eq!(again["created"], serde_json::json!([]));
    assert_eq!(again["updated"], serde_json::json!([]));
    assert_eq!(
        again["unchanged"].as_array().unwrap().len(),
        local_files.len()
    );
    assert!(
        String::from_utf8_lossy(&run.stderr).contains(&format!("{} unchanged", local_files.len()))
    );
}

#[test]
fn wrong_credentials_are_rejected_without_leaking_the_secret() {
    let Some(server) = S3Server::start() else {
        return;
    };
    let local = tempfile::tempdir().unwrap();
    let run = create_items(
        &[fixtures().join("geotiff/dem_utm33.tif")],
        local.path(),
        &[],
    );
    assert!(run.status.success());
    let wrong = "not-the-secret-9f8e7d";
    let run = publish(&server, local.path(), wrong);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    let all = text(&run);
    assert!(
        all.contains("403") && all.contains("SignatureDoesNotMatch"),
        "{all}"
    );
    assert!(
        !all.contains(wrong) && !all.contains(S3_SECRET_KEY),
        "no secret in messages: {all}"
    );
    assert!(
        files(server.root.path())
            .iter()
            .all(|f| !f.to_string_lossy().contains("catalog")),
        "nothing written"
    );
}

#[test]
fn an_interrupted_publish_is_finished_by_running_it_again() {
    let Some(mut server) = S3Server::start() else {
        return;
    };
    let local = tempfile::tempdir().unwrap();
    geotiff_catalog(local.path());

    // The server is down: a clear error, quickly (retries are bounded).
    server.stop();
    let started = std::time::Instant::now();
    let run = publish(&server, local.path(), S3_SECRET_KEY);
    assert_ne!(run.status.code(), Some(0), "{}", text(&run));
    assert!(
        text(&run).contains("127.0.0.1"),
        "names the endpoint: {}",
        text(&run)
    );
    eprintln!(
        "failed after {:.1} s with the server down",
        started.elapsed().as_secs_f64()
    );
    server.restart();

    // One object cannot be written (a folder stands where its file goes):
    // the others are published, the failure is reported, and the collection
    // (the entry point) is not written.
    let blocked = server
        .root
        .path()
        .join("bucket/catalog/items/rgb_wgs84/rgb_wgs84.tif");
    std::fs::create_dir_all(blocked.join("obstacle")).unwrap();
    let run = publish(&server, local.path(), S3_SECRET_KEY);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let partial = report(&run);
    let failed = partial["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{partial:#}");
    assert_eq!(failed[0][0], "items/rgb_wgs84/rgb_wgs84.tif");
    assert!(String::from_utf8_lossy(&run.stderr).contains("FAILED items/rgb_wgs84/rgb_wgs84.tif"));
    assert!(!server
        .root
        .path()
        .join("bucket/catalog/collection.json")
        .exists());
    assert!(
        !server
            .root
            .path()
            .join("bucket/catalog/items/rgb_wgs84/rgb_wgs84.json")
            .exists(),
        "no item before its assets"
    );

    // Cleared, the re-run completes; the result equals an uninterrupted run.
    std::fs::remove_dir_all(&blocked).unwrap();
    let run = publish(&server, local.path(), S3_SECRET_KEY);
    assert!(run.status.success(), "{}", text(&run));
    let reference = S3Server::start().unwrap();
    let run = publish(&reference, local.path(), S3_SECRET_KEY);
    assert!(run.status.success(), "{}", text(&run));
    let tree = |root: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        files(&root.join("bucket/catalog"))
            .into_iter()
            .map(|f| {
                (
                    f.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&f).unwrap(),
                )
            })
            .collect()
    };
    let (a, b) = (tree(server.root.path()), tree(reference.root.path()));
    assert_eq!(a.len(), b.len());
    for ((pa, da), (pb, db)) in a.iter().zip(&b) {
        assert_eq!(pa, pb);
        if pa.to_string_lossy().ends_with("published.json") {
            continue; // the manifest lists the same objects, maybe in another history
        }
        assert!(
            da == db,
            "{} differs from an uninterrupted publish",
            pa.display()
        );
    }
}

#[test]
fn items_and_assets_that_escape_the_catalog_are_refused() {
    let Some(server) = S3Server::start() else {
        return;
    };
    let local = tempfile::tempdir().unwrap();
    let run = create_items(
        &[fixtures().join("geotiff/dem_utm33.tif")],
        local.path(),
        &[],
    );
    assert!(run.status.success());
    let item_path = local.path().join("items/dem_utm33/dem_utm33.json");
    let mut item: Value = serde_json::from_slice(&std::fs::read(&item_path).unwrap()).unwrap();
    item["assets"]["data"]["href"] = "../../../secrets.tif".into();
    std::fs::write(&item_path, serde_json::to_vec(&item).unwrap()).unwrap();
    let run = publish(&server, local.path(), S3_SECRET_KEY);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert!(
        text(&run).contains("would escape the catalog root"),
        "{}",
        text(&run)
    );
    assert!(
        files(server.root.path())
            .iter()
            .all(|f| !f.to_string_lossy().contains("catalog")),
        "nothing written"
    );
}

#[test]
fn create_item_and_cogify_write_straight_to_s3() {
    let Some(server) = S3Server::start() else {
        return;
    };
    let run = server
        .stacforge(S3_SECRET_KEY)
        .args(["geotiff", "create-item", "--out", "s3://bucket/direct"])
        .arg(fixtures().join("geotiff/seaice_3413.tif"))
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run));
    let bucket = server.root.path().join("bucket/direct");
    assert_same_pixels(
        &fixtures().join("geotiff/seaice_3413.tif"),
        &bucket.join("items/seaice_3413/seaice_3413.tif"),
    );
    let collection = json(&bucket.join("collection.json"));
    assert_eq!(
        collection["links"][1]["href"],
        "./items/seaice_3413/seaice_3413.json"
    );

    let run = server
        .stacforge(S3_SECRET_KEY)
        .arg("cogify")
        .arg(fixtures().join("geotiff/landcover_laea.tif"))
        .arg("s3://bucket/cogs/landcover.tif")
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run));
    let cog = server.root.path().join("bucket/cogs/landcover.tif");
    assert!(stacforge_raster::layout::check(&cog).unwrap().is_valid());
    assert_same_pixels(&fixtures().join("geotiff/landcover_laea.tif"), &cog);
}
