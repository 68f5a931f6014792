//! Writing a new store, slab by slab, from the planned sources.

use super::*;

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
    let staging = stacforge_core::fs::hidden_sibling(out, "stacforge-new", "");
    let _cleanup = stacforge_core::fs::Cleanup::new(staging.clone());
    let meta = plan.store_meta(recipe);
    let mut bytes = 0;
    let target = zarr::Store::dir(&staging);
    for stored in &meta.arrays {
        bytes += write_array(plan, &target, stored, None, progress)?;
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
    Ok(plan.outcome(bytes))
}

/// Writes the planned store into `target`, an empty store whose writes
/// become visible together (an Icechunk session): metadata first, then
/// every array's chunks.
pub fn write_into(
    plan: &Plan,
    recipe: &Recipe,
    target: &zarr::Store,
    progress: Progress,
) -> Result<Outcome> {
    let meta = plan.store_meta(recipe);
    meta.write_in(target)?;
    let mut bytes = 0;
    for stored in &meta.arrays {
        bytes += write_array(plan, target, stored, None, progress)?;
    }
    Ok(plan.outcome(bytes))
}

impl Plan {
    /// What writing the plan's new store did.
    fn outcome(&self, bytes: u64) -> Outcome {
        Outcome {
            written: self.records(),
            skipped: Vec::new(),
            steps: self.sources.iter().map(|s| s.len).sum(),
            bytes,
            left_out: self.skipped.clone(),
        }
    }

    /// The metadata of the store the plan makes, its record of sources at
    /// the root.
    fn store_meta(&self, recipe: &Recipe) -> StoreMeta {
        let mut attrs = self.attrs.clone();
        attrs.insert(
            RECORD.into(),
            serde_json::to_value(StoreRecord {
                concat_dim: self.concat_dim.clone(),
                sources: self.records(),
            })
            .expect("serialisable"),
        );
        StoreMeta::new(recipe.version, recipe.compression, attrs, &self.specs)
    }
}

/// Reads a whole 1-D array of a store as `f64`.
pub fn read_f64(store: &zarr::Store, stored: &StoredArray) -> Result<Vec<f64>> {
    let array = store.array(stored)?;
    let subset = array.subset_all();
    let bytes: zarrs::array::ArrayBytes =
        array
            .retrieve_array_subset(&subset)
            .map_err(|e| Error::Store {
                store: store.origin().to_path_buf(),
                message: format!("reading `{}`: {e}", stored.name),
            })?;
    let dtype = stored.dtype().ok_or_else(|| Error::Store {
        store: store.origin().to_path_buf(),
        message: format!("`{}` has an unsupported data type", stored.name),
    })?;
    let raw = bytes.into_fixed().map_err(|e| Error::Store {
        store: store.origin().to_path_buf(),
        message: format!("reading `{}`: {e}", stored.name),
    })?;
    Ok(dtype.to_f64(&raw))
}

/// Writes one array's chunks into `target`. Arrays along the concatenation
/// dimension are written one chunk-row slab at a time, from the sources
/// that overlap it (and, when appending, from the store for the steps
/// before `old_len`). Returns the uncompressed bytes written.
pub(super) fn write_array(
    plan: &Plan,
    target: &zarr::Store,
    stored: &StoredArray,
    existing: Option<(&zarr::Store, usize)>,
    progress: Progress,
) -> Result<u64> {
    let first = &plan.sources[0];
    if first
        .inventory
        .var(&stored.name)
        .is_some_and(|v| v.is_char())
    {
        // Bytes, written whole from the first source into their one chunk.
        if existing.is_some() {
            return Ok(0);
        }
        let shape = stored.shape();
        let ranges: Vec<Range<usize>> = shape.iter().map(|&n| 0..n as usize).collect();
        let bytes = Reader::open(&first.inventory.path, plan.group.as_deref())?
            .read(&stored.name, &ranges)?;
        let version = if stored.meta.get("zarr_format") == Some(&serde_json::json!(2)) {
            ZarrVersion::V2
        } else {
            ZarrVersion::V3
        };
        let n = bytes.len() as u64;
        // In a directory, replaced by renaming, as every chunk is
        // (hard-linked copies of a store rely on it:
        // stacforge_core::fs::link_tree).
        let key = format!(
            "{}/{}",
            stored.name,
            zarr::char_chunk_key(version, shape.len())
        );
        target.set(&key, bytes)?;
        return Ok(n);
    }
    let array = target.array(stored)?;
    let store_err = |e: zarrs::array::ArrayError| Error::Store {
        store: target.origin().to_path_buf(),
        message: format!("writing `{}`: {e}", stored.name),
    };
    let shape = stored.shape();
    let dims = stored.dims();
    let item = stored.dtype().map_or(4, ElementType::size);
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
                let old = store.array(&StoredArray {
                    meta: with_shape(stored, p, old_len),
                    ..stored.clone()
                })?;
                let mut ranges: Vec<Range<u64>> = shape.iter().map(|&n| 0..n).collect();
                ranges[p] = s0 as u64..old_len as u64;
                let subset = zarrs::array::ArraySubset::new_with_ranges(&ranges);
                let bytes: zarrs::array::ArrayBytes =
                    old.retrieve_array_subset(&subset).map_err(store_err)?;
                let raw = bytes.into_fixed().map_err(|e| Error::Store {
                    store: store.origin().to_path_buf(),
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
pub(super) fn read_part(
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

pub(super) fn with_shape(stored: &StoredArray, axis: usize, len: usize) -> Value {
    let mut shape = stored.shape();
    shape[axis] = len as u64;
    let mut meta = stored.meta.clone();
    meta["shape"] = json!(shape);
    meta
}
