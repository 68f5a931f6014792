use crate::Outcome;
use stacforge_raster::{inspect, layout, InspectOptions};
use std::path::PathBuf;

/// Options of `stacforge info`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The raster to describe.
    src: PathBuf,
    /// Print JSON (the raster profile, and the COG layout report for TIFFs).
    #[arg(long)]
    json: bool,
    /// Skip statistics and footprint (reads only the header).
    #[arg(long)]
    quick: bool,
}

pub fn run(args: &Args) -> anyhow::Result<Outcome> {
    let options = InspectOptions {
        statistics: !args.quick,
        footprint: !args.quick,
    };
    let layout = layout::check(&args.src).ok();
    if let Some(reason) = layout.as_ref().and_then(|r| r.truncated.clone()) {
        return Err(stacforge_raster::Error::Tiff {
            path: args.src.clone(),
            reason,
        }
        .into());
    }
    let profile = inspect(&args.src, &options)?;
    if args.json {
        let out = serde_json::json!({
            "path": args.src,
            "profile": profile,
            "timing": profile.timing.map(|t| [t.start().to_rfc3339(), t.end().to_rfc3339()]),
            "cog": layout,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(Outcome::Success);
    }
    println!("{}", args.src.display());
    println!(
        "  size        {} x {} pixels, {} band(s)",
        profile.width,
        profile.height,
        profile.bands.len()
    );
    println!(
        "  crs         {}",
        profile
            .crs
            .code
            .clone()
            .unwrap_or_else(|| "(no authority code; WKT2 in --json)".into())
    );
    println!("  transform   {:?}", profile.geotransform);
    println!("  bbox (crs)  {:?}", profile.native_bbox());
    if let Some(fp) = &profile.footprint {
        println!("  bbox wgs84  {:?}", fp.bbox);
    }
    match profile.timing {
        Some(t) => println!("  datetime    {}", t.start().to_rfc3339()),
        None => println!("  datetime    (none in the file; pass --datetime when creating items)"),
    }
    for (i, b) in profile.bands.iter().enumerate() {
        let stats = b
            .statistics
            .map(|s| {
                format!(
                    " min {} max {} mean {:.3} std {:.3}",
                    s.minimum, s.maximum, s.mean, s.stddev
                )
            })
            .unwrap_or_default();
        println!(
            "  band {}      {} {}{}{}{}",
            i + 1,
            b.data_type.as_str(),
            b.color,
            b.nodata.map(|n| format!(" nodata {n}")).unwrap_or_default(),
            if b.has_palette { " palette" } else { "" },
            stats
        );
    }
    if let Some(report) = layout {
        let verdict = if report.is_valid() {
            "valid COG"
        } else {
            "not a COG"
        };
        println!("  layout      {verdict}");
        for e in &report.errors {
            println!("    error: {e}");
        }
        for w in &report.warnings {
            println!("    warning: {w}");
        }
    }
    Ok(Outcome::Success)
}
