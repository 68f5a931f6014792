//! A source file: where it is, how big it is, and its checksum.

use crate::{checksum::sha256_multihash, Error, Result};
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

/// A source file as stacforge found it, recorded in every item made from it
/// so that the output can be traced back to these exact bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// Absolute local path.
    pub path: PathBuf,
    /// The href recorded in STAC (`file://` URL of the absolute path).
    pub href: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA2-256 multihash of the content.
    pub checksum: String,
    /// Last modification time, when the file system tells it.
    pub modified: Option<DateTime<Utc>>,
    /// The object's ETag, for a copy of a remote object whose store gave one.
    pub etag: Option<String>,
}

/// The note beside a local copy of a remote object saying where it came
/// from: `.<name>.stacforge-origin`, holding the URL, the size and the
/// ETag on three lines.
pub fn origin_note(copy: &Path) -> PathBuf {
    let name = copy
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    copy.with_file_name(format!(".{name}.stacforge-origin"))
}

/// The URL and ETag (when the store gave one) a local copy of `size` bytes
/// was fetched from, if it is one (its [`origin_note`] exists and records
/// that size).
fn read_origin(copy: &Path, size: u64) -> Option<(String, Option<String>)> {
    let note = std::fs::read_to_string(origin_note(copy)).ok()?;
    let mut lines = note.lines();
    let url = lines.next()?.to_string();
    if lines.next()?.parse::<u64>().ok()? != size {
        return None;
    }
    let etag = lines.next().filter(|e| !e.is_empty()).map(str::to_string);
    Some((url, etag))
}

impl Source {
    /// Reads the file's size, modification time and checksum. A local copy
    /// of a remote object ([`origin_note`]) is recorded by its URL.
    ///
    /// A directory or an empty file is refused here, before any format
    /// library sees it.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Source> {
        let path = path.as_ref();
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.is_dir() {
            return Err(Error::IsADirectory {
                path: path.to_path_buf(),
            });
        }
        if meta.len() == 0 {
            return Err(Error::Empty {
                path: path.to_path_buf(),
            });
        }
        let absolute = std::fs::canonicalize(path).map_err(io)?;
        let file = std::fs::File::open(path).map_err(io)?;
        let checksum = sha256_multihash(file).map_err(io)?;
        let (href, etag) = read_origin(&absolute, meta.len()).unwrap_or_else(|| {
            let url = format!(
                "file://{}",
                crate::href::encode(&absolute.display().to_string())
            );
            (url, None)
        });
        Ok(Source {
            href,
            etag,
            path: absolute,
            size: meta.len(),
            checksum,
            modified: meta.modified().ok().map(DateTime::<Utc>::from),
        })
    }

    /// A source as recorded earlier (in a store's or references' record):
    /// `location` is an absolute path or a URL.
    pub fn recorded(location: &str, size: u64, checksum: &str) -> Source {
        let href = if location.contains("://") {
            location.to_string()
        } else {
            format!("file://{}", crate::href::encode(location))
        };
        Source {
            path: PathBuf::from(location.strip_prefix("file://").unwrap_or(location)),
            href,
            size,
            checksum: checksum.to_string(),
            modified: None,
            etag: None,
        }
    }

    /// How a store's or references' record names the source: the object's
    /// URL for a copy of a remote object, else the absolute path.
    pub fn location(&self) -> String {
        if self.href.starts_with("file://") {
            self.path.display().to_string()
        } else {
            self.href.clone()
        }
    }

    /// The file name without its extension, used as the default item id.
    pub fn stem(&self) -> String {
        self.path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "item".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_directories_and_empty_files() {
        let dir = std::env::temp_dir().join(format!("stacforge-source-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = Source::from_path(&dir).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
        let empty = dir.join("empty.tif");
        std::fs::write(&empty, b"").unwrap();
        let err = Source::from_path(&empty).unwrap_err();
        assert!(err.to_string().contains("empty.tif: is empty"), "{err}");
        let full = dir.join("abc.bin");
        std::fs::write(&full, b"abc").unwrap();
        let src = Source::from_path(&full).unwrap();
        assert_eq!(src.size, 3);
        assert!(src.href.starts_with("file:///"));
        assert_eq!(src.stem(), "abc");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
