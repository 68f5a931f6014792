//! Zarr stores laid out as xarray lays them out (so xarray, zarr-python and
//! kerchunk read them with no hints): v3 by default, v2 on request,
//! consolidated metadata, CF attributes, `_FillValue` encoded the way
//! xarray's Zarr backend expects for each format. Metadata files are
//! written atomically (temporary name, then rename), the root last.

use crate::{ElementType, Error, Result};
use base64::Engine;
use serde_json::{json, Map, Value};
use std::path::Path;

mod storage;
pub(crate) use storage::slices as storage_slices;
pub use storage::{open_array, ChunkDir, Store};

/// The attribute at the store's root where stacforge records the recipe and
/// the sources written so far.
pub const RECORD: &str = "stacforge";

/// Zarr format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ZarrVersion {
    /// Zarr v2 (`.zarray`, `.zattrs`, `.zmetadata`).
    V2,
    /// Zarr v3 (`zarr.json`, consolidated metadata inline).
    #[default]
    V3,
}

/// Chunk compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Zstandard at a level (1–22).
    Zstd(i32),
    /// Deflate (gzip in v3, zlib in v2) at a level (1–9).
    Deflate(u32),
    /// None.
    None,
}

impl Default for Compression {
    fn default() -> Self {
        Self::Zstd(3)
    }
}

impl Compression {
    /// Parses `zstd`, `zstd:LEVEL`, `zlib`/`gzip[:LEVEL]` or `none`.
    pub fn parse(text: &str) -> std::result::Result<Compression, String> {
        let (name, level) = match text.split_once(':') {
            Some((n, l)) => (
                n,
                Some(
                    l.parse::<i32>()
                        .map_err(|_| format!("bad level in `{text}`"))?,
                ),
            ),
            None => (text, None),
        };
        match name {
            "zstd" => {
                let level = level.unwrap_or(3);
                if !(1..=22).contains(&level) {
                    return Err(format!("zstd level {level} is not in 1–22"));
                }
                Ok(Self::Zstd(level))
            }
            "zlib" | "gzip" | "deflate" => {
                let level = level.unwrap_or(5);
                if !(1..=9).contains(&level) {
                    return Err(format!("deflate level {level} is not in 1–9"));
                }
                Ok(Self::Deflate(level as u32))
            }
            "none" => Ok(Self::None),
            "blosc" => Err(
                "blosc is not built into this stacforge; use zstd (the default), zlib or none"
                    .into(),
            ),
            other => Err(format!(
                "unknown compression `{other}` (zstd, zlib or none)"
            )),
        }
    }

    fn v3_codecs(self) -> Vec<Value> {
        match self {
            Self::Zstd(level) => {
                vec![json!({"name": "zstd", "configuration": {"level": level, "checksum": false}})]
            }
            Self::Deflate(level) => {
                vec![json!({"name": "gzip", "configuration": {"level": level}})]
            }
            Self::None => vec![],
        }
    }

    fn v2_compressor(self) -> Value {
        match self {
            Self::Zstd(level) => json!({"id": "zstd", "level": level, "checksum": false}),
            Self::Deflate(level) => json!({"id": "zlib", "level": level}),
            Self::None => Value::Null,
        }
    }
}

/// One array of a store.
#[derive(Debug, Clone, PartialEq)]
pub struct ArraySpec {
    /// Its name (a key at the store's root).
    pub name: String,
    /// Dimension names.
    pub dims: Vec<String>,
    /// Shape.
    pub shape: Vec<u64>,
    /// Chunk shape.
    pub chunks: Vec<u64>,
    /// Element type.
    pub dtype: ElementType,
    /// The CF `_FillValue`, when there is one.
    pub fill: Option<f64>,
    /// CF attributes (without `_FillValue`).
    pub attrs: Map<String, Value>,
    /// A NetCDF `char` variable: stored as 1-byte strings (NumPy `S1`, Zarr
    /// v3 `null_terminated_bytes` of length 1, as zarr-python writes them)
    /// holding the source's bytes, in one uncompressed chunk ([`char_chunk_key`]);
    /// `dtype` is then `UInt8`, for sizes only.
    pub chars: bool,
}

/// The key of the one chunk of a `char` array (see [`ArraySpec::chars`]),
/// relative to the array: `c/0/0` (v3; `c` for a scalar), `0.0` (v2; `0`).
pub fn char_chunk_key(version: ZarrVersion, ndim: usize) -> String {
    let zeros = vec!["0"; ndim];
    match version {
        ZarrVersion::V3 if ndim == 0 => "c".into(),
        ZarrVersion::V3 => format!("c/{}", zeros.join("/")),
        ZarrVersion::V2 if ndim == 0 => "0".into(),
        ZarrVersion::V2 => zeros.join("."),
    }
}

/// A fill value as Zarr metadata writes it (`"NaN"`, `"Infinity"` for
/// floats; integers as integers).
pub(crate) fn fill_json(value: f64, dtype: ElementType) -> Value {
    if dtype.is_float() {
        if value.is_nan() {
            "NaN".into()
        } else if value.is_infinite() {
            (if value > 0.0 { "Infinity" } else { "-Infinity" }).into()
        } else {
            value.into()
        }
    } else {
        (value as i64).into()
    }
}

/// The `_FillValue` attribute of a Zarr v3 array as xarray reads it:
/// floats as base64 of the little-endian f64, integers as they are.
pub(crate) fn v3_fill_attribute(fill: f64, dtype: ElementType) -> Value {
    if dtype.is_float() {
        base64::engine::general_purpose::STANDARD
            .encode(fill.to_le_bytes())
            .into()
    } else {
        fill_json(fill, dtype)
    }
}

impl ArraySpec {
    /// The array's metadata document: `zarr.json` (v3, attributes inside)
    /// or `.zarray` (v2).
    pub fn metadata(&self, version: ZarrVersion, compression: Compression) -> Value {
        // A char array: 1-byte strings, raw bytes, no compression, and no
        // fill (xarray would mask empty bytes as missing).
        match version {
            ZarrVersion::V3 => {
                let mut attrs = self.attrs.clone();
                if let Some(fill) = self.fill {
                    attrs.insert("_FillValue".into(), v3_fill_attribute(fill, self.dtype));
                }
                let (data_type, fill_value, codecs) = if self.chars {
                    (
                        json!({"name": "null_terminated_bytes", "configuration": {"length_bytes": 1}}),
                        json!(""),
                        vec![json!({"name": "bytes"})],
                    )
                } else {
                    let mut codecs =
                        vec![json!({"name": "bytes", "configuration": {"endian": "little"}})];
                    codecs.extend(compression.v3_codecs());
                    (
                        json!(self.dtype.v3_name()),
                        fill_json(self.fill.unwrap_or(0.0), self.dtype),
                        codecs,
                    )
                };
                json!({
                    "shape": self.shape,
                    "data_type": data_type,
                    "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": self.chunks}},
                    "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
                    "fill_value": fill_value,
                    "codecs": codecs,
                    "attributes": attrs,
                    "dimension_names": self.dims,
                    "zarr_format": 3,
                    "node_type": "array",
                    "storage_transformers": [],
                })
            }
            ZarrVersion::V2 => {
                let (dtype, fill_value, compressor) = if self.chars {
                    ("|S1", Value::Null, Value::Null)
                } else {
                    (
                        self.dtype.v2_name(),
                        self.fill.map_or(Value::Null, |f| fill_json(f, self.dtype)),
                        compression.v2_compressor(),
                    )
                };
                json!({
                    "shape": self.shape,
                    "chunks": self.chunks,
                    "dtype": dtype,
                    "fill_value": fill_value,
                    "order": "C",
                    "filters": null,
                    "dimension_separator": ".",
                    "compressor": compressor,
                    "zarr_format": 2,
                })
            }
        }
    }

    /// The v2 `.zattrs` document (v3 keeps attributes in `zarr.json`).
    pub fn v2_attributes(&self) -> Map<String, Value> {
        let mut attrs = self.attrs.clone();
        attrs.insert("_ARRAY_DIMENSIONS".into(), json!(self.dims));
        attrs
    }
}

/// A store's whole metadata: root attributes and every array's documents.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreMeta {
    /// Format version.
    pub version: ZarrVersion,
    /// Root group attributes.
    pub attrs: Map<String, Value>,
    /// Arrays: name, metadata document (`zarr.json` or `.zarray`), and for
    /// v2 the `.zattrs` document.
    pub arrays: Vec<StoredArray>,
}

/// One array's metadata documents.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredArray {
    /// Its name.
    pub name: String,
    /// `zarr.json` (v3) or `.zarray` (v2).
    pub meta: Value,
    /// `.zattrs` (v2); empty for v3.
    pub attrs: Map<String, Value>,
}

impl StoredArray {
    /// The array's shape.
    pub fn shape(&self) -> Vec<u64> {
        serde_json::from_value(self.meta["shape"].clone()).unwrap_or_default()
    }

    /// Sets the array's shape.
    pub fn set_shape(&mut self, shape: &[u64]) {
        self.meta["shape"] = json!(shape);
    }

    /// The element type of the array (`None` for one stacforge cannot read).
    pub fn dtype(&self) -> Option<ElementType> {
        let name = self
            .meta
            .get("data_type")
            .or_else(|| self.meta.get("dtype"))?
            .as_str()?;
        ElementType::from_zarr(name).map(|(t, _)| t)
    }

    /// The array's dimension names.
    pub fn dims(&self) -> Vec<String> {
        let names = match self.meta.get("dimension_names") {
            Some(v) => v.clone(),
            None => self
                .attrs
                .get("_ARRAY_DIMENSIONS")
                .cloned()
                .unwrap_or_default(),
        };
        serde_json::from_value(names).unwrap_or_default()
    }

    /// The array's CF attributes.
    pub fn cf_attributes(&self) -> &Map<String, Value> {
        match self.meta.get("attributes").and_then(Value::as_object) {
            Some(attrs) => attrs,
            None => &self.attrs,
        }
    }
}

impl StoreMeta {
    /// Documents for a new store.
    pub fn new(
        version: ZarrVersion,
        compression: Compression,
        attrs: Map<String, Value>,
        specs: &[ArraySpec],
    ) -> StoreMeta {
        StoreMeta {
            version,
            attrs,
            arrays: specs
                .iter()
                .map(|s| StoredArray {
                    name: s.name.clone(),
                    meta: s.metadata(version, compression),
                    attrs: match version {
                        ZarrVersion::V2 => s.v2_attributes(),
                        ZarrVersion::V3 => Map::new(),
                    },
                })
                .collect(),
        }
    }

    /// An array by name.
    pub fn array(&self, name: &str) -> Option<&StoredArray> {
        self.arrays.iter().find(|a| a.name == name)
    }

    /// Every metadata document as `(key, document)`, arrays first and the
    /// root group (with the consolidated metadata) last: the order they are
    /// written in, so a store is complete once its root document is there.
    pub fn documents(&self) -> Vec<(String, Value)> {
        let mut docs = Vec::new();
        match self.version {
            ZarrVersion::V3 => {
                let mut consolidated = Map::new();
                for a in &self.arrays {
                    docs.push((format!("{}/zarr.json", a.name), a.meta.clone()));
                    consolidated.insert(a.name.clone(), a.meta.clone());
                }
                let group = json!({
                    "attributes": self.attrs,
                    "zarr_format": 3,
                    "consolidated_metadata": {"kind": "inline", "must_understand": false, "metadata": consolidated},
                    "node_type": "group",
                });
                docs.push(("zarr.json".into(), group));
            }
            ZarrVersion::V2 => {
                let mut consolidated = Map::new();
                consolidated.insert(".zgroup".into(), json!({"zarr_format": 2}));
                consolidated.insert(".zattrs".into(), Value::Object(self.attrs.clone()));
                for a in &self.arrays {
                    let attrs = Value::Object(a.attrs.clone());
                    docs.push((format!("{}/.zattrs", a.name), attrs.clone()));
                    docs.push((format!("{}/.zarray", a.name), a.meta.clone()));
                    consolidated.insert(format!("{}/.zattrs", a.name), attrs);
                    consolidated.insert(format!("{}/.zarray", a.name), a.meta.clone());
                }
                docs.push((".zgroup".into(), json!({"zarr_format": 2})));
                docs.push((".zattrs".into(), Value::Object(self.attrs.clone())));
                docs.push((
                    ".zmetadata".into(),
                    json!({"metadata": consolidated, "zarr_consolidated_format": 1}),
                ));
            }
        }
        docs
    }

    /// Writes every metadata document under `root`, arrays first and the
    /// root group (with the consolidated metadata) last.
    pub fn write(&self, root: &Path) -> Result<()> {
        for (key, doc) in self.documents() {
            write_json(&root.join(key), &doc)?;
        }
        Ok(())
    }

    /// Writes every metadata document into `store`, in [`Self::documents`]'
    /// order.
    pub fn write_in(&self, store: &Store) -> Result<()> {
        for (key, doc) in self.documents() {
            store.set(
                &key,
                serde_json::to_vec_pretty(&doc).expect("JSON values serialise"),
            )?;
        }
        Ok(())
    }

    /// Reads a store's consolidated metadata (as [`StoreMeta::write`] writes it).
    pub fn read(root: &Path) -> Result<StoreMeta> {
        Self::read_in(&Store::dir(root))
    }

    /// Reads the consolidated metadata of `store`.
    pub fn read_in(store: &Store) -> Result<StoreMeta> {
        let root = store.origin();
        let store_err = |message: String| Error::Store {
            store: root.to_path_buf(),
            message,
        };
        let json_at = |key: &str| -> Result<Option<Value>> {
            let Some(bytes) = store.get(key)? else {
                return Ok(None);
            };
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| store_err(format!("{key}: invalid JSON: {e}")))
        };
        if let Some(group) = json_at("zarr.json")? {
            let attrs = group["attributes"].as_object().cloned().unwrap_or_default();
            let metadata = group["consolidated_metadata"]["metadata"]
                .as_object()
                .ok_or_else(|| store_err("its zarr.json has no consolidated metadata".into()))?;
            let arrays = metadata
                .iter()
                .filter(|(_, m)| m["node_type"] == "array")
                .map(|(name, meta)| StoredArray {
                    name: name.clone(),
                    meta: meta.clone(),
                    attrs: Map::new(),
                })
                .collect();
            Ok(StoreMeta {
                version: ZarrVersion::V3,
                attrs,
                arrays,
            })
        } else if let Some(doc) = json_at(".zmetadata")? {
            let metadata = doc["metadata"]
                .as_object()
                .ok_or_else(|| store_err("its .zmetadata has no `metadata`".into()))?;
            let attrs = metadata
                .get(".zattrs")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let arrays = metadata
                .iter()
                .filter_map(|(key, meta)| {
                    let name = key.strip_suffix("/.zarray")?;
                    Some(StoredArray {
                        name: name.to_string(),
                        meta: meta.clone(),
                        attrs: metadata
                            .get(&format!("{name}/.zattrs"))
                            .and_then(Value::as_object)
                            .cloned()
                            .unwrap_or_default(),
                    })
                })
                .collect();
            Ok(StoreMeta {
                version: ZarrVersion::V2,
                attrs,
                arrays,
            })
        } else {
            Err(store_err(
                "not a Zarr store with consolidated metadata (no zarr.json or .zmetadata)".into(),
            ))
        }
    }
}

/// Reads stacforge's record (`stacforge` attribute) from the root
/// attributes of a store or reference set at `origin` (`what` names it in
/// messages): what it was made from, which appends rely on.
pub fn read_record<T: serde::de::DeserializeOwned>(
    attrs: &Map<String, Value>,
    origin: &Path,
    what: &str,
) -> Result<T> {
    let record = attrs.get(RECORD).cloned().ok_or_else(|| Error::Store {
        store: origin.to_path_buf(),
        message: format!(
            "{what} not made by stacforge (no `{RECORD}` record at its root); cannot append safely"
        ),
    })?;
    serde_json::from_value(record).map_err(|e| Error::Store {
        store: origin.to_path_buf(),
        message: format!("its `{RECORD}` record is unreadable: {e}"),
    })
}

/// Writes JSON to `path` atomically: a temporary sibling, then a rename.
pub fn write_json(path: &Path, value: &Value) -> Result<()> {
    let text = serde_json::to_vec_pretty(value).expect("JSON values serialise");
    write_atomic(path, &text)
}

/// Writes bytes to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    stacforge_core::fs::write_atomic(path, bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dtype: ElementType, fill: Option<f64>) -> ArraySpec {
        ArraySpec {
            chars: false,
            name: "air".into(),
            dims: vec!["time".into(), "lat".into()],
            shape: vec![4, 25],
            chunks: vec![2, 25],
            dtype,
            fill,
            attrs: Map::new(),
        }
    }

    #[test]
    fn fill_values_are_encoded_as_xarray_reads_them() {
        let v3 = spec(ElementType::Float32, Some(f64::NAN))
            .metadata(ZarrVersion::V3, Compression::default());
        assert_eq!(v3["attributes"]["_FillValue"], "AAAAAAAA+H8=");
        assert_eq!(v3["fill_value"], "NaN");
        let v2 = spec(ElementType::Int16, Some(-999.0))
            .metadata(ZarrVersion::V2, Compression::default());
        assert_eq!(v2["fill_value"], -999);
        assert_eq!(v2["dtype"], "<i2");
        let none = spec(ElementType::Int16, None).metadata(ZarrVersion::V2, Compression::None);
        assert_eq!(none["fill_value"], Value::Null);
        assert_eq!(none["compressor"], Value::Null);
    }

    #[test]
    fn metadata_round_trips_and_chunks_are_readable() {
        for version in [ZarrVersion::V2, ZarrVersion::V3] {
            let dir = tempfile::tempdir().unwrap();
            let meta = StoreMeta::new(
                version,
                Compression::default(),
                Map::new(),
                &[spec(ElementType::Int16, None)],
            );
            meta.write(dir.path()).unwrap();
            let read = StoreMeta::read(dir.path()).unwrap();
            assert_eq!(read, meta);
            let array = open_array(dir.path(), &read.arrays[0]).unwrap();
            let values: Vec<u8> = (0..100i16).flat_map(i16::to_ne_bytes).collect();
            let subset = zarrs::array::ArraySubset::new_with_ranges(&[0..4, 0..25]);
            array
                .store_array_subset(&subset, zarrs::array::ArrayBytes::from(values.clone()))
                .unwrap();
            let back: Vec<i16> = array.retrieve_array_subset(&subset).unwrap();
            assert_eq!(back, (0..100).collect::<Vec<i16>>());
        }
    }
}
