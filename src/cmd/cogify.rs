use crate::{options::CogArgs, Outcome};
use anyhow::Context;
use std::path::PathBuf;

/// Options of `stacforge cogify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The raster to convert (any format GDAL reads).
    src: PathBuf,
    /// Where to write the COG.
    dst: PathBuf,
    #[command(flatten)]
    cog: CogArgs,
    /// Print the layout report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<Outcome> {
    let options = args.cog.to_options()?;
    let started = std::time::Instant::now();
    stacforge_raster::cog::write_cog(&args.src, &args.dst, &options)?;
    let report = stacforge_raster::layout::check(&args.dst)
        .with_context(|| format!("checking the COG written at {}", args.dst.display()))?;
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
            args.dst.display(),
            overviews,
            options.compression,
            started.elapsed().as_secs_f64()
        );
    }
    anyhow::ensure!(
        report.is_valid(),
        "{}: the COG fails the layout check: {}",
        args.dst.display(),
        report.errors.join("; ")
    );
    Ok(Outcome::Success)
}
