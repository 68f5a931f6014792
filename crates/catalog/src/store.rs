use crate::{layout, layout::ItemSummary, Error, Result};
use futures::TryStreamExt;
use object_store::{
    buffered::BufWriter, local::LocalFileSystem, path::Path as ObjectPath, ObjectStore,
    ObjectStoreExt, PutPayload,
};
use stac::{Collection, Item};
use stacforge_core::{package::validate_id, Artifact};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// A static STAC catalog (one collection and its items) in an object store.
///
/// Writes are atomic per object: a reader never sees a half-written asset
/// or document at its published path.
#[derive(Debug)]
pub struct Catalog {
    store: Arc<dyn ObjectStore>,
    location: String,
    runtime: tokio::runtime::Runtime,
}

impl Catalog {
    /// Opens (and creates if needed) the catalog at `location`: a directory
    /// path or a `file://` URL.
    pub fn open(location: &str) -> Result<Catalog> {
        let path = match location.split_once("://") {
            None => std::path::PathBuf::from(location),
            Some(("file", rest)) => std::path::PathBuf::from(rest),
            Some((scheme, _)) => {
                return Err(Error::Location {
                    location: location.to_string(),
                    reason: format!(
                        "{scheme}:// is not supported yet; use a directory or a file:// URL"
                    ),
                })
            }
        };
        std::fs::create_dir_all(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let store = LocalFileSystem::new_with_prefix(&path).map_err(|source| Error::Store {
            location: location.to_string(),
            source,
        })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        Ok(Catalog {
            store: Arc::new(store),
            location: location.trim_end_matches('/').to_string(),
            runtime,
        })
    }

    /// The location as given, for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn store_err(&self, path: &str) -> impl Fn(object_store::Error) -> Error + '_ {
        let location = format!("{}/{path}", self.location);
        move |source| Error::Store {
            location: location.clone(),
            source,
        }
    }

    /// Uploads a local file to `path`, streaming it (multipart when large).
    fn put_file(&self, local: &std::path::Path, path: &str) -> Result<()> {
        let io = |source| Error::Io {
            path: local.to_path_buf(),
            source,
        };
        let err = self.store_err(path);
        self.runtime.block_on(async {
            let mut file = tokio::fs::File::open(local).await.map_err(io)?;
            let mut writer = BufWriter::new(self.store.clone(), ObjectPath::from(path));
            let copied = tokio::io::copy(&mut file, &mut writer).await;
            match copied {
                Ok(_) => {
                    writer
                        .shutdown()
                        .await
                        .map_err(|e| match e.downcast::<object_store::Error>() {
                            Ok(source) => err(source),
                            Err(e) => io(e),
                        })
                }
                Err(e) => {
                    let _ = writer.abort().await;
                    Err(io(e))
                }
            }
        })
    }

    /// Writes a JSON document to `path` in one atomic put.
    fn put_json(&self, path: &str, value: &impl serde::Serialize) -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| Error::Json {
            location: format!("{}/{path}", self.location),
            source,
        })?;
        bytes.push(b'\n');
        self.runtime
            .block_on(
                self.store
                    .put(&ObjectPath::from(path), PutPayload::from(bytes)),
            )
            .map_err(self.store_err(path))?;
        Ok(())
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, path: &ObjectPath) -> Result<T> {
        let err = self.store_err(path.as_ref());
        let bytes = self
            .runtime
            .block_on(async { self.store.get(path).await?.bytes().await });
        let bytes = bytes.map_err(err)?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            location: format!("{}/{path}", self.location),
            source,
        })
    }

    /// Publishes an item: its artifacts first, then the item document with
    /// its links set, so an item is never visible before its assets.
    pub fn write_item(&self, mut item: Item, artifacts: &[Artifact]) -> Result<Item> {
        validate_id(&item.id)?;
        let dir = layout::item_dir(&item.id);
        for artifact in artifacts {
            let name = artifact.file_name();
            validate_id(&name)?;
            self.put_file(&artifact.path, &format!("{dir}/{name}"))?;
        }
        let collection = item.collection.clone().unwrap_or_default();
        layout::link_item(&mut item, &collection);
        self.put_json(&layout::item_path(&item.id), &item)?;
        Ok(item)
    }

    /// A summary of every item in the catalog (`items/<id>/<id>.json`),
    /// sorted by id.
    pub fn items(&self) -> Result<Vec<ItemSummary>> {
        let prefix = ObjectPath::from("items");
        let listed: Vec<_> = self
            .runtime
            .block_on(self.store.list(Some(&prefix)).try_collect::<Vec<_>>())
            .map_err(self.store_err("items"))?;
        let mut items = Vec::new();
        for meta in listed {
            let parts: Vec<_> = meta.location.parts().collect();
            let is_item =
                parts.len() == 3 && parts[2].as_ref() == format!("{}.json", parts[1].as_ref());
            if is_item {
                let value: serde_json::Value = self.get_json(&meta.location)?;
                let summary = ItemSummary::from_json(&value).ok_or_else(|| Error::Location {
                    location: format!("{}/{}", self.location, meta.location),
                    reason: "not a STAC item (no string id)".to_string(),
                })?;
                items.push(summary);
            }
        }
        items.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(items)
    }

    /// Writes `collection.json` with extents and item links computed from
    /// every item now in the catalog; returns what was written.
    pub fn write_collection(&self, mut collection: Collection) -> Result<Collection> {
        let items = self.items()?;
        layout::set_extent(&mut collection, &items);
        layout::link_collection(&mut collection, &items);
        self.put_json(layout::COLLECTION, &collection)?;
        Ok(collection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stacforge_core::checksum::sha256_multihash;

    #[test]
    fn items_go_beside_their_assets_and_collection_links_them() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&format!("file://{}", dir.path().display())).unwrap();
        let staging = tempfile::tempdir().unwrap();
        let asset = staging.path().join("x.tif");
        std::fs::write(&asset, b"not really a tiff").unwrap();
        let artifact = Artifact::from_file("data", &asset, "image/tiff", &["data"]).unwrap();
        let mut item = Item::new("x");
        item.collection = Some("c".into());
        item.properties.datetime = Some("2020-01-01T00:00:00Z".parse().unwrap());
        catalog.write_item(item, &[artifact.clone()]).unwrap();
        let published = dir.path().join("items/x/x.tif");
        assert_eq!(
            sha256_multihash(std::fs::File::open(&published).unwrap()).unwrap(),
            artifact.checksum
        );
        let c = catalog.write_collection(Collection::new("c", "d")).unwrap();
        assert_eq!(c.links.last().unwrap().href, "./items/x/x.json");
        assert_eq!(catalog.items().unwrap().len(), 1);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("items/x"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(leftovers.len(), 2, "no temporary files left: {leftovers:?}");
    }

    #[test]
    fn ids_that_escape_the_catalog_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path().to_str().unwrap()).unwrap();
        let err = catalog.write_item(Item::new("../evil"), &[]).unwrap_err();
        assert!(err.to_string().contains("path separator"), "{err}");
    }
}
