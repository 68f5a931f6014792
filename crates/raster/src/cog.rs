//! Writing Cloud-Optimized GeoTIFFs: with stacforge's native writer
//! ([`crate::native`]) wherever it supports the request, through GDAL's COG
//! driver otherwise ([`Engine`]).
//!
//! [`CogOptions`] is the one typed description of a COG; it is turned into
//! GDAL option strings in exactly one place ([`CogOptions::creation_options`]).

use crate::{gdal_app, inspect, Error, Result};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every accepted name, comma separated.
            pub const NAMES: &'static str = concat!($($text, ", "),+);

            /// The name used on the command line.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(value: &str) -> Result<Self> {
                match value.to_ascii_lowercase().as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(Error::InvalidOption {
                        what: $what,
                        value: value.to_string(),
                        expected: $name::NAMES.trim_end_matches(", "),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum!(
    /// Tile compression.
    Compression, "compression", {
        /// DEFLATE (lossless; the default).
        Deflate => "deflate",
        /// Zstandard (lossless, faster).
        Zstd => "zstd",
        /// LZW (lossless, most compatible).
        Lzw => "lzw",
        /// LZMA (lossless, smallest, slow).
        Lzma => "lzma",
        /// WebP (lossy unless quality 100; 3 or 4 Byte bands).
        Webp => "webp",
        /// JPEG (lossy; Byte, 1 or 3 bands).
        Jpeg => "jpeg",
        /// LERC (lossless at max-z-error 0).
        Lerc => "lerc",
        /// LERC then DEFLATE.
        LercDeflate => "lerc_deflate",
        /// LERC then Zstandard.
        LercZstd => "lerc_zstd",
        /// No compression.
        None => "none",
    }
);

named_enum!(
    /// The TIFF predictor applied before lossless compression.
    Predictor, "predictor", {
        /// Horizontal differencing for integers, floating-point for floats.
        Auto => "auto",
        /// No predictor.
        None => "none",
        /// Horizontal differencing (TIFF predictor 2).
        Horizontal => "horizontal",
        /// Floating-point predictor (TIFF predictor 3).
        FloatingPoint => "floating-point",
    }
);

named_enum!(
    /// Resampling for overviews and reprojection.
    Resampling, "resampling", {
        /// Nearest neighbour: never invents values (right for classes and palettes).
        Nearest => "nearest",
        /// Bilinear.
        Bilinear => "bilinear",
        /// Cubic.
        Cubic => "cubic",
        /// Cubic spline.
        CubicSpline => "cubicspline",
        /// Lanczos.
        Lanczos => "lanczos",
        /// Average.
        Average => "average",
        /// Mode (most frequent value).
        Mode => "mode",
        /// Root mean square.
        Rms => "rms",
    }
);

named_enum!(
    /// Which COG writer runs.
    Engine, "engine", {
        /// stacforge's native writer wherever it supports the request, GDAL's COG driver otherwise.
        Auto => "auto",
        /// stacforge's native writer; refuses what it does not support.
        Native => "native",
        /// GDAL's COG driver.
        Gdal => "gdal",
    }
);

impl Resampling {
    /// The name GDAL uses in `-r` and `*_RESAMPLING` options.
    fn gdal_name(self) -> &'static str {
        match self {
            Resampling::Nearest => "NEAREST",
            Resampling::Bilinear => "BILINEAR",
            Resampling::Cubic => "CUBIC",
            Resampling::CubicSpline => "CUBICSPLINE",
            Resampling::Lanczos => "LANCZOS",
            Resampling::Average => "AVERAGE",
            Resampling::Mode => "MODE",
            Resampling::Rms => "RMS",
        }
    }
}

impl Compression {
    fn gdal_name(self) -> &'static str {
        match self {
            Compression::Deflate => "DEFLATE",
            Compression::Zstd => "ZSTD",
            Compression::Lzw => "LZW",
            Compression::Lzma => "LZMA",
            Compression::Webp => "WEBP",
            Compression::Jpeg => "JPEG",
            Compression::Lerc => "LERC",
            Compression::LercDeflate => "LERC_DEFLATE",
            Compression::LercZstd => "LERC_ZSTD",
            Compression::None => "NONE",
        }
    }

    fn lossy(self) -> bool {
        matches!(self, Compression::Webp | Compression::Jpeg)
    }

    fn takes_predictor(self) -> bool {
        matches!(
            self,
            Compression::Deflate | Compression::Zstd | Compression::Lzw | Compression::Lzma
        )
    }
}

/// Everything that decides what a COG looks like.
#[derive(Debug, Clone, PartialEq)]
pub struct CogOptions {
    /// Tile compression.
    pub compression: Compression,
    /// DEFLATE/ZSTD/LZMA level; GDAL's default when `None`.
    pub level: Option<u8>,
    /// JPEG/WebP quality (1–100); GDAL's default (75) when `None`.
    pub quality: Option<u8>,
    /// LERC maximum error; 0 (lossless) when `None`.
    pub max_z_error: Option<f64>,
    /// Predictor for lossless compression.
    pub predictor: Predictor,
    /// Tile width and height in pixels (a multiple of 16, at least 128).
    pub blocksize: u32,
    /// Resampling used to compute overviews.
    pub overview_resampling: Resampling,
    /// Resampling used when reprojecting.
    pub warp_resampling: Resampling,
    /// Reproject to this CRS (`EPSG:4326`, WKT, PROJ string).
    pub target_crs: Option<String>,
    /// More gdalwarp arguments (`-tr X Y`, `-cutline FILE`, `-te …`): the
    /// COG is then warped even without a target CRS.
    pub warp_extra: Vec<String>,
    /// Reproject to EPSG:3857 with tiles and overviews aligned to the
    /// WebMercatorQuad tile matrix set.
    pub web_optimized: bool,
    /// Nodata value to assign to the output (overrides the source's).
    pub nodata: Option<f64>,
    /// Compression threads; all cores when `None`.
    pub threads: Option<usize>,
    /// Which writer makes the COG.
    pub engine: Engine,
}

impl Default for CogOptions {
    fn default() -> Self {
        CogOptions {
            compression: Compression::Deflate,
            level: None,
            quality: None,
            max_z_error: None,
            predictor: Predictor::Auto,
            blocksize: 512,
            overview_resampling: Resampling::Nearest,
            warp_resampling: Resampling::Nearest,
            target_crs: None,
            warp_extra: Vec::new(),
            web_optimized: false,
            nodata: None,
            threads: None,
            engine: Engine::Auto,
        }
    }
}

impl CogOptions {
    /// Checks combinations GDAL would reject late or silently.
    pub fn validate(&self) -> Result<()> {
        if self.blocksize < 128 || !self.blocksize.is_multiple_of(16) {
            return Err(Error::InvalidOption {
                what: "block size",
                value: self.blocksize.to_string(),
                expected: "a multiple of 16, at least 128",
            });
        }
        if self.web_optimized && self.target_crs.is_some() {
            return Err(Error::InvalidOption {
                what: "combination",
                value: "--web-optimized with --t-srs".to_string(),
                expected: "one of them (web-optimized output is always EPSG:3857)",
            });
        }
        if let Some(q) = self.quality {
            if !(1..=100).contains(&q) {
                return Err(Error::InvalidOption {
                    what: "quality",
                    value: q.to_string(),
                    expected: "1 to 100",
                });
            }
        }
        if let Some(level) = self.level {
            let ok = match self.compression {
                Compression::Deflate => (1..=12).contains(&level),
                Compression::Zstd | Compression::LercZstd => (1..=22).contains(&level),
                Compression::Lzma => level <= 9,
                Compression::LercDeflate => (1..=12).contains(&level),
                _ => false,
            };
            if !ok {
                return Err(Error::InvalidOption {
                    what: "compression level",
                    value: format!("{level} for {}", self.compression),
                    expected: "deflate 1-12, zstd 1-22, lzma 0-9; no level for other compressions",
                });
            }
        }
        Ok(())
    }

    /// The COG driver's creation options, as `KEY=VALUE` strings.
    pub fn creation_options(&self) -> Vec<String> {
        let mut co = vec![
            format!("COMPRESS={}", self.compression.gdal_name()),
            format!("BLOCKSIZE={}", self.blocksize),
            format!(
                "OVERVIEW_RESAMPLING={}",
                self.overview_resampling.gdal_name()
            ),
            "BIGTIFF=IF_SAFER".to_string(),
            format!(
                "NUM_THREADS={}",
                self.threads
                    .map_or_else(|| "ALL_CPUS".to_string(), |n| n.to_string())
            ),
        ];
        if let Some(level) = self.level {
            co.push(format!("LEVEL={level}"));
        }
        if self.compression.lossy() {
            if let Some(q) = self.quality {
                co.push(format!("QUALITY={q}"));
            }
        }
        if matches!(
            self.compression,
            Compression::Lerc | Compression::LercDeflate | Compression::LercZstd
        ) {
            co.push(format!("MAX_Z_ERROR={}", self.max_z_error.unwrap_or(0.0)));
        }
        if self.compression.takes_predictor() {
            co.push(
                match self.predictor {
                    Predictor::Auto => "PREDICTOR=YES",
                    Predictor::None => "PREDICTOR=NO",
                    Predictor::Horizontal => "PREDICTOR=STANDARD",
                    Predictor::FloatingPoint => "PREDICTOR=FLOATING_POINT",
                }
                .to_string(),
            );
        }
        if self.web_optimized {
            co.push("TILING_SCHEME=GoogleMapsCompatible".to_string());
            co.push(format!(
                "WARP_RESAMPLING={}",
                self.warp_resampling.gdal_name()
            ));
        }
        co
    }

    /// `-co KEY=VALUE` pairs, then the nodata flag of the program.
    fn push_output_args(&self, args: &mut Vec<String>, nodata_flag: &str) {
        for co in self.creation_options() {
            args.push("-co".to_string());
            args.push(co);
        }
        if let Some(nodata) = self.nodata {
            args.push(nodata_flag.to_string());
            args.push(if nodata.is_nan() {
                "nan".to_string()
            } else {
                nodata.to_string()
            });
        }
    }

    /// Arguments for gdal_translate (`-of COG` and the creation options).
    pub fn translate_args(&self) -> Vec<String> {
        let mut args = vec!["-of".to_string(), "COG".to_string()];
        self.push_output_args(&mut args, "-a_nodata");
        args
    }

    /// Arguments for gdalwarp to a COG (in `target_crs`, when given), with
    /// [`CogOptions::warp_extra`].
    pub fn warp_args(&self, target_crs: Option<&str>) -> Vec<String> {
        let mut args = vec!["-of".to_string(), "COG".to_string()];
        if let Some(crs) = target_crs {
            args.extend(["-t_srs".to_string(), crs.to_string()]);
        }
        args.extend(self.warp_extra.iter().cloned());
        args.extend([
            "-r".to_string(),
            self.warp_resampling.gdal_name().to_lowercase(),
            "-multi".to_string(),
            "-wo".to_string(),
            "NUM_THREADS=ALL_CPUS".to_string(),
        ]);
        self.push_output_args(&mut args, "-dstnodata");
        args
    }
}

/// Default for [`max_raster_bytes`]: 32 GB uncompressed.
const MAX_RASTER_BYTES: u64 = 32_000_000_000;

/// The largest raster (uncompressed bytes) converted without being asked:
/// `STACFORGE_MAX_RASTER_GB` (decimal gigabytes), 32 by default.
pub fn max_raster_bytes() -> u64 {
    std::env::var("STACFORGE_MAX_RASTER_GB")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|gb| *gb > 0.0)
        .map_or(MAX_RASTER_BYTES, |gb| (gb * 1e9) as u64)
}

/// Refuses, before any work, a raster larger than [`max_raster_bytes`]: a
/// header claiming 200000 x 200000 pixels would otherwise run for hours
/// and fill the disk.
fn check_size(ds: &gdal::Dataset, src: &Path) -> Result<()> {
    let (width, height) = ds.raster_size();
    let bands = ds.raster_count();
    let item = (1..=bands)
        .filter_map(|b| ds.rasterband(b).ok())
        .map(|b| u64::from(b.band_type().bytes()))
        .max()
        .unwrap_or(1);
    let bytes = (width as u64)
        .saturating_mul(height as u64)
        .saturating_mul(bands as u64)
        .saturating_mul(item);
    let limit = max_raster_bytes();
    if bytes > limit {
        return Err(Error::Unsupported {
            path: src.to_path_buf(),
            reason: crate::error::Unsupported::TooLarge {
                width,
                height,
                bands,
                bytes,
                limit,
            },
        });
    }
    Ok(())
}

/// A file name in the destination's directory that no reader expects.
fn partial_path(dst: &Path) -> PathBuf {
    stacforge_core::fs::hidden_sibling(dst, "partial", ".tif")
}

/// Removes a partial output and any side files GDAL left beside it.
fn remove_partial(partial: &Path) {
    let _ = std::fs::remove_file(partial);
    if let (Some(dir), Some(name)) = (partial.parent(), partial.file_name()) {
        let prefix = name.to_string_lossy().into_owned();
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}

/// Writes `src` as a COG at `dst` (see [`write_cog`]) and returns it as
/// the artifact `key`: its raster profile read back from the COG
/// (statistics and valid-data footprint), header size, size and checksum.
/// The one call a raster package's `convert` needs per output.
pub fn cog_artifact(
    key: &str,
    src: &Path,
    dst: &Path,
    options: &CogOptions,
) -> stacforge_core::Result<stacforge_core::Artifact> {
    let report = write_cog(src, dst, options)?;
    let profile = inspect::inspect(dst, &inspect::InspectOptions::default())?;
    let mut artifact = stacforge_core::Artifact::from_file(
        key,
        dst,
        stacforge_core::artifact::COG_MEDIA_TYPE,
        &["data"],
    )?;
    artifact.header_size = Some(report.header_size);
    artifact.raster = Some(profile);
    Ok(artifact)
}

/// The native writer's plan when it is to write this COG; `None` for GDAL's
/// COG driver. With [`Engine::Auto`], a source the native writer cannot
/// handle goes to GDAL with one line on standard error saying why (once per
/// reason and process); with [`Engine::Native`] it is refused.
fn choose_engine(
    ds: &gdal::Dataset,
    src: &Path,
    options: &CogOptions,
) -> Result<Option<crate::native::Plan>> {
    if options.engine == Engine::Gdal {
        return Ok(None);
    }
    match crate::native::plan(ds, options) {
        Ok(plan) => Ok(Some(plan)),
        Err(reason) if options.engine == Engine::Native => Err(Error::InvalidOption {
            what: "engine",
            value: format!("native for {}: {reason}", src.display()),
            expected: "auto or gdal for this source and these options",
        }),
        Err(reason) => {
            static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
            let mut said = SAID.lock().unwrap_or_else(|p| p.into_inner());
            if !said.contains(&reason) {
                eprintln!(
                    "note: {}: {reason}, so GDAL's COG driver writes it (the native writer does not)",
                    src.display()
                );
                said.push(reason);
            }
            Ok(None)
        }
    }
}

/// Writes `src` as a COG at `dst` and returns its layout report.
///
/// The source is checked first (north-up, CRS, real bands). The COG is
/// written under a temporary name in the same directory, checked with
/// stacforge's layout checker, and renamed into place only when complete and
/// valid, so `dst` never holds a partial or invalid file.
pub fn write_cog(src: &Path, dst: &Path, options: &CogOptions) -> Result<crate::layout::Report> {
    write_cog_counted(src, dst, options, false).map(|(report, _)| report)
}

/// [`write_cog`]; with `count`, the native writer also counts every value
/// of 8- and 16-bit integer sources as it writes them (`None` otherwise, or
/// when GDAL's driver wrote the COG), for statistics without a second read.
pub fn write_cog_counted(
    src: &Path,
    dst: &Path,
    options: &CogOptions,
    count: bool,
) -> Result<(crate::layout::Report, Option<crate::ValueCounts>)> {
    encode_cog(src, dst, options, count)?.finish()
}

/// The first half of [`write_cog_counted`]: the source read and every tile
/// compressed (by the native writer, in memory; GDAL's driver writes its
/// partial file). [`PendingCog::finish`] writes, checks and renames it into
/// place, and may run on another thread while the next source is encoded:
/// `cogify` over many sources keeps every core compressing that way.
pub fn encode_cog(src: &Path, dst: &Path, options: &CogOptions, count: bool) -> Result<PendingCog> {
    options.validate()?;
    let ds = inspect::open(src)?;
    inspect::check_georeferencing(&ds, src)?;
    check_size(&ds, src)?;
    let partial = partial_path(dst);
    // Removed if the run is interrupted (the COG driver's temporary
    // overviews too); renamed away when the COG is complete.
    let cleanup = [
        stacforge_core::fs::Cleanup::new(partial.clone()),
        stacforge_core::fs::Cleanup::new(PathBuf::from(format!("{}.ovr.tmp", partial.display()))),
    ];
    let mut native = choose_engine(&ds, src, options)?;
    if let Some(plan) = native.as_mut() {
        plan.count = count;
    }
    let mut pending = PendingCog {
        src: src.to_path_buf(),
        dst: dst.to_path_buf(),
        partial,
        encoded: None,
        _cleanup: cleanup,
    };
    let written = if let Some(plan) = &native {
        crate::native::encode(&ds, src, dst, plan, options).map(|e| pending.encoded = Some(e))
    } else if options.target_crs.is_some() || !options.warp_extra.is_empty() {
        gdal_app::warp(
            &ds,
            &pending.partial,
            &options.warp_args(options.target_crs.as_deref()),
        )
    } else {
        gdal_app::translate(&ds, &pending.partial, &options.translate_args())
    };
    match written {
        Ok(()) => Ok(pending),
        Err(e) => Err(pending.failed(e)),
    }
}

/// A COG encoded by [`encode_cog`], not yet in place.
#[derive(Debug)]
pub struct PendingCog {
    src: PathBuf,
    dst: PathBuf,
    partial: PathBuf,
    /// The native writer's tiles; `None` when GDAL wrote `partial`.
    encoded: Option<crate::native::Encoded>,
    _cleanup: [stacforge_core::fs::Cleanup; 2],
}

impl PendingCog {
    /// Writes the COG under its temporary name, checks its layout and
    /// renames it into place; its layout report, and the value counts the
    /// native writer kept.
    pub fn finish(mut self) -> Result<(crate::layout::Report, Option<crate::ValueCounts>)> {
        let encoded = self.encoded.take();
        let written = match &encoded {
            Some(e) => e.write(&self.partial),
            None => Ok(()),
        };
        let renamed = written
            .and_then(|()| crate::layout::check(&self.partial))
            .and_then(|report| {
                if !report.is_valid() {
                    return Err(Error::Gdal {
                        path: self.src.clone(),
                        action: "writing a COG that passes the layout check",
                        message: report.errors.join("; "),
                    });
                }
                std::fs::rename(&self.partial, &self.dst).map_err(|source| Error::Io {
                    path: self.dst.clone(),
                    source,
                })?;
                Ok(report)
            });
        match renamed {
            Ok(report) => Ok((report, encoded.and_then(|e| e.counts))),
            Err(e) => Err(self.failed(e)),
        }
    }

    /// `e`, with the partial output removed; a full disk is named as such
    /// (GDAL may report it only as a short file) and GDAL's errors name the
    /// source.
    fn failed(&self, e: Error) -> Error {
        let full = stacforge_core::fs::nearly_full(&self.partial);
        remove_partial(&self.partial);
        if full {
            return Error::Io {
                path: self.dst.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "the disk is full: no space left to write the COG",
                ),
            };
        }
        match e {
            Error::Gdal {
                action, message, ..
            } => Error::Gdal {
                path: self.src.clone(),
                action,
                message,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_render() {
        assert_eq!("ZSTD".parse::<Compression>().unwrap(), Compression::Zstd);
        let err = "brotli".parse::<Compression>().unwrap_err().to_string();
        assert!(err.contains("deflate, zstd"), "{err}");
        let opts = CogOptions {
            compression: Compression::Zstd,
            level: Some(9),
            ..CogOptions::default()
        };
        opts.validate().unwrap();
        let co = opts.creation_options();
        assert!(co.contains(&"COMPRESS=ZSTD".to_string()));
        assert!(co.contains(&"LEVEL=9".to_string()));
        assert!(co.contains(&"PREDICTOR=YES".to_string()));
        let jpeg = CogOptions {
            compression: Compression::Jpeg,
            quality: Some(90),
            ..CogOptions::default()
        };
        let co = jpeg.creation_options();
        assert!(co.contains(&"QUALITY=90".to_string()));
        assert!(!co.iter().any(|c| c.starts_with("PREDICTOR")));
    }

    #[test]
    fn invalid_combinations_are_refused() {
        let bad_level = CogOptions {
            level: Some(30),
            ..CogOptions::default()
        };
        assert!(bad_level.validate().is_err());
        let bad_block = CogOptions {
            blocksize: 100,
            ..CogOptions::default()
        };
        assert!(bad_block.validate().is_err());
        let both = CogOptions {
            web_optimized: true,
            target_crs: Some("EPSG:4326".into()),
            ..CogOptions::default()
        };
        assert!(both.validate().is_err());
    }
}
