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

mod chunk_dir {
    use super::ChunkDir;
    use zarrs::storage::byte_range::{ByteRange, ByteRangeIterator};
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
            let Some(bytes) = self.get(key)? else {
                return Ok(None);
            };
            let size = bytes.len() as u64;
            let ranges: Vec<ByteRange> = byte_ranges.collect();
            Ok(Some(Box::new(
                ranges
                    .into_iter()
                    .map(move |r| Ok(bytes.slice(r.to_range_usize(size)))),
            )))
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

/// A chunk-writing handle on one array of a store directory.
pub fn open_array(root: &Path, stored: &StoredArray) -> Result<zarrs::array::Array<ChunkDir>> {
    let store_err = |message: String| Error::Store {
        store: root.to_path_buf(),
        message,
    };
    let storage = Arc::new(ChunkDir {
        root: root.to_path_buf(),
    });
    let metadata: zarrs::metadata::ArrayMetadata = serde_json::from_value(stored.meta.clone())
        .map_err(|e| store_err(format!("array `{}`: {e}", stored.name)))?;
    zarrs::array::Array::new_with_metadata(storage, &format!("/{}", stored.name), metadata)
        .map_err(|e| store_err(format!("array `{}`: {e}", stored.name)))
}
