//! The verbs every package has: `create-item` and `create-collection`.

use crate::{options::StoreArgs, registry::Entry, sources::SourceArgs, Outcome};
use clap::{ArgMatches, Args as _, Command, FromArgMatches};
use stacforge_catalog::Catalog;
use stacforge_core::{package::validate_id, Package, Timing};
use stacforge_runner::{RunOptions, RunReport, Shard};
use std::path::PathBuf;

/// Options of `stacforge <package> create-item` and `stacforge run <package>`.
#[derive(Debug, clap::Args)]
pub struct ItemArgs {
    #[command(flatten)]
    sources: SourceArgs,
    /// The catalog to write into: a directory, file://, s3://bucket/prefix, gs://, az://.
    #[arg(long, value_name = "DIR")]
    out: String,
    /// Datetime for every item: RFC 3339 instant or START/END. Overrides the
    /// file's own; required when a file has none.
    #[arg(long)]
    datetime: Option<Timing>,
    /// Collection id (default: the package id).
    #[arg(long)]
    collection_id: Option<String>,
    /// Units converted at once (default: number of cores).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// The asset tile servers show by default (the `default` render of
    /// items and collection). Default: `data`, else the first data asset.
    #[arg(long, value_name = "KEY")]
    default_asset: Option<String>,
    /// One JSON event per unit on standard output, then a summary event.
    #[arg(long)]
    json: bool,
    /// Write item documents indented (default: compact, one line).
    #[arg(long)]
    pretty: bool,
    #[command(flatten)]
    batch: BatchArgs,
    #[command(flatten)]
    store: StoreArgs,
}

/// How a run goes over a collection: sharding, resuming, failures.
#[derive(Debug, clap::Args)]
struct BatchArgs {
    /// Only shard K of N (K from 0): units are split by a hash of their item
    /// id, so every shard can run alone, as a task of a batch engine, into
    /// the same --out; then `stacforge finalize --out` writes the
    /// collection. `auto`: K from the engine (JOB_COMPLETION_INDEX,
    /// AWS_BATCH_JOB_ARRAY_INDEX, SLURM_ARRAY_TASK_ID), N from --shards or
    /// SLURM_ARRAY_TASK_COUNT.
    #[arg(long, value_name = "K/N|auto")]
    shard: Option<String>,
    /// How many shards, with --shard auto where the engine does not say
    /// (Kubernetes, AWS Batch).
    #[arg(long, value_name = "N")]
    shards: Option<usize>,
    /// Plan only, writing nothing: each unit, whether its sources can be
    /// opened, whether it is done already (and would be skipped), and the
    /// size to convert.
    #[arg(long)]
    dry_run: bool,
    /// Stop starting units at the first failure.
    #[arg(long)]
    fail_fast: bool,
    /// Re-run only the units the last run report at --out lists as failed
    /// (instead of sources).
    #[arg(long)]
    retry_failed: bool,
    /// Redo every unit, even those the ledger shows finished.
    #[arg(long)]
    force: bool,
    /// Decide whether a source changed by its checksum even when its size
    /// and modification time are unchanged.
    #[arg(long)]
    rehash: bool,
    /// Retries of a unit whose failure may be transient (network, timeouts).
    #[arg(long, default_value_t = 2, value_name = "N")]
    retries: u32,
    /// A line per unit, not only per failure.
    #[arg(long, short = 'v')]
    verbose: bool,
}

impl BatchArgs {
    fn shard(&self) -> anyhow::Result<Option<Shard>> {
        match self.shard.as_deref() {
            None => Ok(None),
            Some("auto") => match Shard::from_env(self.shards, |v| std::env::var(v).ok()) {
                Some(shard) => Ok(Some(shard.map_err(anyhow::Error::msg)?)),
                None => anyhow::bail!(
                    "--shard auto: none of {} is set (run it as a task of an indexed or array job, or give --shard K/N)",
                    stacforge_runner::shard::INDEX_VARIABLES
                        .iter()
                        .map(|(v, _)| *v)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
            Some(text) => Ok(Some(text.parse().map_err(anyhow::Error::msg)?)),
        }
    }
}

/// Options of `stacforge <package> create-collection`.
#[derive(Debug, clap::Args)]
pub struct CollectionArgs {
    /// The catalog to write `collection.json` into (a directory or URL, as for create-item).
    #[arg(long, value_name = "DIR")]
    out: String,
    /// Collection id (default: the package id).
    #[arg(long)]
    collection_id: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

/// The subcommand of one package, with the package's own options on its
/// `create-item`.
pub fn package_command(entry: &Entry) -> anyhow::Result<Command> {
    let package = entry.default_package()?;
    let create_item = (entry.args)(ItemArgs::augment_args(
        Command::new("create-item")
            .about("Convert sources and write one item per source, then update the collection"),
    ));
    Ok(Command::new(entry.id)
        .about(package.title())
        .subcommand_required(true)
        .subcommand(create_item)
        .subcommand(CollectionArgs::augment_args(
            Command::new("create-collection").about(
                "Write collection.json with extents and links computed from the catalog's items",
            ),
        )))
}

/// `stacforge run`: one subcommand per registered package, each with the
/// run's options and the package's own.
pub fn run_command() -> anyhow::Result<Command> {
    let mut run = Command::new("run")
        .about(
            "Run a package over sources into a catalog: stacforge run PACKAGE SRC... --out CATALOG",
        )
        .long_about(
            "Run a package over sources into a catalog (collection, items, assets).\n\n\
             Examples:\n  \
             stacforge run geotiff 'scenes/*.tif' --out catalog/\n  \
             stacforge run netcdf-zarr 'sst/*.nc' --out catalog/ --collection-id sst\n  \
             stacforge run netcdf-refs 'sst/*.nc' --out catalog/ --collection-id sst-refs",
        )
        .subcommand_required(true);
    for entry in crate::registry::entries() {
        let package = entry.default_package()?;
        run = run.subcommand((entry.args)(ItemArgs::augment_args(
            Command::new(entry.id).about(package.title()),
        )));
    }
    Ok(run)
}

/// Runs the package `stacforge run <id>` names.
pub fn run_package(matches: &ArgMatches) -> anyhow::Result<Outcome> {
    let (id, sub) = matches.subcommand().expect("clap requires a package");
    let entry = crate::registry::find(id).expect("a registered package");
    create_items_with(
        (entry.build)(sub)?,
        &ItemArgs::from_arg_matches(sub)?,
        &fingerprint(&entry, sub),
    )
}

/// The package's own options as given (defaults included), as text: what
/// the ledger compares to decide that a finished unit must be redone.
fn fingerprint(entry: &Entry, matches: &ArgMatches) -> String {
    let own = (entry.args)(Command::new(entry.id));
    let mut text = String::new();
    for arg in own.get_arguments() {
        let id = arg.get_id().as_str();
        if let Ok(Some(values)) = matches.try_get_raw(id) {
            let values: Vec<String> = values.map(|v| v.to_string_lossy().into_owned()).collect();
            text.push_str(&format!(" --{id}={}", values.join(",")));
        }
    }
    text
}

pub fn run(entry: &Entry, matches: &ArgMatches) -> anyhow::Result<Outcome> {
    match matches.subcommand() {
        Some(("create-item", sub)) => create_items_with(
            (entry.build)(sub)?,
            &ItemArgs::from_arg_matches(sub)?,
            &fingerprint(entry, sub),
        ),
        Some(("create-collection", sub)) => create_collection(
            entry.default_package()?.as_ref(),
            &CollectionArgs::from_arg_matches(sub)?,
        ),
        _ => unreachable!("clap requires a subcommand"),
    }
}

fn collection_id(package: &dyn Package, id: &Option<String>) -> anyhow::Result<String> {
    let id = id.clone().unwrap_or_else(|| package.id().to_string());
    validate_id(&id)?;
    Ok(id)
}

fn write_collection(package: &dyn Package, catalog: &Catalog, id: String) -> anyhow::Result<usize> {
    let collection = package.collection_for(&id)?;
    Ok(catalog.write_collection(collection)?)
}

fn create_collection(package: &dyn Package, args: &CollectionArgs) -> anyhow::Result<Outcome> {
    let catalog = Catalog::open_with(&args.out, &args.store.to_options())?;
    let id = collection_id(package, &args.collection_id)?;
    let count = write_collection(package, &catalog, id)?;
    eprintln!("{}/collection.json: {count} item(s)", catalog.location());
    Ok(Outcome::Success)
}

/// Converts every source with `package` and writes the items, the
/// collection and the run report (the package carries its COG options),
/// through the shared run loop (`stacforge_runner`). `options` are the
/// package's options as text, for the ledger.
pub fn create_items_with(
    package: Box<dyn Package>,
    args: &ItemArgs,
    options: &str,
) -> anyhow::Result<Outcome> {
    let collection_id = collection_id(package.as_ref(), &args.collection_id)?;
    let mut catalog = Catalog::open_with(&args.out, &args.store.to_options())?;
    catalog.set_pretty(args.pretty);
    let batch = &args.batch;
    let mut run_options = RunOptions::new(&collection_id);
    run_options.datetime = args.datetime;
    run_options.jobs = args.jobs;
    run_options.options = match &args.default_asset {
        Some(key) => format!("{options} --default-asset {key}"),
        None => options.to_string(),
    };
    run_options.default_asset = args.default_asset.clone();
    run_options.shard = batch.shard()?;
    run_options.fail_fast = batch.fail_fast;
    run_options.resume = !batch.force;
    run_options.rehash = batch.rehash;
    run_options.retries = batch.retries;
    let sources = if batch.retry_failed {
        if args.sources.given() {
            anyhow::bail!(
                "--retry-failed re-runs the failures of the last run: give no sources with it"
            );
        }
        let path = RunReport::path(run_options.shard);
        let report = RunReport::read(&catalog, &path)?.ok_or_else(|| {
            anyhow::anyhow!(
                "--retry-failed: no run report at {}/{path}",
                catalog.location()
            )
        })?;
        let mut sources: Vec<PathBuf> = Vec::new();
        for failure in &report.failures {
            for s in &failure.sources {
                let s = PathBuf::from(s);
                if !sources.contains(&s) {
                    sources.push(s);
                }
            }
        }
        if sources.is_empty() {
            eprintln!("{}/{path}: no failures to retry", catalog.location());
            return Ok(Outcome::Success);
        }
        eprintln!(
            "retrying {} failed unit(s) from {}/{path}",
            report.failures.len(),
            catalog.location()
        );
        sources
    } else {
        if !args.sources.given() {
            anyhow::bail!(
                "no sources: give files, patterns or s3:// prefixes, or --sources-from FILE"
            );
        }
        args.sources.gather(&args.store.to_options())?
    };
    if batch.dry_run {
        return crate::cmd::dry_run::show(
            package.as_ref(),
            &sources,
            &catalog,
            &run_options,
            args.json,
        );
    }
    let display = crate::progress::Display::new(args.json, batch.verbose);
    let report = stacforge_runner::run(
        package.as_ref(),
        &sources,
        &catalog,
        &run_options,
        &|tally, outcome| display.unit(tally, outcome),
    );
    display.finish();
    let report = report?;
    let units = report.run.units;
    let report_at = format!(
        "{}/{}",
        catalog.location(),
        RunReport::path(run_options.shard)
    );
    eprintln!(
        "{} source(s) in {} item(s): {} written, {} skipped (done before), {} failed{}; {}",
        sources.len(),
        units.assigned,
        units.written,
        units.skipped,
        units.failed,
        if units.not_run > 0 { format!(", {} not run (--fail-fast)", units.not_run) } else { String::new() },
        match run_options.shard {
            Some(shard) => format!("shard {shard}: {} item(s) in the catalog so far; `stacforge finalize --out {}` once every shard is done", report.items, args.out),
            None => format!("{}/collection.json lists {} item(s)", catalog.location(), report.items),
        }
    );
    eprintln!("run report: {report_at}");
    if args.json {
        let summary = serde_json::json!({
            "event": "summary",
            "catalog": catalog.location(),
            "report": report_at,
            "shard": run_options.shard.map(|s| s.to_string()),
            "planned": units.planned,
            "assigned": units.assigned,
            "written": units.written,
            "skipped": units.skipped,
            "failed": units.failed,
            "not_run": units.not_run,
            "items": report.items,
        });
        println!("{summary}");
    }
    Ok(if units.failed == 0 && units.not_run == 0 {
        Outcome::Success
    } else {
        Outcome::SomeFailed
    })
}
