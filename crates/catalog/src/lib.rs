//! stacforge's catalog layer: where items, assets and collections go.
//!
//! - [`Catalog`]: a static catalog behind any object store (a directory,
//!   `file://`, `s3://`, `gs://`, `az://`, `memory://`; see [`location`]), laid out as `collection.json` and
//!   `items/<id>/<id>.json` beside the item's assets, with self-contained
//!   relative links. Assets are written first, the item JSON after them and
//!   the collection last, each object atomically.
//! - [`source::from_stac_item`]: a source given as a STAC item resolves to
//!   its data asset, so the new item can link back with `derived_from`.
//! - [`publish::publish`]: a local catalog copied to any location, assets
//!   first and the collection last, skipping what is already there.
//! - [`api::publish_to_api`]: the collection and items registered in a STAC
//!   API through its Transactions extension, idempotently.
//! - [`export::export`]: the items as ndjson or stac-geoparquet, for bulk
//!   loading.
//! - [`validate::Validator`]: STAC validation against the official JSON
//!   schemas, offline, from a local schema folder.

pub mod api;
mod error;
pub mod export;
pub mod layout;
pub mod lineage;
pub mod location;
pub mod publish;
pub mod source;
mod store;
pub mod summary;
pub use store::is_metadata;
pub mod validate;

pub use error::{transient_io, Error, Result};
pub use store::{Catalog, Object};
