//! Derived datasets: rasters that are already items (of a local catalog, a
//! published one or a STAC API) turned into new items by a list of steps
//! (reproject, resample, clip to polygons), each new item linking to its
//! parent with `derived_from` and recording every step with its options.
//!
//! The run loop gives a job whose source is the parent's data asset and
//! whose `derived_from` is the parent item's href; [`Derive`] warps the
//! asset through GDAL (the same warper, and so the same pixels, as
//! `gdalwarp` with the arguments [`Derive::warp_arguments`] lists) into a
//! COG, and describes it with the parent's time, `processing:lineage` in
//! words and `processing:expression` (format [`EXPRESSION_FORMAT`]) as the
//! machine-readable steps, which `stacforge lineage` reads back. Derived
//! items can be derived again: the chain goes back to the original sources.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use stacforge_core::artifact::COG_MEDIA_TYPE;
use stacforge_core::{item, Artifact, Job, Package, Result, Timing};
use stacforge_raster::{cog, inspect, CogOptions, InspectOptions};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The `processing:expression` format of a derived item's steps.
pub const EXPRESSION_FORMAT: &str = "stacforge-derive/1";

/// One step of a derivation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Step {
    /// Reproject to a CRS and/or resample to a resolution.
    Reproject {
        /// Target CRS (`EPSG:3413`, WKT, PROJ string); the source's when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        t_srs: Option<String>,
        /// Pixel size (x, y) in target CRS units.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resolution: Option<(f64, f64)>,
        /// GDAL resampling name (`near`, `bilinear`, `average`, …).
        resampling: String,
    },
    /// Keep what is inside the polygons of a vector file (nodata outside),
    /// cropped to their extent.
    Clip {
        /// The vector file (GeoJSON, shapefile, GeoPackage), as given.
        file: String,
        /// Its size and checksum, so the step says which polygons exactly.
        size: u64,
        /// SHA2-256 multihash.
        checksum: String,
        /// Only the features where ATTR = VALUE.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        r#where: Option<(String, String)>,
    },
    /// Per polygon and time step: mean, minimum, maximum and count of a
    /// cube's variables, as a table (CSV and Parquet).
    Zonal {
        /// The vector file, as given.
        file: String,
        /// Its size.
        size: u64,
        /// Its SHA2-256 multihash.
        checksum: String,
        /// The attribute naming each zone (default: the feature's index).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<String>,
        /// Cells touched by a polygon count, not only those whose centre is inside.
        all_touched: bool,
        /// Variables summarised (empty: every one on the grid).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        variables: Vec<String>,
    },
}

impl Step {
    /// The step in words, for `processing:lineage`.
    pub fn describe(&self) -> String {
        match self {
            Step::Reproject {
                t_srs,
                resolution,
                resampling,
            } => {
                let mut said = match t_srs {
                    Some(crs) => format!("reprojected to {crs}"),
                    None => "resampled".to_string(),
                };
                if let Some((x, y)) = resolution {
                    said.push_str(&format!(" at {x} x {y}"));
                }
                said.push_str(&format!(" ({resampling})"));
                said
            }
            Step::Clip { file, r#where, .. } => {
                let name = file.rsplit('/').next().unwrap_or(file);
                match r#where {
                    Some((k, v)) => format!("clipped to the polygons of {name} where {k} = {v}"),
                    None => format!("clipped to the polygons of {name}"),
                }
            }
            Step::Zonal {
                file, all_touched, ..
            } => {
                let name = file.rsplit('/').next().unwrap_or(file);
                format!(
                    "summarised over the polygons of {name} (mean, min, max, count per time step; {})",
                    if *all_touched { "every cell touched" } else { "cells whose centre is inside" }
                )
            }
        }
    }
}

/// What the new item keeps of its parent.
#[derive(Debug, Clone, Default)]
pub struct Parent {
    /// The parent item's id.
    pub id: String,
    /// Its time.
    pub timing: Option<Timing>,
    /// Its geometry and bbox (what a table derived from it covers).
    pub footprint: Option<stacforge_core::Footprint>,
}

/// The derivation package: the steps, the COG options, and what each
/// parent (by its href, the job's `derived_from`) passes on.
#[derive(Debug, Clone, Default)]
pub struct Derive {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Local paths of the clip files, by the `file` their step names.
    pub clip_paths: BTreeMap<String, PathBuf>,
    /// Output COG options (compression, blocks, nodata).
    pub cog: CogOptions,
    /// Parents by href.
    pub parents: BTreeMap<String, Parent>,
}

impl Derive {
    /// The gdalwarp arguments of the steps (before `-of COG` and the
    /// creation options), with `-dstnodata` when `nodata` is given: what a
    /// user would give `gdalwarp` for the same result.
    pub fn warp_arguments(&self, nodata: Option<f64>) -> Vec<String> {
        let mut args = self.step_arguments();
        if let Some(value) = nodata {
            args.extend(["-dstnodata".to_string(), number(value)]);
        }
        args
    }

    /// The steps' own gdalwarp arguments.
    fn step_arguments(&self) -> Vec<String> {
        let mut args = Vec::new();
        for step in &self.steps {
            match step {
                Step::Reproject {
                    t_srs,
                    resolution,
                    resampling,
                } => {
                    if let Some(crs) = t_srs {
                        args.extend(["-t_srs".to_string(), crs.clone()]);
                    }
                    if let Some((x, y)) = resolution {
                        args.extend(["-tr".to_string(), x.to_string(), y.to_string()]);
                    }
                    args.extend(["-r".to_string(), resampling.clone()]);
                }
                Step::Clip { file, r#where, .. } => {
                    let path = self
                        .clip_paths
                        .get(file)
                        .map_or_else(|| file.clone(), |p| p.display().to_string());
                    args.extend(["-cutline".to_string(), path, "-crop_to_cutline".to_string()]);
                    if let Some((k, v)) = r#where {
                        args.extend([
                            "-cwhere".to_string(),
                            format!("\"{}\" = '{}'", k, v.replace('\'', "''")),
                        ]);
                    }
                }
                Step::Zonal { .. } => {}
            }
        }
        args
    }

    /// The steps as `processing:expression`, with the gdalwarp arguments
    /// that reproduce them (clip files named as given).
    pub fn expression(&self, parent: Option<&str>, nodata: Option<f64>) -> Value {
        let recorded = Derive {
            clip_paths: BTreeMap::new(),
            ..self.clone()
        };
        json!({
            "format": EXPRESSION_FORMAT,
            "expression": {
                "parent": parent,
                "steps": self.steps,
                "nodata": nodata.map(number),
                "gdalwarp": recorded.warp_arguments(nodata),
            },
        })
    }

    /// Whether a step clips (and so needs a nodata value outside).
    fn clips(&self) -> bool {
        self.steps.iter().any(|s| matches!(s, Step::Clip { .. }))
    }

    /// The resampling of the steps (the last reprojection's).
    fn resampling(&self) -> Result<stacforge_raster::Resampling> {
        let name = self
            .steps
            .iter()
            .rev()
            .find_map(|s| match s {
                Step::Reproject { resampling, .. } => Some(resampling.as_str()),
                Step::Clip { .. } | Step::Zonal { .. } => None,
            })
            .unwrap_or("nearest");
        let name = if name == "near" { "nearest" } else { name };
        Ok(name.parse()?)
    }

    fn lineage(&self, parent: &str) -> String {
        let steps: Vec<String> = self.steps.iter().map(Step::describe).collect();
        let written = if self.zonal().is_some() {
            "written as a table (CSV and Parquet)".to_string()
        } else {
            format!(
                "written as a Cloud-Optimized GeoTIFF ({} compression)",
                self.cog.compression
            )
        };
        format!(
            "Derived by stacforge from item {parent}: {}; {written}.",
            if steps.is_empty() {
                "copied".to_string()
            } else {
                steps.join(", then ")
            },
        )
    }

    /// The zonal step, when the derivation makes tables.
    fn zonal(&self) -> Option<&Step> {
        self.steps.iter().find(|s| matches!(s, Step::Zonal { .. }))
    }

    /// The zonal statistics of the job's cube (its Zarr store: the source
    /// is the store's metadata document) as a CSV and a Parquet table.
    fn zonal_tables(&self, job: &Job, step: &Step) -> Result<Vec<Artifact>> {
        let Step::Zonal {
            file,
            field,
            all_touched,
            variables,
            ..
        } = step
        else {
            unreachable!("a zonal step")
        };
        let src = &job.source().path;
        let store = if src.is_dir() {
            src.clone()
        } else {
            src.parent().map(PathBuf::from).unwrap_or_default()
        };
        let polygons = self
            .clip_paths
            .get(file)
            .cloned()
            .unwrap_or_else(|| PathBuf::from(file));
        let options = stacforge_array::zonal::ZoneOptions {
            field: field.clone(),
            all_touched: *all_touched,
            variables: variables.clone(),
        };
        let convert = |e: stacforge_array::Error| stacforge_core::Error::Convert(Box::new(e));
        let rows =
            stacforge_array::zonal::statistics(&store, &polygons, &options).map_err(convert)?;
        let csv = job.workdir.join(format!("{}.zonal.csv", job.item_id));
        stacforge_core::fs::write_atomic(&csv, stacforge_array::zonal::to_csv(&rows).as_bytes())
            .map_err(|source| stacforge_core::Error::Io {
                path: csv.clone(),
                source,
            })?;
        let parquet = job.workdir.join(format!("{}.zonal.parquet", job.item_id));
        stacforge_array::zonal::write_parquet(&rows, &parquet).map_err(convert)?;
        let mut table = Artifact::from_file("table", &csv, "text/csv", &["data"])?;
        table.title = Some("Zonal statistics (CSV)".to_string());
        let mut columnar = Artifact::from_file(
            "table-parquet",
            &parquet,
            "application/vnd.apache.parquet",
            &["data"],
        )?;
        columnar.title = Some("Zonal statistics (Parquet)".to_string());
        Ok(vec![table, columnar])
    }

    fn parent(&self, job: &Job) -> Parent {
        job.derived_from
            .as_ref()
            .and_then(|h| self.parents.get(h))
            .cloned()
            .unwrap_or_default()
    }
}

impl Package for Derive {
    fn id(&self) -> &'static str {
        "derive"
    }

    fn title(&self) -> &'static str {
        "Derived datasets: rasters of existing items reprojected, resampled or clipped, linked to their parents"
    }

    fn collection(&self) -> Result<stac::Collection> {
        let mut collection = stac::Collection::new(
            "derived",
            "Derived by stacforge: every item links to the item it was made from (derived_from) and records the steps (processing:expression).",
        );
        collection.title = Some("Derived dataset".to_string());
        collection.license = "other".to_string();
        Ok(collection)
    }

    fn convert(&self, job: &Job) -> Result<Vec<Artifact>> {
        if let Some(step) = self.zonal() {
            return self.zonal_tables(job, step);
        }
        let src = &job.source().path;
        let parent = self.parent(job);
        let cog_path = job.workdir.join(format!("{}.tif", job.item_id));
        let header_only = InspectOptions {
            statistics: false,
            footprint: false,
        };
        let source = inspect(src, &header_only)?;
        // Outside the polygons is nodata: the source's, else one chosen for
        // the type (and recorded in the steps).
        let band = source.bands.first();
        let nodata = self.cog.nodata.or(band.and_then(|b| b.nodata)).or_else(|| {
            (self.clips() && band.is_some())
                .then(|| default_nodata(band.expect("checked").data_type))
        });
        let mut options = self.cog.clone();
        options.nodata = nodata;
        options.warp_resampling = self.resampling()?;
        // The resampling and nodata go in through the options (`-r`,
        // `-dstnodata`), the rest of the steps as they are.
        let mut extra = self.step_arguments();
        while let Some(i) = extra.iter().position(|a| a == "-r") {
            extra.drain(i..(i + 2).min(extra.len()));
        }
        options.warp_extra = extra;
        let report = cog::write_cog(src, &cog_path, &options)?;
        let mut profile = inspect(&cog_path, &InspectOptions::default())?;
        profile.timing = parent.timing.or(profile.timing);
        let mut data = Artifact::from_file("data", &cog_path, COG_MEDIA_TYPE, &["data"])?;
        data.title = Some("Cloud-Optimized GeoTIFF (derived)".to_string());
        data.header_size = Some(report.header_size);
        data.raster = Some(profile);
        Ok(vec![data])
    }

    fn describe(&self, job: &Job, artifacts: &[Artifact]) -> Result<stac::Item> {
        let parent = self.parent(job);
        let name = if parent.id.is_empty() {
            job.source().href.clone()
        } else {
            parent.id.clone()
        };
        if self.zonal().is_some() {
            let footprint =
                parent
                    .footprint
                    .clone()
                    .ok_or_else(|| stacforge_core::Error::Plan {
                        reason: format!(
                            "parent item {name} has no geometry for the table to cover"
                        ),
                    })?;
            let timing = item::resolve_timing(job, parent.timing)?;
            let mut table = item::new_item(job, &footprint, timing)?;
            for artifact in artifacts {
                item::add_asset(&mut table, artifact);
            }
            stacforge_core::provenance::stamp(&mut table, job, &self.lineage(&name));
            table.properties.additional_fields.insert(
                "processing:expression".into(),
                self.expression(job.derived_from.as_deref(), None),
            );
            return Ok(table);
        }
        let nodata = artifacts
            .first()
            .and_then(|a| a.raster.as_ref())
            .and_then(|r| r.bands.first())
            .and_then(|b| b.nodata);
        let mut item = item::raster_item(job, artifacts, &self.lineage(&name))?;
        item.properties.additional_fields.insert(
            "processing:expression".into(),
            self.expression(job.derived_from.as_deref(), nodata),
        );
        Ok(item)
    }
}

/// A nodata value for a type whose source has none: the largest value of
/// an integer type (unsigned flags sit at the top, so zero stays data),
/// NaN for floats.
fn default_nodata(data_type: stacforge_core::DataType) -> f64 {
    use stacforge_core::DataType as T;
    match data_type {
        T::Int8 => f64::from(i8::MAX),
        T::Int16 => f64::from(i16::MAX),
        T::Int32 => f64::from(i32::MAX),
        T::Int64 => i64::MAX as f64,
        T::UInt8 => f64::from(u8::MAX),
        T::UInt16 => f64::from(u16::MAX),
        T::UInt32 => f64::from(u32::MAX),
        T::UInt64 => u64::MAX as f64,
        T::Float32 | T::Float64 => f64::NAN,
    }
}

/// A number as gdalwarp takes it (`nan` for NaN).
fn number(value: f64) -> String {
    if value.is_nan() {
        "nan".to_string()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_become_gdalwarp_arguments_and_round_trip_as_json() {
        let derive = Derive {
            steps: vec![
                Step::Reproject {
                    t_srs: Some("EPSG:3413".into()),
                    resolution: Some((12500.0, 12500.0)),
                    resampling: "near".into(),
                },
                Step::Clip {
                    file: "greenland.geojson".into(),
                    size: 10,
                    checksum: "1220ab".into(),
                    r#where: Some(("name".into(), "O'Hare".into())),
                },
            ],
            clip_paths: [(
                "greenland.geojson".to_string(),
                PathBuf::from("/tmp/g.geojson"),
            )]
            .into(),
            ..Derive::default()
        };
        assert_eq!(
            derive.warp_arguments(None),
            [
                "-t_srs",
                "EPSG:3413",
                "-tr",
                "12500",
                "12500",
                "-r",
                "near",
                "-cutline",
                "/tmp/g.geojson",
                "-crop_to_cutline",
                "-cwhere",
                "\"name\" = 'O''Hare'"
            ]
        );
        let expression = derive.expression(Some("https://x/items/a"), Some(255.0));
        assert_eq!(expression["format"], EXPRESSION_FORMAT);
        let steps: Vec<Step> =
            serde_json::from_value(expression["expression"]["steps"].clone()).unwrap();
        assert_eq!(steps, derive.steps);
        assert_eq!(expression["expression"]["gdalwarp"][8], "greenland.geojson");
        assert_eq!(expression["expression"]["gdalwarp"][13], "255");
        assert!(derive
            .lineage("a")
            .contains("reprojected to EPSG:3413 at 12500 x 12500 (near), then clipped"));
    }
}
