//! The run report: what a run did, written at the output location
//! (`run-report.json`; a shard's under `.stacforge/reports/`, gathered by
//! [`crate::finalize`]), and read back by `--retry-failed`.

use crate::shard::Shard;
use serde::{Deserialize, Serialize};
use stacforge_catalog::Catalog;

/// The report of a whole run, at the catalog root.
pub const REPORT: &str = "run-report.json";

/// Where shards leave their reports, relative to the catalog.
pub const SHARD_REPORTS: &str = ".stacforge/reports";

/// How many units ended how.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Units the package planned from all the sources.
    pub planned: usize,
    /// Units this run (or shard) was responsible for.
    pub assigned: usize,
    /// Converted and written.
    pub written: usize,
    /// Finished by an earlier run, per the ledger, and left as they were.
    pub skipped: usize,
    /// Failed (see `failures`).
    pub failed: usize,
    /// Not started because the run stopped early (`--fail-fast`).
    pub not_run: usize,
}

/// A unit that failed, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The item it would have written.
    pub item_id: String,
    /// Its sources, as given.
    pub sources: Vec<String>,
    /// The error, with its causes.
    pub error: String,
    /// How many times it was tried.
    pub attempts: u32,
}

/// What a run (or one shard of it) did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The stacforge version that ran.
    pub stacforge: String,
    /// The package, its version, the collection and options.
    pub key: crate::ledger::RunKey,
    /// The shard, when the run was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// The shards gathered into this report by `finalize`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<Shard>,
    /// When the run started.
    pub started: chrono::DateTime<chrono::Utc>,
    /// When it ended.
    pub finished: chrono::DateTime<chrono::Utc>,
    /// Units by how they ended.
    pub units: Counts,
    /// Bytes of sources read by the units converted.
    pub bytes_read: u64,
    /// The units that failed.
    pub failures: Vec<Failure>,
}

impl RunReport {
    /// Where this report goes: the root for a whole run, the shard's own
    /// name under [`SHARD_REPORTS`] for a shard.
    pub fn path(shard: Option<Shard>) -> String {
        match shard {
            None => REPORT.to_string(),
            Some(s) => format!("{SHARD_REPORTS}/shard-{}-of-{}.json", s.index, s.count),
        }
    }

    /// Reads the report at `path`, `None` when there is none.
    pub fn read(catalog: &Catalog, path: &str) -> Result<Option<RunReport>, crate::Error> {
        let Some(bytes) = catalog.read(path)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| crate::Error::Report {
                location: format!("{}/{path}", catalog.location()),
                reason: e.to_string(),
            })
    }

    /// Writes the report at its [`RunReport::path`].
    pub fn write(&self, catalog: &Catalog) -> Result<(), crate::Error> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a report serialises");
        bytes.push(b'\n');
        Ok(catalog.write(&RunReport::path(self.shard), bytes)?)
    }

    /// The shard reports of the latest sharded run (the shard count of the
    /// one that finished last), gathered into one.
    pub fn gather(catalog: &Catalog) -> Result<Option<RunReport>, crate::Error> {
        let mut reports = Vec::new();
        for (path, _) in catalog.list(SHARD_REPORTS)? {
            if path.ends_with(".json") {
                reports.extend(RunReport::read(catalog, &path)?);
            }
        }
        let Some(latest) = reports.iter().max_by_key(|r| r.finished) else {
            return Ok(None);
        };
        let count = latest.shard.map(|s| s.count);
        let mut shards: Vec<RunReport> = reports
            .iter()
            .filter(|r| r.shard.map(|s| s.count) == count && r.key == latest.key)
            .cloned()
            .collect();
        shards.sort_by_key(|r| r.shard.map(|s| s.index));
        let mut gathered = RunReport {
            shard: None,
            shards: shards.iter().filter_map(|r| r.shard).collect(),
            started: shards
                .iter()
                .map(|r| r.started)
                .min()
                .unwrap_or(latest.started),
            finished: latest.finished,
            units: Counts::default(),
            bytes_read: 0,
            failures: Vec::new(),
            ..latest.clone()
        };
        for r in shards {
            // Every shard planned the same units.
            gathered.units.planned = r.units.planned;
            gathered.units.assigned += r.units.assigned;
            gathered.units.written += r.units.written;
            gathered.units.skipped += r.units.skipped;
            gathered.units.failed += r.units.failed;
            gathered.units.not_run += r.units.not_run;
            gathered.bytes_read += r.bytes_read;
            gathered.failures.extend(r.failures);
        }
        gathered.failures.sort_by(|a, b| a.item_id.cmp(&b.item_id));
        Ok(Some(gathered))
    }

    /// A few lines for people: the counts, then each failure.
    pub fn human(&self) -> String {
        let u = &self.units;
        let mut text = format!(
            "{} unit(s) planned, {} in this run: {} written, {} skipped (done before), {} failed",
            u.planned, u.assigned, u.written, u.skipped, u.failed
        );
        if u.not_run > 0 {
            text.push_str(&format!(
                ", {} not run (stopped at the first failure)",
                u.not_run
            ));
        }
        for f in &self.failures {
            text.push_str(&format!("\n  FAILED {}: {}", f.item_id, f.error));
        }
        text
    }
}
