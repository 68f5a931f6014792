//! `stacforge netcdf …`: NetCDF/HDF5 recipes to Zarr, with STAC.

use crate::cmd::create::{create_items_with, ItemArgs};
use crate::{options::StoreArgs, Outcome};
use anyhow::Context;
use stacforge_array::recipe::{self, Recipe};
use stacforge_array::zarr::{Compression, ZarrVersion};
use stacforge_catalog::Catalog;
use stacforge_core::package::validate_id;
use std::collections::BTreeMap;
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
}

#[derive(Debug, clap::Args)]
struct ToCogArgs {
    #[command(flatten)]
    items: ItemArgs,
    /// Variables to convert, comma-separated (default: every variable on an x/y grid).
    #[arg(long, value_delimiter = ',')]
    variables: Vec<String>,
    /// Shift 0–360 longitudes to −180–180 (the COG then spans −180–180).
    #[arg(long)]
    roll_longitude: bool,
}

#[derive(Debug, clap::Args)]
struct ToZarrArgs {
    /// Source files; glob patterns (quoted) are expanded. They are ordered
    /// along the concatenation dimension by their coordinate values.
    #[arg(required = true, value_name = "SRC")]
    sources: Vec<String>,
    /// The Zarr store to write: a local directory, or a URL (s3://bucket/x.zarr,
    /// gs://, az://), where the store is uploaded once complete, metadata last.
    #[arg(long, value_name = "STORE")]
    out: String,
    /// Add the sources to the existing store along its concatenation
    /// dimension; sources already in it are skipped.
    #[arg(long, conflicts_with = "overwrite")]
    append: bool,
    /// Replace an existing store.
    #[arg(long)]
    overwrite: bool,
    /// Dimension to concatenate along (default: the record dimension, else time).
    #[arg(long, value_name = "DIM")]
    concat_dim: Option<String>,
    /// Group to read in NetCDF-4 files with groups.
    #[arg(long)]
    group: Option<String>,
    /// Variables to write, comma-separated (their coordinates and grid
    /// mappings come along); default: every numeric variable.
    #[arg(long, value_delimiter = ',')]
    variables: Vec<String>,
    /// Chunk lengths per dimension, e.g. time=24,lat=180 (others planned
    /// from --target-chunk-mb).
    #[arg(long, value_delimiter = ',', value_parser = parse_chunk)]
    chunks: Vec<(String, u64)>,
    /// Target uncompressed chunk size in MB.
    #[arg(long, default_value_t = 16.0)]
    target_chunk_mb: f64,
    /// Zarr format version: 3 or 2.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(2..=3))]
    zarr_version: u8,
    /// Compression: zstd[:LEVEL] (default zstd:3), zlib[:LEVEL] or none.
    #[arg(long, default_value = "zstd", value_parser = Compression::parse)]
    compression: Compression,
    /// Unpack values while writing: scale_factor/add_offset applied, fill and
    /// missing values as NaN (default: kept as encoding, as stored).
    #[arg(long)]
    decode: bool,
    /// Also write a STAC item for the store (and its collection) into this
    /// catalog (a directory or URL).
    #[arg(long, value_name = "DIR")]
    catalog: Option<String>,
    /// Item id (default: the store's name without extension).
    #[arg(long)]
    item_id: Option<String>,
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

fn parse_chunk(text: &str) -> Result<(String, u64), String> {
    let (dim, len) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not DIM=LENGTH"))?;
    let len: u64 = len
        .parse()
        .map_err(|_| format!("`{len}` is not a chunk length"))?;
    if len == 0 {
        return Err(format!("chunk length of `{dim}` must be at least 1"));
    }
    Ok((dim.to_string(), len))
}

/// Expands glob patterns; plain paths are kept as given.
fn expand(sources: &[String]) -> anyhow::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for s in sources {
        if s.contains(['*', '?', '[']) {
            let matched: Vec<PathBuf> = glob::glob(s)
                .with_context(|| format!("bad pattern `{s}`"))?
                .filter_map(Result::ok)
                .collect();
            if matched.is_empty() {
                anyhow::bail!("no file matches `{s}`");
            }
            paths.extend(matched);
        } else {
            paths.push(PathBuf::from(s));
        }
    }
    Ok(paths)
}

pub fn run(args: &Args) -> anyhow::Result<Outcome> {
    match &args.command {
        Verb::ToZarr(a) => to_zarr(a),
        Verb::ToCog(a) => {
            let package = stacforge_netcdf::NetCdf::new(
                a.items.cog_options()?,
                stacforge_netcdf::SliceOptions {
                    variables: a.variables.clone(),
                    roll_longitude: a.roll_longitude,
                },
            );
            create_items_with(Box::new(package), &a.items)
        }
    }
}

fn to_zarr(args: &ToZarrArgs) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    if args.target_chunk_mb.is_nan() || args.target_chunk_mb <= 0.0 {
        anyhow::bail!("--target-chunk-mb must be positive");
    }
    let recipe = Recipe {
        sources: expand(&args.sources)?,
        concat_dim: args.concat_dim.clone(),
        group: args.group.clone(),
        variables: args.variables.clone(),
        chunks: args.chunks.iter().cloned().collect::<BTreeMap<_, _>>(),
        target_chunk_bytes: (args.target_chunk_mb * 1e6) as u64,
        version: if args.zarr_version == 2 {
            ZarrVersion::V2
        } else {
            ZarrVersion::V3
        },
        compression: args.compression,
        decode: args.decode,
    };
    let remote = args.out.contains("://") && !args.out.starts_with("file://");
    if remote && args.append {
        anyhow::bail!("--append works on local stores only for now; append locally, then upload");
    }
    let staging = tempfile::Builder::new()
        .prefix("stacforge-zarr-")
        .tempdir()?;
    let local = if remote {
        staging.path().join("store.zarr")
    } else {
        PathBuf::from(args.out.trim_start_matches("file://"))
    };
    let item_id = match &args.item_id {
        Some(id) => id.clone(),
        None => {
            let name = args
                .out
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default();
            Path::new(name)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .context("--out has no file name")?
        }
    };
    validate_id(&item_id)?;
    validate_id(&args.collection_id)?;
    let progress = |line: &str| eprintln!("  {line}");
    let outcome = if args.append {
        recipe::append(&recipe, &local, &progress)?
    } else {
        let plan = recipe::plan(&recipe)?;
        for w in &plan.warnings {
            eprintln!("warning: {w}");
        }
        recipe::write(&plan, &recipe, &local, args.overwrite, &progress)?
    };
    for s in &outcome.skipped {
        eprintln!("{}: already in {}; skipped", s.href, args.out);
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
        let is_metadata = |key: &str| {
            let name = key.rsplit('/').next().unwrap_or(key);
            matches!(
                name,
                "zarr.json" | ".zarray" | ".zattrs" | ".zgroup" | ".zmetadata"
            )
        };
        let n = Catalog::upload_dir(&local, &args.out, &args.store.to_options(), is_metadata)?;
        eprintln!("{}: {n} object(s) uploaded", args.out);
    }
    let mut item_href = None;
    if let Some(location) = &args.catalog {
        let href = match (&args.store_href, remote) {
            (Some(h), _) => h.clone(),
            (None, true) => args.out.clone(),
            (None, false) => absolute(&local)?.display().to_string(),
        };
        let item =
            stacforge_netcdf::cube::describe_store(&local, &href, &item_id, &args.collection_id)?;
        let catalog = Catalog::open_with(location, &args.store.to_options())?;
        catalog.write_item(item, &[])?;
        let mut collection = stacforge_netcdf::collection()?;
        collection.id = args.collection_id.clone();
        catalog.write_collection(collection)?;
        item_href = Some(format!(
            "{}/{}",
            catalog.location(),
            stacforge_catalog::layout::item_path(&item_id)
        ));
        eprintln!("{}: item {item_id}", catalog.location());
    }
    if args.json {
        let summary = serde_json::json!({
            "store": args.out,
            "written": outcome.written,
            "skipped": outcome.skipped,
            "steps": outcome.steps,
            "bytes": outcome.bytes,
            "item": item_href,
            "seconds": started.elapsed().as_secs_f64(),
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(Outcome::Success)
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    path.canonicalize()
        .with_context(|| format!("{}", path.display()))
}
