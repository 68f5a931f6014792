//! The `netcdf-zarr` and `netcdf-refs` packages: a NetCDF/HDF5 file series
//! combined along time into one Zarr store, or into kerchunk references to
//! the files' own chunks; one unit (all the sources) and one item per run,
//! described with the datacube extension from the output's
//! [`CubeProfile`](stacforge_core::CubeProfile).
//!
//! `stacforge netcdf to-zarr` and `to-refs` are front ends over the same
//! functions of `stacforge_array::cube` (`write_store`, `write_refs`,
//! `describe_cube`), adding appends and outputs outside a catalog.

use stacforge_array::cube::{
    describe_cube, refs_artifact, store_artifact, write_refs, write_store,
};
use stacforge_array::recipe::Recipe;
use stacforge_array::refs::RefOptions;
use stacforge_core::{Artifact, Error, Job, Package, Result, Unit};
use std::path::PathBuf;

/// The recipe for the job's sources: `template` with its sources set.
fn recipe_for(template: &Recipe, job: &Job) -> Recipe {
    Recipe {
        sources: job.sources.iter().map(|s| s.path.clone()).collect(),
        ..template.clone()
    }
}

/// One unit of every source, its item named `item_id` or after what the
/// sources' names share.
fn one_unit(sources: &[PathBuf], item_id: &Option<String>) -> Result<Vec<Unit>> {
    if sources.is_empty() {
        return Err(Error::Plan {
            reason: "no sources were given".into(),
        });
    }
    Ok(vec![Unit {
        item_id: item_id.clone().unwrap_or_else(|| shared_stem(sources)),
        sources: sources.to_vec(),
    }])
}

/// What the file stems share at their start, up to a separator
/// (`oisst.20220913.nc`, `oisst.20220914.nc` → `oisst`;
/// `sst.day.mean.2020.nc`, `sst.day.mean.2021.nc` → `sst.day.mean`);
/// `cube` when they share nothing.
pub fn shared_stem(sources: &[PathBuf]) -> String {
    let stems: Vec<Vec<char>> = (sources.iter())
        .map(|s| {
            s.file_stem()
                .map(|n| n.to_string_lossy().chars().collect())
                .unwrap_or_default()
        })
        .collect();
    let first = stems.first().cloned().unwrap_or_default();
    if stems.len() == 1 {
        return first.into_iter().collect();
    }
    let is_separator = |c: &char| "._- ".contains(*c);
    let shared = (0..first.len())
        .take_while(|&i| stems.iter().all(|s| s.get(i) == Some(&first[i])))
        .count();
    // Keep whole words: cut back to a separator unless every stem has one
    // (or ends) right after the shared part.
    let at_boundary = stems.iter().all(|s| s.get(shared).is_none_or(is_separator));
    let mut end = if at_boundary {
        shared
    } else {
        first[..shared].iter().rposition(is_separator).unwrap_or(0)
    };
    while end > 0 && is_separator(&first[end - 1]) {
        end -= 1;
    }
    match first[..end].iter().collect::<String>() {
        s if s.is_empty() => "cube".into(),
        s => s,
    }
}

/// NetCDF/HDF5 file series → one Zarr store and one item.
#[derive(Debug, Clone, Default)]
pub struct NetCdfZarr {
    /// The recipe, without sources (each unit's are added).
    pub recipe: Recipe,
    /// The item id (default: what the sources' names share).
    pub item_id: Option<String>,
}

impl Package for NetCdfZarr {
    fn id(&self) -> &'static str {
        "netcdf-zarr"
    }

    fn title(&self) -> &'static str {
        "NetCDF/HDF5 file series combined along time into one Zarr store, one item per store"
    }

    fn collection(&self) -> Result<stac::Collection> {
        crate::collection()
    }

    fn plan(&self, sources: &[PathBuf]) -> Result<Vec<Unit>> {
        one_unit(sources, &self.item_id)
    }

    fn convert(&self, job: &Job) -> Result<Vec<Artifact>> {
        let store = job.workdir.join(format!("{}.zarr", job.item_id));
        write_store(&recipe_for(&self.recipe, job), &store, false)?;
        Ok(vec![store_artifact(&store, None)?])
    }

    fn describe(&self, job: &Job, artifacts: &[Artifact]) -> Result<stac::Item> {
        describe_cube(job, artifacts)
    }
}

/// NetCDF-4/HDF5 file series → kerchunk references and one item.
#[derive(Debug, Clone, Default)]
pub struct NetCdfRefs {
    /// The recipe, without sources (each unit's are added).
    pub recipe: Recipe,
    /// How references are written.
    pub options: RefOptions,
    /// Rows per Parquet file, for a Parquet reference set (JSON otherwise).
    pub parquet_record_size: Option<usize>,
    /// The item id (default: what the sources' names share).
    pub item_id: Option<String>,
}

impl Package for NetCdfRefs {
    fn id(&self) -> &'static str {
        "netcdf-refs"
    }

    fn title(&self) -> &'static str {
        "NetCDF-4/HDF5 file series as kerchunk references (virtual Zarr) to their own chunks, one item"
    }

    fn collection(&self) -> Result<stac::Collection> {
        crate::collection()
    }

    fn plan(&self, sources: &[PathBuf]) -> Result<Vec<Unit>> {
        one_unit(sources, &self.item_id)
    }

    fn convert(&self, job: &Job) -> Result<Vec<Artifact>> {
        let name = match self.parquet_record_size {
            Some(_) => format!("{}.refs.parq", job.item_id),
            None => format!("{}.refs.json", job.item_id),
        };
        let out = job.workdir.join(name);
        let recipe = recipe_for(&self.recipe, job);
        let (references, _) = write_refs(&recipe, &self.options, &out, self.parquet_record_size)?;
        Ok(vec![refs_artifact(&references, &out, None)?])
    }

    fn describe(&self, job: &Job, artifacts: &[Artifact]) -> Result<stac::Item> {
        describe_cube(job, artifacts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_is_named_after_what_its_files_share() {
        let p = |names: &[&str]| names.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert_eq!(
            shared_stem(&p(&["a/sst.day.mean.2020.nc", "b/sst.day.mean.2021.nc"])),
            "sst.day.mean"
        );
        assert_eq!(shared_stem(&p(&["x/only.nc"])), "only");
        assert_eq!(
            shared_stem(&p(&[
                "oisst-avhrr-v02r01.20220913.nc",
                "oisst-avhrr-v02r01.20220914.nc"
            ])),
            "oisst-avhrr-v02r01"
        );
        assert_eq!(shared_stem(&p(&["air_time1.nc", "air_time2.nc"])), "air");
        assert_eq!(shared_stem(&p(&["2020.nc", "2021.nc"])), "cube");
    }
}
