//! The model at the centre of stacforge.
//!
//! This crate knows STAC and the [`Package`] trait, and nothing about GDAL,
//! netCDF or object storage. Conversion fills typed profiles
//! ([`RasterProfile`]); describing turns profiles into STAC without opening a
//! file, so it can be tested without any C library.
//!
//! ```
//! use stacforge_core::checksum::sha256_multihash;
//! assert_eq!(
//!     sha256_multihash(&b""[..]).unwrap(),
//!     "1220e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
//! );
//! ```

pub mod artifact;
pub mod checksum;
mod error;
pub mod extension;
pub mod item;
pub mod package;
pub mod profile;
pub mod provenance;
pub mod source;
pub mod timing;

pub use artifact::Artifact;
pub use error::{Error, Result};
pub use package::{Job, Package};
pub use profile::{BandProfile, Crs, DataType, Footprint, RasterProfile, Statistics};
pub use source::Source;
pub use timing::Timing;

/// The name and version of this software, as recorded in `processing:software`.
pub const SOFTWARE: (&str, &str) = ("stacforge", env!("CARGO_PKG_VERSION"));
