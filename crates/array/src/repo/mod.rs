//! Icechunk repositories: Zarr stores (chunks written natively) and
//! virtual references (chunks left in the source files) kept as versioned
//! snapshots, one atomic commit per write or append.
//!
//! A write or append works in a writable session on the `main` branch:
//! chunks go to new objects no snapshot points to yet, and the commit makes
//! all of them visible at once, so a reader sees the previous snapshot
//! until then, and a killed writer leaves it untouched. Each commit's
//! metadata records what was written (sources with size and checksum, the
//! package, stacforge's version, the options), so `stacforge history` can
//! say where every snapshot came from. Two writers that start from the
//! same snapshot cannot both commit: the second is refused with
//! [`Error::Conflict`], nothing of it visible, and can simply run again.
//! Object stores decide that with conditional writes; a local repository
//! (whose filesystem backend has none) with stacforge's lock around the
//! check of the branch tip and the commit.
//!
//! Icechunk holds Zarr v3 only: references (kerchunk's Zarr v2 metadata)
//! are translated, their codecs named as numcodecs' Zarr v3 codecs, which
//! zarr-python reads ([`refs`]).

use crate::{zarr, Error, Result};
use ::icechunk::format::SnapshotId;
use ::icechunk::repository::VersionInfo;
use ::icechunk::session::{Session, SessionErrorKind};
use ::icechunk::{ObjectStoreConfig, Repository, RepositoryConfig};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tokio::sync::RwLock;

pub mod refs;
mod run;
mod storage;

pub use run::{append_store, write_refs, write_store, Committed, RefsOutcome, RunInfo};

pub use stacforge_core::cube::ICECHUNK_MEDIA_TYPE as MEDIA_TYPE;

/// The branch stacforge commits to.
pub const BRANCH: &str = "main";

/// Where to find object storage for `s3://` repositories.
#[derive(Debug, Clone, Default)]
pub struct RepoOptions {
    /// An S3-compatible endpoint (credentials and region from the `AWS_*`
    /// variables).
    pub s3_endpoint: Option<String>,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("stacforge-icechunk")
            .enable_all()
            .build()
            .expect("a Tokio runtime starts")
    })
}

/// Runs an Icechunk call to completion (from any thread but the runtime's).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

/// Whether `location` is a URL (object storage) rather than a local path.
fn is_url(location: &str) -> bool {
    location.contains("://") && !location.starts_with("file://")
}

/// An Icechunk repository, opened.
pub struct Repo {
    repo: Repository,
    location: String,
    /// The directory of a local repository (its commits take a lock).
    local: Option<PathBuf>,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// One commit of a repository's history.
#[derive(Debug, Clone, Serialize)]
pub struct Commit {
    /// Snapshot id.
    pub id: String,
    /// The snapshot before it.
    pub parent: Option<String>,
    /// When it was committed (RFC 3339).
    pub time: String,
    /// Commit message.
    pub message: String,
    /// Tags pointing at it.
    pub tags: Vec<String>,
    /// Commit metadata (stacforge's record under `stacforge`).
    pub metadata: Map<String, Value>,
}

/// A snapshot opened for reading.
#[derive(Debug)]
pub struct Snapshot {
    /// Its Zarr store.
    pub store: zarr::Store,
    /// Its id.
    pub id: String,
}

fn storage_error(location: &str, message: impl std::fmt::Display) -> Error {
    Error::Store {
        store: PathBuf::from(location),
        message: format!("Icechunk: {message}"),
    }
}

impl Repo {
    fn storage(
        location: &str,
        options: &RepoOptions,
    ) -> Result<(Arc<dyn ::icechunk::Storage + Send + Sync>, Option<PathBuf>)> {
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let config = s3_options(options);
            let credentials = Some(s3_credentials());
            let storage = block_on(::icechunk::new_s3_object_store_storage(
                config,
                bucket.to_string(),
                (!prefix.is_empty()).then(|| prefix.trim_end_matches('/').to_string()),
                credentials,
                Vec::new(),
                Vec::new(),
            ))
            .map_err(|e| storage_error(location, e))?;
            return Ok((storage, None));
        }
        if is_url(location) {
            return Err(storage_error(
                location,
                "only local paths and s3:// URLs hold Icechunk repositories here",
            ));
        }
        let path = PathBuf::from(location.trim_start_matches("file://"));
        let path = std::path::absolute(&path).unwrap_or(path);
        let storage = block_on(::icechunk::new_local_filesystem_storage(&path))
            .map_err(|e| storage_error(location, e))?;
        Ok((storage, Some(path)))
    }

    /// Whether a repository exists at `location`.
    pub fn exists(location: &str, options: &RepoOptions) -> Result<bool> {
        if !is_url(location) && !Path::new(location.trim_start_matches("file://")).exists() {
            return Ok(false);
        }
        let (storage, _) = Self::storage(location, options)?;
        block_on(Repository::exists(storage, None)).map_err(|e| storage_error(location, e))
    }

    /// Opens the repository at `location`.
    pub fn open(location: &str, options: &RepoOptions) -> Result<Repo> {
        if !Self::exists(location, options)? {
            return Err(storage_error(
                location,
                "no Icechunk repository here (write one with --format icechunk)",
            ));
        }
        let (storage, local) = Self::storage(location, options)?;
        let repo = block_on(Repository::open(storage).execute())
            .map_err(|e| storage_error(location, e))?;
        let mut opened = Repo {
            repo,
            location: location.to_string(),
            local,
        };
        opened.authorize()?;
        Ok(opened)
    }

    /// Opens the repository at `location`, creating it if there is none.
    /// A local directory that exists and is not a repository is refused.
    pub fn open_or_create(location: &str, options: &RepoOptions) -> Result<Repo> {
        if Self::exists(location, options)? {
            return Self::open(location, options);
        }
        let path = Path::new(location.trim_start_matches("file://"));
        if !is_url(location)
            && path.exists()
            && std::fs::read_dir(path).map_or(true, |mut d| d.next().is_some())
        {
            return Err(storage_error(
                location,
                "it exists and is not an Icechunk repository; nothing was replaced (remove it yourself or choose another --out)",
            ));
        }
        let (storage, local) = Self::storage(location, options)?;
        let repo = block_on(Repository::create(storage).execute())
            .map_err(|e| storage_error(location, e))?;
        Ok(Repo {
            repo,
            location: location.to_string(),
            local,
        })
    }

    /// The repository's location, as given.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn origin(&self) -> PathBuf {
        PathBuf::from(&self.location)
    }

    fn error(&self, message: impl std::fmt::Display) -> Error {
        storage_error(&self.location, message)
    }

    /// Reopens the repository with read access to every virtual chunk
    /// container its configuration names (stacforge made them for the
    /// sources it references).
    fn authorize(&mut self) -> Result<()> {
        let containers = self.repo.config().virtual_chunk_containers.clone();
        let Some(containers) = containers.filter(|c| !c.is_empty()) else {
            return Ok(());
        };
        let credentials: HashMap<String, Option<::icechunk::config::Credentials>> = containers
            .keys()
            .map(|prefix| (prefix.clone(), container_credentials(prefix)))
            .collect();
        self.repo =
            block_on(self.repo.reopen(None, Some(credentials))).map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Adds a virtual chunk container for each of `prefixes` (`file:///dir/`,
    /// `s3://bucket/`) the configuration lacks, saves the configuration and
    /// authorizes reads from them.
    pub fn ensure_containers(
        &mut self,
        prefixes: &BTreeSet<String>,
        options: &RepoOptions,
    ) -> Result<()> {
        let mut config: RepositoryConfig = self.repo.config().clone();
        let known: BTreeSet<String> = config
            .virtual_chunk_containers
            .as_ref()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default();
        let missing: Vec<&String> = prefixes.iter().filter(|p| !known.contains(*p)).collect();
        if missing.is_empty() {
            return self.authorize();
        }
        for prefix in missing {
            let store = if prefix.starts_with("file://") {
                ObjectStoreConfig::LocalFileSystem(PathBuf::new())
            } else if prefix.starts_with("s3://") {
                ObjectStoreConfig::S3Compatible(s3_options(options))
            } else {
                return Err(self.error(format!(
                    "sources at {prefix} cannot be referenced virtually (local files and s3:// objects can)"
                )));
            };
            let container =
                ::icechunk::virtual_chunks::VirtualChunkContainer::new(prefix.clone(), store)
                    .map_err(|e| self.error(format!("virtual chunk container {prefix}: {e}")))?;
            config
                .set_virtual_chunk_container(container)
                .map_err(|e| self.error(format!("virtual chunk container {prefix}: {e}")))?;
        }
        self.repo = block_on(self.repo.reopen(Some(config), None)).map_err(|e| self.error(e))?;
        block_on(self.repo.save_config()).map_err(|e| self.error(e))?;
        self.authorize()
    }

    /// A writable session on [`BRANCH`], from its tip.
    pub fn writer(&self) -> Result<Writer> {
        let session = block_on(self.repo.writable_session(BRANCH)).map_err(|e| self.error(e))?;
        let base = session.snapshot_id().clone();
        let session = Arc::new(RwLock::new(session));
        let store = block_on(::icechunk::Store::from_session(Arc::clone(&session)));
        Ok(Writer {
            session,
            store,
            base,
            origin: self.origin(),
        })
    }

    fn version(&self, at: Option<&str>) -> Result<VersionInfo> {
        let Some(at) = at else {
            return Ok(VersionInfo::BranchTipRef(BRANCH.into()));
        };
        if let Ok(id) = SnapshotId::try_from(at) {
            return Ok(VersionInfo::SnapshotId(id));
        }
        let tags = block_on(self.repo.list_tags()).map_err(|e| self.error(e))?;
        if tags.contains(at) {
            return Ok(VersionInfo::TagRef(at.into()));
        }
        let branches = block_on(self.repo.list_branches()).map_err(|e| self.error(e))?;
        if branches.contains(at) {
            return Ok(VersionInfo::BranchTipRef(at.into()));
        }
        Err(self.error(format!(
            "`{at}` is neither a snapshot id, a tag ({}) nor a branch ({})",
            join_or_none(&tags),
            join_or_none(&branches)
        )))
    }

    /// The snapshot at `at` (a snapshot id, a tag or a branch; the tip of
    /// [`BRANCH`] when `None`), for reading.
    pub fn snapshot(&self, at: Option<&str>) -> Result<Snapshot> {
        let version = self.version(at)?;
        let session = block_on(self.repo.readonly_session(&version)).map_err(|e| self.error(e))?;
        let id = session.snapshot_id().to_string();
        let store = block_on(::icechunk::Store::from_session(Arc::new(RwLock::new(
            session,
        ))));
        Ok(Snapshot {
            store: zarr::Store::on(Arc::new(storage::SessionStorage { store }), self.origin()),
            id,
        })
    }

    /// The commits reachable from `at` (default: the tip of [`BRANCH`]),
    /// newest first.
    pub fn history(&self, at: Option<&str>) -> Result<Vec<Commit>> {
        use futures::TryStreamExt;
        let version = self.version(at)?;
        let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for tag in block_on(self.repo.list_tags()).map_err(|e| self.error(e))? {
            let id = block_on(self.repo.lookup_tag(&tag)).map_err(|e| self.error(e))?;
            tags.entry(id.to_string()).or_default().push(tag);
        }
        let infos: Vec<_> =
            block_on(async { self.repo.ancestry(&version).await?.try_collect().await })
                .map_err(|e| self.error(e))?;
        Ok(infos
            .into_iter()
            .map(|info| {
                let id = info.id.to_string();
                Commit {
                    tags: tags.get(&id).cloned().unwrap_or_default(),
                    id,
                    parent: info.parent_id.map(|p| p.to_string()),
                    time: info
                        .flushed_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    message: info.message,
                    metadata: info.metadata.into_iter().collect(),
                }
            })
            .collect())
    }

    /// Tags `snapshot` as `name`.
    pub fn tag(&self, name: &str, snapshot: &str) -> Result<()> {
        let id = SnapshotId::try_from(snapshot)
            .map_err(|e| self.error(format!("snapshot `{snapshot}`: {e}")))?;
        block_on(self.repo.create_tag(name, &id))
            .map_err(|e| self.error(format!("tagging {snapshot} as `{name}`: {e}")))
    }
}

/// S3 options for the endpoint `options` or `AWS_ENDPOINT_URL` name (AWS
/// itself when neither does), region from `AWS_REGION`.
fn s3_options(options: &RepoOptions) -> ::icechunk::config::S3Options {
    let endpoint = (options.s3_endpoint.clone()).or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let s3 = ::icechunk::config::S3Options::default().with_region(&region);
    match endpoint {
        Some(url) => s3
            .with_allow_http(url.starts_with("http://"))
            .with_force_path_style(true)
            .with_endpoint_url(&url),
        None => s3,
    }
}

/// S3 credentials from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (and
/// `AWS_SESSION_TOKEN`), else from the environment's usual chain.
fn s3_credentials() -> ::icechunk::config::S3Credentials {
    use ::icechunk::config::{S3Credentials, S3StaticCredentials};
    match (
        std::env::var("AWS_ACCESS_KEY_ID"),
        std::env::var("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Ok(key), Ok(secret)) => S3Credentials::Static(S3StaticCredentials {
            access_key_id: key,
            secret_access_key: secret,
            session_token: std::env::var("AWS_SESSION_TOKEN").ok(),
            expires_after: None,
        }),
        _ => S3Credentials::FromEnv,
    }
}

fn join_or_none(names: &BTreeSet<String>) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// Credentials for reading a container stacforge made: none for local
/// files, the `AWS_*` variables for S3.
fn container_credentials(prefix: &str) -> Option<::icechunk::config::Credentials> {
    use ::icechunk::config::Credentials;
    if prefix.starts_with("file://") {
        return Some(Credentials::LocalFileSystemAccess);
    }
    Some(Credentials::S3(s3_credentials()))
}

/// A writable session: what is written becomes visible only at
/// [`Writer::commit`].
pub struct Writer {
    session: Arc<RwLock<Session>>,
    store: ::icechunk::Store,
    base: SnapshotId,
    origin: PathBuf,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("origin", &self.origin)
            .field("base", &self.base.to_string())
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// The session as a Zarr store, for the recipes.
    pub fn zarr(&self) -> zarr::Store {
        zarr::Store::on(
            Arc::new(storage::SessionStorage {
                store: self.store.clone(),
            }),
            self.origin.clone(),
        )
    }

    /// The snapshot the session started from.
    pub fn base(&self) -> String {
        self.base.to_string()
    }

    fn error(&self, message: impl std::fmt::Display) -> Error {
        storage_error(&self.origin.display().to_string(), message)
    }

    /// Whether the session holds nothing (no root group).
    pub fn is_empty(&self) -> Result<bool> {
        block_on(self.store.is_empty("")).map_err(|e| self.error(e))
    }

    /// Removes everything from the session (a new write replacing the
    /// data; older snapshots keep theirs).
    pub fn clear(&self) -> Result<()> {
        block_on(self.store.clear()).map_err(|e| self.error(e))
    }

    /// Sets a virtual chunk reference at `key`.
    pub fn set_virtual(
        &self,
        key: &str,
        url: &str,
        offset: u64,
        length: u64,
        modified: Option<u32>,
    ) -> Result<()> {
        use ::icechunk::format::manifest::{
            Checksum, SecondsSinceEpoch, VirtualChunkLocation, VirtualChunkRef,
        };
        let location = VirtualChunkLocation::from_url(url)
            .map_err(|e| self.error(format!("chunk `{key}` at {url}: {e}")))?;
        let reference = VirtualChunkRef {
            location,
            offset,
            length,
            checksum: modified.map(|s| Checksum::LastModified(SecondsSinceEpoch(s))),
        };
        block_on(self.store.set_virtual_ref(key, reference, true))
            .map_err(|e| self.error(format!("chunk `{key}`: {e}")))
    }

    /// Commits the session to [`BRANCH`] with `message` and `metadata`;
    /// returns the new snapshot's id. Refused with [`Error::Conflict`] when
    /// another writer committed since the session started.
    pub fn commit(
        self,
        repo: &Repo,
        message: &str,
        metadata: Map<String, Value>,
    ) -> Result<String> {
        stacforge_core::fs::pause_point("icechunk-commit");
        let _lock = match &repo.local {
            Some(path) => Some(
                stacforge_core::fs::Lock::acquire(
                    &stacforge_core::fs::lock_path(path),
                    &path.display().to_string(),
                )
                .map_err(|source| Error::Io {
                    path: stacforge_core::fs::lock_path(path),
                    source,
                })?,
            ),
            None => None,
        };
        let conflict = |tip: String| {
            Error::Conflict {
            store: self.origin.clone(),
            message: format!(
                "another writer committed snapshot {tip} to `{BRANCH}` after this one started from {}; nothing of this run is visible; run it again to apply it on top",
                self.base
            ),
        }
        };
        let tip = block_on(repo.repo.lookup_branch(BRANCH)).map_err(|e| self.error(e))?;
        if tip != self.base {
            return Err(conflict(tip.to_string()));
        }
        stacforge_core::fs::crash_point("icechunk-commit");
        let properties: ::icechunk::format::snapshot::SnapshotProperties =
            metadata.into_iter().collect();
        let result = block_on(async {
            let mut session = self.session.write().await;
            session
                .commit(message)
                .properties(properties)
                .execute()
                .await
        });
        match result {
            Ok(id) => Ok(id.to_string()),
            Err(e) => match &e.kind {
                SessionErrorKind::Conflict { actual_parent, .. } => Err(conflict(
                    actual_parent
                        .as_ref()
                        .map_or_else(|| "?".into(), ToString::to_string),
                )),
                _ => Err(self.error(format!("commit: {e}"))),
            },
        }
    }
}
