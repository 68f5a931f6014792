//! The run loop every front end shares: a [`Package`] over many sources,
//! into a [`Catalog`].
//!
//! The package plans the sources into units ([`Package::plan`]: one item
//! each; one source per unit by default, a whole file series for a cube).
//! For each unit, on a pool of threads (one per core unless told
//! otherwise): read its sources (a `.json` source is a STAC item whose data
//! asset is converted), check its item id, convert it in a private work
//! directory, describe it, make sure of its provenance (a `via` link to
//! every source, unless the package linked the ones it used), and write
//! the item after its assets. One bad unit never spoils the others: each
//! gets its own [`UnitOutcome`]. The collection is
//! rewritten last from every item in the catalog, unless every unit failed
//! (the catalog is then left as it was).
//!
//! ```no_run
//! # fn demo(package: &dyn stacforge_core::Package) -> Result<(), stacforge_runner::Error> {
//! use stacforge_catalog::Catalog;
//! use stacforge_runner::{run, RunOptions};
//! let catalog = Catalog::open("catalog/")?;
//! let options = RunOptions::new(package.id());
//! let report = run(package, &["scene.tif".into()], &catalog, &options, &|_, _, _| {})?;
//! assert_eq!(report.failed().count(), 0);
//! # Ok(()) }
//! ```

#[cfg(feature = "testing")]
pub mod conformance;

use rayon::prelude::*;
use stacforge_catalog::Catalog;
use stacforge_core::{package::validate_id, Job, Package, Source, Timing, Unit};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// What can go wrong for one source, or for the run. Each names its source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two sources of the batch would get the same item id.
    #[error("{}: its item id {id:?} is already taken by {} in this batch; rename one of them", source_path.display(), first.display())]
    DuplicateId {
        /// The later source.
        source_path: PathBuf,
        /// The id.
        id: String,
        /// The source that keeps it.
        first: PathBuf,
    },
    /// The id derived from the source cannot name an item.
    #[error("{}: unusable item id: {reason}", source_path.display())]
    UnusableId {
        /// The source.
        source_path: PathBuf,
        /// Why.
        reason: stacforge_core::Error,
    },
    /// A STAC item given as a source could not be used.
    #[error("{}: {reason}", source_path.display())]
    ItemSource {
        /// The item file.
        source_path: PathBuf,
        /// Why.
        reason: stacforge_catalog::Error,
    },
    /// The package failed to read, convert or describe the source.
    #[error(transparent)]
    Package(#[from] stacforge_core::Error),
    /// Writing to the catalog failed.
    #[error("{}: publishing the item: {reason}", source_path.display())]
    Publish {
        /// The source.
        source_path: PathBuf,
        /// Why.
        reason: stacforge_catalog::Error,
    },
    /// The catalog itself (its collection, its listing) failed.
    #[error(transparent)]
    Catalog(#[from] stacforge_catalog::Error),
    /// The work directory or the thread pool could not be set up.
    #[error("{what}: {source}")]
    Setup {
        /// What was being set up.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// How to run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// The collection the items belong to.
    pub collection_id: String,
    /// A datetime for every item, overriding the sources' own.
    pub datetime: Option<Timing>,
    /// Sources converted at once; one per core when `None`.
    pub jobs: Option<usize>,
}

impl RunOptions {
    /// Options for a collection, everything else by default.
    pub fn new(collection_id: &str) -> RunOptions {
        RunOptions {
            collection_id: collection_id.to_string(),
            datetime: None,
            jobs: None,
        }
    }
}

/// What happened to one unit (one item's sources).
#[derive(Debug)]
pub struct UnitOutcome {
    /// The unit's sources as given.
    pub sources: Vec<PathBuf>,
    /// Where its item was written, or why not.
    pub result: Result<String, Error>,
    /// Wall-clock seconds it took.
    pub seconds: f64,
}

impl UnitOutcome {
    /// The unit's first source, and how many others it has, for messages.
    pub fn label(&self) -> String {
        let first = self
            .sources
            .first()
            .map(|s| s.display().to_string())
            .unwrap_or_default();
        match self.sources.len() {
            0 | 1 => first,
            n => format!("{first} and {} more", n - 1),
        }
    }
}

/// What a run did.
#[derive(Debug)]
pub struct Report {
    /// One outcome per unit, in the order planned.
    pub outcomes: Vec<UnitOutcome>,
    /// Items the collection lists after the run.
    pub items: usize,
}

impl Report {
    /// The units that failed.
    pub fn failed(&self) -> impl Iterator<Item = &UnitOutcome> {
        self.outcomes.iter().filter(|o| o.result.is_err())
    }
}

/// Called as each unit finishes: how many have, of how many, and how.
pub type Progress<'a> = &'a (dyn Fn(usize, usize, &UnitOutcome) + Sync);

/// Runs `package` over `sources` into `catalog` (see the crate docs).
pub fn run(
    package: &dyn Package,
    sources: &[PathBuf],
    catalog: &Catalog,
    options: &RunOptions,
    progress: Progress,
) -> Result<Report, Error> {
    validate_id(&options.collection_id)?;
    let units = package.plan(sources)?;
    let staging = stacforge_core::fs::work_dir().map_err(|source| Error::Setup {
        what: "creating a staging directory".into(),
        source,
    })?;
    let duplicates = duplicate_ids(&units);
    let total = units.len();
    let finished = AtomicUsize::new(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs.unwrap_or(0))
        .build()
        .map_err(|e| Error::Setup {
            what: "starting the worker threads".into(),
            source: std::io::Error::other(e),
        })?;
    let outcomes: Vec<UnitOutcome> = pool.install(|| {
        units
            .par_iter()
            .enumerate()
            .map(|(i, unit)| {
                let started = Instant::now();
                let result = match duplicates.get(&i) {
                    Some((id, first)) => Err(Error::DuplicateId {
                        source_path: unit.sources.first().cloned().unwrap_or_default(),
                        id: id.clone(),
                        first: first.clone(),
                    }),
                    None => {
                        let workdir = staging.path().join(i.to_string());
                        let result = process(package, catalog, unit, workdir.clone(), options);
                        let _ = std::fs::remove_dir_all(&workdir);
                        result
                    }
                };
                let outcome = UnitOutcome {
                    sources: unit.sources.clone(),
                    result,
                    seconds: started.elapsed().as_secs_f64(),
                };
                progress(
                    finished.fetch_add(1, Ordering::Relaxed) + 1,
                    total,
                    &outcome,
                );
                outcome
            })
            .collect()
    });
    let all_failed = total > 0 && outcomes.iter().all(|o| o.result.is_err());
    let items = if all_failed {
        catalog.items()?.len()
    } else {
        let collection = package.collection_for(&options.collection_id)?;
        let written = catalog.write_collection(collection)?;
        written.links.iter().filter(|l| l.is_item()).count()
    };
    Ok(Report { outcomes, items })
}

/// Units whose item id an earlier unit of the batch already takes:
/// index → (id, the earlier unit's first source). The first keeps the id.
fn duplicate_ids(units: &[Unit]) -> HashMap<usize, (String, PathBuf)> {
    let mut first_by_id: HashMap<String, PathBuf> = HashMap::new();
    let mut duplicates = HashMap::new();
    for (i, unit) in units.iter().enumerate() {
        let id = planned_id(unit);
        let first = unit.sources.first().cloned().unwrap_or_default();
        match first_by_id.get(&id) {
            Some(earlier) => {
                duplicates.insert(i, (id, earlier.clone()));
            }
            None => {
                first_by_id.insert(id, first);
            }
        }
    }
    duplicates
}

/// The one STAC item a unit was given as, if it is one.
fn stac_item_source(unit: &Unit) -> Option<&Path> {
    match unit.sources.as_slice() {
        [only]
            if only
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json")) =>
        {
            Some(only)
        }
        _ => None,
    }
}

/// The id the unit's item will get (a STAC item source keeps its id); a
/// source that cannot be read keeps its path, and fails later with a reason.
fn planned_id(unit: &Unit) -> String {
    match stac_item_source(unit) {
        Some(src) => stacforge_catalog::source::from_stac_item(src)
            .map(|s| s.id)
            .unwrap_or_else(|_| src.display().to_string()),
        None => unit.item_id.clone(),
    }
}

/// Converts, describes and writes one unit; returns the item's location.
fn process(
    package: &dyn Package,
    catalog: &Catalog,
    unit: &Unit,
    workdir: PathBuf,
    options: &RunOptions,
) -> Result<String, Error> {
    let first = unit.sources.first().cloned().unwrap_or_default();
    let (sources, item_id, derived_from) = match stac_item_source(unit) {
        Some(src) => {
            let found = stacforge_catalog::source::from_stac_item(src).map_err(|reason| {
                Error::ItemSource {
                    source_path: src.to_path_buf(),
                    reason,
                }
            })?;
            (
                vec![Source::from_path(&found.asset_path)?],
                found.id,
                Some(found.item_href),
            )
        }
        None => (
            unit.sources
                .iter()
                .map(Source::from_path)
                .collect::<Result<Vec<_>, _>>()?,
            unit.item_id.clone(),
            None,
        ),
    };
    if sources.is_empty() {
        return Err(Error::Package(stacforge_core::Error::Plan {
            reason: format!("unit {item_id:?} has no sources"),
        }));
    }
    validate_id(&item_id).map_err(|reason| Error::UnusableId {
        source_path: first.clone(),
        reason,
    })?;
    if package.writes_files() {
        std::fs::create_dir_all(&workdir).map_err(|source| Error::Setup {
            what: format!("creating the staging directory {}", workdir.display()),
            source,
        })?;
    }
    let job = Job {
        sources,
        item_id,
        collection_id: options.collection_id.clone(),
        workdir,
        datetime: options.datetime,
        derived_from,
    };
    let artifacts = package.convert(&job)?;
    let mut item = package.describe(&job, &artifacts)?;
    stacforge_core::provenance::ensure_sources(&mut item, &job);
    let item = catalog
        .write_item(item, &artifacts)
        .map_err(|reason| Error::Publish {
            source_path: first,
            reason,
        })?;
    Ok(format!(
        "{}/{}",
        catalog.location(),
        stacforge_catalog::layout::item_path(&item.id)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_source_keeps_an_id_the_others_are_named() {
        let sources: Vec<PathBuf> = ["a/scene.tif", "b/scene.tif", "c/other.tif", "d/scene.TIF"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let units: Vec<Unit> = sources.iter().map(|s| Unit::of_file(s)).collect();
        let duplicates = duplicate_ids(&units);
        assert_eq!(duplicates.len(), 2);
        assert_eq!(
            duplicates[&1],
            ("scene".into(), PathBuf::from("a/scene.tif"))
        );
        assert_eq!(
            duplicates[&3],
            ("scene".into(), PathBuf::from("a/scene.tif"))
        );
        let message = Error::DuplicateId {
            source_path: sources[1].clone(),
            id: "scene".into(),
            first: sources[0].clone(),
        }
        .to_string();
        assert_eq!(
            message,
            "b/scene.tif: its item id \"scene\" is already taken by a/scene.tif in this batch; rename one of them"
        );
    }
}
