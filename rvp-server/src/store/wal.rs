//! The write-ahead log: segment files of checksummed, numbered records, each one batch
//! of store operations.
//!
//! ```text
//!  <storage>.wal/                       one directory beside the redb file
//!    00000000000000000007.wal           closed segment (waits for its checkpoint)
//!    00000000000000000008.wal           the segment being appended to
//!
//!  segment := MAGIC record*
//!  record  := len:u32  crc:u32  seq:u64  payload[len]      (little-endian)
//!             crc = CRC-32 (IEEE) of seq and payload
//!  payload := op*
//!  op      := table:u8  kind:u8  key  [value]               kind 0 = delete, 1 = put
//!  key     := id:u32 (subscriptions, views) | len:u32 UTF-8 (meta, ACLs)
//!  value   := len:u32 bytes                                  (puts only)
//! ```
//!
//! Records are numbered without gaps across segments (`seq` 1, 2, 3...). The redb store
//! remembers the last record it contains (`rvp_meta["wal_seq"]`), so replay after a crash
//! applies exactly the records after it, once.
//!
//! A record is appended with one `write(2)` before the answers it covers are released:
//! from then on it is in the operating system's page cache and survives the death of the
//! process (`kill -9`, a panic, the OOM killer). Whether it also survives a power loss
//! depends on the sync mode ([`super::SyncMode`]).
//!
//! Reading is total: a record that is cut short, fails its checksum, or breaks the
//! numbering ends the scan of its segment ([`Tail`]); only whole, checked records are
//! ever replayed. After `kill -9` the only damage possible is a last record cut short,
//! which was never acknowledged.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::codec::DecodeError;

/// The first bytes of every segment file.
pub const MAGIC: &[u8; 8] = b"RVPWAL01";

/// A segment is closed and a new one begun once it holds this many bytes (8 MiB). Closed
/// segments are deleted once a checkpoint covers them, so the log's size on disk stays
/// around one segment plus what arrives between two checkpoints.
pub const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;

/// Largest record payload written or read: 256 MiB. A batch is the changes of at most one
/// engine wake-up; only an expiry sweep over millions of subscriptions comes near.
pub const MAX_RECORD_BYTES: usize = 256 * 1024 * 1024;

/// Record header: length, checksum, sequence number.
const HEADER: usize = 4 + 4 + 8;

/// The redb table an operation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Table {
    /// `rvp_meta` (string keys).
    Meta,
    /// `rvp_subscriptions` (id keys).
    Subscriptions,
    /// `rvp_views` (id keys).
    Views,
    /// `rvp_acls` (string keys).
    Acls,
}

impl Table {
    fn tag(self) -> u8 {
        match self {
            Table::Meta => 0,
            Table::Subscriptions => 1,
            Table::Views => 2,
            Table::Acls => 3,
        }
    }

    fn from_tag(t: u8) -> Option<Table> {
        Some(match t {
            0 => Table::Meta,
            1 => Table::Subscriptions,
            2 => Table::Views,
            3 => Table::Acls,
            _ => return None,
        })
    }

    fn has_id_keys(self) -> bool {
        matches!(self, Table::Subscriptions | Table::Views)
    }
}

/// A record key: ids for subscriptions and views, strings for meta and ACLs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Key {
    /// A subscription or view id.
    Id(u32),
    /// A meta key or an ACL's `host/alias`.
    Name(String),
}

/// One write to the store: put `value` at `key` of `table`, or delete it (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Op {
    pub(crate) table: Table,
    pub(crate) key: Key,
    pub(crate) value: Option<Vec<u8>>,
}

fn bad(what: impl Into<String>) -> DecodeError {
    DecodeError { what: what.into() }
}

fn put_u32(out: &mut Vec<u8>, v: usize) -> io::Result<()> {
    let v = u32::try_from(v).map_err(|_| io::Error::other("a value longer than 4 GiB"))?;
    out.extend_from_slice(&v.to_le_bytes());
    Ok(())
}

/// Appends the payload of one record (the ops) to `out`.
pub(crate) fn encode_ops(ops: &[Op], out: &mut Vec<u8>) -> io::Result<()> {
    for op in ops {
        out.push(op.table.tag());
        out.push(u8::from(op.value.is_some()));
        match (&op.key, op.table.has_id_keys()) {
            (Key::Id(id), true) => out.extend_from_slice(&id.to_le_bytes()),
            (Key::Name(s), false) => {
                put_u32(out, s.len())?;
                out.extend_from_slice(s.as_bytes());
            }
            (key, _) => {
                return Err(io::Error::other(format!(
                    "key {key:?} does not fit table {:?}",
                    op.table
                )));
            }
        }
        if let Some(v) = &op.value {
            put_u32(out, v.len())?;
            out.extend_from_slice(v);
        }
    }
    Ok(())
}

fn take<'a>(buf: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
    if buf.len() < n {
        return Err(bad(format!("{what}: record ends early")));
    }
    let (a, b) = buf.split_at(n);
    *buf = b;
    Ok(a)
}

fn take_u32(buf: &mut &[u8], what: &str) -> Result<u32, DecodeError> {
    let b = take(buf, 4, what)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Decodes the payload of one record.
pub(crate) fn decode_ops(mut buf: &[u8]) -> Result<Vec<Op>, DecodeError> {
    let mut ops = Vec::new();
    while !buf.is_empty() {
        let tag = take(&mut buf, 1, "operation table")?[0];
        let table = Table::from_tag(tag).ok_or_else(|| bad(format!("table tag {tag}")))?;
        let put = match take(&mut buf, 1, "operation kind")?[0] {
            0 => false,
            1 => true,
            k => return Err(bad(format!("operation kind {k}"))),
        };
        let key = if table.has_id_keys() {
            Key::Id(take_u32(&mut buf, "id key")?)
        } else {
            let len = take_u32(&mut buf, "key length")? as usize;
            let b = take(&mut buf, len, "key")?;
            let s = std::str::from_utf8(b).map_err(|_| bad("key: not UTF-8"))?;
            Key::Name(s.to_owned())
        };
        let value = if put {
            let len = take_u32(&mut buf, "value length")? as usize;
            Some(take(&mut buf, len, "value")?.to_vec())
        } else {
            None
        };
        ops.push(Op { table, key, value });
    }
    Ok(ops)
}

fn checksum(seq: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Appends one whole record (header and payload) for `ops` to `out`.
pub(crate) fn encode_record(seq: u64, ops: &[Op], out: &mut Vec<u8>) -> io::Result<()> {
    encode_record_within(seq, ops, out, MAX_RECORD_BYTES)
}

/// [`encode_record`] with the payload limit as a parameter (tests use a small one). Over
/// the limit, `out` is left as it was.
fn encode_record_within(seq: u64, ops: &[Op], out: &mut Vec<u8>, limit: usize) -> io::Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    if let Err(e) = encode_ops(ops, out) {
        out.truncate(start);
        return Err(e);
    }
    let len = out.len() - start - HEADER;
    if len > limit {
        out.truncate(start);
        return Err(io::Error::other(format!(
            "a batch of {len} bytes, more than the write-ahead log's limit of {limit}"
        )));
    }
    let crc = checksum(seq, &out[start + HEADER..]);
    let header = &mut out[start..start + HEADER];
    header[..4].copy_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
    header[4..8].copy_from_slice(&crc.to_le_bytes());
    header[8..].copy_from_slice(&seq.to_le_bytes());
    Ok(())
}

/// One record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) seq: u64,
    pub(crate) ops: Vec<Op>,
}

/// How the scan of a segment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// At the end of the file, after a whole record.
    Clean,
    /// At byte `offset`, before something that is not a whole, valid record: what follows
    /// is ignored. The normal result of a process killed during a write (that record was
    /// never acknowledged).
    Damaged {
        /// Where the unusable bytes start.
        offset: u64,
        /// What was wrong with them.
        why: String,
    },
}

/// The records of one segment, and how its scan ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scan {
    pub(crate) records: Vec<Record>,
    pub(crate) tail: Tail,
}

/// Reads the records of a segment's bytes. Total: never fails, never panics; the first
/// unusable byte ends the scan (see [`Tail`]). A record must follow its predecessor's
/// number (`seq + 1`); a segment that does not start with [`MAGIC`] has no records.
pub(crate) fn scan(bytes: &[u8]) -> Scan {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Scan {
            records: Vec::new(),
            tail: Tail::Damaged {
                offset: 0,
                why: "no segment header".into(),
            },
        };
    }
    let mut records: Vec<Record> = Vec::new();
    let mut at = MAGIC.len();
    let damaged = |offset: usize, why: String| Tail::Damaged {
        offset: offset as u64,
        why,
    };
    let tail = loop {
        let rest = &bytes[at..];
        if rest.is_empty() {
            break Tail::Clean;
        }
        if rest.len() < HEADER {
            break damaged(
                at,
                format!("a record header cut short ({} bytes)", rest.len()),
            );
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        let mut seq8 = [0u8; 8];
        seq8.copy_from_slice(&rest[8..16]);
        let seq = u64::from_le_bytes(seq8);
        if len > MAX_RECORD_BYTES {
            break damaged(at, format!("a record length of {len} bytes"));
        }
        let Some(payload) = rest.get(HEADER..HEADER + len) else {
            break damaged(
                at,
                format!(
                    "record {seq} cut short ({} of {len} bytes)",
                    rest.len() - HEADER
                ),
            );
        };
        if checksum(seq, payload) != crc {
            break damaged(at, "a record failing its checksum".into());
        }
        if let Some(prev) = records.last()
            && Some(seq) != prev.seq.checked_add(1)
        {
            break damaged(at, format!("record {seq} after record {}", prev.seq));
        }
        match decode_ops(payload) {
            Ok(ops) => records.push(Record { seq, ops }),
            Err(e) => break damaged(at, format!("record {seq}: {}", e.what)),
        }
        at += HEADER + len;
    };
    Scan { records, tail }
}

/// A segment file's name for its number.
pub(crate) fn segment_name(number: u64) -> String {
    format!("{number:020}.wal")
}

/// The segments in `dir`, by number (files named like [`segment_name`]; others are left
/// alone).
pub(crate) fn list_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".wal") else {
            continue;
        };
        if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(n) = stem.parse::<u64>() {
            out.push((n, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads a whole segment file.
pub(crate) fn read_segment(path: &Path) -> io::Result<Scan> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    Ok(scan(&bytes))
}

/// Makes the directory's entries (new and removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    // Opening a directory read-only and fsyncing it is how POSIX persists its entries.
    File::open(dir)?.sync_all()
}

/// A closed segment: its number and the last record in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed {
    pub(crate) number: u64,
    pub(crate) last_seq: u64,
}

/// Appends records to the current segment; owned by the engine task.
#[derive(Debug)]
pub(crate) struct Writer {
    dir: PathBuf,
    file: File,
    number: u64,
    size: u64,
    next_seq: u64,
    segment_bytes: u64,
    /// Make a new segment's directory entry durable before writing to it (needed when
    /// every record is synced; otherwise the checkpoints make things durable).
    sync_new: bool,
    /// Whether the current segment's directory entry is known durable.
    entry_synced: bool,
    /// Closed segments not synced when closed (`sync_new` off), with their last record:
    /// [`Writer::sync`] must make them durable before the current one, or a power loss
    /// could keep a synced record behind a lost one. Dropped once a checkpoint covers
    /// them ([`Writer::forget_covered`]).
    closed_unsynced: Vec<(u64, File)>,
    buf: Vec<u8>,
}

impl Writer {
    /// Starts segment `number` in `dir` (which must not hold it yet); the first record
    /// written gets `next_seq`. With `sync_new`, each new segment (header and directory
    /// entry) is synced before it is written to.
    pub(crate) fn create(
        dir: &Path,
        number: u64,
        next_seq: u64,
        segment_bytes: u64,
        sync_new: bool,
    ) -> io::Result<Writer> {
        let file = new_segment(dir, number, sync_new)?;
        Ok(Writer {
            dir: dir.to_path_buf(),
            file,
            number,
            size: MAGIC.len() as u64,
            next_seq,
            segment_bytes: segment_bytes.max(1),
            sync_new,
            entry_synced: sync_new,
            closed_unsynced: Vec::new(),
            buf: Vec::new(),
        })
    }

    /// The number the next record gets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Writes one record for `ops` (one `write` call) and returns its number. On an
    /// error the segment is cut back to where it was, best effort; the caller must treat
    /// the log as failed.
    pub(crate) fn append(&mut self, ops: &[Op]) -> io::Result<u64> {
        let seq = self.next_seq;
        self.buf.clear();
        encode_record(seq, ops, &mut self.buf)?;
        if let Err(e) = self.file.write_all(&self.buf) {
            let _ = self.file.set_len(self.size);
            return Err(e);
        }
        self.size += self.buf.len() as u64;
        self.next_seq += 1;
        // Do not keep a huge buffer after a rare huge batch.
        if self.buf.capacity() > 1 << 20 {
            self.buf = Vec::new();
        }
        Ok(seq)
    }

    /// Makes every record written so far durable: the closed segments not yet synced
    /// (oldest first), then the current one, and its directory entry if that is not
    /// durable yet. With `sync_new` (every batch synced) only the current segment has
    /// anything to flush.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        for (_, f) in &self.closed_unsynced {
            f.sync_data()?;
        }
        if !self.closed_unsynced.is_empty() {
            self.closed_unsynced.clear();
            // Their entries too (a segment is created, written, then closed).
            sync_dir(&self.dir)?;
            self.entry_synced = true;
        }
        self.file.sync_data()?;
        if !self.entry_synced {
            sync_dir(&self.dir)?;
            self.entry_synced = true;
        }
        Ok(())
    }

    /// Forgets the unsynced closed segments whose records the store holds up to
    /// `stored` (a checkpoint made them durable): they need no sync any more.
    pub(crate) fn forget_covered(&mut self, stored: u64) {
        self.closed_unsynced.retain(|(last, _)| *last > stored);
    }

    /// Closed segments still waiting for a sync or a checkpoint.
    #[cfg(test)]
    pub(crate) fn unsynced_segments(&self) -> usize {
        self.closed_unsynced.len()
    }

    /// When the current segment is full: syncs and closes it, begins the next, and
    /// returns the closed one.
    pub(crate) fn rotate_if_full(&mut self) -> io::Result<Option<Closed>> {
        if self.size < self.segment_bytes {
            return Ok(None);
        }
        self.rotate().map(Some)
    }

    /// Closes the current segment and begins the next. Nothing is synced here: when
    /// every record is synced, so is the segment already; otherwise the closed segment is
    /// kept for the next [`Writer::sync`] (an ACL change) until a checkpoint covers it.
    pub(crate) fn rotate(&mut self) -> io::Result<Closed> {
        let closed = Closed {
            number: self.number,
            last_seq: self.next_seq - 1,
        };
        let next = new_segment(&self.dir, self.number + 1, self.sync_new)?;
        let old = std::mem::replace(&mut self.file, next);
        if !self.sync_new {
            self.closed_unsynced.push((closed.last_seq, old));
        }
        self.entry_synced = self.sync_new;
        self.number += 1;
        self.size = MAGIC.len() as u64;
        Ok(closed)
    }
}

fn new_segment(dir: &Path, number: u64, sync: bool) -> io::Result<File> {
    let path = dir.join(segment_name(number));
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)?;
    file.write_all(MAGIC)?;
    if sync {
        file.sync_data()?;
        sync_dir(dir)?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn op() -> impl Strategy<Value = Op> {
        let id = (
            prop_oneof![Just(Table::Subscriptions), Just(Table::Views)],
            any::<u32>(),
        )
            .prop_map(|(t, id)| (t, Key::Id(id)));
        let name = (
            prop_oneof![Just(Table::Meta), Just(Table::Acls)],
            "\\PC{0,20}",
        )
            .prop_map(|(t, s)| (t, Key::Name(s)));
        (
            prop_oneof![id, name],
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        )
            .prop_map(|((table, key), value)| Op { table, key, value })
    }

    fn batches() -> impl Strategy<Value = Vec<Vec<Op>>> {
        proptest::collection::vec(proptest::collection::vec(op(), 0..6), 0..12)
    }

    fn segment(first_seq: u64, batches: &[Vec<Op>]) -> (Vec<u8>, Vec<usize>) {
        let mut out = MAGIC.to_vec();
        let mut ends = Vec::new();
        for (i, b) in batches.iter().enumerate() {
            encode_record(first_seq + i as u64, b, &mut out).unwrap();
            ends.push(out.len());
        }
        (out, ends)
    }

    proptest! {
        #[test]
        fn records_round_trip(first in 1u64..1_000_000, batches in batches()) {
            let (bytes, _) = segment(first, &batches);
            let s = scan(&bytes);
            prop_assert_eq!(s.tail, Tail::Clean);
            prop_assert_eq!(s.records.len(), batches.len());
            for (i, (r, b)) in s.records.iter().zip(&batches).enumerate() {
                prop_assert_eq!(r.seq, first + i as u64);
                prop_assert_eq!(&r.ops, b);
            }
        }

        /// A segment cut anywhere (a process killed during a write) yields exactly the
        /// records that were whole before the cut.
        #[test]
        fn a_cut_segment_yields_the_whole_records_before_the_cut(
            batches in batches(),
            cut in any::<prop::sample::Index>(),
        ) {
            let (bytes, ends) = segment(1, &batches);
            let at = cut.index(bytes.len() + 1);
            let s = scan(&bytes[..at]);
            let whole = ends.iter().filter(|&&e| e <= at).count();
            prop_assert_eq!(s.records.len(), whole);
            let clean = at == bytes.len() || ends.contains(&at) || at == MAGIC.len();
            prop_assert_eq!(s.tail == Tail::Clean, clean, "{:?}", s.tail);
        }

        /// A flipped bit after the header is caught by the checksum (or the framing): the
        /// scan stops before the damaged record, and no record it returns differs from
        /// what was written.
        #[test]
        fn a_flipped_bit_never_yields_a_wrong_record(
            batches in batches(),
            pos in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let (mut bytes, _) = segment(1, &batches);
            prop_assume!(bytes.len() > MAGIC.len());
            let at = MAGIC.len() + pos.index(bytes.len() - MAGIC.len());
            bytes[at] ^= 1 << bit;
            let s = scan(&bytes);
            prop_assert!(s.records.len() < batches.len() || s.records.is_empty());
            for (r, b) in s.records.iter().zip(&batches) {
                prop_assert_eq!(&r.ops, b);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut with_magic = MAGIC.to_vec();
            with_magic.extend_from_slice(&bytes);
            let _ = scan(&bytes);
            let _ = scan(&with_magic);
            let _ = decode_ops(&bytes);
        }
    }

    #[test]
    fn a_gap_in_the_numbering_ends_the_scan() {
        let a = vec![Op {
            table: Table::Views,
            key: Key::Id(1),
            value: None,
        }];
        let mut bytes = MAGIC.to_vec();
        encode_record(5, &a, &mut bytes).unwrap();
        let at = bytes.len();
        encode_record(7, &a, &mut bytes).unwrap();
        let s = scan(&bytes);
        assert_eq!(s.records.len(), 1);
        assert!(
            matches!(&s.tail, Tail::Damaged { offset, why } if *offset == at as u64 && why.contains("record 7 after record 5")),
            "{:?}",
            s.tail
        );
    }

    #[test]
    fn an_oversized_length_is_refused_without_reading_it() {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(&[0; 12]);
        let s = scan(&bytes);
        assert!(s.records.is_empty());
        assert!(matches!(&s.tail, Tail::Damaged { why, .. } if why.contains("length")));
    }

    #[test]
    fn a_batch_over_the_record_limit_is_refused_and_nothing_is_written() {
        let op = Op {
            table: Table::Acls,
            key: Key::Name("h/a".into()),
            value: Some(vec![1; 100]),
        };
        let mut out = b"before".to_vec();
        let e = encode_record_within(1, &[op.clone(), op.clone()], &mut out, 150).unwrap_err();
        assert!(e.to_string().contains("limit of 150"), "{e}");
        assert_eq!(out, b"before");
        encode_record_within(1, &[op], &mut out, 150).unwrap();
        assert!(out.len() > 6);
    }

    #[test]
    fn a_key_of_the_wrong_kind_is_an_error_not_a_record() {
        let op = Op {
            table: Table::Views,
            key: Key::Name("x".into()),
            value: None,
        };
        assert!(encode_record(1, &[op], &mut Vec::new()).is_err());
    }

    #[test]
    fn the_writer_numbers_records_and_rotates_full_segments() {
        let dir = std::env::temp_dir().join(format!("rvp-wal-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let op = Op {
            table: Table::Acls,
            key: Key::Name("h/a".into()),
            value: Some(vec![7; 100]),
        };
        let mut w = Writer::create(&dir, 3, 10, 300, true).unwrap();
        assert_eq!(w.unsynced_segments(), 0);
        assert_eq!(w.append(std::slice::from_ref(&op)).unwrap(), 10);
        assert_eq!(w.rotate_if_full().unwrap(), None);
        assert_eq!(w.append(std::slice::from_ref(&op)).unwrap(), 11);
        assert_eq!(w.append(std::slice::from_ref(&op)).unwrap(), 12);
        let closed = w.rotate_if_full().unwrap().unwrap();
        assert_eq!(
            closed,
            Closed {
                number: 3,
                last_seq: 12
            }
        );
        assert_eq!(w.append(std::slice::from_ref(&op)).unwrap(), 13);
        // Synced mode: a closed segment is already durable, nothing is kept.
        assert_eq!(w.unsynced_segments(), 0);
        let segs = list_segments(&dir).unwrap();
        assert_eq!(segs.iter().map(|s| s.0).collect::<Vec<_>>(), vec![3, 4]);
        let first = read_segment(&segs[0].1).unwrap();
        assert_eq!(first.tail, Tail::Clean);
        assert_eq!(
            first.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![10, 11, 12]
        );
        let second = read_segment(&segs[1].1).unwrap();
        assert_eq!(second.records.len(), 1);
        assert_eq!(second.records[0].ops, vec![op]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Without a sync per record, closed segments wait for a sync (all of them, oldest
    /// first, before the current one) or for a checkpoint covering them.
    #[test]
    fn unsynced_closed_segments_are_kept_until_synced_or_covered() {
        let dir = std::env::temp_dir().join(format!("rvp-wal-unsynced-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let op = Op {
            table: Table::Views,
            key: Key::Id(1),
            value: Some(vec![7; 100]),
        };
        let mut w = Writer::create(&dir, 1, 1, 100, false).unwrap();
        for _ in 0..3 {
            w.append(std::slice::from_ref(&op)).unwrap();
            w.rotate_if_full().unwrap().unwrap();
        }
        assert_eq!(w.unsynced_segments(), 3);
        w.forget_covered(1);
        assert_eq!(w.unsynced_segments(), 2, "segment 1 (record 1) is covered");
        w.sync().unwrap();
        assert_eq!(w.unsynced_segments(), 0);
        w.append(std::slice::from_ref(&op)).unwrap();
        w.rotate_if_full().unwrap().unwrap();
        w.forget_covered(u64::MAX);
        assert_eq!(w.unsynced_segments(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
