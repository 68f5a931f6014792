//! The dataset packages this binary knows, in one explicit list. Each entry
//! adds its own command-line options to `stacforge run <id>` (and to its
//! `<id> create-item`, for packages that have one), so they appear in its
//! `--help`, and builds the package from them: generic code never
//! special-cases a package by id.

use crate::array_options::{Cmip6Args, RefsArgs, SliceArgs, ZarrArgs};
use crate::options::CogArgs;
use clap::{ArgMatches, Args as _, Command, FromArgMatches};
use stacforge_core::Package;

/// One registered package.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// The package id (its subcommand).
    pub id: &'static str,
    /// The kinds of output it writes, for `stacforge list`.
    pub outputs: &'static [&'static str],
    /// Whether it has its own `stacforge <id> create-item` (the array
    /// packages' front ends are the `stacforge netcdf` verbs instead).
    pub create_item: bool,
    /// Adds the package's own options to its `create-item` command.
    pub args: fn(Command) -> Command,
    /// Builds the package from the parsed `create-item` options.
    pub build: fn(&ArgMatches) -> anyhow::Result<Box<dyn Package>>,
}

/// Options of the geotiff package.
#[derive(Debug, clap::Args)]
struct GeoTiffArgs {
    /// Describe the sources where they are, without converting them: the
    /// data asset links to the source file, with its size and checksum; no
    /// COG, no thumbnail, no pixel read. Headers are read by stacforge's own
    /// TIFF reader where it covers the file (`--engine gdal`: always GDAL).
    #[arg(long, conflicts_with_all = ["compression", "t_srs", "web_optimized"])]
    in_place: bool,
    #[command(flatten)]
    cog: CogArgs,
}

fn cog_package(
    matches: &ArgMatches,
    make: fn(stacforge_raster::CogOptions) -> Box<dyn Package>,
) -> anyhow::Result<Box<dyn Package>> {
    Ok(make(CogArgs::from_arg_matches(matches)?.to_options()?))
}

/// Every package, in the order `stacforge list` shows them.
pub fn entries() -> Vec<Entry> {
    vec![
        Entry {
            id: "geotiff",
            outputs: &["COG", "in place (--in-place)"],
            create_item: true,
            args: GeoTiffArgs::augment_args,
            build: |m| {
                let args = GeoTiffArgs::from_arg_matches(m)?;
                Ok(if args.in_place {
                    Box::new(stacforge_geotiff::GeoTiff::in_place_with(
                        args.cog.to_options()?,
                    ))
                } else {
                    Box::new(stacforge_geotiff::GeoTiff::new(args.cog.to_options()?))
                })
            },
        },
        Entry {
            id: "modis",
            outputs: &["COG"],
            create_item: true,
            args: CogArgs::augment_args,
            build: |m| cog_package(m, |cog| Box::new(stacforge_modis::Modis::new(cog))),
        },
        Entry {
            id: "imerg",
            outputs: &["COG"],
            create_item: true,
            args: CogArgs::augment_args,
            build: |m| cog_package(m, |cog| Box::new(stacforge_imerg::Imerg::new(cog))),
        },
        Entry {
            id: "netcdf",
            outputs: &["COG (2-D slices)"],
            create_item: false,
            args: SliceArgs::augment_args,
            build: |m| Ok(Box::new(SliceArgs::from_arg_matches(m)?.package()?)),
        },
        Entry {
            id: "netcdf-zarr",
            outputs: &["Zarr (v2, v3)"],
            create_item: false,
            args: ZarrArgs::augment_args,
            build: |m| Ok(Box::new(ZarrArgs::from_arg_matches(m)?.package()?)),
        },
        Entry {
            id: "netcdf-refs",
            outputs: &["references (kerchunk JSON, Parquet)"],
            create_item: false,
            args: RefsArgs::augment_args,
            build: |m| {
                let args = RefsArgs::from_arg_matches(m)?;
                if args.format == "icechunk" {
                    anyhow::bail!("--format icechunk is for `stacforge netcdf to-refs`; a run writes JSON or Parquet references per item");
                }
                Ok(Box::new(args.package()))
            },
        },
        Entry {
            id: "cmip6",
            outputs: &["Zarr (v2, v3)", "references (kerchunk JSON, Parquet)"],
            create_item: true,
            args: Cmip6Args::augment_args,
            build: |m| Ok(Box::new(Cmip6Args::from_arg_matches(m)?.package()?)),
        },
        // stacforge new-package registers packages above this line
    ]
}

impl Entry {
    /// The package with its default options (for its title and metadata).
    pub fn default_package(&self) -> anyhow::Result<Box<dyn Package>> {
        let matches = (self.args)(Command::new(self.id).no_binary_name(true))
            .try_get_matches_from(Vec::<String>::new())?;
        (self.build)(&matches)
    }
}

/// The entry with this id, if there is one.
pub fn find(id: &str) -> Option<Entry> {
    entries().into_iter().find(|e| e.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each entry builds the package it names, from its defaults and from
    /// its own options.
    #[test]
    fn entries_build_the_packages_they_name() {
        for entry in entries() {
            assert_eq!(entry.default_package().unwrap().id(), entry.id);
            let command = (entry.args)(Command::new(entry.id).no_binary_name(true));
            let has_compression = command.get_arguments().any(|a| a.get_id() == "compression");
            let has_concat = command.get_arguments().any(|a| a.get_id() == "concat_dim");
            let args: &[&str] = match (has_compression, has_concat) {
                (true, _) => &["--compression", "zstd"],
                (false, true) => &["--concat-dim", "time"],
                (false, false) => &[],
            };
            let matches = command.try_get_matches_from(args);
            assert_eq!(
                (entry.build)(&matches.unwrap()).unwrap().id(),
                entry.id,
                "{}",
                entry.id
            );
        }
        let geotiff = find("geotiff").unwrap();
        let command = (geotiff.args)(Command::new("geotiff").no_binary_name(true));
        assert!(command
            .clone()
            .try_get_matches_from(["--in-place", "--compression", "zstd"])
            .is_err());
        assert!(!find("modis")
            .map(|m| (m.args)(Command::new("modis").no_binary_name(true)))
            .unwrap()
            .get_arguments()
            .any(|a| a.get_id() == "in_place"));
    }
}
