//! Where partitions live durably: the [`Storage`] trait, and
//! [`FileStorage`], the log and snapshot files in a data directory.
//!
//! The protocol side of the server sees only the trait: it replays what
//! [`Storage::open`] recovered, appends each accepted message with
//! [`PartitionLog::append`], acknowledges once [`PartitionLog::durable`]
//! has passed it, and hands a snapshot to [`PartitionLog::begin_compaction`]'s cut now
//! and then. A backend on a replicated store (see `ARCHITECTURE.md`)
//! implements the same two traits.
//!
//! # Files
//! `DIR/partitions/NAME/` holds `log-G.log` files ([`crate::log`]) and
//! `snapshot-G.snap` files (syncdb snapshots: magic, version, CRC-32),
//! `G` a 16-digit hex generation. `snapshot-G` holds the state of every
//! log before generation `G` (and perhaps some records of log `G`:
//! replaying a change twice is a no-op). Opening loads the newest
//! snapshot, replays the logs from its generation on, truncates a torn
//! tail (reporting it), and starts a new log generation; if the newest
//! snapshot does not load, recovery falls back to the snapshot before it
//! and the logs since ([`Opened::fallback`]), and reports it. A
//! compaction starts a new log generation `G`, writes `snapshot-G`
//! atomically (`unidb_common::fs::write_atomic`), then deletes the files
//! older than the snapshot before it (kept for that fallback; before a
//! second snapshot, every log is kept).
//!
//! # Group commit
//! Each partition's log has a writer thread. Appends queue records; the
//! thread writes everything queued in one `write`, calls `fsync`
//! (`sync_data`), and then publishes the number of durable records, for
//! which acknowledgements wait.

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use tokio::sync::watch;

use crate::error::{Result, ServerError};
use crate::log;

/// How far a partition's log is durable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Durable {
    /// Records durable so far (the record numbers `1..=lsn`).
    pub lsn: u64,
    /// Set when writing or syncing failed: nothing after `lsn` will ever
    /// be durable, and the partition stops acknowledging.
    pub failed: Option<String>,
}

/// What opening a partition recovered.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecoveryReport {
    /// The generation of the snapshot loaded, if any.
    pub snapshot_generation: Option<u64>,
    /// Bytes of the snapshot loaded.
    pub snapshot_bytes: u64,
    /// Log files replayed.
    pub log_files: usize,
    /// Records replayed from them.
    pub records: usize,
    /// Bytes of log replayed.
    pub log_bytes: u64,
    /// Torn or damaged tails truncated: `(file name, offset, bytes dropped, reason)`.
    pub truncated: Vec<(String, u64, u64, String)>,
    /// Set when the newest snapshot did not load and recovery fell back
    /// to the one before it (or to replaying every log): which snapshot
    /// was skipped and why.
    pub snapshot_fallback: Option<String>,
}

/// A partition as [`Storage::open`] recovered it.
pub struct Opened {
    /// The newest snapshot (syncdb snapshot bytes), if one was taken.
    pub snapshot: Option<Vec<u8>>,
    /// The records appended after it, in order.
    pub records: Vec<Vec<u8>>,
    /// What was found and repaired.
    pub report: RecoveryReport,
    /// The log new records go to.
    pub log: Box<dyn PartitionLog>,
    /// Loads the state before the newest snapshot, for when that
    /// snapshot does not load; `None` when there is none to fall back to.
    pub fallback: Option<Fallback>,
}

/// Loads the state before a partition's newest snapshot: the snapshot
/// before it (if any) and the records logged from that one on up to the
/// newest snapshot's cut; [`Opened::records`] follow them.
pub type Fallback = Box<dyn FnOnce() -> Result<Previous> + Send>;

/// The state a [`Fallback`] loaded.
#[derive(Debug)]
pub struct Previous {
    /// The snapshot before the newest, if any (none: replay from the
    /// first record).
    pub snapshot: Option<Vec<u8>>,
    /// Its generation.
    pub snapshot_generation: Option<u64>,
    /// The records between it and the newest snapshot's cut, in order.
    pub records: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("records", &self.records.len())
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

/// Durable storage of partitions: what a backend implements.
pub trait Storage: Send + Sync + 'static {
    /// The partitions stored.
    ///
    /// # Errors
    /// The backend's read error.
    fn partitions(&self) -> Result<Vec<String>>;

    /// Opens (creating if absent) a partition and recovers it.
    ///
    /// # Errors
    /// The backend's error; a damaged snapshot or log header.
    fn open(&self, partition: &str) -> Result<Opened>;
}

/// One partition's append-only log.
pub trait PartitionLog: Send + Sync + 'static {
    /// Queues `record` and returns its record number (1, 2, ...). It is
    /// durable once [`durable`](Self::durable) reaches that number.
    fn append(&self, record: Vec<u8>) -> u64;
    /// The number of the last record appended.
    fn appended(&self) -> u64;
    /// Watches how far the log is durable.
    fn durable(&self) -> watch::Receiver<Durable>;
    /// Bytes appended since the last snapshot.
    fn bytes_since_snapshot(&self) -> u64;
    /// Starts a compaction: the records appended so far are covered by
    /// the snapshot the caller takes now and passes to the returned
    /// [`Compaction`]. Call with appends held off, so that the snapshot
    /// holds exactly the records before the cut.
    ///
    /// # Errors
    /// The backend's error.
    fn begin_compaction(&self) -> Result<Box<dyn Compaction>>;
}

/// A compaction begun by [`PartitionLog::begin_compaction`].
pub trait Compaction: Send {
    /// Stores `snapshot` as covering every record before the cut and
    /// drops what it replaces.
    ///
    /// # Errors
    /// The backend's error; the older files stay then.
    fn finish(self: Box<Self>, snapshot: &[u8]) -> Result<()>;
}

/// Partitions as files under a data directory.
#[derive(Debug, Clone)]
pub struct FileStorage {
    root: PathBuf,
}

/// Whether `name` is a valid partition name: 1 to 64 ASCII letters,
/// digits, `-` and `_` (it is a directory name).
pub fn valid_partition(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn log_name(generation: u64) -> String {
    format!("log-{generation:016x}.log")
}

fn snapshot_name(generation: u64) -> String {
    format!("snapshot-{generation:016x}.snap")
}

/// The generation in a file name of the form `PREFIX-G.EXT`.
fn generation_of(name: &str, prefix: &str, ext: &str) -> Option<u64> {
    let hex = name.strip_prefix(prefix)?.strip_suffix(ext)?;
    (hex.len() == 16)
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

impl FileStorage {
    /// Storage under `root` (created if absent).
    ///
    /// # Errors
    /// [`ServerError::Io`] when the directory cannot be created.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let parts = root.join("partitions");
        fs::create_dir_all(&parts).map_err(|e| ServerError::io("create directory", &parts, e))?;
        Ok(FileStorage { root })
    }

    fn dir(&self, partition: &str) -> PathBuf {
        self.root.join("partitions").join(partition)
    }
}

/// The generations of the logs and snapshots in `dir`, each sorted.
fn list(dir: &Path) -> Result<(Vec<u64>, Vec<u64>)> {
    let (mut logs, mut snaps) = (Vec::new(), Vec::new());
    let entries = fs::read_dir(dir).map_err(|e| ServerError::io("list directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| ServerError::io("list directory", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(g) = generation_of(name, "log-", ".log") {
            logs.push(g);
        } else if let Some(g) = generation_of(name, "snapshot-", ".snap") {
            snaps.push(g);
        }
    }
    logs.sort_unstable();
    snaps.sort_unstable();
    Ok((logs, snaps))
}

impl Storage for FileStorage {
    fn partitions(&self) -> Result<Vec<String>> {
        let parts = self.root.join("partitions");
        let mut out = Vec::new();
        let entries =
            fs::read_dir(&parts).map_err(|e| ServerError::io("list directory", &parts, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| ServerError::io("list directory", &parts, e))?;
            if let Some(name) = entry.file_name().to_str() {
                if valid_partition(name) && entry.path().is_dir() {
                    out.push(name.to_owned());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn open(&self, partition: &str) -> Result<Opened> {
        if !valid_partition(partition) {
            return Err(ServerError::invalid(
                "partition",
                format!("{partition:?}: 1 to 64 ASCII letters, digits, '-' or '_'"),
            ));
        }
        let dir = self.dir(partition);
        fs::create_dir_all(&dir).map_err(|e| ServerError::io("create directory", &dir, e))?;
        // Temporary files of a snapshot write a crash interrupted.
        for g in list(&dir)?.1 {
            unidb_common::fs::remove_stale_temps(&dir.join(snapshot_name(g)))?;
        }
        let (logs, snaps) = list(&dir)?;
        let mut report = RecoveryReport::default();
        let mut snapshot = None;
        let base = snaps.last().copied().unwrap_or(0);
        if let Some(&g) = snaps.last() {
            let path = dir.join(snapshot_name(g));
            let bytes = fs::read(&path).map_err(|e| ServerError::io("read snapshot", &path, e))?;
            report.snapshot_generation = Some(g);
            report.snapshot_bytes = bytes.len() as u64;
            snapshot = Some(bytes);
        }
        let mut records = Vec::new();
        for &g in logs.iter().filter(|&&g| g >= base) {
            let (path, bytes, s) = read_log(&dir, g)?;
            report.log_files += 1;
            report.records += s.records.len();
            report.log_bytes += s.valid_len as u64;
            records.extend(s.records.iter().map(|r| bytes[r.clone()].to_vec()));
            if let Some(t) = s.torn {
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| ServerError::io("open log to truncate", &path, e))?;
                f.set_len(t.offset as u64)
                    .and_then(|()| f.sync_all())
                    .map_err(|e| ServerError::io("truncate torn log tail", &path, e))?;
                report
                    .truncated
                    .push((log_name(g), t.offset as u64, t.dropped as u64, t.reason));
            }
        }
        // Before the newest snapshot: the one before it and the logs from
        // its generation on, or every log from the first, if all are kept.
        let fallback: Option<Fallback> = match snaps.len() {
            0 => None,
            n => {
                let previous = (n >= 2).then(|| snaps[n - 2]);
                let from = previous.unwrap_or(1);
                let needed: Vec<u64> = (from..base).collect();
                let complete = needed.iter().all(|g| logs.binary_search(g).is_ok());
                complete.then(|| {
                    let dir = dir.clone();
                    Box::new(move || {
                        let snapshot = match previous {
                            Some(g) => {
                                let path = dir.join(snapshot_name(g));
                                Some(
                                    fs::read(&path)
                                        .map_err(|e| ServerError::io("read snapshot", &path, e))?,
                                )
                            }
                            None => None,
                        };
                        let mut records = Vec::new();
                        for g in needed {
                            let (_, bytes, s) = read_log(&dir, g)?;
                            records.extend(s.records.iter().map(|r| bytes[r.clone()].to_vec()));
                        }
                        Ok(Previous {
                            snapshot,
                            snapshot_generation: previous,
                            records,
                        })
                    }) as Fallback
                })
            }
        };
        let next = logs.last().copied().unwrap_or(0).max(base) + 1;
        let log = FileLog::create(partition, dir, next)?;
        Ok(Opened {
            snapshot,
            records,
            report,
            log: Box::new(log),
            fallback,
        })
    }
}

/// What the writer thread is asked to do.
/// Reads and scans log generation `g` of `dir`.
fn read_log(dir: &Path, g: u64) -> Result<(PathBuf, Vec<u8>, log::Scan)> {
    let path = dir.join(log_name(g));
    let bytes = fs::read(&path).map_err(|e| ServerError::io("read log", &path, e))?;
    let s = log::scan(&bytes).map_err(|e| match e {
        ServerError::Corrupt { offset, reason, .. } => ServerError::Corrupt {
            what: format!("log {}", path.display()),
            offset,
            reason,
        },
        other => other,
    })?;
    Ok((path, bytes, s))
}

enum Command {
    /// Write a record.
    Append(Vec<u8>),
    /// Sync the current file, then continue in a new one of this
    /// generation; answer when it exists.
    Rotate(u64, mpsc::Sender<Result<()>>),
}

/// A partition's log files, written by a group-commit thread.
struct FileLog {
    tx: Mutex<mpsc::Sender<Command>>,
    appended: AtomicU64,
    since_snapshot: Arc<AtomicU64>,
    generation: AtomicU64,
    durable: watch::Receiver<Durable>,
    dir: PathBuf,
}

/// Creates log file `generation` in `dir` with its header, synced, and
/// syncs the directory.
fn create_log_file(dir: &Path, generation: u64) -> Result<File> {
    let path = dir.join(log_name(generation));
    let mut f = OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(&path)
        .map_err(|e| ServerError::io("create log", &path, e))?;
    f.write_all(&log::encode_header(generation))
        .and_then(|()| f.sync_all())
        .map_err(|e| ServerError::io("write log header", &path, e))?;
    unidb_common::fs::sync_dir(dir).map_err(|e| ServerError::io("sync directory", dir, e))?;
    f.seek(SeekFrom::End(0))
        .map_err(|e| ServerError::io("seek log", &path, e))?;
    Ok(f)
}

impl FileLog {
    fn create(partition: &str, dir: PathBuf, generation: u64) -> Result<FileLog> {
        let file = create_log_file(&dir, generation)?;
        let (tx, rx) = mpsc::channel::<Command>();
        let (durable_tx, durable) = watch::channel(Durable::default());
        let since_snapshot = Arc::new(AtomicU64::new(0));
        let thread_dir = dir.clone();
        let name = partition.to_owned();
        std::thread::Builder::new()
            .name(format!("log-{partition}"))
            .spawn(move || writer(name, thread_dir, file, rx, durable_tx))
            .map_err(|e| ServerError::io("start log writer for", &dir, e))?;
        Ok(FileLog {
            tx: Mutex::new(tx),
            appended: AtomicU64::new(0),
            since_snapshot,
            generation: AtomicU64::new(generation),
            durable,
            dir,
        })
    }
}

/// The group-commit loop: write what is queued, sync, publish.
fn writer(
    partition: String,
    dir: PathBuf,
    mut file: File,
    rx: mpsc::Receiver<Command>,
    durable: watch::Sender<Durable>,
) {
    let mut lsn = 0u64;
    let mut buf = Vec::new();
    let mut failed: Option<String> = None;
    while let Ok(first) = rx.recv() {
        let mut pending = vec![first];
        while let Ok(c) = rx.try_recv() {
            pending.push(c);
        }
        let mut written = lsn;
        for cmd in pending {
            match cmd {
                Command::Append(record) => {
                    log::encode_record(&mut buf, &record);
                    written += 1;
                }
                Command::Rotate(generation, reply) => {
                    let result = flush(&mut file, &mut buf, &failed).and_then(|()| {
                        file = create_log_file(&dir, generation)?;
                        Ok(())
                    });
                    if let Err(e) = &result {
                        failed.get_or_insert_with(|| e.to_string());
                    } else {
                        lsn = written;
                    }
                    let _ = reply.send(result);
                }
            }
        }
        if let Err(e) = flush(&mut file, &mut buf, &failed) {
            failed.get_or_insert_with(|| e.to_string());
        }
        if failed.is_none() {
            lsn = written;
        }
        let reason = failed
            .as_ref()
            .map(|f| format!("partition {partition}: {f}"));
        durable.send_replace(Durable {
            lsn,
            failed: reason,
        });
    }
}

/// Writes `buf` to `file` and syncs it (nothing after a failure).
fn flush(file: &mut File, buf: &mut Vec<u8>, failed: &Option<String>) -> Result<()> {
    if let Some(f) = failed {
        buf.clear();
        return Err(ServerError::LogFailed {
            partition: String::new(),
            reason: f.clone(),
        });
    }
    if buf.is_empty() {
        return Ok(());
    }
    let result = file.write_all(buf).and_then(|()| file.sync_data());
    buf.clear();
    result.map_err(|e| ServerError::LogFailed {
        partition: String::new(),
        reason: format!("write and sync: {e}"),
    })
}

impl PartitionLog for FileLog {
    fn append(&self, record: Vec<u8>) -> u64 {
        let len = record.len() as u64;
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        let lsn = self.appended.fetch_add(1, Ordering::SeqCst) + 1;
        self.since_snapshot
            .fetch_add(len + log::RECORD_OVERHEAD as u64, Ordering::Relaxed);
        // A stopped writer leaves `durable` where it is: nothing more acks.
        let _ = tx.send(Command::Append(record));
        lsn
    }

    fn appended(&self) -> u64 {
        self.appended.load(Ordering::SeqCst)
    }

    fn durable(&self) -> watch::Receiver<Durable> {
        self.durable.clone()
    }

    fn bytes_since_snapshot(&self) -> u64 {
        self.since_snapshot.load(Ordering::Relaxed)
    }

    fn begin_compaction(&self) -> Result<Box<dyn Compaction>> {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let (reply_tx, reply_rx) = mpsc::channel();
        {
            let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
            tx.send(Command::Rotate(generation, reply_tx))
                .map_err(|_| ServerError::LogFailed {
                    partition: self.dir.display().to_string(),
                    reason: "log writer stopped".into(),
                })?;
        }
        reply_rx.recv().map_err(|_| ServerError::LogFailed {
            partition: self.dir.display().to_string(),
            reason: "log writer stopped".into(),
        })??;
        self.since_snapshot.store(0, Ordering::Relaxed);
        Ok(Box::new(FileCompaction {
            dir: self.dir.clone(),
            generation,
        }))
    }
}

struct FileCompaction {
    dir: PathBuf,
    generation: u64,
}

impl Compaction for FileCompaction {
    fn finish(self: Box<Self>, snapshot: &[u8]) -> Result<()> {
        let path = self.dir.join(snapshot_name(self.generation));
        unidb_common::fs::write_atomic(&path, snapshot)?;
        // Keep the snapshot before this one and the logs from it on:
        // what recovery falls back to if this snapshot is ever damaged.
        let (logs, snaps) = list(&self.dir)?;
        let keep = snaps
            .iter()
            .copied()
            .filter(|&g| g < self.generation)
            .max()
            .unwrap_or(0);
        for g in logs.into_iter().filter(|&g| g < keep) {
            let p = self.dir.join(log_name(g));
            fs::remove_file(&p).map_err(|e| ServerError::io("remove compacted log", &p, e))?;
        }
        for g in snaps.into_iter().filter(|&g| g < keep) {
            let p = self.dir.join(snapshot_name(g));
            fs::remove_file(&p).map_err(|e| ServerError::io("remove old snapshot", &p, e))?;
        }
        unidb_common::fs::sync_dir(&self.dir)
            .map_err(|e| ServerError::io("sync directory", &self.dir, e))
    }
}

/// Partitions in memory: nothing survives the process. For tests, fuzzing
/// and trying the server out; every append is "durable" at once.
#[derive(Debug, Default, Clone)]
pub struct MemoryStorage {
    partitions: Arc<Mutex<std::collections::BTreeMap<String, Arc<MemoryLog>>>>,
}

impl MemoryStorage {
    /// Empty storage.
    pub fn new() -> Self {
        MemoryStorage::default()
    }
}

/// What a [`MemoryLog`] holds: the snapshot, the records after it, and
/// the number of records ever appended.
type MemoryState = (Option<Vec<u8>>, Vec<Vec<u8>>, u64);

/// A partition's log held in memory (see [`MemoryStorage`]).
#[derive(Debug)]
pub struct MemoryLog {
    state: Mutex<MemoryState>,
    durable_tx: watch::Sender<Durable>,
    durable: watch::Receiver<Durable>,
}

impl Default for MemoryLog {
    fn default() -> Self {
        let (durable_tx, durable) = watch::channel(Durable::default());
        MemoryLog {
            state: Mutex::new((None, Vec::new(), 0)),
            durable_tx,
            durable,
        }
    }
}

impl Storage for MemoryStorage {
    fn partitions(&self) -> Result<Vec<String>> {
        let map = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
        Ok(map.keys().cloned().collect())
    }

    fn open(&self, partition: &str) -> Result<Opened> {
        let log = self
            .partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(partition.to_owned())
            .or_default()
            .clone();
        let (snapshot, records) = {
            let st = log.state.lock().unwrap_or_else(|e| e.into_inner());
            (st.0.clone(), st.1.clone())
        };
        Ok(Opened {
            report: RecoveryReport {
                records: records.len(),
                ..RecoveryReport::default()
            },
            snapshot,
            records,
            log: Box::new(SharedMemoryLog(log)),
            fallback: None,
        })
    }
}

struct SharedMemoryLog(Arc<MemoryLog>);

impl PartitionLog for SharedMemoryLog {
    fn append(&self, record: Vec<u8>) -> u64 {
        let mut st = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        st.1.push(record);
        st.2 += 1;
        let lsn = st.2;
        self.0
            .durable_tx
            .send_replace(Durable { lsn, failed: None });
        lsn
    }

    fn appended(&self) -> u64 {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner()).2
    }

    fn durable(&self) -> watch::Receiver<Durable> {
        self.0.durable.clone()
    }

    fn bytes_since_snapshot(&self) -> u64 {
        let st = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        st.1.iter().map(|r| r.len() as u64).sum()
    }

    fn begin_compaction(&self) -> Result<Box<dyn Compaction>> {
        let cut = self
            .0
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .len();
        Ok(Box::new(MemoryCompaction(self.0.clone(), cut)))
    }
}

struct MemoryCompaction(Arc<MemoryLog>, usize);

impl Compaction for MemoryCompaction {
    fn finish(self: Box<Self>, snapshot: &[u8]) -> Result<()> {
        let mut st = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        st.0 = Some(snapshot.to_vec());
        st.1.drain(..self.1);
        Ok(())
    }
}
