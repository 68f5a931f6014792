//! The verbs every package has: `create-item` and `create-collection`.

use crate::{
    options::{CogArgs, StoreArgs},
    registry, Outcome,
};
use clap::{ArgMatches, Args as _, Command, FromArgMatches};
use stacforge_catalog::Catalog;
use stacforge_core::{package::validate_id, Package, Timing};
use stacforge_runner::{RunOptions, SourceOutcome};
use std::path::PathBuf;

/// Options of `stacforge <package> create-item`.
#[derive(Debug, clap::Args)]
pub struct ItemArgs {
    /// Source files, one item each. A `.json` source is a STAC item: its data
    /// asset is converted and the new item links back with `derived_from`.
    #[arg(required = true, value_name = "SRC")]
    sources: Vec<PathBuf>,
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
    /// Describe the sources where they are, without converting them (geotiff
    /// package only): the data asset links to the source file, with its size
    /// and checksum; no COG, no thumbnail, no pixel read.
    #[arg(long, conflicts_with_all = ["compression", "t_srs", "web_optimized"])]
    in_place: bool,
    #[command(flatten)]
    cog: CogArgs,
    #[command(flatten)]
    store: StoreArgs,
}

impl ItemArgs {
    /// The COG options given.
    pub fn cog_options(&self) -> anyhow::Result<stacforge_raster::CogOptions> {
        self.cog.to_options()
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

/// The subcommand of one package.
pub fn package_command(package: &dyn Package) -> Command {
    Command::new(package.id())
        .about(package.title())
        .subcommand_required(true)
        .subcommand(ItemArgs::augment_args(Command::new("create-item").about(
            "Convert sources and write one item per source, then update the collection",
        )))
        .subcommand(CollectionArgs::augment_args(
            Command::new("create-collection").about(
                "Write collection.json with extents and links computed from the catalog's items",
            ),
        ))
}

pub fn run(package_id: &str, matches: &ArgMatches) -> anyhow::Result<Outcome> {
    match matches.subcommand() {
        Some(("create-item", sub)) => create_items(package_id, &ItemArgs::from_arg_matches(sub)?),
        Some(("create-collection", sub)) => {
            create_collection(package_id, &CollectionArgs::from_arg_matches(sub)?)
        }
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

fn create_collection(package_id: &str, args: &CollectionArgs) -> anyhow::Result<Outcome> {
    let package = registry::find(package_id).expect("registered");
    let catalog = Catalog::open_with(&args.out, &args.store.to_options())?;
    let id = collection_id(package.as_ref(), &args.collection_id)?;
    let count = write_collection(package.as_ref(), &catalog, id)?;
    eprintln!("{}/collection.json: {count} item(s)", catalog.location());
    Ok(Outcome::Success)
}

fn create_items(package_id: &str, args: &ItemArgs) -> anyhow::Result<Outcome> {
    let cog = args.cog.to_options()?;
    if args.in_place {
        if package_id != "geotiff" {
            anyhow::bail!("--in-place is an option of the geotiff package, not of {package_id}");
        }
        return create_items_with(Box::new(stacforge_geotiff::GeoTiff::in_place()), args);
    }
    let package = registry::packages(&cog)
        .into_iter()
        .find(|p| p.id() == package_id)
        .expect("registered");
    create_items_with(package, args)
}

/// Converts every source with `package` and writes the items and the
/// collection (the package carries its COG options), through the shared
/// run loop (`stacforge_runner`).
pub fn create_items_with(package: Box<dyn Package>, args: &ItemArgs) -> anyhow::Result<Outcome> {
    let collection_id = collection_id(package.as_ref(), &args.collection_id)?;
    let catalog = Catalog::open_with(&args.out, &args.store.to_options())?;
    let options = RunOptions {
        collection_id,
        datetime: args.datetime,
        jobs: args.jobs,
    };
    let progress = |n: usize, total: usize, outcome: &SourceOutcome| match &outcome.result {
        Ok(path) => eprintln!(
            "[{n}/{total}] ok     {} -> {path} ({:.2} s)",
            outcome.source.display(),
            outcome.seconds
        ),
        Err(e) => eprintln!("[{n}/{total}] FAILED {}", crate::describe_error(e)),
    };
    let report = stacforge_runner::run(
        package.as_ref(),
        &args.sources,
        &catalog,
        &options,
        &progress,
    )?;
    let total = report.outcomes.len();
    let failed = report.failed().count();
    eprintln!(
        "{total} source(s): {} item(s) written, {failed} failed; {}/collection.json lists {} item(s)",
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
                    serde_json::json!({"source": o.source, "item": path, "seconds": o.seconds})
                }
                Err(e) => {
                    serde_json::json!({"source": o.source, "error": crate::describe_error(e)})
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
