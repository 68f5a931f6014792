use crate::{
    layout,
    layout::ItemSummary,
    location::{Location, StoreOptions},
    summary::Aggregate,
    Error, Result,
};
use futures::TryStreamExt;
use object_store::{buffered::BufWriter, ObjectStoreExt, PutPayload};
use stac::{Collection, Item};
use stacforge_core::{package::validate_id, Artifact};
use tokio::io::AsyncWriteExt;

/// A static STAC catalog (one collection and its items) in an object store.
///
/// Writes are atomic per object: a reader never sees a half-written asset
/// or document at its published path.
#[derive(Debug)]
pub struct Catalog {
    pub(crate) location: Location,
    pub(crate) runtime: tokio::runtime::Runtime,
    /// Whether item documents are indented (else compact, one line).
    pretty: bool,
}

impl Catalog {
    /// Opens the catalog at `location` (see [`crate::location`]); a local
    /// directory is created if needed.
    pub fn open(location: &str) -> Result<Catalog> {
        Catalog::open_with(location, &StoreOptions::default())
    }

    /// Opens the catalog at `location` with explicit store options.
    pub fn open_with(location: &str, options: &StoreOptions) -> Result<Catalog> {
        let location = crate::location::resolve(location, options)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|source| Error::Io {
                path: location.url.clone().into(),
                source,
            })?;
        Ok(Catalog {
            location,
            runtime,
            pretty: false,
        })
    }

    /// Writes item documents indented for people to read; by default they
    /// are compact (one line, under half the bytes), as clients fetch them.
    pub fn set_pretty(&mut self, pretty: bool) {
        self.pretty = pretty;
    }

    /// The local directory of a file-system catalog.
    pub fn local_dir(&self) -> Option<&std::path::Path> {
        self.location.local_dir.as_deref()
    }

    /// The location as given, for messages.
    pub fn location(&self) -> &str {
        &self.location.url
    }

    pub(crate) fn store_err(&self, path: &str) -> impl Fn(object_store::Error) -> Error + '_ {
        let location = format!("{}/{path}", self.location.url);
        move |source| Error::Store {
            location: location.clone(),
            source,
        }
    }

    /// Uploads a local file to `path`, streaming it (multipart when large).
    pub(crate) fn put_file(&self, local: &std::path::Path, path: &str) -> Result<()> {
        self.put_file_taking(local, path, false)
    }

    /// [`Catalog::put_file`]; with `take`, the file is the caller's to give
    /// away: a local catalog on the same filesystem gets it by a rename
    /// (atomic, nothing copied), else it is copied as usual.
    fn put_file_taking(&self, local: &std::path::Path, path: &str, take: bool) -> Result<()> {
        let io = |source| Error::Io {
            path: local.to_path_buf(),
            source,
        };
        stacforge_core::fs::crash_point("put");
        if let Some(dir) = &self.location.local_dir {
            // A local catalog: copied under a hidden name, then renamed, with
            // the file names as they are.
            let target = dir.join(path);
            let target_io = |source| Error::Io {
                path: target.clone(),
                source,
            };
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(target_io)?;
                stacforge_core::fs::remove_stale_in(parent, "stacforge-tmp");
            }
            if take && std::fs::rename(local, &target).is_ok() {
                return Ok(());
            }
            let tmp = stacforge_core::fs::hidden_sibling(&target, "stacforge-tmp", "");
            let guard = stacforge_core::fs::Cleanup::new(tmp.clone());
            let copied = std::fs::copy(local, &tmp)
                .map_err(|e| {
                    // A full disk is the destination's problem, not the file's.
                    if e.kind() == std::io::ErrorKind::StorageFull {
                        target_io(e)
                    } else {
                        io(e)
                    }
                })
                .and_then(|_| std::fs::rename(&tmp, &target).map_err(target_io));
            drop(guard);
            if copied.is_err() {
                // No empty item folder is left behind either.
                if let Some(parent) = target.parent() {
                    let _ = std::fs::remove_dir(parent);
                }
            }
            return copied;
        }
        let err = self.store_err(path);
        self.runtime.block_on(async {
            let mut file = tokio::fs::File::open(local).await.map_err(io)?;
            let mut writer = BufWriter::new(self.location.store.clone(), self.location.path(path));
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

    /// Uploads one local file to `url` (`s3://bucket/dir/name.tif`, a path, …).
    pub fn upload(local: &std::path::Path, url: &str, options: &StoreOptions) -> Result<()> {
        let (parent, name) =
            url.trim_end_matches('/')
                .rsplit_once('/')
                .ok_or_else(|| Error::Location {
                    location: url.to_string(),
                    reason: "no file name".to_string(),
                })?;
        let catalog = Catalog::open_with(parent, options)?;
        catalog.put_file(local, name)
    }

    /// Uploads every file under the local directory `local` to the same
    /// relative keys under `url`, the files whose relative paths satisfy
    /// `last` after all the others (a Zarr store's metadata after its
    /// chunks, so readers never find metadata pointing at missing chunks).
    /// Returns the number of files uploaded.
    pub fn upload_dir(
        local: &std::path::Path,
        url: &str,
        options: &StoreOptions,
        last: impl Fn(&str) -> bool,
    ) -> Result<usize> {
        let catalog = Catalog::open_with(url, options)?;
        let files = files_under(local, &last)?;
        for (key, path) in &files {
            catalog.put_file(path, key)?;
        }
        Ok(files.len())
    }

    /// Publishes the directory artifact `local` (a Zarr store, a Parquet
    /// reference set) at `path`. In a local catalog the tree is copied under
    /// a hidden name and put in place in one step (an older one exchanged
    /// for it); in object storage its files are uploaded with the metadata
    /// documents last ([`is_metadata`]), so a reader never finds metadata
    /// naming chunks that are not there yet.
    pub(crate) fn put_dir(&self, local: &std::path::Path, path: &str) -> Result<usize> {
        let files = files_under(local, &is_metadata)?;
        let Some(dir) = &self.location.local_dir else {
            for (key, file) in &files {
                self.put_file(file, &format!("{path}/{key}"))?;
            }
            return Ok(files.len());
        };
        let target = dir.join(path);
        let io = |target: &std::path::Path| {
            let target = target.to_path_buf();
            move |source| Error::Io {
                path: target.clone(),
                source,
            }
        };
        let parent = target.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        stacforge_core::fs::remove_stale_in(parent, "stacforge-tmp");
        let staged = stacforge_core::fs::hidden_sibling(&target, "stacforge-tmp", "");
        let _guard = stacforge_core::fs::Cleanup::new(staged.clone());
        for (key, file) in &files {
            let to = staged.join(key);
            if let Some(p) = to.parent() {
                std::fs::create_dir_all(p).map_err(io(p))?;
            }
            std::fs::copy(file, &to).map_err(|e| {
                // A full disk is the destination's problem, not the file's.
                if e.kind() == std::io::ErrorKind::StorageFull {
                    io(&target)(e)
                } else {
                    io(file)(e)
                }
            })?;
        }
        stacforge_core::fs::crash_point("put");
        stacforge_core::fs::replace_dir(&staged, &target).map_err(io(&target))?;
        Ok(files.len())
    }

    /// Writes bytes to `path` in one atomic put (a local catalog is written
    /// directly, without the object store's thread hand-offs).
    pub(crate) fn put_bytes(&self, path: &str, bytes: Vec<u8>) -> Result<()> {
        stacforge_core::fs::crash_point("put");
        if let Some(dir) = &self.location.local_dir {
            let target = dir.join(path);
            if let Some(parent) = target.parent() {
                stacforge_core::fs::remove_stale_in(parent, "stacforge-tmp");
            }
            return stacforge_core::fs::write_atomic(&target, &bytes).map_err(|source| Error::Io {
                path: target,
                source,
            });
        }
        self.runtime
            .block_on(
                self.location
                    .store
                    .put(&self.location.path(path), PutPayload::from(bytes)),
            )
            .map_err(self.store_err(path))?;
        Ok(())
    }

    /// The bytes at `path`, or `None` when there is no such object.
    pub(crate) fn get_bytes(&self, path: &str) -> Result<Option<Vec<u8>>> {
        if let Some(dir) = &self.location.local_dir {
            let file = dir.join(path);
            return match std::fs::read(&file) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(Error::Io { path: file, source }),
            };
        }
        let full = self.location.path(path);
        let got = self
            .runtime
            .block_on(async { self.location.store.get(&full).await?.bytes().await });
        match got {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.store_err(path)(e)),
        }
    }

    /// The size of the object at `path` (relative to the catalog), or
    /// `None` when there is none.
    pub fn size(&self, path: &str) -> Result<Option<u64>> {
        Ok(self.object(path)?.map(|o| o.size))
    }

    /// The object at `path` (relative to the catalog) with its size and
    /// ETag (none locally), or `None` when there is none.
    pub fn object(&self, path: &str) -> Result<Option<Object>> {
        let found = |size| {
            Some(Object {
                path: path.to_string(),
                size,
                etag: None,
            })
        };
        if let Some(dir) = &self.location.local_dir {
            let file = dir.join(path);
            return match std::fs::metadata(&file) {
                Ok(m) if m.is_file() => Ok(found(m.len())),
                Ok(_) => Ok(None),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(Error::Io { path: file, source }),
            };
        }
        let full = self.location.path(path);
        match self.runtime.block_on(self.location.store.head(&full)) {
            Ok(meta) => Ok(Some(Object {
                path: path.to_string(),
                size: meta.size,
                etag: meta.e_tag,
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.store_err(path)(e)),
        }
    }

    /// Writes a JSON document (an item's) to `path` in one atomic put.
    fn put_json(&self, path: &str, value: &impl serde::Serialize) -> Result<()> {
        let bytes = if self.pretty {
            serde_json::to_vec_pretty(value)
        } else {
            serde_json::to_vec(value)
        };
        let mut bytes = bytes.map_err(|source| Error::Json {
            location: format!("{}/{path}", self.location.url),
            source,
        })?;
        bytes.push(b'\n');
        self.put_bytes(path, bytes)
    }

    /// Takes the lock of the local catalog in `dir` (`.stacforge-lock`).
    pub(crate) fn lock(&self, dir: &std::path::Path) -> Result<stacforge_core::fs::Lock> {
        let path = dir.join(".stacforge-lock");
        stacforge_core::fs::Lock::acquire(&path, &self.location.url)
            .map_err(|source| Error::Io { path, source })
    }

    /// Publishes an item: its artifacts first (directories whole, their
    /// metadata last), then the item document with
    /// its links set, so an item is never visible before its assets.
    pub fn write_item(&self, item: Item, artifacts: &[Artifact]) -> Result<Item> {
        self.write_item_taking(item, artifacts, None)
    }

    /// [`Catalog::write_item`] for a unit whose staging directory `staging`
    /// the caller discards afterwards: a local catalog on the same
    /// filesystem takes the artifact files inside it by renames instead of
    /// copies (files elsewhere, such as sources, are always copied).
    pub fn write_staged_item(
        &self,
        item: Item,
        artifacts: &[Artifact],
        staging: &std::path::Path,
    ) -> Result<Item> {
        self.write_item_taking(item, artifacts, Some(staging))
    }

    fn write_item_taking(
        &self,
        mut item: Item,
        artifacts: &[Artifact],
        staging: Option<&std::path::Path>,
    ) -> Result<Item> {
        validate_id(&item.id)?;
        let dir = layout::item_dir(&item.id);
        // Assets described in place stay where they are.
        for artifact in artifacts.iter().filter(|a| a.href.is_none()) {
            let name = artifact.file_name();
            validate_id(&name)?;
            if name == format!("{}.json", item.id) {
                return Err(Error::AssetName {
                    id: item.id.clone(),
                    name,
                });
            }
            if artifact.is_dir() {
                self.put_dir(&artifact.path, &format!("{dir}/{name}"))?;
            } else {
                let take = staging.is_some_and(|s| artifact.path.starts_with(s));
                self.put_file_taking(&artifact.path, &format!("{dir}/{name}"), take)?;
            }
        }
        let collection = item.collection.clone().unwrap_or_default();
        layout::link_item(&mut item, &collection);
        self.put_json(&layout::item_path(&item.id), &item)?;
        Ok(item)
    }

    /// Every item document in the catalog (`items/<id>/<id>.json`) as
    /// (id, size in bytes), sorted by id.
    pub fn item_documents(&self) -> Result<Vec<(String, u64)>> {
        let mut documents = Vec::new();
        if let Some(dir) = &self.location.local_dir {
            let items_dir = dir.join("items");
            let io = |path: &std::path::Path| {
                let path = path.to_path_buf();
                move |source| Error::Io {
                    path: path.clone(),
                    source,
                }
            };
            let entries = match std::fs::read_dir(&items_dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(documents),
                Err(source) => {
                    return Err(Error::Io {
                        path: items_dir,
                        source,
                    })
                }
            };
            for entry in entries {
                let entry = entry.map_err(io(&items_dir))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                match std::fs::metadata(entry.path().join(format!("{name}.json"))) {
                    Ok(meta) if meta.is_file() => documents.push((name, meta.len())),
                    _ => {}
                }
            }
        } else {
            for (relative, size) in self.list("items/")? {
                let parts: Vec<_> = relative.split('/').collect();
                if parts.len() == 3
                    && parts[0] == "items"
                    && parts[2] == format!("{}.json", parts[1])
                {
                    documents.push((parts[1].to_string(), size));
                }
            }
        }
        documents.sort();
        Ok(documents)
    }

    /// Every object under `prefix` (relative to the catalog) as (relative
    /// path, size), sorted by path. Hidden temporary files are left out.
    pub fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        Ok(self
            .objects(prefix)?
            .into_iter()
            .map(|o| (o.path, o.size))
            .collect())
    }

    /// Every object under `prefix` (relative to the catalog), sorted by
    /// path, with its size and ETag (an object store's; none locally).
    pub fn objects(&self, prefix: &str) -> Result<Vec<Object>> {
        let mut found = Vec::new();
        let prefix = prefix.trim_matches('/');
        let join = |key: &str| match prefix {
            "" => key.to_string(),
            p => format!("{p}/{key}"),
        };
        if let Some(dir) = &self.location.local_dir {
            let root = dir.join(prefix);
            if root.is_dir() {
                for (key, path) in files_under(&root, &|_| false)? {
                    let size = std::fs::metadata(&path)
                        .map_err(|source| Error::Io {
                            path: path.clone(),
                            source,
                        })?
                        .len();
                    found.push(Object {
                        path: join(&key),
                        size,
                        etag: None,
                    });
                }
            }
        } else {
            let full = self.location.path(prefix);
            let listed: Vec<_> = self
                .runtime
                .block_on(
                    self.location
                        .store
                        .list(Some(&full))
                        .try_collect::<Vec<_>>(),
                )
                .map_err(self.store_err(prefix))?;
            for meta in listed {
                found.push(Object {
                    path: self.location.relative(&meta.location),
                    size: meta.size,
                    etag: meta.e_tag,
                });
            }
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }

    /// Downloads the object at `path` (relative to the catalog) to the
    /// local file `to`, streaming it into a hidden name renamed into place.
    pub fn download(&self, path: &str, to: &std::path::Path) -> Result<()> {
        let io = |source| Error::Io {
            path: to.to_path_buf(),
            source,
        };
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let tmp = stacforge_core::fs::hidden_sibling(to, "stacforge-tmp", "");
        let guard = stacforge_core::fs::Cleanup::new(tmp.clone());
        let full = self.location.path(path);
        let err = self.store_err(path);
        self.runtime.block_on(async {
            let mut stream = self
                .location
                .store
                .get(&full)
                .await
                .map_err(&err)?
                .into_stream();
            let mut file = tokio::fs::File::create(&tmp).await.map_err(io)?;
            while let Some(chunk) = stream.try_next().await.map_err(&err)? {
                file.write_all(&chunk).await.map_err(io)?;
            }
            file.sync_all().await.map_err(io)
        })?;
        std::fs::rename(&tmp, to).map_err(io)?;
        drop(guard);
        Ok(())
    }

    /// The bytes at `path` (relative to the catalog), or `None` when there
    /// is no such object.
    pub fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        self.get_bytes(path)
    }

    /// Writes `bytes` at `path` (relative to the catalog) atomically.
    pub fn write(&self, path: &str, bytes: Vec<u8>) -> Result<()> {
        self.put_bytes(path, bytes)
    }

    /// A summary of every item in the catalog, sorted by id.
    pub fn items(&self) -> Result<Vec<ItemSummary>> {
        let mut items = Vec::new();
        for (id, _) in self.item_documents()? {
            items.push(self.item_summary(&id)?);
        }
        Ok(items)
    }

    /// Reads one item's document and summarises it.
    fn item_summary(&self, id: &str) -> Result<ItemSummary> {
        let path = layout::item_path(id);
        let location = format!("{}/{path}", self.location.url);
        let bytes = self.get_bytes(&path)?.ok_or_else(|| Error::Location {
            location: location.clone(),
            reason: "the item disappeared while the collection was written".to_string(),
        })?;
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|source| Error::Json {
                location: location.clone(),
                source,
            })?;
        ItemSummary::from_json(&value).ok_or_else(|| Error::Location {
            location,
            reason: "not a STAC item (no string id)".to_string(),
        })
    }

    /// Writes `collection.json` with extents, summaries, item assets and
    /// item links computed from every item now in the catalog; returns how
    /// many items it lists. A local catalog is locked meanwhile, so two
    /// runs writing into one catalog never lose each other's items.
    pub fn write_collection(&self, collection: Collection) -> Result<usize> {
        self.write_collection_with(collection, &|_, _| None)
    }

    /// [`Catalog::write_collection`], taking an item's summary from `known`
    /// (given its id and its document's size) where it has one, and reading
    /// the item document otherwise; the items are folded in one at a time.
    pub fn write_collection_with(
        &self,
        mut collection: Collection,
        known: &dyn Fn(&str, u64) -> Option<ItemSummary>,
    ) -> Result<usize> {
        let _lock = match &self.location.local_dir {
            Some(dir) => Some(self.lock(dir)?),
            None => None,
        };
        let mut aggregate = Aggregate::default();
        for (id, size) in self.item_documents()? {
            match known(&id, size) {
                Some(summary) if summary.id == id => aggregate.add(&summary),
                _ => aggregate.add(&self.item_summary(&id)?),
            }
        }
        let ids = aggregate.apply(&mut collection);
        let bytes =
            layout::collection_document(&collection, &ids).map_err(|source| Error::Json {
                location: format!("{}/{}", self.location.url, layout::COLLECTION),
                source,
            })?;
        self.put_bytes(layout::COLLECTION, bytes)?;
        Ok(ids.len())
    }
}

/// An object found by [`Catalog::objects`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Its path relative to the catalog.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag, from an object store.
    pub etag: Option<String>,
}

/// Whether a file of a store is one of its metadata documents (Zarr v2
/// and v3 names, and a Parquet reference set's `.zmetadata`), which are
/// published after the data they describe.
pub fn is_metadata(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key);
    matches!(
        name,
        "zarr.json" | ".zarray" | ".zattrs" | ".zgroup" | ".zmetadata"
    )
}

/// Every file under `root` as (key relative to it, path): the others
/// first, then those satisfying `last`, deepest first (the root's last).
/// Hidden bookkeeping of stacforge (`.stacforge-…` locks) is left out.
pub(crate) fn files_under(
    root: &std::path::Path,
    last: &dyn Fn(&str) -> bool,
) -> Result<Vec<(String, std::path::PathBuf)>> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let io = |source| Error::Io {
            path: dir.clone(),
            source,
        };
        for entry in std::fs::read_dir(&dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().contains(".stacforge-") {
                continue;
            }
            // Symbolic links are not followed out of the tree.
            let kind = entry.file_type().map_err(io)?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                if let Ok(relative) = path.strip_prefix(root) {
                    let key = relative
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/");
                    files.push((last(&key), key, path));
                }
            }
        }
    }
    files.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| b.1.matches('/').count().cmp(&a.1.matches('/').count()))
            .then_with(|| a.1.cmp(&b.1))
    });
    Ok(files.into_iter().map(|(_, k, p)| (k, p)).collect())
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
        catalog
            .write_item(item, std::slice::from_ref(&artifact))
            .unwrap();
        let published = dir.path().join("items/x/x.tif");
        assert_eq!(
            sha256_multihash(std::fs::File::open(&published).unwrap()).unwrap(),
            artifact.checksum
        );
        assert_eq!(
            catalog.write_collection(Collection::new("c", "d")).unwrap(),
            1
        );
        let c: Collection =
            serde_json::from_slice(&std::fs::read(dir.path().join("collection.json")).unwrap())
                .unwrap();
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
