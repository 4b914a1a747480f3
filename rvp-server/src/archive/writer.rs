//! [`ArchiveWriter`]: appends the relayed NOTIFYs of each engine batch, owned by the
//! engine task; a maintenance thread syncs (`interval` mode) and applies retention.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::format::{
    self, GENESIS, HeaderState, MAX_RECORD_BYTES, RecordFields, SegmentHeader, Tail,
};
use super::{
    ArchiveError, Entry, Hash, MIN_RETENTION, PRUNE_EVERY, SEGMENT_BYTES, SEGMENT_MAX_AGE,
    io_error, list_segments, segment_name, sync_dir, to_micros,
};
use crate::store::SyncMode;

/// How an [`ArchiveWriter`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArchiveOptions {
    /// [`SyncMode::Always`]: `fdatasync` in every commit step that wrote records.
    /// [`SyncMode::Interval`]: written in the commit step, synced by a thread every
    /// `sync_interval` and when a segment is closed. Default: interval.
    pub sync: SyncMode,
    /// See `sync`. Default one second.
    pub sync_interval: Duration,
    /// Delete whole segments older than this ([`super::prune()`]); `None`: keep
    /// everything. At least [`MIN_RETENTION`] (shorter values are raised to it).
    pub retention: Option<Duration>,
    /// Close a segment at this size. Default [`SEGMENT_BYTES`].
    pub segment_bytes: u64,
    /// Close a segment at its first record after it is this old. Default
    /// [`SEGMENT_MAX_AGE`].
    pub segment_max_age: Duration,
    /// Largest record payload. Default (and at most) [`MAX_RECORD_BYTES`].
    pub max_record_bytes: usize,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        ArchiveOptions {
            sync: SyncMode::Interval,
            sync_interval: Duration::from_secs(1),
            retention: None,
            segment_bytes: SEGMENT_BYTES,
            segment_max_age: SEGMENT_MAX_AGE,
            max_record_bytes: MAX_RECORD_BYTES,
        }
    }
}

impl ArchiveOptions {
    /// The defaults with another sync mode and interval.
    pub fn with_sync(sync: SyncMode, sync_interval: Duration) -> ArchiveOptions {
        ArchiveOptions {
            sync,
            sync_interval,
            ..ArchiveOptions::default()
        }
    }
}

/// State shared with the maintenance thread.
#[derive(Debug, Default)]
struct Shared {
    /// A handle on the segment being written (`interval` mode), for the periodic sync.
    current: Mutex<Option<File>>,
    /// A segment was begun and its directory entry is not durable yet.
    dir_dirty: AtomicBool,
    /// The first background failure (a failed sync); commits fail from then on.
    failure: Mutex<Option<String>>,
}

impl Shared {
    fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    fn fail(&self, why: String) {
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(why);
        }
    }
}

#[derive(Debug)]
struct Maintenance {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

/// Appends archive records; owned by the engine task. See the [module docs](super).
#[derive(Debug)]
pub struct ArchiveWriter {
    dir: PathBuf,
    options: ArchiveOptions,
    file: File,
    number: u64,
    size: u64,
    created: SystemTime,
    next_seq: u64,
    last_hash: Hash,
    pending: Vec<Entry>,
    buf: Vec<u8>,
    shared: Arc<Shared>,
    maintenance: Option<Maintenance>,
    broken: bool,
}

impl ArchiveWriter {
    /// Opens the archive in `dir` (created if missing): finds where the chain stands in
    /// the newest segment and begins a new segment continuing from it (a segment a
    /// previous process was writing is never appended to: a record it left cut short
    /// stays where it is, reported by `verify` as torn). Starts the maintenance thread
    /// when there is something for it to do (`interval` sync, retention).
    pub fn open(dir: &Path, options: ArchiveOptions) -> Result<ArchiveWriter, ArchiveError> {
        create_private_dir(dir).map_err(io_error(dir, "create the directory"))?;
        let (last_number, tip_seq, tip_hash) = find_tip(dir)?;
        let mut options = options;
        options.max_record_bytes = options.max_record_bytes.min(MAX_RECORD_BYTES);
        options.retention = options.retention.map(|r| r.max(MIN_RETENTION));
        options.segment_bytes = options.segment_bytes.max(1);
        let shared = Arc::new(Shared::default());
        let created = SystemTime::now();
        let number = last_number + 1;
        let header = SegmentHeader {
            number,
            first_seq: tip_seq + 1,
            created_us: to_micros(created),
            prev: tip_hash,
        };
        let file = begin_segment(dir, &header, options.sync == SyncMode::Always)?;
        let mut w = ArchiveWriter {
            dir: dir.to_path_buf(),
            file,
            number,
            size: format::HEADER_LEN as u64,
            created,
            next_seq: tip_seq + 1,
            last_hash: header.hash(),
            pending: Vec::new(),
            buf: Vec::new(),
            shared,
            maintenance: None,
            broken: false,
            options,
        };
        w.share_current()?;
        if w.options.sync == SyncMode::Interval || w.options.retention.is_some() {
            w.maintenance = Some(w.start_maintenance()?);
        }
        tracing::info!(
            archive = %dir.display(),
            segment = number,
            next_record = w.next_seq,
            "compliance archive open"
        );
        Ok(w)
    }

    /// The archive directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options it runs with (after the bounds were applied).
    pub fn options(&self) -> &ArchiveOptions {
        &self.options
    }

    /// The number the next record gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Queues an entry for the next [`commit`](Self::commit).
    pub fn push(&mut self, entry: Entry) {
        self.pending.push(entry);
    }

    /// Entries queued and not yet written.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Whether the next commit waits for the disk (`always` mode with entries queued).
    pub fn commit_syncs(&self) -> bool {
        !self.pending.is_empty() && self.options.sync == SyncMode::Always
    }

    /// Writes the queued entries as records with one `write(2)` (and `fdatasync`s in
    /// `always` mode). When this returns `Ok`, they survive the death of the process;
    /// release what they cover only then. On `Err` the writer is unusable (the server
    /// stops). Nothing queued: nothing written.
    pub fn commit(&mut self) -> Result<(), ArchiveError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if let Some(why) = self.shared.failure() {
            self.broken = true;
            return Err(ArchiveError::SyncFailed {
                path: self.dir.clone(),
                why,
            });
        }
        if self.broken {
            return Err(ArchiveError::SyncFailed {
                path: self.dir.clone(),
                why: "an earlier write failed".into(),
            });
        }
        let r = self.write_pending();
        if r.is_err() {
            self.broken = true;
        }
        r
    }

    fn write_pending(&mut self) -> Result<(), ArchiveError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let age = SystemTime::now()
            .duration_since(self.created)
            .unwrap_or_default();
        if self.size >= self.options.segment_bytes || age >= self.options.segment_max_age {
            self.rotate()?;
        }
        self.buf.clear();
        let (mut seq, mut last) = (self.next_seq, self.last_hash);
        for e in &self.pending {
            last = format::encode_record(
                &RecordFields {
                    seq,
                    prev: &last,
                    time_us: to_micros(e.time),
                    deliveries: e.deliveries,
                    sender: e.sender.as_bytes(),
                    recipient: e.recipient.as_bytes(),
                    body: &e.body,
                },
                &mut self.buf,
                self.options.max_record_bytes,
            )?;
            seq += 1;
        }
        let path = self.segment_path();
        if let Err(e) = self.file.write_all(&self.buf) {
            let _ = self.file.set_len(self.size);
            return Err(io_error(&path, "append records")(e));
        }
        if self.options.sync == SyncMode::Always {
            self.file
                .sync_data()
                .map_err(io_error(&path, "sync a segment"))?;
        }
        self.size += self.buf.len() as u64;
        self.next_seq = seq;
        self.last_hash = last;
        self.pending.clear();
        if self.buf.capacity() > 1 << 20 {
            self.buf = Vec::new();
        }
        Ok(())
    }

    fn segment_path(&self) -> PathBuf {
        self.dir.join(segment_name(self.number))
    }

    /// Closes the current segment (synced: a closed segment is always durable) and
    /// begins the next, continuing the chain.
    fn rotate(&mut self) -> Result<(), ArchiveError> {
        let path = self.segment_path();
        if self.options.sync == SyncMode::Interval {
            self.file
                .sync_data()
                .map_err(io_error(&path, "sync a closed segment"))?;
        }
        let created = SystemTime::now();
        let header = SegmentHeader {
            number: self.number + 1,
            first_seq: self.next_seq,
            created_us: to_micros(created),
            prev: self.last_hash,
        };
        self.file = begin_segment(&self.dir, &header, self.options.sync == SyncMode::Always)?;
        self.number += 1;
        self.size = format::HEADER_LEN as u64;
        self.created = created;
        self.last_hash = header.hash();
        self.share_current()
    }

    /// Hands the maintenance thread a handle on the current segment (`interval` mode).
    fn share_current(&mut self) -> Result<(), ArchiveError> {
        if self.options.sync != SyncMode::Interval {
            return Ok(());
        }
        let clone = self
            .file
            .try_clone()
            .map_err(io_error(&self.segment_path(), "share a segment handle"))?;
        if let Ok(mut c) = self.shared.current.lock() {
            *c = Some(clone);
        }
        self.shared.dir_dirty.store(true, Ordering::Release);
        Ok(())
    }

    fn start_maintenance(&self) -> Result<Maintenance, ArchiveError> {
        let (stop, rx) = mpsc::channel::<()>();
        let shared = Arc::clone(&self.shared);
        let dir = self.dir.clone();
        let sync = self.options.sync == SyncMode::Interval;
        let interval = self.options.sync_interval.max(Duration::from_millis(1));
        let retention = self.options.retention;
        let thread = std::thread::Builder::new()
            .name("rvp-archive".into())
            .spawn(move || maintain(&rx, &shared, &dir, sync, interval, retention))
            .map_err(io_error(&self.dir, "start the archive thread"))?;
        Ok(Maintenance { stop, thread })
    }

    /// Stops cleanly: writes what is queued, syncs the segment and its directory, stops
    /// the maintenance thread. Dropping the writer does the same, reporting an error only
    /// in the diagnostics.
    pub fn close(mut self) -> Result<(), ArchiveError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), ArchiveError> {
        if let Some(m) = self.maintenance.take() {
            let _ = m.stop.send(());
            let _ = m.thread.join();
        }
        if self.broken {
            return Ok(());
        }
        self.broken = true; // nothing more after a close
        self.write_pending()?;
        let path = self.segment_path();
        self.file
            .sync_data()
            .map_err(io_error(&path, "sync a segment"))?;
        sync_dir(&self.dir).map_err(io_error(&self.dir, "sync the directory"))
    }
}

impl Drop for ArchiveWriter {
    fn drop(&mut self) {
        if !self.broken
            && let Err(e) = self.shutdown()
        {
            tracing::error!("closing the archive: {e}");
        }
    }
}

/// Creates `dir` (and its parents) if missing; a directory it creates is accessible to
/// the server's user only (the archive holds message contents).
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Creates segment `header.number` in `dir` (it must not exist) with its header; with
/// `sync`, the header and the directory entry are made durable at once.
fn begin_segment(dir: &Path, header: &SegmentHeader, sync: bool) -> Result<File, ArchiveError> {
    let path = dir.join(segment_name(header.number));
    let mut options = OpenOptions::new();
    options.create_new(true).append(true);
    // Message contents in clear: readable by the server's user only.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .map_err(io_error(&path, "create a segment"))?;
    file.write_all(&header.encode())
        .map_err(io_error(&path, "write a segment header"))?;
    if sync {
        file.sync_data()
            .map_err(io_error(&path, "sync a segment header"))?;
        sync_dir(dir).map_err(io_error(dir, "sync the directory"))?;
    }
    Ok(file)
}

/// The newest segment's number and where the chain stands: the last whole record (or the
/// last valid header) of the newest segment that has a header. `(0, 0, GENESIS)` for an
/// empty archive.
fn find_tip(dir: &Path) -> Result<(u64, u64, Hash), ArchiveError> {
    let segments = list_segments(dir)?;
    let last_number = segments.last().map_or(0, |s| s.0);
    for (number, path) in segments.iter().rev() {
        let bytes = std::fs::read(path).map_err(io_error(path, "read a segment"))?;
        let scan = format::scan(&bytes);
        let header = match scan.header {
            HeaderState::Valid(h) => h,
            HeaderState::Torn { .. } => {
                tracing::warn!(
                    segment = %path.display(),
                    "archive segment without a whole header (a process stopped as it began it)"
                );
                continue;
            }
            HeaderState::Invalid(why) => {
                return Err(ArchiveError::Unusable {
                    path: path.clone(),
                    why,
                });
            }
        };
        if header.number != *number {
            return Err(ArchiveError::Unusable {
                path: path.clone(),
                why: format!("its header says segment {}", header.number),
            });
        }
        match &scan.tail {
            Tail::Clean => {}
            Tail::Torn { offset } => tracing::warn!(
                segment = %path.display(),
                offset,
                "archive segment ends in a record cut short (being written when the process \
                 stopped, never acknowledged); the new segment continues before it"
            ),
            Tail::Damaged { offset, why } => tracing::error!(
                segment = %path.display(),
                offset,
                "archive segment damaged ({why}); the new segment continues from the last whole \
                 record before the damage: `rvp-admin archive verify` will report it"
            ),
        }
        let tip = match scan.records.last() {
            Some((_, r)) => (r.seq, r.hash),
            None => (header.first_seq.saturating_sub(1), header.hash()),
        };
        return Ok((last_number, tip.0, tip.1));
    }
    Ok((last_number, 0, GENESIS))
}

/// The maintenance thread: periodic sync (`interval` mode) and retention.
fn maintain(
    rx: &mpsc::Receiver<()>,
    shared: &Shared,
    dir: &Path,
    sync: bool,
    interval: Duration,
    retention: Option<Duration>,
) {
    let mut next_prune = Instant::now();
    loop {
        if let Some(r) = retention
            && Instant::now() >= next_prune
        {
            next_prune = Instant::now() + PRUNE_EVERY;
            let cutoff = SystemTime::now()
                .checked_sub(r)
                .unwrap_or(SystemTime::UNIX_EPOCH);
            match super::prune(dir, cutoff) {
                Ok(rep) if !rep.deleted.is_empty() => tracing::info!(
                    deleted = rep.deleted.len(),
                    kept = rep.kept,
                    "archive retention: expired segments deleted"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!("archive retention: {e}"),
            }
        }
        let wait = if sync {
            interval
        } else {
            next_prune.saturating_duration_since(Instant::now())
        };
        match rx.recv_timeout(wait) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if sync {
            let synced = match shared.current.lock() {
                Ok(f) => f.as_ref().map_or(Ok(()), File::sync_data),
                Err(_) => Ok(()),
            };
            let synced = synced.and_then(|()| {
                if shared.dir_dirty.swap(false, Ordering::AcqRel) {
                    sync_dir(dir)
                } else {
                    Ok(())
                }
            });
            if let Err(e) = synced {
                tracing::error!(archive = %dir.display(), "archive sync failed: {e}");
                shared.fail(e.to_string());
                return;
            }
        }
    }
}
