//! Building STAC items from jobs, profiles and artifacts, without opening files.

use crate::{extension, Artifact, Error, Footprint, Job, RasterProfile, Result, Timing};
use serde_json::{json, Map, Value};
use stac::{Asset, Bbox, Item};

/// Picks the item's timing: the user's `--datetime` first, then the file's
/// own metadata; never "now".
pub fn resolve_timing(job: &Job, from_file: Option<Timing>) -> Result<Timing> {
    job.datetime
        .or(from_file)
        .ok_or_else(|| Error::MissingDatetime {
            href: job.source().href.clone(),
        })
}

/// A new item with id, collection, geometry, bbox and datetime set.
pub fn new_item(job: &Job, footprint: &Footprint, timing: Timing) -> Result<Item> {
    let mut item = Item::new(&job.item_id);
    item.collection = Some(job.collection_id.clone());
    item.geometry = Some(
        serde_json::from_value(footprint.geometry.clone())
            .map_err(|e| Error::Convert(Box::new(e)))?,
    );
    item.bbox = Some(Bbox::TwoDimensional(footprint.bbox));
    match timing {
        Timing::Instant(t) => item.properties.datetime = Some(t),
        Timing::Range(start, end) => {
            item.properties.datetime = None;
            item.properties.start_datetime = Some(start);
            item.properties.end_datetime = Some(end);
        }
    }
    Ok(item)
}

/// The item of raster artifacts, in one call: its geometry from the first
/// raster profile's footprint (the `data` asset's when there is one), its
/// time from the job or the profile, every artifact as an asset, and its
/// provenance (`via` links, software, `lineage`). Opens no file.
pub fn raster_item(job: &Job, artifacts: &[Artifact], lineage: &str) -> Result<Item> {
    let data = artifacts
        .iter()
        .filter(|a| a.raster.is_some())
        .min_by_key(|a| a.key != "data")
        .ok_or_else(|| Error::Profile {
            key: artifacts.first().map(|a| a.key.clone()).unwrap_or_default(),
            expected: "raster",
        })?;
    let profile = data.raster.as_ref().expect("filtered");
    let timing = resolve_timing(job, profile.timing)?;
    let footprint = profile.footprint.as_ref().ok_or_else(|| Error::Profile {
        key: data.key.clone(),
        expected: "footprint (raster)",
    })?;
    let mut item = new_item(job, footprint, timing)?;
    for artifact in artifacts {
        add_asset(&mut item, artifact);
    }
    crate::provenance::stamp(&mut item, job, lineage);
    Ok(item)
}

/// Adds an extension schema URL once.
pub fn add_extension(item: &mut Item, url: &str) {
    if !item.extensions.iter().any(|e| e == url) {
        item.extensions.push(url.to_string());
    }
}

/// When the item has a `sci:doi`, declares the scientific extension and
/// links the DOI with `cite-as`.
pub fn cite_doi(item: &mut Item) {
    let doi = item
        .properties
        .additional_fields
        .get("sci:doi")
        .and_then(|d| d.as_str())
        .map(str::to_string);
    if let Some(doi) = doi {
        add_extension(item, extension::SCIENTIFIC);
        let mut link = stac::Link::new(format!("https://doi.org/{doi}"), "cite-as");
        link.title = Some("The data's DOI".to_string());
        item.links.push(link);
    }
}

/// A number for JSON; NaN and infinities become the strings STAC 1.1 uses.
fn number(value: f64) -> Value {
    if value.is_nan() {
        json!("nan")
    } else if value.is_infinite() {
        json!(if value > 0.0 { "inf" } else { "-inf" })
    } else {
        json!(value)
    }
}

/// Turns an artifact into an asset (href relative to the item's directory)
/// and adds the extensions it uses to the item.
pub fn add_asset(item: &mut Item, artifact: &Artifact) {
    let href = (artifact.href.clone())
        .unwrap_or_else(|| format!("./{}", crate::href::encode(&artifact.file_name())));
    let mut asset = Asset::new(href);
    asset.r#type = Some(artifact.media_type.clone());
    asset.roles = artifact.roles.clone();
    asset.title = artifact.title.clone();
    let fields = &mut asset.additional_fields;
    fields.insert("file:size".into(), json!(artifact.size));
    fields.insert("file:checksum".into(), json!(artifact.checksum));
    if let Some(header) = artifact.header_size {
        fields.insert("file:header_size".into(), json!(header));
    }
    add_extension(item, extension::FILE);
    if let Some(profile) = &artifact.raster {
        raster_fields(fields, profile);
        add_extension(item, extension::PROJECTION);
        add_extension(item, extension::RASTER);
        if profile.bands.iter().any(|b| b.common_name().is_some()) {
            add_extension(item, extension::EO);
        }
    }
    for (key, value) in &artifact.asset_fields {
        fields.insert(key.clone(), value.clone());
    }
    item.assets.insert(artifact.key.clone(), asset);
}

/// The most buckets an item's `raster:histogram` has (the render
/// defaults come from the full histogram before).
pub const HISTOGRAM_BUCKETS: usize = 64;

/// The projection fields and the 1.1 `bands` array of a raster asset.
fn raster_fields(fields: &mut Map<String, Value>, profile: &RasterProfile) {
    fields.insert("proj:code".into(), json!(profile.crs.code));
    if profile.crs.code.is_none() {
        fields.insert("proj:wkt2".into(), json!(profile.crs.wkt2));
        if let Some(projjson) = &profile.crs.projjson {
            fields.insert("proj:projjson".into(), projjson.clone());
        }
    }
    fields.insert("proj:shape".into(), json!([profile.height, profile.width]));
    fields.insert("proj:transform".into(), json!(profile.stac_transform()));
    fields.insert("proj:bbox".into(), json!(profile.native_bbox()));
    let bands: Vec<Value> = profile
        .bands
        .iter()
        .enumerate()
        .map(|(i, band)| {
            let mut b = Map::new();
            b.insert(
                "name".into(),
                json!(band
                    .description
                    .clone()
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| format!("b{}", i + 1))),
            );
            b.insert("data_type".into(), json!(band.data_type.as_str()));
            if let Some(nodata) = band.nodata {
                b.insert("nodata".into(), number(nodata));
            }
            if let Some(unit) = band.unit.as_ref().filter(|u| !u.is_empty()) {
                b.insert("unit".into(), json!(unit));
            }
            if let Some(s) = band.statistics {
                let mut stats = Map::new();
                stats.insert("minimum".into(), number(s.minimum));
                stats.insert("maximum".into(), number(s.maximum));
                stats.insert("mean".into(), number(s.mean));
                stats.insert("stddev".into(), number(s.stddev));
                if let Some(v) = s.valid_percent {
                    stats.insert("valid_percent".into(), json!(v));
                }
                b.insert("statistics".into(), Value::Object(stats));
            }
            if let Some(h) = &band.histogram {
                let h = h.coarsened(HISTOGRAM_BUCKETS);
                b.insert(
                    "raster:histogram".into(),
                    json!({"count": h.counts.len(), "min": h.minimum, "max": h.maximum, "buckets": h.counts}),
                );
            }
            if let Some(scale) = band.scale.filter(|s| *s != 1.0) {
                b.insert("raster:scale".into(), json!(scale));
            }
            if let Some(offset) = band.offset.filter(|o| *o != 0.0) {
                b.insert("raster:offset".into(), json!(offset));
            }
            b.insert(
                "raster:spatial_resolution".into(),
                json!(profile.resolution()),
            );
            if let Some(name) = band.common_name() {
                b.insert("eo:common_name".into(), json!(name));
            }
            Value::Object(b)
        })
        .collect();
    fields.insert("bands".into(), Value::Array(bands));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BandProfile, Crs, DataType, Source, Statistics};

    fn job() -> Job {
        Job {
            sources: vec![Source {
                path: "/data/a.tif".into(),
                href: "file:///data/a.tif".into(),
                size: 10,
                checksum: "1220aa".into(),
                modified: None,
                etag: None,
            }],
            item_id: "a".into(),
            collection_id: "geotiff".into(),
            workdir: "/tmp".into(),
            datetime: None,
            derived_from: None,
            previous: None,
        }
    }

    fn profile(nodata: f64) -> RasterProfile {
        RasterProfile {
            width: 4,
            height: 2,
            crs: Crs {
                code: Some("EPSG:32618".into()),
                wkt2: "PROJCRS[...]".into(),
                projjson: None,
            },
            geotransform: [100.0, 10.0, 0.0, 200.0, 0.0, -10.0],
            bands: vec![BandProfile {
                description: None,
                data_type: DataType::Float32,
                nodata: Some(nodata),
                scale: Some(1.0),
                offset: Some(0.0),
                unit: None,
                color: "red".into(),
                has_palette: false,
                statistics: Some(Statistics {
                    minimum: 1.0,
                    maximum: 2.0,
                    mean: 1.5,
                    stddev: 0.5,
                    valid_percent: Some(50.0),
                }),
                histogram: None,
                palette: Vec::new(),
            }],
            footprint: None,
            timing: None,
        }
    }

    #[test]
    fn timing_prefers_the_user_and_never_defaults_to_now() {
        let mut job = job();
        let file: Timing = "2020-01-01".parse().unwrap();
        assert_eq!(resolve_timing(&job, Some(file)).unwrap(), file);
        let err = resolve_timing(&job, None).unwrap_err();
        assert!(err.to_string().starts_with("file:///data/a.tif: "), "{err}");
        let user: Timing = "2021-01-01".parse().unwrap();
        job.datetime = Some(user);
        assert_eq!(resolve_timing(&job, Some(file)).unwrap(), user);
    }

    #[test]
    fn raster_asset_fields() {
        let mut item = Item::new("a");
        let artifact = Artifact {
            key: "data".into(),
            path: "/tmp/a.tif".into(),
            title: None,
            media_type: crate::artifact::COG_MEDIA_TYPE.into(),
            roles: vec!["data".into()],
            size: 42,
            checksum: "1220ff".into(),
            header_size: Some(300),
            raster: Some(profile(f64::NAN)),
            cube: None,
            properties: serde_json::Map::new(),
            asset_fields: serde_json::Map::new(),
            href: None,
        };
        add_asset(&mut item, &artifact);
        let asset = serde_json::to_value(&item.assets["data"]).unwrap();
        assert_eq!(asset["href"], "./a.tif");
        assert_eq!(
            asset["proj:transform"],
            json!([10.0, 0.0, 100.0, 0.0, -10.0, 200.0])
        );
        assert_eq!(asset["proj:bbox"], json!([100.0, 180.0, 140.0, 200.0]));
        assert_eq!(asset["proj:shape"], json!([2, 4]));
        assert_eq!(asset["bands"][0]["nodata"], "nan");
        assert_eq!(asset["bands"][0]["eo:common_name"], "red");
        assert!(asset["bands"][0].get("raster:scale").is_none());
        assert_eq!(asset["file:header_size"], 300);
        assert!(item.extensions.contains(&extension::EO.to_string()));
    }
}
