//! The [`CubeProfile`] of a Zarr store or of kerchunk references: what
//! their STAC item needs (grid, footprint, CRS, dimensions, variables, time
//! range, sources), read once when they are written so that describing
//! them opens nothing ([`stacforge_core::cube::cube_item`]). The profile
//! comes from the output itself, not from the recipe, so it also describes
//! an appended store exactly.
//!
//! The conveniences array packages are built from: [`write_store`] and
//! [`write_refs`] write a cube, [`store_artifact`] and [`refs_artifact`]
//! make its [`Artifact`] (profile, size and checksum of its metadata
//! document), [`describe_cube`] its item.

fn array_err(e: Error) -> stacforge_core::Error {
    stacforge_core::Error::Convert(Box::new(e))
}

use crate::grid::{curvilinear, grid, Grid};
use crate::inventory::{Inventory, Variable};
use crate::recipe::{self as recipes, Recipe};
use crate::recipe::{read_f64, store_record};
use crate::refs::RefOptions;
use crate::refs::References;
use crate::zarr::{StoreMeta, ZarrVersion};
use crate::{cf, Error, Result};
use serde_json::{json, Value};
use stacforge_core::cube::{cube_item, metadata_document, REFERENCES_MEDIA_TYPE, ZARR_MEDIA_TYPE};
use stacforge_core::cube::{
    iso_step, reference_system, CubeDimension, CubeFormat, CubeProfile, CubeSource, CubeVariable,
    DimensionKind,
};
use stacforge_core::{Artifact, Job};
use std::path::Path;
use std::path::PathBuf;

/// Writes a new store at `out` from `recipe`, printing the plan's warnings;
/// returns what was written.
pub fn write_store(
    recipe: &Recipe,
    out: &Path,
    overwrite: bool,
) -> stacforge_core::Result<recipes::Outcome> {
    let plan = recipes::plan(recipe).map_err(array_err)?;
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    let outcome = recipes::write(&plan, recipe, out, overwrite, &|line| eprintln!("  {line}"))
        .map_err(array_err)?;
    report_left_out(&outcome.left_out);
    Ok(outcome)
}

/// Lists the sources `--skip-bad` left out, one line each.
pub fn report_left_out(left_out: &[(PathBuf, String)]) {
    for (path, reason) in left_out {
        eprintln!("SKIPPED {}: {reason}", path.display());
    }
    if !left_out.is_empty() {
        eprintln!("{} bad source(s) left out (--skip-bad)", left_out.len());
    }
}

/// The artifact of the store at `store` (its size and checksum those of
/// its consolidated metadata), with its cube profile; `href` where the
/// item should point when the store is not published beside it.
pub fn store_artifact(store: &Path, href: Option<String>) -> stacforge_core::Result<Artifact> {
    let profile = of_store(store).map_err(array_err)?;
    let document = metadata_document(store).ok_or_else(|| {
        array_err(Error::Store {
            store: store.to_path_buf(),
            message: "it has no consolidated metadata (zarr.json or .zmetadata)".into(),
        })
    })?;
    let mut artifact =
        Artifact::from_dir("zarr", store, document, ZARR_MEDIA_TYPE, &["data", "zarr"])?;
    artifact.cube = Some(profile);
    artifact.href = href;
    Ok(artifact)
}

/// The artifact of snapshot `snapshot` of an Icechunk repository (its
/// size and checksum those of the snapshot's root `zarr.json`), with the
/// cube profile read from that snapshot, and the asset fields naming it:
/// `icechunk:snapshot_id`, `icechunk:branch` and, when given,
/// `icechunk:tag`. `virtual_chunks`: the repository holds references.
pub fn icechunk_artifact(
    repo: &crate::repo::Repo,
    snapshot: &str,
    tag: Option<&str>,
    virtual_chunks: bool,
    href: Option<String>,
) -> stacforge_core::Result<Artifact> {
    let origin = PathBuf::from(repo.location());
    let opened = repo.snapshot(Some(snapshot)).map_err(array_err)?;
    let mut profile = if virtual_chunks {
        let (refs, _) =
            crate::repo::refs::read_snapshot(repo, Some(snapshot)).map_err(array_err)?;
        of_refs(&refs, &origin).map_err(array_err)?
    } else {
        of_store_in(&opened.store).map_err(array_err)?
    };
    profile.format = CubeFormat::Icechunk { virtual_chunks };
    let root = opened
        .store
        .get("zarr.json")
        .map_err(array_err)?
        .ok_or_else(|| {
            array_err(Error::Store {
                store: origin.clone(),
                message: format!("snapshot {snapshot} has no root zarr.json"),
            })
        })?;
    let checksum = stacforge_core::checksum::sha256_multihash(&root[..]).map_err(|source| {
        stacforge_core::Error::Io {
            path: origin.clone(),
            source,
        }
    })?;
    let mut asset_fields = serde_json::Map::new();
    asset_fields.insert("icechunk:snapshot_id".into(), opened.id.clone().into());
    asset_fields.insert("icechunk:branch".into(), crate::repo::BRANCH.into());
    if let Some(tag) = tag {
        asset_fields.insert("icechunk:tag".into(), tag.into());
    }
    Ok(Artifact {
        key: profile.asset_key().to_string(),
        path: origin,
        title: None,
        media_type: crate::repo::MEDIA_TYPE.to_string(),
        roles: vec!["data".into(), "zarr".into()],
        size: root.len() as u64,
        checksum,
        header_size: None,
        raster: None,
        cube: Some(profile),
        properties: serde_json::Map::new(),
        asset_fields,
        href: Some(href.unwrap_or_else(|| repo.location().to_string())),
    })
}

/// Writes references built from `recipe` at `out` (kerchunk JSON, or a
/// Parquet directory when `record_size` is given); returns them.
pub fn write_refs(
    recipe: &Recipe,
    options: &RefOptions,
    out: &Path,
    record_size: Option<usize>,
) -> stacforge_core::Result<(References, recipes::Plan)> {
    let (references, plan) = crate::refs::references(recipe, options).map_err(array_err)?;
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    report_left_out(&plan.skipped);
    save_refs(&references, out, record_size)?;
    Ok((references, plan))
}

/// Saves references at `out`: kerchunk JSON (atomically), or a Parquet
/// reference set when `record_size` is given.
pub fn save_refs(
    references: &References,
    out: &Path,
    record_size: Option<usize>,
) -> stacforge_core::Result<()> {
    match record_size {
        Some(n) => crate::refs::write_parquet(references, out, n.max(1)).map_err(array_err),
        None => {
            let text = serde_json::to_vec(&references.to_json())
                .map_err(|e| stacforge_core::Error::Convert(Box::new(e)))?;
            crate::zarr::write_atomic(out, &text).map_err(array_err)
        }
    }
}

/// The artifact of references saved at `origin` (their size and checksum:
/// the JSON file's, or a Parquet set's `.zmetadata`), with their profile.
pub fn refs_artifact(
    references: &References,
    origin: &Path,
    href: Option<String>,
) -> stacforge_core::Result<Artifact> {
    let profile = of_refs(references, origin).map_err(array_err)?;
    let roles = &["data", "references", "index"];
    let mut artifact = if origin.is_dir() {
        Artifact::from_dir(
            "references",
            origin,
            origin.join(".zmetadata"),
            REFERENCES_MEDIA_TYPE,
            roles,
        )?
    } else {
        Artifact::from_file("references", origin, REFERENCES_MEDIA_TYPE, roles)?
    };
    artifact.cube = Some(profile);
    artifact.href = href;
    Ok(artifact)
}

/// The item of a cube artifact (see [`cube_item`]); opens no file.
pub fn describe_cube(job: &Job, artifacts: &[Artifact]) -> stacforge_core::Result<stac::Item> {
    let artifact = artifacts.iter().find(|a| a.cube.is_some()).ok_or_else(|| {
        stacforge_core::Error::Profile {
            key: artifacts.first().map(|a| a.key.clone()).unwrap_or_default(),
            expected: "cube",
        }
    })?;
    cube_item(job, artifact)
}

/// The profile of the Zarr store at `store`, written by stacforge.
pub fn of_store(store: &Path) -> Result<CubeProfile> {
    of_store_in(&crate::zarr::Store::dir(store))
}

/// The profile of a Zarr store stacforge wrote (a directory, or an
/// Icechunk snapshot).
pub fn of_store_in(zarr_store: &crate::zarr::Store) -> Result<CubeProfile> {
    let store = zarr_store.origin();
    let meta = StoreMeta::read_in(zarr_store)?;
    let record = store_record(&meta, store)?;
    let inventory = Inventory::from_store(store, &meta);
    let read = |v: &Variable| {
        let stored = meta.array(&v.name).ok_or_else(|| Error::Store {
            store: store.to_path_buf(),
            message: format!("`{}` is not an array of the store", v.name),
        })?;
        read_f64(zarr_store, stored)
    };
    let sources = (record.sources.iter())
        .map(|s| CubeSource {
            href: s.href.clone(),
            size: s.size,
            checksum: s.checksum.clone(),
            etag: s.etag.clone(),
        })
        .collect();
    let version = match meta.version {
        ZarrVersion::V2 => 2,
        ZarrVersion::V3 => 3,
    };
    profile(
        store,
        &inventory,
        &read,
        CubeFormat::Zarr { version },
        sources,
        record.concat_dim,
    )
}

/// The profile of references (`origin` is their local copy: a JSON file
/// or a Parquet directory); coordinates are read from the inlined values.
pub fn of_refs(refs: &References, origin: &Path) -> Result<CubeProfile> {
    let record = refs.record(origin)?;
    let inventory = refs.inventory(origin)?;
    // Coordinates are inlined; one that is not (a large 2-D grid) is read
    // from the first source, where it is local.
    let first = (record.sources.first())
        .map(|s| PathBuf::from(&s.record.href))
        .filter(|p| p.is_file());
    let read = |v: &Variable| {
        refs.inline_values(&v.name, origin)
            .or_else(|e| match &first {
                Some(path) => {
                    let reader = crate::inventory::Reader::open(path, None)?;
                    match reader.inventory()?.var(&v.name) {
                        Some(var) => reader.read_f64(var),
                        None => Err(e),
                    }
                }
                None => Err(e),
            })
    };
    let sources = (record.sources.iter())
        .map(|s| CubeSource {
            href: s.record.href.clone(),
            size: s.record.size,
            checksum: s.record.checksum.clone(),
            etag: s.record.etag.clone(),
        })
        .collect();
    profile(
        origin,
        &inventory,
        &read,
        CubeFormat::References {
            parquet: origin.is_dir(),
        },
        sources,
        record.concat_dim,
    )
}

/// The profile of a real or virtual cube from its inventory.
fn profile(
    store: &Path,
    inventory: &Inventory,
    read: &dyn Fn(&Variable) -> Result<Vec<f64>>,
    format: CubeFormat,
    sources: Vec<CubeSource>,
    concat_dim: Option<String>,
) -> Result<CubeProfile> {
    let grid_err = |message: String| Error::Grid {
        path: store.to_path_buf(),
        message,
    };
    let mut the_grid: Option<Grid> = None;
    for v in (inventory.vars.iter())
        .filter(|v| !cf::is_coordinate(inventory, &v.name) && !v.dims.is_empty())
    {
        if let Some(g) = grid(inventory, v, read)? {
            the_grid = Some(g);
            break;
        }
    }
    // A regular grid, else a curvilinear one (2-D latitude/longitude).
    let regular = the_grid.as_ref();
    let (footprint, crs, shape, geotransform) = match regular {
        Some(grid) => (
            grid.footprint(store)?,
            grid.crs.clone(),
            [grid.y.len, grid.x.len],
            Some(grid.geotransform(false)),
        ),
        None => {
            let c = curvilinear(inventory, read)?.ok_or_else(|| {
                grid_err("no variable has x/y (longitude/latitude or projected) coordinates, regular or 2-D; cannot place it on Earth".into())
            })?;
            (c.footprint, wgs84(store)?, c.shape, None)
        }
    };

    let mut dimensions = Vec::new();
    let mut time = None;
    for dim in &inventory.dims {
        let coord = cf::coordinate(inventory, &dim.name);
        let description = |c: &Variable| c.attr_str("long_name").map(str::to_string);
        let mut d = CubeDimension {
            name: dim.name.clone(),
            kind: DimensionKind::Other,
            axis: None,
            extent: [json!(0), json!(dim.len.saturating_sub(1))],
            step: None,
            reference_system: None,
            unit: None,
            description: None,
        };
        if let Some(grid) = regular.filter(|g| dim.name == g.x_dim || dim.name == g.y_dim) {
            let (axis, a) = if dim.name == grid.x_dim {
                ("x", &grid.x)
            } else {
                ("y", &grid.y)
            };
            let (lo, hi) = a.edges();
            d.kind = DimensionKind::Spatial;
            d.axis = Some(axis.into());
            d.extent = [
                json!(lo + a.step.abs() / 2.0),
                json!(hi - a.step.abs() / 2.0),
            ];
            d.step = Some(json!(a.step));
            d.reference_system = Some(reference_system(&grid.crs));
            d.description = coord.map(|c| description(c).unwrap_or_else(|| c.name.clone()));
        } else if let Some(c) = coord.filter(|c| cf::is_time(c)) {
            let values = read(c)?;
            let times = cf::time_axis(c, &values)
                .map_err(|message| grid_err(format!("time axis `{}`: {message}", c.name)))?;
            let utc: Vec<_> = times.iter().filter_map(cf::CfDateTime::to_utc).collect();
            let (Some(first), Some(last)) = (utc.first(), utc.last()) else {
                return Err(grid_err(format!("time axis `{}` is empty", c.name)));
            };
            time = Some((*first, *last));
            d.kind = DimensionKind::Temporal;
            d.extent = [json!(rfc3339(first)), json!(rfc3339(last))];
            d.step = iso_step(&utc).map(Value::from);
            d.description = description(c);
        } else if let Some(c) = coord.filter(|c| c.dtype.is_some()) {
            let values = read(c)?;
            let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            d.extent = [finite(lo), finite(hi)];
            d.unit = c.attr_str("units").map(str::to_string);
            if c.attr_str("axis") == Some("Z") || c.attrs.contains_key("positive") {
                d.kind = DimensionKind::Spatial;
                d.axis = Some("z".into());
            }
            d.description = description(c);
        }
        dimensions.push(d);
    }
    let mut variables = Vec::new();
    for v in &inventory.vars {
        if dimensions.iter().any(|d| d.name == v.name) && v.dims.len() == 1 && v.dims[0] == v.name {
            continue;
        }
        let coordinate =
            cf::is_coordinate(inventory, &v.name) || cf::is_auxiliary(inventory, &v.name);
        variables.push(CubeVariable {
            name: v.name.clone(),
            dimensions: v.dims.clone(),
            kind: if coordinate || v.dims.is_empty() {
                "auxiliary"
            } else {
                "data"
            }
            .into(),
            unit: v.attr_str("units").map(str::to_string),
            description: v
                .attr_str("long_name")
                .or_else(|| v.attr_str("standard_name"))
                .map(str::to_string),
            data_type: v.dtype.map(|t| t.v3_name().to_string()),
        });
    }
    Ok(CubeProfile {
        format,
        dimensions,
        variables,
        crs,
        shape,
        geotransform,
        footprint,
        time,
        title: (inventory.attrs.get("title"))
            .and_then(Value::as_str)
            .map(str::to_string),
        sources,
        concat_dim,
    })
}

/// WGS84 longitude/latitude, the reference system of 2-D coordinates.
fn wgs84(path: &Path) -> Result<stacforge_core::Crs> {
    let mut srs = gdal::spatial_ref::SpatialRef::from_epsg(4326).map_err(|source| Error::Gdal {
        path: path.to_path_buf(),
        source,
    })?;
    srs.set_axis_mapping_strategy(gdal::spatial_ref::AxisMappingStrategy::TraditionalGisOrder);
    Ok(stacforge_raster::inspect::crs(&srs, path)?)
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
