//! The verbs every package has: `create-item` and `create-collection`.

use crate::{
    options::{CogArgs, StoreArgs},
    registry, Outcome,
};
use anyhow::Context;
use clap::{ArgMatches, Args as _, Command, FromArgMatches};
use rayon::prelude::*;
use stacforge_catalog::Catalog;
use stacforge_core::{package::validate_id, Job, Package, Source, Timing};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

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

/// What happened to one source.
struct Done {
    source: PathBuf,
    result: anyhow::Result<String>,
    seconds: f64,
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
/// collection (the package carries its COG options).
pub fn create_items_with(package: Box<dyn Package>, args: &ItemArgs) -> anyhow::Result<Outcome> {
    let collection_id = collection_id(package.as_ref(), &args.collection_id)?;
    let catalog = Catalog::open_with(&args.out, &args.store.to_options())?;
    let staging = stacforge_core::fs::work_dir().context("creating a staging directory")?;

    // Two sources with the same item id would overwrite each other's item:
    // the first one keeps the id, the others fail.
    let mut first_by_id: HashMap<String, &PathBuf> = HashMap::new();
    let mut duplicate: HashMap<usize, String> = HashMap::new();
    for (i, src) in args.sources.iter().enumerate() {
        let id = planned_id(src);
        match first_by_id.get(&id) {
            Some(first) => {
                duplicate.insert(i, format!(
                    "{}: its item id {id:?} is already taken by {} in this batch; rename one of them",
                    src.display(),
                    first.display()
                ));
            }
            None => {
                first_by_id.insert(id, src);
            }
        }
    }

    let total = args.sources.len();
    let finished = AtomicUsize::new(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()?;
    let done: Vec<Done> = pool.install(|| {
        args.sources
            .par_iter()
            .enumerate()
            .map(|(i, src)| {
                let started = Instant::now();
                let result = match duplicate.get(&i) {
                    Some(message) => Err(anyhow::anyhow!(message.clone())),
                    None => {
                        let workdir = staging.path().join(i.to_string());
                        let result = process(
                            package.as_ref(),
                            &catalog,
                            src,
                            workdir.clone(),
                            &collection_id,
                            args.datetime,
                        );
                        let _ = std::fs::remove_dir_all(&workdir);
                        result
                    }
                };
                let n = finished.fetch_add(1, Ordering::Relaxed) + 1;
                let seconds = started.elapsed().as_secs_f64();
                match &result {
                    Ok(path) => eprintln!(
                        "[{n}/{total}] ok     {} -> {path} ({seconds:.2} s)",
                        src.display()
                    ),
                    Err(e) => eprintln!("[{n}/{total}] FAILED {}", crate::describe(e)),
                }
                Done {
                    source: src.clone(),
                    result,
                    seconds,
                }
            })
            .collect()
    });

    let failed: Vec<&Done> = done.iter().filter(|d| d.result.is_err()).collect();
    // When every source failed, the catalog is left as it was: no empty
    // collection appears where there was none.
    let items = if failed.len() == total && total > 0 {
        catalog.items()?.len()
    } else {
        write_collection(package.as_ref(), &catalog, collection_id)?
    };
    eprintln!(
        "{total} source(s): {} item(s) written, {} failed; {}/collection.json lists {items} item(s)",
        total - failed.len(),
        failed.len(),
        catalog.location()
    );
    if args.json {
        let entries: Vec<_> = done
            .iter()
            .map(|d| match &d.result {
                Ok(path) => {
                    serde_json::json!({"source": d.source, "item": path, "seconds": d.seconds})
                }
                Err(e) => serde_json::json!({"source": d.source, "error": crate::describe(e)}),
            })
            .collect();
        let summary = serde_json::json!({
            "catalog": catalog.location(),
            "written": total - failed.len(),
            "failed": failed.len(),
            "sources": entries,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(if failed.is_empty() {
        Outcome::Success
    } else {
        Outcome::SomeFailed
    })
}

/// The item id for a source: its file name without the extension.
fn item_id(src: &std::path::Path) -> String {
    src.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| src.display().to_string())
}

fn is_stac_item(src: &std::path::Path) -> bool {
    src.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// The id the source's item will get (a STAC item source keeps its id);
/// a source that cannot be read keeps its path, and fails later with a reason.
fn planned_id(src: &std::path::Path) -> String {
    if is_stac_item(src) {
        stacforge_catalog::source::from_stac_item(src)
            .map(|s| s.id)
            .unwrap_or_else(|_| src.display().to_string())
    } else {
        item_id(src)
    }
}

/// Converts, describes and publishes one source; returns the item's path.
fn process(
    package: &dyn Package,
    catalog: &Catalog,
    src: &std::path::Path,
    workdir: PathBuf,
    collection_id: &str,
    datetime: Option<Timing>,
) -> anyhow::Result<String> {
    let is_json = src
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let (source, item_id, derived_from) = if is_json {
        let found = stacforge_catalog::source::from_stac_item(src)?;
        let source = Source::from_path(&found.asset_path)
            .with_context(|| format!("{}: reading its data asset", src.display()))?;
        (source, found.id, Some(found.item_href))
    } else {
        (Source::from_path(src)?, item_id(src), None)
    };
    validate_id(&item_id).with_context(|| format!("{}: unusable item id", src.display()))?;
    if package.writes_files() {
        std::fs::create_dir_all(&workdir)
            .with_context(|| format!("creating the staging directory {}", workdir.display()))?;
    }
    let job = Job {
        source,
        item_id,
        collection_id: collection_id.to_string(),
        workdir,
        datetime,
        derived_from,
    };
    let artifacts = package.convert(&job)?;
    let item = package.describe(&job, &artifacts)?;
    let item = catalog
        .write_item(item, &artifacts)
        .with_context(|| format!("{}: publishing the item", src.display()))?;
    Ok(format!(
        "{}/{}",
        catalog.location(),
        stacforge_catalog::layout::item_path(&item.id)
    ))
}
