use std::path::PathBuf;

/// What can go wrong in the model: reading a source, a missing datetime,
/// a STAC document that cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A source or artifact could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A directory was given where a file is expected.
    #[error("{}: is a directory, not a file", path.display())]
    IsADirectory {
        /// The directory.
        path: PathBuf,
    },

    /// A source file has no bytes.
    #[error("{}: is empty (0 bytes)", path.display())]
    Empty {
        /// The empty file.
        path: PathBuf,
    },

    /// Neither the file's metadata nor the user gave a datetime.
    #[error("{href}: the file's metadata has no acquisition date or time; pass --datetime (an RFC 3339 instant or START/END)")]
    MissingDatetime {
        /// The source without a datetime.
        href: String,
    },

    /// A datetime string could not be parsed.
    #[error("invalid datetime {value:?}: {reason}")]
    InvalidDatetime {
        /// The text given.
        value: String,
        /// Why it was refused.
        reason: String,
    },

    /// An item or asset id that cannot be used as a path segment.
    #[error("invalid id {id:?}: {reason}")]
    InvalidId {
        /// The id.
        id: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// A package's static metadata file is not valid.
    #[error("package {package}: invalid static metadata: {source}")]
    Metadata {
        /// The package id.
        package: &'static str,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },

    /// An artifact lacks the profile its describing step needs.
    #[error("artifact {key:?} has no {expected} profile; the package's convert must set it")]
    Profile {
        /// The artifact's key.
        key: String,
        /// The kind of profile expected.
        expected: &'static str,
    },

    /// A package cannot group the sources it was given into units.
    #[error("{reason}")]
    Plan {
        /// Why, naming the sources concerned.
        reason: String,
    },

    /// A conversion step of a package failed; the inner error names the file.
    #[error(transparent)]
    Convert(Box<dyn std::error::Error + Send + Sync>),
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
