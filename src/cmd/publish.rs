//! `stacforge publish`: copy a local catalog to a bucket or directory, and/or
//! register it in a STAC API.

use crate::{options::StoreArgs, Outcome};
use stacforge_catalog::{
    api::{publish_to_api, ApiOptions},
    publish::{publish, PublishOptions, Report},
    Catalog,
};
use std::path::PathBuf;

/// Options of `stacforge publish`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("destination").required(true).multiple(true).args(["to", "to_api"])))]
pub struct Args {
    /// The local catalog directory (with collection.json).
    catalog: PathBuf,
    /// Where to publish the files: s3://bucket/prefix, gs://…, az://…, file://… or a directory.
    #[arg(long, value_name = "URL")]
    to: Option<String>,
    /// A STAC API with the Transactions extension to register the collection
    /// and items in (after the files, when --to is given too).
    #[arg(long, value_name = "URL")]
    to_api: Option<String>,
    /// Bearer token for the STAC API.
    #[arg(long, env = "STACFORGE_API_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// USER:PASSWORD for HTTP basic authentication with the STAC API.
    #[arg(long, env = "STACFORGE_API_BASIC_AUTH", hide_env_values = true)]
    basic_auth: Option<String>,
    /// Make every href absolute under this URL (e.g. https://data.example.org/catalog);
    /// by default links stay relative and the catalog self-contained. Items in a
    /// STAC API point to their assets under this URL (default: the --to location).
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Upload everything, even objects the destination already has.
    #[arg(long)]
    force: bool,
    /// Publish items whose assets are at absolute local paths (`/data/x.tif`,
    /// `file://…`) with those hrefs as they are; by default such a catalog is
    /// refused, since readers elsewhere cannot reach those files.
    #[arg(long)]
    allow_external: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

fn print(report: &Report, destination: &str) {
    let destination = &stacforge_core::href::redact(destination);
    for (path, reason) in &report.failed {
        eprintln!("FAILED {path}: {}", stacforge_core::href::redact(reason));
    }
    for external in &report.external {
        eprintln!("note: kept as is (outside the catalog): {external}");
    }
    eprintln!(
        "{destination}: {} created, {} updated, {} unchanged, {} failed",
        report.created.len(),
        report.updated.len(),
        report.unchanged.len(),
        report.failed.len()
    );
}

pub fn run(args: &Args) -> anyhow::Result<Outcome> {
    let mut reports = serde_json::Map::new();
    let mut failed = false;
    if let Some(to) = &args.to {
        let to = Catalog::open_with(to, &args.store.to_options())?;
        let options = PublishOptions {
            public_url: args.public_url.clone(),
            force: args.force,
            allow_external: args.allow_external,
        };
        let report = publish(&args.catalog, &to, &options)?;
        print(&report, to.location());
        failed |= !report.failed.is_empty();
        reports.insert("files".into(), serde_json::to_value(&report)?);
    }
    if let Some(api) = &args.to_api {
        if failed {
            anyhow::bail!(
                "not registering in {}: some files were not published (see above); run again to finish",
                stacforge_core::href::redact(api)
            );
        }
        let options = ApiOptions {
            token: args.token.clone(),
            basic: args.basic_auth.clone(),
            public_url: args.public_url.clone().or_else(|| args.to.clone()),
        };
        let report = publish_to_api(&args.catalog, api, &options)?;
        print(&report, api);
        failed |= !report.failed.is_empty();
        reports.insert("api".into(), serde_json::to_value(&report)?);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(if failed {
        Outcome::SomeFailed
    } else {
        Outcome::Success
    })
}
