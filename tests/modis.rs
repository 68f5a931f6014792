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
    let subdatasets = subdataset_names(&container);
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

/// The subdataset names GDAL lists for a container, in order.
fn subdataset_names(container: &Dataset) -> Vec<String> {
    container
        .metadata_domain("SUBDATASETS")
        .unwrap()
        .iter()
        .filter_map(|kv| kv.split_once("_NAME=").map(|(_, v)| v.to_string()))
        .collect()
}

/// The project's own granules in each product family's real layout
/// (fixtures/modis, written by fixtures/modis/generate.py).
fn modis_fixtures() -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(fixtures().join("modis"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "hdf"))
        .collect();
    all.sort();
    all
}

#[test]
fn every_product_family_fixture_agrees_with_its_file() {
    let sources = modis_fixtures();
    let families = stacforge_modis::product::Family::all();
    // Every family has a fixture, and 006 and 061 are both represented.
    for family in &families {
        assert!(
            sources.iter().any(|s| s
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .split('.')
                .next()
                .unwrap()
                .ends_with(&family.family)),
            "no fixture for {}",
            family.family
        );
    }
    let names: Vec<String> = sources
        .iter()
        .map(|s| s.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.contains(".006.")) && names.iter().any(|n| n.contains(".061.")));

    let out = tempfile::tempdir().unwrap();
    let run = package_create_items("modis", &sources, out.path(), &[]);
    assert!(run.status.success(), "{}", text(&run));
    assert_schema_valid(&out.path().join("collection.json"));

    for src in &sources {
        let id = src.file_stem().unwrap().to_str().unwrap();
        let item_path = out.path().join(format!("items/{id}/{id}.json"));
        let item = json(&item_path);
        assert_schema_valid(&item_path);
        let container = Dataset::open(src).unwrap();
        let ecs = |key: &str| container.metadata_item(key, "").unwrap();
        let props = &item["properties"];
        let start = format!(
            "{}T{}Z",
            ecs("RANGEBEGINNINGDATE"),
            ecs("RANGEBEGINNINGTIME").trim_end_matches(".000000")
        );
        assert_eq!(props["start_datetime"], start, "{id}");
        assert_eq!(props["sci:doi"], ecs("identifier_product_doi"), "{id}");
        let short = ecs("SHORTNAME");
        assert_eq!(props["modis:product"], short);
        assert!(
            props["title"].as_str().unwrap().starts_with("MODIS/"),
            "{id}"
        );
        assert_eq!(
            props["modis:horizontal-tile"].to_string(),
            ecs("HORIZONTALTILENUMBER")
        );

        let family = stacforge_modis::product::Family::of(&short).unwrap();
        let subdatasets = subdataset_names(&container);
        let fields: Vec<String> = subdatasets
            .iter()
            .map(|n| n.rsplit(':').next().unwrap().trim_matches('"').to_string())
            .collect();
        // The product's item_assets list exactly the datasets the file has.
        let mut known: Vec<&String> = family.item_assets.keys().collect();
        let mut have: Vec<String> = fields
            .iter()
            .map(|f| stacforge_modis::asset_key(f))
            .collect();
        known.sort();
        have.sort();
        assert_eq!(known, have.iter().collect::<Vec<_>>(), "{id}: item_assets");
        // One asset per science dataset, and the archive's sidecar when there is one.
        let sidecar = PathBuf::from(format!("{}.xml", src.display())).exists();
        assert_eq!(
            item["assets"].as_object().unwrap().len(),
            subdatasets.len() + usize::from(sidecar),
            "{id}"
        );
        for (name, field) in subdatasets.iter().zip(&fields) {
            let asset = &item["assets"][stacforge_modis::asset_key(field)];
            let sds = Dataset::open(name).unwrap();
            let band = sds.rasterband(1).unwrap();
            let (w, h) = sds.raster_size();
            assert_eq!(
                asset["proj:shape"],
                serde_json::json!([h, w]),
                "{id} {field}"
            );
            assert_eq!(
                asset["bands"][0]["nodata"].as_f64(),
                band.no_data_value(),
                "{id} {field}"
            );
            assert_eq!(
                asset["bands"][0]["raster:scale"].as_f64().unwrap_or(1.0),
                band.scale().unwrap_or(1.0),
                "{id} {field}"
            );
            assert_eq!(
                asset["bands"][0]["raster:offset"].as_f64().unwrap_or(0.0),
                band.offset().unwrap_or(0.0),
                "{id} {field}"
            );
            let grid = name.rsplit(':').nth(1).unwrap();
            assert_eq!(
                asset["gsd"].as_f64(),
                family.gsd.get(grid).copied(),
                "{id} {field}"
            );
            let cog =
                item_path.with_file_name(asset["href"].as_str().unwrap().trim_start_matches("./"));
            assert_same_pixels(&PathBuf::from(name), &cog);
        }
        // rio-cogeo and GDAL's validator accept the COGs (one per granule).
        if let Some(venv) = interop_venv() {
            let (_, first) = item["assets"].as_object().unwrap().iter().next().unwrap();
            let cog =
                item_path.with_file_name(first["href"].as_str().unwrap().trim_start_matches("./"));
            assert_external_validators_accept(
                &venv,
                &cog,
                first["file:header_size"].as_u64().unwrap(),
            );
        }
        match short.as_str() {
            // Two grids: each asset keeps its own shape and transform.
            "MOD09GA" => {
                assert_eq!(
                    item["assets"]["state_1km"]["proj:shape"],
                    serde_json::json!([12, 12])
                );
                assert_eq!(
                    item["assets"]["sur_refl_b01"]["proj:shape"],
                    serde_json::json!([24, 24])
                );
                assert_ne!(
                    item["assets"]["state_1km"]["proj:transform"],
                    item["assets"]["sur_refl_b01"]["proj:transform"]
                );
            }
            // Land cover classes and QA bit fields, with the extension declared.
            "MCD12Q1" => {
                let classes = item["assets"]["LC_Type1"]["classification:classes"]
                    .as_array()
                    .unwrap();
                assert_eq!(classes.len(), 18);
                assert_eq!(classes[16]["description"], "Water Bodies");
            }
            "MOD11A1" => {
                let bits = item["assets"]["QC_Day"]["classification:bitfields"]
                    .as_array()
                    .unwrap();
                assert_eq!(bits.len(), 4);
                assert_eq!(
                    item["assets"]["QC_Day"]["roles"],
                    serde_json::json!(["metadata", "quality"])
                );
                assert_eq!(item["assets"]["Emis_31"]["bands"][0]["raster:offset"], 0.49);
            }
            // A tile on the antimeridian: split in two, bbox west > east.
            "MCD64A1" => {
                assert_eq!(item["geometry"]["type"], "MultiPolygon");
                let bbox = item["bbox"].as_array().unwrap();
                assert!(
                    bbox[0].as_f64().unwrap() > bbox[2].as_f64().unwrap(),
                    "{bbox:?}"
                );
            }
            _ => {}
        }
        if item["assets"].as_object().unwrap().values().any(|a| {
            a.get("classification:classes").is_some() || a.get("classification:bitfields").is_some()
        }) {
            assert!(item["stac_extensions"]
                .to_string()
                .contains("classification"));
        }
        assert!(item["links"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["rel"] == "cite-as"
                && l["href"] == format!("https://doi.org/{}", ecs("identifier_product_doi"))));
    }
}

#[test]
fn a_file_whose_name_disagrees_with_its_metadata_is_refused() {
    let src = modis_fixtures()
        .into_iter()
        .find(|p| p.to_string_lossy().contains("MOD11A1."))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The same granule under another tile's name.
    let renamed = dir
        .path()
        .join("MOD11A1.A2022185.h09v05.061.2022042050729.hdf");
    std::fs::copy(&src, &renamed).unwrap();
    let out = dir.path().join("catalog");
    let run = stacforge([
        "modis".as_ref(),
        "create-item".as_ref(),
        renamed.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let said = text(&run);
    assert!(
        said.contains("h09v05.061")
            && said.contains("its name says tile h09v05 but its ECS metadata says h08v05"),
        "{said}"
    );
}

#[test]
fn the_modis_fixtures_are_what_their_generator_writes() {
    let Some(venv) = interop_venv() else { return };
    let mut written: Vec<PathBuf> = std::fs::read_dir(fixtures().join("modis"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.ends_with("generate.py"))
        .collect();
    written.sort();
    assert_generator_reproduces(&venv, "modis/generate.py", &written);
}

#[test]
fn the_archive_sidecar_is_published_and_must_agree_with_the_granule() {
    let src = modis_fixtures()
        .into_iter()
        .find(|p| p.to_string_lossy().contains("MOD10A1."))
        .unwrap();
    let xml = PathBuf::from(format!("{}.xml", src.display()));
    // As LP DAAC writes them, the sidecar declares the ECS DTD.
    assert!(std::fs::read_to_string(&xml)
        .unwrap()
        .contains("<!DOCTYPE GranuleMetaDataFile SYSTEM"));
    let out = tempfile::tempdir().unwrap();
    let run = package_create_items("modis", &[&src], out.path(), &[]);
    assert!(run.status.success(), "{}", text(&run));
    let id = src.file_stem().unwrap().to_str().unwrap();
    let item = json(&out.path().join(format!("items/{id}/{id}.json")));
    let asset = &item["assets"]["metadata"];
    assert_eq!(asset["type"], "application/xml");
    assert_eq!(asset["roles"], serde_json::json!(["metadata"]));
    let published = out.path().join(format!("items/{id}/{id}.hdf.xml"));
    assert_eq!(
        std::fs::read(&published).unwrap(),
        std::fs::read(&xml).unwrap()
    );

    // A sidecar that disagrees with the granule, or describes another file, is refused.
    let original = std::fs::read_to_string(&xml).unwrap();
    let size = std::fs::metadata(&src).unwrap().len();
    for (tampered, said) in [
        (
            original.replace(
                "<RangeBeginningDate>2022-02-02<",
                "<RangeBeginningDate>2022-02-01<",
            ),
            "it says RangeBeginning 2022-02-01T00:00:00+00:00 but the file's ECS metadata says 2022-02-02T00:00:00+00:00",
        ),
        (
            original.replace(&format!("<FileSize>{size}<"), "<FileSize>12345<"),
            "it gives FileSize 12345 but the file has",
        ),
    ] {
        assert_ne!(tampered, original);
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join(src.file_name().unwrap());
        std::fs::copy(&src, &copy).unwrap();
        std::fs::write(format!("{}.xml", copy.display()), tampered).unwrap();
        let run = package_create_items("modis", &[&copy], &dir.path().join("out"), &[]);
        assert_eq!(run.status.code(), Some(1), "{}", text(&run));
        let text = text(&run);
        assert!(text.contains(".hdf.xml: ") && text.contains(said), "{text}");
        assert!(!dir.path().join(format!("out/items/{id}")).exists());
    }
    // A sidecar that cannot be parsed is a warning, not a lost granule.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join(src.file_name().unwrap());
    std::fs::copy(&src, &copy).unwrap();
    std::fs::write(
        format!("{}.xml", copy.display()),
        "<GranuleMetaDataFile><broken>",
    )
    .unwrap();
    let run = package_create_items("modis", &[&copy], &dir.path().join("out"), &[]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        text(&run).contains("warning:") && text(&run).contains("not valid XML"),
        "{}",
        text(&run)
    );
    let item = json(&dir.path().join(format!("out/items/{id}/{id}.json")));
    assert!(item["assets"].get("metadata").is_none(), "{item}");
    // The same times written with another precision agree.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join(src.file_name().unwrap());
    std::fs::copy(&src, &copy).unwrap();
    let coarser = original.replace(
        "<RangeEndingTime>23:59:59.999999<",
        "<RangeEndingTime>23:59:59<",
    );
    assert_ne!(coarser, original);
    std::fs::write(format!("{}.xml", copy.display()), coarser).unwrap();
    let run = package_create_items("modis", &[&copy], &dir.path().join("out"), &[]);
    assert!(run.status.success(), "{}", text(&run));
}

#[test]
fn a_product_collection_has_its_item_assets_and_doi() {
    for (product, version) in [("MOD11A1", "061"), ("MOD13Q1", "006")] {
        let src = modis_fixtures()
            .into_iter()
            .find(|p| p.to_string_lossy().contains(&format!("{product}.")))
            .unwrap();
        let out = tempfile::tempdir().unwrap();
        let id = format!("modis-{product}-{version}");
        let run = package_create_items("modis", &[&src], out.path(), &["--collection-id", &id]);
        assert!(run.status.success(), "{}", text(&run));
        let path = out.path().join("collection.json");
        let collection = json(&path);
        assert_schema_valid(&path);
        assert_eq!(collection["id"], id);
        assert_eq!(
            collection["sci:doi"],
            format!("10.5067/MODIS/{product}.{version}")
        );
        assert!(collection["title"]
            .as_str()
            .unwrap()
            .ends_with(&format!("V{version}")));
        let stem = src.file_stem().unwrap().to_str().unwrap();
        let item = json(&out.path().join(format!("items/{stem}/{stem}.json")));
        assert_eq!(item["collection"], id);
        let mut described: Vec<&String> = collection["item_assets"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        let mut present: Vec<&String> = item["assets"].as_object().unwrap().keys().collect();
        described.sort();
        present.sort();
        assert_eq!(described, present, "{id}");
    }
}
