//! Writes and appends as commits: a recipe's store or references written
//! into a repository's session and committed with what made them.

use super::{refs as ice_refs, Repo, RepoOptions};
use crate::recipe::{self, Outcome, Progress, Recipe, SourceRecord};
use crate::refs::{self, RefOptions, References};
use crate::zarr::ZarrVersion;
use crate::{Error, Result};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// What a commit records of the run that made it, beside its sources.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    /// The package or verb that wrote it (`netcdf to-zarr`, …).
    pub package: String,
    /// Its options.
    pub options: Value,
    /// A tag to give the commit.
    pub tag: Option<String>,
}

/// A commit made.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The new snapshot's id.
    pub snapshot: String,
    /// The tag given to it.
    pub tag: Option<String>,
}

/// The metadata and message of a commit writing `sources`.
fn describe(
    operation: &str,
    sources: &[SourceRecord],
    info: &RunInfo,
) -> (String, Map<String, Value>) {
    let names: Vec<&str> = sources
        .iter()
        .map(|s| s.href.rsplit('/').next().unwrap_or(&s.href))
        .collect();
    let shown = match names.len() {
        0..=3 => names.join(", "),
        n => format!("{}, … {} ({n} in all)", names[..2].join(", "), names[n - 1]),
    };
    let message = format!("stacforge {}: {operation} {shown}", info.package);
    let mut metadata = Map::new();
    metadata.insert(
        "stacforge".into(),
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "package": info.package,
            "operation": operation,
            "options": info.options,
            "sources": sources,
        }),
    );
    (message, metadata)
}

fn commit(
    repo: &Repo,
    writer: super::Writer,
    operation: &str,
    sources: &[SourceRecord],
    info: &RunInfo,
) -> Result<Committed> {
    let (message, metadata) = describe(operation, sources, info);
    let snapshot = writer.commit(repo, &message, metadata)?;
    if let Some(tag) = &info.tag {
        repo.tag(tag, &snapshot)?;
    }
    Ok(Committed {
        snapshot,
        tag: info.tag.clone(),
    })
}

fn v3_only(recipe: &Recipe, location: &str) -> Result<()> {
    if recipe.version != ZarrVersion::V3 {
        return Err(Error::Store {
            store: PathBuf::from(location),
            message: "Icechunk repositories hold Zarr v3 only; leave out --zarr-version 2".into(),
        });
    }
    Ok(())
}

/// Writes the recipe's store as one commit to the repository at `location`
/// (created if there is none). A repository that holds data already is
/// refused unless `overwrite`, which replaces the data in a new snapshot
/// (older ones keep theirs).
pub fn write_store(
    recipe: &Recipe,
    location: &str,
    options: &RepoOptions,
    overwrite: bool,
    info: &RunInfo,
    progress: Progress,
) -> Result<(Outcome, Committed)> {
    v3_only(recipe, location)?;
    let plan = recipe::plan(recipe)?;
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    let repo = Repo::open_or_create(location, options)?;
    let writer = repo.writer()?;
    if !writer.is_empty()? {
        if !overwrite {
            return Err(Error::Store {
                store: PathBuf::from(location),
                message: "the repository holds data already; append to it with --append, or replace it with --overwrite (older snapshots keep theirs)".into(),
            });
        }
        writer.clear()?;
    }
    let outcome = recipe::write_into(&plan, recipe, &writer.zarr(), progress)?;
    let committed = commit(&repo, writer, "write", &outcome.written, info)?;
    Ok((outcome, committed))
}

/// Appends the recipe's sources to the store in the repository at
/// `location` as one commit (none when every source is in it already).
pub fn append_store(
    recipe: &Recipe,
    location: &str,
    options: &RepoOptions,
    info: &RunInfo,
    progress: Progress,
) -> Result<(Outcome, Option<Committed>)> {
    let repo = Repo::open(location, options)?;
    let writer = repo.writer()?;
    let store = writer.zarr();
    let appending = match recipe::Appending::prepare(recipe, &store)? {
        recipe::Prepared::Nothing(outcome) => return Ok((outcome, None)),
        recipe::Prepared::Append(appending) => appending,
    };
    // Metadata first: Icechunk places chunks by their array's new shape.
    appending.meta.write_in(&store)?;
    let bytes = appending.write_chunks(&store, &store, progress)?;
    let outcome = appending.outcome(bytes);
    let committed = commit(&repo, writer, "append", &outcome.written, info)?;
    Ok((outcome, Some(committed)))
}

/// What a references write or append did.
#[derive(Debug, Clone)]
pub struct RefsOutcome {
    /// The references now in the repository.
    pub references: References,
    /// Sources added.
    pub added: Vec<SourceRecord>,
    /// Sources already there.
    pub skipped: Vec<SourceRecord>,
    /// Sources left out as bad, with the reason.
    pub left_out: Vec<(PathBuf, String)>,
    /// Virtual chunk references written.
    pub virtual_chunks: usize,
    /// The commit (none when nothing was added).
    pub committed: Option<Committed>,
}

/// Writes virtual references to the recipe's sources as one commit to the
/// repository at `location` (created if there is none), replacing what
/// its branch held (older snapshots keep theirs), or with `append` adding
/// the sources to the references it holds (only the new files are read).
pub fn write_refs(
    recipe: &Recipe,
    ref_options: &RefOptions,
    location: &str,
    options: &RepoOptions,
    append: bool,
    info: &RunInfo,
) -> Result<RefsOutcome> {
    let mut repo = if append {
        Repo::open(location, options)?
    } else {
        Repo::open_or_create(location, options)?
    };
    let origin = PathBuf::from(location);
    let (before, base) = ice_refs::read_snapshot(&repo, None)
        .map(|(r, id)| (Some(r), id))
        .or_else(|e| {
            if append {
                Err(e)
            } else {
                Ok((None, String::new()))
            }
        })?;
    let (references, added, skipped, left_out) = if append {
        let existing = before.as_ref().expect("read above");
        let (r, outcome) = refs::append(recipe, existing, &origin, ref_options)?;
        (r, outcome.added, outcome.skipped, outcome.left_out)
    } else {
        let (r, plan) = refs::references(recipe, ref_options)?;
        for w in &plan.warnings {
            eprintln!("warning: {w}");
        }
        let records = plan.records();
        (r, records, Vec::new(), plan.skipped.clone())
    };
    if added.is_empty() {
        return Ok(RefsOutcome {
            references,
            added,
            skipped,
            left_out,
            virtual_chunks: 0,
            committed: None,
        });
    }
    repo.ensure_containers(&ice_refs::containers(&references), options)?;
    let writer = repo.writer()?;
    if !base.is_empty() && writer.base() != base {
        return Err(Error::Conflict {
            store: origin,
            message: format!(
                "another writer committed {} while these references were built from {base}; nothing of this run is visible; run it again",
                writer.base()
            ),
        });
    }
    let previous = if append {
        before.as_ref()
    } else {
        if !writer.is_empty()? {
            eprintln!(
                "{location}: replacing the references on `{}` (older snapshots keep theirs)",
                super::BRANCH
            );
            writer.clear()?;
        }
        None
    };
    let virtual_chunks = ice_refs::write(&writer, &references, previous, &origin)?;
    let operation = if append { "append" } else { "write" };
    let committed = commit(&repo, writer, operation, &added, info)?;
    Ok(RefsOutcome {
        references,
        added,
        skipped,
        left_out,
        virtual_chunks,
        committed: Some(committed),
    })
}
