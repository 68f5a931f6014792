//! `stacforge derive`: items of a catalog, an item file or a STAC API made
//! into a new collection by steps (reproject, resample, clip), each new
//! item linking to its parent and recording the steps; run through the
//! shared run loop (parallel, resumable, shardable like any run).

use crate::options::{CogArgs, StoreArgs};
use crate::sources::FetchArgs;
use crate::Outcome;
use anyhow::Context;
use serde_json::{json, Value};
use stacforge_catalog::lineage::{read, resolve, Access};
use stacforge_catalog::Catalog;
use stacforge_core::package::validate_id;
use stacforge_core::Timing;
use stacforge_derive::{Derive, Parent, Step};
use stacforge_runner::RunOptions;
use std::path::{Path, PathBuf};

/// Options of `stacforge derive`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The parent items: a catalog directory (every item under it), an item
    /// file, a published catalog (s3://bucket/stac, …), or a STAC API URL
    /// (an item, `…/collections/ID/items`, or the API's root with --bbox,
    /// --datetime or --collections to search it).
    #[arg(long, value_name = "CATALOG|ITEM|URL")]
    from: String,
    /// With a STAC API: only items in this box (W,S,E,N).
    #[arg(long, value_name = "W,S,E,N", allow_hyphen_values = true)]
    bbox: Option<String>,
    /// With a STAC API: only items at this time (RFC 3339 instant or START/END).
    #[arg(long)]
    datetime: Option<String>,
    /// With a STAC API: only items of these collections (comma-separated).
    #[arg(long, value_delimiter = ',')]
    collections: Vec<String>,
    /// The catalog to write the derived collection into.
    #[arg(long, value_name = "DIR")]
    out: String,
    /// Id of the derived collection.
    #[arg(long, default_value = "derived")]
    collection_id: String,
    /// Pixel size in the target CRS: one number (square) or X,Y.
    #[arg(long, value_delimiter = ',', value_name = "RES")]
    resolution: Vec<f64>,
    /// Keep only what is inside the polygons of this vector file (GeoJSON,
    /// shapefile, GeoPackage), nodata outside, cropped to them.
    #[arg(long, value_name = "FILE")]
    clip: Option<String>,
    /// With --clip: only the polygons where ATTR=VALUE.
    #[arg(long = "where", value_name = "ATTR=VALUE", requires = "clip")]
    where_: Option<String>,
    /// Zonal statistics instead of rasters: per polygon of this vector file
    /// and per time step, the mean, minimum, maximum and count of a cube's
    /// variables (parents with a Zarr store), as CSV and Parquet tables.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["clip", "resolution"])]
    zonal: Option<String>,
    /// With --zonal: the attribute naming each zone (default: the feature's index).
    #[arg(long, value_name = "ATTR", requires = "zonal")]
    zonal_field: Option<String>,
    /// With --zonal: count every cell a polygon touches (GDAL's ALL_TOUCHED),
    /// not only those whose centre is inside.
    #[arg(long, requires = "zonal")]
    all_touched: bool,
    /// With --zonal: the variables to summarise (default: every one on the grid).
    #[arg(long, value_delimiter = ',', requires = "zonal")]
    variables: Vec<String>,
    #[command(flatten)]
    cog: CogArgs,
    /// Units converted at once (default: number of cores).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Convert every item again, even those done before.
    #[arg(long)]
    force: bool,
    /// One JSON event per unit on standard output, then a summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    fetch: FetchArgs,
    #[command(flatten)]
    store: StoreArgs,
}

/// A parent item, read from where `--from` points.
struct Found {
    /// Its absolute href (what `derived_from` links to).
    href: String,
    doc: Value,
}

fn is_api(from: &str) -> bool {
    from.starts_with("http://") || from.starts_with("https://")
}

/// The parent items `--from` names.
fn find_parents(args: &Args, access: &Access) -> anyhow::Result<Vec<Found>> {
    let from = &args.from;
    let searching = args.bbox.is_some() || args.datetime.is_some() || !args.collections.is_empty();
    if is_api(from) {
        let search = searching.then(|| {
            let mut body = json!({"limit": 100});
            if let Some(bbox) = &args.bbox {
                let values: Vec<f64> = bbox
                    .split(',')
                    .filter_map(|v| v.trim().parse().ok())
                    .collect();
                body["bbox"] = json!(values);
            }
            if let Some(datetime) = &args.datetime {
                body["datetime"] = json!(datetime);
            }
            if !args.collections.is_empty() {
                body["collections"] = json!(args.collections);
            }
            body
        });
        let items = stacforge_catalog::api::items(from, search.as_ref(), &access.api)?;
        return items
            .into_iter()
            .map(|doc| {
                let href = self_href(&doc).with_context(|| {
                    format!(
                        "{from}: item {} has no absolute self link to derive from",
                        doc["id"]
                    )
                })?;
                Ok(Found { href, doc })
            })
            .collect();
    }
    if searching {
        anyhow::bail!(
            "--bbox, --datetime and --collections search a STAC API: give its URL with --from"
        );
    }
    let path = Path::new(from);
    if !from.contains("://") && path.is_file() {
        let href = resolve(".", &std::path::absolute(path)?.display().to_string());
        let doc = read_json(&href, access)?;
        return Ok(vec![Found { href, doc }]);
    }
    if from.contains("://") && from.ends_with(".json") {
        // One published item (a catalog is a folder).
        let doc = read_json(from, access)?;
        return Ok(vec![Found {
            href: from.clone(),
            doc,
        }]);
    }
    if !from.contains("://") && !path.is_dir() {
        anyhow::bail!(
            "{from}: no such catalog or item (a catalog directory, an item file or a URL)"
        );
    }
    // A catalog: every item document under it (the layout stacforge writes).
    let catalog = Catalog::open_with(from.trim_end_matches('/'), &access.store)?;
    let mut found = Vec::new();
    for (id, _) in catalog.item_documents()? {
        let relative = stacforge_catalog::layout::item_path(&id);
        let href = match catalog.local_dir() {
            Some(dir) => resolve(
                ".",
                &dir.join(&relative).canonicalize()?.display().to_string(),
            ),
            None => format!("{}/{relative}", catalog.location()),
        };
        let doc = read_json(&href, access)?;
        found.push(Found { href, doc });
    }
    if found.is_empty() {
        anyhow::bail!("{from}: no items (a catalog directory, an item file or a STAC API URL)");
    }
    Ok(found)
}

fn read_json(href: &str, access: &Access) -> anyhow::Result<Value> {
    let bytes = read(href, access)?.with_context(|| format!("{href}: no such document"))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{href}: not JSON"))
}

fn self_href(doc: &Value) -> Option<String> {
    doc["links"]
        .as_array()?
        .iter()
        .find(|l| l["rel"] == "self")
        .and_then(|l| l["href"].as_str())
        .filter(|h| h.contains("://"))
        .map(str::to_string)
}

/// The parent's time, from its properties.
fn timing(doc: &Value) -> Option<Timing> {
    let at = |key: &str| {
        doc["properties"][key]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    match (at("start_datetime"), at("end_datetime"), at("datetime")) {
        (Some(a), Some(b), _) => Some(Timing::Range(a, b)),
        (_, _, Some(t)) => Some(Timing::Instant(t)),
        _ => None,
    }
}

/// The parent's geometry and bbox.
fn footprint(doc: &Value) -> Option<stacforge_core::Footprint> {
    let bbox: Vec<f64> = doc["bbox"]
        .as_array()?
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    Some(stacforge_core::Footprint {
        geometry: doc.get("geometry").filter(|g| !g.is_null())?.clone(),
        bbox: <[f64; 4]>::try_from(bbox).ok()?,
    })
}

/// The asset derived from (the run loop's choice for an item source).
fn data_asset(doc: &Value) -> Option<(String, Value)> {
    stacforge_catalog::source::data_asset(doc).map(|(k, a)| (k.clone(), a.clone()))
}

/// A local copy of a parent item for the run loop: its data asset only,
/// at a local path (objects fetched into the cache, which records where
/// they came from), and `self` naming the parent itself.
fn local_copy(found: &Found, dir: &Path, args: &Args, access: &Access) -> anyhow::Result<PathBuf> {
    let id = found.doc["id"].as_str().context("an item without an id")?;
    validate_id(id)?;
    let (key, mut asset) = data_asset(&found.doc).with_context(|| {
        format!(
            "{}: no asset with the data role or a GeoTIFF type",
            found.href
        )
    })?;
    let href = resolve(&found.href, asset["href"].as_str().unwrap_or_default());
    let local = match href.strip_prefix("file://") {
        Some(_) => url::Url::parse(&href)
            .ok()
            .and_then(|u| u.to_file_path().ok())
            .with_context(|| format!("{href}: not a local path"))?,
        None => args
            .fetch
            .fetch_one(&href, &access.store)
            .with_context(|| format!("{}: fetching its asset {key}", found.href))?,
    };
    // A store (a directory) is read through its metadata document, which
    // is also what its item's checksum covers.
    let local = if local.is_dir() {
        ["zarr.json", ".zmetadata"]
            .iter()
            .map(|doc| local.join(doc))
            .find(|doc| doc.is_file())
            .with_context(|| format!("{}: a directory that is not a Zarr store", local.display()))?
    } else {
        local
    };
    asset["href"] = json!(local.display().to_string());
    let mut doc = found.doc.clone();
    doc["assets"] = json!({ key: asset });
    doc["links"] = json!([{"rel": "self", "href": found.href}]);
    let path = dir.join(format!("{id}.json"));
    std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    stacforge_core::fs::write_atomic(&path, &serde_json::to_vec_pretty(&doc)?)
        .with_context(|| format!("{}", path.display()))?;
    Ok(path)
}

/// The steps the options ask for, in the order gdalwarp applies them.
fn steps(args: &Args) -> anyhow::Result<(Vec<Step>, std::collections::BTreeMap<String, PathBuf>)> {
    let mut steps = Vec::new();
    let resolution = match args.resolution.as_slice() {
        [] => None,
        [r] => Some((*r, *r)),
        [x, y] => Some((*x, *y)),
        _ => anyhow::bail!("--resolution takes one number or X,Y"),
    };
    if args.cog.t_srs.is_some() || resolution.is_some() {
        steps.push(Step::Reproject {
            t_srs: args.cog.t_srs.clone(),
            resolution,
            resampling: args.cog.resampling.as_str().to_string(),
        });
    }
    let mut clip_paths = std::collections::BTreeMap::new();
    if let Some(file) = &args.clip {
        let path = PathBuf::from(file);
        let source =
            stacforge_core::Source::from_path(&path).with_context(|| format!("--clip {file}"))?;
        check_vector(&path)?;
        let r#where = match &args.where_ {
            Some(text) => {
                let (k, v) = text.split_once('=').context("--where takes ATTR=VALUE")?;
                Some((k.trim().to_string(), v.trim().to_string()))
            }
            None => None,
        };
        steps.push(Step::Clip {
            file: source.path.display().to_string(),
            size: source.size,
            checksum: source.checksum.clone(),
            r#where,
        });
        clip_paths.insert(source.path.display().to_string(), source.path);
    }
    if let Some(file) = &args.zonal {
        if !steps.is_empty() {
            anyhow::bail!(
                "--zonal makes tables: it does not combine with --t-srs, --resolution or --clip"
            );
        }
        let path = PathBuf::from(file);
        let source =
            stacforge_core::Source::from_path(&path).with_context(|| format!("--zonal {file}"))?;
        check_vector(&path)?;
        steps.push(Step::Zonal {
            file: source.path.display().to_string(),
            size: source.size,
            checksum: source.checksum.clone(),
            field: args.zonal_field.clone(),
            all_touched: args.all_touched,
            variables: args.variables.clone(),
        });
        clip_paths.insert(source.path.display().to_string(), source.path);
    }
    if steps.is_empty() {
        anyhow::bail!("no steps: give --t-srs, --resolution, --clip or --zonal");
    }
    Ok((steps, clip_paths))
}

/// A clip file GDAL/OGR can read, with polygons in it.
fn check_vector(path: &Path) -> anyhow::Result<()> {
    use gdal::vector::LayerAccess;
    let dataset = gdal::Dataset::open(path).with_context(|| {
        format!(
            "--clip {}: not a vector file GDAL/OGR can read",
            path.display()
        )
    })?;
    let features: u64 = dataset.layers().map(|l| l.feature_count()).sum();
    if features == 0 {
        anyhow::bail!("--clip {}: it holds no features", path.display());
    }
    Ok(())
}

pub fn run(args: &Args) -> anyhow::Result<Outcome> {
    validate_id(&args.collection_id)?;
    let access = Access {
        store: args.store.to_options(),
        api: Default::default(),
    };
    let (steps, clip_paths) = steps(args)?;
    let mut cog = args.cog.to_options()?;
    // The steps carry the CRS (and the resampling) themselves.
    cog.target_crs = None;
    let parents = find_parents(args, &access)?;
    let cache = args
        .fetch
        .cache
        .clone()
        .unwrap_or_else(crate::sources::default_cache)
        .join("derive-parents");
    let mut sources = Vec::new();
    let mut package = Derive {
        steps,
        clip_paths,
        cog,
        parents: Default::default(),
    };
    for found in &parents {
        // One folder per parent href: copies of parents that share an id
        // (in two collections) do not collide.
        let digest = stacforge_core::checksum::sha256_multihash(found.href.as_bytes())?;
        let dir = cache.join(&digest[4..20]);
        sources.push(local_copy(found, &dir, args, &access)?);
        package.parents.insert(
            found.href.clone(),
            Parent {
                id: found.doc["id"].as_str().unwrap_or_default().to_string(),
                timing: timing(&found.doc),
                footprint: footprint(&found.doc),
            },
        );
    }
    eprintln!(
        "{}: {} parent item(s); steps: {}",
        args.from,
        parents.len(),
        package
            .steps
            .iter()
            .map(Step::describe)
            .collect::<Vec<_>>()
            .join(", then ")
    );
    let catalog = Catalog::open_with(&args.out, &args.store.to_options())?;
    let mut options = RunOptions::new(&args.collection_id);
    options.jobs = args.jobs;
    options.resume = !args.force;
    // What decides the outputs, for the ledger: a change redoes the items.
    options.options = format!(
        "{} {:?}",
        serde_json::to_string(&package.expression(None, args.cog.nodata))?,
        package.cog
    );
    let display = crate::progress::Display::new(args.json, false);
    let report =
        stacforge_runner::run(&package, &sources, &catalog, &options, &|tally, outcome| {
            display.unit(tally, outcome)
        });
    display.finish();
    let report = report?;
    let units = report.run.units;
    eprintln!(
        "{} parent(s): {} derived, {} skipped (done before), {} failed; {}/collection.json lists {} item(s)",
        parents.len(),
        units.written,
        units.skipped,
        units.failed,
        catalog.location(),
        report.items
    );
    if args.json {
        println!(
            "{}",
            json!({"event": "summary", "catalog": catalog.location(), "written": units.written,
                   "skipped": units.skipped, "failed": units.failed, "items": report.items})
        );
    }
    Ok(if units.failed == 0 && units.not_run == 0 {
        Outcome::Success
    } else {
        Outcome::SomeFailed
    })
}
