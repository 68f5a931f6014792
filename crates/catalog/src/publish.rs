//! Publishing a local static catalog to another location (a bucket, another
//! directory), idempotently.
//!
//! Order: every asset first, then the items, then the collection, then the
//! manifest (`.stacforge/published.json`), so that nothing is ever linked
//! before it exists. The manifest records the size and checksum of each
//! published object; a re-run skips objects that the manifest and the store
//! both confirm, so an interrupted publish is finished by running it again.

use crate::{layout, layout::ItemSummary, Catalog, Error, Result};
use serde::Serialize;
use serde_json::{json, Value};
use stacforge_core::checksum::sha256_multihash;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the manifest of a published catalog lives.
pub const MANIFEST: &str = ".stacforge/published.json";

/// How to publish.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishOptions {
    /// Make every href absolute under this URL (`https://…` or `s3://…`);
    /// by default links stay relative and the catalog self-contained.
    pub public_url: Option<String>,
    /// Upload everything, even what the destination already has.
    pub force: bool,
    /// Keep assets at absolute local paths (`/data/x.tif`, `file://…`) as
    /// they are instead of refusing the catalog (they are not uploaded).
    pub allow_external: bool,
}

/// What happened to each object, by path relative to the catalog root.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Objects that did not exist at the destination.
    pub created: Vec<String>,
    /// Objects that existed with other content.
    pub updated: Vec<String>,
    /// Objects already published with the same content.
    pub unchanged: Vec<String>,
    /// Objects that could not be published, with the reason.
    pub failed: Vec<(String, String)>,
    /// Asset hrefs kept as they are because they point outside the catalog.
    pub external: Vec<String>,
}

/// One object to publish.
enum Body {
    File(PathBuf),
    Json(Vec<u8>),
}

struct Object {
    path: String,
    body: Body,
    size: u64,
    checksum: String,
    /// For a file whose checksum is the item's word for it: what to call
    /// it when its bytes turn out to differ (checked before upload).
    verify: Option<String>,
}

/// Joins `href` (relative, `/`-separated) onto the directory of `base`
/// (a root-relative path), refusing anything that leaves the root.
fn resolve(base: &str, href: &str) -> std::result::Result<String, String> {
    if href.starts_with('/') || href.contains('\\') {
        return Err(format!("{href} is an absolute path"));
    }
    // Hrefs are percent-encoded (RFC 3986); paths are the names themselves.
    let decoded = stacforge_core::href::decode(href)
        .ok_or_else(|| format!("{href} is not a valid relative href (bad %-escape)"))?;
    let href = decoded.as_str();
    let mut parts: Vec<&str> = base.split('/').collect();
    parts.pop();
    for part in href.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!("{href} would escape the catalog root"));
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

pub(crate) fn is_relative(href: &str) -> bool {
    !href.contains("://") && !href.starts_with('/')
}

fn read_json(root: &Path, relative: &str) -> Result<Value> {
    let path = root.join(relative);
    let bytes = std::fs::read(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        location: path.display().to_string(),
        source,
    })
}

/// A document to publish, laid out as catalogs write it: items compact,
/// the collection indented (`pretty`).
fn json_object(path: String, doc: &Value, pretty: bool) -> Object {
    let mut bytes = if pretty {
        serde_json::to_vec_pretty(doc)
    } else {
        serde_json::to_vec(doc)
    }
    .expect("a JSON value serialises");
    bytes.push(b'\n');
    Object {
        checksum: sha256_multihash(&bytes[..]).expect("hashing memory cannot fail"),
        size: bytes.len() as u64,
        path,
        body: Body::Json(bytes),
        verify: None,
    }
}

/// Rewrites the relative hrefs of `doc` (at root-relative `at`) to
/// absolute ones under `public`.
pub(crate) fn absolutize(doc: &mut Value, at: &str, public: &str) {
    let public = public.trim_end_matches('/');
    let fix = |href: &mut Value| {
        if let Some(h) = href.as_str().filter(|h| is_relative(h)) {
            if let Ok(r) = resolve(at, h) {
                *href = json!(format!("{public}/{}", stacforge_core::href::encode(&r)));
            }
        }
    };
    if let Some(links) = doc.get_mut("links").and_then(Value::as_array_mut) {
        for link in links {
            if let Some(href) = link.get_mut("href") {
                fix(href);
            }
        }
    }
    if let Some(assets) = doc.get_mut("assets").and_then(Value::as_object_mut) {
        for asset in assets.values_mut() {
            if let Some(href) = asset.get_mut("href") {
                fix(href);
            }
        }
    }
}

/// A local static catalog read for publishing: the collection, and each
/// item with its root-relative path.
pub(crate) struct LocalCatalog {
    pub(crate) collection: Value,
    pub(crate) items: Vec<(String, Value)>,
}

impl LocalCatalog {
    /// Reads `root/collection.json` and the items it links to, refusing
    /// links and ids that would leave the catalog.
    pub(crate) fn read(root: &Path) -> Result<LocalCatalog> {
        let refuse = |what: String| Error::Location {
            location: root.display().to_string(),
            reason: what,
        };
        let collection = read_json(root, layout::COLLECTION)?;
        let hrefs: Vec<String> = collection
            .get("links")
            .and_then(Value::as_array)
            .map(|links| {
                links
                    .iter()
                    .filter(|l| l["rel"] == "item")
                    .filter_map(|l| l["href"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut items = Vec::new();
        for href in &hrefs {
            let item_path =
                resolve(layout::COLLECTION, href).map_err(|e| refuse(format!("item link {e}")))?;
            let item = read_json(root, &item_path)?;
            match item.get("id").and_then(Value::as_str) {
                Some(id) => stacforge_core::package::validate_id(id)?,
                None => return Err(refuse(format!("{item_path} has no id"))),
            }
            items.push((item_path, item));
        }
        Ok(LocalCatalog { collection, items })
    }

    /// The collection with its extent recomputed from the items.
    pub(crate) fn collection_with_extent(&self, root: &Path) -> Result<Value> {
        let summaries: Vec<ItemSummary> = self
            .items
            .iter()
            .filter_map(|(_, item)| ItemSummary::from_json(item))
            .collect();
        let mut typed: stac::Collection =
            serde_json::from_value(self.collection.clone()).map_err(|source| Error::Json {
                location: root.join(layout::COLLECTION).display().to_string(),
                source,
            })?;
        layout::set_extent(&mut typed, &summaries);
        let mut collection = self.collection.clone();
        collection["extent"] = serde_json::to_value(&typed.extent).expect("an extent serialises");
        Ok(collection)
    }
}

/// Publishes the catalog in the local directory `root` to `to`.
///
/// Refuses, before writing anything, a catalog whose items or assets would
/// land outside the destination (`../`, absolute paths).
pub fn publish(root: &Path, to: &Catalog, options: &PublishOptions) -> Result<Report> {
    let mut report = Report::default();
    let refuse = |what: String| Error::Location {
        location: root.display().to_string(),
        reason: what,
    };
    let local = LocalCatalog::read(root)?;
    let real_root = root.canonicalize().map_err(|source| Error::Io {
        path: root.to_path_buf(),
        source,
    })?;

    // Plan every object before writing any.
    let mut assets = Vec::new();
    let mut items = Vec::new();
    // Items whose assets do not match what the item says: not published.
    let mut broken: BTreeMap<String, String> = BTreeMap::new();
    for (item_path, item) in &local.items {
        let item_path = item_path.clone();
        let mut item = item.clone();
        if let Some(map) = item.get("assets").and_then(Value::as_object) {
            for (key, asset) in map {
                let Some(href) = asset.get("href").and_then(Value::as_str) else {
                    continue;
                };
                let local_path = href.starts_with('/') || href.starts_with("file://");
                if local_path && !options.allow_external {
                    return Err(refuse(format!(
                        "asset {key} of {item_path} is at the local path {href}, outside the catalog; copy it into the catalog, or pass --allow-external to publish the item with that href as it is"
                    )));
                }
                if !is_relative(href) {
                    report.external.push(format!("{item_path}#{key}: {href}"));
                    continue;
                }
                let path = resolve(&item_path, href)
                    .map_err(|e| refuse(format!("asset {key} of {item_path}: {e}")))?;
                let file = root.join(&path);
                let io = |source| Error::Io {
                    path: file.clone(),
                    source,
                };
                // A link may not lead out of the catalog, wherever it points.
                let real = file.canonicalize().map_err(io)?;
                if !real.starts_with(&real_root) {
                    return Err(refuse(format!(
                        "asset {key} of {item_path} ({href}) is a link to {}, outside the catalog",
                        real.display()
                    )));
                }
                let said_size = asset.get("file:size").and_then(Value::as_u64);
                let said_checksum = asset.get("file:checksum").and_then(Value::as_str);
                // A directory asset (a Zarr store, a Parquet reference set)
                // is every file in it, its metadata last; its file fields
                // are those of its metadata document.
                let (files, described) = if real.is_dir() {
                    let document = stacforge_core::cube::metadata_document(&real).ok_or_else(|| {
                        refuse(format!(
                            "asset {key} of {item_path} ({href}) is a directory but neither a Zarr store nor a reference set"
                        ))
                    })?;
                    let files: Vec<(String, PathBuf)> =
                        crate::store::files_under(&real, &crate::is_metadata)?
                            .into_iter()
                            .map(|(k, f)| (format!("{path}/{k}"), f))
                            .collect();
                    (files, document)
                } else {
                    (vec![(path.clone(), real.clone())], real.clone())
                };
                for (object_path, file) in files {
                    let io = |source| Error::Io {
                        path: file.clone(),
                        source,
                    };
                    let size = std::fs::metadata(&file).map_err(io)?.len();
                    let is_described = file == described;
                    if is_described && said_size.is_some_and(|s| s != size) {
                        broken.entry(item_path.clone()).or_insert(format!(
                            "asset {key} ({href}) has {size} bytes but the item says {}; the file changed after the item was written (re-create the item)",
                            said_size.unwrap_or_default()
                        ));
                    }
                    // The item's checksum stands for the file until it is sent:
                    // every file is hashed (and checked against it) right before
                    // it is uploaded, never for objects the destination has.
                    let checksum = match said_checksum.filter(|_| is_described) {
                        Some(c) => c.to_string(),
                        None => {
                            sha256_multihash(std::fs::File::open(&file).map_err(io)?).map_err(io)?
                        }
                    };
                    assets.push(Object {
                        path: object_path,
                        body: Body::File(file),
                        size,
                        verify: said_checksum
                            .filter(|_| is_described)
                            .map(|_| format!("asset {key} ({href}) of {item_path}")),
                        checksum,
                    });
                }
            }
        }
        if let Some(public) = &options.public_url {
            absolutize(&mut item, &item_path, public);
        }
        items.push((item_path, item));
    }

    // Extents recomputed from the items being published.
    let mut collection = local.collection_with_extent(root)?;
    if let Some(public) = &options.public_url {
        absolutize(&mut collection, layout::COLLECTION, public);
    }

    let manifest: BTreeMap<String, (u64, String)> = to
        .get_bytes(MANIFEST)?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut published = manifest.clone();
    if let Some(dir) = to.local_dir() {
        remove_leftovers(dir, assets.iter().map(|a| a.path.as_str()));
    }
    // The manifest is saved as the run goes (every object for a local
    // destination, every 64 objects or 2 s for object storage), so a run
    // interrupted half-way is finished by the next without re-sending.
    let mut unsaved = 0usize;
    let mut last_save = std::time::Instant::now();
    let mut save = |published: &BTreeMap<String, (u64, String)>, force: bool| -> Result<()> {
        unsaved += 1;
        // A local manifest costs a small write: saved after every object.
        let local = to.local_dir().is_some();
        if force || local || unsaved >= 64 || last_save.elapsed().as_secs() >= 2 {
            let bytes = serde_json::to_vec_pretty(published).expect("a map serialises");
            to.put_bytes(MANIFEST, bytes)?;
            unsaved = 0;
            last_save = std::time::Instant::now();
        }
        Ok(())
    };

    let mut send = |object: &Object, report: &mut Report| -> bool {
        let existing = match to.size(&object.path) {
            Ok(size) => size,
            Err(e) => {
                report.failed.push((object.path.clone(), e.to_string()));
                return false;
            }
        };
        let recorded = manifest.get(&object.path);
        if !options.force
            && existing == Some(object.size)
            && recorded == Some(&(object.size, object.checksum.clone()))
        {
            report.unchanged.push(object.path.clone());
            return true;
        }
        if let (Body::File(local), Some(what)) = (&object.body, &object.verify) {
            let actual = std::fs::File::open(local).and_then(sha256_multihash);
            match actual {
                Ok(sum) if sum == object.checksum => {}
                Ok(_) => {
                    report.failed.push((
                        object.path.clone(),
                        format!("{what} does not match its file:checksum; the file changed after the item was written (re-create the item)"),
                    ));
                    return false;
                }
                Err(e) => {
                    report
                        .failed
                        .push((object.path.clone(), format!("{}: {e}", local.display())));
                    return false;
                }
            }
        }
        let sent = match &object.body {
            Body::File(local) => to.put_file(local, &object.path),
            Body::Json(bytes) => to.put_bytes(&object.path, bytes.clone()),
        };
        match sent {
            Ok(()) => {
                published.insert(object.path.clone(), (object.size, object.checksum.clone()));
                if let Err(e) = save(&published, false) {
                    report.failed.push((MANIFEST.to_string(), e.to_string()));
                }
                if existing.is_some() {
                    report.updated.push(object.path.clone());
                } else {
                    report.created.push(object.path.clone());
                }
                true
            }
            Err(e) => {
                report.failed.push((object.path.clone(), e.to_string()));
                false
            }
        }
    };

    let mut items_ok = true;
    for (item_path, item) in &items {
        if let Some(reason) = broken.get(item_path) {
            report.failed.push((item_path.clone(), reason.clone()));
            items_ok = false;
            continue;
        }
        let prefix = format!("{}/", item_path.rsplit_once('/').map_or("", |(d, _)| d));
        let mut ok = true;
        for asset in assets.iter().filter(|a| a.path.starts_with(&prefix)) {
            ok &= send(asset, &mut report);
        }
        // An item is published only once its assets are.
        if ok {
            ok &= send(&json_object(item_path.clone(), item, false), &mut report);
        }
        items_ok &= ok;
    }
    for asset in &assets {
        // Assets outside every item's directory (shared by several items).
        let owned = items.iter().any(|(p, _)| {
            asset
                .path
                .starts_with(&format!("{}/", p.rsplit_once('/').map_or("", |(d, _)| d)))
        });
        if !owned {
            items_ok &= send(asset, &mut report);
        }
    }
    // The collection is written last, and only when every item made it.
    if items_ok
        && send(
            &json_object(layout::COLLECTION.to_string(), &collection, true),
            &mut report,
        )
    {
        let bytes = serde_json::to_vec_pretty(&published).expect("a map serialises");
        to.put_bytes(MANIFEST, bytes)?;
    }
    Ok(report)
}

/// Removes what interrupted runs left in a local destination: the hidden
/// temporary copies of its objects (`.<name>.stacforge-tmp-<pid>-<n>`
/// of a run that is gone) and the `<name>#<n>` staging files of the object
/// store's local writer.
fn remove_leftovers<'a>(dir: &Path, objects: impl Iterator<Item = &'a str>) {
    let mut dirs = std::collections::BTreeSet::new();
    for object in objects {
        let path = dir.join(object);
        for n in 1..=4 {
            let staged = PathBuf::from(format!("{}#{n}", path.display()));
            if staged.is_file() {
                let _ = std::fs::remove_file(&staged);
            }
        }
        if let Some(parent) = path.parent() {
            if dirs.insert(parent.to_path_buf()) {
                stacforge_core::fs::remove_stale_in(parent, "stacforge-tmp");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_resolve_inside_the_root_only() {
        assert_eq!(
            resolve("items/a/a.json", "./a.tif").unwrap(),
            "items/a/a.tif"
        );
        assert_eq!(
            resolve("collection.json", "./items/a/a.json").unwrap(),
            "items/a/a.json"
        );
        assert_eq!(
            resolve("items/a/a.json", "../../collection.json").unwrap(),
            "collection.json"
        );
        assert!(resolve("items/a/a.json", "../../../etc/passwd").is_err());
        assert!(resolve("collection.json", "/etc/passwd").is_err());
    }
}
