//! The ledger: what a run finished, kept at the output location, so a
//! re-run skips it.
//!
//! One small document per unit, `.stacforge/ledger/<item id>.json`,
//! written after the unit's item (so an entry never names an item that is
//! not complete) by whichever process or shard ran the unit: shards never
//! write the same entry. An entry records the unit's identity (the package
//! and its version, the options that change outputs, each source's path,
//! size, modification time and checksum), the item document's size, and
//! the item's summary (so the collection is computed from the ledger
//! without reading every item again).
//!
//! A unit is finished when its entry matches: same package, version and
//! options, the same sources, each of the same size and checksum (a source
//! whose size and modification time are unchanged is taken as unchanged,
//! as `make` and `rsync` do, unless sources are re-hashed), and its item
//! document still there with the recorded size.

use serde::{Deserialize, Serialize};
use stacforge_catalog::{summary::ItemSummary, Catalog};
use stacforge_core::Source;
use std::path::{Path, PathBuf};

/// Where the ledger's entries go, relative to the catalog.
pub const DIR: &str = ".stacforge/ledger";

/// What changes a run's outputs besides its sources: compared whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunKey {
    /// The package id.
    pub package: String,
    /// Its version.
    pub version: String,
    /// The collection the items belong to.
    pub collection: String,
    /// The package's options and every run option that changes outputs,
    /// as text (see the binary's fingerprint).
    pub options: String,
}

/// One source as the ledger remembers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// Absolute path or URL.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<chrono::DateTime<chrono::Utc>>,
    /// SHA2-256 multihash.
    pub checksum: String,
}

impl From<&Source> for SourceRecord {
    fn from(source: &Source) -> SourceRecord {
        SourceRecord {
            path: source.path.display().to_string(),
            size: source.size,
            modified: source.modified,
            checksum: source.checksum.clone(),
        }
    }
}

/// A finished unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The item written.
    pub item_id: String,
    /// Package, version, collection and options.
    pub key: RunKey,
    /// The unit's sources.
    pub sources: Vec<SourceRecord>,
    /// The size of the item document as written.
    pub item_size: u64,
    /// The item's summary, for the collection.
    pub summary: ItemSummary,
    /// When the unit finished.
    pub finished: chrono::DateTime<chrono::Utc>,
}

/// The entry's path, relative to the catalog.
pub fn entry_path(item_id: &str) -> String {
    format!("{DIR}/{item_id}.json")
}

/// The unit's entry, if it has a readable one (an unreadable entry is as
/// good as none: the unit is redone and the entry rewritten).
pub fn read(catalog: &Catalog, item_id: &str) -> Result<Option<Entry>, stacforge_catalog::Error> {
    Ok(catalog
        .read(&entry_path(item_id))?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// Writes the unit's entry (after its item).
pub fn write(catalog: &Catalog, entry: &Entry) -> Result<(), stacforge_catalog::Error> {
    let mut bytes = serde_json::to_vec_pretty(entry).expect("an entry serialises");
    bytes.push(b'\n');
    catalog.write(&entry_path(&entry.item_id), bytes)
}

/// Why a unit must be (re)done, or `None` when its entry shows it finished.
pub fn needs_work(
    entry: Option<&Entry>,
    key: &RunKey,
    sources: &[PathBuf],
    catalog: &Catalog,
    rehash: bool,
) -> Result<Option<String>, crate::Error> {
    let Some(entry) = entry else {
        return Ok(Some("not done before".into()));
    };
    if entry.key.package != key.package || entry.key.version != key.version {
        return Ok(Some(format!(
            "made by {} {}, now {} {}",
            entry.key.package, entry.key.version, key.package, key.version
        )));
    }
    if entry.key.collection != key.collection {
        return Ok(Some(format!(
            "was in collection {:?}, now {:?}",
            entry.key.collection, key.collection
        )));
    }
    if entry.key.options != key.options {
        return Ok(Some("options changed".into()));
    }
    if entry.sources.len() != sources.len() {
        return Ok(Some("its sources changed".into()));
    }
    for (record, path) in entry.sources.iter().zip(sources) {
        if let Some(reason) = source_changed(record, path, rehash)? {
            return Ok(Some(reason));
        }
    }
    let item = stacforge_catalog::layout::item_path(&entry.item_id);
    match catalog.size(&item)? {
        Some(size) if size == entry.item_size => Ok(None),
        Some(_) => Ok(Some("its item was changed since".into())),
        None => Ok(Some("its item is missing".into())),
    }
}

/// Why the source at `path` is not the one recorded, if it is not.
fn source_changed(
    record: &SourceRecord,
    path: &Path,
    rehash: bool,
) -> Result<Option<String>, crate::Error> {
    let name = path.display();
    let Ok(absolute) = std::fs::canonicalize(path) else {
        return Ok(Some(format!("{name}: cannot be found")));
    };
    if absolute.display().to_string() != record.path {
        return Ok(Some(format!("{name}: a different file")));
    }
    let Ok(meta) = std::fs::metadata(&absolute) else {
        return Ok(Some(format!("{name}: cannot be read")));
    };
    if meta.len() != record.size {
        return Ok(Some(format!("{name}: changed size")));
    }
    let modified = meta
        .modified()
        .ok()
        .map(chrono::DateTime::<chrono::Utc>::from);
    if !rehash && modified.is_some() && modified == record.modified {
        return Ok(None);
    }
    let source = Source::from_path(&absolute)?;
    Ok((source.checksum != record.checksum).then(|| format!("{name}: changed")))
}
