//! The compliance archive: every NOTIFY the server relays (instant messages, typing,
//! invitations), appended to hash-chained segment files before the NOTIFY is released.
//!
//! Off by default; `[archive] path` turns it on ([`crate::config::ArchiveConfig`]).
//!
//! ```text
//!  engine task (PresenceCore)
//!  ──────────────────────────
//!  handle_request(NOTIFY) ──► the engine queues Deliver(relayed body) × n
//!     └─ relayed_entry(): one Entry per relayed request (not per delivery):
//!        receive time, sender as relayed (RVP-From-Principal), recipient node,
//!        n, body bytes untouched (a reference to the request's buffer)
//!  commit():  ArchiveWriter::commit()   one write(2) of the batch's records
//!             [fdatasync: storage_sync = "always"]
//!             then the store's log write, then the covered outputs are released
//!
//!  <path>/00000000000000000001.arc   segment: header, records (format module)
//!         00000000000000000002.arc   header.prev = hash of the last item before it
//! ```
//!
//! # What is archived
//!
//! One record per NOTIFY request the engine relayed to at least one call-back: the
//! receive time (wall clock, microseconds), the sender as relayed (the proven principal,
//! else the asserted one of another domain: what deliveries carry as
//! `RVP-From-Principal`), the recipient node's logical URL, how many deliveries it caused
//! (one per signed-on client), and the body byte for byte. NOTIFYs that relay nothing are
//! not archived: refusals (`400`, `403`, hop limit), a sender denied `send-to`, and a
//! recipient with nobody signed on (the engine answers the last two alike, on purpose,
//! PROTOCOL.md §8.4). Presence NOTIFYs the server originates are not archived.
//!
//! # When a record is safe
//!
//! A record is written with `write(2)` in the commit step of the engine batch that
//! handled its NOTIFY, before any output of that batch leaves: before the first delivery
//! is queued and before the sender's answer. So after `kill -9`, a crash or the OOM
//! killer, every NOTIFY that was acknowledged or delivered is in the archive. With
//! `[server] storage_sync = "always"` the segment is also `fdatasync`ed in that step
//! (survives power loss); with `"interval"` a thread syncs it every
//! `storage_checkpoint_interval` and a segment is synced when it is closed, so a power
//! loss loses at most that interval's records. If a write or sync fails, the server stops,
//! as for the store. The archive errs towards too much: a record whose NOTIFY was never
//! sent (the process died between the write and the release) stays in it.
//!
//! # Verifying
//!
//! Each record carries the SHA-256 of the item before it; [`verify()`] walks the
//! segments and names the first record that is altered (checksums, then the chain),
//! missing (numbering, chain), reordered, or a segment that is missing or does not chain
//! from its predecessor. A record cut short at the end of a segment — the process died
//! while writing it, so it was never acknowledged — is reported as torn, not as
//! tampering, when the next segment (begun by the next start) chains from the last whole
//! record before it.
//!
//! What a hash chain cannot show on its own: records cut off the end of the newest
//! segment (they look like a crash), and a chain recomputed from the point of an
//! alteration on by someone who can write the files. Keep the head hash [`verify()`]
//! reports elsewhere now and then and check it later (`rvp-admin archive verify
//! --anchor SEQ:HASH`).
//!
//! # Retention
//!
//! With `[archive] retention`, whole segments whose records are all older than the
//! retention are deleted, oldest first, once at start-up and every [`PRUNE_EVERY`]
//! ([`prune()`]). A segment is closed at [`SEGMENT_BYTES`] or when it is
//! [`SEGMENT_MAX_AGE`] old (at its next record, or at a restart), so records go between
//! `retention` and `retention` + a day + an hour after they arrived. The newest segment is
//! never deleted. The first segment left names the record and hash it follows, so the
//! chain stays verifiable from there.

mod format;
mod verify;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rvp_presence::{Engine, Output};

pub use format::{
    GENESIS, HEADER_LEN, HeaderState, MAGIC, MAX_RECORD_BYTES, PAYLOAD_FIXED_LEN, RECORD_HEAD_LEN,
    SegmentHeader, SegmentScan, Tail, TooLarge, scan,
};
pub use verify::{Problem, ProblemKind, PruneReport, TornRecord, VerifyReport, prune, verify};
pub use writer::{ArchiveOptions, ArchiveWriter};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// A segment is closed and the next begun once it holds this many bytes (64 MiB).
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// A segment is closed at its first record after it is this old (one day), so that
/// retention can delete by whole segments on a quiet server too.
pub const SEGMENT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// How often retention runs (and once at start-up): one hour.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Shortest `[archive] retention` accepted: one day (a segment lives up to a day).
pub const MIN_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Bytes a record needs besides the relayed body, the sender and the recipient.
pub const RECORD_OVERHEAD: usize = RECORD_HEAD_LEN + PAYLOAD_FIXED_LEN;

/// One record read back from the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArchiveRecord {
    /// Its number: 1, 2, 3... without gaps across segments.
    pub seq: u64,
    /// The hash of the item before it (the record before, or its segment's header).
    pub prev: Hash,
    /// Its own hash (SHA-256 of its payload), which the next record holds.
    pub hash: Hash,
    /// When the server received the NOTIFY, microseconds since the Unix epoch (UTC).
    pub time_us: i64,
    /// Deliveries the NOTIFY caused (one per signed-on client of the recipient).
    pub deliveries: u32,
    /// The sender it was relayed as (`RVP-From-Principal` of the deliveries).
    pub sender: String,
    /// The recipient node's logical URL.
    pub recipient: String,
    /// The NOTIFY body, byte for byte as received.
    pub body: Vec<u8>,
}

impl ArchiveRecord {
    /// [`ArchiveRecord::time_us`] as a [`SystemTime`].
    pub fn time(&self) -> SystemTime {
        from_micros(self.time_us)
    }
}

/// One relayed NOTIFY to archive (see [`relayed_entry`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// When it was received.
    pub time: SystemTime,
    /// The sender it was relayed as.
    pub sender: Arc<str>,
    /// The recipient node's logical URL.
    pub recipient: Arc<str>,
    /// Deliveries it caused.
    pub deliveries: u32,
    /// The body as received (shared with the deliveries, not copied).
    pub body: Bytes,
}

impl Entry {
    /// An entry from its parts.
    pub fn new(
        time: SystemTime,
        sender: &str,
        recipient: &str,
        deliveries: u32,
        body: Bytes,
    ) -> Entry {
        Entry {
            time,
            sender: Arc::from(sender),
            recipient: Arc::from(recipient),
            deliveries,
            body,
        }
    }
}

/// What to archive for a request the engine just handled, whose outputs are the last
/// `added` of [`Engine::queued_outputs`]: one entry if it was a NOTIFY relayed to at
/// least one call-back, else `None`. Only a relay carries a body as received, so the
/// deliveries that do are exactly this request's (one request relays to one node).
pub fn relayed_entry(engine: &Engine, added: usize, time: SystemTime) -> Option<Entry> {
    let mut count = 0u32;
    let mut first = None;
    for out in engine.queued_outputs().rev().take(added) {
        if let Output::Deliver(d) = out
            && let Some(body) = d.relayed_body()
        {
            count = count.saturating_add(1);
            first = Some((d, body));
        }
    }
    let (d, body) = first?;
    let recipient = engine
        .subscription_node(d.subscription())
        .and_then(|n| engine.directory().get(n))
        .map_or_else(|| Arc::from(""), |p| Arc::clone(p.logical_url()));
    Some(Entry {
        time,
        sender: Arc::clone(d.from_principal()),
        recipient,
        deliveries: count,
        body: body.clone(),
    })
}

/// Microseconds since the Unix epoch (negative before it; saturating).
pub fn to_micros(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_micros()).map_or(i64::MIN, |m| -m),
    }
}

/// The instant `us` microseconds after (or before) the Unix epoch.
pub fn from_micros(us: i64) -> SystemTime {
    let d = Duration::from_micros(us.unsigned_abs());
    if us >= 0 {
        UNIX_EPOCH.checked_add(d).unwrap_or(UNIX_EPOCH)
    } else {
        UNIX_EPOCH.checked_sub(d).unwrap_or(UNIX_EPOCH)
    }
}

/// Lowercase hexadecimal of a hash.
pub fn hex(hash: &Hash) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(64);
    for b in hash {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A hash from 64 hexadecimal digits.
pub fn parse_hex(text: &str) -> Option<Hash> {
    let t = text.trim().as_bytes();
    if t.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in t.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// Why the archive could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// A file operation failed.
    #[error("archive {}: cannot {op}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The newest segment cannot be continued from (its header is not a header): the
    /// server does not write after a segment it cannot chain from.
    #[error(
        "archive segment {}: {why}; check the archive (`rvp-admin archive verify`) and move \
         the damaged segment away to start a new chain",
        path.display()
    )]
    Unusable {
        /// The segment.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// A record over the size limit.
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
    /// The background sync failed earlier; nothing more is written.
    #[error("archive {}: the background sync failed: {why}", path.display())]
    SyncFailed {
        /// The archive directory.
        path: PathBuf,
        /// What failed.
        why: String,
    },
}

fn io_error(path: &Path, op: &'static str) -> impl FnOnce(std::io::Error) -> ArchiveError {
    let path = path.to_path_buf();
    move |source| ArchiveError::Io { path, op, source }
}

/// A segment file's name for its number.
pub fn segment_name(number: u64) -> String {
    format!("{number:020}.arc")
}

/// The segments in `dir`, by number (files named like [`segment_name`]; others are left
/// alone).
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, ArchiveError> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(io_error(dir, "list the directory"))?;
    for entry in entries {
        let entry = entry.map_err(io_error(dir, "list the directory"))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".arc")) else {
            continue;
        };
        if stem.len() == 20
            && stem.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = stem.parse::<u64>()
        {
            out.push((n, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Makes a directory's entries (new and removed files) durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests;
