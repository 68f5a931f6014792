//! Building references: each file's chunk byte ranges (HDF5 index or
//! classic header), inlined small variables, files combined along time.

use super::*;

/// Where a file's variables lie: its HDF5 chunk index, or its classic
/// NetCDF header.
pub(super) enum Index {
    Hdf5(H5File),
    Classic(crate::nc3::Header),
}

impl Index {
    /// The file's format, for messages.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Index::Hdf5(_) => "NetCDF-4/HDF5",
            Index::Classic(_) => "classic NetCDF (NetCDF-3)",
        }
    }

    pub(super) fn open(path: &Path) -> Result<Index> {
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
pub(super) struct VarRefs {
    pub(super) zarray: Value,
    pub(super) zattrs: Map<String, Value>,
    /// Chunk index → reference.
    pub(super) chunks: Vec<(Vec<u64>, Value)>,
    /// The chunk length along each dimension.
    pub(super) chunk_shape: Vec<u64>,
}

/// Whether `var` of a file is small enough to be inlined: under the
/// threshold, listed as loadable, or an auxiliary coordinate or bounds
/// variable up to [`AUX_INLINE_LIMIT`]. Auxiliary coordinates and cell
/// bounds (2-D latitudes, `time_bnds`) are wanted at once, and a file's
/// bounds need not fill whole chunks of the combined array.
fn small_enough(inventory: &Inventory, var: &crate::Variable, options: &RefOptions) -> bool {
    let size = var.dtype.map_or(4, |t| t.size()) as u64;
    let bytes = var.shape.iter().map(|&n| n as u64).product::<u64>() * size;
    bytes <= options.inline_threshold
        || options.loadable.contains(&var.name)
        || (cf::is_auxiliary(inventory, &var.name) && bytes <= AUX_INLINE_LIMIT)
}

/// References of one variable of one file. `by_size`: whether it may be
/// inlined for being small (not when a combined variable is small in some
/// files only: every file must place it the same way).
#[allow(clippy::too_many_arguments)]
pub(super) fn var_refs(
    inventory: &Inventory,
    name: &str,
    url: &str,
    options: &RefOptions,
    placeholder: bool,
    index: &Index,
    preloaded: Option<&[u8]>,
    by_size: bool,
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
    let storage = match (h5, placeholder || preloaded.is_some()) {
        (Some(h5), false) => Some(h5.storage(&dataset)?),
        _ => None,
    };
    let is_coord = var.dims.len() == 1 && cf::is_coordinate(inventory, name);
    let small = by_size && small_enough(inventory, var, options);
    let inlined = placeholder
        || preloaded.is_some()
        || var.dims.is_empty()
        || is_coord
        || small
        || (nc3.is_none()
            && storage
                .as_ref()
                .is_none_or(|s| matches!(s.layout, Layout::Compact)));
    let chars = var.is_char();
    if inlined || chars {
        // A char variable (a grid-mapping container, labels) is inlined as
        // its bytes, as 1-byte strings (NumPy `S1`): how readers get it
        // from the file.
        let data = if placeholder && !chars {
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
            "dtype": if chars { "|S1" } else { dtype.v2_name() },
            // No fill for bytes: xarray would mask empty ones as missing.
            "fill_value": if chars { Value::Null } else { fill_json(if placeholder { None } else { var.fill }, dtype) },
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

/// A variable's attributes, from the first file that has it (as xarray's
/// open_mfdataset and the Zarr stores take them).
fn set_attrs_once(out: &mut References, name: &str, vr: &VarRefs) {
    let key = format!("{name}/.zattrs");
    if !out.refs.contains_key(&key) {
        out.set_json(key, &Value::Object(vr.zattrs.clone()));
    }
}

/// The largest auxiliary coordinate or bounds variable (per file) inlined
/// whatever the threshold.
const AUX_INLINE_LIMIT: u64 = 1 << 20;

pub(super) fn source_url(path: &Path, recorded: &str, options: &RefOptions) -> String {
    match &options.url_prefix {
        Some(prefix) => format!(
            "{}/{}",
            prefix.trim_end_matches('/'),
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ),
        // A copy of a remote object: the object the record names, so
        // readers fetch chunks from the store.
        None if recorded.contains("://") => recorded.to_string(),
        // Else absolute, as readers resolve chunk paths from wherever they run.
        None => std::path::absolute(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .display()
            .to_string(),
    }
}

pub(super) fn modified(path: &Path) -> Option<String> {
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
pub(super) fn build(
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
    // A variable is inlined for its size only if it is small in every file.
    let by_size: BTreeMap<&str, bool> = (plan.specs.iter())
        .map(|spec| {
            let small = plan.sources().all(|(inventory, _, _, _)| {
                inventory
                    .var(&spec.name)
                    .is_none_or(|v| small_enough(inventory, v, options))
            });
            (spec.name.as_str(), small)
        })
        .collect();
    // Concatenated coordinate values (inline bytes), in order.
    let mut concat_inline: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut first_kind: Option<(&Path, &'static str)> = None;
    for (i, (inventory, record, offset, len)) in plan.sources().enumerate() {
        let path = &inventory.path;
        let url = source_url(path, &record.href, options);
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
                by_size[name.as_str()],
            )?;
            let mut zarray = vr.zarray.clone();
            let Some(p) = along else {
                out.set_json(format!("{name}/.zarray"), &zarray);
                set_attrs_once(&mut out, name, &vr);
                for (index, r) in vr.chunks {
                    out.refs.insert(chunk_key(name, &index), r);
                }
                continue;
            };
            let global = offset0 + offset;
            let inline_coord = vr.chunks.len() == 1 && vr.chunks[0].1.is_string() && p == 0;
            if inline_coord {
                // Inlined and concatenated along its first dimension (a
                // coordinate, bounds): values merged, row after row.
                let bytes =
                    decode_inline(vr.chunks[0].1.as_str().unwrap_or_default()).unwrap_or_default();
                let merged = concat_inline
                    .entry(name.clone())
                    .or_insert_with(|| match previous {
                        Some((refs, _, _)) => refs
                            .refs
                            .get(&chunk_key(name, &vec![0; var.dims.len()]))
                            .and_then(Value::as_str)
                            .and_then(decode_inline)
                            .unwrap_or_default(),
                        None => Vec::new(),
                    });
                merged.extend_from_slice(&bytes);
                zarray["shape"][p] = json!(total);
                zarray["chunks"][p] = json!(total);
                out.set_json(format!("{name}/.zarray"), &zarray);
                set_attrs_once(&mut out, name, &vr);
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
            set_attrs_once(&mut out, name, &vr);
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
        // Rows along the first dimension, the others as in each file.
        let row: usize = (zarray["shape"].as_array().into_iter().flatten())
            .skip(1)
            .filter_map(Value::as_u64)
            .product::<u64>() as usize;
        let n = bytes.len() / item / row.max(1);
        let mut shape = zarray["shape"].clone();
        shape[0] = json!(n);
        let mut chunks = shape.clone();
        chunks[0] = json!(n.max(1));
        zarray["shape"] = shape;
        zarray["chunks"] = chunks;
        let origin = vec![0; zarray["shape"].as_array().map_or(1, Vec::len)];
        out.set_json(zarray_key, &zarray);
        out.refs.insert(chunk_key(&name, &origin), inline(&bytes));
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
