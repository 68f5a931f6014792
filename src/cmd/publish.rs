//! `stacforge publish`: copy a local catalog to a bucket or directory.

use crate::{options::StoreArgs, Outcome};
use stacforge_catalog::{
    publish::{publish, PublishOptions},
    Catalog,
};
use std::path::PathBuf;

/// Options of `stacforge publish`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The local catalog directory (with collection.json).
    catalog: PathBuf,
    /// Where to publish: s3://bucket/prefix, gs://…, az://…, file://… or a directory.
    #[arg(long, value_name = "URL")]
    to: String,
    /// Make every href absolute under this URL (e.g. https://data.example.org/catalog);
    /// by default links stay relative and the catalog self-contained.
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Upload everything, even objects the destination already has.
    #[arg(long)]
    force: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

pub fn run(args: &Args) -> anyhow::Result<Outcome> {
    let to = Catalog::open_with(&args.to, &args.store.to_options())?;
    let options = PublishOptions {
        public_url: args.public_url.clone(),
        force: args.force,
    };
    let report = publish(&args.catalog, &to, &options)?;
    for (path, reason) in &report.failed {
        eprintln!("FAILED {path}: {reason}");
    }
    for external in &report.external {
        eprintln!("note: kept as is (outside the catalog): {external}");
    }
    eprintln!(
        "{}: {} created, {} updated, {} unchanged, {} failed",
        to.location(),
        report.created.len(),
        report.updated.len(),
        report.unchanged.len(),
        report.failed.len()
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(if report.failed.is_empty() {
        Outcome::Success
    } else {
        Outcome::SomeFailed
    })
}
