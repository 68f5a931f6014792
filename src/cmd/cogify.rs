use crate::{
    options::{CogArgs, StoreArgs},
    Outcome,
};
use anyhow::Context;
use stacforge_raster::cog::PendingCog;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options of `stacforge cogify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The rasters to convert (any format GDAL reads).
    #[arg(value_name = "SRC", required = true, num_args = 1..)]
    src: Vec<PathBuf>,
    /// Where to write: for one source a path or a URL (s3://bucket/key.tif,
    /// gs://, az://); for several (or when it is a folder or ends in /) a
    /// folder, created if needed, or a URL prefix, that gets <name>.tif for
    /// each source.
    dst: String,
    #[command(flatten)]
    cog: CogArgs,
    /// Print the layout report as JSON (an array of {src, dst, report} for
    /// several sources).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// One source's destination, and where it is written first.
#[derive(Debug)]
struct Target {
    src: PathBuf,
    /// A path or URL.
    dst: String,
    /// The local file written (the destination itself, or a staged copy
    /// uploaded when done).
    local: PathBuf,
    remote: bool,
}

fn is_url(dst: &str) -> bool {
    dst.contains("://") && !dst.starts_with("file://")
}

/// Every source's target; refused before any work when two sources would
/// write the same file.
fn targets(args: &Args, staging: &Path) -> anyhow::Result<Vec<Target>> {
    let dst = args.dst.trim_start_matches("file://");
    let remote = is_url(&args.dst);
    let folder = args.src.len() > 1 || dst.ends_with('/') || (!remote && Path::new(dst).is_dir());
    if !folder {
        let local = if remote {
            staging.join("cog.tif")
        } else {
            PathBuf::from(dst)
        };
        return Ok(vec![Target {
            src: args.src[0].clone(),
            dst: args.dst.clone(),
            local,
            remote,
        }]);
    }
    let mut seen = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(args.src.len());
    for (i, src) in args.src.iter().enumerate() {
        let stem = src
            .file_stem()
            .with_context(|| format!("{}: no file name to name its COG after", src.display()))?
            .to_string_lossy();
        let name = format!("{stem}.tif");
        if let Some(other) = seen.insert(name.clone(), src) {
            anyhow::bail!(
                "{} and {} would both be written to {name}: convert them into different folders",
                other.display(),
                src.display()
            );
        }
        let (dst, local) = if remote {
            let url = format!("{}/{name}", args.dst.trim_end_matches('/'));
            (url, staging.join(format!("{i}-{name}")))
        } else {
            let path = Path::new(dst).join(&name);
            (path.display().to_string(), path)
        };
        out.push(Target {
            src: src.clone(),
            dst,
            local,
            remote,
        });
    }
    if !remote {
        std::fs::create_dir_all(dst).with_context(|| format!("creating the folder {dst}"))?;
    }
    Ok(out)
}

/// Refuses a destination that is one of the sources: the COG would
/// replace the file it is made from (`cogify *.tif .` in the scenes'
/// folder).
fn refuse_sources_as_outputs(targets: &[Target]) -> anyhow::Result<()> {
    let sources: std::collections::HashMap<PathBuf, &Path> = targets
        .iter()
        .filter_map(|t| Some((t.src.canonicalize().ok()?, t.src.as_path())))
        .collect();
    for target in targets.iter().filter(|t| !t.remote) {
        let Ok(out) = target.local.canonicalize() else {
            continue; // not there yet
        };
        if let Some(source) = sources.get(&out) {
            anyhow::bail!(
                "{}: the COG of {} would be written over the source {}, destroying it (choose another folder or name)",
                target.dst,
                target.src.display(),
                source.display()
            );
        }
    }
    Ok(())
}

pub fn run(args: &Args) -> anyhow::Result<Outcome> {
    let options = args.cog.to_options()?;
    let staging = stacforge_core::fs::work_dir()?;
    let targets = targets(args, staging.path())?;
    refuse_sources_as_outputs(&targets)?;
    if let [one] = targets.as_slice() {
        // One source: its error is the command's.
        let started = Instant::now();
        let pending = stacforge_raster::cog::encode_cog(&one.src, &one.local, &options, false)?;
        let report = place(one, pending, &args.store)?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            eprintln!("{}", summary(one, &report, &options, started));
        }
        return Ok(Outcome::Success);
    }
    // Several: while one COG is written, checked and uploaded, the next
    // source is read and compressed; one that fails is told and the rest go
    // on. A rendezvous channel: at most one encoded COG waits.
    let bar = crate::progress::count_bar(targets.len() as u64, "COGs");
    let say = |line: String| match &bar {
        Some(bar) => bar.println(line),
        None => eprintln!("{line}"),
    };
    let (send, recv) = std::sync::mpsc::sync_channel::<(usize, PendingCog, Instant)>(0);
    let mut failed = 0;
    let reports = std::thread::scope(|scope| {
        let (targets, say, bar, store) = (&targets, &say, &bar, &args.store);
        let options = &options;
        let writer = scope.spawn(move || {
            let mut reports = Vec::new();
            let mut failed = 0;
            for (i, pending, started) in recv {
                let target = &targets[i];
                match place(target, pending, store) {
                    Ok(report) => {
                        if !args.json {
                            say(summary(target, &report, options, started));
                        }
                        reports.push(serde_json::json!({
                            "src": target.src, "dst": target.dst, "report": report,
                        }));
                    }
                    Err(e) => {
                        failed += 1;
                        say(format!("FAILED {}", crate::describe(&e)));
                    }
                }
                if let Some(bar) = bar {
                    bar.inc(1);
                }
            }
            (reports, failed)
        });
        for (i, target) in targets.iter().enumerate() {
            let started = Instant::now();
            match stacforge_raster::cog::encode_cog(&target.src, &target.local, options, false) {
                Ok(pending) => {
                    if send.send((i, pending, started)).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    failed += 1;
                    say(format!(
                        "FAILED {}",
                        crate::describe(&anyhow::Error::from(e))
                    ));
                    if let Some(bar) = bar {
                        bar.inc(1);
                    }
                }
            }
        }
        drop(send);
        let (reports, written_failed) = writer.join().expect("the COG writer thread panicked");
        failed += written_failed;
        reports
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    eprintln!(
        "{} of {} COGs written{}",
        targets.len() - failed,
        targets.len(),
        if failed > 0 {
            format!(", {failed} failed")
        } else {
            String::new()
        }
    );
    Ok(if failed > 0 {
        Outcome::SomeFailed
    } else {
        Outcome::Success
    })
}

/// Writes `pending` into place and uploads it when the target is remote.
fn place(
    target: &Target,
    pending: PendingCog,
    store: &StoreArgs,
) -> anyhow::Result<stacforge_raster::layout::Report> {
    let (report, _) = pending.finish()?;
    if target.remote {
        stacforge_catalog::Catalog::upload(&target.local, &target.dst, &store.to_options())?;
        let _ = std::fs::remove_file(&target.local);
    }
    Ok(report)
}

fn summary(
    target: &Target,
    report: &stacforge_raster::layout::Report,
    options: &stacforge_raster::CogOptions,
    started: Instant,
) -> String {
    let overviews = report
        .levels
        .iter()
        .filter(|l| l.overview && !l.mask)
        .count();
    format!(
        "{} -> {} ({} overviews, {} compression, {:.2} s)",
        target.src.display(),
        target.dst,
        overviews,
        options.compression,
        started.elapsed().as_secs_f64()
    )
}
