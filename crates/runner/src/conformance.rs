//! The conformance kit: what every package must do, checked on real
//! sources. A package's tests call [`assert_package_conforms`] (feature
//! `testing`); each check is a [`Check`] that [`check_package`] reports by
//! name, so a test can show that a package breaking one rule fails it.
//!
//! The checks:
//! - [`Check::Runs`]: every source converts, through the shared run loop;
//! - [`Check::Schemas`]: the collection and every item are valid against
//!   the official STAC schemas (when a schema folder is given);
//! - [`Check::StableIds`]: two runs give the same, unique item ids, one
//!   per unit the package plans;
//! - [`Check::Assets`]: every asset has a media type, roles, `file:size`
//!   and `file:checksum`, and every local asset's file matches them;
//! - [`Check::Provenance`]: every item links (`via`) to its source with
//!   the source's size and checksum;
//! - [`Check::Deterministic`]: two runs write byte-identical assets;
//! - [`Check::DescribeOpensNoFiles`]: `describe` gives the same item when
//!   the source and the artifacts' files are gone.

use crate::{run, RunOptions};
use serde_json::Value;
use stacforge_catalog::Catalog;
use stacforge_core::{Job, Package, Source, Unit};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One rule of the kit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Check {
    /// Every source converts.
    Runs,
    /// STAC valid against the official schemas.
    Schemas,
    /// Ids unique and the same on every run.
    StableIds,
    /// Media type, roles, size and checksum on every asset, and true.
    Assets,
    /// A `via` link per source with its size and checksum.
    Provenance,
    /// Byte-identical assets from identical sources.
    Deterministic,
    /// `describe` reads nothing from disk.
    DescribeOpensNoFiles,
}

/// A check that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The check.
    pub check: Check,
    /// What broke it.
    pub reason: String,
}

/// Runs every check of the kit on `package` over `sources`; the STAC
/// schemas are checked when `schemas` (the official schemas laid out by
/// URL) is given. Returns the failures, none for a conforming package.
pub fn check_package(
    package: &dyn Package,
    sources: &[PathBuf],
    schemas: Option<&Path>,
) -> Vec<Failure> {
    check_package_with(package, sources, schemas, &[])
}

/// [`check_package`], with the extension schemas in `unchecked` allowed to
/// be missing from the schema folder (a package whose extension has no
/// schema offline checks its fields itself).
pub fn check_package_with(
    package: &dyn Package,
    sources: &[PathBuf],
    schemas: Option<&Path>,
    unchecked: &[&str],
) -> Vec<Failure> {
    let mut failures = Vec::new();
    let mut fail = |check: Check, reason: String| failures.push(Failure { check, reason });
    let work = tempfile::tempdir().expect("a temporary folder");
    let mut catalogs = Vec::new();
    for n in 0..2 {
        let dir = work.path().join(format!("run{n}"));
        let catalog = match Catalog::open(&dir.display().to_string()) {
            Ok(c) => c,
            Err(e) => {
                fail(Check::Runs, e.to_string());
                return failures;
            }
        };
        let options = RunOptions {
            jobs: Some(1),
            ..RunOptions::new(package.id())
        };
        let failed = std::sync::Mutex::new(Vec::new());
        let record = |_: &crate::Tally, outcome: &crate::UnitOutcome| {
            if let Err(e) = &outcome.result {
                failed.lock().expect("not poisoned").push(format!(
                    "{}: {}",
                    outcome.label(),
                    chain(e)
                ));
            }
        };
        match run(package, sources, &catalog, &options, &record) {
            Ok(_) => {
                for reason in failed.into_inner().expect("not poisoned") {
                    fail(Check::Runs, reason);
                }
            }
            Err(e) => fail(Check::Runs, chain(&e)),
        }
        catalogs.push(dir);
    }
    let items: Vec<BTreeMap<String, (PathBuf, Value)>> =
        catalogs.iter().map(|c| items_of(c)).collect();
    let ids: Vec<Vec<&String>> = items.iter().map(|i| i.keys().collect()).collect();
    if ids[0] != ids[1] {
        fail(
            Check::StableIds,
            format!("run 1 made {:?}, run 2 {:?}", ids[0], ids[1]),
        );
    }
    // One item per planned unit, each with the unit's id.
    let planned: Vec<String> = match package.plan(sources) {
        Ok(units) => units.into_iter().map(|u| u.item_id).collect(),
        Err(_) => Vec::new(),
    };
    let mut planned_sorted: Vec<&String> = planned.iter().collect();
    planned_sorted.sort();
    planned_sorted.dedup();
    if ids[0] != planned_sorted {
        fail(
            Check::StableIds,
            format!(
                "{} source(s) planned as {:?} gave the items {:?}",
                sources.len(),
                planned,
                ids[0]
            ),
        );
    }
    if let Some(schemas) = schemas {
        match stacforge_catalog::validate::Validator::new(schemas) {
            Ok(validator) => {
                let mut documents = vec![catalogs[0].join("collection.json")];
                documents.extend(items[0].values().map(|(p, _)| p.clone()));
                for path in documents {
                    let doc = read_json(&path);
                    match validator.validate_available(&doc) {
                        Ok((problems, missing)) => {
                            for p in problems {
                                fail(Check::Schemas, format!("{}: {p}", path.display()));
                            }
                            for url in missing.iter().filter(|u| !unchecked.contains(&u.as_str())) {
                                fail(
                                    Check::Schemas,
                                    format!(
                                        "{}: no local copy of the schema {url}",
                                        path.display()
                                    ),
                                );
                            }
                        }
                        Err(e) => fail(Check::Schemas, format!("{}: {e}", path.display())),
                    }
                }
            }
            Err(e) => fail(Check::Schemas, e.to_string()),
        }
    }
    for (id, (path, item)) in &items[0] {
        check_assets(id, path, item, &mut fail);
        check_provenance(id, item, &mut fail);
        if let Some((other, _)) = items[1].get(id) {
            check_same_assets(id, path, other, item, &mut fail);
        }
    }
    match package.plan(sources) {
        Ok(units) => {
            for unit in units {
                if let Err(reason) = describe_twice(package, &unit, work.path()) {
                    fail(
                        Check::DescribeOpensNoFiles,
                        format!("unit {}: {reason}", unit.item_id),
                    );
                }
            }
        }
        Err(e) => fail(Check::Runs, format!("planning: {}", chain(&e))),
    }
    failures
}

/// Panics, listing every failure, unless `package` passes the whole kit.
pub fn assert_package_conforms(package: &dyn Package, sources: &[PathBuf], schemas: Option<&Path>) {
    assert_package_conforms_with(package, sources, schemas, &[]);
}

/// [`assert_package_conforms`], with the extension schemas in `unchecked`
/// allowed to be missing from the schema folder.
pub fn assert_package_conforms_with(
    package: &dyn Package,
    sources: &[PathBuf],
    schemas: Option<&Path>,
    unchecked: &[&str],
) {
    let failures = check_package_with(package, sources, schemas, unchecked);
    assert!(
        failures.is_empty(),
        "package {} does not conform:\n{}",
        package.id(),
        failures
            .iter()
            .map(|f| format!("- {:?}: {}", f.check, f.reason))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// An error and its causes on one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    std::iter::successors(Some(e), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

fn read_json(path: &Path) -> Value {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

/// The items of a local catalog by id: `items/<id>/<id>.json`.
fn items_of(catalog: &Path) -> BTreeMap<String, (PathBuf, Value)> {
    let mut items = BTreeMap::new();
    for entry in std::fs::read_dir(catalog.join("items"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let id = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path().join(format!("{id}.json"));
        if path.is_file() {
            items.insert(id, (path.clone(), read_json(&path)));
        }
    }
    items
}

/// The local file an asset's relative href names, beside the item.
fn local_file(item_path: &Path, asset: &Value) -> Option<PathBuf> {
    let href = asset.get("href")?.as_str()?;
    if href.contains("://") || href.starts_with('/') {
        return None;
    }
    let relative = stacforge_core::href::decode(href)?;
    Some(item_path.parent()?.join(relative))
}

/// The file whose size and checksum an asset carries: the asset's own, or
/// for a directory (a Zarr store) its metadata document.
fn described_file(file: PathBuf) -> PathBuf {
    stacforge_core::cube::metadata_document(&file).unwrap_or(file)
}

/// Every file under `path` (the file itself when it is one), by relative
/// name, with its bytes.
fn contents(path: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for entry in std::fs::read_dir(&p).into_iter().flatten().flatten() {
                stack.push(entry.path());
            }
        } else if let Ok(bytes) = std::fs::read(&p) {
            let name = p.strip_prefix(path).unwrap_or(&p).to_path_buf();
            files.insert(name, bytes);
        }
    }
    files
}

fn check_assets(id: &str, path: &Path, item: &Value, fail: &mut impl FnMut(Check, String)) {
    let Some(assets) = item.get("assets").and_then(Value::as_object) else {
        fail(Check::Assets, format!("{id}: no assets"));
        return;
    };
    for (key, asset) in assets {
        let what = format!("{id} asset {key}");
        if asset.get("type").and_then(Value::as_str).is_none() {
            fail(Check::Assets, format!("{what}: no media type"));
        }
        if asset
            .get("roles")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        {
            fail(Check::Assets, format!("{what}: no roles"));
        }
        let size = asset.get("file:size").and_then(Value::as_u64);
        let checksum = asset.get("file:checksum").and_then(Value::as_str);
        let (Some(size), Some(checksum)) = (size, checksum) else {
            fail(
                Check::Assets,
                format!("{what}: no file:size or file:checksum"),
            );
            continue;
        };
        if let Some(file) = local_file(path, asset).map(described_file) {
            match Source::from_path(&file) {
                Ok(s) if s.size == size && s.checksum == checksum => {}
                Ok(_) => fail(
                    Check::Assets,
                    format!("{what}: file:size or file:checksum is not the file's"),
                ),
                Err(e) => fail(
                    Check::Assets,
                    format!("{what}: its href does not resolve: {e}"),
                ),
            }
        }
    }
}

fn check_provenance(id: &str, item: &Value, fail: &mut impl FnMut(Check, String)) {
    let links = item
        .get("links")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let via: Vec<&Value> = links
        .iter()
        .filter(|l| l["rel"] == stacforge_core::provenance::SOURCE_REL)
        .collect();
    if via.is_empty() {
        fail(
            Check::Provenance,
            format!("{id}: no `via` link to its source"),
        );
    }
    for link in via {
        if link.get("file:size").is_none() || link.get("file:checksum").is_none() {
            fail(
                Check::Provenance,
                format!(
                    "{id}: the `via` link {} has no file:size or file:checksum",
                    link["href"]
                ),
            );
        }
    }
}

fn check_same_assets(
    id: &str,
    first: &Path,
    second: &Path,
    item: &Value,
    fail: &mut impl FnMut(Check, String),
) {
    let other = read_json(second);
    for (key, asset) in item["assets"].as_object().into_iter().flatten() {
        let (Some(a), Some(b)) = (
            local_file(first, asset),
            local_file(second, &other["assets"][key]),
        ) else {
            continue;
        };
        if contents(&a) != contents(&b) {
            fail(
                Check::Deterministic,
                format!("{id} asset {key}: two runs wrote different bytes"),
            );
        }
    }
}

/// Converts a copy of the unit's sources, describes them, removes the
/// copies and the artifacts' files, and describes again: both items must
/// be equal.
fn describe_twice(package: &dyn Package, unit: &Unit, work: &Path) -> Result<(), String> {
    let dir = tempfile::tempdir_in(work).map_err(|e| e.to_string())?;
    let mut copies = Vec::new();
    for (n, source) in unit.sources.iter().enumerate() {
        // Each in its own folder: sources of a unit may share a name.
        let folder = dir.path().join(n.to_string());
        std::fs::create_dir_all(&folder).map_err(|e| e.to_string())?;
        let copy = folder.join(source.file_name().unwrap_or_default());
        std::fs::copy(source, &copy).map_err(|e| format!("{}: {e}", source.display()))?;
        // Side files the format keeps beside the source (a MODIS .xml) come along.
        for suffix in [".xml", ".aux.xml"] {
            let side = PathBuf::from(format!("{}{suffix}", source.display()));
            if side.is_file() {
                let _ = std::fs::copy(&side, format!("{}{suffix}", copy.display()));
            }
        }
        copies.push(Source::from_path(&copy).map_err(|e| e.to_string())?);
    }
    let workdir = dir.path().join("work");
    std::fs::create_dir_all(&workdir).map_err(|e| e.to_string())?;
    let job = Job {
        sources: copies,
        item_id: unit.item_id.clone(),
        collection_id: package.id().to_string(),
        workdir: workdir.clone(),
        datetime: None,
        derived_from: None,
        previous: None,
    };
    let artifacts = package.convert(&job).map_err(|e| chain(&e))?;
    let first = package.describe(&job, &artifacts).map_err(|e| chain(&e))?;
    std::fs::remove_dir_all(dir.path()).map_err(|e| e.to_string())?;
    let second = package
        .describe(&job, &artifacts)
        .map_err(|e| format!("with the files gone, describe fails: {}", chain(&e)))?;
    let (a, b) = (stable(&first), stable(&second));
    if a != b {
        return Err("describe gives another item once the files are gone".into());
    }
    Ok(())
}

/// An item as JSON with its creation times blanked.
fn stable(item: &stac::Item) -> Value {
    let mut doc = serde_json::to_value(item).unwrap_or(Value::Null);
    for key in ["created", "updated"] {
        if let Some(p) = doc.get_mut("properties").and_then(Value::as_object_mut) {
            p.remove(key);
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use stacforge_core::{Artifact, Result};
    use std::time::{SystemTime, UNIX_EPOCH};

    /// The geotiff package, broken in one way.
    #[derive(Debug)]
    struct Broken {
        inner: stacforge_geotiff::GeoTiff,
        flaw: Flaw,
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Flaw {
        None,
        ConvertFails,
        NoDatetime,
        RandomId,
        NoChecksum,
        ViaWithoutChecksum,
        NoisyThumbnail,
        DescribeReads,
    }

    fn nanos() -> u128 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    }

    impl Package for Broken {
        fn id(&self) -> &'static str {
            "geotiff"
        }
        fn title(&self) -> &'static str {
            self.inner.title()
        }
        fn collection(&self) -> Result<stac::Collection> {
            self.inner.collection()
        }
        fn convert(&self, job: &Job) -> Result<Vec<Artifact>> {
            if self.flaw == Flaw::ConvertFails {
                return Err(stacforge_core::Error::Empty {
                    path: job.source().path.clone(),
                });
            }
            let mut artifacts = self.inner.convert(job)?;
            if self.flaw == Flaw::NoisyThumbnail {
                for a in artifacts.iter_mut().filter(|a| a.key == "thumbnail") {
                    let mut bytes = std::fs::read(&a.path).unwrap();
                    bytes.extend(nanos().to_le_bytes());
                    std::fs::write(&a.path, &bytes).unwrap();
                    *a = Artifact::from_file(
                        "thumbnail",
                        &a.path,
                        a.media_type.clone(),
                        &["thumbnail"],
                    )?;
                }
            }
            Ok(artifacts)
        }
        fn describe(&self, job: &Job, artifacts: &[Artifact]) -> Result<stac::Item> {
            if self.flaw == Flaw::DescribeReads {
                std::fs::metadata(&job.source().path).map_err(|source| {
                    stacforge_core::Error::Io {
                        path: job.source().path.clone(),
                        source,
                    }
                })?;
            }
            let mut item = self.inner.describe(job, artifacts)?;
            match self.flaw {
                Flaw::NoDatetime => {
                    item.properties.datetime = None;
                    item.properties.additional_fields.remove("start_datetime");
                    item.properties.additional_fields.remove("end_datetime");
                }
                Flaw::RandomId => item.id = format!("{}-{}", item.id, nanos()),
                Flaw::NoChecksum => {
                    for asset in item.assets.values_mut() {
                        asset.additional_fields.remove("file:checksum");
                    }
                }
                // (A package that links no source at all gets every source
                // linked by the run loop; a bad link of its own stays.)
                Flaw::ViaWithoutChecksum => {
                    for link in item.links.iter_mut().filter(|l| l.rel == "via") {
                        link.additional_fields.remove("file:checksum");
                    }
                }
                _ => {}
            }
            Ok(item)
        }
    }

    fn fixture() -> Vec<PathBuf> {
        vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/geotiff/dem_utm33.tif")]
    }

    fn schemas() -> Option<PathBuf> {
        let dir = std::env::var_os("STACFORGE_SCHEMAS")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/stac-schemas")
            });
        if dir.join("schemas.stacspec.org").exists() {
            Some(dir)
        } else {
            eprintln!(
                "skipping the schema checks: no STAC schemas at {}",
                dir.display()
            );
            None
        }
    }

    fn failed(flaw: Flaw) -> Vec<Check> {
        stacforge_raster::init();
        let package = Broken {
            inner: stacforge_geotiff::GeoTiff::new(Default::default()),
            flaw,
        };
        let mut checks: Vec<Check> = check_package(&package, &fixture(), schemas().as_deref())
            .into_iter()
            .map(|f| f.check)
            .collect();
        checks.sort();
        checks.dedup();
        checks
    }

    #[test]
    fn the_geotiff_package_conforms() {
        stacforge_raster::init();
        let package = stacforge_geotiff::GeoTiff::new(Default::default());
        assert_package_conforms(&package, &fixture(), schemas().as_deref());
    }

    #[test]
    fn each_check_fails_on_a_package_that_breaks_it() {
        assert_eq!(failed(Flaw::None), []);
        assert!(failed(Flaw::ConvertFails).contains(&Check::Runs));
        // A random id also makes describe give another item each time.
        assert!(failed(Flaw::RandomId).contains(&Check::StableIds));
        assert_eq!(failed(Flaw::NoChecksum), [Check::Assets]);
        assert_eq!(failed(Flaw::ViaWithoutChecksum), [Check::Provenance]);
        assert_eq!(failed(Flaw::NoisyThumbnail), [Check::Deterministic]);
        assert_eq!(failed(Flaw::DescribeReads), [Check::DescribeOpensNoFiles]);
        if schemas().is_some() {
            assert!(failed(Flaw::NoDatetime).contains(&Check::Schemas));
        }
    }
}
