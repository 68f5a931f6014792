//! `stacforge`: legacy geospatial files to cloud-optimized data and STAC.
//!
//! Exit codes: 0 success; 1 some inputs failed or were found invalid (the
//! others were still processed); 2 usage or configuration error.

mod array_options;
mod cmd;
mod options;
mod progress;
mod registry;
mod sources;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

/// Turn legacy geospatial files into Cloud-Optimized GeoTIFFs and STAC.
#[derive(Debug, Parser)]
#[command(name = "stacforge", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 success; 1 some inputs failed or are invalid (the others were still processed); 2 usage or configuration error.\nRun any package (see `stacforge list`) over sources into a catalog: stacforge run <package> SRC... --out DIR"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the dataset packages.
    List(cmd::list::Args),
    /// Convert one raster into a Cloud-Optimized GeoTIFF.
    Cogify(cmd::cogify::Args),
    /// Publish a local catalog to a bucket or directory (assets first, collection last).
    Publish(cmd::publish::Args),
    /// Export a catalog's items as ndjson or stac-geoparquet, for bulk loading.
    Export(cmd::export::Args),
    /// Validate STAC documents (against the official schemas) and COG layouts.
    Validate(cmd::validate::Args),
    /// Show what stacforge sees in a raster.
    Info(cmd::info::Args),
    /// NetCDF/HDF5 files to Zarr stores (combine along time, append) with datacube STAC.
    Netcdf(Box<cmd::netcdf::Args>),
    /// After the shards of a run: write the collection and the run report from them.
    ///
    /// Example: stacforge finalize --out s3://bucket/catalog
    Finalize(cmd::finalize::Args),
    /// Write a root catalog.json linking the collections in the folders under DIR.
    Catalog(cmd::catalog::Args),
    /// List the commits of an Icechunk repository, newest first, with the
    /// sources each wrote (size and checksum) and its tags.
    ///
    /// Example: stacforge history sst.icechunk --json
    History(cmd::history::Args),
    /// Derive a new collection from published items: reproject, resample,
    /// clip to polygons; each new item links to its parent and records the
    /// steps (run like any run: parallel, resumable).
    ///
    /// Example: stacforge derive --from catalog/seaice --out catalog/greenland --t-srs EPSG:3413 --resolution 12500 --clip greenland.geojson
    Derive(Box<cmd::derive::Args>),
    /// Walk an item's derived_from links back to the original source files
    /// (assets and sources with their checksums, the steps between levels);
    /// --verify checks every object again.
    ///
    /// Example: stacforge lineage https://stac.example.org/collections/greenland/items/x --verify
    Lineage(cmd::lineage::Args),
    /// Write a new package crate (raster or array) under packages/ and register it.
    ///
    /// Example: stacforge new-package grace-mascons --kind array
    NewPackage(cmd::new_package::Args),
}

/// An error and its causes on one line, skipping causes whose text the
/// message already contains (object_store and GDAL errors embed their sources).
pub fn describe(err: &anyhow::Error) -> String {
    stacforge_runner::describe_error(err.as_ref())
}

/// [`describe`] for any error.
pub fn describe_error(err: &(dyn std::error::Error + 'static)) -> String {
    stacforge_runner::describe_error(err)
}

/// The exit code of a command that failed outright: 1 when an input is
/// at fault (unreadable, corrupt, inconsistent, refused: the README's
/// "some inputs failed"), 2 for usage and configuration errors.
fn exit_code(err: &anyhow::Error) -> u8 {
    fn of(cause: &(dyn std::error::Error + 'static)) -> Option<u8> {
        use stacforge_core::Error as Core;
        if let Some(e) = cause.downcast_ref::<stacforge_raster::Error>() {
            return Some(match e {
                stacforge_raster::Error::InvalidOption { .. } => 2,
                _ => 1,
            });
        }
        if cause.is::<stacforge_array::Error>() {
            return Some(1);
        }
        match cause.downcast_ref::<Core>()? {
            Core::InvalidDatetime { .. } | Core::InvalidId { .. } | Core::Metadata { .. } => {
                Some(2)
            }
            Core::Convert(inner) => Some(of(inner.as_ref()).unwrap_or(1)),
            _ => Some(1),
        }
    }
    err.chain().find_map(of).unwrap_or(2)
}

/// How a command ended, when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything worked.
    Success,
    /// Some inputs failed or are invalid; the others were processed.
    SomeFailed,
}

/// SIGINT, SIGTERM and SIGHUP end the run after removing its temporary
/// files and directories (staging, partial COGs: `core::fs::Cleanup`);
/// final outputs are only ever renamed into place, so none is half-written.
/// The signals are blocked in every thread and taken by one thread that
/// waits for them.
fn handle_interruptions() {
    // SAFETY: sigset manipulation on a local set; pthread_sigmask before
    // any other thread exists, so every thread inherits the mask.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::spawn(move || {
        let mut signal = 0;
        // SAFETY: waits on the set blocked above.
        if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
            return;
        }
        eprintln!("interrupted (signal {signal}): removing temporary files; outputs already in place are complete");
        stacforge_core::fs::remove_pending();
        // SAFETY: ends the process without running exit handlers, which
        // would tear GDAL and PROJ down under the threads still using them.
        unsafe { libc::_exit(128 + signal) };
    });
}

fn main() -> ExitCode {
    // Large buffers (chunks, slabs, tiles) come and go all the time: keep
    // them on the heap instead of fresh zeroed mmaps, which cost a page
    // fault per 4 KiB each time.
    // SAFETY: mallopt only tunes glibc's allocator; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
    handle_interruptions();
    // GDAL (all its drivers) is set up here for every verb but the array
    // ones, which need it only to describe their output (they set it up then).
    let args: Vec<String> = std::env::args().take(3).collect();
    let array_verb = args.get(1).is_some_and(|a| a == "history")
        || args.get(1).is_some_and(|a| a == "netcdf")
            && args
                .get(2)
                .is_some_and(|v| matches!(v.as_str(), "to-zarr" | "to-refs" | "verify-refs"));
    if !array_verb {
        stacforge_raster::init();
    }
    let mut command = Cli::command();
    match cmd::create::run_command() {
        Ok(run) => command = command.subcommand(run),
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            return ExitCode::from(2);
        }
    }
    for entry in registry::entries().into_iter().filter(|e| e.create_item) {
        match cmd::create::package_command(&entry) {
            Ok(sub) => command = command.subcommand(sub),
            Err(e) => {
                eprintln!("error: package {}: {}", entry.id, describe(&e));
                return ExitCode::from(2);
            }
        }
    }
    let matches = command.get_matches();
    let result = match matches.subcommand() {
        Some(("run", sub)) => cmd::create::run_package(sub),
        Some((name, sub)) if registry::find(name).is_some_and(|e| e.create_item) => {
            cmd::create::run(&registry::find(name).expect("just found"), sub)
        }
        _ => match Cli::from_arg_matches(&matches) {
            Ok(cli) => match cli.command {
                Command::List(args) => cmd::list::run(&args),
                Command::Cogify(args) => cmd::cogify::run(&args),
                Command::Validate(args) => cmd::validate::run(&args),
                Command::Publish(args) => cmd::publish::run(&args),
                Command::Export(args) => cmd::export::run(&args),
                Command::Info(args) => cmd::info::run(&args),
                Command::Netcdf(args) => cmd::netcdf::run(&args),
                Command::NewPackage(args) => cmd::new_package::run(&args),
                Command::Catalog(args) => cmd::catalog::run(&args),
                Command::Finalize(args) => cmd::finalize::run(&args),
                Command::History(args) => cmd::history::run(&args),
                Command::Derive(args) => cmd::derive::run(&args),
                Command::Lineage(args) => cmd::lineage::run(&args),
            },
            Err(e) => e.exit(),
        },
    };
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::SomeFailed) => ExitCode::from(1),
        Err(err) => {
            eprintln!("error: {}", stacforge_core::href::redact(&describe(&err)));
            ExitCode::from(exit_code(&err))
        }
    }
}
