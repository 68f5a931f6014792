//! Scale-out: one run split into N shards, each a worker of a batch engine.
//!
//! A unit belongs to shard `hash(item id) mod N`: a deterministic
//! partition that every shard computes alone, and that does not move a
//! unit when other sources are added. The shard index can come from the
//! engine: Kubernetes Indexed Jobs (`JOB_COMPLETION_INDEX`), AWS Batch array
//! jobs (`AWS_BATCH_JOB_ARRAY_INDEX`), Slurm job arrays
//! (`SLURM_ARRAY_TASK_ID`, with `SLURM_ARRAY_TASK_COUNT` and
//! `SLURM_ARRAY_TASK_MIN` for the count and the first index).

use serde::{Deserialize, Serialize};

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard, `0..count`.
    pub index: usize,
    /// How many shards the run is split into.
    pub count: usize,
}

/// The environment variables the index is read from, with the engine
/// that sets each.
pub const INDEX_VARIABLES: &[(&str, &str)] = &[
    ("JOB_COMPLETION_INDEX", "Kubernetes Indexed Job"),
    ("AWS_BATCH_JOB_ARRAY_INDEX", "AWS Batch array job"),
    ("SLURM_ARRAY_TASK_ID", "Slurm job array"),
];

impl Shard {
    /// Checks that `index < count` and `count > 0`.
    pub fn new(index: usize, count: usize) -> Result<Shard, String> {
        if count == 0 {
            return Err("the shard count must be at least 1".into());
        }
        if index >= count {
            return Err(format!(
                "shard {index} of {count} does not exist: shards are numbered 0 to {}",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }

    /// The shard from the batch engine's environment (`var` looks a
    /// variable up), the count from `count` or the engine's own variable;
    /// `None` when no engine index is set.
    pub fn from_env(
        count: Option<usize>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Option<Result<Shard, String>> {
        let number = |name: &str| -> Option<Result<usize, String>> {
            var(name).map(|v| {
                v.trim()
                    .parse::<usize>()
                    .map_err(|_| format!("{name}={v:?} is not a shard number"))
            })
        };
        let (name, engine) = INDEX_VARIABLES
            .iter()
            .find(|(name, _)| var(name).is_some())?;
        Some((|| {
            let mut index = number(name).expect("set")?;
            let mut engine_count = None;
            if *name == "SLURM_ARRAY_TASK_ID" {
                if let Some(min) = number("SLURM_ARRAY_TASK_MIN") {
                    index = index
                        .checked_sub(min?)
                        .ok_or("SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN")?;
                }
                engine_count = number("SLURM_ARRAY_TASK_COUNT").transpose()?;
            }
            let count = count.or(engine_count).ok_or_else(|| {
                format!(
                    "{name} is set (a {engine}) but not how many shards there are: give --shards N"
                )
            })?;
            Shard::new(index, count)
        })())
    }

    /// Whether the unit with this item id is this shard's.
    pub fn contains(&self, item_id: &str) -> bool {
        (fnv1a(item_id.as_bytes()) % self.count as u64) as usize == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `K/N`: shard K of N.
    fn from_str(text: &str) -> Result<Shard, String> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?}: a shard is K/N, such as 0/4"))?;
        let parse = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("{text:?}: a shard is K/N, such as 0/4"))
        };
        Shard::new(parse(k)?, parse(n)?)
    }
}

/// 64-bit FNV-1a: a fixed, documented hash (a shard's units must not
/// change with the Rust version).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn every_unit_is_in_exactly_one_shard_and_stays_there() {
        let ids: Vec<String> = (0..600).map(|i| format!("scene-{i}")).collect();
        let shards: Vec<Shard> = (0..3).map(|k| Shard::new(k, 3).unwrap()).collect();
        let mut sizes = [0; 3];
        for id in &ids {
            let owners: Vec<_> = shards.iter().filter(|s| s.contains(id)).collect();
            assert_eq!(owners.len(), 1, "{id}");
            sizes[owners[0].index] += 1;
        }
        assert!(sizes.iter().all(|&n| n > 150), "balanced enough: {sizes:?}");
        // Fixed across versions: a known id's shard never moves.
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn the_index_comes_from_the_engine() {
        let env = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            move |name: &str| map.get(name).cloned()
        };
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
        ]);
        assert_eq!(
            Shard::from_env(None, slurm),
            Some(Ok(Shard::new(2, 3).unwrap()))
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "1")]);
        assert!(Shard::from_env(None, &k8s)
            .unwrap()
            .unwrap_err()
            .contains("--shards"));
        assert_eq!(
            Shard::from_env(Some(4), &k8s),
            Some(Ok(Shard::new(1, 4).unwrap()))
        );
        assert_eq!(Shard::from_env(None, env(&[])), None);
        assert!("3/3"
            .parse::<Shard>()
            .unwrap_err()
            .contains("numbered 0 to 2"));
        assert_eq!("1/3".parse::<Shard>().unwrap().to_string(), "1/3");
    }
}
