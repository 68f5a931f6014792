//! Where a catalog lives: a URL turned into an object store and a prefix.
//!
//! | location | store |
//! | --- | --- |
//! | `path/to/dir`, `/abs/dir`, `file:///abs/dir` | the local file system (created if needed) |
//! | `s3://bucket/prefix` | AWS S3 or an S3-compatible server; credentials, region and endpoint from the usual `AWS_*` variables, or [`StoreOptions::s3_endpoint`] |
//! | `gs://bucket/prefix` | Google Cloud Storage (`GOOGLE_*` variables) |
//! | `az://container/prefix` | Azure Blob Storage (`AZURE_*` variables) |
//! | `memory://` | in memory, for tests |

use crate::{Error, Result};
use object_store::{
    aws::AmazonS3Builder, azure::MicrosoftAzureBuilder, gcp::GoogleCloudStorageBuilder,
    http::HttpBuilder, local::LocalFileSystem, memory::InMemory, path::Path as ObjectPath,
    path::PathPart, BackoffConfig, ClientOptions, ObjectStore, RetryConfig,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How to reach object storage, beyond what the environment says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// Endpoint of an S3-compatible server (`http://127.0.0.1:9000`); path-style
    /// requests are used, and plain HTTP is allowed when the URL says `http://`.
    pub s3_endpoint: Option<String>,
    /// URL of an Azure Blob Storage account on another endpoint, with the
    /// account in the path (Azurite: `http://127.0.0.1:10000/devstoreaccount1`).
    pub azure_endpoint: Option<String>,
}

/// Whether an environment variable is set and not empty.
fn has_env(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

/// A resolved location.
#[derive(Debug, Clone)]
pub struct Location {
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// The prefix inside the store under which the catalog lives.
    pub prefix: ObjectPath,
    /// The location as given, without a trailing slash, for messages and hrefs.
    pub url: String,
    /// The local directory, for file-system locations.
    pub local_dir: Option<PathBuf>,
}

/// Retries for transient errors: a few, with backoff, and bounded in time so
/// that an unreachable endpoint fails in seconds, not minutes.
fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
        },
        max_retries: 4,
        retry_timeout: Duration::from_secs(30),
    }
}

fn client() -> ClientOptions {
    ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(300))
}

/// Splits `scheme://bucket/some/prefix` into bucket and prefix.
fn bucket_and_prefix(location: &str, rest: &str) -> Result<(String, ObjectPath)> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Error::Location {
            location: location.to_string(),
            reason: "no bucket or container name".to_string(),
        });
    }
    let prefix = ObjectPath::parse(prefix.trim_matches('/')).map_err(|e| Error::Location {
        location: location.to_string(),
        reason: format!("invalid path: {e}"),
    })?;
    Ok((bucket.to_string(), prefix))
}

/// Resolves `location` into a store and prefix.
pub fn resolve(location: &str, options: &StoreOptions) -> Result<Location> {
    let url = location.trim_end_matches('/').to_string();
    let store_err = |source| Error::Store {
        location: url.clone(),
        source,
    };
    let local = |dir: PathBuf| -> Result<Location> {
        if dir.exists() && !dir.is_dir() {
            return Err(Error::Location {
                location: url.clone(),
                reason: "it is a file, not a directory (a catalog is a directory)".to_string(),
            });
        }
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        let store = LocalFileSystem::new_with_prefix(&dir).map_err(store_err)?;
        Ok(Location {
            store: Arc::new(store),
            prefix: ObjectPath::default(),
            url: url.clone(),
            local_dir: Some(dir),
        })
    };
    let Some((scheme, rest)) = location.split_once("://") else {
        return local(PathBuf::from(location));
    };
    let (store, prefix): (Arc<dyn ObjectStore>, ObjectPath) = match scheme {
        "file" => return local(PathBuf::from(rest)),
        "memory" => (Arc::new(InMemory::new()), ObjectPath::parse(rest.trim_matches('/')).unwrap_or_default()),
        "s3" => {
            let (bucket, prefix) = bucket_and_prefix(location, rest)?;
            let mut builder = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry())
                .with_client_options(client());
            if let Some(endpoint) = &options.s3_endpoint {
                // An S3-compatible server has no instance metadata to ask:
                // without credentials the client would probe the cloud's
                // metadata address (169.254.169.254) before failing.
                if !(has_env("AWS_ACCESS_KEY_ID") && has_env("AWS_SECRET_ACCESS_KEY")) {
                    return Err(Error::Location {
                        location: url,
                        reason: format!(
                            "no credentials for the S3 endpoint {}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_REGION) for it",
                            stacforge_core::href::redact(endpoint)
                        ),
                    });
                }
                builder = builder
                    .with_endpoint(endpoint)
                    .with_virtual_hosted_style_request(false)
                    .with_allow_http(endpoint.starts_with("http://"));
            }
            (Arc::new(builder.build().map_err(store_err)?), prefix)
        }
        "gs" => {
            let (bucket, prefix) = bucket_and_prefix(location, rest)?;
            let builder = GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry())
                .with_client_options(client());
            (Arc::new(builder.build().map_err(store_err)?), prefix)
        }
        "az" | "azure" => {
            let (container, prefix) = bucket_and_prefix(location, rest)?;
            let mut builder = MicrosoftAzureBuilder::from_env()
                .with_container_name(container)
                .with_retry(retry())
                .with_client_options(client());
            if let Some(endpoint) = &options.azure_endpoint {
                // As for S3: another endpoint gets the credentials given
                // for it, never a managed identity asked of the cloud.
                // The account is the URL's last path segment (path-style).
                let account = url::Url::parse(endpoint).ok().and_then(|u| {
                    u.path_segments()?
                        .rfind(|s| !s.is_empty())
                        .map(str::to_string)
                });
                if !has_env("AZURE_STORAGE_ACCOUNT_KEY") && !has_env("AZURE_STORAGE_SAS_KEY") {
                    return Err(Error::Location {
                        location: url,
                        reason: format!(
                            "no credentials for the Azure endpoint {}: set AZURE_STORAGE_ACCOUNT_KEY (or AZURE_STORAGE_SAS_KEY) for it",
                            stacforge_core::href::redact(endpoint)
                        ),
                    });
                }
                if !has_env("AZURE_STORAGE_ACCOUNT_NAME") {
                    let Some(account) = account else {
                        return Err(Error::Location {
                            location: url,
                            reason: "the Azure endpoint names no account: give it as http://host:port/ACCOUNT or set AZURE_STORAGE_ACCOUNT_NAME".into(),
                        });
                    };
                    builder = builder.with_account(account);
                }
                builder = builder
                    .with_endpoint(endpoint.trim_end_matches('/').to_string())
                    .with_allow_http(endpoint.starts_with("http://"));
            }
            (Arc::new(builder.build().map_err(store_err)?), prefix)
        }
        "http" | "https" => {
            // Sources served over HTTP: read only (objects are found by
            // their URLs; a server does not list them).
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            let builder = HttpBuilder::new()
                .with_url(format!("{scheme}://{host}"))
                .with_retry(retry())
                .with_client_options(client().with_allow_http(scheme == "http"));
            (
                Arc::new(builder.build().map_err(store_err)?),
                ObjectPath::parse(path.trim_matches('/')).unwrap_or_default(),
            )
        }
        other => {
            return Err(Error::Location {
                location: url,
                reason: format!(
                    "{other}:// is not supported; use a directory, file://, s3://, gs://, az://, https:// (sources) or memory://"
                ),
            })
        }
    };
    Ok(Location {
        store,
        prefix,
        url,
        local_dir: None,
    })
}

impl Location {
    /// The object path of `relative` (slash-separated) under the prefix.
    pub fn path(&self, relative: &str) -> ObjectPath {
        // Names are kept as they are (object_store's `Path::from` would
        // percent-encode non-ASCII letters, `%` and `#` into the key, so
        // a key would differ from the name its href encodes).
        let parts = relative
            .split('/')
            .filter(|p| !p.is_empty())
            .map(|p| PathPart::parse(p).unwrap_or_else(|_| PathPart::from(p)));
        self.prefix.parts().chain(parts).collect()
    }

    /// The prefix-relative form of an object path, for messages and links.
    pub fn relative(&self, path: &ObjectPath) -> String {
        path.prefix_match(&self.prefix)
            .map(|parts| {
                parts
                    .map(|p| p.as_ref().to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_else(|| path.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_resolve_to_stores_and_prefixes() {
        let loc = resolve("s3://bucket/some/prefix/", &StoreOptions::default()).unwrap();
        assert_eq!(loc.prefix.as_ref(), "some/prefix");
        assert_eq!(loc.url, "s3://bucket/some/prefix");
        assert_eq!(
            loc.path("items/a/a.json").as_ref(),
            "some/prefix/items/a/a.json"
        );
        assert_eq!(
            loc.relative(&loc.path("collection.json")),
            "collection.json"
        );
        let mem = resolve("memory://", &StoreOptions::default()).unwrap();
        assert_eq!(mem.path("collection.json").as_ref(), "collection.json");
        let err = resolve("ftp://host/x", &StoreOptions::default()).unwrap_err();
        assert!(err.to_string().contains("ftp:// is not supported"), "{err}");
        let err = resolve("s3:///x", &StoreOptions::default()).unwrap_err();
        assert!(err.to_string().contains("no bucket"), "{err}");
    }
}
