use crate::{
    options::{CogArgs, StoreArgs},
    Outcome,
};
use std::path::PathBuf;

/// Options of `stacforge cogify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The raster to convert (any format GDAL reads).
    src: PathBuf,
    /// Where to write the COG: a path, or a URL (s3://bucket/key.tif, gs://, az://).
    dst: String,
    #[command(flatten)]
    cog: CogArgs,
    /// Print the layout report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

pub fn run(args: &Args) -> anyhow::Result<Outcome> {
    let options = args.cog.to_options()?;
    let started = std::time::Instant::now();
    // A URL destination: write and check locally, then upload in one piece.
    let remote = args.dst.contains("://") && !args.dst.starts_with("file://");
    let staging = stacforge_core::fs::work_dir()?;
    let local: PathBuf = if remote {
        staging.path().join("cog.tif")
    } else {
        PathBuf::from(args.dst.trim_start_matches("file://"))
    };
    let report = stacforge_raster::cog::write_cog(&args.src, &local, &options)?;
    if remote {
        stacforge_catalog::Catalog::upload(&local, &args.dst, &args.store.to_options())?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let overviews = report
            .levels
            .iter()
            .filter(|l| l.overview && !l.mask)
            .count();
        eprintln!(
            "{} -> {} ({} overviews, {} compression, {:.2} s)",
            args.src.display(),
            args.dst,
            overviews,
            options.compression,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(Outcome::Success)
}
