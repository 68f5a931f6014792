//! Exporting a catalog's items for bulk loading: newline-delimited JSON
//! (pypgstac load, DuckDB `read_json`) or stac-geoparquet (through rustac).

use crate::publish::{absolutize, LocalCatalog};
use crate::{Error, Result};
use serde_json::Value;
use std::io::Write;
use std::path::Path;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One item per line.
    Ndjson,
    /// stac-geoparquet.
    Geoparquet,
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(value: &str) -> Result<Format> {
        match value.to_ascii_lowercase().as_str() {
            "ndjson" | "jsonl" => Ok(Format::Ndjson),
            "geoparquet" | "parquet" => Ok(Format::Geoparquet),
            _ => Err(Error::Location {
                location: value.to_string(),
                reason: "unknown export format; expected ndjson or geoparquet".to_string(),
            }),
        }
    }
}

/// Converts an item to rustac's model without losing STAC 1.1 nodata
/// strings (`"nan"`, `"inf"`, `"-inf"`), which its `Band::nodata` (an f64)
/// cannot hold: they travel as extra band fields and serialise unchanged.
fn to_typed(mut item: Value, location: &str) -> Result<stac::Item> {
    let mut held = Vec::new();
    if let Some(assets) = item.get_mut("assets").and_then(Value::as_object_mut) {
        for (key, asset) in assets.iter_mut() {
            if let Some(bands) = asset.get_mut("bands").and_then(Value::as_array_mut) {
                for (i, band) in bands.iter_mut().enumerate() {
                    if band.get("nodata").is_some_and(Value::is_string) {
                        let value = band.as_object_mut().and_then(|b| b.remove("nodata"));
                        held.push((key.clone(), i, value.unwrap_or_default()));
                    }
                }
            }
        }
    }
    let mut typed: stac::Item = serde_json::from_value(item).map_err(|source| Error::Json {
        location: location.to_string(),
        source,
    })?;
    for (key, i, value) in held {
        if let Some(band) = typed.assets.get_mut(&key).and_then(|a| a.bands.get_mut(i)) {
            band.additional_fields.insert("nodata".to_string(), value);
        }
    }
    Ok(typed)
}

/// stac-geoparquet (through Arrow) needs one type per column: refuse,
/// naming an example of each, items that mix numeric nodata with strings.
fn check_one_nodata_type(items: &[(String, Value)], out: &Path) -> Result<()> {
    let (mut string, mut number) = (None, None);
    for (path, item) in items {
        let bands = item
            .get("assets")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|a| a.values())
            .filter_map(|a| a.get("bands").and_then(Value::as_array))
            .flatten();
        for band in bands {
            match band.get("nodata") {
                Some(Value::String(_)) => string = string.or(Some(path.clone())),
                Some(Value::Number(_)) => number = number.or(Some(path.clone())),
                _ => {}
            }
        }
    }
    match (string, number) {
        (Some(s), Some(n)) => Err(Error::Location {
            location: out.display().to_string(),
            reason: format!(
                "stac-geoparquet needs one type per column, and these items mix numeric nodata ({n}) with \"nan\"/\"inf\" nodata ({s}); export them to ndjson, or to separate files"
            ),
        }),
        _ => Ok(()),
    }
}

/// Writes every item of the catalog in `root` to `out` in `format`, with
/// relative hrefs made absolute under `public_url` when given. The file is
/// written under a temporary name and renamed. Returns the item count.
pub fn export(root: &Path, format: Format, out: &Path, public_url: Option<&str>) -> Result<usize> {
    let local = LocalCatalog::read(root)?;
    // The export never replaces a document of the catalog it reads.
    let ours = std::iter::once(crate::layout::COLLECTION.to_string())
        .chain(local.items.iter().map(|(path, _)| path.clone()));
    let out_abs = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .canonicalize()
        .ok()
        .map(|dir| dir.join(out.file_name().unwrap_or_default()));
    if let (Some(out_abs), Ok(root_abs)) = (&out_abs, root.canonicalize()) {
        if let Some(taken) = ours.into_iter().find(|p| root_abs.join(p) == *out_abs) {
            return Err(Error::Location {
                location: out.display().to_string(),
                reason: format!(
                    "it is the catalog's own {taken}; exporting there would destroy the catalog (choose another output)"
                ),
            });
        }
    }
    let partial = stacforge_core::fs::hidden_sibling(out, "stacforge-tmp", "");
    let _interrupted = stacforge_core::fs::Cleanup::new(partial.clone());
    let mut items = Vec::with_capacity(local.items.len());
    for (path, item) in &local.items {
        let mut item = item.clone();
        if let Some(public) = public_url {
            absolutize(&mut item, path, public);
        }
        items.push((path.clone(), item));
    }
    if format == Format::Geoparquet {
        check_one_nodata_type(&items, out)?;
    }
    let io = |source| Error::Io {
        path: out.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(&partial).map_err(io)?;
    let written = match format {
        Format::Ndjson => {
            let mut writer = std::io::BufWriter::new(file);
            items
                .iter()
                .try_for_each(|(_, item)| {
                    serde_json::to_writer(&mut writer, item).map_err(std::io::Error::from)?;
                    writer.write_all(b"\n")
                })
                .and_then(|()| writer.flush())
                .map_err(io)
        }
        Format::Geoparquet => {
            let typed = items
                .into_iter()
                .map(|(path, item)| to_typed(item, &root.join(&path).display().to_string()))
                .collect::<Result<Vec<_>>>()?;
            stac::geoparquet::into_writer(file, typed).map_err(|e| Error::Location {
                location: out.display().to_string(),
                reason: format!("cannot write stac-geoparquet: {e}"),
            })
        }
    };
    match written {
        Ok(()) => {
            std::fs::rename(&partial, out).map_err(io)?;
            Ok(local.items.len())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}
