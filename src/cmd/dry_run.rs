//! `--dry-run`: what a run would do, writing nothing: a table of units
//! (or JSON events), then totals.

use crate::Outcome;
use indicatif::HumanBytes;
use stacforge_catalog::Catalog;
use stacforge_core::Package;
use stacforge_runner::{Action, PlannedUnit, RunOptions};
use std::path::PathBuf;

/// Plans the run and shows it; exit status 1 when some unit cannot be done.
pub fn show(
    package: &dyn Package,
    sources: &[PathBuf],
    catalog: &Catalog,
    options: &RunOptions,
    json: bool,
) -> anyhow::Result<Outcome> {
    let (mut convert, mut skip, mut refuse) = (0usize, 0usize, 0usize);
    let mut bytes = 0u64;
    if !json {
        println!(
            "{:<8} {:<40} {:>10}  SOURCES / REASON",
            "ACTION", "ITEM", "SIZE"
        );
    }
    let mut each = |unit: PlannedUnit| {
        let (action, reason) = match &unit.action {
            Action::Convert(reason) => {
                convert += 1;
                bytes += unit.bytes;
                ("convert", reason.clone())
            }
            Action::Skip => {
                skip += 1;
                ("skip", "done already".to_string())
            }
            Action::Refuse(reason) => {
                refuse += 1;
                ("refuse", reason.clone())
            }
        };
        let label = match unit.sources.as_slice() {
            [one] => one.display().to_string(),
            [first, rest @ ..] => format!("{} and {} more", first.display(), rest.len()),
            [] => String::new(),
        };
        // A single source's name is in the table already.
        let reason = match unit.sources.as_slice() {
            [one] => reason
                .strip_prefix(&format!("{}: ", one.display()))
                .map(str::to_string)
                .unwrap_or(reason),
            _ => reason,
        };
        if json {
            let event = serde_json::json!({
                "event": "plan",
                "item_id": unit.item_id,
                "sources": unit.sources,
                "bytes": unit.bytes,
                "action": action,
                "reason": reason,
            });
            println!("{event}");
        } else {
            println!(
                "{action:<8} {:<40} {:>10}  {label}: {reason}",
                unit.item_id,
                HumanBytes(unit.bytes).to_string()
            );
        }
    };
    let planned = stacforge_runner::dry_run(package, sources, catalog, options, &mut each)?;
    let shard = options
        .shard
        .map(|s| format!(" (shard {s}: {} of them)", convert + skip + refuse))
        .unwrap_or_default();
    eprintln!(
        "dry run, nothing written: {planned} unit(s){shard}; {convert} to convert ({} of sources, the expected output is of that order), {skip} done already (would be skipped), {refuse} cannot be done",
        HumanBytes(bytes)
    );
    if json {
        let summary = serde_json::json!({
            "event": "summary",
            "dry_run": true,
            "planned": planned,
            "convert": convert,
            "skip": skip,
            "refuse": refuse,
            "bytes": bytes,
        });
        println!("{summary}");
    }
    Ok(if refuse == 0 {
        Outcome::Success
    } else {
        Outcome::SomeFailed
    })
}
