//! stacforge's package for gridded MODIS/VIIRS land products in HDF-EOS2.
//!
//! One COG per science dataset of every EOS grid in the file (files with
//! several grids, such as 1 km and 500 m, give assets with their own
//! `proj:shape` and `proj:transform`), on the sinusoidal CRS (WKT2 and
//! PROJJSON: it has no EPSG code). The acquisition period, tile, platform and
//! instrument come from the file's ECS core metadata; the geometry is the
//! tile's footprint on Earth. Swath (level 2) files have no grid and are
//! refused. Static metadata lives in `data/collection.json` and, per product
//! family, in `data/products/` (see [`product`]): the item gets the product's
//! title, DOI and citation, and categorical and QA datasets their classes and
//! bit fields.

pub mod product;
pub mod sidecar;

use chrono::{NaiveDate, NaiveTime};
use gdal::{Dataset, Metadata};
use product::{Family, FileName};
use serde_json::json;
use sidecar::Sidecar;
use stacforge_core::{
    artifact::COG_MEDIA_TYPE, extension, item, provenance, Artifact, Error, Job, Package, Result,
    Timing,
};
use stacforge_raster::{cog, footprint, inspect, CogOptions, InspectOptions};
use std::path::Path;

const COLLECTION: &str = include_str!("../data/collection.json");

/// The MODIS/VIIRS HDF-EOS2 package.
#[derive(Debug, Clone, Default)]
pub struct Modis {
    cog: CogOptions,
}

impl Modis {
    /// A package that writes COGs with `cog` options.
    pub fn new(cog: CogOptions) -> Modis {
        Modis { cog }
    }
}

fn refuse(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Convert(format!("{}: {reason}", path.display()).into())
}

/// What the ECS core metadata says about the granule.
#[derive(Debug, Clone, PartialEq)]
struct Granule {
    timing: Timing,
    horizontal_tile: Option<u32>,
    vertical_tile: Option<u32>,
    platform: Option<String>,
    short_name: Option<String>,
    /// Collection version, three digits ("061").
    version: Option<String>,
    produced: Option<String>,
    doi: Option<String>,
}

/// The granule as its ECS metadata describes it, with what the sidecar
/// says where the file's own metadata is silent (and checked against it
/// where both speak).
fn ecs(ds: &Dataset, path: &Path, sidecar: Option<&Sidecar>) -> Result<Granule> {
    let item = |key: &str| ds.metadata_item(key, "").map(|v| v.trim().to_string());
    let instant = |date: &str, time: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        let Some(d) = item(date) else {
            return Ok(None);
        };
        let d = NaiveDate::parse_from_str(&d, "%Y-%m-%d")
            .map_err(|e| refuse(path, format!("{date} {d:?} is not a date: {e}")))?;
        let t = item(time).unwrap_or_else(|| "00:00:00".to_string());
        let t = NaiveTime::parse_from_str(&t, "%H:%M:%S%.f")
            .map_err(|e| refuse(path, format!("{time} {t:?} is not a time: {e}")))?;
        Ok(Some(d.and_time(t).and_utc()))
    };
    let missing = |what: &str| {
        refuse(
            path,
            format!("neither the ECS metadata nor a .hdf.xml sidecar gives its {what}"),
        )
    };
    let start = instant("RANGEBEGINNINGDATE", "RANGEBEGINNINGTIME")?
        .or(sidecar.and_then(|s| s.start))
        .ok_or_else(|| missing("RANGEBEGINNINGDATE"))?;
    let end = instant("RANGEENDINGDATE", "RANGEENDINGTIME")?
        .or(sidecar.and_then(|s| s.end))
        .ok_or_else(|| missing("RANGEENDINGDATE"))?;
    let from_sidecar = |f: fn(&Sidecar) -> Option<String>| sidecar.and_then(f);
    Ok(Granule {
        timing: if end > start {
            Timing::Range(start, end)
        } else {
            Timing::Instant(start)
        },
        horizontal_tile: item("HORIZONTALTILENUMBER")
            .and_then(|v| v.parse().ok())
            .or(sidecar.and_then(|s| s.horizontal_tile)),
        vertical_tile: item("VERTICALTILENUMBER")
            .and_then(|v| v.parse().ok())
            .or(sidecar.and_then(|s| s.vertical_tile)),
        platform: item("PLATFORMSHORTNAME")
            .or_else(|| item("ASSOCIATEDPLATFORMSHORTNAME.1"))
            .or_else(|| item("ASSOCIATEDPLATFORMSHORTNAME"))
            .or_else(|| from_sidecar(|s| s.platform.clone())),
        short_name: item("SHORTNAME").or_else(|| from_sidecar(|s| s.short_name.clone())),
        version: item("VERSIONID")
            .and_then(|v| v.parse::<u32>().ok().map(|v| format!("{v:03}")))
            .or_else(|| from_sidecar(|s| s.version.clone())),
        produced: item("PRODUCTIONDATETIME").or_else(|| from_sidecar(|s| s.production.clone())),
        doi: item("identifier_product_doi"),
    })
}

/// Checks that the sidecar describes this file and this granule: a sidecar
/// left beside a reprocessed granule, or copied from another tile, must
/// not lend it its metadata.
fn check_sidecar(path: &Path, size: u64, sidecar: &Sidecar, granule: &Granule) -> Result<()> {
    let refuse_with =
        |message: String| refuse(path, format!("{}: {message}", sidecar.path.display()));
    if let Some(listed) = sidecar.file_size {
        if listed != size {
            return Err(refuse_with(format!(
                "it gives FileSize {listed} but the file has {size} bytes; it describes another version of the granule"
            )));
        }
    }
    let differs = |what: &str, theirs: String, ours: String| {
        refuse_with(format!(
            "it says {what} {theirs} but the file's ECS metadata says {ours}"
        ))
    };
    if let (Some(a), Some(b)) = (&sidecar.short_name, &granule.short_name) {
        if a != b {
            return Err(differs("ShortName", a.clone(), b.clone()));
        }
    }
    if let (Some(a), Some(b)) = (&sidecar.version, &granule.version) {
        if a != b {
            return Err(differs("VersionID", a.clone(), b.clone()));
        }
    }
    // To the second: archives write the fractions with different precision
    // (23:59:59 against 23:59:59.999999).
    let second = |t: chrono::DateTime<chrono::Utc>| t.timestamp();
    for (what, theirs, ours) in [
        ("RangeBeginning", sidecar.start, granule.timing.start()),
        ("RangeEnding", sidecar.end, granule.timing.end()),
    ] {
        if let Some(theirs) = theirs {
            if second(theirs) != second(ours) {
                return Err(differs(what, theirs.to_rfc3339(), ours.to_rfc3339()));
            }
        }
    }
    let tile = |h: Option<u32>, v: Option<u32>| h.zip(v).map(|(h, v)| format!("h{h:02}v{v:02}"));
    if let (Some(a), Some(b)) = (
        tile(sidecar.horizontal_tile, sidecar.vertical_tile),
        tile(granule.horizontal_tile, granule.vertical_tile),
    ) {
        if a != b {
            return Err(differs("tile", a, b));
        }
    }
    Ok(())
}

/// Checks that the file name (when it follows the LP DAAC convention) and
/// the ECS metadata describe the same granule: a renamed or mislabelled
/// file would otherwise be catalogued under the wrong product or tile.
fn check_name(path: &Path, name: &FileName, granule: &Granule) -> Result<()> {
    let disagree = |what: &str, in_name: String, in_file: String| {
        refuse(
            path,
            format!("its name says {what} {in_name} but its ECS metadata says {in_file}"),
        )
    };
    if let Some(short) = &granule.short_name {
        if *short != name.short_name {
            return Err(disagree("product", name.short_name.clone(), short.clone()));
        }
    }
    if let Some(version) = &granule.version {
        if *version != name.version {
            return Err(disagree(
                "collection",
                name.version.clone(),
                version.clone(),
            ));
        }
    }
    if let (Some(h), Some(v)) = (granule.horizontal_tile, granule.vertical_tile) {
        if (h, v) != (name.horizontal_tile, name.vertical_tile) {
            return Err(disagree(
                "tile",
                format!("h{:02}v{:02}", name.horizontal_tile, name.vertical_tile),
                format!("h{h:02}v{v:02}"),
            ));
        }
    }
    // The name's date is the period's first day, except for products named
    // by another day of it (MCD43's 16-day window is named by its 9th day).
    let (start, end) = (
        granule.timing.start().date_naive(),
        granule.timing.end().date_naive(),
    );
    if name.acquired < start || name.acquired > end {
        return Err(disagree(
            "acquisition date",
            name.acquired.to_string(),
            format!("the period {start} to {end}"),
        ));
    }
    Ok(())
}

/// The EOS grid of a subdataset name (`HDF4_EOS:EOS_GRID:"file":GRID:FIELD`).
fn grid_of(subdataset: &str) -> &str {
    subdataset.rsplit(':').nth(1).unwrap_or_default()
}

/// The asset key (and file name part) of a science dataset: spaces and
/// punctuation become underscores ("500m 16 days NDVI" -> "500m_16_days_NDVI").
pub fn asset_key(field: &str) -> String {
    field
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The grid fields of an HDF-EOS2 file: (subdataset name, field name).
fn grid_fields(ds: &Dataset, path: &Path) -> Result<Vec<(String, String)>> {
    let all = inspect::subdatasets(ds);
    let grids: Vec<(String, String)> = all
        .iter()
        .filter(|n| n.starts_with("HDF4_EOS:EOS_GRID:"))
        .map(|n| {
            (
                n.clone(),
                // GDAL quotes field names that have spaces ("500m 16 days NDVI").
                n.rsplit(':')
                    .next()
                    .unwrap_or_default()
                    .trim_matches('"')
                    .to_string(),
            )
        })
        .collect();
    if grids.is_empty() {
        return Err(refuse(
            path,
            format!(
                "not a gridded HDF-EOS2 product: it has no EOS grid ({} plain scientific datasets). Swath (level 2) granules such as MOD14 are placed on Earth by a separate geolocation file (MOD03); stacforge's modis package converts gridded (level 3) products",
                all.len()
            ),
        ));
    }
    Ok(grids)
}

impl Package for Modis {
    fn id(&self) -> &'static str {
        "modis"
    }

    fn title(&self) -> &'static str {
        "Gridded MODIS/VIIRS HDF-EOS2 land products: one COG per science dataset"
    }

    fn collection(&self) -> Result<stac::Collection> {
        stacforge_core::package::static_collection("modis", COLLECTION)
    }

    /// `modis-<SHORTNAME>-<version>` (e.g. `modis-MOD11A1-061`) is the
    /// product's own collection: its title, description, DOI, citation and
    /// `item_assets`.
    fn collection_for(&self, id: &str) -> Result<stac::Collection> {
        let mut collection = self.collection()?;
        collection.id = id.to_string();
        let Some((short, version)) = id
            .strip_prefix("modis-")
            .and_then(|rest| rest.rsplit_once('-'))
        else {
            return Ok(collection);
        };
        let (Some(family), Some(platform)) = (Family::of(short), product::platform(short)) else {
            return Ok(collection);
        };
        if !family.versions.contains_key(version) {
            return Ok(collection);
        }
        let title = format!(
            "{} V{version}",
            family.title.replace("{platform}", platform)
        );
        let doi = format!("10.5067/MODIS/{short}.{version}");
        collection.description = format!(
            "{} {title}, converted from HDF-EOS2 by stacforge's modis package: one Cloud-Optimized GeoTIFF per science dataset. Each item links to the HDF file it was made from, with its size and checksum.",
            family.description
        );
        collection.title = Some(title.clone());
        let keywords = collection.keywords.get_or_insert_with(Vec::new);
        keywords.extend(family.keywords.iter().cloned());
        keywords.push(short.to_string());
        let fields = &mut collection.additional_fields;
        fields.insert("item_assets".into(), json!(family.item_assets));
        fields.insert("sci:doi".into(), json!(doi));
        fields.insert(
            "sci:citation".into(),
            json!(format!(
                "{} {title}. {}. https://doi.org/{doi}",
                family.authors, family.provider
            )),
        );
        collection
            .extensions
            .push(extension::SCIENTIFIC.to_string());
        let mut link = stac::Link::new(format!("https://doi.org/{doi}"), "cite-as");
        link.title = Some("The product's DOI".to_string());
        collection.links.push(link);
        Ok(collection)
    }

    fn convert(&self, job: &Job) -> Result<Vec<Artifact>> {
        let path = &job.source().path;
        let container = inspect::open_container(path)?;
        let sidecar = sidecar::read(path);
        let granule = ecs(&container, path, sidecar.as_ref())?;
        if let Some(sidecar) = &sidecar {
            check_sidecar(path, job.source().size, sidecar, &granule)?;
        }
        let fields = grid_fields(&container, path)?;
        let mut properties = serde_json::Map::new();
        if let (Some(h), Some(v)) = (granule.horizontal_tile, granule.vertical_tile) {
            properties.insert("modis:horizontal-tile".into(), json!(h));
            properties.insert("modis:vertical-tile".into(), json!(v));
        }
        if let Some(platform) = &granule.platform {
            properties.insert("platform".into(), json!(platform.to_lowercase()));
        }
        properties.insert("instruments".into(), json!(["modis"]));
        let file_name = FileName::parse(&job.source().stem());
        if let Some(name) = &file_name {
            check_name(path, name, &granule)?;
        }
        let short_name = granule
            .short_name
            .clone()
            .or_else(|| file_name.as_ref().map(|n| n.short_name.clone()));
        let version = granule
            .version
            .clone()
            .or_else(|| file_name.as_ref().map(|n| n.version.clone()));
        let family = short_name.as_deref().and_then(Family::of);
        if let Some(short) = &short_name {
            properties.insert("modis:product".into(), json!(short));
        }
        if let Some(version) = &version {
            properties.insert("modis:collection".into(), json!(version));
        }
        if let Some(produced) = &granule.produced {
            properties.insert("modis:production-datetime".into(), json!(produced));
        }
        if let (Some(short), Some(version)) = (&short_name, &version) {
            let doi = granule
                .doi
                .clone()
                .unwrap_or_else(|| format!("10.5067/MODIS/{short}.{version}"));
            properties.insert("sci:doi".into(), json!(doi));
            if let Some(family) = &family {
                let platform = product::platform(short).unwrap_or("Terra");
                let title = family.title.replace("{platform}", platform);
                properties.insert("title".into(), json!(format!("{title} V{version}")));
                properties.insert(
                    "sci:citation".into(),
                    json!(format!(
                        "{} {title} V{version}. {}. https://doi.org/{doi}",
                        family.authors, family.provider
                    )),
                );
            }
        }
        let mut artifacts = Vec::with_capacity(fields.len());
        for (subdataset, field) in fields {
            let grid = grid_of(&subdataset).to_string();
            let name = Path::new(&subdataset);
            let key = asset_key(&field);
            let out = job.workdir.join(format!("{}.{key}.tif", job.item_id));
            let report = cog::write_cog(name, &out, &self.cog)?;
            let options = InspectOptions {
                statistics: true,
                footprint: false,
            };
            let mut profile = inspect(&out, &options)?;
            profile.footprint = Some(footprint::of_extent(&profile, path)?);
            profile.timing = Some(granule.timing);
            let description = profile.bands.first().and_then(|b| b.description.clone());
            let mut artifact = Artifact::from_file(key.clone(), &out, COG_MEDIA_TYPE, &["data"])?;
            artifact.title = description.or(Some(field.replace('_', " ")));
            artifact.header_size = Some(report.header_size);
            artifact.raster = Some(profile);
            artifact.properties = properties.clone();
            if let Some(family) = &family {
                if let Some(gsd) = family.gsd.get(&grid) {
                    artifact.asset_fields.insert("gsd".into(), json!(gsd));
                }
                // Roles, classes and bit fields as the product's item_assets give them.
                if let Some(known) = family.item_assets.get(&key) {
                    if let Some(roles) = known.get("roles").and_then(|r| r.as_array()) {
                        artifact.roles = roles
                            .iter()
                            .filter_map(|r| r.as_str().map(str::to_string))
                            .collect();
                    }
                    for field in ["classification:classes", "classification:bitfields"] {
                        if let Some(value) = known.get(field) {
                            artifact.asset_fields.insert(field.into(), value.clone());
                        }
                    }
                }
            }
            artifacts.push(artifact);
        }
        if let Some(sidecar) = &sidecar {
            let mut xml =
                Artifact::from_file("metadata", &sidecar.path, "application/xml", &["metadata"])?;
            xml.title = Some("ECS granule metadata (the archive's .hdf.xml)".to_string());
            xml.properties = properties.clone();
            artifacts.push(xml);
        }
        Ok(artifacts)
    }

    fn describe(&self, job: &Job, artifacts: &[Artifact]) -> Result<stac::Item> {
        let path = &job.source().path;
        let first = artifacts
            .iter()
            .find_map(|a| a.raster.as_ref())
            .ok_or_else(|| refuse(path, "no science dataset was converted"))?;
        let timing = item::resolve_timing(job, first.timing)?;
        let footprint = first
            .footprint
            .as_ref()
            .ok_or_else(|| refuse(path, "no footprint was computed"))?;
        let mut stac_item = item::new_item(job, footprint, timing)?;
        for artifact in artifacts {
            item::add_asset(&mut stac_item, artifact);
        }
        // The tile, platform and product, as convert read them.
        for artifact in artifacts {
            for (key, value) in &artifact.properties {
                stac_item
                    .properties
                    .additional_fields
                    .insert(key.clone(), value.clone());
            }
            if artifact
                .asset_fields
                .keys()
                .any(|k| k.starts_with("classification:"))
            {
                item::add_extension(&mut stac_item, extension::CLASSIFICATION);
            }
        }
        item::cite_doi(&mut stac_item);
        let lineage = format!(
            "{} converted from HDF-EOS2 to one Cloud-Optimized GeoTIFF per science dataset ({} compression) by stacforge's modis package.",
            job.source()
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            self.cog.compression
        );
        provenance::stamp(&mut stac_item, job, &lineage);
        Ok(stac_item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_collection_parses() {
        let c = Modis::default().collection().unwrap();
        assert_eq!(c.id, "modis");
        assert_eq!(c.providers.unwrap().len(), 2);
    }
}
