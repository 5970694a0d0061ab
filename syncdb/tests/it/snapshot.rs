//! Snapshot files: [`Database::save_snapshot_to`] and
//! [`Database::open_snapshot`] against the in-memory bytes API.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use unidb_common::id::ReplicaId;
use unidb_common::rng::SplitMix64;
use unidb_common::time::ManualClock;

use unidb_syncdb::*;

fn schema() -> Vec<Migration> {
    vec![Migration::AddTable(
        TableDef::new("t", "id", ColumnType::I64)
            .column(ColumnDef::new("v", ColumnType::Text).default_value(""))
            .column(ColumnDef::new("n", ColumnType::I64).resolver("counter")),
    )]
}

/// A directory of its own under the system's temporary directory, removed
/// (with everything in it) when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "unidb-syncdb-snapshot-{}-{test}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The names of the directory's entries, sorted.
    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Two replicas that write, sync now and then and collect garbage; returns
/// the clock and replica `1` (which holds changes of both origins, acks and
/// garbage-collection state).
fn random_db(seed: u64, ops: usize) -> (ManualClock, Arc<Database>) {
    let mut rng = SplitMix64::new(seed);
    let clock = ManualClock::new(5_000);
    let open = |id| {
        Arc::new(
            Database::open(ReplicaId::from_u64(id), Arc::new(clock.clone()), &schema()).unwrap(),
        )
    };
    let (a, b) = (open(1), open(2));
    let (mut sa, mut sb) = (
        Session::new(a.clone(), SyncConfig::default()),
        Session::new(b.clone(), SyncConfig::default()),
    );
    for step in 0..ops {
        let db = if rng.chance(0.5) { &a } else { &b };
        let key = rng.below(10) as i64;
        clock.advance(rng.below(3));
        let _ = match rng.below(5) {
            0 | 1 => db.insert(
                "t",
                [
                    ("id", Value::I64(key)),
                    ("v", format!("v{}", rng.below(40)).into()),
                ],
            ),
            2 => db.update("t", key, [("v", Value::from(format!("u{step}")))]),
            3 => db.delete("t", key),
            _ => db.increment("t", key, "n", rng.below(7) as i64 - 3),
        };
        if rng.chance(0.1) {
            sync_pair(&mut sa, &mut sb).unwrap();
            a.collect_garbage();
            b.collect_garbage();
        }
    }
    (clock, a)
}

/// Asserts that `got` holds the same replicated state as `want`.
fn assert_same_state(got: &Database, want: &Database, what: &str) {
    assert_eq!(got.read().dump(), want.read().dump(), "{what}: rows");
    assert_eq!(got.replica(), want.replica(), "{what}: replica");
    assert_eq!(got.version_vector(), want.version_vector(), "{what}: vv");
    assert_eq!(got.gc_frontier(), want.gc_frontier(), "{what}: gc frontier");
    assert_eq!(
        got.schema_version(),
        want.schema_version(),
        "{what}: schema"
    );
    let all = VersionVector::new();
    assert_eq!(
        got.changes_since(&all),
        want.changes_since(&all),
        "{what}: log"
    );
    assert_eq!(
        got.collected_since(&all),
        want.collected_since(&all),
        "{what}: collected"
    );
}

fn io_error_of(r: Result<impl Sized>) -> (&'static str, PathBuf, std::io::ErrorKind) {
    match r {
        Err(SyncError::Io { op, path, source }) => (op, path, source.kind()),
        Err(e) => panic!("expected an I/O error, got {e}"),
        Ok(_) => panic!("expected an I/O error, got Ok"),
    }
}

#[test]
fn file_round_trip_equals_bytes_round_trip() {
    let dir = TempDir::new("round-trip");
    for seed in 0..4 {
        let (clock, db) = random_db(seed, 150);
        let path = dir.path(&format!("db-{seed}.snapshot"));
        db.save_snapshot_to(&path).unwrap();
        let bytes = db.save_snapshot();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "seed {seed}: file bytes"
        );
        let via_file = Database::open_snapshot(&path, Arc::new(clock.clone())).unwrap();
        let via_bytes = Database::load_snapshot(&bytes, Arc::new(clock.clone())).unwrap();
        assert_same_state(&via_file, &via_bytes, &format!("seed {seed}"));
        assert_eq!(via_file.hlc().last(), via_bytes.hlc().last());
        assert!(via_file.hlc().last() >= db.hlc().last());
        assert_same_state(&via_file, &db, &format!("seed {seed} vs original"));
        assert_eq!(via_file.save_snapshot(), bytes, "seed {seed}: re-save");
    }
    // Only the snapshots remain: no temporary file is left behind.
    assert_eq!(
        dir.entries(),
        (0..4)
            .map(|s| format!("db-{s}.snapshot"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_path_without_a_file_name_is_a_typed_error() {
    let dir = TempDir::new("no-file-name");
    let (_, db) = random_db(9, 20);
    let (op, path, kind) = io_error_of(db.save_snapshot_to(dir.path("..")));
    assert_eq!(
        (op, path, kind),
        (
            "save snapshot to",
            dir.path(".."),
            std::io::ErrorKind::InvalidInput
        )
    );
    assert!(dir.entries().is_empty());
}

#[test]
fn unreadable_or_damaged_files_are_typed_errors() {
    let dir = TempDir::new("damaged");
    let (clock, db) = random_db(3, 120);
    let open = |p: &Path| Database::open_snapshot(p, Arc::new(clock.clone()));

    let missing = dir.path("missing.snapshot");
    let (op, path, kind) = io_error_of(open(&missing));
    assert_eq!(
        (op, path, kind),
        ("read snapshot file", missing, std::io::ErrorKind::NotFound)
    );
    let err = open(&dir.path("missing.snapshot")).unwrap_err().to_string();
    assert!(err.contains("missing.snapshot"), "{err}");

    let (op, path, _) = io_error_of(open(&dir.0));
    assert_eq!((op, path), ("read snapshot file", dir.0.clone()));

    let bytes = db.save_snapshot();
    let path = dir.path("db.snapshot");
    let step = bytes.len().div_ceil(40).max(1);
    for cut in (0..bytes.len()).step_by(step) {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        assert!(
            matches!(open(&path), Err(SyncError::Decode { .. })),
            "file cut to {cut} of {} bytes",
            bytes.len()
        );
    }
    let mut rng = SplitMix64::new(11);
    for i in (0..bytes.len()).step_by(step) {
        let mut bad = bytes.clone();
        bad[i] ^= 1 + rng.below(255) as u8;
        std::fs::write(&path, &bad).unwrap();
        assert!(
            matches!(open(&path), Err(SyncError::Decode { .. })),
            "byte {i} flipped"
        );
    }
    std::fs::write(&path, &bytes).unwrap();
    assert_same_state(&open(&path).unwrap(), &db, "intact file");
}

#[test]
fn failed_saves_are_typed_errors_and_leave_no_temporary_file() {
    let dir = TempDir::new("failed-save");
    let (_, db) = random_db(5, 80);

    // Into a directory that does not exist.
    let target = dir.path("absent").join("db.snapshot");
    let (op, path, kind) = io_error_of(db.save_snapshot_to(&target));
    assert_eq!(
        (op, path, kind),
        (
            "create temporary file for",
            target.clone(),
            std::io::ErrorKind::NotFound
        )
    );
    let err = db.save_snapshot_to(&target).unwrap_err().to_string();
    assert!(err.contains("db.snapshot"), "{err}");
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());

    // Over a (non-empty) directory: the temporary file is written, the
    // rename fails, and the temporary file is removed again.
    let target = dir.path("taken");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("inside"), b"x").unwrap();
    let (op, path, _) = io_error_of(db.save_snapshot_to(&target));
    assert_eq!((op, path), ("rename temporary file over", target.clone()));
    assert_eq!(dir.entries(), ["taken"]);
    assert_eq!(std::fs::read(target.join("inside")).unwrap(), b"x");
}

#[test]
fn saving_over_a_snapshot_replaces_it_whole() {
    let dir = TempDir::new("replace");
    let path = dir.path("db.snapshot");
    let (clock, big) = random_db(1, 300);
    let (_, small) = random_db(2, 30);
    let (big_bytes, small_bytes) = (big.save_snapshot(), small.save_snapshot());
    assert!(small_bytes.len() < big_bytes.len());
    big.save_snapshot_to(&path).unwrap();
    assert_same_state(
        &Database::open_snapshot(&path, Arc::new(clock.clone())).unwrap(),
        &big,
        "first save",
    );
    small.save_snapshot_to(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), small_bytes);
    let back = Database::open_snapshot(&path, Arc::new(clock.clone())).unwrap();
    assert_same_state(&back, &small, "second save");
    assert_ne!(back.read().dump(), big.read().dump());
    assert_eq!(dir.entries(), ["db.snapshot"]);
}
