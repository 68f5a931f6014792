//! Data cubes: what conversion learnt about a Zarr store or a set of
//! virtual references ([`CubeProfile`]), and the STAC item built from it
//! with the datacube extension ([`cube_item`]), opening no file.
//!
//! An asset of many objects has a `file:size` and `file:checksum` of one
//! well-defined document: a Zarr store's consolidated metadata (`zarr.json`
//! for Zarr v3, `.zmetadata` for v2), the reference file for kerchunk JSON,
//! the `.zmetadata` document of a Parquet reference set.

use crate::{extension, item::add_extension, Artifact, Crs, Error, Footprint, Job, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use stac::{Asset, Bbox, Item};

/// Datacube extension schema.
pub const DATACUBE: &str = "https://stac-extensions.github.io/datacube/v2.3.0/schema.json";
/// Media type of a Zarr store (STAC best practice).
pub const ZARR_MEDIA_TYPE: &str = "application/vnd+zarr";
/// Media type of kerchunk reference JSON.
pub const REFERENCES_MEDIA_TYPE: &str = "application/json";

/// The document whose size and checksum stand for the directory asset
/// `dir`: a Zarr v3 store's `zarr.json`, else the `.zmetadata` of a Zarr v2
/// store or of a Parquet reference set; `None` when `dir` is neither.
pub fn metadata_document(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    if !dir.is_dir() {
        return None;
    }
    ["zarr.json", ".zmetadata"]
        .iter()
        .map(|name| dir.join(name))
        .find(|doc| doc.is_file())
}

/// What kind of cube an artifact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CubeFormat {
    /// A Zarr store of format version 2 or 3.
    Zarr {
        /// 2 or 3.
        version: u8,
    },
    /// kerchunk references (virtual Zarr v2) to chunks in the sources.
    References {
        /// A Parquet reference set (a directory) rather than one JSON file.
        parquet: bool,
    },
    /// A snapshot of an Icechunk repository (Zarr v3), its chunks written
    /// natively or left in the sources as virtual chunk references.
    Icechunk {
        /// Chunks are virtual references to the sources.
        virtual_chunks: bool,
    },
}

/// Media type of an Icechunk repository asset (the convention xpystac
/// and VEDA use; none is registered).
pub const ICECHUNK_MEDIA_TYPE: &str = "application/vnd.zarr+icechunk";

/// The kind of a cube dimension, as the datacube extension names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DimensionKind {
    /// x, y or z.
    Spatial,
    /// Time.
    Temporal,
    /// Anything else (bands, categories, …).
    Other,
}

/// One dimension of a cube (a datacube extension dimension object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CubeDimension {
    /// The dimension's name.
    #[serde(skip)]
    pub name: String,
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: DimensionKind,
    /// `x`, `y` or `z` for spatial dimensions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub axis: Option<String>,
    /// First and last values (numbers; RFC 3339 strings for time; null
    /// when not finite).
    pub extent: [Value; 2],
    /// Spacing of regular values (a number, or an ISO 8601 duration for time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<Value>,
    /// The reference system of spatial dimensions (EPSG code, PROJJSON or WKT2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_system: Option<Value>,
    /// Unit of the values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// What the dimension is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One variable of a cube (a datacube extension variable object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CubeVariable {
    /// The variable's name.
    #[serde(skip)]
    pub name: String,
    /// Its dimensions, in order.
    pub dimensions: Vec<String>,
    /// `data` or `auxiliary`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Unit of the values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// What the variable is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Zarr v3 data type name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_type: Option<String>,
}

/// A file a cube was made from, as recorded in its store or references.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CubeSource {
    /// Absolute path (or URL) of the file.
    pub href: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA2-256 multihash.
    pub checksum: String,
    /// The object's ETag, for a source read from object storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

/// Everything the item of a cube needs, learnt while writing it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CubeProfile {
    /// Store or references.
    pub format: CubeFormat,
    /// Every dimension, in the store's order.
    pub dimensions: Vec<CubeDimension>,
    /// Every variable that is not its own dimension's coordinate.
    pub variables: Vec<CubeVariable>,
    /// The horizontal grid's reference system.
    pub crs: Crs,
    /// Rows and columns of the horizontal grid.
    pub shape: [usize; 2],
    /// The grid's north-up transform, in GDAL order; none for a
    /// curvilinear grid (2-D latitude and longitude).
    pub geotransform: Option<[f64; 6]>,
    /// Where the grid lies on Earth.
    pub footprint: Footprint,
    /// First and last time step.
    pub time: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// The dataset's `title` attribute.
    pub title: Option<String>,
    /// The sources, in order along the concatenation dimension.
    pub sources: Vec<CubeSource>,
    /// The dimension the sources were combined along.
    pub concat_dim: Option<String>,
}

impl CubeProfile {
    /// The `processing:lineage` sentence for this cube.
    pub fn lineage(&self) -> String {
        let dim = self.concat_dim.as_deref().unwrap_or("-");
        match self.format {
            CubeFormat::Zarr { .. } => format!(
                "{} source file(s) combined along `{dim}` into one Zarr store by stacforge",
                self.sources.len()
            ),
            CubeFormat::References { .. } => format!(
                "kerchunk references to the chunks of {} source file(s), combined along `{dim}`, by stacforge (the data stays in the sources)",
                self.sources.len()
            ),
            CubeFormat::Icechunk { virtual_chunks } => format!(
                "{} source file(s) combined along `{dim}` into a snapshot of an Icechunk repository by stacforge ({})",
                self.sources.len(),
                if virtual_chunks {
                    "virtual chunk references: the data stays in the sources"
                } else {
                    "chunks written natively"
                }
            ),
        }
    }

    /// The asset key of the cube: `zarr` or `references`.
    pub fn asset_key(&self) -> &'static str {
        match self.format {
            CubeFormat::Zarr { .. } => "zarr",
            CubeFormat::References { .. } => "references",
            CubeFormat::Icechunk { .. } => "icechunk",
        }
    }
}

/// The asset for a cube artifact: media type, roles, title, how xarray
/// opens it, and the size and checksum of its metadata document. Its href
/// is the artifact's own where it stays in place, else its name beside the
/// item.
pub fn cube_asset(artifact: &Artifact, profile: &CubeProfile) -> Asset {
    let href = (artifact.href.clone())
        .unwrap_or_else(|| format!("./{}", crate::href::encode(&artifact.file_name())));
    let mut asset = Asset::new(href);
    let (media_type, roles, title, open_kwargs) = match profile.format {
        CubeFormat::Zarr { version } => (
            ZARR_MEDIA_TYPE,
            vec!["data", "zarr"],
            format!("Zarr v{version} store"),
            json!({"engine": "zarr", "consolidated": true}),
        ),
        CubeFormat::References { .. } => (
            REFERENCES_MEDIA_TYPE,
            vec!["data", "references", "index"],
            "kerchunk references (virtual Zarr v2)".to_string(),
            json!({"engine": "kerchunk", "chunks": {}}),
        ),
        CubeFormat::Icechunk { virtual_chunks } => (
            ICECHUNK_MEDIA_TYPE,
            if virtual_chunks {
                vec!["data", "zarr", "references", "virtual"]
            } else {
                vec!["data", "zarr"]
            },
            format!(
                "Icechunk repository (Zarr v3{})",
                if virtual_chunks {
                    ", virtual chunks"
                } else {
                    ""
                }
            ),
            json!({"engine": "zarr", "consolidated": false, "zarr_format": 3}),
        ),
    };
    asset.r#type = Some(media_type.to_string());
    asset.roles = roles.into_iter().map(str::to_string).collect();
    asset.title = Some(artifact.title.clone().unwrap_or(title));
    let fields = &mut asset.additional_fields;
    fields.insert("xarray:open_kwargs".into(), open_kwargs);
    fields.insert("file:size".into(), json!(artifact.size));
    fields.insert("file:checksum".into(), json!(artifact.checksum));
    for (key, value) in &artifact.asset_fields {
        fields.insert(key.clone(), value.clone());
    }
    asset
}

/// The item for a cube: geometry from its grid, datacube dimensions and
/// variables, time range, CRS, its asset, processing fields, and a `via`
/// link to every source with its size and checksum.
pub fn cube_item(job: &Job, artifact: &Artifact) -> Result<Item> {
    let profile = artifact.cube.as_ref().ok_or_else(|| Error::Profile {
        key: artifact.key.clone(),
        expected: "cube",
    })?;
    let mut item = Item::new(&job.item_id);
    item.collection = Some(job.collection_id.clone());
    item.geometry = Some(
        serde_json::from_value(profile.footprint.geometry.clone())
            .map_err(|e| Error::Convert(Box::new(e)))?,
    );
    item.bbox = Some(Bbox::TwoDimensional(profile.footprint.bbox));
    let props = &mut item.properties;
    match job.datetime.map(Into::into).or(profile.time) {
        Some((start, end)) if start == end => props.datetime = Some(start),
        Some((start, end)) => {
            props.datetime = None;
            props.start_datetime = Some(start);
            props.end_datetime = Some(end);
        }
        None => {
            // Named by its first source: the artifact is still in staging.
            let href = (profile.sources.first())
                .map_or_else(|| artifact.path.display().to_string(), |s| s.href.clone());
            return Err(Error::MissingDatetime { href });
        }
    }
    let to_map = |entries: Vec<(String, Value)>| Value::Object(entries.into_iter().collect());
    let dimensions = to_map(
        (profile.dimensions.iter())
            .map(|d| (d.name.clone(), serde_json::to_value(d).expect("plain data")))
            .collect(),
    );
    let variables = to_map(
        (profile.variables.iter())
            .map(|v| (v.name.clone(), serde_json::to_value(v).expect("plain data")))
            .collect(),
    );
    let fields: &mut Map<String, Value> = &mut props.additional_fields;
    fields.insert("cube:dimensions".into(), dimensions);
    fields.insert("cube:variables".into(), variables);
    if let Some(code) = &profile.crs.code {
        fields.insert("proj:code".into(), json!(code));
    } else {
        fields.insert("proj:wkt2".into(), json!(profile.crs.wkt2));
        if let Some(p) = &profile.crs.projjson {
            fields.insert("proj:projjson".into(), p.clone());
        }
    }
    fields.insert("proj:shape".into(), json!(profile.shape));
    if let Some(g) = profile.geotransform {
        fields.insert(
            "proj:transform".into(),
            json!([g[1], g[2], g[0], g[4], g[5], g[3]]),
        );
    }
    if let Some(title) = &profile.title {
        props.title = Some(title.clone());
    }
    for ext in [DATACUBE, extension::PROJECTION] {
        add_extension(&mut item, ext);
    }
    item.assets
        .insert(artifact.key.clone(), cube_asset(artifact, profile));
    let mut job = job.clone();
    job.sources = profile
        .sources
        .iter()
        .map(|s| crate::Source {
            etag: s.etag.clone(),
            ..crate::Source::recorded(&s.href, s.size, &s.checksum)
        })
        .collect();
    crate::provenance::stamp(&mut item, &job, &profile.lineage());
    Ok(item)
}

/// The reference system of a cube's spatial dimensions, as the datacube
/// extension writes it: an EPSG number, else PROJJSON, else WKT2.
pub fn reference_system(crs: &Crs) -> Value {
    match (&crs.code, &crs.projjson) {
        (Some(code), _) if code.starts_with("EPSG:") => {
            code[5..].parse::<u32>().map_or(json!(code), |n| json!(n))
        }
        (_, Some(p)) => p.clone(),
        _ => json!(crs.wkt2),
    }
}

/// The ISO 8601 duration between evenly spaced times, when they are.
pub fn iso_step(times: &[DateTime<Utc>]) -> Option<String> {
    if times.len() < 2 {
        return None;
    }
    let step = (times[1] - times[0]).num_seconds();
    if step <= 0
        || times
            .windows(2)
            .any(|w| (w[1] - w[0]).num_seconds() != step)
    {
        return None;
    }
    Some(if step % 86_400 == 0 {
        format!("P{}D", step / 86_400)
    } else if step % 3600 == 0 {
        format!("PT{}H", step / 3600)
    } else if step % 60 == 0 {
        format!("PT{}M", step / 60)
    } else {
        format!("PT{step}S")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> CubeProfile {
        let t0 = DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let t1 = DateTime::parse_from_rfc3339("2020-01-03T00:00:00Z")
            .unwrap()
            .to_utc();
        CubeProfile {
            format: CubeFormat::Zarr { version: 3 },
            dimensions: vec![CubeDimension {
                name: "time".into(),
                kind: DimensionKind::Temporal,
                axis: None,
                extent: [json!("2020-01-01T00:00:00Z"), json!("2020-01-03T00:00:00Z")],
                step: Some(json!("P1D")),
                reference_system: None,
                unit: None,
                description: None,
            }],
            variables: vec![CubeVariable {
                name: "sst".into(),
                dimensions: vec!["time".into(), "lat".into(), "lon".into()],
                kind: "data".into(),
                unit: Some("degC".into()),
                description: None,
                data_type: Some("int16".into()),
            }],
            crs: Crs {
                code: Some("EPSG:4326".into()),
                wkt2: String::new(),
                projjson: None,
            },
            shape: [2, 4],
            geotransform: Some([0.0, 90.0, 0.0, 90.0, 0.0, -90.0]),
            footprint: Footprint {
                geometry: json!({"type": "Polygon", "coordinates": [[[0.0, -90.0], [360.0, -90.0], [360.0, 90.0], [0.0, 90.0], [0.0, -90.0]]]}),
                bbox: [0.0, -90.0, 360.0, 90.0],
            },
            time: Some((t0, t1)),
            title: Some("SST".into()),
            sources: vec![CubeSource {
                href: "/data/a b.nc".into(),
                size: 10,
                checksum: "1220ab".into(),
                etag: None,
            }],
            concat_dim: Some("time".into()),
        }
    }

    /// The item comes from the profile alone: no file is opened (the
    /// artifact's path does not exist).
    #[test]
    fn a_cube_item_is_built_from_its_profile() {
        let job = Job::for_test("sst", "/nonexistent/a.nc");
        let mut artifact = Artifact::for_test("zarr", "/nonexistent/sst.zarr");
        artifact.cube = Some(profile());
        let item = cube_item(&job, &artifact).unwrap();
        let value = serde_json::to_value(&item).unwrap();
        let props = &value["properties"];
        assert_eq!(props["start_datetime"], "2020-01-01T00:00:00Z");
        assert_eq!(props["cube:dimensions"]["time"]["step"], "P1D");
        assert_eq!(props["cube:variables"]["sst"]["data_type"], "int16");
        assert_eq!(
            props["proj:transform"],
            json!([90.0, 0.0, 0.0, 0.0, -90.0, 90.0])
        );
        let asset = &value["assets"]["zarr"];
        assert_eq!(asset["type"], ZARR_MEDIA_TYPE);
        assert_eq!(asset["href"], "./sst.zarr");
        assert_eq!(asset["file:size"], artifact.size);
        let via: Vec<_> = item.links.iter().filter(|l| l.rel == "via").collect();
        assert_eq!(via.len(), 1);
        assert_eq!(via[0].href, "file:///data/a%20b.nc");
        assert!(props["processing:lineage"]
            .as_str()
            .unwrap()
            .contains("Zarr store"));
    }

    #[test]
    fn an_artifact_without_a_cube_profile_is_refused() {
        let job = Job::for_test("sst", "/nonexistent/a.nc");
        let artifact = Artifact::for_test("zarr", "/nonexistent/sst.zarr");
        let err = cube_item(&job, &artifact).unwrap_err();
        assert!(err.to_string().contains("zarr"), "{err}");
    }
}
