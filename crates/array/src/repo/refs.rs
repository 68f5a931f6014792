//! Virtual references in an Icechunk repository: stacforge's kerchunk
//! references ([`crate::refs::References`], Zarr v2) translated to Zarr v3
//! metadata, their byte ranges as virtual chunk references and their
//! inlined values as chunks; and the same references read back from a
//! snapshot, so an append builds on them exactly as on a JSON file.
//!
//! Codecs: HDF5's shuffle, deflate (zlib streams) and Fletcher-32 become
//! numcodecs' Zarr v3 codecs (`numcodecs.shuffle`, `numcodecs.zlib`,
//! `numcodecs.fletcher32`), as VirtualiZarr names them; zarr-python reads
//! them with numcodecs installed. Byte order goes to the `bytes` codec.

use super::{block_on, Repo, Writer};
use crate::refs::References;
use crate::{zarr, ElementType, Error, Result};
use base64::Engine;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::path::Path;

fn bad(origin: &Path, message: String) -> Error {
    Error::Store {
        store: origin.to_path_buf(),
        message,
    }
}

/// The Zarr v3 `zarr.json` of an array from its v2 `.zarray` and `.zattrs`.
pub fn v3_array(zarray: &Value, zattrs: &Map<String, Value>, origin: &Path) -> Result<Value> {
    let dtype = zarray["dtype"].as_str().unwrap_or_default();
    let mut attributes = zattrs.clone();
    let dims = attributes
        .remove("_ARRAY_DIMENSIONS")
        .unwrap_or_else(|| json!([]));
    if !zarray["compressor"].is_null() {
        return Err(bad(
            origin,
            format!(
                "a compressor in references ({}) is not expected",
                zarray["compressor"]
            ),
        ));
    }
    let (data_type, fill_value, codecs) = if dtype == "|S1" {
        (
            json!({"name": "null_terminated_bytes", "configuration": {"length_bytes": 1}}),
            json!(""),
            vec![json!({"name": "bytes"})],
        )
    } else {
        let (t, big) = ElementType::from_zarr(dtype)
            .ok_or_else(|| bad(origin, format!("data type `{dtype}` has no Zarr v3 name")))?;
        let mut codecs = vec![
            json!({"name": "bytes", "configuration": {"endian": if big { "big" } else { "little" }}}),
        ];
        for filter in zarray["filters"].as_array().into_iter().flatten() {
            codecs.push(match filter["id"].as_str() {
                Some("shuffle") => json!({"name": "numcodecs.shuffle", "configuration": {"elementsize": filter["elementsize"]}}),
                Some("zlib") => json!({"name": "numcodecs.zlib", "configuration": {"level": filter["level"]}}),
                Some("fletcher32") => json!({"name": "numcodecs.fletcher32", "configuration": {}}),
                _ => return Err(bad(origin, format!("filter {filter} has no Zarr v3 codec here"))),
            });
        }
        let fill = &zarray["fill_value"];
        if !fill.is_null() {
            let encoded = match fill_number(fill) {
                Some(f) => zarr::v3_fill_attribute(f, t),
                None => fill.clone(),
            };
            attributes.insert("_FillValue".into(), encoded);
        }
        let v3_fill = if fill.is_null() {
            if t.is_float() {
                json!(0.0)
            } else {
                json!(0)
            }
        } else {
            fill.clone()
        };
        (json!(t.v3_name()), v3_fill, codecs)
    };
    Ok(json!({
        "shape": zarray["shape"],
        "data_type": data_type,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": zarray["chunks"]}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": fill_value,
        "codecs": codecs,
        "attributes": attributes,
        "dimension_names": dims,
        "zarr_format": 3,
        "node_type": "array",
        "storage_transformers": [],
    }))
}

/// A v2 fill value as a number (`"NaN"` and the infinities too).
fn fill_number(fill: &Value) -> Option<f64> {
    match fill {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s == "NaN" => Some(f64::NAN),
        Value::String(s) if s == "Infinity" => Some(f64::INFINITY),
        Value::String(s) if s == "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// The v2 `.zarray` and `.zattrs` of an array from the `zarr.json`
/// [`v3_array`] made: its exact inverse.
pub fn v2_array(meta: &Value, origin: &Path) -> Result<(Value, Map<String, Value>)> {
    let mut attrs = meta["attributes"].as_object().cloned().unwrap_or_default();
    let codecs = meta["codecs"].as_array().cloned().unwrap_or_default();
    let (dtype, fill) = if meta["data_type"]["name"] == "null_terminated_bytes" {
        ("|S1".to_string(), Value::Null)
    } else {
        let name = meta["data_type"].as_str().unwrap_or_default();
        let (t, _) = ElementType::from_zarr(name).ok_or_else(|| {
            bad(
                origin,
                format!("data type `{name}` is not one stacforge reads"),
            )
        })?;
        let big = codecs
            .first()
            .is_some_and(|c| c["configuration"]["endian"] == "big");
        let dtype = if big && t.size() > 1 {
            format!(">{}", &t.v2_name()[1..])
        } else {
            t.v2_name().to_string()
        };
        let fill = match attrs.remove("_FillValue") {
            None => Value::Null,
            Some(Value::String(b64)) if t.is_float() => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(&b64)
                    .ok()
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .ok_or_else(|| {
                        bad(
                            origin,
                            format!("`_FillValue` {b64} is not a base64 float64"),
                        )
                    })?;
                zarr::fill_json(f64::from_le_bytes(bytes), t)
            }
            Some(other) => other,
        };
        (dtype, fill)
    };
    let filters: Vec<Value> = codecs
        .iter()
        .skip(1)
        .map(|c| match c["name"].as_str() {
            Some("numcodecs.shuffle") => {
                Ok(json!({"id": "shuffle", "elementsize": c["configuration"]["elementsize"]}))
            }
            Some("numcodecs.zlib") => {
                Ok(json!({"id": "zlib", "level": c["configuration"]["level"]}))
            }
            Some("numcodecs.fletcher32") => Ok(json!({"id": "fletcher32"})),
            _ => Err(bad(
                origin,
                format!("codec {c} is not one stacforge writes in references"),
            )),
        })
        .collect::<Result<_>>()?;
    attrs.insert("_ARRAY_DIMENSIONS".into(), meta["dimension_names"].clone());
    let zarray = json!({
        "shape": meta["shape"],
        "chunks": meta["chunk_grid"]["configuration"]["chunk_shape"],
        "dtype": dtype,
        "fill_value": fill,
        "order": "C",
        "filters": if filters.is_empty() { Value::Null } else { Value::Array(filters) },
        "compressor": null,
        "zarr_format": 2,
    });
    Ok((zarray, attrs))
}

/// The v3 key of a v2 chunk key (`air/1.0.0` → `air/c/1/0/0`, `crs/0` of a
/// scalar → `crs/c`).
fn v3_chunk_key(key: &str, scalar: bool) -> Option<String> {
    let (name, index) = key.rsplit_once('/')?;
    if scalar {
        return Some(format!("{name}/c"));
    }
    Some(format!("{name}/c/{}", index.replace('.', "/")))
}

/// The v2 key of an array's chunk at `index`.
fn v2_chunk_key(name: &str, index: &[u32]) -> String {
    if index.is_empty() {
        format!("{name}/0")
    } else {
        let parts: Vec<String> = index.iter().map(u32::to_string).collect();
        format!("{name}/{}", parts.join("."))
    }
}

/// The URL a virtual chunk reference names for a source href (an
/// absolute path or an object URL).
fn chunk_url(href: &str) -> Option<String> {
    if href.contains("://") {
        return Some(href.to_string());
    }
    // Parsed again: that resolves `..` segments, as Icechunk does with the
    // locations it is given (and containers must match those).
    let url = url::Url::from_file_path(href).ok()?;
    url::Url::parse(url.as_str()).ok().map(String::from)
}

/// The href of a virtual chunk reference's URL, as references record it.
fn chunk_href(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) if u.scheme() == "file" => u
            .to_file_path()
            .map_or_else(|_| url.to_string(), |p| p.display().to_string()),
        _ => url.to_string(),
    }
}

/// The virtual chunk containers the references need: one per directory
/// of local sources (`file:///dir/`), one per bucket of objects.
pub fn containers(refs: &References) -> BTreeSet<String> {
    let mut prefixes = BTreeSet::new();
    for value in refs.refs.values() {
        let Some(href) = value.get(0).and_then(Value::as_str) else {
            continue;
        };
        let Some(url) = chunk_url(href) else { continue };
        if let Some(rest) = url.strip_prefix("file://") {
            if let Some((dir, _)) = rest.rsplit_once('/') {
                prefixes.insert(format!("file://{dir}/"));
            }
        } else if let Some((scheme, rest)) = url.split_once("://") {
            let bucket = rest.split('/').next().unwrap_or_default();
            prefixes.insert(format!("{scheme}://{bucket}/"));
        }
    }
    prefixes
}

/// Last modification of a local source, for Icechunk to refuse reading a
/// chunk from a file changed since it was referenced.
fn modified_seconds(href: &str) -> Option<u32> {
    if href.contains("://") {
        return None;
    }
    let time = std::fs::metadata(href).ok()?.modified().ok()?;
    // Rounded up: Icechunk asks for the object unmodified since this second,
    // and the file's own time has a fraction of one.
    let since = time.duration_since(std::time::UNIX_EPOCH).ok()?;
    let seconds = since.as_secs() + u64::from(since.subsec_nanos() > 0);
    u32::try_from(seconds).ok()
}

/// The Zarr v3 documents of a reference set: every array's `zarr.json`
/// and the root group's (with consolidated metadata, as stacforge's stores
/// have it).
fn documents(refs: &References, origin: &Path) -> Result<zarr::StoreMeta> {
    let parse = |key: &str| -> Result<Value> {
        let text = refs
            .refs
            .get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| bad(origin, format!("no `{key}`")))?;
        serde_json::from_str(text).map_err(|e| bad(origin, format!("`{key}` is not JSON: {e}")))
    };
    let attrs = parse(".zattrs")?.as_object().cloned().unwrap_or_default();
    let mut arrays = Vec::new();
    for name in refs.arrays() {
        let zarray = parse(&format!("{name}/.zarray"))?;
        let zattrs = parse(&format!("{name}/.zattrs"))
            .ok()
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        arrays.push(zarr::StoredArray {
            meta: v3_array(&zarray, &zattrs, origin)?,
            name,
            attrs: Map::new(),
        });
    }
    Ok(zarr::StoreMeta {
        version: zarr::ZarrVersion::V3,
        attrs,
        arrays,
    })
}

/// Writes `refs` into the session: metadata translated to Zarr v3, inlined
/// values as chunks, byte ranges as virtual chunk references. Only what
/// differs from `before` (the references the session starts from) is
/// written. Returns the number of virtual references written.
pub fn write(
    writer: &Writer,
    refs: &References,
    before: Option<&References>,
    origin: &Path,
) -> Result<usize> {
    let meta = documents(refs, origin)?;
    let store = writer.zarr();
    // Metadata first: Icechunk places chunks by their array's shape.
    meta.write_in(&store)?;
    let scalars: BTreeSet<&str> = meta
        .arrays
        .iter()
        .filter(|a| a.shape().is_empty())
        .map(|a| a.name.as_str())
        .collect();
    let mut virtual_refs = 0;
    for (key, value) in &refs.refs {
        let Some((name, last)) = key.rsplit_once('/') else {
            continue;
        };
        if last.starts_with('.') || before.is_some_and(|b| b.refs.get(key) == Some(value)) {
            continue;
        }
        let v3 = v3_chunk_key(key, scalars.contains(name))
            .ok_or_else(|| bad(origin, format!("reference key `{key}`")))?;
        match value {
            Value::String(text) => {
                let bytes = crate::refs::decode_inline(text)
                    .ok_or_else(|| bad(origin, format!("`{key}` is not inline data")))?;
                store.set(&v3, bytes)?;
            }
            Value::Array(parts) => {
                let href = parts.first().and_then(Value::as_str).unwrap_or_default();
                let (offset, length) = match (parts.get(1), parts.get(2)) {
                    (Some(o), Some(l)) => (o.as_u64(), l.as_u64()),
                    _ => (Some(0), std::fs::metadata(href).ok().map(|m| m.len())),
                };
                let (Some(offset), Some(length), Some(url)) = (offset, length, chunk_url(href))
                else {
                    return Err(bad(origin, format!("`{key}` is not a byte range: {value}")));
                };
                writer.set_virtual(&v3, &url, offset, length, modified_seconds(href))?;
                virtual_refs += 1;
            }
            other => return Err(bad(origin, format!("`{key}` is not a reference: {other}"))),
        }
    }
    Ok(virtual_refs)
}

/// The references a session holds, as kerchunk references: what
/// [`write`] wrote, read back exactly.
pub fn read(writer: &Writer, origin: &Path) -> Result<References> {
    read_session(&writer.session, &writer.zarr(), origin)
}

/// The references of a snapshot of `repo` (`at` as in [`Repo::snapshot`]).
pub fn read_snapshot(repo: &Repo, at: Option<&str>) -> Result<(References, String)> {
    let version = repo.version(at)?;
    let session = block_on(repo.repo.readonly_session(&version)).map_err(|e| repo.error(e))?;
    let id = session.snapshot_id().to_string();
    let session = std::sync::Arc::new(tokio::sync::RwLock::new(session));
    let store = block_on(::icechunk::Store::from_session(session.clone()));
    let zarr_store = zarr::Store::on(
        std::sync::Arc::new(super::storage::SessionStorage { store }),
        repo.origin(),
    );
    Ok((read_session(&session, &zarr_store, &repo.origin())?, id))
}

fn read_session(
    session: &tokio::sync::RwLock<::icechunk::session::Session>,
    store: &zarr::Store,
    origin: &Path,
) -> Result<References> {
    use ::icechunk::format::manifest::ChunkPayload;
    use futures::StreamExt;
    let meta = zarr::StoreMeta::read_in(store)?;
    let mut refs = References {
        refs: Default::default(),
    };
    let set_json = |refs: &mut References, key: String, value: &Value| {
        refs.refs.insert(key, Value::String(value.to_string()));
    };
    set_json(&mut refs, ".zgroup".into(), &json!({"zarr_format": 2}));
    set_json(
        &mut refs,
        ".zattrs".into(),
        &Value::Object(meta.attrs.clone()),
    );
    for array in &meta.arrays {
        let (zarray, zattrs) = v2_array(&array.meta, origin)?;
        set_json(&mut refs, format!("{}/.zarray", array.name), &zarray);
        set_json(
            &mut refs,
            format!("{}/.zattrs", array.name),
            &Value::Object(zattrs),
        );
        let path = ::icechunk::format::Path::new(&format!("/{}", array.name))
            .map_err(|e| bad(origin, format!("array `{}`: {e}", array.name)))?;
        let chunks: Vec<_> = block_on(async {
            let session = session.read().await;
            let stream = session.array_chunk_iterator(&path).await;
            stream.collect::<Vec<_>>().await
        });
        for chunk in chunks {
            let chunk = chunk.map_err(|e| bad(origin, format!("array `{}`: {e}", array.name)))?;
            let key = v2_chunk_key(&array.name, &chunk.coord.0);
            let value = match chunk.payload {
                ChunkPayload::Virtual(v) => {
                    json!([chunk_href(v.location.url()), v.offset, v.length])
                }
                ChunkPayload::Inline(bytes) => crate::refs::inline(&bytes),
                ChunkPayload::Ref(_) => {
                    let v3 = v3_chunk_key(&key, array.shape().is_empty()).unwrap_or_default();
                    let bytes = store
                        .get(&v3)?
                        .ok_or_else(|| bad(origin, format!("chunk `{v3}` is missing")))?;
                    crate::refs::inline(&bytes)
                }
                other => {
                    return Err(bad(
                        origin,
                        format!("chunk `{key}` is of a kind stacforge does not read: {other:?}"),
                    ))
                }
            };
            refs.refs.insert(key, value);
        }
    }
    Ok(refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_metadata_round_trips_through_v3() {
        let origin = Path::new("test");
        let cases = [
            (
                json!({"shape": [4, 3], "chunks": [1, 3], "dtype": "<f4", "fill_value": "NaN", "order": "C",
                       "filters": [{"id": "shuffle", "elementsize": 4}, {"id": "zlib", "level": 4}], "compressor": null, "zarr_format": 2}),
                json!({"units": "K", "_ARRAY_DIMENSIONS": ["time", "x"]}),
            ),
            (
                json!({"shape": [5], "chunks": [5], "dtype": ">i2", "fill_value": -999, "order": "C",
                       "filters": null, "compressor": null, "zarr_format": 2}),
                json!({"_ARRAY_DIMENSIONS": ["x"]}),
            ),
            (
                json!({"shape": [], "chunks": [], "dtype": "<f8", "fill_value": 1e20, "order": "C",
                       "filters": [{"id": "fletcher32"}], "compressor": null, "zarr_format": 2}),
                json!({"_ARRAY_DIMENSIONS": []}),
            ),
            (
                json!({"shape": [8], "chunks": [8], "dtype": "|S1", "fill_value": null, "order": "C",
                       "filters": null, "compressor": null, "zarr_format": 2}),
                json!({"_ARRAY_DIMENSIONS": ["n"]}),
            ),
        ];
        for (zarray, zattrs) in cases {
            let v3 = v3_array(&zarray, zattrs.as_object().unwrap(), origin).unwrap();
            assert_eq!(v3["zarr_format"], 3);
            let (back, attrs) = v2_array(&v3, origin).unwrap();
            assert_eq!(back, zarray);
            assert_eq!(Value::Object(attrs), zattrs);
        }
        let v3 = v3_array(&cases_first(), &Map::new(), origin).unwrap();
        assert_eq!(v3["codecs"][0]["configuration"]["endian"], "little");
        assert_eq!(v3["codecs"][2]["name"], "numcodecs.zlib");
        assert_eq!(v3["attributes"]["_FillValue"], "AAAAAAAA+H8=");
    }

    fn cases_first() -> Value {
        json!({"shape": [4], "chunks": [1], "dtype": "<f4", "fill_value": "NaN",
               "filters": [{"id": "shuffle", "elementsize": 4}, {"id": "zlib", "level": 4}], "compressor": null})
    }

    #[test]
    fn chunk_keys_and_urls_translate_both_ways() {
        assert_eq!(v3_chunk_key("air/1.0.2", false).unwrap(), "air/c/1/0/2");
        assert_eq!(v3_chunk_key("crs/0", true).unwrap(), "crs/c");
        assert_eq!(v2_chunk_key("air", &[1, 0, 2]), "air/1.0.2");
        assert_eq!(v2_chunk_key("crs", &[]), "crs/0");
        let url = chunk_url("/data/a b.nc").unwrap();
        assert_eq!(url, "file:///data/a%20b.nc");
        assert_eq!(chunk_href(&url), "/data/a b.nc");
        assert_eq!(chunk_url("s3://b/k.nc").unwrap(), "s3://b/k.nc");
        assert_eq!(chunk_url("/a/b/../c/d.nc").unwrap(), "file:///a/c/d.nc");
        let refs = References {
            refs: [
                ("a/0".to_string(), json!(["/data/x/a.nc", 0, 10])),
                ("b/0".to_string(), json!(["s3://bucket/y/b.nc", 0, 10])),
                ("c/0".to_string(), json!("base64:AAAA")),
            ]
            .into(),
        };
        assert_eq!(
            containers(&refs).into_iter().collect::<Vec<_>>(),
            vec!["file:///data/x/".to_string(), "s3://bucket/".to_string()]
        );
    }
}
