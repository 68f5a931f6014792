//! Recipes: many NetCDF/HDF5 sources combined along one dimension into one
//! Zarr store, checked for consistency first, written slab by slab in
//! bounded memory, and appended to safely.
//!
//! Safety of writes: a new store is written under a temporary sibling name
//! and renamed into place when complete. An append writes its chunks into a
//! staging directory first (the chunk that straddles the old end is rebuilt
//! there from the store's own values and the new ones), moves each chunk in
//! with an atomic rename, and rewrites the metadata last; until then readers
//! see the previous shape, and every chunk inside it keeps its old values.
//! The sources written are recorded (href, size, checksum) at the store's
//! root, so re-appending one of them is a no-op.

use crate::cf;
use crate::inventory::{Inventory, Reader, Variable};
use crate::zarr::{self, ArraySpec, Compression, StoreMeta, StoredArray, ZarrVersion, RECORD};
use crate::{ElementType, Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Largest chunk along the concatenation dimension a plan makes by itself.
const MAX_CONCAT_CHUNK: u64 = 65_536;

/// What to combine and how to write it.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// Source files, in any order (they are ordered by their concatenation
    /// coordinate).
    pub sources: Vec<PathBuf>,
    /// The dimension to concatenate along: the file's record (unlimited)
    /// dimension, or its time dimension, when not given.
    pub concat_dim: Option<String>,
    /// The group to read in NetCDF-4 files with groups.
    pub group: Option<String>,
    /// Variables to write (with their coordinates and grid mappings); all
    /// numeric variables when empty.
    pub variables: Vec<String>,
    /// Chunk length per dimension name, where the user fixed it.
    pub chunks: BTreeMap<String, u64>,
    /// Target uncompressed chunk size in bytes for dimensions not fixed.
    pub target_chunk_bytes: u64,
    /// Zarr format.
    pub version: ZarrVersion,
    /// Chunk compression.
    pub compression: Compression,
    /// Keep only the sources with a time step in this range (inclusive).
    pub time_range: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
    /// Apply CF packing and masking while writing (`scale_factor`,
    /// `add_offset`, `_FillValue`/`missing_value` → NaN) instead of keeping
    /// them as encoding.
    pub decode: bool,
    /// Leave out sources that cannot be read or do not match the others
    /// (reported in [`Plan::skipped`]) instead of refusing the whole recipe.
    pub skip_bad: bool,
}

impl Default for Recipe {
    fn default() -> Self {
        Recipe {
            sources: Vec::new(),
            concat_dim: None,
            group: None,
            variables: Vec::new(),
            chunks: BTreeMap::new(),
            target_chunk_bytes: 16 << 20,
            version: ZarrVersion::V3,
            compression: Compression::default(),
            decode: false,
            time_range: None,
            skip_bad: false,
        }
    }
}

/// A source as the store records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// Absolute path of the file.
    pub href: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA2-256 multihash of its bytes.
    pub checksum: String,
    /// Steps it contributes along the concatenation dimension.
    pub steps: usize,
}

/// The store's record of how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreRecord {
    /// The concatenation dimension.
    pub concat_dim: Option<String>,
    /// Every source written, in order along the concatenation dimension.
    pub sources: Vec<SourceRecord>,
}

/// One source placed along the concatenation dimension.
#[derive(Debug, Clone)]
struct Placed {
    inventory: Inventory,
    record: SourceRecord,
    /// First index along the concatenation dimension.
    offset: usize,
    /// Its steps.
    len: usize,
    /// Its concatenation coordinate values (raw, in the file's units).
    coords: Vec<f64>,
    /// The same values as stored (native-endian bytes).
    coord_bytes: Vec<u8>,
    /// Its position in the recipe's list of sources.
    index: usize,
}

/// A checked plan: sources in order, array specs, warnings.
#[derive(Debug, Clone)]
pub struct Plan {
    sources: Vec<Placed>,
    concat_dim: Option<String>,
    /// The arrays to write, shapes covering every source.
    pub specs: Vec<ArraySpec>,
    /// Arrays that are not numeric in the file and are written as a 0-d
    /// int32 placeholder carrying their attributes (grid mappings).
    placeholders: Vec<String>,
    attrs: Map<String, Value>,
    /// Variables left out, and why.
    pub warnings: Vec<String>,
    /// Sources left out by [`Recipe::skip_bad`], with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    group: Option<String>,
    /// How variables are unpacked, when the recipe decodes them.
    decoders: BTreeMap<String, Decoder>,
    /// The values of the variables not along the concatenation dimension
    /// (the grid: coordinates, masks, grid mappings), as the first source
    /// stores them; every source shares them.
    grid: Vec<GridValues>,
}

/// One variable's values off the concatenation dimension.
#[derive(Debug, Clone)]
struct GridValues {
    name: String,
    dtype: Option<ElementType>,
    bytes: Vec<u8>,
}

/// CF unpacking of one variable: stored values of `from` become
/// `value * scale + offset` in `to`, fill values NaN.
#[derive(Debug, Clone, PartialEq)]
struct Decoder {
    from: ElementType,
    to: ElementType,
    scale: f64,
    offset: f64,
    fills: Vec<f64>,
}

impl Decoder {
    /// The decoder for `var`, when decoding changes anything.
    fn of(var: &Variable) -> Option<Decoder> {
        let from = var.dtype?;
        let scale = var.attr_f64("scale_factor");
        let offset = var.attr_f64("add_offset");
        let mut fills: Vec<f64> = var.fill.into_iter().collect();
        if let Some(Value::Array(values)) = var.attrs.get("missing_value") {
            fills.extend(values.iter().filter_map(crate::inventory::number));
        } else if let Some(m) = var.attr_f64("missing_value") {
            fills.push(m);
        }
        if scale.is_none() && offset.is_none() && (fills.is_empty() || !from.is_float()) {
            return None;
        }
        let to = match (var.packed_as, from) {
            (Some(t), _) => t,
            (None, f) if f.is_float() => f,
            (None, f) if f.size() <= 2 => ElementType::Float32,
            _ => ElementType::Float64,
        };
        Some(Decoder {
            from,
            to,
            scale: scale.unwrap_or(1.0),
            offset: offset.unwrap_or(0.0),
            fills,
        })
    }

    /// The attributes of the decoded variable.
    fn attributes(&self, attrs: &Map<String, Value>) -> Map<String, Value> {
        let mut attrs = attrs.clone();
        for key in ["scale_factor", "add_offset", "missing_value", "_Unsigned"] {
            attrs.remove(key);
        }
        attrs
    }

    fn decode(&self, bytes: &[u8]) -> Vec<u8> {
        let values = self.from.to_f64(bytes);
        let unpack = |v: f64| {
            if self
                .fills
                .iter()
                .any(|f| *f == v || (f.is_nan() && v.is_nan()))
            {
                f64::NAN
            } else {
                v * self.scale + self.offset
            }
        };
        match self.to {
            ElementType::Float32 => values
                .into_iter()
                .flat_map(|v| (unpack(v) as f32).to_ne_bytes())
                .collect(),
            _ => values
                .into_iter()
                .flat_map(|v| unpack(v).to_ne_bytes())
                .collect(),
        }
    }
}

impl Plan {
    /// Checks that the planned sources continue the axis `before` (the
    /// values already in the store or references at `origin`): no overlap,
    /// no gap wider than the axis step.
    pub fn check_continues(&self, origin: &Path, before: &[f64]) -> Result<()> {
        check_axis(&self.sources, Some((origin, before)))
    }

    /// Checks that the planned sources' grid (every variable not along the
    /// concatenation dimension, coordinates by value) equals the one
    /// already in the store or references at `origin`, whose values
    /// `stored` gives by variable name (`None` where it cannot say).
    /// `holder` names the file those values came from, for the message.
    pub fn check_grid(
        &self,
        origin: &Path,
        holder: &str,
        mut stored: impl FnMut(&str) -> Result<Option<Vec<f64>>>,
    ) -> Result<()> {
        let Some(first) = self.sources.first() else {
            return Ok(());
        };
        for g in &self.grid {
            let Some(dtype) = g.dtype else { continue };
            let Some(before) = stored(&g.name)? else {
                continue;
            };
            let now = dtype.to_f64(&g.bytes);
            if let Some(difference) = first_value_difference(&before, &now) {
                return Err(Error::Mismatch {
                    first: PathBuf::from(holder),
                    second: first.inventory.path.clone(),
                    difference: format!(
                        "the values of `{}` (not along the concatenation dimension) differ from {}: {difference}",
                        g.name,
                        origin.display()
                    ),
                });
            }
        }
        Ok(())
    }

    /// The concatenation coordinate values of the `i`-th source (in its units).
    pub fn coordinates(&self, i: usize) -> &[f64] {
        &self.sources[i].coords
    }

    /// The concatenation coordinate of the `i`-th source as stored
    /// (native-endian bytes; empty when there is none).
    pub fn coordinate_bytes(&self, i: usize) -> &[u8] {
        &self.sources[i].coord_bytes
    }

    /// The sources in order along the concatenation dimension: header,
    /// record, first index and number of steps.
    pub fn sources(&self) -> impl Iterator<Item = (&Inventory, &SourceRecord, usize, usize)> {
        self.sources
            .iter()
            .map(|s| (&s.inventory, &s.record, s.offset, s.len))
    }

    /// Whether a variable is written as a 0-d placeholder (a non-numeric
    /// grid mapping carrying its attributes).
    pub fn is_placeholder(&self, name: &str) -> bool {
        self.placeholders.iter().any(|p| p == name)
    }

    /// The global attributes written at the root.
    pub fn attributes(&self) -> &Map<String, Value> {
        &self.attrs
    }

    /// The sources as the store records them, in order.
    pub fn records(&self) -> Vec<SourceRecord> {
        self.sources.iter().map(|s| s.record.clone()).collect()
    }

    /// The concatenation dimension.
    pub fn concat_dim(&self) -> Option<&str> {
        self.concat_dim.as_deref()
    }

    /// A variable's stored bytes as they are written (unpacked when the
    /// recipe decodes it).
    fn unpack(&self, name: &str, bytes: Vec<u8>) -> Vec<u8> {
        match self.decoders.get(name) {
            Some(d) => d.decode(&bytes),
            None => bytes,
        }
    }
}

/// Progress messages of long work.
pub type Progress<'a> = &'a (dyn Fn(&str) + Sync);

/// Inventories and checks the sources and plans the arrays.
pub fn plan(recipe: &Recipe) -> Result<Plan> {
    if recipe.sources.is_empty() {
        return Err(Error::Recipe("no sources".into()));
    }
    if recipe.skip_bad {
        // Sources that cannot even be opened are left out first, so the
        // first readable one is the reference for the others.
        let mut good = Vec::new();
        let mut unreadable = Vec::new();
        for path in &recipe.sources {
            match Reader::open(path, recipe.group.as_deref()).and_then(|r| r.inventory()) {
                Ok(_) => good.push(path.clone()),
                Err(e) => unreadable.push((path.clone(), e.to_string())),
            }
        }
        if good.is_empty() {
            return Err(Error::Recipe(format!(
                "no source can be read ({} tried; the first: {})",
                unreadable.len(),
                unreadable[0].1
            )));
        }
        let mut plan = plan_readable(&Recipe {
            sources: good,
            ..recipe.clone()
        })?;
        unreadable.extend(std::mem::take(&mut plan.skipped));
        plan.skipped = unreadable;
        return Ok(plan);
    }
    plan_readable(recipe)
}

/// [`plan`] once the sources that cannot be opened are left out.
fn plan_readable(recipe: &Recipe) -> Result<Plan> {
    // Checksums of every source, in parallel; then each source opened once:
    // its header read and checked against the first's, its grid values
    // compared, its concatenation coordinate read.
    std::thread::scope(|scope| {
        use rayon::prelude::*;
        let checksums = scope.spawn(|| {
            recipe
                .sources
                .par_iter()
                .map(|path| Ok(stacforge_core::Source::from_path(path)?))
                .collect::<Vec<Result<stacforge_core::Source>>>()
        });
        let mut plan = plan_headers(recipe)?;
        let sources = checksums.join().expect("checksum threads do not panic");
        let mut sources: Vec<Option<Result<stacforge_core::Source>>> =
            sources.into_iter().map(Some).collect();
        for p in &mut plan.sources {
            let source = sources[p.index].take().expect("each source once")?;
            p.record.href = source.path.display().to_string();
            p.record.size = source.size;
            p.record.checksum = source.checksum;
        }
        Ok(plan)
    })
}

/// Reads, checks and orders the sources' headers and coordinates, each
/// source opened once (their checksums are computed meanwhile).
fn plan_headers(recipe: &Recipe) -> Result<Plan> {
    let group = recipe.group.as_deref();
    let first_reader = Reader::open(&recipe.sources[0], group)?;
    let first = first_reader.inventory()?;
    let concat_dim = match &recipe.concat_dim {
        Some(d) => {
            if first.dim(d).is_none() {
                return Err(Error::Unsupported {
                    path: first.path.clone(),
                    message: format!("it has no dimension `{d}` to concatenate along"),
                });
            }
            Some(d.clone())
        }
        None => default_concat_dim(&first),
    };
    if concat_dim.is_none() && recipe.sources.len() > 1 {
        return Err(Error::Recipe(format!(
            "{} has no record (unlimited) or time dimension to concatenate along; give one with --concat-dim",
            first.path.display()
        )));
    }
    let (selected, placeholders, mut warnings) = select(&first, &recipe.variables)?;
    let concat = concat_dim.as_deref();
    let grid = grid_values(&first, &first_reader, &selected, concat)?;
    check_coordinates_defined(&first, &grid)?;
    let mut placed: Vec<Placed> = Vec::new();
    let mut skipped: Vec<(PathBuf, String)> = Vec::new();
    let mut first_reader = Some(first_reader);
    for (i, path) in recipe.sources.iter().enumerate() {
        // One source placed: read, checked against the first, its
        // coordinate read; `None` when the date range leaves it out.
        let one = (|| -> Result<Option<Placed>> {
            let reader = match first_reader.take() {
                Some(r) => r,
                None => Reader::open(path, group)?,
            };
            let inventory = if i == 0 {
                first.clone()
            } else {
                reader.inventory()?
            };
            if i > 0 {
                check_consistent(&first, &inventory, &selected, concat)?;
                for ((name, expected), (_, found)) in grid
                    .iter()
                    .zip(grid_values(&inventory, &reader, &selected, concat)?)
                {
                    if *expected != found {
                        let dtype = inventory.var(name).and_then(|v| v.dtype);
                        let detail = dtype
                            .and_then(|t| {
                                first_value_difference(&t.to_f64(expected), &t.to_f64(&found))
                            })
                            .map(|d| format!(": {d}"))
                            .unwrap_or_default();
                        return Err(Error::Mismatch {
                            first: first.path.clone(),
                            second: inventory.path.clone(),
                            difference: format!(
                                "the values of `{name}` (not along the concatenation dimension) differ{detail}"
                            ),
                        });
                    }
                }
            }
            let mut p = Placed {
                record: SourceRecord {
                    href: path.display().to_string(),
                    size: 0,
                    checksum: String::new(),
                    steps: 0,
                },
                inventory,
                offset: 0,
                len: 0,
                coords: Vec::new(),
                coord_bytes: Vec::new(),
                index: i,
            };
            if let Some(dim) = concat {
                p.len = p.inventory.dim(dim).map_or(0, |d| d.len);
                p.record.steps = p.len;
                if let Some(coord) = cf::coordinate(&p.inventory, dim) {
                    let coord = coord.clone();
                    if let Some(dtype) = coord.dtype {
                        let whole: Vec<Range<usize>> = coord.shape.iter().map(|&n| 0..n).collect();
                        p.coord_bytes = reader.read(&coord.name, &whole)?;
                        p.coords = dtype.to_f64(&p.coord_bytes);
                        if let Some(at) = p.coords.iter().position(|v| !v.is_finite()) {
                            return Err(Error::Unsupported {
                                path: p.inventory.path.clone(),
                                message: format!(
                                    "coordinate `{}` has no value ({}) at index {at}",
                                    coord.name, p.coords[at]
                                ),
                            });
                        }
                    }
                    if cf::is_time(&coord) {
                        let times =
                            cf::time_axis(&coord, &p.coords).map_err(|message| Error::Time {
                                path: p.inventory.path.clone(),
                                variable: coord.name.clone(),
                                message,
                            })?;
                        if let Some((from, to)) = recipe.time_range {
                            let utc: Vec<_> =
                                times.iter().filter_map(cf::CfDateTime::to_utc).collect();
                            let inside = utc.iter().any(|t| from <= *t && *t <= to);
                            if !inside {
                                warnings.push(format!(
                                    "{}: left out, no time step between {} and {}",
                                    p.inventory.path.display(),
                                    from.to_rfc3339(),
                                    to.to_rfc3339()
                                ));
                                return Ok(None);
                            }
                        }
                    }
                }
            }
            Ok(Some(p))
        })();
        match one {
            Ok(Some(p)) => placed.push(p),
            Ok(None) => {}
            Err(e) if recipe.skip_bad && i > 0 => skipped.push((path.clone(), e.to_string())),
            Err(e) => return Err(e),
        }
    }
    if placed.is_empty() {
        return Err(Error::Recipe(
            "no source has a time step in the requested date range".into(),
        ));
    }
    if concat_dim.is_some() {
        placed.sort_by(|a, b| {
            let key = |p: &Placed| p.coords.first().copied().unwrap_or(f64::NAN);
            key(a).total_cmp(&key(b))
        });
        check_axis(&placed, None)?;
        let mut offset = 0;
        for p in &mut placed {
            p.offset = offset;
            offset += p.len;
        }
    }
    let first = &placed[0].inventory;
    let total = placed.iter().map(|p| p.len).sum::<usize>();
    let mut decoders = BTreeMap::new();
    let specs = selected
        .iter()
        .map(|name| {
            let var = first.var(name).expect("selected from the inventory");
            let mut spec = spec(
                var,
                concat_dim.as_deref(),
                total,
                recipe,
                placeholders.contains(name),
            );
            // Coordinates keep their encoding (a packed time axis stays as stored).
            let coordinate = cf::is_coordinate(first, name);
            if let Some(d) = Decoder::of(var).filter(|_| recipe.decode && !coordinate) {
                spec.attrs = d.attributes(&spec.attrs);
                spec.dtype = d.to;
                spec.fill = Some(f64::NAN);
                spec.chunks = plan_chunks(
                    &spec.dims,
                    &spec.shape,
                    d.to.size() as u64,
                    concat_dim.as_deref(),
                    recipe,
                );
                decoders.insert(name.clone(), d);
            }
            spec
        })
        .collect();
    let attrs = first.attrs.clone();
    let grid = grid
        .into_iter()
        .map(|(name, bytes)| GridValues {
            dtype: first.var(&name).and_then(|v| v.dtype),
            name,
            bytes,
        })
        .collect();
    Ok(Plan {
        grid,
        skipped,
        sources: placed,
        concat_dim,
        specs,
        placeholders,
        attrs,
        warnings,
        group: recipe.group.clone(),
        decoders,
    })
}

fn default_concat_dim(inventory: &Inventory) -> Option<String> {
    if let Some(d) = inventory.dims.iter().find(|d| d.unlimited) {
        return Some(d.name.clone());
    }
    inventory
        .dims
        .iter()
        .find(|d| cf::coordinate(inventory, &d.name).is_some_and(cf::is_time))
        .map(|d| d.name.clone())
}

/// The variables to write, the non-numeric scalars written as placeholders,
/// and warnings for those left out.
fn select(
    inventory: &Inventory,
    wanted: &[String],
) -> Result<(Vec<String>, Vec<String>, Vec<String>)> {
    let mut names: Vec<String> = Vec::new();
    if wanted.is_empty() {
        names = inventory.vars.iter().map(|v| v.name.clone()).collect();
    } else {
        for w in wanted {
            let var = inventory.var(w).ok_or_else(|| Error::Unsupported {
                path: inventory.path.clone(),
                message: format!("it has no variable `{w}`"),
            })?;
            let mut add = |n: String| {
                if !names.contains(&n) {
                    names.push(n);
                }
            };
            add(var.name.clone());
            for d in &var.dims {
                if let Some(c) = cf::coordinate(inventory, d) {
                    add(c.name.clone());
                }
            }
            if let Some(gm) = var.attr_str("grid_mapping") {
                add(gm.split([':', ' ']).next().unwrap_or(gm).to_string());
            }
        }
        // Keep file order.
        names = inventory
            .vars
            .iter()
            .filter(|v| names.contains(&v.name))
            .map(|v| v.name.clone())
            .collect();
    }
    let mut selected = Vec::new();
    let mut placeholders = Vec::new();
    let mut warnings = Vec::new();
    for name in names {
        let var = inventory.var(&name).expect("from the inventory");
        if var.dtype.is_some() {
            selected.push(name);
        } else if var.dims.is_empty() {
            placeholders.push(name.clone());
            selected.push(name);
        } else {
            warnings.push(format!(
                "{}: variable `{name}` left out: its type ({}) is not numeric",
                inventory.path.display(),
                var.other_type.as_deref().unwrap_or("?")
            ));
        }
    }
    Ok((selected, placeholders, warnings))
}

/// Attributes that must agree across sources for values to mean the same.
const ENCODING_ATTRIBUTES: &[&str] = &[
    "units",
    "calendar",
    "scale_factor",
    "add_offset",
    "missing_value",
];

fn check_consistent(
    a: &Inventory,
    b: &Inventory,
    selected: &[String],
    concat: Option<&str>,
) -> Result<()> {
    let mismatch = |difference: String| Error::Mismatch {
        first: a.path.clone(),
        second: b.path.clone(),
        difference,
    };
    if let Some(missing) = selected.iter().find(|n| b.var(n).is_none()) {
        return Err(mismatch(format!(
            "variable `{missing}` is missing from the second"
        )));
    }
    for name in selected {
        let va = a.var(name).expect("selected from a");
        let vb = b.var(name).expect("checked above");
        if va.dtype != vb.dtype || va.other_type != vb.other_type {
            return Err(mismatch(format!(
                "`{name}` is {} in the first and {} in the second",
                va.type_name(),
                vb.type_name()
            )));
        }
        if va.dims != vb.dims {
            return Err(mismatch(format!(
                "`{name}` has dimensions {:?} in the first and {:?} in the second",
                va.dims, vb.dims
            )));
        }
        for (i, d) in va.dims.iter().enumerate() {
            if Some(d.as_str()) != concat && va.shape[i] != vb.shape[i] {
                return Err(mismatch(format!(
                    "`{name}` has {} `{d}` cells in the first and {} in the second",
                    va.shape[i], vb.shape[i]
                )));
            }
        }
        if !same_number(va.fill, vb.fill) {
            return Err(mismatch(format!(
                "`{name}:_FillValue` is {:?} in the first and {:?} in the second",
                va.fill, vb.fill
            )));
        }
        for key in ENCODING_ATTRIBUTES {
            if !cf::same_encoding(key, va.attrs.get(*key), vb.attrs.get(*key)) {
                return Err(mismatch(format!(
                    "`{name}:{key}` is {} in the first and {} in the second",
                    show(va.attrs.get(*key)),
                    show(vb.attrs.get(*key))
                )));
            }
        }
    }
    Ok(())
}

/// The values of the selected variables not along the concatenation
/// dimension (the grid), which every source must share.
fn grid_values(
    inventory: &Inventory,
    reader: &Reader,
    selected: &[String],
    concat: Option<&str>,
) -> Result<Vec<(String, Vec<u8>)>> {
    let mut values = Vec::new();
    for name in selected {
        let var = inventory.var(name).expect("selected");
        if var.dtype.is_none() || concat.is_some_and(|c| var.dims.iter().any(|d| d == c)) {
            continue;
        }
        let ranges: Vec<Range<usize>> = var.shape.iter().map(|&n| 0..n).collect();
        values.push((name.clone(), reader.read(name, &ranges)?));
    }
    Ok(values)
}

/// Refuses coordinate variables (1-D, named as their dimension) with a
/// missing (NaN or infinite) value: cells would have no place.
fn check_coordinates_defined(inventory: &Inventory, grid: &[(String, Vec<u8>)]) -> Result<()> {
    for (name, bytes) in grid {
        let Some(var) = inventory.var(name) else {
            continue;
        };
        let (Some(dtype), [dim]) = (var.dtype, var.dims.as_slice()) else {
            continue;
        };
        if dim != name && !cf::is_coordinate(inventory, name) {
            continue;
        }
        let values = dtype.to_f64(bytes);
        if let Some(at) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::Unsupported {
                path: inventory.path.clone(),
                message: format!(
                    "coordinate `{name}` has no value ({}) at index {at}",
                    values[at]
                ),
            });
        }
    }
    Ok(())
}

/// Where two value lists first differ (NaN equals NaN), for messages.
fn first_value_difference(before: &[f64], now: &[f64]) -> Option<String> {
    if before.len() != now.len() {
        return Some(format!("{} values against {}", before.len(), now.len()));
    }
    let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
    let at = before.iter().zip(now).position(|(a, b)| !same(*a, *b))?;
    Some(format!(
        "at index {at} it is {} there and {} here",
        before[at], now[at]
    ))
}

fn same_number(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x == y || (x.is_nan() && y.is_nan()),
        (None, None) => true,
        _ => false,
    }
}

fn show(value: Option<&Value>) -> String {
    value.map_or_else(|| "absent".to_string(), Value::to_string)
}

/// Splits `paths` into the sources not yet recorded and the records of
/// those already there (same size and checksum): appending those again is
/// a no-op.
pub fn split_recorded<'a>(
    paths: &[PathBuf],
    recorded: impl Iterator<Item = &'a SourceRecord> + Clone,
) -> Result<(Vec<PathBuf>, Vec<SourceRecord>)> {
    let mut fresh = Vec::new();
    let mut skipped = Vec::new();
    for path in paths {
        let source = stacforge_core::Source::from_path(path)?;
        match recorded
            .clone()
            .find(|r| r.checksum == source.checksum && r.size == source.size)
        {
            Some(r) => skipped.push(r.clone()),
            None => fresh.push(path.clone()),
        }
    }
    Ok((fresh, skipped))
}

/// Checks the concatenation coordinate runs strictly forward across
/// sources with no gap wider than its own step. `before` is the store's
/// axis when appending.
fn check_axis(placed: &[Placed], before: Option<(&Path, &[f64])>) -> Result<()> {
    let mut steps: Vec<f64> = Vec::new();
    if let Some((_, values)) = before {
        steps.extend(values.windows(2).map(|w| w[1] - w[0]));
    }
    for p in placed {
        steps.extend(p.coords.windows(2).map(|w| w[1] - w[0]));
    }
    let mut chain: Vec<(&Path, &[f64])> = before.into_iter().collect();
    chain.extend(
        placed
            .iter()
            .map(|p| (p.inventory.path.as_path(), p.coords.as_slice())),
    );
    chain.retain(|(_, c)| !c.is_empty());
    if steps.is_empty() {
        steps.extend(
            chain
                .windows(2)
                .map(|w| w[1].1[0] - w[0].1[w[0].1.len() - 1]),
        );
    }
    let step = steps
        .iter()
        .copied()
        .filter(|s| *s > 0.0)
        .fold(f64::INFINITY, f64::min);
    for (path, coords) in &chain {
        if coords.windows(2).any(|w| w[1] <= w[0]) {
            return Err(Error::Append {
                path: path.to_path_buf(),
                message: "its concatenation coordinate does not increase".into(),
            });
        }
    }
    for w in chain.windows(2) {
        let ((pa, a), (pb, b)) = (w[0], w[1]);
        let (last, next) = (a[a.len() - 1], b[0]);
        if next <= last {
            return Err(Error::Append {
                path: pb.to_path_buf(),
                message: format!(
                    "it overlaps {}: it starts at {next}, not after {last} where that one ends",
                    pa.display()
                ),
            });
        }
        if step.is_finite() && next - last > 1.5 * step {
            return Err(Error::Append {
                path: pb.to_path_buf(),
                message: format!(
                    "it leaves a gap after {}: it starts at {next}, {} after {last}, where the axis steps by {step}",
                    pa.display(),
                    next - last
                ),
            });
        }
    }
    Ok(())
}

fn spec(
    var: &Variable,
    concat: Option<&str>,
    total: usize,
    recipe: &Recipe,
    placeholder: bool,
) -> ArraySpec {
    let dtype = if placeholder {
        ElementType::Int32
    } else {
        var.dtype.expect("numeric")
    };
    let shape: Vec<u64> = var
        .dims
        .iter()
        .zip(&var.shape)
        .map(|(d, &n)| {
            if Some(d.as_str()) == concat {
                total as u64
            } else {
                n as u64
            }
        })
        .collect();
    let mut attrs = var.attrs.clone();
    if placeholder {
        attrs.remove("_FillValue");
    }
    ArraySpec {
        name: var.name.clone(),
        dims: var.dims.clone(),
        chunks: if var.dims.len() == 1 && Some(var.dims[0].as_str()) == concat {
            // A 1-D coordinate along the concatenation (time) is read whole
            // by every reader: one chunk as far as the planner goes, whatever
            // the data variables' chunking.
            plan_chunks(
                &var.dims,
                &shape,
                dtype.size() as u64,
                concat,
                &Recipe {
                    chunks: BTreeMap::new(),
                    ..recipe.clone()
                },
            )
        } else {
            plan_chunks(&var.dims, &shape, dtype.size() as u64, concat, recipe)
        },
        shape,
        dtype,
        fill: if placeholder { None } else { var.fill },
        attrs,
    }
}

/// Chunk shape: user-fixed lengths where given; other dimensions whole,
/// halved (largest first) while a chunk exceeds the target; the
/// concatenation dimension then takes as many steps as fit the target
/// (independent of how many steps there are, so a store made at once and
/// one grown by appends chunk alike).
pub fn plan_chunks(
    dims: &[String],
    shape: &[u64],
    item: u64,
    concat: Option<&str>,
    recipe: &Recipe,
) -> Vec<u64> {
    let target = recipe.target_chunk_bytes.max(item);
    let mut chunks: Vec<u64> = dims
        .iter()
        .zip(shape)
        .map(|(d, &n)| {
            recipe
                .chunks
                .get(d)
                .copied()
                .unwrap_or(n)
                .clamp(1, n.max(1))
        })
        .collect();
    let is_free =
        |i: usize| !recipe.chunks.contains_key(&dims[i]) && Some(dims[i].as_str()) != concat;
    let concat_at = dims.iter().position(|d| Some(d.as_str()) == concat);
    let bytes = |chunks: &[u64]| {
        chunks
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != concat_at)
            .map(|(_, &c)| c)
            .product::<u64>()
            * item
    };
    while bytes(&chunks) > target {
        let Some(i) = (0..dims.len())
            .filter(|&i| is_free(i) && chunks[i] > 1)
            .max_by_key(|&i| chunks[i])
        else {
            break;
        };
        chunks[i] = chunks[i].div_ceil(2);
    }
    if let Some(i) = concat_at {
        if let Some(&fixed) = recipe.chunks.get(&dims[i]) {
            chunks[i] = fixed.max(1);
        } else {
            chunks[i] = (target / bytes(&chunks)).clamp(1, MAX_CONCAT_CHUNK);
        }
    }
    chunks
}

/// What a write or append did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Sources written now.
    pub written: Vec<SourceRecord>,
    /// Sources already in the store (an append of them is a no-op).
    pub skipped: Vec<SourceRecord>,
    /// Steps along the concatenation dimension after the operation.
    pub steps: usize,
    /// Uncompressed bytes written.
    pub bytes: u64,
    /// Sources left out as bad ([`Recipe::skip_bad`]), with the reason.
    pub left_out: Vec<(PathBuf, String)>,
}

/// Writes a new store at `out` (refusing to replace one unless
/// `overwrite`): everything is written under a temporary sibling and
/// renamed into place at the end.
pub fn write(
    plan: &Plan,
    recipe: &Recipe,
    out: &Path,
    overwrite: bool,
    progress: Progress,
) -> Result<Outcome> {
    let _lock = lock(out)?;
    if out.exists() {
        if !overwrite {
            return Err(Error::Store {
                store: out.to_path_buf(),
                message:
                    "it already exists; append to it with --append, or replace it with --overwrite"
                        .into(),
            });
        }
        // Only a store stacforge made is ever replaced.
        StoreMeta::read(out)
            .and_then(|meta| store_record(&meta, out))
            .map_err(|e| Error::Store {
                store: out.to_path_buf(),
                message: format!(
                    "--overwrite replaces only a Zarr store stacforge wrote, and this is not one ({e}); remove it yourself or choose another --out"
                ),
            })?;
    }
    refuse_sources_inside(out, plan)?;
    let staging = sibling(out, "stacforge-new");
    let _cleanup = stacforge_core::fs::Cleanup::new(staging.clone());
    let mut attrs = plan.attrs.clone();
    attrs.insert(
        RECORD.into(),
        serde_json::to_value(StoreRecord {
            concat_dim: plan.concat_dim.clone(),
            sources: plan.records(),
        })
        .expect("serialisable"),
    );
    let meta = StoreMeta::new(recipe.version, recipe.compression, attrs, &plan.specs);
    let mut bytes = 0;
    for stored in &meta.arrays {
        bytes += write_array(plan, &staging, stored, None, progress)?;
    }
    meta.write(&staging)?;
    if out.exists() {
        stacforge_core::fs::replace_dir(&staging, out).map_err(|source| Error::Io {
            path: out.to_path_buf(),
            source,
        })?;
    } else {
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| Error::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        std::fs::rename(&staging, out).map_err(|source| Error::Io {
            path: out.to_path_buf(),
            source,
        })?;
    }
    Ok(Outcome {
        written: plan.records(),
        skipped: Vec::new(),
        steps: plan.sources.iter().map(|s| s.len).sum(),
        bytes,
        left_out: plan.skipped.clone(),
    })
}

/// Reads the store's record of its sources.
pub fn store_record(meta: &StoreMeta, store: &Path) -> Result<StoreRecord> {
    let record = meta.attrs.get(RECORD).cloned().ok_or_else(|| Error::Store {
        store: store.to_path_buf(),
        message: "it was not made by stacforge (no `stacforge` record at its root); cannot append safely".into(),
    })?;
    serde_json::from_value(record).map_err(|e| Error::Store {
        store: store.to_path_buf(),
        message: format!("its `stacforge` record is unreadable: {e}"),
    })
}

/// Appends the recipe's sources to the store at `store` along its
/// concatenation dimension. Sources already recorded in the store are
/// skipped; new ones must continue its axis with no overlap or gap and
/// match its arrays exactly (type, chunks, codecs, fill, packing).
pub fn append(recipe: &Recipe, store: &Path, progress: Progress) -> Result<Outcome> {
    let _lock = lock(store)?;
    let mut meta = StoreMeta::read(store)?;
    let mut record = store_record(&meta, store)?;
    let concat = record.concat_dim.clone().ok_or_else(|| Error::Store {
        store: store.to_path_buf(),
        message: "it has no concatenation dimension to append along".into(),
    })?;
    if recipe.concat_dim.as_ref().is_some_and(|d| *d != concat) {
        return Err(Error::Recipe(format!(
            "{} is concatenated along `{concat}`, not `{}`",
            store.display(),
            recipe.concat_dim.as_deref().unwrap_or_default()
        )));
    }
    let (fresh, skipped) = split_recorded(&recipe.sources, record.sources.iter())?;
    let old_len = record.sources.iter().map(|s| s.steps).sum::<usize>();
    if fresh.is_empty() {
        return Ok(Outcome {
            written: Vec::new(),
            skipped,
            steps: old_len,
            bytes: 0,
            left_out: Vec::new(),
        });
    }
    let sub = Recipe {
        sources: fresh,
        concat_dim: Some(concat.clone()),
        version: meta.version,
        ..recipe.clone()
    };
    let mut plan = plan(&sub)?;
    // The new arrays must be the store's arrays, but for their length.
    for spec in &mut plan.specs {
        let Some(stored) = meta.array(&spec.name) else {
            return Err(Error::Append {
                path: plan.sources[0].inventory.path.clone(),
                message: format!(
                    "variable `{}` is not in the store {}",
                    spec.name,
                    store.display()
                ),
            });
        };
        if let Some(i) = spec.dims.iter().position(|d| *d == concat) {
            spec.shape[i] = stored.shape()[i];
        }
        spec.chunks = chunk_shape(stored);
        let compression = compression_of(stored, meta.version);
        let candidate = zarr::StoreMeta::new(
            meta.version,
            compression,
            Map::new(),
            std::slice::from_ref(spec),
        );
        if let Some(difference) = first_difference(&stored.meta, &candidate.arrays[0].meta, "")
            .or_else(|| {
                first_difference(
                    &Value::Object(stored.attrs.clone()),
                    &Value::Object(candidate.arrays[0].attrs.clone()),
                    "attributes",
                )
            })
        {
            return Err(Error::Append {
                path: plan.sources[0].inventory.path.clone(),
                message: format!(
                    "`{}` differs from the store {}: {difference}",
                    spec.name,
                    store.display()
                ),
            });
        }
    }
    if let Some(missing) = meta
        .arrays
        .iter()
        .find(|a| !plan.specs.iter().any(|s| s.name == a.name))
    {
        return Err(Error::Append {
            path: plan.sources[0].inventory.path.clone(),
            message: format!(
                "it lacks variable `{}` that the store {} has",
                missing.name,
                store.display()
            ),
        });
    }
    // The axis continues the store's.
    let coord_name = plan.sources[0]
        .inventory
        .dims
        .iter()
        .find(|d| d.name == concat)
        .and_then(|_| cf::coordinate(&plan.sources[0].inventory, &concat))
        .map(|v| v.name.clone());
    let stored_coords = match coord_name.as_deref().and_then(|n| meta.array(n)) {
        Some(stored) => read_f64(store, stored)?,
        None => Vec::new(),
    };
    plan.check_continues(store, &stored_coords)?;
    let holder = record
        .sources
        .first()
        .map_or_else(|| store.display().to_string(), |s| s.href.clone());
    plan.check_grid(store, &holder, |name| match meta.array(name) {
        Some(stored) => read_f64(store, stored).map(Some),
        None => Ok(None),
    })?;
    for p in &mut plan.sources {
        p.offset += old_len;
    }
    // Stage the new chunks (and the rebuilt chunk straddling the old end).
    let staging = sibling(store, "stacforge-append");
    let _cleanup = stacforge_core::fs::Cleanup::new(staging.clone());
    let new_len = old_len + plan.sources.iter().map(|s| s.len).sum::<usize>();
    let mut bytes = 0;
    for stored in &mut meta.arrays {
        let dims = stored.dims();
        let Some(i) = dims.iter().position(|d| *d == concat) else {
            continue;
        };
        let mut shape = stored.shape();
        shape[i] = new_len as u64;
        stored.set_shape(&shape);
        bytes += write_array(&plan, &staging, stored, Some((store, old_len)), progress)?;
    }
    // The staged tree becomes the whole new store: every other file of the
    // store linked in (temporary files of killed writers left out), the
    // new metadata written, then the two trees exchanged in one step, so
    // readers see the old store or the new one, never a mix.
    link_tree(store, &staging)?;
    record.sources.extend(plan.records());
    meta.attrs.insert(
        RECORD.into(),
        serde_json::to_value(&record).expect("serialisable"),
    );
    meta.write(&staging)?;
    stacforge_core::fs::replace_dir(&staging, store).map_err(|source| Error::Io {
        path: store.to_path_buf(),
        source,
    })?;
    Ok(Outcome {
        written: plan.records(),
        skipped,
        steps: new_len,
        bytes,
        left_out: plan.skipped.clone(),
    })
}

fn compression_of(stored: &StoredArray, version: ZarrVersion) -> Compression {
    let (name, level) = match version {
        ZarrVersion::V3 => {
            let codecs = stored.meta["codecs"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            match codecs.get(1) {
                Some(c) => (
                    c["name"].as_str().unwrap_or("").to_string(),
                    c["configuration"]["level"].as_i64(),
                ),
                None => ("none".into(), None),
            }
        }
        ZarrVersion::V2 => match stored.meta["compressor"].as_object() {
            Some(c) => (
                c["id"].as_str().unwrap_or("").to_string(),
                c.get("level").and_then(Value::as_i64),
            ),
            None => ("none".into(), None),
        },
    };
    match name.as_str() {
        "zstd" => Compression::Zstd(level.unwrap_or(3) as i32),
        "gzip" | "zlib" => Compression::Deflate(level.unwrap_or(5) as u32),
        _ => Compression::None,
    }
}

/// The first place two JSON documents differ.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys()) {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                match (x.get(key), y.get(key)) {
                    (p, q) if cf::same_encoding(key, p, q) => {}
                    (Some(p), Some(q)) => {
                        if let Some(d) = first_difference(p, q, &path) {
                            return Some(d);
                        }
                    }
                    (p, q) => {
                        return Some(format!(
                            "{path} is {} in the store and {} in the source",
                            show(p),
                            show(q)
                        ))
                    }
                }
            }
            None
        }
        _ if a == b => None,
        _ => Some(format!("{at} is {a} in the store and {b} in the source")),
    }
}

/// Reads a whole 1-D array of a store as `f64`.
pub fn read_f64(store: &Path, stored: &StoredArray) -> Result<Vec<f64>> {
    let array = zarr::open_array(store, stored)?;
    let subset = array.subset_all();
    let bytes: zarrs::array::ArrayBytes =
        array
            .retrieve_array_subset(&subset)
            .map_err(|e| Error::Store {
                store: store.to_path_buf(),
                message: format!("reading `{}`: {e}", stored.name),
            })?;
    let dtype = dtype_of(stored).ok_or_else(|| Error::Store {
        store: store.to_path_buf(),
        message: format!("`{}` has an unsupported data type", stored.name),
    })?;
    let raw = bytes.into_fixed().map_err(|e| Error::Store {
        store: store.to_path_buf(),
        message: format!("reading `{}`: {e}", stored.name),
    })?;
    Ok(dtype.to_f64(&raw))
}

/// The element type of a stored array.
pub fn dtype_of(stored: &StoredArray) -> Option<ElementType> {
    let name = stored
        .meta
        .get("data_type")
        .or_else(|| stored.meta.get("dtype"))?
        .as_str()?;
    ElementType::from_zarr(name).map(|(t, _)| t)
}

/// Writes one array's chunks under `root`. Arrays along the concatenation
/// dimension are written one chunk-row slab at a time, from the sources
/// that overlap it (and, when appending, from the store for the steps
/// before `old_len`). Returns the uncompressed bytes written.
fn write_array(
    plan: &Plan,
    root: &Path,
    stored: &StoredArray,
    existing: Option<(&Path, usize)>,
    progress: Progress,
) -> Result<u64> {
    let array = zarr::open_array(root, stored)?;
    let store_err = |e: zarrs::array::ArrayError| Error::Store {
        store: root.to_path_buf(),
        message: format!("writing `{}`: {e}", stored.name),
    };
    let shape = stored.shape();
    let dims = stored.dims();
    let item = dtype_of(stored).map_or(4, ElementType::size);
    let first = &plan.sources[0];
    let concat_at = plan
        .concat_dim
        .as_ref()
        .and_then(|c| dims.iter().position(|d| d == c));
    let Some(p) = concat_at else {
        // Not along the concatenation dimension: taken whole from the first source.
        if existing.is_some() {
            return Ok(0);
        }
        let bytes = if plan.placeholders.contains(&stored.name) {
            0i32.to_ne_bytes().to_vec()
        } else {
            let ranges: Vec<Range<usize>> = shape.iter().map(|&n| 0..n as usize).collect();
            let raw = Reader::open(&first.inventory.path, plan.group.as_deref())?
                .read(&stored.name, &ranges)?;
            plan.unpack(&stored.name, raw)
        };
        let n = bytes.len() as u64;
        array
            .store_array_subset(&array.subset_all(), zarrs::array::ArrayBytes::from(bytes))
            .map_err(store_err)?;
        return Ok(n);
    };
    let chunk = chunk_shape(stored)[p] as usize;
    let total = shape[p] as usize;
    let outer: usize = shape[..p].iter().map(|&n| n as usize).product();
    let inner: usize = shape[p + 1..]
        .iter()
        .map(|&n| n as usize)
        .product::<usize>()
        * item;
    let start = match existing {
        Some((_, old_len)) => old_len / chunk * chunk,
        None => 0,
    };
    // Steps a..b (store indices) of one source, as they are written.
    let source_part = |src: &Placed, a: usize, b: usize| -> Result<Vec<u8>> {
        // The concatenation coordinate was read while planning.
        let coordinate = shape.len() == 1
            && plan
                .concat_dim
                .as_deref()
                .and_then(|c| cf::coordinate(&src.inventory, c))
                .is_some_and(|c| c.name == stored.name);
        if coordinate && !src.coord_bytes.is_empty() && !plan.decoders.contains_key(&stored.name) {
            let (from, to) = ((a - src.offset) * inner, (b - src.offset) * inner);
            return Ok(src.coord_bytes[from..to].to_vec());
        }
        let mut ranges: Vec<Range<usize>> = shape.iter().map(|&n| 0..n as usize).collect();
        ranges[p] = a - src.offset..b - src.offset;
        let part = read_part(
            &src.inventory.path,
            plan.group.as_deref(),
            &stored.name,
            &ranges,
        )?;
        Ok(plan.unpack(&stored.name, part))
    };
    let build = |s0: usize, s1: usize| -> Result<Vec<u8>> {
        let steps = s1 - s0;
        // One source covering the whole slab (the common daily-file case):
        // its bytes are the slab.
        let old_part = existing.is_some_and(|(_, old_len)| s0 < old_len);
        if !old_part {
            if let Some(src) = plan
                .sources
                .iter()
                .find(|s| s.offset <= s0 && s1 <= s.offset + s.len)
            {
                return source_part(src, s0, s1);
            }
        }
        let mut buffer = vec![0u8; outer * steps * inner];
        let mut place = |part: &[u8], at: usize, len: usize| {
            for o in 0..outer {
                let dst = (o * steps + at) * inner;
                let src = o * len * inner;
                buffer[dst..dst + len * inner].copy_from_slice(&part[src..src + len * inner]);
            }
        };
        if let Some((store, old_len)) = existing {
            if s0 < old_len {
                let old = zarr::open_array(
                    store,
                    &StoredArray {
                        meta: with_shape(stored, p, old_len),
                        ..stored.clone()
                    },
                )?;
                let mut ranges: Vec<Range<u64>> = shape.iter().map(|&n| 0..n).collect();
                ranges[p] = s0 as u64..old_len as u64;
                let subset = zarrs::array::ArraySubset::new_with_ranges(&ranges);
                let bytes: zarrs::array::ArrayBytes =
                    old.retrieve_array_subset(&subset).map_err(store_err)?;
                let raw = bytes.into_fixed().map_err(|e| Error::Store {
                    store: store.to_path_buf(),
                    message: e.to_string(),
                })?;
                place(&raw, 0, old_len - s0);
            }
        }
        for src in &plan.sources {
            let (a, b) = (src.offset.max(s0), (src.offset + src.len).min(s1));
            if a >= b {
                continue;
            }
            place(&source_part(src, a, b)?, a - s0, b - a);
        }
        Ok(buffer)
    };
    // Slabs are read, decoded, encoded and written by the worker threads, a
    // few at a time: memory holds one slab per thread, whatever the number
    // of sources.
    use rayon::prelude::*;
    let mut slabs = Vec::new();
    let mut s0 = start;
    while s0 < total {
        let s1 = ((s0 / chunk + 1) * chunk).min(total);
        slabs.push((s0, s1));
        s0 = s1;
    }
    let written = std::sync::atomic::AtomicU64::new(0);
    slabs.par_iter().try_for_each(|&(s0, s1)| -> Result<()> {
        let buffer = build(s0, s1)?;
        let mut ranges: Vec<Range<u64>> = shape.iter().map(|&n| 0..n).collect();
        ranges[p] = s0 as u64..s1 as u64;
        let subset = zarrs::array::ArraySubset::new_with_ranges(&ranges);
        let n = buffer.len() as u64;
        array
            .store_array_subset(&subset, zarrs::array::ArrayBytes::from(buffer))
            .map_err(store_err)?;
        written.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        progress(&format!("{}: steps {s0}..{s1} of {total}", stored.name));
        Ok(())
    })?;
    let written = written.into_inner();
    Ok(written)
}

/// Reads a hyperslab of a source variable: HDF5 chunks decoded directly
/// where possible (in parallel with other reads), netCDF-C otherwise.
fn read_part(
    path: &Path,
    group: Option<&str>,
    name: &str,
    ranges: &[Range<usize>],
) -> Result<Vec<u8>> {
    let dataset = match group {
        Some(g) => format!("{g}/{name}"),
        None => name.to_string(),
    };
    if let Some(bytes) = crate::chunks::read_direct(path, &dataset, ranges)? {
        return Ok(bytes);
    }
    Reader::open(path, group)?.read(name, ranges)
}

/// The chunk shape of a stored array.
pub fn chunk_shape(stored: &StoredArray) -> Vec<u64> {
    let meta = &stored.meta;
    let chunks = match meta.get("chunks") {
        Some(v2) => v2.clone(),
        None => meta["chunk_grid"]["configuration"]["chunk_shape"].clone(),
    };
    serde_json::from_value(chunks).unwrap_or_default()
}

fn with_shape(stored: &StoredArray, axis: usize, len: usize) -> Value {
    let mut shape = stored.shape();
    shape[axis] = len as u64;
    let mut meta = stored.meta.clone();
    meta["shape"] = json!(shape);
    meta
}

fn sibling(path: &Path, tag: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{tag}-{}", std::process::id()))
}

/// Hidden siblings of a store that writers make (and killed ones leave).
const STAGING_TAGS: &[&str] = &[
    "stacforge-new",
    "stacforge-append",
    "stacforge-old",
    "stacforge-tmp",
];

/// Takes the store's lock (waiting for another writer), then removes what
/// killed writers left beside it.
pub fn lock(store: &Path) -> Result<stacforge_core::fs::Lock> {
    let lock = stacforge_core::fs::Lock::acquire(
        &stacforge_core::fs::lock_path(store),
        &store.display().to_string(),
    )
    .map_err(|source| Error::Io {
        path: stacforge_core::fs::lock_path(store),
        source,
    })?;
    for stale in stacforge_core::fs::remove_stale_siblings(store, STAGING_TAGS) {
        eprintln!("{}: removed, left by an interrupted run", stale.display());
    }
    Ok(lock)
}

/// Refuses to write a store at `out` that is, or would hold, a source.
fn refuse_sources_inside(out: &Path, plan: &Plan) -> Result<()> {
    let Ok(out_abs) = resolved_path(out) else {
        return Ok(());
    };
    for p in &plan.sources {
        let path = &p.inventory.path;
        let src = path.canonicalize().unwrap_or_else(|_| path.clone());
        if src.starts_with(&out_abs) {
            return Err(Error::Store {
                store: out.to_path_buf(),
                message: format!(
                    "the source {} is inside it; writing the store there would replace the source",
                    path.display()
                ),
            });
        }
    }
    Ok(())
}

/// `path` made absolute with its existing part resolved (symlinks too).
fn resolved_path(path: &Path) -> std::io::Result<PathBuf> {
    if let Ok(p) = path.canonicalize() {
        return Ok(p);
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let base = match parent {
        Some(p) => resolved_path(p)?,
        None => std::env::current_dir()?,
    };
    Ok(base.join(path.file_name().unwrap_or_default()))
}

/// Hard-links every file of `from` into the same place under `to`, where
/// `to` has none yet (the staged new chunks win); temporary files of
/// killed writers are left out.
fn link_tree(from: &Path, to: &Path) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io {
            path: path.clone(),
            source,
        }
    };
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let name = entry.file_name();
        if name.to_string_lossy().contains(".stacforge-tmp-") {
            continue;
        }
        let (source, target) = (entry.path(), to.join(&name));
        if entry.file_type().map_err(io(&source))?.is_dir() {
            link_tree(&source, &target)?;
        } else if !target.exists() {
            std::fs::hard_link(&source, &target).map_err(io(&target))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(
        dtype: ElementType,
        attrs: serde_json::Value,
        fill: Option<f64>,
        packed_as: Option<ElementType>,
    ) -> Variable {
        Variable {
            name: "v".into(),
            dims: vec![],
            shape: vec![],
            dtype: Some(dtype),
            other_type: None,
            attrs: attrs.as_object().unwrap().clone(),
            fill,
            packed_as,
        }
    }

    #[test]
    fn decoding_unpacks_and_masks_as_cf_says() {
        let v = var(
            ElementType::Int16,
            json!({"scale_factor": 0.01, "add_offset": 0.0, "units": "C"}),
            Some(-999.0),
            Some(ElementType::Float32),
        );
        let d = Decoder::of(&v).unwrap();
        assert_eq!(d.to, ElementType::Float32);
        let raw: Vec<u8> = [1234i16, -999]
            .iter()
            .flat_map(|x| x.to_ne_bytes())
            .collect();
        let out = ElementType::Float32.to_f64(&d.decode(&raw));
        assert_eq!(out[0], f64::from(12.34f32));
        assert!(out[1].is_nan());
        assert!(!d.attributes(&v.attrs).contains_key("scale_factor"));
        // A double scale factor unpacks to float64; nothing to do for plain ints.
        let v = var(
            ElementType::Int16,
            json!({"scale_factor": 0.01}),
            None,
            Some(ElementType::Float64),
        );
        assert_eq!(Decoder::of(&v).unwrap().to, ElementType::Float64);
        assert!(Decoder::of(&var(ElementType::Int32, json!({}), Some(0.0), None)).is_none());
        // Floats with a fill value: masked, type kept.
        let v = var(
            ElementType::Float32,
            json!({"missing_value": [1e20]}),
            None,
            None,
        );
        assert_eq!(Decoder::of(&v).unwrap().to, ElementType::Float32);
    }

    #[test]
    fn chunks_fill_the_target_along_the_concat_dimension() {
        let dims: Vec<String> = ["time", "lat", "lon"].map(String::from).to_vec();
        let recipe = Recipe {
            target_chunk_bytes: 8 << 20,
            ..Recipe::default()
        };
        // 720 x 1440 float32 = 4 MiB a step: 2 steps a chunk.
        assert_eq!(
            plan_chunks(&dims, &[60, 720, 1440], 4, Some("time"), &recipe),
            vec![2, 720, 1440]
        );
        // The same whatever the number of steps (appends chunk alike).
        assert_eq!(
            plan_chunks(&dims, &[1, 720, 1440], 4, Some("time"), &recipe),
            vec![2, 720, 1440]
        );
        // A step larger than the target is split spatially.
        let small = Recipe {
            target_chunk_bytes: 1 << 20,
            ..Recipe::default()
        };
        assert_eq!(
            plan_chunks(&dims, &[5, 720, 1440], 4, Some("time"), &small),
            vec![1, 720, 360]
        );
        // User-fixed lengths win.
        let fixed = Recipe {
            chunks: [("time".to_string(), 10)].into(),
            ..recipe
        };
        assert_eq!(
            plan_chunks(&dims, &[60, 720, 1440], 4, Some("time"), &fixed)[0],
            10
        );
    }
}
