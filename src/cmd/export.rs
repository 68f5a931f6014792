//! `stacforge export`: a catalog's items as ndjson or stac-geoparquet.

use crate::Outcome;
use stacforge_catalog::export::{export, Format};
use std::path::PathBuf;

/// Options of `stacforge export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The local catalog directory (with collection.json).
    catalog: PathBuf,
    /// The file to write.
    out: PathBuf,
    /// ndjson (one item per line; pypgstac load, DuckDB) or geoparquet (stac-geoparquet).
    #[arg(long, default_value = "ndjson")]
    format: Format,
    /// Make relative hrefs absolute under this URL (where the catalog is published).
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
}

pub fn run(args: &Args) -> anyhow::Result<Outcome> {
    let count = export(
        &args.catalog,
        args.format,
        &args.out,
        args.public_url.as_deref(),
    )?;
    eprintln!("{}: {count} item(s)", args.out.display());
    Ok(Outcome::Success)
}
