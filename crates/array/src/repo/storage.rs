//! An Icechunk session seen as zarrs storage, so the recipes write chunks
//! and metadata into it exactly as they write a store directory.

use ::icechunk::format::ByteRange as IceRange;
use ::icechunk::store::StoreErrorKind;
use zarrs::storage::byte_range::ByteRangeIterator;
use zarrs::storage::{
    Bytes, MaybeBytes, MaybeBytesIterator, ReadableStorageTraits, StorageError, StoreKey,
    StorePrefix, WritableStorageTraits,
};

/// A session's store, called from the recipes' worker threads (each call
/// blocks on stacforge's Icechunk runtime).
pub(super) struct SessionStorage {
    pub(super) store: ::icechunk::Store,
}

fn other(e: impl std::fmt::Display) -> StorageError {
    StorageError::Other(e.to_string())
}

impl ReadableStorageTraits for SessionStorage {
    fn get(&self, key: &StoreKey) -> Result<MaybeBytes, StorageError> {
        match super::block_on(self.store.get(key.as_str(), &IceRange::ALL)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if matches!(e.kind, StoreErrorKind::NotFound(_)) => Ok(None),
            Err(e) => Err(other(e)),
        }
    }

    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        Ok(crate::zarr::storage_slices(self.get(key)?, byte_ranges))
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        match super::block_on(self.store.getsize(key.as_str())) {
            Ok(n) => Ok(Some(n)),
            Err(e) if matches!(e.kind, StoreErrorKind::NotFound(_)) => Ok(None),
            Err(e) => Err(other(e)),
        }
    }

    fn supports_get_partial(&self) -> bool {
        false
    }
}

impl WritableStorageTraits for SessionStorage {
    fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        stacforge_core::fs::crash_point("icechunk-set");
        super::block_on(self.store.set(key.as_str(), value)).map_err(other)
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
        super::block_on(self.store.delete(key.as_str())).map_err(other)
    }

    fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        super::block_on(self.store.delete_dir(prefix.as_str())).map_err(other)
    }

    fn supports_set_partial(&self) -> bool {
        false
    }
}
