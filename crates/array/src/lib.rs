//! stacforge's array engine: NetCDF-3/4 and HDF5 files read through netCDF-C,
//! CF conventions decoded (time axes and calendars, fill values, packing,
//! grid mappings), and Zarr stores written from many files at once or
//! appended to, in bounded memory.
//!
//! The pieces, in the order data flows through them:
//! - [`inventory`]: what a file holds (dimensions, variables, attributes),
//!   read without reading the data;
//! - [`cf`]: CF decoding of time axes, grid mappings and coordinate axes;
//! - [`recipe`]: many sources combined along one dimension, checked for
//!   consistency, planned into chunks and written (or appended) to a Zarr
//!   store through [`zarr`];
//! - [`refs`]: kerchunk references (virtual Zarr) to the sources' chunks;
//! - [`repo`]: Icechunk repositories holding stores or references as
//!   versioned snapshots, one commit per write or append;
//! - [`grid`]: a variable's horizontal grid placed on Earth (axes, CRS from
//!   the CF grid mapping, footprint);
//! - [`cube`]: the [`stacforge_core::CubeProfile`] of a store or of
//!   references, from which STAC is built without opening them again;
//! - [`slices`]: 2-D slices of a file written as COGs.

pub mod cf;
pub mod chunks;
pub mod cube;
mod dtype;
mod error;
pub mod grid;
pub mod inventory;
pub mod nc3;
pub mod recipe;
pub mod refs;
pub mod repo;
pub mod slices;
pub mod subset;
pub mod zarr;
pub mod zonal;

pub use dtype::ElementType;
pub use error::{Error, Result};
pub use inventory::{Inventory, Variable};
