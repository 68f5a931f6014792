//! The `cmip6` package: CMIP6 model output as ESGF publishes it, one unit
//! per dataset.
//!
//! - [`drs`]: a file's facets from its DRS name and directories; files are
//!   grouped into datasets (`CMIP6.<activity>.<institution>.<source>.
//!   <experiment>.<member>.<table>.<variable>.<grid>[.<version>]`), one
//!   unit and one item each.
//! - [`check`]: before anything is written, every file's name must agree
//!   with its global attributes, and the files of a dataset must follow one
//!   another in time (no gap, no overlap) with one calendar, one set of
//!   units and one data type; a refusal names both files.
//! - Each dataset becomes one Zarr store (default) or kerchunk references
//!   (JSON or Parquet) through the array engine, which keeps CF calendars
//!   and 2-D (curvilinear) coordinates as they are; the item carries the
//!   CMIP6 extension's fields from the global attributes, the datacube
//!   extension, and a `via` link to every file with its size, checksum and
//!   ESGF `tracking_id`.

pub mod check;
pub mod drs;
pub mod errata;
pub mod facets;

use stacforge_array::cube::{
    describe_cube, refs_artifact, store_artifact, write_refs, write_store,
};
use stacforge_array::recipe::Recipe;
use stacforge_array::refs::RefOptions;
use stacforge_array::subset::{subset_store, Selection};
use stacforge_core::{Artifact, Job, Package, Result, Unit};
use std::collections::BTreeMap;
use std::path::PathBuf;

const COLLECTION: &str = include_str!("../data/collection.json");

/// The CMIP6 extension's schema.
pub const EXTENSION: &str = "https://stac-extensions.github.io/cmip6/v2.0.0/schema.json";

/// What each dataset becomes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Format {
    /// A Zarr store (the recipe's Zarr version).
    #[default]
    Zarr,
    /// Kerchunk references in one JSON file.
    Json,
    /// Kerchunk references in fsspec's Parquet layout, this many rows a file.
    Parquet(usize),
}

/// The cmip6 package.
#[derive(Debug, Clone, Default)]
pub struct Cmip6 {
    recipe: Recipe,
    format: Format,
    refs: RefOptions,
    selection: Selection,
}

impl Cmip6 {
    /// The package writing `format`, combining each dataset's files with
    /// `recipe` (its sources are set for each unit) and writing references
    /// with `refs`.
    pub fn new(recipe: Recipe, format: Format, refs: RefOptions) -> Cmip6 {
        Cmip6 {
            recipe,
            format,
            refs,
            selection: Selection::default(),
        }
    }

    /// The package writing only `selection` of each dataset (a Zarr
    /// store: references point at whole chunks of the files).
    pub fn with_selection(mut self, selection: Selection) -> Cmip6 {
        self.selection = selection;
        self
    }
}

impl Cmip6 {
    /// The dataset's Zarr store in the job's work directory: appended to
    /// (the published store, when the dataset grew), cut to the selection,
    /// or written whole.
    fn write_zarr(&self, job: &Job, recipe: &Recipe, dataset: &check::Dataset) -> Result<Artifact> {
        let store = job.workdir.join(format!("{}.zarr", job.item_id));
        let previous = (job.previous.as_ref())
            .map(|dir| dir.join(format!("{}.zarr", job.item_id)))
            .filter(|p| p.join("zarr.json").is_file() || p.join(".zmetadata").is_file());
        let growth = match &previous {
            Some(p) if self.selection.is_empty() && !dataset.fixed => grows(p, job, recipe)?,
            _ => false,
        };
        match previous {
            Some(previous) if growth => append_to(&previous, &store, recipe, &job.item_id)?,
            _ if !self.selection.is_empty() => {
                // The whole dataset first, then the selection of it.
                let whole = job.workdir.join(".whole.zarr");
                write_store(recipe, &whole, false)?;
                subset_store(&whole, &store, &self.selection).map_err(err)?;
                let _ = std::fs::remove_dir_all(&whole);
            }
            _ => {
                write_store(recipe, &store, false)?;
            }
        }
        store_artifact(&store, None)
    }
}

/// Whether the job's files only add to the published store `previous`:
/// it has the requested Zarr version, and every file the store records is
/// either given unchanged or not given at all. A recorded file given with
/// other bytes is refused unless every recorded file is given (then the
/// store is written again from them).
fn grows(previous: &std::path::Path, job: &Job, recipe: &Recipe) -> Result<bool> {
    let meta = stacforge_array::zarr::StoreMeta::read(previous).map_err(err)?;
    if meta.version != recipe.version {
        return Ok(false);
    }
    let record = stacforge_array::recipe::store_record(&meta, previous).map_err(err)?;
    let name = |href: &str| href.rsplit('/').next().unwrap_or(href).to_string();
    for recorded in &record.sources {
        let given = (job.sources.iter()).find(|s| name(&s.href) == name(&recorded.href));
        match given {
            None => {}
            Some(s) if s.checksum == recorded.checksum => {}
            Some(s) => {
                if record
                    .sources
                    .iter()
                    .all(|r| job.sources.iter().any(|s| name(&s.href) == name(&r.href)))
                {
                    return Ok(false); // every file given: written again
                }
                return Err(stacforge_core::Error::Plan {
                    reason: format!(
                        "{}: it changed since the published store {} was written from it (its checksum differs); give all the dataset's files to write the store again",
                        s.path.display(),
                        previous.display()
                    ),
                });
            }
        }
    }
    Ok(true)
}

/// The dataset grew: its published store `previous`, linked at `store`
/// (stores' files are replaced by renaming, never rewritten, so the
/// published one is untouched), with only the new files appended; a file
/// before the store's end is refused.
fn append_to(
    previous: &std::path::Path,
    store: &std::path::Path,
    recipe: &Recipe,
    id: &str,
) -> Result<()> {
    stacforge_core::fs::link_tree(previous, store).map_err(|source| stacforge_core::Error::Io {
        path: previous.to_path_buf(),
        source,
    })?;
    let outcome = stacforge_array::recipe::append(recipe, store, &|_| {}).map_err(|e| {
        // Named by the published store, not its staged copy.
        let said = (e.to_string()).replace(
            &store.display().to_string(),
            &previous.display().to_string(),
        );
        stacforge_core::Error::Plan {
            reason: format!("{said} (a run can only add files after the dataset's end; to rebuild it, run into a new --out)"),
        }
    })?;
    eprintln!(
        "{id}: {} new file(s) appended to the published store, {} already in it",
        outcome.written.len(),
        outcome.skipped.len()
    );
    Ok(())
}

/// A package or engine error, as the run loop reports it.
pub(crate) fn err<E: std::error::Error + Send + Sync + 'static>(e: E) -> stacforge_core::Error {
    stacforge_core::Error::Convert(Box::new(e))
}

impl Package for Cmip6 {
    fn id(&self) -> &'static str {
        "cmip6"
    }

    fn title(&self) -> &'static str {
        "CMIP6 model output from ESGF: one Zarr store (or references) and one item per dataset, from DRS names and global attributes"
    }

    fn collection(&self) -> Result<stac::Collection> {
        stacforge_core::package::static_collection("cmip6", COLLECTION)
    }

    /// One unit per dataset, its files in time order. A file whose name is
    /// not a DRS name, or whose dataset cannot be told, is a unit of its
    /// own, refused when it is converted (so it spoils no other dataset).
    fn plan(&self, sources: &[PathBuf]) -> Result<Vec<Unit>> {
        if sources.is_empty() {
            return Err(stacforge_core::Error::Plan {
                reason: "no sources were given".into(),
            });
        }
        let mut datasets: BTreeMap<String, Vec<(String, PathBuf)>> = BTreeMap::new();
        for source in sources {
            let (id, order) = match check::dataset_of(source) {
                Ok((id, name)) => {
                    let start = name.time_range.map(|(s, _)| s).unwrap_or_default();
                    (id, start)
                }
                Err(_) => (unit_id_of_unknown(source), String::new()),
            };
            datasets
                .entry(id)
                .or_default()
                .push((order, source.clone()));
        }
        Ok(datasets
            .into_iter()
            .map(|(item_id, mut files)| {
                files.sort();
                files.dedup_by(|a, b| a.1 == b.1);
                Unit {
                    item_id,
                    sources: files.into_iter().map(|(_, p)| p).collect(),
                }
            })
            .collect())
    }

    /// The dataset checked, then one Zarr store (or references) of its
    /// files in the job's work directory; the item's CMIP6 fields ride
    /// along in the artifact.
    fn convert(&self, job: &Job) -> Result<Vec<Artifact>> {
        let paths: Vec<PathBuf> = job.sources.iter().map(|s| s.path.clone()).collect();
        let dataset = check::dataset(&paths).map_err(err)?;
        let recipe = Recipe {
            sources: paths,
            // Fixed fields have no time to combine along.
            concat_dim: if dataset.fixed {
                None
            } else {
                self.recipe.concat_dim.clone()
            },
            ..self.recipe.clone()
        };
        let subset = !self.selection.is_empty();
        if subset && self.format != Format::Zarr {
            return Err(stacforge_core::Error::Plan {
                reason: "--bbox, --time and --level write a Zarr store (references point at whole chunks of the files); drop --format".into(),
            });
        }
        let mut artifact = match self.format {
            Format::Zarr => self.write_zarr(job, &recipe, &dataset)?,
            Format::Json | Format::Parquet(_) => {
                let (name, rows) = match self.format {
                    Format::Parquet(rows) => (format!("{}.refs.parq", job.item_id), Some(rows)),
                    _ => (format!("{}.refs.json", job.item_id), None),
                };
                let out = job.workdir.join(name);
                let (references, _) = write_refs(&recipe, &self.refs, &out, rows)?;
                refs_artifact(&references, &out, None)?
            }
        };
        artifact.properties = facets::properties(&dataset);
        if subset {
            artifact
                .properties
                .insert(facets::SUBSET.into(), self.selection.describe().into());
        }
        artifact.key = "data".into();
        Ok(vec![artifact])
    }

    /// The item from the artifact's cube profile and the CMIP6 fields: no
    /// file is opened.
    fn describe(&self, job: &Job, artifacts: &[Artifact]) -> Result<stac::Item> {
        let mut job = job.clone();
        let properties = artifacts
            .first()
            .map(|a| a.properties.clone())
            .unwrap_or_default();
        // A fixed field has no time axis: it is dated by its creation.
        if job.datetime.is_none() {
            job.datetime = facets::fixed_field_datetime(&properties)?;
        }
        let mut item = describe_cube(&job, artifacts)?;
        facets::apply(&mut item, &job, properties);
        Ok(item)
    }
}

/// The unit id of a file that names no dataset: its file stem.
fn unit_id_of_unknown(path: &std::path::Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "unknown".into())
}
