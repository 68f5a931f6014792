//! Where writes happen before they are visible: hidden siblings, the
//! store's lock, and what killed runs left behind.

use super::*;

/// Hidden siblings of a store that writers make (and killed ones leave).
pub(super) const STAGING_TAGS: &[&str] = &[
    "stacforge-new",
    "stacforge-append",
    "stacforge-old",
    "stacforge-tmp",
];

/// Takes the store's lock (waiting for another writer), then removes what
/// killed writers left beside it.
pub fn lock(store: &Path) -> Result<stacforge_core::fs::Lock> {
    let lock = stacforge_core::fs::Lock::acquire(
        &stacforge_core::fs::lock_path(store),
        &store.display().to_string(),
    )
    .map_err(|source| Error::Io {
        path: stacforge_core::fs::lock_path(store),
        source,
    })?;
    for stale in stacforge_core::fs::remove_stale_siblings(store, STAGING_TAGS) {
        eprintln!("{}: removed, left by an interrupted run", stale.display());
    }
    Ok(lock)
}

/// Refuses to write a store at `out` that is, or would hold, a source.
pub(super) fn refuse_sources_inside(out: &Path, plan: &Plan) -> Result<()> {
    let Ok(out_abs) = resolved_path(out) else {
        return Ok(());
    };
    for p in &plan.sources {
        let path = &p.inventory.path;
        let src = path.canonicalize().unwrap_or_else(|_| path.clone());
        if src.starts_with(&out_abs) {
            return Err(Error::Store {
                store: out.to_path_buf(),
                message: format!(
                    "the source {} is inside it; writing the store there would replace the source",
                    path.display()
                ),
            });
        }
    }
    Ok(())
}

/// `path` made absolute with its existing part resolved (symlinks too).
pub(super) fn resolved_path(path: &Path) -> std::io::Result<PathBuf> {
    if let Ok(p) = path.canonicalize() {
        return Ok(p);
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let base = match parent {
        Some(p) => resolved_path(p)?,
        None => std::env::current_dir()?,
    };
    Ok(base.join(path.file_name().unwrap_or_default()))
}

/// Hard-links every file of `from` into the same place under `to`, where
/// `to` has none yet (the staged new chunks win); temporary files of
/// killed writers are left out.
pub(super) fn link_tree(from: &Path, to: &Path) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io {
            path: path.clone(),
            source,
        }
    };
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let name = entry.file_name();
        if name.to_string_lossy().contains(".stacforge-tmp-") {
            continue;
        }
        let (source, target) = (entry.path(), to.join(&name));
        if entry.file_type().map_err(io(&source))?.is_dir() {
            link_tree(&source, &target)?;
        } else if !target.exists() {
            std::fs::hard_link(&source, &target).map_err(io(&target))?;
        }
    }
    Ok(())
}
