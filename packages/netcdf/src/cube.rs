//! The `netcdf-zarr` and `netcdf-refs` packages: a NetCDF/HDF5 file series
//! combined along time into one Zarr store, or into kerchunk references to
//! the files' own chunks; one unit (all the sources) and one item per run,
//! described with the datacube extension from the output's
//! [`CubeProfile`](stacforge_core::CubeProfile).
//!
//! `stacforge netcdf to-zarr` and `to-refs` are front ends over the same
//! functions ([`write_store`], [`write_refs`], [`describe_cube`]), adding
//! appends and outputs outside a catalog.

use stacforge_array::recipe::{self, Recipe};
use stacforge_array::refs::{self, RefOptions, References};
use stacforge_core::cube::{cube_item, metadata_document, REFERENCES_MEDIA_TYPE, ZARR_MEDIA_TYPE};
use stacforge_core::{Artifact, Error, Job, Package, Result, Unit};
use std::path::{Path, PathBuf};

fn array_err(e: stacforge_array::Error) -> Error {
    Error::Convert(Box::new(e))
}

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

/// Writes a new store at `out` from `recipe`, printing the plan's warnings;
/// returns what was written.
pub fn write_store(recipe: &Recipe, out: &Path, overwrite: bool) -> Result<recipe::Outcome> {
    let plan = recipe::plan(recipe).map_err(array_err)?;
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    let outcome = recipe::write(&plan, recipe, out, overwrite, &|line| eprintln!("  {line}"))
        .map_err(array_err)?;
    report_left_out(&outcome.left_out);
    Ok(outcome)
}

/// Lists the sources `--skip-bad` left out, one line each.
pub fn report_left_out(left_out: &[(PathBuf, String)]) {
    for (path, reason) in left_out {
        eprintln!("SKIPPED {}: {reason}", path.display());
    }
    if !left_out.is_empty() {
        eprintln!("{} bad source(s) left out (--skip-bad)", left_out.len());
    }
}

/// The artifact of the store at `store` (its size and checksum those of
/// its consolidated metadata), with its cube profile; `href` where the
/// item should point when the store is not published beside it.
pub fn store_artifact(store: &Path, href: Option<String>) -> Result<Artifact> {
    let profile = stacforge_array::cube::of_store(store).map_err(array_err)?;
    let document = metadata_document(store).ok_or_else(|| {
        array_err(stacforge_array::Error::Store {
            store: store.to_path_buf(),
            message: "it has no consolidated metadata (zarr.json or .zmetadata)".into(),
        })
    })?;
    let mut artifact =
        Artifact::from_dir("zarr", store, document, ZARR_MEDIA_TYPE, &["data", "zarr"])?;
    artifact.cube = Some(profile);
    artifact.href = href;
    Ok(artifact)
}

/// Writes references built from `recipe` at `out` (kerchunk JSON, or a
/// Parquet directory when `record_size` is given); returns them.
pub fn write_refs(
    recipe: &Recipe,
    options: &RefOptions,
    out: &Path,
    record_size: Option<usize>,
) -> Result<(References, recipe::Plan)> {
    let (references, plan) = refs::references(recipe, options).map_err(array_err)?;
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    report_left_out(&plan.skipped);
    save_refs(&references, out, record_size)?;
    Ok((references, plan))
}

/// Saves references at `out`: kerchunk JSON (atomically), or a Parquet
/// reference set when `record_size` is given.
pub fn save_refs(references: &References, out: &Path, record_size: Option<usize>) -> Result<()> {
    match record_size {
        Some(n) => refs::write_parquet(references, out, n.max(1)).map_err(array_err),
        None => {
            let text = serde_json::to_vec(&references.to_json())
                .map_err(|e| Error::Convert(Box::new(e)))?;
            stacforge_array::zarr::write_atomic(out, &text).map_err(array_err)
        }
    }
}

/// The artifact of references saved at `origin` (their size and checksum:
/// the JSON file's, or a Parquet set's `.zmetadata`), with their profile.
pub fn refs_artifact(
    references: &References,
    origin: &Path,
    href: Option<String>,
) -> Result<Artifact> {
    let profile = stacforge_array::cube::of_refs(references, origin).map_err(array_err)?;
    let roles = &["data", "references", "index"];
    let mut artifact = if origin.is_dir() {
        Artifact::from_dir(
            "references",
            origin,
            origin.join(".zmetadata"),
            REFERENCES_MEDIA_TYPE,
            roles,
        )?
    } else {
        Artifact::from_file("references", origin, REFERENCES_MEDIA_TYPE, roles)?
    };
    artifact.cube = Some(profile);
    artifact.href = href;
    Ok(artifact)
}

/// The item of a cube artifact (see [`cube_item`]); opens no file.
pub fn describe_cube(job: &Job, artifacts: &[Artifact]) -> Result<stac::Item> {
    let artifact = artifacts
        .iter()
        .find(|a| a.cube.is_some())
        .ok_or_else(|| Error::Profile {
            key: artifacts.first().map(|a| a.key.clone()).unwrap_or_default(),
            expected: "cube",
        })?;
    cube_item(job, artifact)
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
