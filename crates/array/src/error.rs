//! Errors of the array engine; each names the file or store it is about.

use std::path::PathBuf;

/// Result with the array engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, with the file it went wrong in.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum Error {
    #[error("{}: not a readable NetCDF/HDF5 file: {message}", path.display())]
    Open { path: PathBuf, message: String },
    #[error("{}: reading {what}: {message}", path.display())]
    Read {
        path: PathBuf,
        what: String,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    Unsupported { path: PathBuf, message: String },
    #[error("{}: time axis `{variable}`: {message}", path.display())]
    Time {
        path: PathBuf,
        variable: String,
        message: String,
    },
    #[error("{} and {} differ: {difference}", first.display(), second.display())]
    Mismatch {
        first: PathBuf,
        second: PathBuf,
        difference: String,
    },
    #[error("{}: {message}", path.display())]
    Append { path: PathBuf, message: String },
    #[error("{}: {message}", store.display())]
    Store { store: PathBuf, message: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Another writer committed to an Icechunk repository first.
    #[error("{}: conflict: {message}", store.display())]
    Conflict { store: PathBuf, message: String },
    #[error("no sources were given")]
    NoSources,
    #[error("no source can be read ({count} tried); the first: {first}")]
    NoReadableSource { count: usize, first: Box<Error> },
    #[error("no source has a time step in the requested date range")]
    NothingInRange,
    #[error("{}: it has no record (unlimited) or time dimension to concatenate along; give one with --concat-dim", path.display())]
    NoConcatDim { path: PathBuf },
    #[error("{}: it is concatenated along `{stored}`, not `{requested}`", store.display())]
    OtherConcatDim {
        store: PathBuf,
        stored: String,
        requested: String,
    },
    /// A variable's grid cannot be placed on Earth (its coordinates or
    /// grid mapping).
    #[error("{}: {message}", path.display())]
    Grid { path: PathBuf, message: String },
    #[error(transparent)]
    Core(#[from] stacforge_core::Error),
    #[error(transparent)]
    Raster(#[from] stacforge_raster::Error),
    #[error("{}: GDAL: {source}", path.display())]
    Gdal {
        path: PathBuf,
        source: gdal::errors::GdalError,
    },
}

/// The length of the file at `path`, an error naming it when it cannot be read.
pub(crate) fn file_len(path: &std::path::Path) -> Result<u64> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
}
