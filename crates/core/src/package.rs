//! The trait every dataset package implements.

use crate::{Artifact, Result, Source, Timing};
use std::path::PathBuf;

/// One unit of work: one source becoming one item.
#[derive(Debug, Clone)]
pub struct Job {
    /// The source file.
    pub source: Source,
    /// The id of the item to make.
    pub item_id: String,
    /// The collection the item belongs to.
    pub collection_id: String,
    /// A private directory where the package writes its artifacts.
    pub workdir: PathBuf,
    /// A datetime given by the user; it takes precedence over the file's.
    pub datetime: Option<Timing>,
    /// The STAC item the source was found in, when it was given as one; the
    /// new item links to it with `derived_from`.
    pub derived_from: Option<String>,
}

/// A dataset package: converts sources and describes them in STAC.
///
/// Packages never touch object storage: they write artifacts into
/// [`Job::workdir`] and the catalog layer publishes them.
pub trait Package: Send + Sync {
    /// Kebab-case id; also the default collection id.
    fn id(&self) -> &'static str;

    /// One line saying what the package is for.
    fn title(&self) -> &'static str;

    /// The collection with its static metadata (extents are filled in from
    /// the items by the catalog layer).
    fn collection(&self) -> Result<stac::Collection>;

    /// The collection with id `id`: the package's own, renamed, unless the
    /// package knows a more specific one by that id (a MODIS product and
    /// collection version, say, with its `item_assets`).
    fn collection_for(&self, id: &str) -> Result<stac::Collection> {
        let mut collection = self.collection()?;
        collection.id = id.to_string();
        Ok(collection)
    }

    /// Converts the source into artifacts inside the job's work directory.
    fn convert(&self, job: &Job) -> Result<Vec<Artifact>>;

    /// Whether [`Package::convert`] writes into the work directory (which is
    /// then created for it); false for packages that describe sources in place.
    fn writes_files(&self) -> bool {
        true
    }

    /// Builds the item for the source and its artifacts, opening no files.
    /// Asset hrefs are relative to the item's own directory.
    fn describe(&self, job: &Job, artifacts: &[Artifact]) -> Result<stac::Item>;
}

/// Parses a package's static collection metadata (its JSON data file).
pub fn static_collection(package: &'static str, json: &str) -> Result<stac::Collection> {
    serde_json::from_str(json).map_err(|source| crate::Error::Metadata { package, source })
}

/// Checks that an id can be used as a single path segment in a catalog.
pub fn validate_id(id: &str) -> Result<()> {
    let reason = if id.is_empty() {
        Some("it is empty")
    } else if id == "." || id == ".." {
        Some("it is a relative path segment")
    } else if id.contains(['/', '\\']) {
        Some("it contains a path separator")
    } else if id.starts_with('.') {
        Some("it starts with a dot (hidden names are stacforge's own bookkeeping)")
    } else if id.chars().any(char::is_control) {
        Some("it contains a control character")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(crate::Error::InvalidId {
            id: id.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::validate_id;

    #[test]
    fn ids_cannot_escape_the_catalog() {
        assert!(validate_id("LC08_001").is_ok());
        for bad in ["", "..", "a/b", "..\\x", "a\nb"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }
}
