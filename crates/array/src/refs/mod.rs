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

mod append;
mod build;
mod parquet;

use build::*;

pub use append::{append, verify, AppendOutcome, Changed};
pub use build::references;
pub use parquet::{is_parquet_refs, write_parquet};

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
        let attrs = attrs.as_object().cloned().unwrap_or_default();
        crate::zarr::read_record(&attrs, origin, "these references were")
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

pub(crate) fn decode_inline(text: &str) -> Option<Vec<u8>> {
    match text.strip_prefix("base64:") {
        Some(b64) => base64::engine::general_purpose::STANDARD.decode(b64).ok(),
        None => Some(text.as_bytes().to_vec()),
    }
}

pub(crate) fn inline(bytes: &[u8]) -> Value {
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
