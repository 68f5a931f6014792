//! STAC for a Zarr store: an item with the datacube extension (every
//! dimension and variable), the store as a Zarr asset, the grid's CRS,
//! the time axis as the item's time range, and a `via` link to every
//! source with its size and checksum.
//!
//! The asset's `file:size` and `file:checksum` are those of the store's
//! consolidated metadata document (`zarr.json` for v3, `.zmetadata` for
//! v2), and for references those of the reference file (the `.zmetadata`
//! of a Parquet set).

use crate::grid::{grid, Grid};
use crate::{Error, Result};
use serde_json::{json, Map, Value};
use stac::{Asset, Bbox, Item, Link};
use stacforge_array::cf;
use stacforge_array::inventory::Inventory;
use stacforge_array::recipe::{read_f64, store_record};
use stacforge_array::zarr::StoreMeta;
use stacforge_core::{extension, item::add_extension, provenance::SOURCE_REL, SOFTWARE};
use std::path::Path;

/// Datacube extension schema.
pub const DATACUBE: &str = "https://stac-extensions.github.io/datacube/v2.3.0/schema.json";
/// Media type of a Zarr store (STAC best practice).
pub const ZARR_MEDIA_TYPE: &str = "application/vnd+zarr";

/// Builds the item describing the store at `store` (its asset's href is
/// `href`, a path or URL).
pub fn describe_store(
    store: &Path,
    href: &str,
    item_id: &str,
    collection_id: &str,
) -> Result<Item> {
    let meta = StoreMeta::read(store)?;
    let record = store_record(&meta, store)?;
    let inventory = Inventory::from_store(store, &meta);
    let read = |v: &stacforge_array::Variable| {
        let stored = meta.array(&v.name).expect("from the store");
        read_f64(store, stored)
    };
    let mut asset = Asset::new(href);
    asset.r#type = Some(ZARR_MEDIA_TYPE.to_string());
    asset.roles = vec!["data".into(), "zarr".into()];
    asset.title = Some(format!(
        "Zarr v{} store",
        match meta.version {
            stacforge_array::zarr::ZarrVersion::V2 => 2,
            stacforge_array::zarr::ZarrVersion::V3 => 3,
        }
    ));
    asset.additional_fields.insert(
        "xarray:open_kwargs".into(),
        json!({"engine": "zarr", "consolidated": true}),
    );
    // A store is many objects: its size and checksum are those of its
    // consolidated metadata document, which names every array.
    let document = match meta.version {
        stacforge_array::zarr::ZarrVersion::V3 => store.join("zarr.json"),
        stacforge_array::zarr::ZarrVersion::V2 => store.join(".zmetadata"),
    };
    file_fields(&mut asset, &document)?;
    let sources: Vec<(String, u64, String)> = record
        .sources
        .iter()
        .map(|s| (s.href.clone(), s.size, s.checksum.clone()))
        .collect();
    let lineage = format!(
        "{} source file(s) combined along `{}` into one Zarr store by stacforge",
        record.sources.len(),
        record.concat_dim.as_deref().unwrap_or("-")
    );
    describe(
        store,
        &inventory,
        &read,
        &sources,
        lineage,
        ("zarr", asset),
        item_id,
        collection_id,
    )
}

/// Media type of kerchunk reference JSON.
pub const REFERENCES_MEDIA_TYPE: &str = "application/json";

/// Builds the item describing kerchunk references (`origin` is their local
/// copy, `href` where readers find them). Coordinates are read from the
/// inlined values.
pub fn describe_refs(
    refs: &stacforge_array::refs::References,
    origin: &Path,
    href: &str,
    item_id: &str,
    collection_id: &str,
) -> Result<Item> {
    let record = refs.record(origin)?;
    let inventory = refs.inventory(origin)?;
    let read = |v: &stacforge_array::Variable| refs.inline_values(&v.name, origin);
    let mut asset = Asset::new(href);
    asset.r#type = Some(REFERENCES_MEDIA_TYPE.to_string());
    asset.roles = vec!["data".into(), "references".into(), "index".into()];
    asset.title = Some("kerchunk references (virtual Zarr v2)".into());
    asset.additional_fields.insert(
        "xarray:open_kwargs".into(),
        json!({"engine": "kerchunk", "chunks": {}}),
    );
    // The reference file itself; for a Parquet reference set, its
    // `.zmetadata` document.
    let document = if origin.is_dir() {
        origin.join(".zmetadata")
    } else {
        origin.to_path_buf()
    };
    file_fields(&mut asset, &document)?;
    let sources: Vec<(String, u64, String)> = record
        .sources
        .iter()
        .map(|s| {
            (
                s.record.href.clone(),
                s.record.size,
                s.record.checksum.clone(),
            )
        })
        .collect();
    let lineage = format!(
        "kerchunk references to the chunks of {} source file(s), combined along `{}`, by stacforge (the data stays in the sources)",
        sources.len(),
        record.concat_dim.as_deref().unwrap_or("-")
    );
    describe(
        origin,
        &inventory,
        &read,
        &sources,
        lineage,
        ("references", asset),
        item_id,
        collection_id,
    )
}

/// The item for a virtual or real data cube: geometry from its grid,
/// datacube dimensions and variables, time range, CRS, one asset, a `via`
/// link per source.
#[allow(clippy::too_many_arguments)]
fn describe(
    store: &Path,
    inventory: &Inventory,
    read: &dyn Fn(&stacforge_array::Variable) -> stacforge_array::Result<Vec<f64>>,
    sources: &[(String, u64, String)],
    lineage: String,
    (key, asset): (&str, Asset),
    item_id: &str,
    collection_id: &str,
) -> Result<Item> {
    let data_vars: Vec<_> = inventory
        .vars
        .iter()
        .filter(|v| !cf::is_coordinate(inventory, &v.name) && !v.dims.is_empty())
        .collect();
    let mut the_grid: Option<Grid> = None;
    for v in &data_vars {
        if let Some(g) = grid(inventory, v, &read)? {
            the_grid = Some(g);
            break;
        }
    }
    let grid = the_grid.ok_or_else(|| Error::Grid {
        path: store.to_path_buf(),
        message: "no variable has x/y (longitude/latitude or projected) coordinates; cannot place it on Earth".into(),
    })?;
    let footprint = grid.footprint(store)?;

    let mut item = Item::new(item_id);
    item.collection = Some(collection_id.to_string());
    item.geometry = Some(
        serde_json::from_value(footprint.geometry.clone())
            .map_err(|e| Error::Stac(e.to_string()))?,
    );
    item.bbox = Some(Bbox::TwoDimensional(footprint.bbox));

    // Dimensions.
    let mut dimensions = Map::new();
    let mut time_range = None;
    for dim in &inventory.dims {
        let coord = cf::coordinate(inventory, &dim.name);
        let entry = if dim.name == grid.x_dim || dim.name == grid.y_dim {
            let (axis, a) = if dim.name == grid.x_dim {
                ("x", &grid.x)
            } else {
                ("y", &grid.y)
            };
            let (lo, hi) = a.edges();
            let mut d = json!({
                "type": "spatial",
                "axis": axis,
                "extent": [lo + a.step.abs() / 2.0, hi - a.step.abs() / 2.0],
                "step": a.step,
                "reference_system": reference_system(&grid),
            });
            if let Some(c) = coord {
                d["description"] = json!(c.attr_str("long_name").unwrap_or(&c.name));
            }
            d
        } else if let Some(c) = coord.filter(|c| cf::is_time(c)) {
            let values = read(c)?;
            let times = cf::time_axis(c, &values).map_err(|message| Error::Grid {
                path: store.to_path_buf(),
                message: format!("time axis `{}`: {message}", c.name),
            })?;
            let utc: Vec<_> = times.iter().filter_map(cf::CfDateTime::to_utc).collect();
            let (Some(first), Some(last)) = (utc.first(), utc.last()) else {
                return Err(Error::Grid {
                    path: store.to_path_buf(),
                    message: format!("time axis `{}` is empty", c.name),
                });
            };
            time_range = Some((*first, *last));
            let mut d = json!({
                "type": "temporal",
                "extent": [rfc3339(first), rfc3339(last)],
            });
            if let Some(step) = iso_step(&utc) {
                d["step"] = json!(step);
            }
            if let Some(desc) = c.attr_str("long_name") {
                d["description"] = json!(desc);
            }
            d
        } else {
            let mut d = json!({"type": "other"});
            match coord {
                Some(c) if c.dtype.is_some() => {
                    let values = read(c)?;
                    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    d["extent"] = json!([finite(lo), finite(hi)]);
                    if let Some(u) = c.attr_str("units") {
                        d["unit"] = json!(u);
                    }
                    if c.attr_str("axis") == Some("Z") || c.attrs.contains_key("positive") {
                        d["type"] = json!("spatial");
                        d["axis"] = json!("z");
                    }
                    if let Some(desc) = c.attr_str("long_name") {
                        d["description"] = json!(desc);
                    }
                }
                _ => d["extent"] = json!([0, dim.len.saturating_sub(1)]),
            }
            d
        };
        dimensions.insert(dim.name.clone(), entry);
    }
    let mut variables = Map::new();
    for v in &inventory.vars {
        if dimensions.contains_key(&v.name) && v.dims.len() == 1 && v.dims[0] == v.name {
            continue;
        }
        let coordinate = cf::is_coordinate(inventory, &v.name);
        let mut entry = json!({
            "dimensions": v.dims,
            "type": if coordinate || v.dims.is_empty() { "auxiliary" } else { "data" },
        });
        if let Some(u) = v.attr_str("units") {
            entry["unit"] = json!(u);
        }
        if let Some(d) = v
            .attr_str("long_name")
            .or_else(|| v.attr_str("standard_name"))
        {
            entry["description"] = json!(d);
        }
        if let Some(t) = v.dtype {
            entry["data_type"] = json!(t.v3_name());
        }
        variables.insert(v.name.clone(), entry);
    }
    let props = &mut item.properties;
    match time_range {
        Some((start, end)) if start == end => props.datetime = Some(start),
        Some((start, end)) => {
            props.datetime = None;
            props.start_datetime = Some(start);
            props.end_datetime = Some(end);
        }
        None => {
            return Err(Error::Grid {
                path: store.to_path_buf(),
                message: "it has no time axis; give the item's time with --datetime (not supported yet for stores)".into(),
            })
        }
    }
    let fields = &mut props.additional_fields;
    fields.insert("cube:dimensions".into(), Value::Object(dimensions));
    fields.insert("cube:variables".into(), Value::Object(variables));
    if let Some(code) = &grid.crs.code {
        fields.insert("proj:code".into(), json!(code));
    } else {
        fields.insert("proj:wkt2".into(), json!(grid.crs.wkt2));
        if let Some(p) = &grid.crs.projjson {
            fields.insert("proj:projjson".into(), p.clone());
        }
    }
    fields.insert("proj:shape".into(), json!([grid.y.len, grid.x.len]));
    fields.insert(
        "proj:transform".into(),
        json!(stac_transform(grid.geotransform(false))),
    );
    if let Some(title) = inventory.attrs.get("title").and_then(Value::as_str) {
        props.title = Some(title.to_string());
    }
    fields.insert(
        "processing:software".into(),
        json!({ SOFTWARE.0: SOFTWARE.1 }),
    );
    fields.insert("processing:lineage".into(), json!(lineage));
    fields.insert(
        "created".into(),
        json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    );
    for ext in [
        DATACUBE,
        extension::PROJECTION,
        extension::PROCESSING,
        extension::FILE,
    ] {
        add_extension(&mut item, ext);
    }
    item.assets.insert(key.into(), asset);
    for (source, size, checksum) in sources {
        let href = format!("file://{}", stacforge_core::href::encode(source));
        let name = Path::new(source)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut link = Link::new(&href, SOURCE_REL).title(Some(format!("Source file {name}")));
        link.additional_fields
            .insert("file:size".into(), json!(size));
        link.additional_fields
            .insert("file:checksum".into(), json!(checksum));
        item.links.push(link);
    }
    Ok(item)
}

/// `file:size` and `file:checksum` of the document that stands for an
/// asset of many objects.
fn file_fields(asset: &mut Asset, document: &Path) -> Result<()> {
    let source = stacforge_core::Source::from_path(document)?;
    asset
        .additional_fields
        .insert("file:size".into(), json!(source.size));
    asset
        .additional_fields
        .insert("file:checksum".into(), json!(source.checksum));
    Ok(())
}

fn reference_system(grid: &Grid) -> Value {
    match (&grid.crs.code, &grid.crs.projjson) {
        (Some(code), _) if code.starts_with("EPSG:") => {
            code[5..].parse::<u32>().map_or(json!(code), |n| json!(n))
        }
        (_, Some(p)) => p.clone(),
        _ => json!(grid.crs.wkt2),
    }
}

fn finite(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

fn rfc3339(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn stac_transform(g: [f64; 6]) -> [f64; 6] {
    [g[1], g[2], g[0], g[4], g[5], g[3]]
}

/// The ISO 8601 duration between evenly spaced times, when they are.
fn iso_step(times: &[chrono::DateTime<chrono::Utc>]) -> Option<String> {
    if times.len() < 2 {
        return None;
    }
    let step = (times[1] - times[0]).num_seconds();
    if step <= 0
        || times
            .windows(2)
            .any(|w| (w[1] - w[0]).num_seconds() != step)
    {
        return None;
    }
    Some(if step % 86_400 == 0 {
        format!("P{}D", step / 86_400)
    } else if step % 3600 == 0 {
        format!("PT{}H", step / 3600)
    } else if step % 60 == 0 {
        format!("PT{}M", step / 60)
    } else {
        format!("PT{step}S")
    })
}
