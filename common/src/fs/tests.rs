use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::*;

/// A fresh directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "unidb-common-fs-{}-{test}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        make_writable(&self.0);
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn make_writable(dir: &Path) {
    if let Ok(m) = fs::metadata(dir) {
        let mut p = m.permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        p.set_readonly(false);
        let _ = fs::set_permissions(dir, p);
    }
}

/// Every entry of `dir` but `keep`.
fn others(dir: &Path, keep: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect();
    v.sort();
    v
}

#[test]
fn writes_and_replaces_leaving_no_temporary_file() {
    let dir = TempDir::new("replace");
    let path = dir.0.join("data.bin");
    write_atomic(&path, b"first").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"first");
    write_atomic(&path, b"second, longer").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"second, longer");
    write_atomic_with(&path, |w| w.write_all(&[7u8; 100_000])).unwrap();
    assert_eq!(fs::read(&path).unwrap(), vec![7u8; 100_000]);
    assert_eq!(others(&dir.0, &["data.bin"]), Vec::<String>::new());
}

/// The old vectordb scheme derived the temporary name from the target
/// (extension replaced by `unidb-tmp`), so a target already named so was
/// written in place. Any name now gets a distinct temporary file: the
/// target is never opened for writing, so its old inode keeps its content
/// until the rename.
#[test]
fn target_named_like_a_temporary_file_is_not_written_in_place() {
    let dir = TempDir::new("weird");
    for name in ["x.unidb-tmp", ".x.unidb-tmp.tmp-1-1", "no_extension"] {
        let path = dir.0.join(name);
        write_atomic(&path, b"old content").unwrap();
        let held = fs::File::open(&path).unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new", "{name}");
        // The reader opened before the save still sees the whole old file.
        let mut old = String::new();
        io::Read::read_to_string(&mut &held, &mut old).unwrap();
        assert_eq!(old, "old content", "{name}");
        assert!(list_temps(&path).unwrap().is_empty(), "{name}");
    }
}

#[test]
fn long_names_and_relative_paths() {
    let dir = TempDir::new("long");
    let name = "n".repeat(250);
    let path = dir.0.join(&name);
    write_atomic(&path, b"long").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"long");
    assert_eq!(others(&dir.0, &[name.as_str()]), Vec::<String>::new());
    let err = write_atomic(Path::new(".."), b"x").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains(".."), "{err}");
}

#[test]
fn failing_writer_leaves_old_file_and_no_temporary_file() {
    let dir = TempDir::new("fail");
    let path = dir.0.join("keep.bin");
    write_atomic(&path, b"precious").unwrap();
    let err = write_atomic_with(&path, |w| {
        w.write_all(&[1u8; 300_000])?;
        Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
    })
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    assert_eq!(err.op, "write temporary file for");
    assert!(err.to_string().contains("keep.bin"), "{err}");
    let src = std::error::Error::source(&err).expect("source kept");
    assert_eq!(src.to_string(), "disk full");
    // Through `io::Error`, the kind and the original error survive.
    let as_io = io::Error::from(err);
    assert_eq!(as_io.kind(), io::ErrorKind::StorageFull);
    assert!(as_io.to_string().contains("keep.bin"));
    assert_eq!(fs::read(&path).unwrap(), b"precious");
    assert_eq!(others(&dir.0, &["keep.bin"]), Vec::<String>::new());
}

#[test]
fn renaming_over_a_directory_fails_cleanly() {
    let dir = TempDir::new("over-dir");
    let path = dir.0.join("sub");
    fs::create_dir(&path).unwrap();
    fs::write(path.join("inside"), b"x").unwrap();
    let err = write_atomic(&path, b"data").unwrap_err();
    assert_eq!(err.op, "rename temporary file over");
    assert!(path.is_dir());
    assert_eq!(others(&dir.0, &["sub"]), Vec::<String>::new());
}

#[cfg(unix)]
#[test]
fn read_only_directory_fails_cleanly() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("read-only");
    let path = dir.0.join("file.bin");
    write_atomic(&path, b"old").unwrap();
    fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o555)).unwrap();
    // Root (and some sandboxes) may write anyway: nothing to test then.
    let probe = dir.0.join("probe");
    if fs::write(&probe, b"").is_ok() {
        let _ = fs::remove_file(&probe);
        return;
    }
    let err = write_atomic(&path, b"new").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    assert_eq!(err.op, "create temporary file for");
    fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"old");
    assert_eq!(others(&dir.0, &["file.bin"]), Vec::<String>::new());
}

/// Two threads saving different contents to two names in one directory
/// (which shared one temporary file under the old scheme) never fail and
/// each file ends with its own writer's last content.
#[test]
fn concurrent_saves_to_sibling_names() {
    let dir = TempDir::new("siblings");
    let a = dir.0.join("a.v1");
    let b = dir.0.join("a.v2");
    std::thread::scope(|s| {
        for (path, tag) in [(&a, b'A'), (&b, b'B')] {
            s.spawn(move || {
                for i in 0..200u32 {
                    let mut content = vec![tag; 4096];
                    content.extend_from_slice(&i.to_le_bytes());
                    write_atomic(path, &content).unwrap();
                    // Whatever is there now is complete and ours.
                    let now = fs::read(path).unwrap();
                    assert_eq!(now.len(), 4100);
                    assert!(now[..4096].iter().all(|&x| x == tag));
                }
            });
        }
    });
    let mut last = vec![b'A'; 4096];
    last.extend_from_slice(&199u32.to_le_bytes());
    assert_eq!(fs::read(&a).unwrap(), last);
    last[..4096].fill(b'B');
    assert_eq!(fs::read(&b).unwrap(), last);
    assert_eq!(others(&dir.0, &["a.v1", "a.v2"]), Vec::<String>::new());
}

/// Threads of one process saving to one target get distinct temporary
/// files; the target always holds one complete write.
#[test]
fn concurrent_saves_to_one_name() {
    let dir = TempDir::new("same");
    let path = dir.0.join("one");
    std::thread::scope(|s| {
        for t in 0..4u8 {
            let path = &path;
            s.spawn(move || {
                for _ in 0..50 {
                    write_atomic(path, &[t; 8192]).unwrap();
                }
            });
        }
    });
    let now = fs::read(&path).unwrap();
    assert_eq!(now.len(), 8192);
    assert!(now.iter().all(|&x| x == now[0]));
    assert_eq!(others(&dir.0, &["one"]), Vec::<String>::new());
}

#[test]
fn temp_names_are_recognised_exactly() {
    let p = temp_prefix(OsStr::new("a.v1"));
    assert_eq!(p, OsStr::new(".a.v1.tmp-"));
    assert_eq!(temp_pid(OsStr::new(".a.v1.tmp-42-7"), &p), Some(42));
    for other in [
        ".a.v1.tmp-42",
        ".a.v1.tmp--7",
        ".a.v1.tmp-42-",
        ".a.v1.tmp-4x-7",
        ".a.v1.tmp-42-7-1",
        ".a.v10.tmp-42-7",
        "a.v1.tmp-42-7",
        ".a.v2.tmp-42-7",
    ] {
        assert_eq!(temp_pid(OsStr::new(other), &p), None, "{other}");
    }
}

/// A pid that certainly existed and is gone now: a child that exited and
/// was reaped.
#[cfg(target_os = "linux")]
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--list")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[cfg(target_os = "linux")]
#[test]
fn stale_temporary_files_of_dead_processes_are_removed() {
    let dir = TempDir::new("stale");
    let path = dir.0.join("db.snap");
    write_atomic(&path, b"current").unwrap();
    let dead = dead_pid();
    let me = std::process::id();
    let names = [
        format!(".db.snap.tmp-{dead}-0"),
        format!(".db.snap.tmp-{dead}-12"),
        format!(".db.snap.tmp-{me}-999999"),
        // pid 1 is alive while anything runs.
        ".db.snap.tmp-1-3".to_owned(),
        format!(".other.tmp-{dead}-0"),
        format!(".db.snap.tmp-{dead}-x"),
    ];
    for n in &names {
        fs::write(dir.0.join(n), b"partial").unwrap();
    }
    // A directory with a matching name is not touched.
    fs::create_dir(dir.0.join(format!(".db.snap.tmp-{dead}-5"))).unwrap();
    assert_eq!(remove_stale_temps(&path).unwrap(), 2);
    let mut left = others(&dir.0, &["db.snap"]);
    left.sort();
    let mut want: Vec<String> = names[2..].to_vec();
    want.push(format!(".db.snap.tmp-{dead}-5"));
    want.sort();
    assert_eq!(left, want);
    assert_eq!(remove_stale_temps(&path).unwrap(), 0);
    // A save cleans up too.
    fs::write(dir.0.join(format!(".db.snap.tmp-{dead}-1")), b"partial").unwrap();
    write_atomic(&path, b"next").unwrap();
    assert_eq!(others(&dir.0, &["db.snap"]), want);
    assert_eq!(fs::read(&path).unwrap(), b"next");
}

#[test]
fn errors_convert_to_the_project_error() {
    let dir = TempDir::new("convert");
    let err = write_atomic(&dir.0.join("missing-dir").join("f"), b"x").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    let e: crate::Error = err.into();
    // The I/O error's kind, and the io::Error itself below the FsError.
    assert_eq!(e.kind(), crate::ErrorKind::NotFound);
    assert!(e.location().unwrap().ends_with("f"));
    let fs_err = std::error::Error::source(&e).unwrap();
    let io = fs_err
        .source()
        .unwrap()
        .downcast_ref::<io::Error>()
        .unwrap();
    assert_eq!(io.kind(), io::ErrorKind::NotFound);
    let e: crate::Error = write_atomic(&dir.0, b"x").unwrap_err().into();
    assert_eq!(e.kind(), crate::ErrorKind::Io, "{e}");
}
