use std::fmt;
use std::path::PathBuf;

/// Why a raster cannot be turned into a georeferenced COG and item.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Unsupported {
    /// The raster has no bands.
    NoBands,
    /// The raster has no coordinate reference system.
    NoCrs,
    /// Only ground control points place the raster; there is no geotransform.
    GcpOnly {
        /// How many GCPs the file has.
        count: usize,
    },
    /// No geotransform and no GCPs.
    NotGeoreferenced,
    /// The geotransform has rotation or shear terms.
    Rotated {
        /// The geotransform.
        geotransform: [f64; 6],
    },
    /// A band has a complex data type.
    Complex {
        /// 1-based band index.
        band: usize,
        /// GDAL's name of the type.
        data_type: String,
    },
    /// Larger than the configured limit (`STACFORGE_MAX_RASTER_GB`).
    TooLarge {
        /// Pixels across.
        width: usize,
        /// Pixels down.
        height: usize,
        /// Bands.
        bands: usize,
        /// Uncompressed bytes.
        bytes: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// A data type STAC and COG cannot carry.
    DataType {
        /// 1-based band index.
        band: usize,
        /// GDAL's name of the type.
        data_type: String,
    },
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsupported::NoBands => write!(f, "the dataset has no raster bands"),
            Unsupported::NoCrs => write!(
                f,
                "the raster has no coordinate reference system; assign one first (gdal_edit.py -a_srs EPSG:XXXX)"
            ),
            Unsupported::GcpOnly { count } => write!(
                f,
                "the raster is georeferenced by {count} ground control points only, not by a geotransform; rectify it first (gdalwarp)"
            ),
            Unsupported::NotGeoreferenced => write!(
                f,
                "the raster has no geotransform and no ground control points, so it cannot be placed on Earth"
            ),
            Unsupported::Rotated { geotransform: g } => write!(
                f,
                "the geotransform is rotated or sheared (row rotation {}, column rotation {}); COGs and STAC need a north-up grid: warp it first (gdalwarp)",
                g[2], g[4]
            ),
            Unsupported::Complex { band, data_type } => write!(
                f,
                "band {band} has the complex data type {data_type}, which neither COG readers nor STAC raster metadata support; split it into real and imaginary parts first"
            ),
            Unsupported::TooLarge {
                width,
                height,
                bands,
                bytes,
                limit,
            } => write!(
                f,
                "the raster is {width} x {height} pixels x {bands} band(s), {:.1} GB uncompressed, more than the limit of {:.1} GB; nothing was written (raise the limit with STACFORGE_MAX_RASTER_GB if this is intended)",
                *bytes as f64 / 1e9,
                *limit as f64 / 1e9
            ),
            Unsupported::DataType { band, data_type } => {
                write!(f, "band {band} has the unsupported data type {data_type}")
            }
        }
    }
}

/// What can go wrong in the raster engine. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// GDAL could not open the file as a raster.
    #[error("{}: not a raster GDAL can read: {message}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// GDAL's message.
        message: String,
    },

    /// The raster opened but cannot be converted.
    #[error("{}: {reason}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: Unsupported,
    },

    /// A GDAL call failed part-way.
    #[error("{}: GDAL failed while {action}: {message}", path.display())]
    Gdal {
        /// The file.
        path: PathBuf,
        /// What stacforge was doing.
        action: &'static str,
        /// GDAL's message.
        message: String,
    },

    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The file is not a TIFF, or its structure is broken.
    #[error("{}: not a readable TIFF: {reason}", path.display())]
    Tiff {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A CRS could not be understood or transformed.
    #[error("{}: cannot use the coordinate reference system: {message}", path.display())]
    Crs {
        /// The file.
        path: PathBuf,
        /// The message from GDAL or PROJ.
        message: String,
    },

    /// An option value that stacforge does not know.
    #[error("invalid {what} {value:?}; expected one of: {expected}")]
    InvalidOption {
        /// Which option.
        what: &'static str,
        /// The value given.
        value: String,
        /// The accepted values.
        expected: &'static str,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl From<Error> for stacforge_core::Error {
    fn from(err: Error) -> Self {
        stacforge_core::Error::Convert(Box::new(err))
    }
}
