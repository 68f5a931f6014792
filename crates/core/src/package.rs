//! The trait every dataset package implements.

use crate::{Artifact, Result, Source, Timing};
use std::path::{Path, PathBuf};

/// The sources of one item, as a package plans them: one source for a
/// scene or granule, many for a data cube combined from a file series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// The id of the item to make.
    pub item_id: String,
    /// The source files, in the order the package wants them.
    pub sources: Vec<PathBuf>,
}

impl Unit {
    /// A unit of one source, its item named after the file (without the
    /// extension): the default plan.
    pub fn of_file(source: &Path) -> Unit {
        Unit {
            item_id: source
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| source.display().to_string()),
            sources: vec![source.to_path_buf()],
        }
    }
}

/// One unit of work as the run loop prepares it: the unit's sources read
/// (size, checksum), a work directory, and the run's settings.
#[derive(Debug, Clone)]
pub struct Job {
    /// The source files (never empty when the run loop prepares the job).
    pub sources: Vec<Source>,
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
    /// The folder of the unit's item as an earlier run published it, when
    /// the catalog is local and has one: an array package may append the
    /// new sources to its output there instead of converting every source
    /// again. Packages only read it; the run replaces it when the new item
    /// is written.
    pub previous: Option<PathBuf>,
}

impl Job {
    /// The first (for most packages, the only) source.
    pub fn source(&self) -> &Source {
        &self.sources[0]
    }

    /// A job naming a source that need not exist, for tests of describing
    /// steps (which must not open it).
    #[cfg(test)]
    pub(crate) fn for_test(item_id: &str, source: &str) -> Job {
        Job {
            sources: vec![Source::recorded(source, 1, "1220")],
            item_id: item_id.to_string(),
            collection_id: "test".to_string(),
            workdir: PathBuf::from("/nonexistent"),
            datetime: None,
            derived_from: None,
            previous: None,
        }
    }
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

    /// Groups the sources into units, one item each. The default is one
    /// unit per source; an array package that combines a file series into
    /// one cube returns one unit of many sources. Planning may read the
    /// sources' names and headers, never convert them.
    fn plan(&self, sources: &[PathBuf]) -> Result<Vec<Unit>> {
        Ok(sources.iter().map(|s| Unit::of_file(s)).collect())
    }

    /// Whether the unit's sources can be converted, as far as can be told
    /// without converting them (for a dry run): by default each must be a
    /// readable, non-empty file. A package that can open a source's header
    /// cheaply checks more.
    fn check(&self, sources: &[PathBuf]) -> Result<()> {
        for source in sources {
            check_readable(source)?;
        }
        Ok(())
    }

    /// Converts the job's sources into artifacts inside its work directory.
    fn convert(&self, job: &Job) -> Result<Vec<Artifact>>;

    /// Whether [`Package::convert`] writes into the work directory (which is
    /// then created for it); false for packages that describe sources in place.
    fn writes_files(&self) -> bool {
        true
    }

    /// Builds the item for the job's sources and its artifacts, opening no
    /// files: everything it needs is in the artifacts' profiles.
    /// Asset hrefs are relative to the item's own directory.
    fn describe(&self, job: &Job, artifacts: &[Artifact]) -> Result<stac::Item>;
}

/// Whether `path` is a non-empty file that can be opened for reading.
pub fn check_readable(path: &Path) -> Result<()> {
    let io = |source| crate::Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        return Err(crate::Error::IsADirectory {
            path: path.to_path_buf(),
        });
    }
    if meta.len() == 0 {
        return Err(crate::Error::Empty {
            path: path.to_path_buf(),
        });
    }
    std::fs::File::open(path).map_err(io)?;
    Ok(())
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
