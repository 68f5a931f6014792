//! Render defaults (the render extension) computed from the data, so that a
//! tile server (titiler, titiler-pgstac) shows an item or a collection well
//! without hand-written parameters.
//!
//! Every data asset gets a render: the item's default asset under the name
//! `default`, the others under their asset key.
//! - RGB rasters (bands interpreted red, green, blue): those bands in that
//!   order, rescaled from robust percentiles unless they are bytes.
//! - Categorical rasters (classification extension classes): each class
//!   in its `color_hint` or a distinct colour, nodata classes transparent.
//! - Paletted rasters: the colour table as `colormap`, nearest resampling.
//! - Other rasters: the first band, rescaled from its 2nd to 98th
//!   percentile (from the band's histogram, else its minimum and maximum)
//!   with the `viridis` colour map.
//! - Zarr stores and references: the first data variable with `viridis`
//!   (titiler-xarray's `variable` parameter).
//!
//! A package that sets `renders` itself is left alone; collections take
//! theirs from the items (see `stacforge_catalog::summary`), unless the
//! package's static collection gives them.

use crate::{extension, item::add_extension, Artifact, BandProfile, DataType, RasterProfile};
use serde_json::{json, Map, Value};
use stac::Item;

/// The render of the item's default asset.
pub const DEFAULT: &str = "default";

/// The low and high percentiles a continuous band is rescaled between.
pub const PERCENTILES: (f64, f64) = (0.02, 0.98);

/// The colour map single-band continuous data is shown with.
pub const COLORMAP: &str = "viridis";

/// The item's default asset: `requested` when given, else `data` when it is
/// a data asset, else the first data asset that can be rendered. `Err`
/// names the item's assets when `requested` is not one of them.
pub fn default_asset<'a>(
    artifacts: &'a [Artifact],
    requested: Option<&str>,
) -> Result<Option<&'a Artifact>, String> {
    let renderable = |a: &&Artifact| {
        a.roles.iter().any(|r| r == "data") && (a.raster.is_some() || a.cube.is_some())
    };
    if let Some(key) = requested {
        return match artifacts.iter().find(|a| a.key == key) {
            Some(a) if renderable(&a) => Ok(Some(a)),
            Some(_) => Err(format!(
                "the default asset `{key}` is not a raster or array data asset"
            )),
            None => Err(format!(
                "there is no asset `{key}` to make the default (the item's assets: {})",
                artifacts
                    .iter()
                    .map(|a| a.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
    }
    let mut data = artifacts.iter().filter(renderable);
    let first = data.clone().next();
    Ok(data.find(|a| a.key == "data").or(first))
}

/// Sets the item's `renders` from its artifacts (unless the package set
/// them) and declares the render extension. `default` is the asset key
/// the `default` render shows (see [`default_asset`]).
pub fn stamp(item: &mut Item, artifacts: &[Artifact], default: Option<&str>) -> Result<(), String> {
    if item.properties.additional_fields.contains_key("renders") {
        add_extension(item, extension::RENDER);
        return Ok(());
    }
    let default_key = default_asset(artifacts, default)?.map(|a| a.key.clone());
    let mut renders = Map::new();
    for artifact in artifacts {
        if !artifact.roles.iter().any(|r| r == "data") {
            continue;
        }
        let render = if let Some(profile) = &artifact.raster {
            let classes = artifact.asset_fields.get("classification:classes");
            raster(&artifact.key, profile, classes.and_then(Value::as_array))
        } else if artifact.cube.is_some() {
            array(artifact)
        } else {
            None
        };
        let Some(mut render) = render else { continue };
        let title = artifact
            .title
            .clone()
            .unwrap_or_else(|| artifact.key.clone());
        render.insert("title".into(), json!(title));
        let name = if default_key.as_deref() == Some(&artifact.key) {
            DEFAULT.to_string()
        } else {
            artifact.key.clone()
        };
        renders.insert(name, Value::Object(render));
    }
    if !renders.is_empty() {
        (item.properties.additional_fields).insert("renders".into(), Value::Object(renders));
        add_extension(item, extension::RENDER);
    }
    Ok(())
}

/// Colours of classes that name none (matplotlib's `tab20`).
const CLASS_COLOURS: [[u8; 3]; 20] = [
    [31, 119, 180],
    [174, 199, 232],
    [255, 127, 14],
    [255, 187, 120],
    [44, 160, 44],
    [152, 223, 138],
    [214, 39, 40],
    [255, 152, 150],
    [148, 103, 189],
    [197, 176, 213],
    [140, 86, 75],
    [196, 156, 148],
    [227, 119, 194],
    [247, 182, 210],
    [127, 127, 127],
    [199, 199, 199],
    [188, 189, 34],
    [219, 219, 141],
    [23, 190, 207],
    [158, 218, 229],
];

/// A colour map for categorical data (classification extension classes):
/// each class in its `color_hint`, else a distinct colour; nodata classes
/// (and the band's nodata value) transparent. `None` without classes.
fn class_colormap(classes: &[Value], nodata: Option<f64>) -> Option<Map<String, Value>> {
    let mut colormap = Map::new();
    for (i, class) in classes.iter().enumerate() {
        let value = class.get("value")?.as_i64()?;
        let transparent = class.get("nodata").and_then(Value::as_bool) == Some(true)
            || nodata == Some(value as f64);
        let hint = (class.get("color_hint").and_then(Value::as_str))
            .filter(|h| h.len() == 6)
            .and_then(|h| {
                let byte = |k: usize| u8::from_str_radix(&h[k..k + 2], 16).ok();
                Some([byte(0)?, byte(2)?, byte(4)?])
            });
        // The strong colours first, then their light pairs.
        let k = i % CLASS_COLOURS.len();
        let strong_first = if k < 10 { 2 * k } else { 2 * (k - 10) + 1 };
        let [r, g, b] = hint.unwrap_or(CLASS_COLOURS[strong_first]);
        let rgba = if transparent {
            [0, 0, 0, 0]
        } else {
            [r, g, b, 255]
        };
        colormap.insert(value.to_string(), json!(rgba));
    }
    (!colormap.is_empty()).then_some(colormap)
}

/// The render of one raster asset (`classes`: its classification
/// extension classes, for categorical data).
fn raster(
    key: &str,
    profile: &RasterProfile,
    classes: Option<&Vec<Value>>,
) -> Option<Map<String, Value>> {
    let bands: Vec<(usize, &BandProfile)> = (profile.bands.iter().enumerate())
        .filter(|(_, b)| b.color != "alpha")
        .map(|(i, b)| (i + 1, b))
        .collect();
    let (first_index, first) = *bands.first()?;
    let mut render = Map::new();
    render.insert("assets".into(), json!([key]));
    let by_color = |c: &str| bands.iter().find(|(_, b)| b.color == c);
    if let (Some(r), Some(g), Some(b)) = (by_color("red"), by_color("green"), by_color("blue")) {
        render.insert("bidx".into(), json!([r.0, g.0, b.0]));
        if [r.1, g.1, b.1]
            .iter()
            .any(|b| b.data_type != DataType::UInt8)
        {
            let ranges: Option<Vec<[f64; 2]>> = [r.1, g.1, b.1].iter().map(|b| range(b)).collect();
            if let Some(ranges) = ranges {
                render.insert("rescale".into(), json!(ranges));
            }
        }
    } else if let Some(colormap) = classes.and_then(|c| class_colormap(c, first.nodata)) {
        render.insert("bidx".into(), json!([first_index]));
        render.insert("colormap".into(), Value::Object(colormap));
        render.insert("resampling".into(), json!("nearest"));
    } else if first.has_palette && !first.palette.is_empty() {
        render.insert("bidx".into(), json!([first_index]));
        let colormap: Map<String, Value> = (first.palette.iter().enumerate())
            .map(|(value, rgba)| (value.to_string(), json!(rgba)))
            .collect();
        render.insert("colormap".into(), Value::Object(colormap));
        render.insert("resampling".into(), json!("nearest"));
    } else {
        render.insert("bidx".into(), json!([first_index]));
        if let Some(range) = range(first) {
            render.insert("rescale".into(), json!([range]));
        }
        render.insert("colormap_name".into(), json!(COLORMAP));
    }
    if let Some(nodata) = first.nodata {
        let value = if nodata.is_nan() {
            json!("nan")
        } else {
            json!(nodata)
        };
        render.insert("nodata".into(), value);
    }
    Some(render)
}

/// The range a band is rescaled over: its robust percentiles, else its
/// minimum and maximum; `None` without statistics.
pub fn range(band: &BandProfile) -> Option<[f64; 2]> {
    let from_histogram = band.histogram.as_ref().and_then(|h| {
        let (low, high) = (h.percentile(PERCENTILES.0)?, h.percentile(PERCENTILES.1)?);
        (high > low).then_some([low, high])
    });
    let [low, high] = from_histogram.or_else(|| {
        let s = band.statistics?;
        (s.maximum > s.minimum).then_some([s.minimum, s.maximum])
    })?;
    Some([round(low, f64::floor), round(high, f64::ceil)])
}

/// `value` to 4 significant digits, rounded with `direction` (outwards,
/// so the range still holds the percentiles).
fn round(value: f64, direction: fn(f64) -> f64) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    let scale = 10f64.powi(3 - value.abs().log10().floor() as i32);
    direction(value * scale) / scale
}

/// The render of a Zarr store or references: the first data variable on
/// the horizontal grid.
fn array(artifact: &Artifact) -> Option<Map<String, Value>> {
    let cube = artifact.cube.as_ref()?;
    let variable = (cube.variables.iter()).find(|v| v.kind == "data" && v.dimensions.len() >= 2)?;
    let mut render = Map::new();
    render.insert("assets".into(), json!([artifact.key]));
    render.insert("variable".into(), json!(variable.name));
    render.insert("colormap_name".into(), json!(COLORMAP));
    Some(render)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Crs, Histogram, Statistics};

    fn band(color: &str, data_type: DataType) -> BandProfile {
        BandProfile {
            description: None,
            data_type,
            nodata: None,
            scale: None,
            offset: None,
            unit: None,
            color: color.into(),
            has_palette: false,
            statistics: Some(Statistics {
                minimum: 0.0,
                maximum: 1000.0,
                mean: 10.0,
                stddev: 5.0,
                valid_percent: None,
            }),
            // 100 pixels: 1 at 0, 97 spread over 10..20, 2 at 1000.
            histogram: Some(Histogram {
                minimum: 0.0,
                maximum: 1000.0,
                counts: {
                    let mut c = vec![0u64; 100];
                    c[0] = 1;
                    c[1] = 97;
                    c[99] = 2;
                    c
                },
            }),
            palette: Vec::new(),
        }
    }

    fn profile(bands: Vec<BandProfile>) -> RasterProfile {
        RasterProfile {
            width: 4,
            height: 4,
            crs: Crs {
                code: Some("EPSG:4326".into()),
                wkt2: String::new(),
                projjson: None,
            },
            geotransform: [0.0, 1.0, 0.0, 0.0, 0.0, -1.0],
            bands,
            footprint: None,
            timing: None,
        }
    }

    #[test]
    fn percentiles_ignore_outliers_and_integer_buckets_give_values() {
        let h = band("gray", DataType::Float32).histogram.unwrap();
        let [low, high] = [h.percentile(0.02).unwrap(), h.percentile(0.98).unwrap()];
        assert!(
            (10.0..20.0).contains(&low) && (10.0..=20.0).contains(&high),
            "{low} {high}"
        );
        let integers = Histogram {
            minimum: -0.5,
            maximum: 3.5,
            counts: vec![0, 5, 90, 5],
        };
        assert_eq!(integers.percentile(0.02), Some(1.0));
        assert_eq!(integers.percentile(0.5), Some(2.0));
        assert_eq!(integers.percentile(0.98), Some(3.0));
        let coarse = integers.coarsened(4);
        assert_eq!(coarse, integers, "already small enough");
        let fine = Histogram {
            minimum: 0.0,
            maximum: 100.0,
            counts: (0..100).collect(),
        };
        let coarse = fine.coarsened(64);
        assert_eq!(coarse.counts.len(), 50);
        assert_eq!((coarse.counts[0], coarse.counts[49]), (1, 98 + 99));
        assert_eq!(coarse.maximum, 100.0);
        assert_eq!(
            coarse.counts.iter().sum::<u64>(),
            fine.counts.iter().sum::<u64>()
        );
        let empty = Histogram {
            counts: vec![0; 3],
            ..integers
        };
        assert_eq!(empty.percentile(0.5), None);
    }

    #[test]
    fn rgb_palette_and_continuous_rasters() {
        let rgb = profile(vec![
            band("red", DataType::UInt8),
            band("green", DataType::UInt8),
            band("blue", DataType::UInt8),
            band("alpha", DataType::UInt8),
        ]);
        let r = raster("data", &rgb, None).unwrap();
        assert_eq!(r["bidx"], json!([1, 2, 3]));
        assert!(!r.contains_key("rescale"), "bytes are shown as they are");

        let mut paletted = band("palette", DataType::UInt8);
        paletted.has_palette = true;
        paletted.palette = vec![[0, 0, 0, 0], [255, 0, 0, 255]];
        paletted.nodata = Some(0.0);
        let r = raster("data", &profile(vec![paletted]), None).unwrap();
        assert_eq!(r["colormap"]["1"], json!([255, 0, 0, 255]));
        assert_eq!(r["nodata"], json!(0.0));
        assert!(!r.contains_key("colormap_name"));

        let mut float = band("gray", DataType::Float32);
        float.nodata = Some(f64::NAN);
        let classes = vec![
            json!({"value": 1, "description": "snow", "color_hint": "FFFFFF"}),
            json!({"value": 2, "description": "land"}),
            json!({"value": 255, "description": "fill", "nodata": true}),
        ];
        let r = raster(
            "data",
            &profile(vec![band("gray", DataType::UInt8)]),
            Some(&classes),
        )
        .unwrap();
        assert_eq!(r["colormap"]["1"], json!([255, 255, 255, 255]));
        assert_eq!(r["colormap"]["2"], json!([255, 127, 14, 255]));
        assert_eq!(r["colormap"]["255"], json!([0, 0, 0, 0]));
        assert!(
            !r.contains_key("rescale"),
            "classes are coloured, not rescaled"
        );
        let r = raster("data", &profile(vec![float]), None).unwrap();
        assert_eq!(r["colormap_name"], json!(COLORMAP));
        assert_eq!(r["nodata"], json!("nan"));
        let rescale = r["rescale"][0].as_array().unwrap();
        assert!(
            rescale[1].as_f64().unwrap() < 100.0,
            "outliers left out: {rescale:?}"
        );
        assert_eq!(round(286.950943, f64::floor), 286.9);
        assert_eq!(round(0.871771, f64::ceil), 0.8718);
        assert_eq!(round(6914.83, f64::ceil), 6915.0);
    }

    #[test]
    fn the_default_asset_is_data_or_the_one_asked_for() {
        let mut data = Artifact::in_place(
            "b1",
            &crate::Source {
                path: "/a.tif".into(),
                href: "file:///a.tif".into(),
                size: 1,
                checksum: String::new(),
                modified: None,
                etag: None,
            },
            crate::artifact::COG_MEDIA_TYPE,
            &["data"],
        );
        data.raster = Some(profile(vec![band("gray", DataType::Float32)]));
        let mut other = data.clone();
        other.key = "data".into();
        let artifacts = [data, other];
        assert_eq!(
            default_asset(&artifacts, None).unwrap().unwrap().key,
            "data"
        );
        assert_eq!(
            default_asset(&artifacts, Some("b1")).unwrap().unwrap().key,
            "b1"
        );
        let err = default_asset(&artifacts, Some("nope")).unwrap_err();
        assert!(err.contains("b1, data"), "{err}");
        let mut item = Item::new("a");
        stamp(&mut item, &artifacts, Some("b1")).unwrap();
        let renders = item.properties.additional_fields["renders"]
            .as_object()
            .unwrap();
        assert_eq!(renders["default"]["assets"], json!(["b1"]));
        assert_eq!(renders["data"]["assets"], json!(["data"]));
        assert!(item.extensions.iter().any(|e| e == extension::RENDER));
    }
}
