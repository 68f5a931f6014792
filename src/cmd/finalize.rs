//! `stacforge finalize --out URL`: once every shard of a run has ended,
//! the collection (extents, summaries, item assets, links) from all the
//! shards' items, and one run report from the shards' reports.

use crate::{options::StoreArgs, Outcome};
use stacforge_catalog::Catalog;

/// Options of `stacforge finalize`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The catalog the shards wrote into (a directory or URL).
    #[arg(long, value_name = "URL")]
    out: String,
    /// Print the gathered run report as JSON on standard output.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

pub fn run(args: &Args) -> anyhow::Result<Outcome> {
    let catalog = Catalog::open_with(&args.out, &args.store.to_options())?;
    let find = |id: &str| crate::registry::find(id).and_then(|entry| entry.default_package().ok());
    let (report, items) = stacforge_runner::finalize(&catalog, &find)?;
    eprintln!("{}", report.human());
    if !report.shards.is_empty() {
        let shards: Vec<String> = report.shards.iter().map(ToString::to_string).collect();
        eprintln!("gathered shards {}", shards.join(", "));
        if let Some(first) = report.shards.first() {
            if report.shards.len() < first.count {
                eprintln!(
                    "warning: only {} of {} shards have reported; run finalize again once the others are done",
                    report.shards.len(),
                    first.count
                );
            }
        }
    }
    eprintln!(
        "{}/collection.json lists {items} item(s); run report: {}/{}",
        catalog.location(),
        catalog.location(),
        stacforge_runner::REPORT
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    let complete = report
        .shards
        .first()
        .is_none_or(|s| report.shards.len() == s.count);
    Ok(
        if report.units.failed == 0 && report.units.not_run == 0 && complete {
            Outcome::Success
        } else {
            Outcome::SomeFailed
        },
    )
}
