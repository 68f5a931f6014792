//! `stacforge netcdf …`: NetCDF/HDF5 recipes to Zarr, with STAC.

use crate::array_options::{RefsArgs, SliceArgs, ZarrArgs};
use crate::cmd::create::{create_items_with, ItemArgs};
use crate::{options::StoreArgs, sources::FetchArgs, Outcome};
use anyhow::Context;
use stacforge_array::cube::report_left_out;
use stacforge_array::recipe::{self, Recipe};
use stacforge_catalog::Catalog;
use stacforge_core::package::validate_id;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options of `stacforge netcdf`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Verb,
}

#[derive(Debug, clap::Subcommand)]
enum Verb {
    /// Combine NetCDF/HDF5 files along a dimension into one Zarr store
    /// (or append them to one), optionally with a STAC item for it.
    ///
    /// Example: stacforge netcdf to-zarr 'data/sst.*.nc' --out sst.zarr --catalog stac/
    ToZarr(ToZarrArgs),
    /// Write one COG per variable per time step of each file (georeferenced
    /// from CF coordinates and grid mapping) and one STAC item per file.
    ///
    /// Example: stacforge netcdf to-cog sst.nc --out stac/ --variables sst --roll-longitude
    ToCog(ToCogArgs),
    /// Write kerchunk references (virtual Zarr) for NetCDF-4/HDF5 files:
    /// chunk byte ranges from the HDF5 index, combined along time, or
    /// appended to existing references without re-reading their files.
    ///
    /// Example: stacforge netcdf to-refs 'sst/*.nc' --out sst.json --catalog stac/
    ToRefs(ToRefsArgs),
    /// Check that the files recorded in references are unchanged.
    VerifyRefs(VerifyRefsArgs),
}

#[derive(Debug, clap::Args)]
struct ToRefsArgs {
    /// Source files; glob patterns (quoted) are expanded. Objects
    /// (s3://bucket/a.nc, gs://, az://, https://) and prefixes ending in `/`
    /// are copied into the cache to be indexed; the references point at
    /// the objects.
    #[arg(required = true, value_name = "SRC")]
    sources: Vec<String>,
    #[command(flatten)]
    fetch: FetchArgs,
    /// Where to write the references: a kerchunk JSON file (a path or a URL),
    /// with --format parquet a directory (local), with --format icechunk an
    /// Icechunk repository (a directory or s3://bucket/prefix).
    #[arg(long, value_name = "FILE")]
    out: String,
    /// Add the sources to the existing references (only the new files are read).
    #[arg(long)]
    append: bool,
    #[command(flatten)]
    refs: RefsArgs,
    /// With --format icechunk: tag the commit (e.g. v1).
    #[arg(long, value_name = "NAME")]
    tag: Option<String>,
    /// Also write a STAC item for the references (and its collection) into this catalog.
    #[arg(long, value_name = "DIR")]
    catalog: Option<String>,
    /// Collection id.
    #[arg(long, default_value = "netcdf")]
    collection_id: String,
    /// Print a JSON summary on standard output.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, clap::Args)]
struct VerifyRefsArgs {
    /// A kerchunk reference file written by stacforge.
    refs: PathBuf,
    #[command(flatten)]
    fetch: FetchArgs,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, clap::Args)]
struct ToCogArgs {
    #[command(flatten)]
    items: ItemArgs,
    #[command(flatten)]
    slices: SliceArgs,
}

#[derive(Debug, clap::Args)]
struct ToZarrArgs {
    /// Source files; glob patterns (quoted) are expanded. They are ordered
    /// along the concatenation dimension by their coordinate values.
    /// Objects (s3://bucket/a.nc, gs://, az://, https://) and prefixes
    /// ending in `/` are copied into the cache first; the store's record
    /// names the objects.
    #[arg(required = true, value_name = "SRC")]
    sources: Vec<String>,
    #[command(flatten)]
    fetch: FetchArgs,
    /// The Zarr store to write: a local directory, or a URL (s3://bucket/x.zarr,
    /// gs://, az://), where the store is uploaded once complete, metadata last.
    /// With --format icechunk, an Icechunk repository (a directory or
    /// s3://bucket/prefix), created if there is none.
    #[arg(long, value_name = "STORE")]
    out: String,
    /// Output format: a Zarr store, or an Icechunk repository where every
    /// write and append is one atomic, versioned commit (Zarr v3).
    #[arg(long, default_value = "zarr", value_parser = ["zarr", "icechunk"])]
    format: String,
    /// With --format icechunk: tag the commit (e.g. v1).
    #[arg(long, value_name = "NAME")]
    tag: Option<String>,
    /// Add the sources to the existing store along its concatenation
    /// dimension; sources already in it are skipped.
    #[arg(long, conflicts_with = "overwrite")]
    append: bool,
    /// Replace an existing store.
    #[arg(long)]
    overwrite: bool,
    #[command(flatten)]
    zarr: ZarrArgs,
    /// Also write a STAC item for the store (and its collection) into this
    /// catalog (a directory or URL).
    #[arg(long, value_name = "DIR")]
    catalog: Option<String>,
    /// Collection id.
    #[arg(long, default_value = "netcdf")]
    collection_id: String,
    /// Href of the store in the item (default: its absolute local path), e.g.
    /// the URL it will be published at.
    #[arg(long, value_name = "URL")]
    store_href: Option<String>,
    /// Print a JSON summary on standard output.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

pub fn run(args: &Args) -> anyhow::Result<Outcome> {
    match &args.command {
        Verb::ToZarr(a) => to_zarr(a),
        Verb::ToRefs(a) => to_refs(a),
        Verb::VerifyRefs(a) => verify_refs(a),
        Verb::ToCog(a) => create_items_with(
            Box::new(a.slices.package()?),
            &a.items,
            &format!("{:?}", a.slices),
        ),
    }
}

fn to_zarr(args: &ToZarrArgs) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    if args.tag.is_some() && args.format != "icechunk" {
        anyhow::bail!("--tag names an Icechunk commit: give it with --format icechunk");
    }
    let recipe = Recipe {
        sources: args.fetch.gather(&args.sources, &args.store.to_options())?,
        ..args.zarr.recipe()?
    };
    if args.format == "icechunk" {
        return to_zarr_icechunk(args, &recipe, started);
    }
    let Output {
        remote,
        local,
        item_id,
        _staging,
    } = output(&args.out, &args.zarr.series.item_id, "store.zarr")?;
    if remote && args.append {
        anyhow::bail!("--append works on local stores only for now; append locally, then upload");
    }
    validate_id(&item_id)?;
    validate_id(&args.collection_id)?;
    let progress = |line: &str| eprintln!("  {line}");
    let outcome = if args.append {
        recipe::append(&recipe, &local, &progress)?
    } else {
        stacforge_array::cube::write_store(&recipe, &local, args.overwrite)?
    };
    for s in &outcome.skipped {
        eprintln!("{}: already in {}; skipped", s.href, args.out);
    }
    if args.append {
        // A new store's were listed as it was written.
        report_left_out(&outcome.left_out);
    }
    eprintln!(
        "{}: {} source(s) written, {} skipped, {} step(s), {:.1} MB uncompressed, {:.2} s",
        args.out,
        outcome.written.len(),
        outcome.skipped.len(),
        outcome.steps,
        outcome.bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    if remote {
        let n = Catalog::upload_dir(
            &local,
            &args.out,
            &args.store.to_options(),
            stacforge_catalog::is_metadata,
        )?;
        eprintln!("{}: {n} object(s) uploaded", args.out);
    }
    let mut item_href = None;
    if let Some(location) = &args.catalog {
        let href = match (&args.store_href, remote) {
            (Some(h), _) => h.clone(),
            (None, true) => args.out.clone(),
            (None, false) => absolute(&local)?.display().to_string(),
        };
        let artifact = stacforge_array::cube::store_artifact(&local, Some(href))?;
        let job = cube_job(&item_id, &args.collection_id);
        let mut item = stacforge_array::cube::describe_cube(&job, std::slice::from_ref(&artifact))?;
        stacforge_core::render::stamp(&mut item, &[artifact], None).map_err(anyhow::Error::msg)?;
        item_href = Some(publish_item(
            location,
            &args.store,
            item,
            &args.collection_id,
        )?);
    }
    if args.json {
        let summary = serde_json::json!({
            "store": args.out,
            "written": outcome.written,
            "skipped": outcome.skipped,
            "left_out": outcome.left_out.iter().map(|(p, r)| serde_json::json!({"source": p, "reason": r})).collect::<Vec<_>>(),
            "steps": outcome.steps,
            "bytes": outcome.bytes,
            "item": item_href,
            "seconds": started.elapsed().as_secs_f64(),
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(if outcome.left_out.is_empty() {
        Outcome::Success
    } else {
        Outcome::SomeFailed
    })
}

/// Refuses an output that is one of the sources (writing it would
/// destroy the source).
fn refuse_source_as_output(out: &Path, sources: &[PathBuf]) -> anyhow::Result<()> {
    let Ok(out_abs) = out.canonicalize() else {
        return Ok(()); // it does not exist yet
    };
    for source in sources {
        if source
            .canonicalize()
            .is_ok_and(|s| s == out_abs || s.starts_with(&out_abs))
        {
            anyhow::bail!(
                "{}: --out is the source {} (or holds it); writing there would destroy the source",
                out.display(),
                source.display()
            );
        }
    }
    Ok(())
}

/// Takes the lock on a local output (waiting for another writer), and
/// removes what killed runs left beside it.
fn lock_output(out: &Path) -> anyhow::Result<stacforge_core::fs::Lock> {
    let lock = stacforge_core::fs::Lock::acquire(
        &stacforge_core::fs::lock_path(out),
        &out.display().to_string(),
    )
    .with_context(|| format!("{}: cannot take its lock", out.display()))?;
    for stale in stacforge_core::fs::remove_stale_siblings(out, &["stacforge-new", "stacforge-tmp"])
    {
        eprintln!("{}: removed, left by an interrupted run", stale.display());
    }
    Ok(lock)
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    path.canonicalize()
        .with_context(|| format!("{}", path.display()))
}

fn read_refs(path: &Path) -> anyhow::Result<stacforge_array::refs::References> {
    let text = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    let doc: serde_json::Value =
        serde_json::from_slice(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    Ok(stacforge_array::refs::References::from_json(&doc, path)?)
}

fn to_refs(args: &ToRefsArgs) -> anyhow::Result<Outcome> {
    use stacforge_array::refs;
    let started = Instant::now();
    if args.tag.is_some() && args.refs.format != "icechunk" {
        anyhow::bail!("--tag names an Icechunk commit: give it with --format icechunk");
    }
    let recipe = Recipe {
        sources: args.fetch.gather(&args.sources, &args.store.to_options())?,
        ..args.refs.series.recipe()
    };
    let options = args.refs.options();
    if args.refs.format == "icechunk" {
        return to_refs_icechunk(args, &recipe, &options, started);
    }
    let Output {
        remote,
        local,
        item_id,
        _staging,
    } = output(&args.out, &args.refs.series.item_id, "refs.json")?;
    let parquet = args.refs.parquet();
    if remote && (args.append || parquet) {
        anyhow::bail!("--append and --format parquet work on local references only for now");
    }
    if parquet && args.append {
        anyhow::bail!(
            "--append works on JSON references; append to the JSON, then write Parquet from it"
        );
    }
    validate_id(&item_id)?;
    refuse_source_as_output(&local, &recipe.sources)?;
    let _lock = (!remote).then(|| lock_output(&local)).transpose()?;
    if !remote && !args.append && !parquet && local.exists() && !refs::is_json_refs(&local) {
        anyhow::bail!(
            "{}: it exists and is not a reference file stacforge wrote; nothing was replaced (remove it yourself or choose another --out)",
            local.display()
        );
    }
    let (references, added, skipped, left_out) = if args.append {
        let existing = read_refs(&local)?;
        let (r, outcome) = refs::append(&recipe, &existing, &local, &options)?;
        (
            r,
            outcome.added.len(),
            outcome.skipped.len(),
            outcome.left_out,
        )
    } else {
        if local.exists() {
            eprintln!("{}: replacing the existing references", local.display());
        }
        let (r, plan) = refs::references(&recipe, &options)?;
        for w in &plan.warnings {
            eprintln!("warning: {w}");
        }
        (r, plan.records().len(), 0, plan.skipped.clone())
    };
    report_left_out(&left_out);
    stacforge_array::cube::save_refs(
        &references,
        &local,
        parquet.then_some(args.refs.record_size),
    )?;
    if remote {
        Catalog::upload(&local, &args.out, &args.store.to_options())?;
    }
    eprintln!(
        "{}: {added} source(s) referenced, {skipped} already there, {} references, {:.2} s",
        args.out,
        references.refs.len(),
        started.elapsed().as_secs_f64()
    );
    let mut item_href = None;
    if let Some(location) = &args.catalog {
        let href = if remote {
            args.out.clone()
        } else {
            absolute(&local)?.display().to_string()
        };
        let artifact = stacforge_array::cube::refs_artifact(&references, &local, Some(href))?;
        let job = cube_job(&item_id, &args.collection_id);
        let mut item = stacforge_array::cube::describe_cube(&job, std::slice::from_ref(&artifact))?;
        stacforge_core::render::stamp(&mut item, &[artifact], None).map_err(anyhow::Error::msg)?;
        item_href = Some(publish_item(
            location,
            &args.store,
            item,
            &args.collection_id,
        )?);
    }
    if args.json {
        let summary = serde_json::json!({
            "references": args.out,
            "added": added,
            "skipped": skipped,
            "left_out": left_out.iter().map(|(p, r)| serde_json::json!({"source": p, "reason": r})).collect::<Vec<_>>(),
            "keys": references.refs.len(),
            "item": item_href,
            "seconds": started.elapsed().as_secs_f64(),
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(if left_out.is_empty() {
        Outcome::Success
    } else {
        Outcome::SomeFailed
    })
}

fn verify_refs(args: &VerifyRefsArgs) -> anyhow::Result<Outcome> {
    let references = read_refs(&args.refs)?;
    let store = args.store.to_options();
    // Objects are fetched again unless the cached copy's size and ETag
    // are the object's; the copy's checksum is then compared.
    let locate = |href: &str| {
        if href.contains("://") {
            args.fetch
                .fetch_one(href, &store)
                .map_err(|e| format!("{e:#}"))
        } else {
            Ok(PathBuf::from(href))
        }
    };
    let changed = stacforge_array::refs::verify(&references, &args.refs, &locate)?;
    let total = references.record(&args.refs)?.sources.len();
    for c in &changed {
        eprintln!("CHANGED {}: {}", c.href, c.reason);
    }
    eprintln!(
        "{}: {} of {total} source(s) changed",
        args.refs.display(),
        changed.len()
    );
    Ok(if changed.is_empty() {
        Outcome::Success
    } else {
        Outcome::SomeFailed
    })
}

fn repo_options(store: &StoreArgs) -> stacforge_array::repo::RepoOptions {
    stacforge_array::repo::RepoOptions {
        s3_endpoint: store.to_options().s3_endpoint.clone(),
    }
}

/// The options a commit records: the recipe's, as given.
fn recipe_options(recipe: &Recipe) -> serde_json::Value {
    serde_json::json!({
        "concat_dim": recipe.concat_dim,
        "group": recipe.group,
        "variables": recipe.variables,
        "chunks": recipe.chunks,
        "target_chunk_bytes": recipe.target_chunk_bytes,
        "compression": format!("{:?}", recipe.compression),
        "decode": recipe.decode,
        "time_range": recipe.time_range.map(|(a, b)| [a.to_rfc3339(), b.to_rfc3339()]),
        "skip_bad": recipe.skip_bad,
    })
}

/// `to-zarr --format icechunk`: the store written or appended as one commit.
fn to_zarr_icechunk(
    args: &ToZarrArgs,
    recipe: &Recipe,
    started: Instant,
) -> anyhow::Result<Outcome> {
    use stacforge_array::repo;
    let item_id = item_id_of(&args.out, &args.zarr.series.item_id)?;
    validate_id(&item_id)?;
    validate_id(&args.collection_id)?;
    let options = repo_options(&args.store);
    let info = repo::RunInfo {
        package: "netcdf to-zarr".into(),
        options: recipe_options(recipe),
        tag: args.tag.clone(),
    };
    let progress = |line: &str| eprintln!("  {line}");
    let (outcome, committed) = if args.append {
        repo::append_store(recipe, &args.out, &options, &info, &progress)?
    } else {
        let (outcome, committed) = repo::write_store(
            recipe,
            &args.out,
            &options,
            args.overwrite,
            &info,
            &progress,
        )?;
        (outcome, Some(committed))
    };
    for s in &outcome.skipped {
        eprintln!("{}: already in {}; skipped", s.href, args.out);
    }
    report_left_out(&outcome.left_out);
    let (repository, snapshot, said) = snapshot_of(&args.out, &options, committed.as_ref())?;
    eprintln!(
        "{}: {} source(s) written, {} skipped, {} step(s), {:.1} MB uncompressed, {}, {:.2} s",
        args.out,
        outcome.written.len(),
        outcome.skipped.len(),
        outcome.steps,
        outcome.bytes as f64 / 1e6,
        said,
        started.elapsed().as_secs_f64()
    );
    let item_href = match &args.catalog {
        Some(location) => Some(publish_icechunk_item(
            &repository,
            &snapshot,
            committed.as_ref().and_then(|c| c.tag.as_deref()),
            false,
            (args.store_href.clone(), &item_id, &args.collection_id),
            location,
            &args.store,
        )?),
        None => None,
    };
    if args.json {
        let summary = serde_json::json!({
            "store": args.out,
            "format": "icechunk",
            "snapshot": snapshot,
            "committed": committed.is_some(),
            "tag": committed.as_ref().and_then(|c| c.tag.clone()),
            "written": outcome.written,
            "skipped": outcome.skipped,
            "left_out": outcome.left_out.iter().map(|(p, r)| serde_json::json!({"source": p, "reason": r})).collect::<Vec<_>>(),
            "steps": outcome.steps,
            "bytes": outcome.bytes,
            "item": item_href,
            "seconds": started.elapsed().as_secs_f64(),
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(if outcome.left_out.is_empty() {
        Outcome::Success
    } else {
        Outcome::SomeFailed
    })
}

/// `to-refs --format icechunk`: virtual chunk references written or
/// appended as one commit.
fn to_refs_icechunk(
    args: &ToRefsArgs,
    recipe: &Recipe,
    ref_options: &stacforge_array::refs::RefOptions,
    started: Instant,
) -> anyhow::Result<Outcome> {
    use stacforge_array::repo;
    let item_id = item_id_of(&args.out, &args.refs.series.item_id)?;
    validate_id(&item_id)?;
    let options = repo_options(&args.store);
    let info = repo::RunInfo {
        package: "netcdf to-refs".into(),
        options: serde_json::json!({
            "recipe": recipe_options(recipe),
            "inline_threshold": ref_options.inline_threshold,
            "loadable": ref_options.loadable,
            "url_prefix": ref_options.url_prefix,
        }),
        tag: args.tag.clone(),
    };
    let outcome = repo::write_refs(recipe, ref_options, &args.out, &options, args.append, &info)?;
    for s in &outcome.skipped {
        eprintln!("{}: already in {}; skipped", s.href, args.out);
    }
    report_left_out(&outcome.left_out);
    let (repository, snapshot, said) =
        snapshot_of(&args.out, &options, outcome.committed.as_ref())?;
    eprintln!(
        "{}: {} source(s) referenced, {} already there, {} virtual chunk(s) written, {}, {:.2} s",
        args.out,
        outcome.added.len(),
        outcome.skipped.len(),
        outcome.virtual_chunks,
        said,
        started.elapsed().as_secs_f64()
    );
    let item_href = match &args.catalog {
        Some(location) => Some(publish_icechunk_item(
            &repository,
            &snapshot,
            outcome.committed.as_ref().and_then(|c| c.tag.as_deref()),
            true,
            (None, &item_id, &args.collection_id),
            location,
            &args.store,
        )?),
        None => None,
    };
    if args.json {
        let summary = serde_json::json!({
            "references": args.out,
            "format": "icechunk",
            "snapshot": snapshot,
            "committed": outcome.committed.is_some(),
            "tag": outcome.committed.as_ref().and_then(|c| c.tag.clone()),
            "added": outcome.added.len(),
            "skipped": outcome.skipped.len(),
            "left_out": outcome.left_out.iter().map(|(p, r)| serde_json::json!({"source": p, "reason": r})).collect::<Vec<_>>(),
            "virtual_chunks": outcome.virtual_chunks,
            "item": item_href,
            "seconds": started.elapsed().as_secs_f64(),
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(if outcome.left_out.is_empty() {
        Outcome::Success
    } else {
        Outcome::SomeFailed
    })
}

/// The repository at `location` after a write, the snapshot the write
/// left on its branch (the new commit, else the tip when nothing was
/// new), and how to say which.
fn snapshot_of(
    location: &str,
    options: &stacforge_array::repo::RepoOptions,
    committed: Option<&stacforge_array::repo::Committed>,
) -> anyhow::Result<(stacforge_array::repo::Repo, String, String)> {
    let repository = stacforge_array::repo::Repo::open(location, options)?;
    Ok(match committed {
        Some(c) => {
            let said = format!("committed snapshot {}", c.snapshot);
            (repository, c.snapshot.clone(), said)
        }
        None => {
            let id = repository.snapshot(None)?.id;
            let said = format!("nothing new: no commit (snapshot {id})");
            (repository, id, said)
        }
    })
}

/// Writes the item describing one snapshot of a repository into the
/// catalog at `location`; returns where it is.
fn publish_icechunk_item(
    repository: &stacforge_array::repo::Repo,
    snapshot: &str,
    tag: Option<&str>,
    virtual_chunks: bool,
    (href, item_id, collection_id): (Option<String>, &str, &str),
    location: &str,
    store: &StoreArgs,
) -> anyhow::Result<String> {
    let href = match href {
        Some(h) => h,
        None if repository.location().contains("://") => repository.location().to_string(),
        None => std::path::absolute(repository.location())?
            .display()
            .to_string(),
    };
    let artifact = stacforge_array::cube::icechunk_artifact(
        repository,
        snapshot,
        tag,
        virtual_chunks,
        Some(href),
    )?;
    let job = cube_job(item_id, collection_id);
    let mut item = stacforge_array::cube::describe_cube(&job, std::slice::from_ref(&artifact))?;
    stacforge_core::render::stamp(&mut item, &[artifact], None).map_err(anyhow::Error::msg)?;
    publish_item(location, store, item, collection_id)
}

/// The job of an item describing an output written outside a catalog (its
/// sources come from the output's own record).
fn cube_job(item_id: &str, collection_id: &str) -> stacforge_core::Job {
    stacforge_core::Job {
        sources: Vec::new(),
        item_id: item_id.to_string(),
        collection_id: collection_id.to_string(),
        workdir: PathBuf::new(),
        datetime: None,
        derived_from: None,
        previous: None,
    }
}

/// Writes the item into the catalog at `location` and refreshes its
/// collection; returns where the item is.
fn publish_item(
    location: &str,
    store: &StoreArgs,
    item: stac::Item,
    collection_id: &str,
) -> anyhow::Result<String> {
    let catalog = Catalog::open_with(location, &store.to_options())?;
    let id = item.id.clone();
    catalog.write_item(item, &[])?;
    let mut collection = stacforge_netcdf::collection()?;
    collection.id = collection_id.to_string();
    catalog.write_collection(collection)?;
    let path = format!(
        "{}/{}",
        catalog.location(),
        stacforge_catalog::layout::item_path(&id)
    );
    eprintln!("{path}: item {id}");
    Ok(path)
}

/// Where an output goes: a local path, or a staging file for a URL.
struct Output {
    remote: bool,
    local: PathBuf,
    item_id: String,
    _staging: stacforge_core::fs::Cleanup,
}

fn output(out: &str, item_id: &Option<String>, staged_name: &str) -> anyhow::Result<Output> {
    let remote = out.contains("://") && !out.starts_with("file://");
    let staging = stacforge_core::fs::work_dir()?;
    let local = if remote {
        staging.path().join(staged_name)
    } else {
        PathBuf::from(out.trim_start_matches("file://"))
    };
    let item_id = item_id_of(out, item_id)?;
    Ok(Output {
        remote,
        local,
        item_id,
        _staging: staging,
    })
}

/// The item id given, else the output's name without its extension.
fn item_id_of(out: &str, item_id: &Option<String>) -> anyhow::Result<String> {
    match item_id {
        Some(id) => Ok(id.clone()),
        None => {
            let name = out
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default();
            Path::new(name)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .context("--out has no file name")
        }
    }
}
