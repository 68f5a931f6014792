//! The `netcdf` package: 2-D slices of NetCDF/HDF5 files as COGs, one
//! item per file (`stacforge netcdf to-cog`, `stacforge run netcdf`).

use stacforge_array::slices::{self, SliceOptions};
use stacforge_core::{item, provenance, Artifact, Error, Job, Package, Result, Timing};
use stacforge_raster::CogOptions;

/// NetCDF/HDF5 → one COG per variable per time step, one item per file.
#[derive(Debug, Clone, Default)]
pub struct NetCdf {
    cog: CogOptions,
    options: SliceOptions,
}

impl NetCdf {
    /// A package writing COGs with `cog` options.
    pub fn new(cog: CogOptions, options: SliceOptions) -> NetCdf {
        NetCdf { cog, options }
    }
}

impl Package for NetCdf {
    fn id(&self) -> &'static str {
        "netcdf"
    }

    fn title(&self) -> &'static str {
        "NetCDF/HDF5 2-D slices: one COG per variable per time step, one item per file"
    }

    fn collection(&self) -> Result<stac::Collection> {
        crate::collection()
    }

    fn convert(&self, job: &Job) -> Result<Vec<Artifact>> {
        slices::convert(job, &self.options, &self.cog)
    }

    fn describe(&self, job: &Job, artifacts: &[Artifact]) -> Result<stac::Item> {
        let first = artifacts
            .first()
            .and_then(|a| a.raster.as_ref())
            .ok_or_else(|| {
                Error::Convert(format!("{}: no COG to describe", job.source().href).into())
            })?;
        let times: Vec<chrono::DateTime<chrono::Utc>> = artifacts
            .iter()
            .filter_map(|a| a.properties.get("datetime")?.as_str()?.parse().ok())
            .collect();
        let instant = |key: &str| -> Vec<chrono::DateTime<chrono::Utc>> {
            artifacts
                .iter()
                .filter_map(|a| a.properties.get(key)?.as_str()?.parse().ok())
                .collect()
        };
        let (starts, ends) = (instant("start_datetime"), instant("end_datetime"));
        // Time bounds, when the file has them, give the period covered.
        let from_file = match (starts.iter().min(), ends.iter().max()) {
            (Some(a), Some(b)) if a < b => Some(Timing::Range(*a, *b)),
            _ => match (times.iter().min(), times.iter().max()) {
                (Some(a), Some(b)) if a == b => Some(Timing::Instant(*a)),
                (Some(a), Some(b)) => Some(Timing::Range(*a, *b)),
                _ => None,
            },
        };
        let timing = item::resolve_timing(job, from_file)?;
        let footprint = first
            .footprint
            .as_ref()
            .ok_or_else(|| Error::Convert(format!("{}: no footprint", job.source().href).into()))?;
        let mut stac_item = item::new_item(job, footprint, timing)?;
        for artifact in artifacts {
            item::add_asset(&mut stac_item, artifact);
            // Each slice's own time (and bounds), as asset common metadata.
            if let Some(asset) = stac_item.assets.get_mut(&artifact.key) {
                for key in ["datetime", "start_datetime", "end_datetime"] {
                    if let Some(t) = artifact.properties.get(key) {
                        asset.additional_fields.insert(key.into(), t.clone());
                    }
                }
            }
        }
        let lineage = format!(
            "2-D slices of {} written as Cloud-Optimized GeoTIFFs ({} compression), georeferenced from CF coordinates and grid mapping{}, by stacforge's netcdf package.",
            job.source().path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            self.cog.compression,
            if self.options.roll_longitude { ", longitudes rolled to -180..180" } else { "" }
        );
        provenance::stamp(&mut stac_item, job, &lineage);
        Ok(stac_item)
    }
}
