//! fsspec's Parquet reference layout (`LazyReferenceMapper`).

use super::*;

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
            let props = ::parquet::file::properties::WriterProperties::builder()
                .set_compression(::parquet::basic::Compression::ZSTD(Default::default()))
                .build();
            let mut writer =
                ::parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props))
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
