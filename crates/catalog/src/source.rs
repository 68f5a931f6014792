//! Sources given as STAC items: the file to convert is one of the item's
//! assets, and the new item records where it came from with `derived_from`.

use crate::{Error, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A source file found through a STAC item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemSource {
    /// The id of the STAC item.
    pub id: String,
    /// `file://` href of the STAC item document.
    pub item_href: String,
    /// The local file of the chosen asset.
    pub asset_path: PathBuf,
}

/// The asset of an item that is converted from it: the first with the
/// `data` role, otherwise the first GeoTIFF.
pub fn data_asset(doc: &Value) -> Option<(&String, &Value)> {
    let assets = doc.get("assets")?.as_object()?;
    let has_role = |a: &Value| {
        a.get("roles")
            .and_then(Value::as_array)
            .is_some_and(|r| r.iter().any(|x| x == "data"))
    };
    let is_tiff = |a: &Value| {
        a.get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.starts_with("image/tiff"))
    };
    assets
        .iter()
        .find(|(_, a)| has_role(a))
        .or_else(|| assets.iter().find(|(_, a)| is_tiff(a)))
}

/// Reads the STAC item at `path` and picks the asset to convert: the first
/// with the `data` role, otherwise the first GeoTIFF; its href must be a
/// local path (relative to the item, absolute, or `file://`).
pub fn from_stac_item(path: &Path) -> Result<ItemSource> {
    let location = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let doc: Value = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        location: location.clone(),
        source,
    })?;
    let refuse = |reason: String| Error::Location {
        location: location.clone(),
        reason,
    };
    if doc.get("type").and_then(Value::as_str) != Some("Feature") {
        return Err(refuse(
            "a .json source must be a STAC item (type \"Feature\")".to_string(),
        ));
    }
    let id = doc
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| refuse("the STAC item has no id".to_string()))?
        .to_string();
    let assets = doc
        .get("assets")
        .and_then(Value::as_object)
        .ok_or_else(|| refuse("the STAC item has no assets".to_string()))?;
    let (key, asset) = data_asset(&doc).ok_or_else(|| {
        refuse(format!(
            "no asset has the data role or a GeoTIFF type (assets: {})",
            assets.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })?;
    let href = asset
        .get("href")
        .and_then(Value::as_str)
        .ok_or_else(|| refuse(format!("asset {key} has no href")))?;
    let asset_path = match href.split_once("://") {
        None => path.parent().unwrap_or(Path::new(".")).join(href),
        Some(("file", rest)) => PathBuf::from(rest),
        Some((scheme, _)) => {
            return Err(refuse(format!(
            "asset {key} is at {href}; {scheme}:// sources are not supported yet, only local files"
        )))
        }
    };
    let absolute = std::fs::canonicalize(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    // A local copy of a published item (`stacforge derive --from` an API
    // or a bucket) names the published one as its `self`: that is the
    // parent the new item links to.
    let published = doc["links"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["rel"] == "self")
        .and_then(|l| l["href"].as_str())
        .filter(|h| h.contains("://"));
    Ok(ItemSource {
        id,
        item_href: match published {
            Some(href) => href.to_string(),
            None => format!(
                "file://{}",
                stacforge_core::href::encode(&absolute.display().to_string())
            ),
        },
        asset_path,
    })
}
