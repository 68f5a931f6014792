//! stacforge's raster engine, on GDAL and PROJ.
//!
//! - [`inspect()`]: open a raster and describe it as a [`RasterProfile`]
//!   (shape, CRS, transform, bands, statistics, footprint), refusing rasters
//!   stacforge cannot place on Earth (rotated, GCP-only, no CRS, complex).
//! - [`cog::write_cog`]: write a Cloud-Optimized GeoTIFF through GDAL's COG
//!   driver from typed [`CogOptions`], optionally reprojected or aligned to
//!   WebMercatorQuad, atomically (temporary name, then rename).
//! - [`layout::check`]: stacforge's own COG layout checker (tiling, overview
//!   order, IFDs before data, GDAL's ghost header), in pure Rust.
//! - [`footprint`]: the valid-data footprint in WGS84.
//! - [`thumbnail::write_thumbnail`]: a small PNG preview.
//!
//! [`RasterProfile`]: stacforge_core::RasterProfile

pub mod cog;
mod error;
pub mod footprint;
mod gdal_app;
pub mod header;
pub mod inspect;
pub mod layout;
mod native;
pub mod thumbnail;

pub use cog::{CogOptions, Compression, Engine, Predictor, Resampling};
pub use error::{Error, Result, Unsupported};
pub use inspect::{inspect, inspect_counted, InspectOptions};
pub use native::ValueCounts;

/// Sets GDAL configuration that stacforge relies on; called by every entry
/// point of this crate, so calling it yourself is optional.
///
/// - No `.aux.xml` side files are written next to sources or outputs.
/// - CRSs keep the EPSG code files declare, deprecated or not.
/// - GDAL's errors are not printed: stacforge reports each failure once,
///   with the file it concerns. GDAL's warnings go to standard error, each
///   distinct message once per process.
pub fn init() {
    stacforge_core::quiet_hdf5();
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = gdal::config::set_config_option("GDAL_PAM_ENABLED", "NO");
        // Opening a file must not list its directory to look for side-car
        // files: in a folder of 2,000 sources that listing, repeated per
        // file, took a fifth of the time of in-place items. Side-car files
        // (.aux.xml, .ovr, world files) are still found, probed one by one.
        if std::env::var_os("GDAL_DISABLE_READDIR_ON_OPEN").is_none() {
            let _ = gdal::config::set_config_option("GDAL_DISABLE_READDIR_ON_OPEN", "TRUE");
        }
        // Keep the CRS a file declares: by default GDAL swaps a deprecated
        // EPSG code for its replacement on import, e.g. EPSG:3411 (NSIDC
        // polar stereographic north, Hughes 1980 ellipsoid) for EPSG:3413
        // (WGS 84), which silently moves every pixel of NSIDC grids.
        let _ = gdal::config::set_config_option("OSR_USE_NON_DEPRECATED", "NO");
        let seen = std::sync::Mutex::new(std::collections::HashSet::new());
        gdal::config::set_error_handler(move |class, _code, message| {
            if class == gdal::errors::CplErrType::Warning
                && seen.lock().is_ok_and(|mut s| s.insert(message.to_string()))
            {
                eprintln!("warning (GDAL): {message}");
            }
        });
    });
}
