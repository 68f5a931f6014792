//! Virtual Zarr: kerchunk references (version 1 JSON) for NetCDF-4/HDF5
//! files, one set per file or one combined along a dimension, and appended
//! to without re-reading the files already in it.
//!
//! Chunk byte ranges come from the HDF5 chunk index ([`crate::chunks`]),
//! never from reading data. Small variables (1-D coordinates, scalars,
//! anything under the inline threshold or listed as loadable) are inlined,
//! so readers need not open the files for them. The metadata follows Zarr
//! v2 as xarray writes it (`_ARRAY_DIMENSIONS`, `fill_value` = `_FillValue`).

use crate::chunks::{Codec, H5File, Layout};
use crate::inventory::{Inventory, Reader};
use crate::recipe::{self, Plan, Recipe, SourceRecord};
use crate::{cf, ElementType, Error, Result};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// How references are made.
#[derive(Debug, Clone)]
pub struct RefOptions {
    /// Variables up to this many bytes are inlined.
    pub inline_threshold: u64,
    /// Variables always inlined (PO.DAAC's LOADABLE_VARS).
    pub loadable: Vec<String>,
    /// The href readers use for each source (default: its absolute path).
    pub url_prefix: Option<String>,
}

impl Default for RefOptions {
    fn default() -> Self {
        RefOptions {
            inline_threshold: 500,
            loadable: Vec::new(),
            url_prefix: None,
        }
    }
}

/// A source as a reference set records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefSource {
    /// The file as recorded for the recipe (size, checksum, steps).
    #[serde(flatten)]
    pub record: SourceRecord,
    /// The href chunks of this file are read from.
    pub url: String,
    /// Modification time (RFC 3339), to notice a changed file cheaply.
    pub modified: Option<String>,
}

/// The record kept in the root `.zattrs` under `stacforge`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefRecord {
    /// The concatenation dimension.
    pub concat_dim: Option<String>,
    /// Every source, in order.
    pub sources: Vec<RefSource>,
}

/// A kerchunk reference set (version 1): keys to inline text/base64 data
/// or `[url, offset, size]` ranges.
#[derive(Debug, Clone, PartialEq)]
pub struct References {
    /// The references.
    pub refs: BTreeMap<String, Value>,
}

impl References {
    /// The kerchunk JSON document.
    pub fn to_json(&self) -> Value {
        json!({"version": 1, "refs": self.refs})
    }

    /// Parses a kerchunk JSON document (version 1, or version 0: a bare map).
    pub fn from_json(doc: &Value, origin: &Path) -> Result<References> {
        let refs = doc
            .get("refs")
            .unwrap_or(doc)
            .as_object()
            .ok_or_else(|| Error::Store {
                store: origin.to_path_buf(),
                message: "not a kerchunk reference document".into(),
            })?;
        Ok(References {
            refs: refs.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        })
    }

    fn json_at(&self, key: &str, origin: &Path) -> Result<Value> {
        let text = self
            .refs
            .get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Store {
                store: origin.to_path_buf(),
                message: format!("no `{key}`"),
            })?;
        serde_json::from_str(text).map_err(|e| Error::Store {
            store: origin.to_path_buf(),
            message: format!("`{key}` is not JSON: {e}"),
        })
    }

    fn set_json(&mut self, key: String, value: &Value) {
        self.refs.insert(key, Value::String(value.to_string()));
    }

    /// The record of sources at the root.
    pub fn record(&self, origin: &Path) -> Result<RefRecord> {
        let attrs = self.json_at(".zattrs", origin)?;
        let record = attrs.get(crate::zarr::RECORD).cloned().ok_or_else(|| Error::Store {
            store: origin.to_path_buf(),
            message: "these references were not made by stacforge (no `stacforge` record); cannot append safely".into(),
        })?;
        serde_json::from_value(record).map_err(|e| Error::Store {
            store: origin.to_path_buf(),
            message: format!("unreadable `stacforge` record: {e}"),
        })
    }

    /// The variables (arrays) in the set.
    pub fn arrays(&self) -> Vec<String> {
        self.refs
            .keys()
            .filter_map(|k| k.strip_suffix("/.zarray"))
            .map(str::to_string)
            .collect()
    }

    /// The header of the virtual dataset, as if it were a file.
    pub fn inventory(&self, origin: &Path) -> Result<Inventory> {
        let mut meta = crate::zarr::StoreMeta {
            version: crate::zarr::ZarrVersion::V2,
            attrs: self
                .json_at(".zattrs", origin)?
                .as_object()
                .cloned()
                .unwrap_or_default(),
            arrays: Vec::new(),
        };
        for name in self.arrays() {
            meta.arrays.push(crate::zarr::StoredArray {
                meta: self.json_at(&format!("{name}/.zarray"), origin)?,
                attrs: self
                    .json_at(&format!("{name}/.zattrs"), origin)?
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                name,
            });
        }
        Ok(Inventory::from_store(origin, &meta))
    }

    /// The values of an inlined 1-D (or scalar) array, as `f64`.
    pub fn inline_values(&self, name: &str, origin: &Path) -> Result<Vec<f64>> {
        let zarray = self.json_at(&format!("{name}/.zarray"), origin)?;
        let dtype =
            parse_v2_dtype(zarray["dtype"].as_str().unwrap_or_default()).ok_or_else(|| {
                Error::Store {
                    store: origin.to_path_buf(),
                    message: format!("`{name}` has an unsupported dtype"),
                }
            })?;
        let ndim = zarray["shape"].as_array().map_or(0, Vec::len);
        let key = format!("{name}/{}", vec!["0"; ndim.max(1)].join("."));
        let bytes = match self.refs.get(&key) {
            Some(Value::String(s)) => decode_inline(s).ok_or_else(|| Error::Store {
                store: origin.to_path_buf(),
                message: format!("`{key}` is not inline data"),
            })?,
            _ => {
                return Err(Error::Store {
                    store: origin.to_path_buf(),
                    message: format!("`{name}` is not inlined"),
                })
            }
        };
        let (t, big) = dtype;
        let mut bytes = bytes;
        if big && t.size() > 1 {
            for e in bytes.chunks_exact_mut(t.size()) {
                e.reverse();
            }
        }
        Ok(t.to_f64(&bytes))
    }
}

fn decode_inline(text: &str) -> Option<Vec<u8>> {
    match text.strip_prefix("base64:") {
        Some(b64) => base64::engine::general_purpose::STANDARD.decode(b64).ok(),
        None => Some(text.as_bytes().to_vec()),
    }
}

fn inline(bytes: &[u8]) -> Value {
    Value::String(format!(
        "base64:{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// `(type, big-endian)` of a Zarr v2 dtype string such as `<i2` or `>f4`.
fn parse_v2_dtype(text: &str) -> Option<(ElementType, bool)> {
    ElementType::from_zarr(text)
}

fn v2_dtype(t: ElementType, big: bool) -> String {
    let name = t.v2_name();
    if big && t.size() > 1 {
        format!(">{}", &name[1..])
    } else {
        name.to_string()
    }
}

fn fill_json(fill: Option<f64>, t: ElementType) -> Value {
    match fill {
        None => Value::Null,
        Some(f) if t.is_float() && f.is_nan() => "NaN".into(),
        Some(f) if t.is_float() && f.is_infinite() => {
            (if f > 0.0 { "Infinity" } else { "-Infinity" }).into()
        }
        Some(f) if t.is_float() => f.into(),
        Some(f) => (f as i64).into(),
    }
}

fn codecs_json(codecs: &[Codec]) -> Value {
    if codecs.is_empty() {
        return Value::Null;
    }
    Value::Array(
        codecs
            .iter()
            .map(|c| match c {
                Codec::Shuffle(size) => json!({"id": "shuffle", "elementsize": size}),
                Codec::Deflate(level) => json!({"id": "zlib", "level": level}),
                Codec::Fletcher32 => json!({"id": "fletcher32"}),
            })
            .collect(),
    )
}

fn chunk_key(name: &str, index: &[u64]) -> String {
    if index.is_empty() {
        format!("{name}/0")
    } else {
        format!(
            "{name}/{}",
            index
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(".")
        )
    }
}

/// Where a file's variables lie: its HDF5 chunk index, or its classic
/// NetCDF header.
enum Index {
    Hdf5(H5File),
    Classic(crate::nc3::Header),
}

impl Index {
    /// The file's format, for messages.
    fn kind(&self) -> &'static str {
        match self {
            Index::Hdf5(_) => "NetCDF-4/HDF5",
            Index::Classic(_) => "classic NetCDF (NetCDF-3)",
        }
    }

    fn open(path: &Path) -> Result<Index> {
        if let Ok(h5) = H5File::open(path) {
            return Ok(Index::Hdf5(h5));
        }
        match crate::nc3::read_header(path)? {
            Some(header) => Ok(Index::Classic(header)),
            None => Err(Error::Unsupported {
                path: path.to_path_buf(),
                message: "neither HDF5 (NetCDF-4) nor classic NetCDF: no byte ranges to reference"
                    .into(),
            }),
        }
    }
}

/// One variable's references in one file.
struct VarRefs {
    zarray: Value,
    zattrs: Map<String, Value>,
    /// Chunk index → reference.
    chunks: Vec<(Vec<u64>, Value)>,
    /// The chunk length along each dimension.
    chunk_shape: Vec<u64>,
}

/// References of one variable of one file.
fn var_refs(
    inventory: &Inventory,
    name: &str,
    url: &str,
    options: &RefOptions,
    placeholder: bool,
    index: &Index,
    preloaded: Option<&[u8]>,
) -> Result<VarRefs> {
    let (h5, nc3) = match index {
        Index::Hdf5(h5) => (Some(h5), None),
        Index::Classic(header) => (None, Some(header)),
    };
    let path = &inventory.path;
    let var = inventory.var(name).expect("planned");
    let mut zattrs = var.attrs.clone();
    zattrs.insert("_ARRAY_DIMENSIONS".into(), json!(var.dims));
    let shape: Vec<u64> = var.shape.iter().map(|&n| n as u64).collect();
    let dataset = match &inventory.group {
        Some(g) => format!("{g}/{name}"),
        None => name.to_string(),
    };
    let dtype = if placeholder {
        ElementType::Int32
    } else {
        var.dtype.expect("numeric")
    };
    let bytes = shape.iter().product::<u64>() * dtype.size() as u64;
    let storage = match (h5, placeholder || preloaded.is_some()) {
        (Some(h5), false) => Some(h5.storage(&dataset)?),
        _ => None,
    };
    let is_coord = var.dims.len() == 1 && cf::is_coordinate(inventory, name);
    let small = bytes <= options.inline_threshold || options.loadable.iter().any(|l| l == name);
    let inlined = placeholder
        || preloaded.is_some()
        || var.dims.is_empty()
        || is_coord
        || small
        || (nc3.is_none()
            && storage
                .as_ref()
                .is_none_or(|s| matches!(s.layout, Layout::Compact)));
    if inlined {
        let data = if placeholder {
            0i32.to_le_bytes().to_vec()
        } else if let Some(bytes) = preloaded {
            bytes.to_vec()
        } else {
            let ranges: Vec<std::ops::Range<usize>> = var.shape.iter().map(|&n| 0..n).collect();
            Reader::open(path, inventory.group.as_deref())?.read(name, &ranges)?
        };
        let chunk_shape = shape.iter().map(|&n| n.max(1)).collect::<Vec<_>>();
        let zarray = json!({
            "shape": shape,
            "chunks": chunk_shape,
            "dtype": dtype.v2_name(),
            "fill_value": fill_json(if placeholder { None } else { var.fill }, dtype),
            "order": "C",
            "filters": null,
            "compressor": null,
            "zarr_format": 2,
        });
        let index = vec![0u64; shape.len()];
        return Ok(VarRefs {
            zarray,
            zattrs,
            chunks: vec![(index, inline(&data))],
            chunk_shape,
        });
    }
    if let Some(header) = nc3 {
        // Classic NetCDF: big-endian values at offsets from the header.
        let place = header.vars.get(name).ok_or_else(|| Error::Read {
            path: path.to_path_buf(),
            what: format!("variable `{name}`"),
            message: "not in the classic header".into(),
        })?;
        let (chunk_shape, chunks) = if place.record {
            let mut chunk = shape.clone();
            chunk[0] = 1;
            let refs = (0..shape[0])
                .map(|r| {
                    let mut index = vec![0u64; shape.len()];
                    index[0] = r;
                    (
                        index,
                        json!([url, place.begin + r * header.recsize, place.size]),
                    )
                })
                .collect();
            (chunk, refs)
        } else {
            (
                shape.clone(),
                vec![(
                    vec![0u64; shape.len()],
                    json!([url, place.begin, place.size]),
                )],
            )
        };
        let zarray = json!({
            "shape": shape,
            "chunks": chunk_shape,
            "dtype": v2_dtype(dtype, true),
            "fill_value": fill_json(var.fill, dtype),
            "order": "C",
            "filters": null,
            "compressor": null,
            "zarr_format": 2,
        });
        return Ok(VarRefs {
            zarray,
            zattrs,
            chunks,
            chunk_shape,
        });
    }
    let storage = storage.expect("not inlined without HDF5 storage");
    let h5 = h5.expect("storage came from it");
    let codecs = storage
        .filters
        .clone()
        .map_err(|message| Error::Unsupported {
            path: path.to_path_buf(),
            message: format!("variable `{name}`: {message}"),
        })?;
    let (chunk_shape, codecs, chunks) = match &storage.layout {
        Layout::Chunked(chunk) => {
            let region: Vec<std::ops::Range<u64>> = shape.iter().map(|&n| 0..n).collect();
            let mut refs = Vec::new();
            for origin in crate::chunks::chunks_in(&shape, chunk, &region) {
                if let Some(loc) = h5.chunk(&dataset, &origin)? {
                    if loc.filter_mask != 0 {
                        return Err(Error::Unsupported {
                            path: path.to_path_buf(),
                            message: format!("variable `{name}`: a chunk skips some of its filters; Zarr cannot express that"),
                        });
                    }
                    let index: Vec<u64> = origin.iter().zip(chunk).map(|(o, c)| o / c).collect();
                    refs.push((index, json!([url, loc.addr, loc.size])));
                }
            }
            (chunk.clone(), codecs, refs)
        }
        Layout::Contiguous { addr, size } => {
            let index = vec![0u64; shape.len()];
            let refs = match addr {
                Some(a) => vec![(index, json!([url, a, size]))],
                None => Vec::new(),
            };
            (shape.clone(), Vec::new(), refs)
        }
        Layout::Compact => unreachable!("compact variables are inlined"),
    };
    let zarray = json!({
        "shape": shape,
        "chunks": chunk_shape,
        "dtype": v2_dtype(dtype, storage.big_endian),
        "fill_value": fill_json(var.fill, dtype),
        "order": "C",
        "filters": codecs_json(&codecs),
        "compressor": null,
        "zarr_format": 2,
    });
    Ok(VarRefs {
        zarray,
        zattrs,
        chunks,
        chunk_shape,
    })
}

fn source_url(path: &Path, options: &RefOptions) -> String {
    match &options.url_prefix {
        Some(prefix) => format!(
            "{}/{}",
            prefix.trim_end_matches('/'),
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ),
        // Absolute, as readers resolve chunk paths from wherever they run.
        None => std::path::absolute(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .display()
            .to_string(),
    }
}

fn modified(path: &Path) -> Option<String> {
    let time = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(
        chrono::DateTime::<chrono::Utc>::from(time)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// The references of the planned sources (one file, or several combined
/// along the plan's concatenation dimension). `previous` holds the
/// references being appended to (read from `origin`) and the number of
/// steps they cover.
fn build(
    plan: &Plan,
    options: &RefOptions,
    previous: Option<(&References, &Path, usize)>,
) -> Result<References> {
    let mut out = match previous {
        Some((refs, _, _)) => refs.clone(),
        None => References {
            refs: BTreeMap::new(),
        },
    };
    let offset0 = previous.map_or(0, |(_, _, n)| n);
    let concat = plan.concat_dim().map(str::to_string);
    let total = offset0 + plan.sources().map(|(_, _, _, len)| len).sum::<usize>();
    let mut sources = match previous {
        Some((refs, origin, _)) => refs.record(origin)?.sources,
        None => Vec::new(),
    };
    // Concatenated coordinate values (inline bytes), in order.
    let mut concat_inline: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut first_kind: Option<(&Path, &'static str)> = None;
    for (i, (inventory, record, offset, len)) in plan.sources().enumerate() {
        let path = &inventory.path;
        let url = source_url(path, options);
        let index = Index::open(path)?;
        // One array description serves every file: classic files (raw
        // big-endian values) and HDF5 ones (their own chunks and filters)
        // cannot share it.
        match first_kind {
            None => first_kind = Some((path.as_path(), index.kind())),
            Some((first, kind)) if kind != index.kind() => {
                return Err(Error::Mismatch {
                    first: first.to_path_buf(),
                    second: path.clone(),
                    difference: format!(
                        "the first is {kind} and the second {}; their chunks cannot be described by one set of references (make one set per format)",
                        index.kind()
                    ),
                })
            }
            Some(_) => {}
        }
        for spec in &plan.specs {
            let name = &spec.name;
            let var = inventory.var(name).expect("planned");
            let along = concat
                .as_ref()
                .and_then(|c| var.dims.iter().position(|d| d == c));
            if along.is_none() && (i > 0 || previous.is_some()) {
                continue; // taken once, from the first file
            }
            // The concatenation coordinate was read while planning.
            let is_concat_coord = along.is_some()
                && var.dims.len() == 1
                && concat
                    .as_deref()
                    .and_then(|c| cf::coordinate(inventory, c))
                    .is_some_and(|c| c.name == *name);
            let preloaded = is_concat_coord
                .then(|| plan.coordinate_bytes(i))
                .filter(|b| !b.is_empty());
            let vr = var_refs(
                inventory,
                name,
                &url,
                options,
                plan.is_placeholder(name),
                &index,
                preloaded,
            )?;
            let mut zarray = vr.zarray.clone();
            let Some(p) = along else {
                out.set_json(format!("{name}/.zarray"), &zarray);
                out.set_json(format!("{name}/.zattrs"), &Value::Object(vr.zattrs.clone()));
                for (index, r) in vr.chunks {
                    out.refs.insert(chunk_key(name, &index), r);
                }
                continue;
            };
            let global = offset0 + offset;
            let inline_coord =
                vr.chunks.len() == 1 && vr.chunks[0].1.is_string() && var.dims.len() == 1;
            if inline_coord {
                // A 1-D coordinate along the concatenation: values merged.
                let bytes =
                    decode_inline(vr.chunks[0].1.as_str().unwrap_or_default()).unwrap_or_default();
                let merged = concat_inline
                    .entry(name.clone())
                    .or_insert_with(|| match previous {
                        Some((refs, _, _)) => refs
                            .refs
                            .get(&format!("{name}/0"))
                            .and_then(Value::as_str)
                            .and_then(decode_inline)
                            .unwrap_or_default(),
                        None => Vec::new(),
                    });
                merged.extend_from_slice(&bytes);
                zarray["shape"][p] = json!(total);
                zarray["chunks"][p] = json!(total);
                out.set_json(format!("{name}/.zarray"), &zarray);
                out.set_json(format!("{name}/.zattrs"), &Value::Object(vr.zattrs.clone()));
                continue;
            }
            let c = vr.chunk_shape[p] as usize;
            if !global.is_multiple_of(c)
                || (!len.is_multiple_of(c) && i + 1 < plan.sources().count())
            {
                return Err(Error::Unsupported {
                    path: path.clone(),
                    message: format!(
                        "variable `{name}` has chunks of {c} along `{}` but this file starts at step {global} with {len} steps; references can only be combined when files hold whole chunks",
                        concat.as_deref().unwrap_or_default()
                    ),
                });
            }
            if let Some((refs, origin, _)) = previous {
                let stored = refs.json_at(&format!("{name}/.zarray"), origin)?;
                if stored["chunks"] != zarray["chunks"] && global > 0 {
                    return Err(Error::Append {
                        path: path.clone(),
                        message: format!(
                            "variable `{name}` has chunks {} where the references have {}",
                            zarray["chunks"], stored["chunks"]
                        ),
                    });
                }
            }
            zarray["shape"][p] = json!(total);
            out.set_json(format!("{name}/.zarray"), &zarray);
            out.set_json(format!("{name}/.zattrs"), &Value::Object(vr.zattrs.clone()));
            for (mut index, r) in vr.chunks {
                index[p] += (global / c) as u64;
                out.refs.insert(chunk_key(name, &index), r);
            }
        }
        sources.push(RefSource {
            record: record.clone(),
            url,
            modified: modified(path),
        });
    }
    for (name, bytes) in concat_inline {
        let zarray_key = format!("{name}/.zarray");
        let mut zarray: Value =
            serde_json::from_str(out.refs[&zarray_key].as_str().unwrap_or("{}"))
                .unwrap_or_default();
        let item = zarray["dtype"]
            .as_str()
            .and_then(parse_v2_dtype)
            .map_or(1, |(t, _)| t.size());
        let n = bytes.len() / item;
        zarray["shape"] = json!([n]);
        zarray["chunks"] = json!([n.max(1)]);
        out.set_json(zarray_key, &zarray);
        out.refs.insert(format!("{name}/0"), inline(&bytes));
    }
    let mut attrs = plan.attributes().clone();
    if let Some((refs, origin, _)) = previous {
        if let Ok(Value::Object(old)) = refs.json_at(".zattrs", origin) {
            attrs = old;
        }
    }
    attrs.insert(
        crate::zarr::RECORD.into(),
        serde_json::to_value(RefRecord {
            concat_dim: concat,
            sources,
        })
        .expect("serialisable"),
    );
    out.set_json(".zgroup".into(), &json!({"zarr_format": 2}));
    out.set_json(".zattrs".into(), &Value::Object(attrs));
    Ok(out)
}

/// References for the recipe's sources: one file's, or all combined along
/// the concatenation dimension (checked for consistency first).
pub fn references(recipe: &Recipe, options: &RefOptions) -> Result<(References, Plan)> {
    let plan = recipe::plan(recipe)?;
    let refs = build(&plan, options, None)?;
    Ok((refs, plan))
}

/// What an append did.
#[derive(Debug, Clone, Default)]
pub struct AppendOutcome {
    /// Sources added.
    pub added: Vec<SourceRecord>,
    /// Sources already present (skipped).
    pub skipped: Vec<SourceRecord>,
    /// Sources left out as bad ([`Recipe::skip_bad`]), with the reason.
    pub left_out: Vec<(std::path::PathBuf, String)>,
}

/// Adds the recipe's sources to existing references along their
/// concatenation dimension, reading only the new files. Sources already
/// present (same size and checksum) are skipped; a new file whose
/// variables differ (type, chunks, codecs, fill value, packing) or that
/// does not continue the axis is refused, naming it and the difference.
pub fn append(
    recipe: &Recipe,
    existing: &References,
    origin: &Path,
    options: &RefOptions,
) -> Result<(References, AppendOutcome)> {
    let record = existing.record(origin)?;
    let concat = record.concat_dim.clone().ok_or_else(|| Error::Store {
        store: origin.to_path_buf(),
        message: "these references have no concatenation dimension to append along".into(),
    })?;
    let (fresh, skipped) =
        recipe::split_recorded(&recipe.sources, record.sources.iter().map(|s| &s.record))?;
    let mut outcome = AppendOutcome {
        skipped,
        ..AppendOutcome::default()
    };
    if fresh.is_empty() {
        return Ok((existing.clone(), outcome));
    }
    let plan = recipe::plan(&Recipe {
        sources: fresh,
        concat_dim: Some(concat.clone()),
        ..recipe.clone()
    })?;
    let before = record.sources.iter().map(|s| s.record.steps).sum::<usize>();
    // The new files must match the references variable by variable.
    let (first, _, _, _) = plan.sources().next().expect("planned");
    let index = Index::open(&first.path)?;
    let url = source_url(&first.path, options);
    let stored_inventory = existing.inventory(origin)?;
    for name in existing.arrays() {
        if first.var(&name).is_none() {
            return Err(Error::Append {
                path: first.path.clone(),
                message: format!("it lacks variable `{name}` that the references have"),
            });
        }
    }
    for spec in &plan.specs {
        let name = &spec.name;
        let Some(stored_var) = stored_inventory.var(name) else {
            return Err(Error::Append {
                path: first.path.clone(),
                message: format!("variable `{name}` is not in the references"),
            });
        };
        let stored = existing.json_at(&format!("{name}/.zarray"), origin)?;
        let vr = var_refs(
            first,
            name,
            &url,
            options,
            plan.is_placeholder(name),
            &index,
            None,
        )?;
        for key in ["dtype", "filters", "compressor", "fill_value"] {
            if stored[key] != vr.zarray[key] {
                return Err(Error::Append {
                    path: first.path.clone(),
                    message: format!(
                        "`{name}` has {key} {} where the references have {}",
                        vr.zarray[key], stored[key]
                    ),
                });
            }
        }
        let var = first.var(name).expect("planned");
        for key in [
            "scale_factor",
            "add_offset",
            "units",
            "calendar",
            "missing_value",
        ] {
            if !cf::same_encoding(key, stored_var.attrs.get(key), var.attrs.get(key)) {
                let show =
                    |v: Option<&Value>| v.map_or_else(|| "absent".to_string(), Value::to_string);
                return Err(Error::Append {
                    path: first.path.clone(),
                    message: format!(
                        "`{name}:{key}` is {} in this file and {} in the references",
                        show(var.attrs.get(key)),
                        show(stored_var.attrs.get(key))
                    ),
                });
            }
        }
    }
    // The axis continues.
    if let Some(coord) = cf::coordinate(&stored_inventory, &concat) {
        plan.check_continues(origin, &existing.inline_values(&coord.name, origin)?)?;
    }
    // The grid is the references' grid, by value: inlined values, else the
    // values in the first recorded file (the one the references point to).
    let holder = record.sources.first().map(|s| s.record.href.clone());
    let mut reader = None;
    plan.check_grid(
        origin,
        holder.as_deref().unwrap_or(&origin.display().to_string()),
        |name| {
            if existing.refs.contains_key(&format!("{name}/.zarray")) {
                if let Ok(values) = existing.inline_values(name, origin) {
                    return Ok(Some(values));
                }
            }
            let Some(path) = holder.as_deref().map(Path::new).filter(|p| p.is_file()) else {
                return Ok(None);
            };
            if reader.is_none() {
                reader = Some(crate::inventory::Reader::open(
                    path,
                    recipe.group.as_deref(),
                )?);
            }
            let reader = reader.as_ref().expect("opened above");
            match reader.inventory()?.var(name) {
                Some(var) if var.dtype.is_some() => reader.read_f64(var).map(Some),
                _ => Ok(None),
            }
        },
    )?;
    let refs = build(&plan, options, Some((existing, origin, before)))?;
    outcome.added = plan.records();
    outcome.left_out = plan.skipped.clone();
    Ok((refs, outcome))
}

/// A recorded source that no longer matches its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    /// The file.
    pub href: String,
    /// What differs.
    pub reason: String,
}

/// Checks every recorded source against its file (size, then checksum).
pub fn verify(refs: &References, origin: &Path) -> Result<Vec<Changed>> {
    let record = refs.record(origin)?;
    let mut changed = Vec::new();
    for s in &record.sources {
        let path = Path::new(&s.record.href);
        let reason = match std::fs::metadata(path) {
            Err(e) => Some(format!("cannot be read: {e}")),
            Ok(m) if m.len() != s.record.size => Some(format!(
                "size {} is not the recorded {}",
                m.len(),
                s.record.size
            )),
            Ok(_) => match stacforge_core::Source::from_path(path) {
                Ok(now) if now.checksum != s.record.checksum => {
                    Some("checksum differs from the recorded one".to_string())
                }
                Ok(_) => None,
                Err(e) => Some(e.to_string()),
            },
        };
        if let Some(reason) = reason {
            changed.push(Changed {
                href: s.record.href.clone(),
                reason,
            });
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtypes_keep_their_byte_order() {
        assert_eq!(v2_dtype(ElementType::Int16, true), ">i2");
        assert_eq!(v2_dtype(ElementType::UInt8, true), "|u1");
        assert_eq!(parse_v2_dtype(">f4"), Some((ElementType::Float32, true)));
        assert_eq!(parse_v2_dtype("<i2"), Some((ElementType::Int16, false)));
        assert_eq!(chunk_key("air", &[1, 0, 0]), "air/1.0.0");
        assert_eq!(chunk_key("crs", &[]), "crs/0");
        assert_eq!(
            decode_inline(inline(&[1, 2, 3]).as_str().unwrap()),
            Some(vec![1, 2, 3])
        );
    }
}

/// Writes references in fsspec's Parquet layout (as
/// `fsspec.implementations.reference.LazyReferenceMapper` reads them) into
/// the directory `dir`: `.zmetadata` with every metadata document and the
/// record size, and for each array `NAME/refs.R.parq` files of
/// `record_size` rows (path, offset, size, raw) in raveled chunk order.
/// The directory is staged beside `dir` and renamed into place.
pub fn write_parquet(refs: &References, dir: &Path, record_size: usize) -> Result<()> {
    use arrow_array::{ArrayRef, BinaryArray, Int64Array, RecordBatch, StringArray};
    use std::sync::Arc;
    let origin = dir;
    let mut metadata = Map::new();
    for (key, value) in &refs.refs {
        let name = key.rsplit('/').next().unwrap_or(key);
        if matches!(name, ".zgroup" | ".zattrs" | ".zarray") {
            metadata.insert(key.clone(), refs.json_at(key, origin)?);
        }
        let _ = value;
    }
    if dir.exists() && !is_parquet_refs(dir) {
        return Err(Error::Store {
            store: dir.to_path_buf(),
            message: "it exists and is not a Parquet reference set stacforge wrote; nothing was replaced (remove it yourself or choose another --out)".into(),
        });
    }
    let staging = stacforge_core::fs::hidden_sibling(dir, "stacforge-new", "");
    let _cleanup = stacforge_core::fs::Cleanup::new(staging.clone());
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io {
            path: path.clone(),
            source,
        }
    };
    std::fs::create_dir_all(&staging).map_err(io(&staging))?;
    crate::zarr::write_json(
        &staging.join(".zmetadata"),
        &json!({"metadata": metadata, "record_size": record_size}),
    )?;
    let parquet_err = |e: String| Error::Store {
        store: dir.to_path_buf(),
        message: format!("writing Parquet: {e}"),
    };
    for name in refs.arrays() {
        let zarray = refs.json_at(&format!("{name}/.zarray"), origin)?;
        let shape: Vec<u64> = serde_json::from_value(zarray["shape"].clone()).unwrap_or_default();
        let chunks: Vec<u64> = serde_json::from_value(zarray["chunks"].clone()).unwrap_or_default();
        let grid: Vec<u64> = if shape.is_empty() {
            vec![1]
        } else {
            shape
                .iter()
                .zip(&chunks)
                .map(|(s, c)| s.div_ceil((*c).max(1)))
                .collect()
        };
        let total: u64 = grid.iter().product();
        let var_dir = staging.join(&name);
        std::fs::create_dir_all(&var_dir).map_err(io(&var_dir))?;
        let mut record = 0u64;
        while record * (record_size as u64) < total {
            let first = record * record_size as u64;
            let rows = (total - first).min(record_size as u64);
            let (mut paths, mut offsets, mut sizes, mut raws) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for n in first..first + rows {
                // Unravel the chunk number (C order) into its index.
                let mut index = vec![0u64; grid.len()];
                let mut rest = n;
                for d in (0..grid.len()).rev() {
                    index[d] = rest % grid[d];
                    rest /= grid[d];
                }
                let key = if shape.is_empty() {
                    format!("{name}/0")
                } else {
                    chunk_key(&name, &index)
                };
                match refs.refs.get(&key) {
                    Some(Value::Array(r)) => {
                        paths.push(r.first().and_then(Value::as_str).map(str::to_string));
                        offsets.push(r.get(1).and_then(Value::as_i64).unwrap_or(0));
                        sizes.push(r.get(2).and_then(Value::as_i64).unwrap_or(0));
                        raws.push(None);
                    }
                    Some(Value::String(s)) => {
                        paths.push(None);
                        offsets.push(0);
                        sizes.push(0);
                        raws.push(decode_inline(s));
                    }
                    _ => {
                        paths.push(None);
                        offsets.push(0);
                        sizes.push(0);
                        raws.push(None);
                    }
                }
            }
            let columns: Vec<(&str, ArrayRef)> = vec![
                ("path", Arc::new(StringArray::from(paths))),
                ("offset", Arc::new(Int64Array::from(offsets))),
                ("size", Arc::new(Int64Array::from(sizes))),
                (
                    "raw",
                    Arc::new(BinaryArray::from_iter(raws.iter().map(|r| r.as_deref()))),
                ),
            ];
            let batch =
                RecordBatch::try_from_iter(columns).map_err(|e| parquet_err(e.to_string()))?;
            let path = var_dir.join(format!("refs.{record}.parq"));
            let file = std::fs::File::create(&path).map_err(io(&path))?;
            let props = parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
                .build();
            let mut writer =
                parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props))
                    .map_err(|e| parquet_err(e.to_string()))?;
            writer
                .write(&batch)
                .map_err(|e| parquet_err(e.to_string()))?;
            writer.close().map_err(|e| parquet_err(e.to_string()))?;
            record += 1;
        }
    }
    stacforge_core::fs::replace_dir(&staging, dir).map_err(io(dir))
}

/// Whether `dir` holds Parquet references stacforge wrote (its
/// `.zmetadata` has a record size and stacforge's record of sources).
pub fn is_parquet_refs(dir: &Path) -> bool {
    let Ok(bytes) = std::fs::read(dir.join(".zmetadata")) else {
        return false;
    };
    let Ok(doc) = serde_json::from_slice::<Value>(&bytes) else {
        return false;
    };
    doc.get("record_size").is_some()
        && doc["metadata"][".zattrs"]
            .get(crate::zarr::RECORD)
            .is_some()
}

/// Whether `path` is a kerchunk JSON file stacforge wrote (it records
/// its sources at the root).
pub fn is_json_refs(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|doc| References::from_json(&doc, path).ok())
        .is_some_and(|refs| refs.record(path).is_ok())
}
