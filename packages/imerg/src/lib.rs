//! GPM IMERG precipitation: half-hourly (`3B-HHR`) and monthly (`3B-MO`)
//! HDF5 files, whose variables are in the `Grid` group, and daily (`3B-DAY`)
//! NetCDF-4 files, with them at the root. IMERG stores its grids lon-major,
//! (time, lon, lat); the slices are transposed and flipped north-up (see
//! `stacforge_netcdf`'s grid, `Grid::transposed`). The period comes from the file's
//! `time_bnds`; the product, run and version from its name; the DOI from its
//! `FileHeader`.

use serde_json::json;
use stacforge_array::inventory::Inventory;
use stacforge_core::{item, Artifact, Job, Package, Result};
use stacforge_netcdf::{NetCdf, SliceOptions};
use stacforge_raster::CogOptions;

/// The IMERG package.
#[derive(Debug, Clone, Default)]
pub struct Imerg {
    cog: CogOptions,
}

impl Imerg {
    /// A package writing COGs with `cog` options.
    pub fn new(cog: CogOptions) -> Imerg {
        Imerg { cog }
    }

    /// The slicer for one file: the `Grid` group when the file has one.
    fn slicer(&self, job: &Job) -> NetCdf {
        let group = Inventory::read(&job.source().path, Some("Grid"))
            .ok()
            .map(|_| "Grid".to_string());
        NetCdf::new(
            self.cog.clone(),
            SliceOptions {
                group,
                ..SliceOptions::default()
            },
        )
    }
}

/// What an IMERG file name says:
/// `3B-HHR.MS.MRG.3IMERG.20220101-S000000-E002959.0000.V07B.HDF5`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImergName {
    /// `3B-HHR`, `3B-HHR-E` (early run), `3B-HHR-L` (late run), `3B-DAY`, `3B-MO`.
    pub product: String,
    /// `V07B`.
    pub version: String,
}

impl ImergName {
    /// Parses a file name; `None` when it is not an IMERG name.
    pub fn parse(name: &str) -> Option<ImergName> {
        let parts: Vec<&str> = name.split('.').collect();
        if parts.len() < 6 || !parts[0].starts_with("3B-") || parts[3] != "3IMERG" {
            return None;
        }
        let version = parts[5..].iter().find(|p| {
            p.len() >= 3 && p.starts_with('V') && p[1..3].bytes().all(|b| b.is_ascii_digit())
        })?;
        Some(ImergName {
            product: parts[0].to_string(),
            version: version.to_string(),
        })
    }

    /// The accumulation period of the product.
    pub fn cadence(&self) -> Option<&'static str> {
        match self.product.trim_end_matches("-E").trim_end_matches("-L") {
            "3B-HHR" => Some("half-hourly"),
            "3B-DAY" => Some("daily"),
            "3B-MO" => Some("monthly"),
            _ => None,
        }
    }

    /// The run: final, or the early and late near-real-time runs.
    pub fn run(&self) -> &'static str {
        if self.product.ends_with("-E") {
            "early"
        } else if self.product.ends_with("-L") {
            "late"
        } else {
            "final"
        }
    }
}

impl Package for Imerg {
    fn id(&self) -> &'static str {
        "imerg"
    }

    fn title(&self) -> &'static str {
        "GPM IMERG precipitation (HDF5, NetCDF-4): one COG per variable per time step"
    }

    fn collection(&self) -> Result<stac::Collection> {
        stacforge_core::package::static_collection("imerg", include_str!("../data/collection.json"))
    }

    fn convert(&self, job: &Job) -> Result<Vec<Artifact>> {
        let mut artifacts = self.slicer(job).convert(job)?;
        let name = ImergName::parse(&job.source().stem());
        let header = Inventory::read(&job.source().path, None)
            .ok()
            .and_then(|i| {
                i.attrs
                    .get("FileHeader")
                    .and_then(|v| v.as_str().map(str::to_string))
            });
        let doi = header.as_deref().and_then(|h| {
            h.split([';', '\n'])
                .find_map(|kv| kv.trim().strip_prefix("DOI="))
                .map(str::to_string)
        });
        let mut properties = serde_json::Map::new();
        properties.insert("constellation".into(), json!("gpm"));
        if let Some(name) = &name {
            properties.insert("imerg:product".into(), json!(name.product));
            properties.insert("imerg:run".into(), json!(name.run()));
            properties.insert("imerg:version".into(), json!(name.version));
            if let Some(cadence) = name.cadence() {
                properties.insert("imerg:cadence".into(), json!(cadence));
            }
        }
        if let Some(doi) = doi.filter(|d| !d.is_empty()) {
            properties.insert("sci:doi".into(), json!(doi));
        }
        for artifact in &mut artifacts {
            artifact.properties.extend(properties.clone());
        }
        Ok(artifacts)
    }

    fn describe(&self, job: &Job, artifacts: &[Artifact]) -> Result<stac::Item> {
        // Describing opens no file: the group only matters to convert.
        let slicer = NetCdf::new(self.cog.clone(), SliceOptions::default());
        let mut stac_item = slicer.describe(job, artifacts)?;
        let slice_times = ["datetime", "start_datetime", "end_datetime"];
        if let Some(first) = artifacts.first() {
            for (key, value) in &first.properties {
                if !slice_times.contains(&key.as_str()) {
                    stac_item
                        .properties
                        .additional_fields
                        .insert(key.clone(), value.clone());
                }
            }
        }
        item::cite_doi(&mut stac_item);
        Ok(stac_item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imerg_file_names() {
        let n =
            ImergName::parse("3B-HHR.MS.MRG.3IMERG.20220101-S000000-E002959.0000.V07B").unwrap();
        assert_eq!((n.product.as_str(), n.version.as_str()), ("3B-HHR", "V07B"));
        assert_eq!((n.cadence(), n.run()), (Some("half-hourly"), "final"));
        let d = ImergName::parse("3B-DAY.MS.MRG.3IMERG.20220101-S000000-E235959.V07B").unwrap();
        assert_eq!(d.cadence(), Some("daily"));
        let e =
            ImergName::parse("3B-HHR-E.MS.MRG.3IMERG.20220101-S000000-E002959.0000.V07B").unwrap();
        assert_eq!((e.cadence(), e.run()), (Some("half-hourly"), "early"));
        assert!(ImergName::parse("oisst-avhrr-v02r01.20220913").is_none());
        assert!(Imerg::default().collection().is_ok());
    }
}
