//! Where a run's sources come from: arguments and glob patterns, a list
//! file (`--sources-from`), objects (`s3://bucket/a.nc`, `az://`, `gs://`,
//! `https://`) and object-store prefixes (`s3://bucket/dir/`), fetched once
//! into a local cache checked by size and ETag. Items and references name
//! the objects, never the copies.

use anyhow::Context;
use stacforge_catalog::{location::StoreOptions, Catalog};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// The source options every run has.
#[derive(Debug, Clone, clap::Args)]
pub struct SourceArgs {
    /// Sources: files, glob patterns (quoted, expanded by stacforge),
    /// objects (s3://bucket/a.tif, gs://, az://, https://) or object-store
    /// prefixes (s3://bucket/dir/: every object under it, see --match).
    /// The package groups them into items: one item per source for scenes
    /// and granules, one for a whole series combined into a cube. A `.json`
    /// source is a STAC item: its data asset is converted and the new item
    /// links back with `derived_from`.
    #[arg(value_name = "SRC")]
    pub sources: Vec<String>,
    /// Read more sources from FILE, one path, pattern or URL a line (`-`:
    /// standard input); blank lines and lines starting with # are ignored.
    #[arg(long, value_name = "FILE")]
    pub sources_from: Option<PathBuf>,
    #[command(flatten)]
    pub fetch: FetchArgs,
}

/// How sources on object storage are found and copied.
#[derive(Debug, Clone, clap::Args)]
pub struct FetchArgs {
    /// Of the objects under an object-store prefix, only those whose name
    /// matches this glob pattern, e.g. '*.tif' or 'MOD10A1.*.hdf'.
    #[arg(long = "match", value_name = "PATTERN")]
    pub matching: Option<String>,
    /// Where objects from object storage are copied before they are
    /// converted (reused while their size and ETag are unchanged); items and
    /// references name the objects, not the copies.
    /// Default: $XDG_CACHE_HOME/stacforge/sources or ~/.cache/stacforge/sources.
    #[arg(long, value_name = "DIR", env = "STACFORGE_CACHE")]
    pub cache: Option<PathBuf>,
}

impl SourceArgs {
    /// Whether any source is given.
    pub fn given(&self) -> bool {
        !self.sources.is_empty() || self.sources_from.is_some()
    }

    /// Every source as a local path, in the order given.
    pub fn gather(&self, store: &StoreOptions) -> anyhow::Result<Vec<PathBuf>> {
        let mut listed = self.sources.clone();
        if let Some(file) = &self.sources_from {
            listed.extend(read_list(file)?);
        }
        self.fetch.gather(&listed, store)
    }
}

impl FetchArgs {
    /// `listed` as local paths, in order: patterns expanded, objects and
    /// the objects under prefixes copied into the cache.
    pub fn gather(&self, listed: &[String], store: &StoreOptions) -> anyhow::Result<Vec<PathBuf>> {
        let pattern = self
            .matching
            .as_deref()
            .map(glob::Pattern::new)
            .transpose()
            .context("bad --match pattern")?;
        let mut paths = Vec::new();
        for source in listed {
            if is_remote(source) {
                paths.extend(self.fetch(source, pattern.as_ref(), store)?);
            } else {
                paths.extend(expand(source)?);
            }
        }
        Ok(paths)
    }

    /// The local copy of the one object at `url` (fetched unless an
    /// unchanged copy is in the cache).
    pub fn fetch_one(&self, url: &str, store: &StoreOptions) -> anyhow::Result<PathBuf> {
        self.object(url, store)?
            .with_context(|| format!("{url}: no such object"))
    }

    /// The local copy of the object at `url`, or `None` when no object
    /// has that name (a bucket, a prefix).
    fn object(&self, url: &str, store: &StoreOptions) -> anyhow::Result<Option<PathBuf>> {
        let (scheme, rest) = url.split_once("://").context("not a URL")?;
        let Some((parent, name)) = rest.rsplit_once('/').filter(|(_, n)| !n.is_empty()) else {
            return Ok(None);
        };
        let catalog = Catalog::open_with(&format!("{scheme}://{parent}"), store)?;
        let Some(object) = catalog.object(name)? else {
            return Ok(None);
        };
        let base = self
            .cache
            .clone()
            .unwrap_or_else(default_cache)
            .join(scheme)
            .join(parent);
        fetch_object(&catalog, &object, &base).map(Some)
    }

    /// Copies the object at `url`, or every object under it (whose name
    /// matches `pattern`), into the cache, unless an unchanged copy is
    /// there; returns the copies.
    fn fetch(
        &self,
        url: &str,
        pattern: Option<&glob::Pattern>,
        store: &StoreOptions,
    ) -> anyhow::Result<Vec<PathBuf>> {
        // One object: a URL not ending in `/` that names an object.
        if !url.ends_with('/') {
            if let Some(copy) = self.object(url, store)? {
                return Ok(vec![copy]);
            }
        }
        let cache = self.cache.clone().unwrap_or_else(default_cache);
        let (scheme, rest) = url.split_once("://").expect("a remote URL");
        if scheme == "http" || scheme == "https" {
            anyhow::bail!(
                "{url}: no such object, and a web server's folder cannot be listed; name the files (or list their URLs in --sources-from FILE)"
            );
        }
        let catalog = Catalog::open_with(url, store)?;
        let base = cache.join(scheme).join(rest.trim_end_matches('/'));
        let objects: Vec<_> = catalog
            .objects("")?
            .into_iter()
            .filter(|o| {
                let name = o.path.rsplit('/').next().unwrap_or(&o.path);
                !name.starts_with('.') && pattern.is_none_or(|p| p.matches(name))
            })
            .collect();
        if objects.is_empty() {
            anyhow::bail!(
                "{url}: no such object, and no object{} under this prefix",
                pattern
                    .map(|p| format!(" matching {p}"))
                    .unwrap_or_default()
            );
        }
        objects
            .iter()
            .map(|object| fetch_object(&catalog, object, &base))
            .collect()
    }
}

/// The local copy of `object` under `base`, fetched unless the copy there
/// has the object's size and ETag; its origin note names the object.
fn fetch_object(
    catalog: &Catalog,
    object: &stacforge_catalog::Object,
    base: &Path,
) -> anyhow::Result<PathBuf> {
    let copy = base.join(&object.path);
    let origin = format!("{}/{}", catalog.location(), object.path);
    let note = stacforge_core::source::origin_note(&copy);
    let expected = format!(
        "{origin}\n{}\n{}\n",
        object.size,
        object.etag.as_deref().unwrap_or("")
    );
    let fresh = std::fs::read_to_string(&note).is_ok_and(|n| n == expected)
        && std::fs::metadata(&copy).is_ok_and(|m| m.len() == object.size);
    if !fresh {
        catalog
            .download(&object.path, &copy)
            .with_context(|| format!("fetching {origin}"))?;
        let got = std::fs::metadata(&copy)
            .with_context(|| format!("{}: reading", copy.display()))?
            .len();
        if got != object.size {
            anyhow::bail!(
                "{origin}: {got} bytes fetched, but the store listed {} (the object changed while it was read; run again)",
                object.size
            );
        }
        stacforge_core::fs::write_atomic(&note, expected.as_bytes())
            .with_context(|| format!("{}: writing", note.display()))?;
    }
    Ok(copy)
}

/// Whether a source names an object store location (`file://` is local).
fn is_remote(source: &str) -> bool {
    source.contains("://") && !source.starts_with("file://")
}

pub(crate) fn default_cache() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("stacforge/sources")
}

/// The lines of a source list (`-`: standard input).
fn read_list(file: &Path) -> anyhow::Result<Vec<String>> {
    let reader: Box<dyn BufRead> = if file == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        let opened = std::fs::File::open(file)
            .with_context(|| format!("{}: cannot read the source list", file.display()))?;
        Box::new(std::io::BufReader::new(opened))
    };
    let mut lines = Vec::new();
    for line in reader.lines() {
        let line = line.with_context(|| format!("{}: reading", file.display()))?;
        let line = line.trim();
        if !line.is_empty() && !line.starts_with('#') {
            lines.push(line.to_string());
        }
    }
    Ok(lines)
}

/// A source as paths: a glob pattern expanded (an existing file whose name
/// holds pattern characters is kept as it is), a `file://` URL as its path.
pub fn expand(source: &str) -> anyhow::Result<Vec<PathBuf>> {
    let source = source.strip_prefix("file://").unwrap_or(source);
    if source.contains(['*', '?', '[']) && !Path::new(source).exists() {
        let matched: Vec<PathBuf> = glob::glob(source)
            .with_context(|| format!("bad pattern `{source}`"))?
            .filter_map(Result::ok)
            .collect();
        if matched.is_empty() {
            anyhow::bail!("no file matches `{source}`");
        }
        return Ok(matched);
    }
    Ok(vec![PathBuf::from(source)])
}
