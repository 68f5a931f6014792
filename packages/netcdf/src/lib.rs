//! stacforge's generic NetCDF/HDF5 package.
//!
//! - [`cube::describe_store`]: STAC for a Zarr store made by a recipe
//!   (`stacforge netcdf to-zarr`), with the datacube extension.
//! - [`grid`]: a variable's horizontal grid (axes, CRS from the CF grid
//!   mapping, georeferencing, footprint).
//! - [`slices`]: 2-D slices as COGs (`stacforge netcdf to-cog`); dataset
//!   packages such as `stacforge-imerg` build on them.

pub mod cube;
pub mod grid;
pub mod slices;

pub use slices::{NetCdf, SliceOptions};

use std::path::PathBuf;

/// Result with this package's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)]
pub enum Error {
    #[error(transparent)]
    Array(#[from] stacforge_array::Error),
    #[error(transparent)]
    Raster(#[from] stacforge_raster::Error),
    #[error(transparent)]
    Core(#[from] stacforge_core::Error),
    #[error("GDAL: {0}")]
    Gdal(#[from] gdal::errors::GdalError),
    #[error("{}: {message}", path.display())]
    Grid { path: PathBuf, message: String },
    #[error("building STAC: {0}")]
    Stac(String),
}

/// The package's static collection metadata.
pub fn collection() -> stacforge_core::Result<stac::Collection> {
    stacforge_core::package::static_collection("netcdf", include_str!("../data/collection.json"))
}
