//! Publishing to a real STAC API (stac-fastapi-pgstac on PostgreSQL +
//! PostGIS, Transactions extension) on loopback, with the files on a real
//! S3-compatible server, and searching what was published.

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::Path;

fn publish(s3: &S3Server, api: &StacApi, catalog: &Path) -> std::process::Output {
    s3.stacforge(S3_SECRET_KEY)
        .args([
            "publish",
            "--json",
            "--to",
            "s3://bucket/catalog",
            "--to-api",
            &api.url(),
        ])
        .arg(catalog)
        .output()
        .unwrap()
}

fn api_report(run: &std::process::Output) -> Value {
    let all: Value =
        serde_json::from_slice(&run.stdout).unwrap_or_else(|_| panic!("{}", text(run)));
    all["api"].clone()
}

/// Ids of the items whose bbox meets `bbox` and whose time meets [start, end].
fn expected(items: &[Value], bbox: [f64; 4], start: &str, end: &str) -> Vec<String> {
    let mut ids: Vec<String> = items
        .iter()
        .filter(|i| {
            let b: Vec<f64> = i["bbox"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let crosses = b[0] > b[2];
            let lon = if crosses {
                bbox[2] >= b[0] || bbox[0] <= b[2]
            } else {
                bbox[0] <= b[2] && bbox[2] >= b[0]
            };
            let t = i["properties"]["datetime"].as_str().unwrap();
            lon && bbox[1] <= b[3] && bbox[3] >= b[1] && t >= start && t <= end
        })
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn published_items_are_searchable_and_republishing_changes_nothing() {
    let (Some(s3), Some(api)) = (S3Server::start(), StacApi::start()) else {
        return;
    };
    let local = tempfile::tempdir().unwrap();
    let items = geotiff_catalog(local.path());
    let run = publish(&s3, &api, local.path());
    assert!(run.status.success(), "{}", text(&run));
    let report = api_report(&run);
    assert_eq!(
        report["created"].as_array().unwrap().len(),
        items.len() + 1,
        "{report:#}"
    );

    let all: Vec<String> = {
        let mut ids: Vec<String> = items
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(api.search_ids(json!({"collections": ["geotiff"]})), all);
    // By bbox and datetime: exactly the items that meet both.
    for (bbox, start, end) in [
        (
            [10.0, 45.0, 16.0, 48.0],
            "2022-01-01T00:00:00Z",
            "2022-12-31T23:59:59Z",
        ),
        (
            [-180.0, -90.0, 180.0, 90.0],
            "2021-01-01T00:00:00Z",
            "2021-12-31T23:59:59Z",
        ),
        (
            [14.0, 45.0, 16.0, 48.0],
            "2000-01-01T00:00:00Z",
            "2030-01-01T00:00:00Z",
        ),
    ] {
        let want = expected(&items, bbox, start, end);
        assert!(
            !want.is_empty(),
            "a query that selects something: {bbox:?} {start}"
        );
        let got = api.search_ids(
            json!({"collections": ["geotiff"], "bbox": bbox, "datetime": format!("{start}/{end}")}),
        );
        assert_eq!(got, want, "bbox {bbox:?}, {start}/{end}");
    }
    // Items in the API point to the published files.
    let item = api.request("GET", "/collections/geotiff/items/dem_utm33", None);
    assert_eq!(
        item["assets"]["data"]["href"],
        "s3://bucket/catalog/items/dem_utm33/dem_utm33.tif"
    );
    assert!(s3
        .root
        .path()
        .join("bucket/catalog/items/dem_utm33/dem_utm33.tif")
        .exists());

    // Again: nothing created, nothing updated, no duplicates.
    let run = publish(&s3, &api, local.path());
    assert!(run.status.success(), "{}", text(&run));
    let report = api_report(&run);
    assert_eq!(report["created"], json!([]), "{report:#}");
    assert_eq!(report["updated"], json!([]), "{report:#}");
    assert_eq!(
        report["unchanged"].as_array().unwrap().len(),
        items.len() + 1
    );
    assert!(
        String::from_utf8_lossy(&run.stderr).contains(&format!("{} unchanged", items.len() + 1))
    );
    assert_eq!(api.search_ids(json!({"collections": ["geotiff"]})), all);
}

#[test]
fn a_publish_interrupted_by_the_api_going_down_is_finished_by_a_rerun() {
    let (Some(s3), Some(api)) = (S3Server::start(), StacApi::start()) else {
        return;
    };
    let local = tempfile::tempdir().unwrap();
    let items = geotiff_catalog(local.path());

    // Half the catalog reaches the API...
    let half = tempfile::tempdir().unwrap();
    let first: Vec<_> = ["dem_utm33", "rgb_wgs84"]
        .iter()
        .map(|n| fixtures().join(format!("geotiff/{n}.tif")))
        .collect();
    assert!(create_items(&first, half.path(), &[]).status.success());
    assert!(publish(&s3, &api, half.path()).status.success());

    // ...then the API goes down: the publish fails, saying where and why.
    api.stop_api();
    let run = publish(&s3, &api, local.path());
    assert_ne!(run.status.code(), Some(0), "{}", text(&run));
    let said = text(&run);
    assert!(
        said.contains(&format!("127.0.0.1:{}", api.port)) && said.contains("after 5 attempts"),
        "{said}"
    );

    // After a restart, the same command finishes the job.
    api.restart_api();
    let run = publish(&s3, &api, local.path());
    assert!(run.status.success(), "{}", text(&run));
    let report = api_report(&run);
    assert_eq!(report["failed"], json!([]));
    let mut ids: Vec<String> = items
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(
        api.search_ids(json!({"collections": ["geotiff"]})),
        ids,
        "every item, once"
    );
    // And equals an uninterrupted run: a further run finds nothing to change.
    let report = api_report(&publish(&s3, &api, local.path()));
    assert_eq!(
        report["unchanged"].as_array().unwrap().len(),
        items.len() + 1,
        "{report:#}"
    );
}

#[test]
fn relative_assets_are_not_registered_in_an_api() {
    let Some(api) = StacApi::start() else { return };
    let local = tempfile::tempdir().unwrap();
    geotiff_catalog(local.path());
    let run = stacforge([
        "publish".as_ref(),
        "--to-api".as_ref(),
        api.url().as_ref(),
        local.path().as_os_str(),
    ]);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert!(
        text(&run).contains("need absolute asset hrefs"),
        "{}",
        text(&run)
    );
    assert_eq!(api.search_ids(json!({})), Vec::<String>::new());
}
