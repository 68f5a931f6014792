//! Chunk storage for zarrs: a store directory whose chunks are written
//! atomically, and arrays opened on it from stacforge's metadata.

use super::StoredArray;
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A store directory for chunk reads and writes: each chunk is written
/// under a temporary name and renamed into place, so a reader never sees a
/// torn chunk, and without zarrs' `FilesystemStore` fsync per chunk (a
/// store is staged and synced once, at the end, by renaming it into place).
#[derive(Debug)]
pub struct ChunkDir {
    root: PathBuf,
}

impl ChunkDir {
    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }
}

/// Byte ranges of a whole value read at once (`None`: no value), for
/// storages without partial reads.
pub(crate) fn slices<'a>(
    bytes: Option<zarrs::storage::Bytes>,
    byte_ranges: zarrs::storage::byte_range::ByteRangeIterator<'a>,
) -> zarrs::storage::MaybeBytesIterator<'a> {
    let bytes = bytes?;
    let size = bytes.len() as u64;
    let ranges: Vec<_> = byte_ranges.collect();
    Some(Box::new(
        ranges
            .into_iter()
            .map(move |r| Ok(bytes.slice(r.to_range_usize(size)))),
    ))
}

mod chunk_dir {
    use super::ChunkDir;
    use zarrs::storage::byte_range::ByteRangeIterator;
    use zarrs::storage::{
        Bytes, MaybeBytes, MaybeBytesIterator, ReadableStorageTraits, StorageError, StoreKey,
        StorePrefix, WritableStorageTraits,
    };

    impl ReadableStorageTraits for ChunkDir {
        fn get(&self, key: &StoreKey) -> Result<MaybeBytes, StorageError> {
            match std::fs::read(self.path(key.as_str())) {
                Ok(bytes) => Ok(Some(Bytes::from(bytes))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            }
        }

        fn get_partial_many<'a>(
            &'a self,
            key: &StoreKey,
            byte_ranges: ByteRangeIterator<'a>,
        ) -> Result<MaybeBytesIterator<'a>, StorageError> {
            Ok(super::slices(self.get(key)?, byte_ranges))
        }

        fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
            match std::fs::metadata(self.path(key.as_str())) {
                Ok(m) => Ok(Some(m.len())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            }
        }

        fn supports_get_partial(&self) -> bool {
            false
        }
    }

    impl WritableStorageTraits for ChunkDir {
        fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
            crate::zarr::write_atomic(&self.path(key.as_str()), &value)
                .map_err(|e| StorageError::Other(e.to_string()))
        }

        fn set_partial_many(
            &self,
            _key: &StoreKey,
            _offset_values: zarrs::storage::OffsetBytesIterator,
        ) -> Result<(), StorageError> {
            Err(StorageError::Other(
                "partial writes are not supported".into(),
            ))
        }

        fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
            match std::fs::remove_file(self.path(key.as_str())) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            }
        }

        fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
            match std::fs::remove_dir_all(self.path(prefix.as_str())) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            }
        }

        fn supports_set_partial(&self) -> bool {
            false
        }
    }
}

/// A Zarr store that chunks and metadata documents are read from and
/// written to: a directory ([`ChunkDir`]) or an Icechunk session
/// ([`crate::repo`]). `origin` names it in messages.
#[derive(Clone)]
pub struct Store {
    storage: zarrs::storage::ReadableWritableStorage,
    origin: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// The store in the directory `root`.
    pub fn dir(root: &Path) -> Store {
        Store {
            storage: Arc::new(ChunkDir {
                root: root.to_path_buf(),
            }),
            origin: root.to_path_buf(),
        }
    }

    /// A store on any zarrs storage; `origin` names it in messages.
    pub fn on(storage: zarrs::storage::ReadableWritableStorage, origin: PathBuf) -> Store {
        Store { storage, origin }
    }

    /// Where the store is, for messages.
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    fn error(&self, message: String) -> Error {
        Error::Store {
            store: self.origin.clone(),
            message,
        }
    }

    /// The bytes at `key` (`None` when there are none).
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let store_key = zarrs::storage::StoreKey::new(key)
            .map_err(|e| self.error(format!("key `{key}`: {e}")))?;
        self.storage
            .get(&store_key)
            .map(|bytes| bytes.map(|b| b.to_vec()))
            .map_err(|e| self.error(format!("reading `{key}`: {e}")))
    }

    /// Writes `bytes` at `key` (atomically, in a directory).
    pub fn set(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        let store_key = zarrs::storage::StoreKey::new(key)
            .map_err(|e| self.error(format!("key `{key}`: {e}")))?;
        self.storage
            .set(&store_key, bytes.into())
            .map_err(|e| self.error(format!("writing `{key}`: {e}")))
    }

    /// A handle on one array of the store, from stacforge's metadata.
    pub fn array(
        &self,
        stored: &StoredArray,
    ) -> Result<zarrs::array::Array<dyn zarrs::storage::ReadableWritableStorageTraits>> {
        let metadata: zarrs::metadata::ArrayMetadata = serde_json::from_value(stored.meta.clone())
            .map_err(|e| self.error(format!("array `{}`: {e}", stored.name)))?;
        zarrs::array::Array::new_with_metadata(
            self.storage.clone(),
            &format!("/{}", stored.name),
            metadata,
        )
        .map_err(|e| self.error(format!("array `{}`: {e}", stored.name)))
    }
}

/// A chunk-writing handle on one array of a store directory.
pub fn open_array(
    root: &Path,
    stored: &StoredArray,
) -> Result<zarrs::array::Array<dyn zarrs::storage::ReadableWritableStorageTraits>> {
    Store::dir(root).array(stored)
}
