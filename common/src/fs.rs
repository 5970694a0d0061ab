//! Crash-safe file replacement, written once for every persisted format.
//!
//! [`write_atomic`] (and its streaming form [`write_atomic_with`]) replace a
//! file so that a reader, or the file system after a crash or a `SIGKILL`,
//! sees either the old file or the whole new one, never a part of either:
//!
//! 1. the bytes go to a new temporary file `.<name>.tmp-<pid>-<n>` in the
//!    target's directory (created with `create_new`, so two writers never
//!    share one: the process id separates processes, a process-wide counter
//!    separates threads and successive saves);
//! 2. the temporary file is synced to disk (`fsync`);
//! 3. it is renamed over the target (atomic within one file system);
//! 4. the directory is synced, so that the rename itself survives a crash.
//!
//! On any failure the temporary file is removed and the target is left as it
//! was. A process killed between steps 1 and 3 leaves its temporary file
//! behind; [`remove_stale_temps`] (called by every save) deletes those of the
//! target whose process is gone. Whether a process is gone is known on Linux
//! (`/proc/<pid>`); elsewhere, or when unsure, the files are left alone.
//! Processes are told apart by pid only: when several machines or pid
//! namespaces save to one shared directory, a save in another one can lose
//! its temporary file to the clean-up; that save then fails (its rename
//! finds no file) and the target keeps its previous content.
//!
//! Errors are [`FsError`]s: the failed step, the path it concerns and the
//! operating system's [`io::Error`] as the source.
//!
//! ```
//! # fn main() -> Result<(), unidb_common::fs::FsError> {
//! use std::io::Write;
//! use unidb_common::fs::{write_atomic, write_atomic_with};
//!
//! let dir = std::env::temp_dir().join(format!("unidb-fs-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("state.bin");
//! write_atomic(&path, b"version 1")?;
//! write_atomic_with(&path, |w| w.write_all(b"version 2"))?;
//! assert_eq!(std::fs::read(&path).unwrap(), b"version 2");
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok(())
//! # }
//! ```

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A failed file operation: what was being done, to which path, and why.
#[derive(Debug, thiserror::Error)]
#[error("{op} {}: {source}", path.display())]
pub struct FsError {
    /// The failed step, e.g. `"create temporary file for"`.
    pub op: &'static str,
    /// The file the operation was for (the target, not the temporary file).
    pub path: PathBuf,
    /// The operating system's error.
    #[source]
    pub source: io::Error,
}

impl FsError {
    fn new(op: &'static str, path: &Path, source: io::Error) -> Self {
        FsError {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// The kind of the underlying I/O error.
    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }
}

impl From<FsError> for io::Error {
    /// An `io::Error` of the same kind whose message names the step and the
    /// path; the original error stays reachable through `source()`.
    fn from(e: FsError) -> Self {
        io::Error::new(e.kind(), e)
    }
}

impl From<FsError> for crate::Error {
    fn from(e: FsError) -> Self {
        let location = e.path.display().to_string();
        let kind = crate::ErrorKind::of_io(e.kind());
        crate::Error::at(kind, e.to_string(), location).with_source(e)
    }
}

/// Distinguishes the temporary files of one process (threads, saves).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The longest target name (in bytes) copied into a temporary file's name,
/// so that `.<name>.tmp-<pid>-<n>` stays under the usual 255-byte limit.
const MAX_NAME_IN_TEMP: usize = 200;

/// `.<name>.tmp-`: the prefix of every temporary file of a target named
/// `name` (a long name is cut to [`MAX_NAME_IN_TEMP`] bytes).
fn temp_prefix(name: &OsStr) -> OsString {
    let mut p = OsString::from(".");
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let b = name.as_bytes();
        p.push(OsStr::from_bytes(&b[..b.len().min(MAX_NAME_IN_TEMP)]));
    }
    #[cfg(not(unix))]
    {
        let s = name.to_string_lossy();
        let mut end = s.len().min(MAX_NAME_IN_TEMP);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        p.push(&s[..end]);
    }
    p.push(".tmp-");
    p
}

/// The directory holding `path` and its file name.
fn split(path: &Path, op: &'static str) -> Result<(PathBuf, OsString), FsError> {
    let Some(name) = path.file_name() else {
        return Err(FsError::new(
            op,
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"),
        ));
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name.to_os_string()))
}

/// Writes `bytes` to `path` atomically (see the [module docs](self)).
///
/// # Errors
/// [`FsError`] naming the failed step and `path`; `path` is then unchanged
/// and no temporary file is left.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Writes the file `path` atomically with what `write` puts into a buffered
/// writer (see the [module docs](self)); for outputs too large to build in
/// memory first. `write` returning an error aborts the save.
///
/// The new file takes the permissions of the file it replaces, if any.
///
/// # Errors
/// [`FsError`] naming the failed step and `path` (the error `write`
/// returned is the source when it failed); `path` is then unchanged and no
/// temporary file is left.
pub fn write_atomic_with<F>(path: &Path, write: F) -> Result<(), FsError>
where
    F: FnOnce(&mut BufWriter<File>) -> io::Result<()>,
{
    let (dir, name) = split(path, "save to")?;
    // Best effort: a failure to clean up must not fail the save.
    let _ = remove_stale_temps(path);
    let prefix = temp_prefix(&name);
    let pid = std::process::id();
    // A stale file of a dead process that had our pid may hold a name:
    // take the next counter value then.
    let mut attempts = 0;
    let (temp, file) = loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut temp_name = prefix.clone();
        temp_name.push(format!("{pid}-{n}"));
        let temp = dir.join(temp_name);
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(f) => break (temp, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 64 => attempts += 1,
            Err(e) => return Err(FsError::new("create temporary file for", path, e)),
        }
    };
    let result = fill(path, file, write).and_then(|()| {
        fs::rename(&temp, path).map_err(|e| FsError::new("rename temporary file over", path, e))
    });
    if let Err(e) = result {
        // Best effort: the original error is the one to report.
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    sync_dir(&dir).map_err(|e| FsError::new("sync directory of", path, e))
}

/// Writes, flushes and syncs the temporary file (closed on return).
fn fill<F>(path: &Path, file: File, write: F) -> Result<(), FsError>
where
    F: FnOnce(&mut BufWriter<File>) -> io::Result<()>,
{
    if let Ok(old) = fs::metadata(path) {
        // Best effort: keep the replaced file's permissions.
        let _ = file.set_permissions(old.permissions());
    }
    let mut w = BufWriter::with_capacity(1 << 16, file);
    write(&mut w).map_err(|e| FsError::new("write temporary file for", path, e))?;
    let file = w
        .into_inner()
        .map_err(|e| FsError::new("write temporary file for", path, e.into_error()))?;
    file.sync_all()
        .map_err(|e| FsError::new("sync temporary file for", path, e))
}

/// Syncs a directory so that a rename in it survives a crash. Platforms and
/// file systems that cannot sync a directory (Windows cannot open one, some
/// file systems answer "unsupported" or "invalid argument") skip it.
///
/// # Errors
/// The I/O error of opening or syncing `dir`.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    if cfg!(unix) {
        match File::open(dir).and_then(|d| d.sync_all()) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Unsupported | io::ErrorKind::InvalidInput
                ) =>
            {
                Ok(())
            }
            other => other,
        }
    } else {
        Ok(())
    }
}

/// Whether the process `pid` certainly no longer exists. Only Linux can
/// tell (through `/proc`); elsewhere, or when `/proc` is not mounted, the
/// answer is `false` ("not sure"), so nothing is removed. A reused pid reads
/// as alive, which only delays a clean-up.
fn process_is_gone(pid: u32) -> bool {
    if !cfg!(target_os = "linux") || pid == std::process::id() {
        return false;
    }
    let proc_root = Path::new("/proc");
    if !proc_root.join("self").exists() {
        return false;
    }
    matches!(
        fs::symlink_metadata(proc_root.join(pid.to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound
    )
}

/// The pid in a temporary file name `<prefix><pid>-<n>`, if `file_name` is
/// one of `prefix`'s.
fn temp_pid(file_name: &OsStr, prefix: &OsStr) -> Option<u32> {
    let rest = file_name
        .as_encoded_bytes()
        .strip_prefix(prefix.as_encoded_bytes())?;
    let rest = std::str::from_utf8(rest).ok()?;
    let (pid, n) = rest.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(n) {
        return None;
    }
    pid.parse().ok()
}

/// Removes the temporary files that saves of `path` by processes that no
/// longer exist left behind (`.<name>.tmp-<pid>-<n>` beside `path`, regular
/// files only). Files of live processes, of this process and of processes
/// whose state is unknown (any platform but Linux) are kept.
///
/// Returns how many files were removed.
///
/// # Errors
/// [`FsError`] when the directory cannot be listed or a stale file cannot
/// be removed.
pub fn remove_stale_temps(path: &Path) -> Result<usize, FsError> {
    let (dir, name) = split(path, "remove stale temporary files of")?;
    let prefix = temp_prefix(&name);
    let op = "remove stale temporary files of";
    let entries = fs::read_dir(&dir).map_err(|e| FsError::new(op, path, e))?;
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| FsError::new(op, path, e))?;
        let Some(pid) = temp_pid(&entry.file_name(), &prefix) else {
            continue;
        };
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && process_is_gone(pid) {
            match fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                // Another process cleaned it up first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(FsError::new(op, path, e)),
            }
        }
    }
    Ok(removed)
}

/// The temporary files of `path` present now, whoever wrote them (for
/// tests and diagnostics).
///
/// # Errors
/// [`FsError`] when the directory cannot be listed.
pub fn list_temps(path: &Path) -> Result<Vec<PathBuf>, FsError> {
    let (dir, name) = split(path, "list temporary files of")?;
    let prefix = temp_prefix(&name);
    let entries =
        fs::read_dir(&dir).map_err(|e| FsError::new("list temporary files of", path, e))?;
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| temp_pid(&e.file_name(), &prefix).is_some())
        .map(|e| e.path())
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests;
