//! The verbs every package has: `create-item` and `create-collection`.

use crate::{options::StoreArgs, registry::Entry, Outcome};
use clap::{ArgMatches, Args as _, Command, FromArgMatches};
use stacforge_catalog::Catalog;
use stacforge_core::{package::validate_id, Package, Timing};
use stacforge_runner::{RunOptions, UnitOutcome};

/// Options of `stacforge <package> create-item`.
#[derive(Debug, clap::Args)]
pub struct ItemArgs {
    /// Source files (glob patterns, quoted, are expanded). The package groups
    /// them into items: one item per source for scenes and granules, one for
    /// a whole series combined into a cube. A `.json` source is a STAC item:
    /// its data asset is converted and the new item links back with
    /// `derived_from`.
    #[arg(required = true, value_name = "SRC")]
    sources: Vec<String>,
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
    /// Sources converted at once (default: number of cores).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Print a JSON summary on standard output.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
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
    create_items_with((entry.build)(sub)?, &ItemArgs::from_arg_matches(sub)?)
}

pub fn run(entry: &Entry, matches: &ArgMatches) -> anyhow::Result<Outcome> {
    match matches.subcommand() {
        Some(("create-item", sub)) => {
            create_items_with((entry.build)(sub)?, &ItemArgs::from_arg_matches(sub)?)
        }
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
    let written = catalog.write_collection(collection)?;
    Ok(written.links.iter().filter(|l| l.is_item()).count())
}

fn create_collection(package: &dyn Package, args: &CollectionArgs) -> anyhow::Result<Outcome> {
    let catalog = Catalog::open_with(&args.out, &args.store.to_options())?;
    let id = collection_id(package, &args.collection_id)?;
    let count = write_collection(package, &catalog, id)?;
    eprintln!("{}/collection.json: {count} item(s)", catalog.location());
    Ok(Outcome::Success)
}

/// Converts every source with `package` and writes the items and the
/// collection (the package carries its COG options), through the shared
/// run loop (`stacforge_runner`).
pub fn create_items_with(package: Box<dyn Package>, args: &ItemArgs) -> anyhow::Result<Outcome> {
    let sources = crate::cmd::netcdf::expand(&args.sources)?;
    let collection_id = collection_id(package.as_ref(), &args.collection_id)?;
    let catalog = Catalog::open_with(&args.out, &args.store.to_options())?;
    let options = RunOptions {
        collection_id,
        datetime: args.datetime,
        jobs: args.jobs,
    };
    // On a terminal a progress bar (failures printed above it); otherwise
    // one line per source, for logs.
    let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
        let bar = indicatif::ProgressBar::new(sources.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} sources, {elapsed} elapsed, about {eta} left",
            )
            .expect("a valid template"),
        );
        bar
    });
    let progress = |n: usize, total: usize, outcome: &UnitOutcome| {
        if let Some(bar) = &bar {
            // The package may have grouped the sources into fewer items.
            bar.set_length(total as u64);
        }
        let line = match &outcome.result {
            Ok(path) => format!(
                "[{n}/{total}] ok     {} -> {path} ({:.2} s)",
                outcome.label(),
                outcome.seconds
            ),
            Err(e) => format!("[{n}/{total}] FAILED {}", crate::describe_error(e)),
        };
        match &bar {
            Some(bar) => {
                if outcome.result.is_err() {
                    bar.println(line);
                }
                bar.inc(1);
            }
            None => eprintln!("{line}"),
        }
    };
    let report = stacforge_runner::run(package.as_ref(), &sources, &catalog, &options, &progress);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = report?;
    let total = report.outcomes.len();
    let failed = report.failed().count();
    eprintln!(
        "{} source(s) in {total} item(s): {} written, {failed} failed; {}/collection.json lists {} item(s)",
        sources.len(),
        total - failed,
        catalog.location(),
        report.items
    );
    if args.json {
        let entries: Vec<_> = report
            .outcomes
            .iter()
            .map(|o| match &o.result {
                Ok(path) => {
                    serde_json::json!({"source": o.label(), "sources": o.sources, "item": path, "seconds": o.seconds})
                }
                Err(e) => {
                    serde_json::json!({"source": o.label(), "sources": o.sources, "error": crate::describe_error(e)})
                }
            })
            .collect();
        let summary = serde_json::json!({
            "catalog": catalog.location(),
            "written": total - failed,
            "failed": failed,
            "sources": entries,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(if failed == 0 {
        Outcome::Success
    } else {
        Outcome::SomeFailed
    })
}
