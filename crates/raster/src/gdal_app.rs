//! The gdal_translate and gdalwarp library calls, wrapped once.
//!
//! The safe `gdal` crate has no translate/warp API, so these call `gdal-sys`
//! directly; this is the only module with `unsafe` code.

use crate::{Error, Result};
use gdal::Dataset;
use std::ffi::{c_char, CStr, CString};
use std::path::Path;
use std::ptr;

/// GDAL's last error message on this thread.
pub(crate) fn last_error() -> String {
    // SAFETY: CPLGetLastErrorMsg returns a pointer to a thread-local,
    // NUL-terminated buffer owned by GDAL, valid until the next GDAL call.
    let msg = unsafe { CStr::from_ptr(gdal_sys::CPLGetLastErrorMsg()) };
    let msg = msg.to_string_lossy().trim().to_string();
    if msg.is_empty() {
        "no message from GDAL".to_string()
    } else {
        msg
    }
}

fn reset_error() {
    // SAFETY: resets this thread's GDAL error state; no pointers involved.
    unsafe { gdal_sys::CPLErrorReset() };
}

/// A NULL-terminated argv for GDAL's *OptionsNew functions.
struct Argv {
    _owned: Vec<CString>,
    ptrs: Vec<*mut c_char>,
}

impl Argv {
    fn new(args: &[String], path: &Path) -> Result<Argv> {
        let owned = args
            .iter()
            .map(|a| {
                CString::new(a.as_str()).map_err(|_| Error::InvalidOption {
                    what: "GDAL argument",
                    value: a.clone(),
                    expected: "text without NUL bytes",
                })
            })
            .collect::<Result<Vec<_>>>()
            .map_err(|e| Error::Gdal {
                path: path.to_path_buf(),
                action: "preparing options",
                message: e.to_string(),
            })?;
        let mut ptrs: Vec<*mut c_char> = owned.iter().map(|c| c.as_ptr() as *mut c_char).collect();
        ptrs.push(ptr::null_mut());
        Ok(Argv {
            _owned: owned,
            ptrs,
        })
    }
}

fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.to_string_lossy().as_bytes()).map_err(|_| Error::Gdal {
        path: path.to_path_buf(),
        action: "preparing the output path",
        message: "the path contains a NUL byte".to_string(),
    })
}

/// `gdal_translate ARGS SRC DST`; the output is closed (flushed) on return.
pub(crate) fn translate(src: &Dataset, dst: &Path, args: &[String]) -> Result<()> {
    let argv = Argv::new(args, dst)?;
    let dst_c = c_path(dst)?;
    reset_error();
    // SAFETY: argv.ptrs is a NULL-terminated array of valid C strings that
    // outlives the call; the options handle is freed exactly once; the source
    // dataset handle is valid for the borrow of `src`; a non-null result is a
    // dataset we own and close.
    unsafe {
        let opts = gdal_sys::GDALTranslateOptionsNew(argv.ptrs.as_ptr() as *mut _, ptr::null_mut());
        if opts.is_null() {
            return Err(Error::Gdal {
                path: dst.to_path_buf(),
                action: "parsing gdal_translate options",
                message: last_error(),
            });
        }
        let mut usage_error = 0;
        let out = gdal_sys::GDALTranslate(dst_c.as_ptr(), src.c_dataset(), opts, &mut usage_error);
        gdal_sys::GDALTranslateOptionsFree(opts);
        if out.is_null() {
            return Err(Error::Gdal {
                path: dst.to_path_buf(),
                action: "translating",
                message: last_error(),
            });
        }
        gdal_sys::GDALClose(out);
    }
    Ok(())
}

/// `gdalwarp ARGS SRC DST`; the output is closed (flushed) on return.
pub(crate) fn warp(src: &Dataset, dst: &Path, args: &[String]) -> Result<()> {
    let argv = Argv::new(args, dst)?;
    let dst_c = c_path(dst)?;
    reset_error();
    // SAFETY: as in `translate`; GDALWarp takes an array of one source handle
    // that lives on the stack for the duration of the call.
    unsafe {
        let opts = gdal_sys::GDALWarpAppOptionsNew(argv.ptrs.as_ptr() as *mut _, ptr::null_mut());
        if opts.is_null() {
            return Err(Error::Gdal {
                path: dst.to_path_buf(),
                action: "parsing gdalwarp options",
                message: last_error(),
            });
        }
        let mut sources = [src.c_dataset()];
        let mut usage_error = 0;
        let out = gdal_sys::GDALWarp(
            dst_c.as_ptr(),
            ptr::null_mut(),
            1,
            sources.as_mut_ptr(),
            opts,
            &mut usage_error,
        );
        gdal_sys::GDALWarpAppOptionsFree(opts);
        if out.is_null() {
            return Err(Error::Gdal {
                path: dst.to_path_buf(),
                action: "warping",
                message: last_error(),
            });
        }
        gdal_sys::GDALClose(out);
    }
    Ok(())
}

/// Exports a spatial reference as single-line WKT2 (2019).
pub(crate) fn wkt2(srs: &gdal::spatial_ref::SpatialRef) -> Option<String> {
    let opts = [
        c"FORMAT=WKT2_2019".as_ptr(),
        c"MULTILINE=NO".as_ptr(),
        ptr::null(),
    ];
    let mut out: *mut c_char = ptr::null_mut();
    // SAFETY: the handle is valid for the borrow of `srs`; the options array
    // is NULL-terminated; GDAL allocates `out`, which we free with VSIFree.
    unsafe {
        let err = gdal_sys::OSRExportToWktEx(srs.to_c_hsrs(), &mut out, opts.as_ptr() as *mut _);
        if out.is_null() {
            return None;
        }
        let text = CStr::from_ptr(out).to_string_lossy().into_owned();
        gdal_sys::VSIFree(out as *mut _);
        (err == gdal_sys::OGRErr::OGRERR_NONE).then_some(text)
    }
}

/// Exact statistics of a band's valid pixels, always computed from the
/// pixels (never the `STATISTICS_*` metadata a file may carry, which other
/// tools often wrote without honouring nodata). `None` when no pixel is valid.
pub(crate) fn compute_statistics(band: &gdal::raster::RasterBand) -> Option<[f64; 4]> {
    let (mut min, mut max, mut mean, mut std) = (0.0, 0.0, 0.0, 0.0);
    reset_error();
    // SAFETY: the band handle is valid for the borrow of `band`; the output
    // pointers are valid locals; no progress callback.
    let err = unsafe {
        gdal_sys::GDALComputeRasterStatistics(
            band.c_rasterband(),
            0,
            &mut min,
            &mut max,
            &mut mean,
            &mut std,
            None,
            ptr::null_mut(),
        )
    };
    (err == gdal_sys::CPLErr::CE_None).then_some([min, max, mean, std])
}
