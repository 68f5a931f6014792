//! The run loop every front end shares: a [`Package`] over many sources,
//! into a [`Catalog`].
//!
//! The package plans the sources into units ([`Package::plan`]: one item
//! each; one source per unit by default, a whole file series for a cube).
//! A shard ([`Shard`]) keeps only its own units. Worker threads (one per
//! core unless told otherwise) take the units one at a time: a unit the
//! [`ledger`] shows finished (same sources, package, version and options,
//! its item in place) is skipped; any other is read (a `.json` source is a
//! STAC item whose data asset is converted), its item id checked,
//! converted in a private work directory, described, given its provenance
//! (a `via` link to every source, unless the package linked the ones it
//! used), and written: assets, then the item, then its ledger entry. A
//! failure that may be transient (the network, a timeout) is retried with
//! backoff; one that stays is recorded and the run goes on (or stops
//! starting units, with [`RunOptions::fail_fast`]). Outcomes stream to the
//! caller's progress callback and are not kept: memory does not grow with
//! the number of sources beyond their names and ids.
//!
//! Last, the collection is rewritten from every item in the catalog (its
//! extents, summaries and item assets from the ledger's summaries), unless
//! every unit failed or the run is a shard (then [`finalize`] does it once
//! all shards are done), and the [`RunReport`] is written beside it.
//!
//! ```no_run
//! # fn demo(package: &dyn stacforge_core::Package) -> Result<(), stacforge_runner::Error> {
//! use stacforge_catalog::Catalog;
//! use stacforge_runner::{run, RunOptions};
//! let catalog = Catalog::open("catalog/")?;
//! let options = RunOptions::new(package.id());
//! let report = run(package, &["scene.tif".into()], &catalog, &options, &|_, _| {})?;
//! assert_eq!(report.run.units.failed, 0);
//! # Ok(()) }
//! ```

#[cfg(feature = "testing")]
pub mod conformance;

pub mod ledger;
pub mod report;
pub mod shard;

pub use ledger::RunKey;
pub use report::{Counts, Failure, RunReport, REPORT};
pub use shard::Shard;

use stacforge_catalog::{layout::item_path, summary::ItemSummary, Catalog};
use stacforge_core::{package::validate_id, Job, Package, Source, Timing, Unit};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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
    /// A run report could not be read or found.
    #[error("{location}: {reason}")]
    Report {
        /// Where it was looked for.
        location: String,
        /// Why.
        reason: String,
    },
    /// The package panicked on the source (a bug in the package, recorded
    /// like any failure so the other sources still run).
    #[error("{}: the package failed unexpectedly: {message}", source_path.display())]
    Panic {
        /// The unit's first source.
        source_path: PathBuf,
        /// The panic's message.
        message: String,
    },
    /// The work directory or the thread pool could not be set up.
    #[error("{what}: {source}")]
    Setup {
        /// What was being set up.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl Error {
    /// Whether trying the unit again may succeed (the network, a timeout).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Publish { reason, .. } | Error::Catalog(reason) => reason.is_transient(),
            Error::Package(stacforge_core::Error::Io { source, .. }) => {
                stacforge_catalog::transient_io(source)
            }
            _ => false,
        }
    }
}

/// How to run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// The collection the items belong to.
    pub collection_id: String,
    /// A datetime for every item, overriding the sources' own.
    pub datetime: Option<Timing>,
    /// Units converted at once; one per core when `None`.
    pub jobs: Option<usize>,
    /// The package's version, recorded in the ledger (a new version redoes
    /// every unit).
    pub version: String,
    /// The package's options that change outputs, as text (a change redoes
    /// every unit).
    pub options: String,
    /// Only this shard's units; the collection is then left to [`finalize`].
    pub shard: Option<Shard>,
    /// Start no new unit after the first failure.
    pub fail_fast: bool,
    /// Skip units the ledger shows finished (`false` redoes everything).
    pub resume: bool,
    /// Re-hash every source to decide whether it changed, instead of
    /// trusting an unchanged size and modification time.
    pub rehash: bool,
    /// Retries of a unit whose failure may be transient.
    pub retries: u32,
    /// The wait before the first retry; doubled for each further one.
    pub retry_delay: Duration,
    /// The asset the `default` render shows (see
    /// [`stacforge_core::render::default_asset`]); `data` or the first data
    /// asset when `None`.
    pub default_asset: Option<String>,
}

impl RunOptions {
    /// Options for a collection, everything else by default.
    pub fn new(collection_id: &str) -> RunOptions {
        RunOptions {
            collection_id: collection_id.to_string(),
            datetime: None,
            jobs: None,
            version: env!("CARGO_PKG_VERSION").to_string(),
            options: String::new(),
            shard: None,
            fail_fast: false,
            resume: true,
            rehash: false,
            retries: 2,
            retry_delay: Duration::from_millis(500),
            default_asset: None,
        }
    }

    /// What the ledger compares, for this package.
    pub fn key(&self, package: &dyn Package) -> RunKey {
        let datetime = self
            .datetime
            .map(|t| format!(" --datetime {t:?}"))
            .unwrap_or_default();
        RunKey {
            package: package.id().to_string(),
            version: self.version.clone(),
            collection: self.collection_id.clone(),
            options: format!("{}{datetime}", self.options),
        }
    }
}

/// How a unit that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// Converted and written.
    Written,
    /// Finished by an earlier run, per the ledger: left as it was.
    Skipped,
}

/// What happened to one unit (one item's sources).
#[derive(Debug)]
pub struct UnitOutcome {
    /// The item it writes.
    pub item_id: String,
    /// The unit's sources as given.
    pub sources: Vec<PathBuf>,
    /// How it ended and where its item is, or why it failed.
    pub result: Result<(Done, String), Error>,
    /// Wall-clock seconds it took.
    pub seconds: f64,
    /// Bytes of sources it read.
    pub bytes: u64,
    /// How many times it was tried (0 when skipped).
    pub attempts: u32,
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

/// The run so far, as each unit finishes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Units this run is responsible for.
    pub total: usize,
    /// Units finished, however they ended.
    pub finished: usize,
    /// Written.
    pub written: usize,
    /// Skipped (done before).
    pub skipped: usize,
    /// Failed.
    pub failed: usize,
    /// Bytes of sources read.
    pub bytes: u64,
}

/// What a run did.
#[derive(Debug)]
pub struct Report {
    /// The report written at the output location.
    pub run: RunReport,
    /// Items in the catalog after the run.
    pub items: usize,
}

/// Called as each unit finishes, with the run so far.
pub type Progress<'a> = &'a (dyn Fn(&Tally, &UnitOutcome) + Sync);

/// A unit as a dry run sees it.
#[derive(Debug)]
pub struct PlannedUnit {
    /// The item it would write.
    pub item_id: String,
    /// Its sources.
    pub sources: Vec<PathBuf>,
    /// Their total size.
    pub bytes: u64,
    /// What a run would do with it.
    pub action: Action,
}

/// What a run would do with a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Convert it, and why (not done before, a source changed, …).
    Convert(String),
    /// Skip it: finished by an earlier run.
    Skip,
    /// Nothing: it cannot be done, and why (a source cannot be opened, …).
    Refuse(String),
}

/// The units and ids a run works on, planned once.
struct Plan {
    units: Vec<Unit>,
    ids: Vec<String>,
    duplicates: HashMap<usize, (String, PathBuf)>,
    assigned: Vec<usize>,
}

fn plan(package: &dyn Package, sources: &[PathBuf], options: &RunOptions) -> Result<Plan, Error> {
    validate_id(&options.collection_id)?;
    let units = package.plan(sources)?;
    let ids: Vec<String> = units.iter().map(planned_id).collect();
    let duplicates = duplicate_ids(&units, &ids);
    let assigned = (0..units.len())
        .filter(|&i| options.shard.is_none_or(|s| s.contains(&ids[i])))
        .collect();
    Ok(Plan {
        units,
        ids,
        duplicates,
        assigned,
    })
}

/// Runs `package` over `sources` into `catalog` (see the crate docs).
pub fn run(
    package: &dyn Package,
    sources: &[PathBuf],
    catalog: &Catalog,
    options: &RunOptions,
    progress: Progress,
) -> Result<Report, Error> {
    let started = chrono::Utc::now();
    let key = options.key(package);
    let plan = plan(package, sources, options)?;
    let staging = stacforge_core::fs::work_dir().map_err(|source| Error::Setup {
        what: "creating a staging directory".into(),
        source,
    })?;
    let threads = options
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, plan.assigned.len().max(1));
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut tally = Tally {
        total: plan.assigned.len(),
        ..Tally::default()
    };
    let mut failures = Vec::new();
    std::thread::scope(|scope| {
        let (sender, outcomes) = std::sync::mpsc::sync_channel::<UnitOutcome>(64);
        for _ in 0..threads {
            let sender = sender.clone();
            let (plan, next, stop, key, staging) = (&plan, &next, &stop, &key, &staging);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Some(&i) = plan.assigned.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    let workdir = staging.path().join(i.to_string());
                    let outcome = unit(package, catalog, plan, i, key, workdir, options);
                    if outcome.result.is_err() && options.fail_fast {
                        stop.store(true, Ordering::Relaxed);
                    }
                    if sender.send(outcome).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        for outcome in outcomes {
            tally.finished += 1;
            tally.bytes += outcome.bytes;
            match &outcome.result {
                Ok((Done::Written, _)) => tally.written += 1,
                Ok((Done::Skipped, _)) => tally.skipped += 1,
                Err(e) => {
                    tally.failed += 1;
                    failures.push(Failure {
                        item_id: outcome.item_id.clone(),
                        sources: outcome
                            .sources
                            .iter()
                            .map(|s| s.display().to_string())
                            .collect(),
                        error: describe_error(e),
                        attempts: outcome.attempts,
                    });
                }
            }
            progress(&tally, &outcome);
        }
    });
    let all_failed = tally.failed > 0 && tally.written + tally.skipped == 0;
    let items = if options.shard.is_some() || all_failed {
        catalog.item_documents()?.len()
    } else {
        write_collection(package, catalog, &options.collection_id)?
    };
    let run = RunReport {
        stacforge: env!("CARGO_PKG_VERSION").to_string(),
        key,
        shard: options.shard,
        shards: Vec::new(),
        started,
        finished: chrono::Utc::now(),
        units: Counts {
            planned: plan.units.len(),
            assigned: plan.assigned.len(),
            written: tally.written,
            skipped: tally.skipped,
            failed: tally.failed,
            not_run: tally.total - tally.finished,
        },
        bytes_read: tally.bytes,
        failures,
    };
    run.write(catalog)?;
    Ok(Report { run, items })
}

/// Plans a run without writing anything: each unit of the shard, with
/// what a run would do with it, passed to `each` as it is looked at.
/// Returns how many units there are in all (planned, before sharding).
pub fn dry_run(
    package: &dyn Package,
    sources: &[PathBuf],
    catalog: &Catalog,
    options: &RunOptions,
    each: &mut dyn FnMut(PlannedUnit),
) -> Result<usize, Error> {
    let key = options.key(package);
    let plan = plan(package, sources, options)?;
    for &i in &plan.assigned {
        let unit = &plan.units[i];
        let bytes = unit
            .sources
            .iter()
            .filter_map(|s| std::fs::metadata(s).ok())
            .map(|m| m.len())
            .sum();
        let action = match plan.duplicates.get(&i) {
            Some((id, first)) => Action::Refuse(format!(
                "its item id {id:?} is already taken by {}",
                first.display()
            )),
            None => match package.check(&unit.sources) {
                Err(e) => Action::Refuse(describe_error(&e)),
                Ok(()) => {
                    let entry = ledger::read(catalog, &plan.ids[i])?;
                    match ledger::needs_work(
                        entry.as_ref(),
                        &key,
                        &unit.sources,
                        catalog,
                        options.rehash,
                    ) {
                        Ok(None) if options.resume => Action::Skip,
                        Ok(None) => Action::Convert("everything is redone".into()),
                        Ok(Some(reason)) => Action::Convert(reason),
                        Err(e) => Action::Refuse(describe_error(&e)),
                    }
                }
            },
        };
        each(PlannedUnit {
            item_id: plan.ids[i].clone(),
            sources: unit.sources.clone(),
            bytes,
            action,
        });
    }
    Ok(plan.units.len())
}

/// Writes the collection from every item in the catalog, taking each
/// item's summary from its ledger entry where the entry matches the item
/// document (reading the item otherwise). Returns how many items it lists.
pub fn write_collection(
    package: &dyn Package,
    catalog: &Catalog,
    collection_id: &str,
) -> Result<usize, Error> {
    let collection = package.collection_for(collection_id)?;
    Ok(catalog.write_collection_with(collection, &|id, size| {
        ledger::read(catalog, id)
            .ok()
            .flatten()
            .filter(|e| e.item_size == size)
            .map(|e| e.summary)
    })?)
}

/// After the shards of a run have all ended: gathers their reports into
/// `run-report.json` and writes the collection from every item (see
/// [`write_collection`]). `package` finds the package by its id (the
/// reports name it). Returns the gathered report and the item count.
pub fn finalize(
    catalog: &Catalog,
    package: &dyn Fn(&str) -> Option<Box<dyn Package>>,
) -> Result<(RunReport, usize), Error> {
    let report = match RunReport::gather(catalog)? {
        Some(report) => report,
        None => RunReport::read(catalog, REPORT)?.ok_or_else(|| Error::Report {
            location: catalog.location().to_string(),
            reason: "no run report here: run `stacforge run PACKAGE ... --out` (with --shard K/N) into it first".into(),
        })?,
    };
    let found = package(&report.key.package).ok_or_else(|| Error::Report {
        location: catalog.location().to_string(),
        reason: format!(
            "the runs here used package {:?}, which this stacforge does not have",
            report.key.package
        ),
    })?;
    let items = write_collection(found.as_ref(), catalog, &report.key.collection)?;
    report.write(catalog)?;
    Ok((report, items))
}

/// One unit: skipped when the ledger shows it finished, otherwise tried
/// (retried while its failure may be transient) and recorded.
fn unit(
    package: &dyn Package,
    catalog: &Catalog,
    plan: &Plan,
    i: usize,
    key: &RunKey,
    workdir: PathBuf,
    options: &RunOptions,
) -> UnitOutcome {
    let started = Instant::now();
    let unit = &plan.units[i];
    let item_id = plan.ids[i].clone();
    let mut attempts = 0;
    let mut bytes = 0;
    let result = (|| {
        if let Some((id, first)) = plan.duplicates.get(&i) {
            return Err(Error::DuplicateId {
                source_path: unit.sources.first().cloned().unwrap_or_default(),
                id: id.clone(),
                first: first.clone(),
            });
        }
        if options.resume {
            let entry = ledger::read(catalog, &item_id).map_err(Error::Catalog)?;
            if entry.is_some()
                && ledger::needs_work(entry.as_ref(), key, &unit.sources, catalog, options.rehash)?
                    .is_none()
            {
                let location = format!("{}/{}", catalog.location(), item_path(&item_id));
                return Ok((Done::Skipped, location));
            }
        }
        loop {
            attempts += 1;
            let tried = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                process(package, catalog, unit, workdir.clone(), options, key)
            }))
            .unwrap_or_else(|panic| {
                Err(Error::Panic {
                    source_path: unit.sources.first().cloned().unwrap_or_default(),
                    message: panic_message(&panic),
                })
            });
            let _ = std::fs::remove_dir_all(&workdir);
            match tried {
                Ok((location, read)) => {
                    bytes = read;
                    return Ok((Done::Written, location));
                }
                Err(e) if e.is_transient() && attempts <= options.retries => {
                    std::thread::sleep(options.retry_delay * 2u32.pow(attempts - 1));
                }
                Err(e) => return Err(e),
            }
        }
    })();
    UnitOutcome {
        item_id,
        sources: unit.sources.clone(),
        result,
        seconds: started.elapsed().as_secs_f64(),
        bytes,
        attempts,
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "the package panicked".into())
}

/// An error and its causes on one line, skipping causes whose text the
/// message already contains (object_store and GDAL errors embed their sources).
pub fn describe_error(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    for cause in std::iter::successors(Some(err), |e| e.source()) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause);
        }
    }
    text
}

/// Units whose item id an earlier unit of the batch already takes:
/// index → (id, the earlier unit's first source). The first keeps the id.
fn duplicate_ids(units: &[Unit], ids: &[String]) -> HashMap<usize, (String, PathBuf)> {
    let mut first_by_id: HashMap<&str, usize> = HashMap::with_capacity(ids.len());
    let mut duplicates = HashMap::new();
    for (i, id) in ids.iter().enumerate() {
        match first_by_id.get(id.as_str()) {
            Some(&earlier) => {
                let first = units[earlier].sources.first().cloned().unwrap_or_default();
                duplicates.insert(i, (id.clone(), first));
            }
            None => {
                first_by_id.insert(id, i);
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

/// Converts, describes and writes one unit, then its ledger entry;
/// returns the item's location and the bytes of sources read.
fn process(
    package: &dyn Package,
    catalog: &Catalog,
    unit: &Unit,
    workdir: PathBuf,
    options: &RunOptions,
    key: &RunKey,
) -> Result<(String, u64), Error> {
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
    // The ledger records the unit's sources as given (a STAC item source
    // is the item document, whose change redoes the unit).
    let records = match stac_item_source(unit) {
        Some(src) => vec![ledger::SourceRecord::from(&Source::from_path(src)?)],
        None => sources.iter().map(ledger::SourceRecord::from).collect(),
    };
    let bytes = sources.iter().map(|s| s.size).sum();
    let previous = (catalog.local_dir())
        .map(|dir| dir.join(stacforge_catalog::layout::item_dir(&item_id)))
        .filter(|dir| dir.is_dir());
    let job = Job {
        sources,
        item_id,
        collection_id: options.collection_id.clone(),
        workdir,
        datetime: options.datetime,
        derived_from,
        previous,
    };
    let artifacts = package.convert(&job)?;
    let mut item = package.describe(&job, &artifacts)?;
    stacforge_core::provenance::ensure_sources(&mut item, &job);
    stacforge_core::render::stamp(&mut item, &artifacts, options.default_asset.as_deref())
        .map_err(|reason| {
            Error::Package(stacforge_core::Error::Convert(
                format!("{}: {reason}", first.display()).into(),
            ))
        })?;
    let publish = |reason| Error::Publish {
        source_path: first.clone(),
        reason,
    };
    // The staging directory goes when the unit ends: its files are moved.
    let item = catalog
        .write_staged_item(item, &artifacts, &job.workdir)
        .map_err(publish)?;
    let document = item_path(&item.id);
    let summary = ItemSummary::from_json(&serde_json::to_value(&item).expect("an item serialises"))
        .expect("an item has an id");
    let item_size = catalog.size(&document).map_err(publish)?.unwrap_or(0);
    let entry = ledger::Entry {
        item_id: item.id.clone(),
        key: key.clone(),
        sources: records,
        item_size,
        summary,
        finished: chrono::Utc::now(),
    };
    stacforge_core::fs::crash_point("ledger");
    ledger::write(catalog, &entry).map_err(publish)?;
    Ok((format!("{}/{document}", catalog.location()), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A package that fails as its sources' names say: `timeout-N` times
    /// out N times then works, `panic` panics, `bad` fails for good.
    struct Flaky {
        tries: Mutex<HashMap<String, u32>>,
    }

    impl Package for Flaky {
        fn id(&self) -> &'static str {
            "flaky"
        }
        fn title(&self) -> &'static str {
            "fails on purpose"
        }
        fn collection(&self) -> stacforge_core::Result<stac::Collection> {
            Ok(stac::Collection::new("flaky", "fails on purpose"))
        }
        fn writes_files(&self) -> bool {
            false
        }
        fn convert(&self, job: &Job) -> stacforge_core::Result<Vec<stacforge_core::Artifact>> {
            let name = job.item_id.clone();
            let tries = {
                let mut tries = self.tries.lock().unwrap();
                let n = tries.entry(name.clone()).or_default();
                *n += 1;
                *n
            };
            if let Some(times) = name.strip_prefix("timeout-") {
                if tries <= times.parse().unwrap() {
                    return Err(stacforge_core::Error::Io {
                        path: job.source().path.clone(),
                        source: std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"),
                    });
                }
            }
            match name.as_str() {
                "panic" => panic!("a bug in the package"),
                "bad" => Err(stacforge_core::Error::Empty {
                    path: job.source().path.clone(),
                }),
                _ => Ok(Vec::new()),
            }
        }
        fn describe(
            &self,
            job: &Job,
            _: &[stacforge_core::Artifact],
        ) -> stacforge_core::Result<stac::Item> {
            let mut item = stac::Item::new(&job.item_id);
            item.properties.datetime = Some("2020-01-01T00:00:00Z".parse().unwrap());
            Ok(item)
        }
    }

    fn sources(dir: &Path, names: &[&str]) -> Vec<PathBuf> {
        names
            .iter()
            .map(|n| {
                let path = dir.join(format!("{n}.bin"));
                std::fs::write(&path, b"x").unwrap();
                path
            })
            .collect()
    }

    #[test]
    fn transient_failures_are_retried_and_a_panic_fails_its_unit_only() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path().join("out").to_str().unwrap()).unwrap();
        let package = Flaky {
            tries: Mutex::default(),
        };
        let srcs = sources(
            dir.path(),
            &["timeout-2", "timeout-9", "panic", "bad", "good"],
        );
        let mut options = RunOptions::new("flaky");
        options.retry_delay = Duration::from_millis(1);
        let report = run(&package, &srcs, &catalog, &options, &|_, _| {}).unwrap();
        let tries = package.tries.lock().unwrap().clone();
        assert_eq!(tries["timeout-2"], 3, "two retries, then it works");
        assert_eq!(tries["timeout-9"], 3, "given up after the retries");
        assert_eq!(tries["bad"], 1, "a lasting failure is not retried");
        assert_eq!(report.run.units.written, 2, "{:?}", report.run);
        assert_eq!(report.run.units.failed, 3);
        let failure = |id: &str| {
            report
                .run
                .failures
                .iter()
                .find(|f| f.item_id == id)
                .unwrap()
        };
        assert_eq!(failure("timeout-9").attempts, 3);
        assert!(failure("panic").error.contains("a bug in the package"));
        assert_eq!(report.items, 2);
    }

    #[test]
    fn fail_fast_starts_nothing_after_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path().join("out").to_str().unwrap()).unwrap();
        let package = Flaky {
            tries: Mutex::default(),
        };
        let srcs = sources(dir.path(), &["bad", "a", "b", "c"]);
        let mut options = RunOptions::new("flaky");
        options.jobs = Some(1);
        options.fail_fast = true;
        let report = run(&package, &srcs, &catalog, &options, &|_, _| {}).unwrap();
        assert_eq!(report.run.units.failed, 1);
        assert_eq!(report.run.units.not_run, 3);
        assert_eq!(package.tries.lock().unwrap().len(), 1);
    }

    #[test]
    fn the_first_source_keeps_an_id_the_others_are_named() {
        let sources: Vec<PathBuf> = ["a/scene.tif", "b/scene.tif", "c/other.tif", "d/scene.TIF"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let units: Vec<Unit> = sources.iter().map(|s| Unit::of_file(s)).collect();
        let ids: Vec<String> = units.iter().map(planned_id).collect();
        let duplicates = duplicate_ids(&units, &ids);
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
