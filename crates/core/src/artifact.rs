//! Artifacts: files a package wrote, ready to be published beside an item.

use crate::{checksum::sha256_multihash, CubeProfile, Error, RasterProfile, Result};
use std::path::{Path, PathBuf};

/// Media type of a Cloud-Optimized GeoTIFF.
pub const COG_MEDIA_TYPE: &str = "image/tiff; application=geotiff; profile=cloud-optimized";
/// Media type of a PNG image.
pub const PNG_MEDIA_TYPE: &str = "image/png";

/// A file a package produced, with what is known about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    /// The asset key in the item (`data`, `thumbnail`, …).
    pub key: String,
    /// Where the file is now (a staging directory).
    pub path: PathBuf,
    /// Asset title.
    pub title: Option<String>,
    /// Media type.
    pub media_type: String,
    /// Asset roles.
    pub roles: Vec<String>,
    /// Size in bytes.
    pub size: u64,
    /// SHA2-256 multihash.
    pub checksum: String,
    /// Bytes before the first image data (for COGs: all IFDs), when known.
    pub header_size: Option<u64>,
    /// The raster profile of this file, for raster assets.
    pub raster: Option<RasterProfile>,
    /// The cube profile of this store or set of references, for cube assets.
    pub cube: Option<CubeProfile>,
    /// Item properties learnt while converting (e.g. from the source's own
    /// metadata), for `describe` to merge without opening the source again.
    pub properties: serde_json::Map<String, serde_json::Value>,
    /// Extra fields of the asset (e.g. `classification:classes`), set by the
    /// package from what it knows of the product.
    pub asset_fields: serde_json::Map<String, serde_json::Value>,
    /// Where the file already lives when it is described in place rather
    /// than published beside its item: the asset links there and the
    /// catalog copies nothing.
    pub href: Option<String>,
}

impl Artifact {
    /// Records a file that has been completely written: size and checksum are
    /// read from disk now.
    pub fn from_file(
        key: impl Into<String>,
        path: impl AsRef<Path>,
        media_type: impl Into<String>,
        roles: &[&str],
    ) -> Result<Artifact> {
        let path = path.as_ref().to_path_buf();
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        let size = std::fs::metadata(&path).map_err(io)?.len();
        let checksum = sha256_multihash(std::fs::File::open(&path).map_err(io)?).map_err(io)?;
        Ok(Artifact {
            key: key.into(),
            title: None,
            media_type: media_type.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            size,
            checksum,
            header_size: None,
            raster: None,
            cube: None,
            properties: serde_json::Map::new(),
            asset_fields: serde_json::Map::new(),
            href: None,
            path,
        })
    }

    /// Records an artifact of many files (a Zarr store, a Parquet reference
    /// set): `path` is its directory (published whole, its metadata last),
    /// and its size and checksum are those of `document`, the one file
    /// that stands for it (see [`crate::cube`]).
    pub fn from_dir(
        key: impl Into<String>,
        path: impl AsRef<Path>,
        document: impl AsRef<Path>,
        media_type: impl Into<String>,
        roles: &[&str],
    ) -> Result<Artifact> {
        let mut artifact = Artifact::from_file(key, document, media_type, roles)?;
        artifact.path = path.as_ref().to_path_buf();
        Ok(artifact)
    }

    /// Whether the artifact is a directory of files (published whole).
    pub fn is_dir(&self) -> bool {
        self.path.is_dir()
    }

    /// An artifact that names files which need not exist, for tests of
    /// describing steps (which must not open them).
    #[cfg(test)]
    pub(crate) fn for_test(key: &str, path: &str) -> Artifact {
        Artifact {
            key: key.to_string(),
            path: PathBuf::from(path),
            title: None,
            media_type: String::new(),
            roles: Vec::new(),
            size: 123,
            checksum: "1220".to_string() + &"0".repeat(64),
            header_size: None,
            raster: None,
            cube: None,
            properties: serde_json::Map::new(),
            asset_fields: serde_json::Map::new(),
            href: None,
        }
    }

    /// Records a source that stays where it is: the asset links to its href,
    /// with the size and checksum already read.
    pub fn in_place(
        key: impl Into<String>,
        source: &crate::Source,
        media_type: impl Into<String>,
        roles: &[&str],
    ) -> Artifact {
        Artifact {
            key: key.into(),
            path: source.path.clone(),
            title: None,
            media_type: media_type.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            size: source.size,
            checksum: source.checksum.clone(),
            header_size: None,
            raster: None,
            cube: None,
            properties: serde_json::Map::new(),
            asset_fields: serde_json::Map::new(),
            href: Some(source.href.clone()),
        }
    }

    /// The file name, used as the asset's href relative to its item.
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}
