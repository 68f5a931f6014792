/// What can go wrong while reading, writing or validating a catalog.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object store refused or failed an operation.
    #[error("{location}: {source}")]
    Store {
        /// The object or catalog concerned.
        location: String,
        /// The underlying error.
        #[source]
        source: object_store::Error,
    },

    /// A local file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A document is not valid JSON or not the STAC object expected.
    #[error("{location}: not a valid STAC document: {source}")]
    Json {
        /// The document.
        location: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },

    /// A location stacforge cannot write to.
    #[error("{location}: {reason}")]
    Location {
        /// The location given.
        location: String,
        /// Why it cannot be used.
        reason: String,
    },

    /// A STAC API could not be reached or refused a request.
    #[error("STAC API {url}: {message}")]
    Api {
        /// The request URL.
        url: String,
        /// What happened (credentials removed).
        message: String,
    },

    /// A schema needed for validation has no local copy.
    #[error("schema {url}: no local copy under {} (looked for {})", root.display(), expected.display())]
    MissingSchema {
        /// The schema URL.
        url: String,
        /// The schema folder.
        root: std::path::PathBuf,
        /// The file that was expected.
        expected: std::path::PathBuf,
    },

    /// A schema could not be compiled.
    #[error("schema {url}: {message}")]
    Schema {
        /// The schema URL.
        url: String,
        /// Why it failed.
        message: String,
    },

    /// An id or a model error from the core.
    #[error(transparent)]
    Core(#[from] stacforge_core::Error),

    /// An artifact would take the name of its item's own document.
    #[error("item {id}: an asset file cannot be named {name:?}, the item document's own name; the package must name it otherwise")]
    AssetName {
        /// The item id.
        id: String,
        /// The artifact's file name.
        name: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Whether trying again may succeed: a network or service failure of
    /// the object store (after its own retries), or an interrupted or
    /// timed-out local operation. A missing object, a refusal or bad
    /// content is not.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Store { source, .. } => matches!(source, object_store::Error::Generic { .. }),
            Error::Io { source, .. } => transient_io(source),
            _ => false,
        }
    }
}

/// Whether an I/O error is one a retry can cure (timeouts, interruptions,
/// dropped connections), not a missing or unreadable file.
pub fn transient_io(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        error.kind(),
        TimedOut
            | Interrupted
            | WouldBlock
            | ConnectionReset
            | ConnectionAborted
            | ConnectionRefused
            | NotConnected
            | BrokenPipe
    )
}
