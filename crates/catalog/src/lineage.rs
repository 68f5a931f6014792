//! Lineage: an item's chain of `derived_from` links walked back to the
//! original source files, each level with its assets and sources (size
//! and checksum) and the steps that made it; and every reachable object
//! checked again against what the items say of it.
//!
//! Items and objects are read wherever their hrefs point: local paths and
//! `file://`, `http(s)://` (a STAC API's item URL, a published catalog),
//! and object storage (`s3://`, `gs://`, `az://`). Relative hrefs are
//! resolved against the document that holds them.

use crate::api::ApiOptions;
use crate::location::StoreOptions;
use crate::{Catalog, Error, Result};
use serde::Serialize;
use serde_json::Value;

/// How to reach what the hrefs name.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Object storage.
    pub store: StoreOptions,
    /// HTTP(S) (authentication).
    pub api: ApiOptions,
}

/// An object an item names (an asset, a source file), with what the item
/// says of it.
#[derive(Debug, Clone, Serialize)]
pub struct Object {
    /// The asset key, or `source` for a `via` link.
    pub key: String,
    /// Absolute href.
    pub href: String,
    /// `file:size`.
    pub size: Option<u64>,
    /// `file:checksum`.
    pub checksum: Option<String>,
    /// What `--verify` found: `None` before checking, `"ok"`, or what is wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<String>,
}

/// One level of the chain: an item, what it holds and what it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    /// Where the item is.
    pub href: String,
    /// Its id.
    pub id: String,
    /// Its collection.
    pub collection: Option<String>,
    /// `processing:lineage`.
    pub lineage: Option<String>,
    /// The steps between its parents and it (`processing:expression`).
    pub steps: Option<Value>,
    /// Its assets.
    pub assets: Vec<Object>,
    /// Its source files (`via` links).
    pub sources: Vec<Object>,
    /// The items it was derived from.
    pub parents: Vec<Node>,
    /// Links that could not be followed, and why.
    pub broken: Vec<String>,
}

/// An absolute href: `href` resolved against `base` (an absolute URL or
/// path of the document holding it).
pub fn resolve(base: &str, href: &str) -> String {
    if href.contains("://") {
        return href.to_string();
    }
    if href.starts_with('/') {
        return format!("file://{}", stacforge_core::href::encode(href));
    }
    let base_url = if base.contains("://") {
        url::Url::parse(base).ok()
    } else {
        std::path::absolute(base)
            .ok()
            .and_then(|p| url::Url::from_file_path(p).ok())
    };
    match base_url.and_then(|b| b.join(href).ok()) {
        Some(u) => u.to_string(),
        None => href.to_string(),
    }
}

/// The bytes at an absolute href; `None` when nothing is there.
pub fn read(href: &str, access: &Access) -> Result<Option<Vec<u8>>> {
    if let Some(path) = local_path(href) {
        return match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io { path, source }),
        };
    }
    if href.starts_with("http://") || href.starts_with("https://") {
        return crate::api::get_bytes(href, &access.api);
    }
    let (parent, name) = href.rsplit_once('/').ok_or_else(|| Error::Location {
        location: href.to_string(),
        reason: "not a URL of an object".into(),
    })?;
    Catalog::open_with(parent, &access.store)?.read(name)
}

/// The local path of a `file://` URL or an absolute path.
fn local_path(href: &str) -> Option<std::path::PathBuf> {
    if let Some(rest) = href.strip_prefix("file://") {
        return url::Url::parse(href)
            .ok()
            .and_then(|u| u.to_file_path().ok())
            .or_else(|| Some(std::path::PathBuf::from(rest)));
    }
    (!href.contains("://")).then(|| std::path::PathBuf::from(href))
}

fn object(key: &str, href: String, fields: &Value) -> Object {
    Object {
        key: key.to_string(),
        href,
        size: fields["file:size"].as_u64(),
        checksum: fields["file:checksum"].as_str().map(str::to_string),
        verified: None,
    }
}

/// Walks the chain from the item at `href` (a path or URL), at most
/// `depth` levels of parents.
pub fn walk(href: &str, access: &Access, depth: usize) -> Result<Node> {
    let href = resolve(".", href);
    let bytes = read(&href, access)?.ok_or_else(|| Error::Location {
        location: href.clone(),
        reason: "no item there".into(),
    })?;
    let doc: Value = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        location: href.clone(),
        source,
    })?;
    if doc["type"] != "Feature" {
        return Err(Error::Location {
            location: href,
            reason: "not a STAC item".into(),
        });
    }
    // Relative hrefs are relative to the item's own self link when it has
    // an absolute one (a document read from an API), else to where it was read.
    let base = doc["links"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["rel"] == "self")
        .and_then(|l| l["href"].as_str())
        .filter(|h| h.contains("://"))
        .map_or_else(|| href.clone(), str::to_string);
    let mut assets: Vec<Object> = doc["assets"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(key, asset)| {
            let h = asset["href"].as_str()?;
            Some(object(key, resolve(&base, h), asset))
        })
        .collect();
    assets.sort_by(|a, b| a.key.cmp(&b.key));
    let links: Vec<&Value> = doc["links"].as_array().into_iter().flatten().collect();
    let sources = links
        .iter()
        .filter(|l| l["rel"] == stacforge_core::provenance::SOURCE_REL)
        .filter_map(|l| Some(object("source", resolve(&base, l["href"].as_str()?), l)))
        .collect();
    let mut node = Node {
        id: doc["id"].as_str().unwrap_or_default().to_string(),
        collection: doc["collection"].as_str().map(str::to_string),
        lineage: doc["properties"]["processing:lineage"]
            .as_str()
            .map(str::to_string),
        steps: doc["properties"]
            .get("processing:expression")
            .map(|e| e["expression"].clone()),
        href,
        assets,
        sources,
        parents: Vec::new(),
        broken: Vec::new(),
    };
    for link in links.iter().filter(|l| l["rel"] == "derived_from") {
        let Some(parent) = link["href"].as_str() else {
            continue;
        };
        let parent = resolve(&base, parent);
        if depth == 0 {
            node.broken.push(format!(
                "{parent}: not followed (the chain is deeper than allowed)"
            ));
            continue;
        }
        match walk(&parent, access, depth - 1) {
            Ok(p) => node.parents.push(p),
            Err(e) => node.broken.push(format!("{parent}: {e}")),
        }
    }
    Ok(node)
}

/// Checks every object of the chain (size and checksum) against what its
/// item says; returns the problems, each naming the object and the item.
pub fn verify(node: &mut Node, access: &Access) -> Vec<String> {
    let mut problems: Vec<String> = node
        .broken
        .iter()
        .map(|b| format!("BROKEN link from {}: {b}", node.href))
        .collect();
    for object in node.assets.iter_mut().chain(node.sources.iter_mut()) {
        let verdict = check(object, access);
        if verdict != "ok" {
            problems.push(format!(
                "CHANGED {} ({} of item {} at {}): {verdict}",
                object.href, object.key, node.id, node.href
            ));
        }
        object.verified = Some(verdict);
    }
    for parent in &mut node.parents {
        problems.extend(verify(parent, access));
    }
    problems
}

fn check(object: &Object, access: &Access) -> String {
    let bytes = if let Some(path) = local_path(&object.href).filter(|p| p.is_dir()) {
        // A store (a directory): its metadata document is what the item sums.
        ["zarr.json", ".zmetadata"]
            .iter()
            .find_map(|doc| std::fs::read(path.join(doc)).ok())
    } else {
        match read(&object.href, access) {
            Ok(b) => b,
            Err(e) => return format!("cannot be read: {e}"),
        }
    };
    let Some(bytes) = bytes else {
        return "missing: nothing at this href".into();
    };
    if let Some(size) = object.size {
        if size != bytes.len() as u64 {
            return format!("{} bytes, the item says {size}", bytes.len());
        }
    }
    if let Some(expected) = &object.checksum {
        match stacforge_core::checksum::sha256_multihash(&bytes[..]) {
            Ok(actual) if &actual == expected => {}
            Ok(actual) => return format!("checksum {actual}, the item says {expected}"),
            Err(e) => return format!("cannot be summed: {e}"),
        }
    }
    "ok".into()
}

/// The chain as an indented tree, one line per item and per object.
pub fn tree(node: &Node) -> String {
    let mut out = String::new();
    write_tree(node, 0, &mut out);
    out
}

fn write_tree(node: &Node, level: usize, out: &mut String) {
    let pad = "  ".repeat(level);
    out.push_str(&format!(
        "{pad}item {} ({}) {}\n",
        node.id,
        node.collection.as_deref().unwrap_or("no collection"),
        node.href
    ));
    if let Some(steps) = node.steps.as_ref().and_then(|s| s["steps"].as_array()) {
        for step in steps {
            out.push_str(&format!("{pad}  step {step}\n"));
        }
    } else if let Some(lineage) = &node.lineage {
        out.push_str(&format!("{pad}  lineage: {lineage}\n"));
    }
    for object in node.assets.iter().chain(&node.sources) {
        let mark = match object.verified.as_deref() {
            None => String::new(),
            Some("ok") => " [ok]".into(),
            Some(problem) => format!(" [CHANGED: {problem}]"),
        };
        out.push_str(&format!(
            "{pad}  {} {} {} bytes {}{mark}\n",
            object.key,
            object.href,
            object.size.map_or_else(|| "?".into(), |s| s.to_string()),
            object.checksum.as_deref().unwrap_or("(no checksum)"),
        ));
    }
    for broken in &node.broken {
        out.push_str(&format!("{pad}  BROKEN {broken}\n"));
    }
    for parent in &node.parents {
        out.push_str(&format!("{pad}  derived from:\n"));
        write_tree(parent, level + 2, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_resolve_against_their_document() {
        assert_eq!(
            resolve("https://api/collections/c/items/a", "./a.tif"),
            "https://api/collections/c/items/a.tif"
        );
        assert_eq!(
            resolve("s3://bucket/stac/items/a/a.json", "./a.tif"),
            "s3://bucket/stac/items/a/a.tif"
        );
        assert_eq!(
            resolve("file:///c/items/a/a.json", "../../collection.json"),
            "file:///c/collection.json"
        );
        assert_eq!(resolve("x", "/data/s p.nc"), "file:///data/s%20p.nc");
        assert_eq!(
            local_path("file:///data/s%20p.nc").unwrap(),
            std::path::PathBuf::from("/data/s p.nc")
        );
    }
}
