//! The model at the centre of stacforge.
//!
//! This crate knows STAC and the [`Package`] trait, and nothing about GDAL,
//! netCDF or object storage. Conversion fills typed profiles
//! ([`RasterProfile`], [`CubeProfile`]); describing turns profiles into STAC without opening a
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
pub mod cube;
mod error;
pub mod extension;
pub mod fs;
pub mod href;
pub mod item;
pub mod package;
pub mod profile;
pub mod provenance;
pub mod render;
pub mod source;
pub mod timing;

pub use artifact::Artifact;
pub use cube::CubeProfile;
pub use error::{Error, Result};
pub use package::{Job, Package, Unit};
pub use profile::{BandProfile, Crs, DataType, Footprint, Histogram, RasterProfile, Statistics};
pub use source::Source;
pub use timing::Timing;

/// The name and version of this software, as recorded in `processing:software`.
pub const SOFTWARE: (&str, &str) = ("stacforge", env!("CARGO_PKG_VERSION"));

/// Turns off HDF5's automatic error printing in the calling thread.
///
/// netCDF-C (and GDAL's HDF5 driver) turn it off when they initialise, but
/// Debian's HDF5 is built thread-safe, which makes the setting per thread:
/// without this, a file read from another thread prints HDF5's internal
/// error stacks (netCDF-C probing attributes that do not exist, such as
/// `_QuantizeBitGroomNumberOfSignificantDigits`) to standard error. The
/// function is looked up at run time, so this crate links no HDF5; it does
/// nothing in a process without HDF5.
pub fn quiet_hdf5() {
    thread_local! {
        static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if QUIET.with(|q| q.replace(true)) {
        return;
    }
    type SetAuto = unsafe extern "C" fn(i64, *const std::ffi::c_void, *mut std::ffi::c_void) -> i32;
    // SAFETY: H5Eset_auto2 is looked up among the libraries already loaded;
    // its C signature is (hid_t estack_id, H5E_auto2_t func, void
    // *client_data) with hid_t a 64-bit integer since HDF5 1.10, and
    // (H5E_DEFAULT = 0, NULL, NULL) disables printing for this thread.
    unsafe {
        let symbol = libc::dlsym(libc::RTLD_DEFAULT, c"H5Eset_auto2".as_ptr());
        if !symbol.is_null() {
            let set_auto = std::mem::transmute::<*mut libc::c_void, SetAuto>(symbol);
            set_auto(0, std::ptr::null(), std::ptr::null_mut());
        }
    }
}
