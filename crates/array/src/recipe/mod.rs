//! Recipes: many NetCDF/HDF5 sources combined along one dimension into one
//! Zarr store, checked for consistency first, written slab by slab in
//! bounded memory, and appended to safely.
//!
//! The jobs, one module each: [`plan`](plan()) opens and places the sources,
//! `check` holds the consistency checks batches and appends share,
//! `chunking` the chunk shapes, `decode` CF unpacking, [`write`](write())
//! a new store, [`append`](append()) an append, `staging` the hidden
//! siblings, the lock and the clean-up of killed runs.
//!
//! Safety of writes: a store is written under a temporary sibling name,
//! with the store's lock held, and renamed into place when complete. An
//! append stages its chunks (the chunk that straddles the old end rebuilt
//! from the store's own values and the new ones), links every other file of
//! the store in beside them, writes the new metadata there, and exchanges
//! the staged tree with the store in one step, so readers see the old store
//! or the new one. The sources written are recorded (href, size, checksum)
//! at the store's root, so re-appending one of them is a no-op.

use crate::cf;
use crate::inventory::{Inventory, Reader, Variable};
use crate::zarr::{self, ArraySpec, Compression, StoreMeta, StoredArray, ZarrVersion, RECORD};
use crate::{ElementType, Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

mod append;
mod check;
mod chunking;
mod decode;
mod plan;
mod staging;
mod write;

use check::*;
use chunking::*;
use decode::*;
use staging::*;
use write::*;

pub use append::{append, store_record, Appending, Prepared};
pub use chunking::plan_chunks;
pub use plan::{plan, split_recorded};
pub use staging::lock;
pub use write::{chunk_shape, read_f64, write, write_into};

/// What to combine and how to write it.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// Source files, in any order (they are ordered by their concatenation
    /// coordinate).
    pub sources: Vec<PathBuf>,
    /// The dimension to concatenate along: the file's record (unlimited)
    /// dimension, or its time dimension, when not given.
    pub concat_dim: Option<String>,
    /// The group to read in NetCDF-4 files with groups.
    pub group: Option<String>,
    /// Variables to write (with their coordinates and grid mappings); all
    /// numeric variables when empty.
    pub variables: Vec<String>,
    /// Chunk length per dimension name, where the user fixed it.
    pub chunks: BTreeMap<String, u64>,
    /// Target uncompressed chunk size in bytes for dimensions not fixed.
    pub target_chunk_bytes: u64,
    /// Zarr format.
    pub version: ZarrVersion,
    /// Chunk compression.
    pub compression: Compression,
    /// Keep only the sources with a time step in this range (inclusive).
    pub time_range: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
    /// Apply CF packing and masking while writing (`scale_factor`,
    /// `add_offset`, `_FillValue`/`missing_value` → NaN) instead of keeping
    /// them as encoding.
    pub decode: bool,
    /// Leave out sources that cannot be read or do not match the others
    /// (reported in [`Plan::skipped`]) instead of refusing the whole recipe.
    pub skip_bad: bool,
}

impl Default for Recipe {
    fn default() -> Self {
        Recipe {
            sources: Vec::new(),
            concat_dim: None,
            group: None,
            variables: Vec::new(),
            chunks: BTreeMap::new(),
            target_chunk_bytes: 16 << 20,
            version: ZarrVersion::V3,
            compression: Compression::default(),
            decode: false,
            time_range: None,
            skip_bad: false,
        }
    }
}

/// A source as the store records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// Absolute path of the file.
    pub href: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA2-256 multihash of its bytes.
    pub checksum: String,
    /// Steps it contributes along the concatenation dimension.
    pub steps: usize,
    /// The object's ETag, for a source read from object storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

/// The store's record of how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreRecord {
    /// The concatenation dimension.
    pub concat_dim: Option<String>,
    /// Every source written, in order along the concatenation dimension.
    pub sources: Vec<SourceRecord>,
}

/// One source placed along the concatenation dimension.
#[derive(Debug, Clone)]
struct Placed {
    inventory: Inventory,
    record: SourceRecord,
    /// First index along the concatenation dimension.
    offset: usize,
    /// Its steps.
    len: usize,
    /// Its concatenation coordinate values (raw, in the file's units).
    coords: Vec<f64>,
    /// The same values as stored (native-endian bytes).
    coord_bytes: Vec<u8>,
    /// Its position in the recipe's list of sources.
    index: usize,
}

/// A checked plan: sources in order, array specs, warnings.
#[derive(Debug, Clone)]
pub struct Plan {
    sources: Vec<Placed>,
    concat_dim: Option<String>,
    /// The arrays to write, shapes covering every source.
    pub specs: Vec<ArraySpec>,
    /// Arrays that are not numeric in the file and are written as a 0-d
    /// int32 placeholder carrying their attributes (grid mappings).
    placeholders: Vec<String>,
    attrs: Map<String, Value>,
    /// Variables left out, and why.
    pub warnings: Vec<String>,
    /// Sources left out by [`Recipe::skip_bad`], with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    group: Option<String>,
    /// How variables are unpacked, when the recipe decodes them.
    decoders: BTreeMap<String, Decoder>,
    /// The values of the variables not along the concatenation dimension
    /// (the grid: coordinates, masks, grid mappings), as the first source
    /// stores them; every source shares them.
    grid: Vec<GridValues>,
}

/// One variable's values off the concatenation dimension.
#[derive(Debug, Clone)]
struct GridValues {
    name: String,
    dtype: Option<ElementType>,
    bytes: Vec<u8>,
}

/// Progress messages of long work.
pub type Progress<'a> = &'a (dyn Fn(&str) + Sync);

/// What a write or append did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Sources written now.
    pub written: Vec<SourceRecord>,
    /// Sources already in the store (an append of them is a no-op).
    pub skipped: Vec<SourceRecord>,
    /// Steps along the concatenation dimension after the operation.
    pub steps: usize,
    /// Uncompressed bytes written.
    pub bytes: u64,
    /// Sources left out as bad ([`Recipe::skip_bad`]), with the reason.
    pub left_out: Vec<(PathBuf, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(
        dtype: ElementType,
        attrs: serde_json::Value,
        fill: Option<f64>,
        packed_as: Option<ElementType>,
    ) -> Variable {
        Variable {
            name: "v".into(),
            dims: vec![],
            shape: vec![],
            dtype: Some(dtype),
            other_type: None,
            attrs: attrs.as_object().unwrap().clone(),
            fill,
            packed_as,
        }
    }

    #[test]
    fn decoding_unpacks_and_masks_as_cf_says() {
        let v = var(
            ElementType::Int16,
            json!({"scale_factor": 0.01, "add_offset": 0.0, "units": "C"}),
            Some(-999.0),
            Some(ElementType::Float32),
        );
        let d = Decoder::of(&v).unwrap();
        assert_eq!(d.to, ElementType::Float32);
        let raw: Vec<u8> = [1234i16, -999]
            .iter()
            .flat_map(|x| x.to_ne_bytes())
            .collect();
        let out = ElementType::Float32.to_f64(&d.decode(&raw));
        assert_eq!(out[0], f64::from(12.34f32));
        assert!(out[1].is_nan());
        assert!(!d.attributes(&v.attrs).contains_key("scale_factor"));
        // A double scale factor unpacks to float64; nothing to do for plain ints.
        let v = var(
            ElementType::Int16,
            json!({"scale_factor": 0.01}),
            None,
            Some(ElementType::Float64),
        );
        assert_eq!(Decoder::of(&v).unwrap().to, ElementType::Float64);
        assert!(Decoder::of(&var(ElementType::Int32, json!({}), Some(0.0), None)).is_none());
        // Floats with a fill value: masked, type kept.
        let v = var(
            ElementType::Float32,
            json!({"missing_value": [1e20]}),
            None,
            None,
        );
        assert_eq!(Decoder::of(&v).unwrap().to, ElementType::Float32);
    }

    #[test]
    fn chunks_fill_the_target_along_the_concat_dimension() {
        let dims: Vec<String> = ["time", "lat", "lon"].map(String::from).to_vec();
        let recipe = Recipe {
            target_chunk_bytes: 8 << 20,
            ..Recipe::default()
        };
        // 720 x 1440 float32 = 4 MiB a step: 2 steps a chunk.
        assert_eq!(
            plan_chunks(&dims, &[60, 720, 1440], 4, Some("time"), &recipe),
            vec![2, 720, 1440]
        );
        // The same whatever the number of steps (appends chunk alike).
        assert_eq!(
            plan_chunks(&dims, &[1, 720, 1440], 4, Some("time"), &recipe),
            vec![2, 720, 1440]
        );
        // A step larger than the target is split spatially.
        let small = Recipe {
            target_chunk_bytes: 1 << 20,
            ..Recipe::default()
        };
        assert_eq!(
            plan_chunks(&dims, &[5, 720, 1440], 4, Some("time"), &small),
            vec![1, 720, 360]
        );
        // User-fixed lengths win.
        let fixed = Recipe {
            chunks: [("time".to_string(), 10)].into(),
            ..recipe
        };
        assert_eq!(
            plan_chunks(&dims, &[60, 720, 1440], 4, Some("time"), &fixed)[0],
            10
        );
    }
}
