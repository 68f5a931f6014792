//! stacforge's generic NetCDF/HDF5 packages, thin over the array engine
//! (`stacforge_array`) and core's datacube STAC:
//!
//! - [`NetCdf`] (`netcdf`): 2-D slices as COGs, one item per file
//!   (`stacforge netcdf to-cog`);
//! - [`NetCdfZarr`] (`netcdf-zarr`): a file series into one Zarr store,
//!   one item (`stacforge netcdf to-zarr`);
//! - [`NetCdfRefs`] (`netcdf-refs`): a file series as kerchunk references,
//!   one item (`stacforge netcdf to-refs`).

pub mod cog;
pub mod cube;

pub use cog::NetCdf;
pub use cube::{NetCdfRefs, NetCdfZarr};
pub use stacforge_array::slices::SliceOptions;

/// The packages' static collection metadata.
pub fn collection() -> stacforge_core::Result<stac::Collection> {
    stacforge_core::package::static_collection("netcdf", include_str!("../data/collection.json"))
}
