//! Appending to a store: the new sources checked against the store's own
//! arrays, then a new store built beside it and exchanged in one step.

use super::*;

/// Reads the store's record of its sources.
pub fn store_record(meta: &StoreMeta, store: &Path) -> Result<StoreRecord> {
    zarr::read_record(&meta.attrs, store, "it was")
}

/// Appends the recipe's sources to the store at `store` along its
/// concatenation dimension. Sources already recorded in the store are
/// skipped; new ones must continue its axis with no overlap or gap and
/// match its arrays exactly (type, chunks, codecs, fill, packing).
pub fn append(recipe: &Recipe, store: &Path, progress: Progress) -> Result<Outcome> {
    let _lock = lock(store)?;
    let existing = zarr::Store::dir(store);
    let appending = match Appending::prepare(recipe, &existing)? {
        Prepared::Nothing(outcome) => return Ok(outcome),
        Prepared::Append(appending) => appending,
    };
    // Stage the new chunks (and the rebuilt chunk straddling the old end).
    let staging = stacforge_core::fs::hidden_sibling(store, "stacforge-append", "");
    let _cleanup = stacforge_core::fs::Cleanup::new(staging.clone());
    let bytes = appending.write_chunks(&zarr::Store::dir(&staging), &existing, progress)?;
    // The staged tree becomes the whole new store: every other file of the
    // store linked in (temporary files of killed writers left out), the
    // new metadata written, then the two trees exchanged in one step, so
    // readers see the old store or the new one, never a mix.
    link_tree(store, &staging)?;
    appending.meta.write(&staging)?;
    stacforge_core::fs::replace_dir(&staging, store).map_err(|source| Error::Io {
        path: store.to_path_buf(),
        source,
    })?;
    Ok(appending.outcome(bytes))
}

/// What an append finds to do.
#[derive(Debug)]
pub enum Prepared {
    /// Nothing: every source is in the store already.
    Nothing(Outcome),
    /// New sources, checked against the store.
    Append(Box<Appending>),
}

/// A checked append: the new sources planned after the store's, and the
/// store's metadata as it is once they are in.
#[derive(Debug)]
pub struct Appending {
    plan: Plan,
    /// The store's metadata after the append (new lengths, new record).
    pub meta: StoreMeta,
    old_len: usize,
    new_len: usize,
    skipped: Vec<SourceRecord>,
}

impl Appending {
    /// Checks the recipe's sources against the store `existing`: sources
    /// already recorded are skipped; new ones must continue its axis with
    /// no overlap or gap and match its arrays exactly (type, chunks,
    /// codecs, fill, packing).
    pub fn prepare(recipe: &Recipe, existing: &zarr::Store) -> Result<Prepared> {
        let store = existing.origin();
        let mut meta = StoreMeta::read_in(existing)?;
        let mut record = store_record(&meta, store)?;
        let concat = record.concat_dim.clone().ok_or_else(|| Error::Store {
            store: store.to_path_buf(),
            message: "it has no concatenation dimension to append along".into(),
        })?;
        if recipe.concat_dim.as_ref().is_some_and(|d| *d != concat) {
            return Err(Error::OtherConcatDim {
                store: store.to_path_buf(),
                stored: concat,
                requested: recipe.concat_dim.clone().unwrap_or_default(),
            });
        }
        let (fresh, skipped) = split_recorded(&recipe.sources, record.sources.iter())?;
        let old_len = record.sources.iter().map(|s| s.steps).sum::<usize>();
        if fresh.is_empty() {
            return Ok(Prepared::Nothing(Outcome {
                written: Vec::new(),
                skipped,
                steps: old_len,
                bytes: 0,
                left_out: Vec::new(),
            }));
        }
        let sub = Recipe {
            sources: fresh,
            concat_dim: Some(concat.clone()),
            version: meta.version,
            ..recipe.clone()
        };
        let mut plan = plan(&sub)?;
        // The new arrays must be the store's arrays, but for their length.
        for spec in &mut plan.specs {
            let Some(stored) = meta.array(&spec.name) else {
                return Err(Error::Append {
                    path: plan.sources[0].inventory.path.clone(),
                    message: format!(
                        "variable `{}` is not in the store {}",
                        spec.name,
                        store.display()
                    ),
                });
            };
            if let Some(i) = spec.dims.iter().position(|d| *d == concat) {
                spec.shape[i] = stored.shape()[i];
            }
            spec.chunks = chunk_shape(stored);
            let compression = compression_of(stored, meta.version);
            let candidate = zarr::StoreMeta::new(
                meta.version,
                compression,
                Map::new(),
                std::slice::from_ref(spec),
            );
            if let Some(difference) = first_difference(&stored.meta, &candidate.arrays[0].meta, "")
                .or_else(|| {
                    first_difference(
                        &Value::Object(stored.attrs.clone()),
                        &Value::Object(candidate.arrays[0].attrs.clone()),
                        "attributes",
                    )
                })
            {
                return Err(Error::Append {
                    path: plan.sources[0].inventory.path.clone(),
                    message: format!(
                        "`{}` differs from the store {}: {difference}",
                        spec.name,
                        store.display()
                    ),
                });
            }
        }
        if let Some(missing) = meta
            .arrays
            .iter()
            .find(|a| !plan.specs.iter().any(|s| s.name == a.name))
        {
            return Err(Error::Append {
                path: plan.sources[0].inventory.path.clone(),
                message: format!(
                    "it lacks variable `{}` that the store {} has",
                    missing.name,
                    store.display()
                ),
            });
        }
        // The axis continues the store's.
        let coord_name = plan.sources[0]
            .inventory
            .dims
            .iter()
            .find(|d| d.name == concat)
            .and_then(|_| cf::coordinate(&plan.sources[0].inventory, &concat))
            .map(|v| v.name.clone());
        let stored_coords = match coord_name.as_deref().and_then(|n| meta.array(n)) {
            Some(stored) => read_f64(existing, stored)?,
            None => Vec::new(),
        };
        plan.check_continues(store, &stored_coords)?;
        let holder = record
            .sources
            .first()
            .map_or_else(|| store.display().to_string(), |s| s.href.clone());
        plan.check_grid(store, &holder, |name| match meta.array(name) {
            Some(stored) => read_f64(existing, stored).map(Some),
            None => Ok(None),
        })?;
        for p in &mut plan.sources {
            p.offset += old_len;
        }
        let new_len = old_len + plan.sources.iter().map(|s| s.len).sum::<usize>();
        for stored in &mut meta.arrays {
            let Some(i) = stored.dims().iter().position(|d| *d == concat) else {
                continue;
            };
            let mut shape = stored.shape();
            shape[i] = new_len as u64;
            stored.set_shape(&shape);
        }
        record.sources.extend(plan.records());
        meta.attrs.insert(
            RECORD.into(),
            serde_json::to_value(&record).expect("serialisable"),
        );
        Ok(Prepared::Append(Box::new(Appending {
            plan,
            meta,
            old_len,
            new_len,
            skipped,
        })))
    }

    /// The sources the append adds.
    pub fn records(&self) -> Vec<SourceRecord> {
        self.plan.records()
    }

    /// Writes the new chunks into `target` (and the chunk straddling the
    /// old end, rebuilt from `existing`'s values and the new ones);
    /// returns the uncompressed bytes written. Metadata is not written.
    pub fn write_chunks(
        &self,
        target: &zarr::Store,
        existing: &zarr::Store,
        progress: Progress,
    ) -> Result<u64> {
        let concat = self.plan.concat_dim.as_deref().unwrap_or_default();
        let mut bytes = 0;
        for stored in &self.meta.arrays {
            if !stored.dims().iter().any(|d| d == concat) {
                continue;
            }
            bytes += write_array(
                &self.plan,
                target,
                stored,
                Some((existing, self.old_len)),
                progress,
            )?;
        }
        Ok(bytes)
    }

    /// What the append did, once its chunks and metadata are in.
    pub fn outcome(&self, bytes: u64) -> Outcome {
        Outcome {
            written: self.plan.records(),
            skipped: self.skipped.clone(),
            steps: self.new_len,
            bytes,
            left_out: self.plan.skipped.clone(),
        }
    }
}

pub(super) fn compression_of(stored: &StoredArray, version: ZarrVersion) -> Compression {
    let (name, level) = match version {
        ZarrVersion::V3 => {
            let codecs = stored.meta["codecs"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            match codecs.get(1) {
                Some(c) => (
                    c["name"].as_str().unwrap_or("").to_string(),
                    c["configuration"]["level"].as_i64(),
                ),
                None => ("none".into(), None),
            }
        }
        ZarrVersion::V2 => match stored.meta["compressor"].as_object() {
            Some(c) => (
                c["id"].as_str().unwrap_or("").to_string(),
                c.get("level").and_then(Value::as_i64),
            ),
            None => ("none".into(), None),
        },
    };
    match name.as_str() {
        "zstd" => Compression::Zstd(level.unwrap_or(3) as i32),
        "gzip" | "zlib" => Compression::Deflate(level.unwrap_or(5) as u32),
        _ => Compression::None,
    }
}

/// The first place two JSON documents differ.
pub(super) fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys()) {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                match (x.get(key), y.get(key)) {
                    (p, q) if cf::same_encoding(key, p, q) => {}
                    (Some(p), Some(q)) => {
                        if let Some(d) = first_difference(p, q, &path) {
                            return Some(d);
                        }
                    }
                    (p, q) => {
                        return Some(format!(
                            "{path} is {} in the store and {} in the source",
                            show(p),
                            show(q)
                        ))
                    }
                }
            }
            None
        }
        _ if a == b => None,
        _ => Some(format!("{at} is {a} in the store and {b} in the source")),
    }
}
