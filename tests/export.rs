//! `stacforge export`: ndjson bulk-loaded by pypgstac into a real pgstac,
//! and stac-geoparquet read back by rustac.

mod common;

use common::*;
use serde_json::json;

#[test]
fn geoparquet_reads_back_with_rustac() {
    let out = tempfile::tempdir().unwrap();
    let names = ["dem_utm33", "landcover_laea", "pacific_3832", "rgb_wgs84"];
    let sources: Vec<_> = names
        .iter()
        .map(|n| fixtures().join(format!("geotiff/{n}.tif")))
        .collect();
    assert!(create_items(&sources, out.path(), &[]).status.success());
    let parquet = out.path().join("items.parquet");
    let run = stacforge([
        "export".as_ref(),
        out.path().as_os_str(),
        parquet.as_os_str(),
        "--format".as_ref(),
        "geoparquet".as_ref(),
        "--public-url".as_ref(),
        "https://example.org/cat".as_ref(),
    ]);
    assert!(run.status.success(), "{}", text(&run));
    let read = stac::geoparquet::from_reader(bytes(&parquet)).unwrap();
    let mut ids: Vec<_> = read.items.iter().map(|i| i.id.clone()).collect();
    ids.sort();
    assert_eq!(ids, names);
    for item in &read.items {
        let local = json(&out.path().join(format!("items/{0}/{0}.json", item.id)));
        let back = serde_json::to_value(item).unwrap();
        assert_eq!(back["bbox"], local["bbox"], "{}", item.id);
        assert_eq!(
            back["properties"]["datetime"],
            local["properties"]["datetime"]
        );
        assert_eq!(
            back["assets"]["data"]["bands"], local["assets"]["data"]["bands"],
            "{}",
            item.id
        );
        assert_eq!(
            back["assets"]["data"]["href"],
            format!("https://example.org/cat/items/{0}/{0}.tif", item.id)
        );
    }
}

fn bytes(path: &std::path::Path) -> bytes::Bytes {
    bytes::Bytes::from(std::fs::read(path).unwrap())
}

#[test]
fn geoparquet_refuses_mixed_nodata_types_and_leaves_nothing() {
    let out = tempfile::tempdir().unwrap();
    let sources = [
        fixtures().join("geotiff/seaice_3413.tif"),
        fixtures().join("geotiff/dem_utm33.tif"),
    ];
    assert!(create_items(&sources, out.path(), &[]).status.success());
    let parquet = out.path().join("items.parquet");
    let run = stacforge([
        "export".as_ref(),
        out.path().as_os_str(),
        parquet.as_os_str(),
        "--format".as_ref(),
        "geoparquet".as_ref(),
    ]);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert!(text(&run).contains("mix numeric nodata"), "{}", text(&run));
    assert!(!parquet.exists());
    assert!(!out.path().join("items.parquet.partial").exists());
}

#[test]
fn ndjson_bulk_loads_into_pgstac() {
    let Some(api) = StacApi::start() else { return };
    let out = tempfile::tempdir().unwrap();
    let sources = tifs(&fixtures().join("geotiff"));
    assert!(create_items(&sources, out.path(), &[]).status.success());
    let ndjson = out.path().join("items.ndjson");
    let run = stacforge([
        "export".as_ref(),
        out.path().as_os_str(),
        ndjson.as_os_str(),
        "--public-url".as_ref(),
        "https://example.org/cat".as_ref(),
    ]);
    assert!(run.status.success(), "{}", text(&run));
    assert_eq!(
        std::fs::read_to_string(&ndjson).unwrap().lines().count(),
        sources.len()
    );

    let load = |what: &str, file: &std::path::Path| {
        let run = api
            .pypgstac()
            .args(["load", what])
            .arg(file)
            .args(["--method", "insert"])
            .output()
            .unwrap();
        assert!(run.status.success(), "pypgstac load {what}: {}", text(&run));
    };
    load("collections", &out.path().join("collection.json"));
    load("items", &ndjson);
    let mut want: Vec<String> = sources
        .iter()
        .map(|s| s.file_stem().unwrap().to_str().unwrap().to_string())
        .collect();
    want.sort();
    assert_eq!(api.search_ids(json!({"collections": ["geotiff"]})), want);
    let item = api.request("GET", "/collections/geotiff/items/seaice_3413", None);
    assert_eq!(item["assets"]["data"]["bands"][0]["nodata"], "nan");
    assert_eq!(
        item["assets"]["data"]["href"],
        "https://example.org/cat/items/seaice_3413/seaice_3413.tif"
    );
}
