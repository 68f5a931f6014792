//! Local file writes that readers never see half done.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to `path` atomically: into a hidden sibling first, then
/// renamed into place. Missing parent directories are created.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = hidden_sibling(path, "stacforge-tmp", "");
    let written = std::fs::write(&tmp, bytes).and_then(|()| {
        crash_point("write-atomic");
        std::fs::rename(&tmp, path)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// A hidden name beside `path`, unique in this process and no reader
/// expects: `.<name>.<tag>-<pid>-<n><suffix>` (a suffix such as `.tif` for
/// libraries that choose a format by extension).
pub fn hidden_sibling(path: &Path, tag: &str, suffix: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{tag}-{}-{n}{suffix}", std::process::id()))
}

/// A copy of the folder `from` at `to` whose files are hard links to the
/// originals where the file system allows (a plain copy where it does
/// not). Only for trees whose files are replaced by renaming, never
/// rewritten in place (Zarr stores written by stacforge): a change to the
/// copy then never reaches the original.
pub fn link_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            link_tree(&entry.path(), &target)?;
        } else if std::fs::hard_link(entry.path(), &target).is_err() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Puts the directory `staged` at `target` in one step that readers see
/// whole: when `target` exists the two are exchanged atomically
/// (`renameat2(RENAME_EXCHANGE)`) and the old tree, now at `staged`, is
/// removed; otherwise `staged` is renamed to `target`.
pub fn replace_dir(staged: &Path, target: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    if !target.exists() {
        return std::fs::rename(staged, target);
    }
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    };
    let (from, to) = (c(staged)?, c(target)?);
    // SAFETY: both paths are NUL-terminated C strings that outlive the call.
    let status = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if status != 0 {
        let err = std::io::Error::last_os_error();
        // File systems without the exchange (some network ones): the old
        // tree is moved aside, then the new one in; readers may find
        // nothing at `target` between the two renames, never a mix.
        if !matches!(
            err.raw_os_error(),
            Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
        ) {
            return Err(err);
        }
        let aside = hidden_sibling(target, "stacforge-old", "");
        std::fs::rename(target, &aside)?;
        std::fs::rename(staged, target)?;
        return std::fs::remove_dir_all(&aside);
    }
    crate::fs::crash_point("replace-dir");
    std::fs::remove_dir_all(staged)
}

/// Whether the file system holding `path` (or its nearest existing
/// parent) has less than 1 MiB left for this user: a write that failed
/// there most likely failed for want of space.
pub fn nearly_full(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let mut at = Some(path);
    while let Some(p) = at {
        if p.exists() {
            let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else {
                return false;
            };
            // SAFETY: statvfs fills the zeroed struct for a NUL-terminated path.
            let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
            if unsafe { libc::statvfs(c.as_ptr(), &mut stat) } != 0 {
                return false;
            }
            return (stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64) < 1 << 20;
        }
        at = p.parent();
    }
    false
}

/// Whether process `pid` is alive on this machine.
pub fn process_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let status = unsafe { libc::kill(pid as libc::pid_t, 0) };
    status == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Removes what killed runs left beside `path`: hidden siblings
/// `.<name>.<tag>-<pid>…` (as [`hidden_sibling`] and the writers name
/// them) whose process is gone. Returns what was removed.
pub fn remove_stale_siblings(path: &Path, tags: &[&str]) -> Vec<PathBuf> {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let prefix = format!(".{name}.");
    remove_stale(&parent, |file_name| {
        let rest = file_name.strip_prefix(&prefix)?;
        tags.iter()
            .find_map(|tag| leading_pid(rest.strip_prefix(tag)?.strip_prefix('-')?))
    })
}

/// Removes the hidden files `.<name>.<tag>-<pid>-…` in `dir` whose
/// process is gone (temporary copies a killed run left). A directory is
/// swept once per process and tag: a run writing thousands of files into
/// one folder (the ledger, a flat catalog) would otherwise list it once per
/// file, and what a killed run left is there before this one starts.
pub fn remove_stale_in(dir: &Path, tag: &str) -> Vec<PathBuf> {
    static SWEPT: std::sync::Mutex<Option<std::collections::HashSet<(PathBuf, String)>>> =
        std::sync::Mutex::new(None);
    let first = SWEPT
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(Default::default)
        .insert((dir.to_path_buf(), tag.to_string()));
    if !first {
        return Vec::new();
    }
    let marker = format!(".{tag}-");
    remove_stale(dir, |file_name| {
        let at = file_name
            .find(&marker)
            .filter(|_| file_name.starts_with('.'))?;
        leading_pid(&file_name[at + marker.len()..])
    })
}

/// The process id a name part starts with.
fn leading_pid(text: &str) -> Option<u32> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Removes the entries of `dir` for which `owner` names a process that is
/// gone (never this one's).
fn remove_stale(dir: &Path, owner: impl Fn(&str) -> Option<u32>) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = owner(&entry.file_name().to_string_lossy()) else {
            continue;
        };
        if pid == std::process::id() || process_alive(pid) {
            continue;
        }
        let stale = entry.path();
        let gone = match entry.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&stale),
            _ => std::fs::remove_file(&stale),
        };
        if gone.is_ok() {
            removed.push(stale);
        }
    }
    removed
}

/// Paths to remove if the process is interrupted (SIGINT, SIGTERM, SIGHUP):
/// temporary work that must not outlive the run. See [`Cleanup`].
static PENDING: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// A temporary file or directory, removed when dropped and, through
/// [`remove_pending`], when the process is interrupted.
#[derive(Debug)]
pub struct Cleanup(PathBuf);

impl Cleanup {
    /// Registers `path` (which need not exist yet).
    pub fn new(path: PathBuf) -> Cleanup {
        PENDING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(path.clone());
        Cleanup(path)
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        remove_path(&self.0);
        let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = pending.iter().rposition(|p| *p == self.0) {
            pending.remove(i);
        }
    }
}

fn remove_path(path: &Path) {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            // Another thread may still be writing into it: try again.
            for _ in 0..5 {
                if std::fs::remove_dir_all(path).is_ok() || !path.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        Ok(_) => {
            let _ = std::fs::remove_file(path);
        }
        Err(_) => {}
    }
}

/// Removes every registered temporary path: called when the process is
/// interrupted, before it exits.
pub fn remove_pending() {
    let pending = std::mem::take(&mut *PENDING.lock().unwrap_or_else(|e| e.into_inner()));
    for path in pending.iter().rev() {
        remove_path(path);
    }
}

/// A new private work directory under the system's temporary folder
/// (`stacforge-work-<pid>-<n>`), removed when the returned guard drops or
/// the process is interrupted. Work directories of runs that were killed
/// (their process gone) are removed first.
pub fn work_dir() -> std::io::Result<Cleanup> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir();
    remove_stale(&base, |name| {
        leading_pid(name.strip_prefix("stacforge-work-")?)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = base.join(format!("stacforge-work-{}-{n}", std::process::id()));
    let guard = Cleanup::new(dir.clone());
    std::fs::create_dir_all(&dir)?;
    Ok(guard)
}

/// An exclusive advisory lock on a store, reference file or catalog, held
/// until dropped: a lock file beside (or inside) what it guards, locked
/// with `flock`, so a killed holder never leaves a stale lock (the kernel
/// releases it; the file is removed on release), and holding its owner (host, pid, start time) for the
/// message a waiting writer prints.
#[derive(Debug)]
pub struct Lock {
    _file: std::fs::File,
    path: PathBuf,
}

impl Lock {
    /// Takes the lock at `lock_path` for `what` (for messages), waiting
    /// while another process holds it (saying so once on standard error).
    pub fn acquire(lock_path: &Path, what: &str) -> std::io::Result<Lock> {
        use std::io::{Read, Seek, Write};
        use std::os::unix::io::AsRawFd;
        if let Some(parent) = lock_path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        use std::os::unix::fs::MetadataExt;
        let mut said = false;
        let mut file = loop {
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(lock_path)?;
            let fd = file.as_raw_fd();
            // SAFETY: flock on a descriptor this function owns.
            if unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                let err = std::io::Error::last_os_error();
                if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                    return Err(err);
                }
                if !said {
                    let mut owner = String::new();
                    let _ = file.read_to_string(&mut owner);
                    let owner = owner.trim();
                    let owner = if owner.is_empty() {
                        "owner unknown"
                    } else {
                        owner
                    };
                    eprintln!(
                        "{what}: waiting for another stacforge run to finish with it ({owner})"
                    );
                    said = true;
                }
                // SAFETY: as above; blocks until the holder releases or dies.
                if unsafe { libc::flock(fd, libc::LOCK_EX) } != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // The holder removes the lock file when it is done: a lock won
            // on a file no longer at the path is no lock; try again.
            match std::fs::metadata(lock_path) {
                Ok(now) if now.ino() == file.metadata()?.ino() => break file,
                _ => continue,
            }
        };
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        file.set_len(0)?;
        file.rewind()?;
        write!(
            file,
            "pid {} on {} since {}",
            std::process::id(),
            host.trim(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )?;
        Ok(Lock {
            _file: file,
            path: lock_path.to_path_buf(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed while still held, so no one can win a lock on it after.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The lock file guarding the store or file at `path`: a hidden sibling.
pub fn lock_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.stacforge-lock"))
}

/// Whether this call is the `n`-th for `point` when the variable `var` is
/// `point:n` (calls counted in `seen`, over the process).
#[cfg(debug_assertions)]
fn nth_call(var: &str, point: &str, seen: &std::sync::atomic::AtomicUsize) -> bool {
    let Ok(spec) = std::env::var(var) else {
        return false;
    };
    match spec.split_once(':') {
        Some((name, n)) if name == point => {
            seen.fetch_add(1, Ordering::SeqCst) + 1 == n.parse().unwrap_or(1)
        }
        _ => false,
    }
}

/// Test builds only: aborts the process at the `n`-th call for `point`
/// when `STACFORGE_CRASH_AT=point:n` is set, so crash tests can kill a run
/// between two steps of a commit. Compiled to nothing in release builds.
pub fn crash_point(point: &str) {
    #[cfg(debug_assertions)]
    {
        static SEEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        if nth_call("STACFORGE_CRASH_AT", point, &SEEN) {
            // SAFETY: ends the process at once, as SIGKILL would.
            unsafe { libc::_exit(137) };
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = point;
}

/// Test builds only: panics at the `n`-th call for `point` (counted over
/// the process, every thread) when `STACFORGE_PANIC_AT=point:n` is set, so
/// tests can check that a thread that dies fails the work instead of
/// leaving it incomplete. Compiled to nothing in release builds.
pub fn panic_point(point: &str) {
    #[cfg(debug_assertions)]
    {
        static SEEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        if nth_call("STACFORGE_PANIC_AT", point, &SEEN) {
            panic!("STACFORGE_PANIC_AT={point}");
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = point;
}

/// Test builds only: with `STACFORGE_PAUSE_AT=point:FILE`, a run reaching
/// `point` creates `FILE.paused` and waits until `FILE` exists, so tests
/// can interleave two runs deterministically (e.g. two writers racing to
/// commit). Compiled to nothing in release builds.
pub fn pause_point(point: &str) {
    #[cfg(debug_assertions)]
    {
        let Ok(spec) = std::env::var("STACFORGE_PAUSE_AT") else {
            return;
        };
        let Some((name, file)) = spec.split_once(':') else {
            return;
        };
        if name != point {
            return;
        }
        let release = PathBuf::from(file);
        let _ = std::fs::write(format!("{file}.paused"), b"");
        while !release.exists() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = point;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_and_leaves_no_temporary() {
        let dir = tempfile_dir();
        let path = dir.join("a/b/doc.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["doc.json"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("stacforge-fs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
