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
//!   store through [`zarr`].

pub mod cf;
pub mod chunks;
mod dtype;
mod error;
pub mod inventory;
pub mod nc3;
pub mod recipe;
pub mod refs;
pub mod zarr;

pub use dtype::ElementType;
pub use error::{Error, Result};
pub use inventory::{Inventory, Variable};
