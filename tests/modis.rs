//! The modis package on the real MODIS granules in ../shared/data/hdf4.

mod common;

use common::*;
use gdal::{Dataset, Metadata};
use std::path::PathBuf;

#[test]
fn mod10a2_agrees_with_its_ecs_metadata_and_its_subdatasets() {
    let (Some(data), Some(schemas)) = (shared_data(), schemas()) else {
        return;
    };
    let hdf = data.join("hdf4/MOD10A2.A2022033.h09v05.061.2022042050729.hdf");
    let out = tempfile::tempdir().unwrap();
    let run = stacforge([
        "modis".as_ref(),
        "create-item".as_ref(),
        hdf.as_os_str(),
        "--out".as_ref(),
        out.path().as_os_str(),
    ]);
    assert!(run.status.success(), "{}", text(&run));
    let id = "MOD10A2.A2022033.h09v05.061.2022042050729";
    let item_path = out.path().join(format!("items/{id}/{id}.json"));
    let item = json(&item_path);
    let problems = schema_problems(&schemas, &item_path);
    assert!(problems.is_empty(), "{problems:#?}");

    // What the file's ECS core metadata says, read by GDAL.
    let container = Dataset::open(&hdf).unwrap();
    let ecs = |key: &str| container.metadata_item(key, "").unwrap();
    let props = &item["properties"];
    assert_eq!(
        props["start_datetime"],
        format!(
            "{}T{}Z",
            ecs("RANGEBEGINNINGDATE"),
            ecs("RANGEBEGINNINGTIME")
        )
    );
    assert_eq!(
        props["end_datetime"],
        format!("{}T{}Z", ecs("RANGEENDINGDATE"), ecs("RANGEENDINGTIME"))
    );
    assert!(props["datetime"].is_null());
    assert_eq!(
        props["modis:horizontal-tile"].to_string(),
        ecs("HORIZONTALTILENUMBER")
    );
    assert_eq!(
        props["modis:vertical-tile"].to_string(),
        ecs("VERTICALTILENUMBER")
    );
    assert_eq!(props["platform"], "terra");
    // The bbox is the tile's exact footprint; ECS bounding coordinates are
    // rounded (EAST -92.3664 where the tile's south-east corner is at -92.3760).
    let bbox: Vec<f64> = item["bbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for (got, key) in bbox.iter().zip([
        "WESTBOUNDINGCOORDINATE",
        "SOUTHBOUNDINGCOORDINATE",
        "EASTBOUNDINGCOORDINATE",
        "NORTHBOUNDINGCOORDINATE",
    ]) {
        let want: f64 = ecs(key).parse().unwrap();
        assert!((got - want).abs() < 0.02, "{key}: item {got}, ECS {want}");
    }

    // One COG per science dataset, pixel for pixel the subdataset GDAL reads.
    let subdatasets: Vec<String> = container
        .metadata_domain("SUBDATASETS")
        .unwrap()
        .iter()
        .filter_map(|kv| kv.split_once("_NAME=").map(|(_, v)| v.to_string()))
        .collect();
    assert_eq!(subdatasets.len(), 2);
    for name in subdatasets {
        let field = name.rsplit(':').next().unwrap();
        let asset = &item["assets"][field];
        assert!(
            asset["proj:code"].is_null()
                && asset["proj:wkt2"].as_str().unwrap().contains("Sinusoidal"),
            "{asset:#}"
        );
        assert_eq!(asset["proj:shape"], serde_json::json!([2400, 2400]));
        let cog =
            item_path.with_file_name(asset["href"].as_str().unwrap().trim_start_matches("./"));
        assert!(stacforge_raster::layout::check(&cog).unwrap().is_valid());
        assert_same_pixels(&PathBuf::from(&name), &cog);
        let fill = Dataset::open(&name)
            .unwrap()
            .rasterband(1)
            .unwrap()
            .no_data_value();
        assert_eq!(
            asset["bands"][0]["nodata"].as_f64(),
            fill,
            "{field}: fill value"
        );
    }
}

#[test]
fn a_swath_granule_is_refused_clearly() {
    let Some(data) = shared_data() else { return };
    let out = tempfile::tempdir().unwrap();
    let swath = data.join("hdf4/MOD14.hdf4");
    let run = stacforge([
        "modis".as_ref(),
        "create-item".as_ref(),
        swath.as_os_str(),
        "--out".as_ref(),
        out.path().as_os_str(),
    ]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let said = text(&run);
    assert!(
        said.contains("MOD14.hdf4") && said.contains("no EOS grid") && said.contains("geolocation"),
        "{said}"
    );
    assert!(!out.path().join("items/MOD14").exists());
}
