//! The bytes of an archive segment: the header, the records, and a total scan.
//!
//! ```text
//!  segment := header record*
//!  header  := MAGIC:8 number:u64 first_seq:u64 created_us:i64 prev:32 crc:u32   (68 bytes)
//!             crc = CRC-32 of the 64 bytes before it
//!  record  := len:u32 body_crc:u32 head_crc:u32 payload[len]
//!             head_crc = CRC-32 of len and body_crc; body_crc = CRC-32 of the payload
//!  payload := seq:u64 prev:32 time_us:i64 deliveries:u32
//!             sender_len:u32 sender  recipient_len:u32 recipient  body_len:u32 body
//!  hash(header) = SHA-256 of its 68 bytes;  hash(record) = SHA-256 of its payload
//! ```
//!
//! All integers little-endian; times are microseconds since the Unix epoch (UTC). `prev`
//! is the hash of the item before: for a record, the record before it in the segment or,
//! for the first record, the segment's header; for a header, the last item of the
//! previous segment (its last whole record, or its header if it has none), or 32 zero
//! bytes for the first segment the archive ever had.
//!
//! The header check covers the length, so a changed length is told from a record cut
//! short: a record is *torn* only when the file ends inside it (the process died during
//! its write), never when a byte of it changed.

use sha2::{Digest, Sha256};

use super::{ArchiveRecord, Hash};

/// The first bytes of every segment file (format version 1).
pub const MAGIC: &[u8; 8] = b"RVPARCH1";

/// Size of a segment header.
pub const HEADER_LEN: usize = 8 + 8 + 8 + 8 + 32 + 4;

/// Size of a record's framing (length, payload checksum, header checksum).
pub const RECORD_HEAD_LEN: usize = 12;

/// Fixed part of a payload: seq, prev, time, deliveries and the three lengths.
pub const PAYLOAD_FIXED_LEN: usize = 8 + 32 + 8 + 4 + 4 + 4 + 4;

/// Largest record payload written or read: 64 MiB. A record holds one relayed NOTIFY
/// body (at most `limits.max_body_bytes`, checked against this when the configuration
/// turns the archive on) plus the sender's and the recipient's URLs.
pub const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

/// The `prev` of the first segment an archive ever had.
pub const GENESIS: Hash = [0; 32];

/// A segment header, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The segment's number (also its file name).
    pub number: u64,
    /// The number its first record gets (records are numbered without gaps across
    /// segments).
    pub first_seq: u64,
    /// When the segment was begun, microseconds since the Unix epoch.
    pub created_us: i64,
    /// The hash of the item before it ([`GENESIS`] for the archive's first segment).
    pub prev: Hash,
}

impl SegmentHeader {
    /// The header's bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..8].copy_from_slice(MAGIC);
        out[8..16].copy_from_slice(&self.number.to_le_bytes());
        out[16..24].copy_from_slice(&self.first_seq.to_le_bytes());
        out[24..32].copy_from_slice(&self.created_us.to_le_bytes());
        out[32..64].copy_from_slice(&self.prev);
        let crc = crc32fast::hash(&out[..64]);
        out[64..].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// The hash the segment's first record chains to.
    pub fn hash(&self) -> Hash {
        sha256(&self.encode())
    }
}

/// What the first bytes of a segment file hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderState {
    /// A valid header.
    Valid(SegmentHeader),
    /// The file ends inside the header (`len` bytes; a process killed while it began the
    /// segment). What is there agrees with a header.
    Torn {
        /// Bytes present.
        len: usize,
    },
    /// Not a header: wrong magic or a failing checksum.
    Invalid(String),
}

/// How the scan of a segment's records ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// At the end of the file, after a whole record (or the header).
    Clean,
    /// The file ends inside the record starting at `offset`: cut short during its write.
    Torn {
        /// Where the incomplete record starts.
        offset: u64,
    },
    /// The bytes at `offset` are not a valid record (a checksum fails, a length is out of
    /// bounds, the payload does not decode): altered or damaged.
    Damaged {
        /// Where the bad record starts.
        offset: u64,
        /// What is wrong.
        why: String,
    },
}

/// The result of reading a segment's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentScan {
    /// The header.
    pub header: HeaderState,
    /// The whole, checked records, in file order, with the offset each starts at.
    pub records: Vec<(u64, ArchiveRecord)>,
    /// How the scan ended (always [`Tail::Clean`] when the header is not valid).
    pub tail: Tail,
}

/// SHA-256 of `bytes`.
pub(super) fn sha256(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

/// One entry to encode (borrowed parts of an [`ArchiveRecord`] or an [`super::Entry`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct RecordFields<'a> {
    /// Record number.
    pub seq: u64,
    /// Hash of the item before.
    pub prev: &'a Hash,
    /// Receive time, microseconds since the Unix epoch.
    pub time_us: i64,
    /// Deliveries the NOTIFY caused.
    pub deliveries: u32,
    /// The sender the NOTIFY was relayed as.
    pub sender: &'a [u8],
    /// The recipient node's URL.
    pub recipient: &'a [u8],
    /// The body, byte for byte.
    pub body: &'a [u8],
}

impl RecordFields<'_> {
    /// The payload's length.
    pub(super) fn payload_len(&self) -> usize {
        PAYLOAD_FIXED_LEN + self.sender.len() + self.recipient.len() + self.body.len()
    }
}

/// A record over [`MAX_RECORD_BYTES`] (or a field over 4 GiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an archive record of {len} bytes, more than the limit of {limit}")]
pub struct TooLarge {
    /// The payload's length.
    pub len: usize,
    /// The limit.
    pub limit: usize,
}

fn len_u32(n: usize) -> [u8; 4] {
    u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes()
}

/// Appends one whole record to `out` and returns its hash. Over `limit` (or
/// [`MAX_RECORD_BYTES`], whichever is lower) nothing is appended.
pub(super) fn encode_record(
    f: &RecordFields<'_>,
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<Hash, TooLarge> {
    let len = f.payload_len();
    let limit = limit.min(MAX_RECORD_BYTES);
    if len > limit {
        return Err(TooLarge { len, limit });
    }
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_HEAD_LEN]);
    out.extend_from_slice(&f.seq.to_le_bytes());
    out.extend_from_slice(f.prev);
    out.extend_from_slice(&f.time_us.to_le_bytes());
    out.extend_from_slice(&f.deliveries.to_le_bytes());
    for field in [f.sender, f.recipient, f.body] {
        out.extend_from_slice(&len_u32(field.len()));
        out.extend_from_slice(field);
    }
    let payload = &out[start + RECORD_HEAD_LEN..];
    let hash = sha256(payload);
    let body_crc = crc32fast::hash(payload);
    let head = &mut out[start..start + RECORD_HEAD_LEN];
    head[..4].copy_from_slice(&len_u32(len));
    head[4..8].copy_from_slice(&body_crc.to_le_bytes());
    let head_crc = crc32fast::hash(&head[..8]);
    head[8..].copy_from_slice(&head_crc.to_le_bytes());
    Ok(hash)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(s))
}

/// Decodes a header from the first bytes of a segment.
pub(super) fn decode_header(bytes: &[u8]) -> HeaderState {
    let present = &bytes[..bytes.len().min(HEADER_LEN)];
    if present.len() < HEADER_LEN {
        // Cut short: torn if what is there is the beginning of a header.
        let m = present.len().min(MAGIC.len());
        return if present[..m] == MAGIC[..m] {
            HeaderState::Torn { len: present.len() }
        } else {
            HeaderState::Invalid("not an archive segment (no magic)".into())
        };
    }
    if &present[..8] != MAGIC {
        return HeaderState::Invalid("not an archive segment (no magic)".into());
    }
    let crc = u32_at(present, 64).unwrap_or(0);
    if crc32fast::hash(&present[..64]) != crc {
        return HeaderState::Invalid("the segment header fails its checksum".into());
    }
    let mut prev = [0u8; 32];
    prev.copy_from_slice(&present[32..64]);
    HeaderState::Valid(SegmentHeader {
        number: u64_at(present, 8).unwrap_or(0),
        first_seq: u64_at(present, 16).unwrap_or(0),
        created_us: u64_at(present, 24).map_or(0, |v| i64::from_le_bytes(v.to_le_bytes())),
        prev,
    })
}

/// Decodes a payload whose checksum passed.
fn decode_payload(p: &[u8]) -> Result<ArchiveRecord, String> {
    let bad = |what: &str| format!("the record's {what} does not fit its length");
    let seq = u64_at(p, 0).ok_or_else(|| bad("number"))?;
    let mut prev = [0u8; 32];
    prev.copy_from_slice(p.get(8..40).ok_or_else(|| bad("previous hash"))?);
    let time_us = u64_at(p, 40)
        .map(|v| i64::from_le_bytes(v.to_le_bytes()))
        .ok_or_else(|| bad("time"))?;
    let deliveries = u32_at(p, 48).ok_or_else(|| bad("delivery count"))?;
    let mut at = 52;
    let mut fields: [&[u8]; 3] = [&[]; 3];
    for (i, name) in ["sender", "recipient", "body"].iter().enumerate() {
        let n = u32_at(p, at).ok_or_else(|| bad(name))? as usize;
        at += 4;
        fields[i] = p.get(at..at.saturating_add(n)).ok_or_else(|| bad(name))?;
        at += n;
    }
    if at != p.len() {
        return Err(format!(
            "{} bytes after the record's body",
            p.len().saturating_sub(at)
        ));
    }
    let text = |b: &[u8], what: &str| {
        String::from_utf8(b.to_vec()).map_err(|_| format!("the record's {what} is not UTF-8"))
    };
    Ok(ArchiveRecord {
        seq,
        prev,
        hash: sha256(p),
        time_us,
        deliveries,
        sender: text(fields[0], "sender")?,
        recipient: text(fields[1], "recipient")?,
        body: fields[2].to_vec(),
    })
}

/// Reads a segment's bytes. Total: never fails, never panics. The scan stops at the
/// first byte that does not begin a whole, valid record ([`Tail`]); the records before
/// it are returned. Numbering and hash chain are not checked here (see
/// [`super::verify()`]).
pub fn scan(bytes: &[u8]) -> SegmentScan {
    let header = decode_header(bytes);
    let mut records = Vec::new();
    if !matches!(header, HeaderState::Valid(_)) {
        return SegmentScan {
            header,
            records,
            tail: Tail::Clean,
        };
    }
    let mut at = HEADER_LEN;
    let tail = loop {
        let rest = &bytes[at..];
        let offset = at as u64;
        if rest.is_empty() {
            break Tail::Clean;
        }
        if rest.len() < RECORD_HEAD_LEN {
            break Tail::Torn { offset };
        }
        let len = u32_at(rest, 0).unwrap_or(0) as usize;
        let body_crc = u32_at(rest, 4).unwrap_or(0);
        let head_crc = u32_at(rest, 8).unwrap_or(0);
        if crc32fast::hash(&rest[..8]) != head_crc {
            break Tail::Damaged {
                offset,
                why: "the record's framing fails its checksum".into(),
            };
        }
        if !(PAYLOAD_FIXED_LEN..=MAX_RECORD_BYTES).contains(&len) {
            break Tail::Damaged {
                offset,
                why: format!("a record length of {len} bytes"),
            };
        }
        let Some(payload) = rest.get(RECORD_HEAD_LEN..RECORD_HEAD_LEN + len) else {
            break Tail::Torn { offset };
        };
        if crc32fast::hash(payload) != body_crc {
            break Tail::Damaged {
                offset,
                why: "the record fails its checksum".into(),
            };
        }
        match decode_payload(payload) {
            Ok(r) => records.push((offset, r)),
            Err(why) => break Tail::Damaged { offset, why },
        }
        at += RECORD_HEAD_LEN + len;
    };
    SegmentScan {
        header,
        records,
        tail,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    struct Fields {
        time_us: i64,
        deliveries: u32,
        sender: String,
        recipient: String,
        body: Vec<u8>,
    }

    fn fields() -> impl Strategy<Value = Fields> {
        (
            any::<i64>(),
            any::<u32>(),
            "\\PC{0,30}",
            "\\PC{0,30}",
            proptest::collection::vec(any::<u8>(), 0..200),
        )
            .prop_map(|(time_us, deliveries, sender, recipient, body)| Fields {
                time_us,
                deliveries,
                sender,
                recipient,
                body,
            })
    }

    /// A segment holding `entries`, chained from `prev`; the end offset of each record.
    fn segment(first_seq: u64, prev: Hash, entries: &[Fields]) -> (Vec<u8>, Vec<usize>) {
        let header = SegmentHeader {
            number: 7,
            first_seq,
            created_us: 1_700_000_000_000_000,
            prev,
        };
        let mut out = header.encode().to_vec();
        let mut last = header.hash();
        let mut ends = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            last = encode_record(
                &RecordFields {
                    seq: first_seq + i as u64,
                    prev: &last,
                    time_us: e.time_us,
                    deliveries: e.deliveries,
                    sender: e.sender.as_bytes(),
                    recipient: e.recipient.as_bytes(),
                    body: &e.body,
                },
                &mut out,
                MAX_RECORD_BYTES,
            )
            .unwrap();
            ends.push(out.len());
        }
        (out, ends)
    }

    proptest! {
        #[test]
        fn records_round_trip(
            first in 1u64..1_000_000,
            prev in any::<[u8; 32]>(),
            entries in proptest::collection::vec(fields(), 0..8),
        ) {
            let (bytes, ends) = segment(first, prev, &entries);
            let s = scan(&bytes);
            let HeaderState::Valid(h) = s.header else { panic!("{:?}", s.header) };
            prop_assert_eq!((h.number, h.first_seq, h.prev), (7, first, prev));
            prop_assert_eq!(&s.tail, &Tail::Clean);
            prop_assert_eq!(s.records.len(), entries.len());
            let mut chain = h.hash();
            for (i, ((offset, r), e)) in s.records.iter().zip(&entries).enumerate() {
                let start = if i == 0 { HEADER_LEN } else { ends[i - 1] };
                prop_assert_eq!(*offset, start as u64);
                prop_assert_eq!(r.seq, first + i as u64);
                prop_assert_eq!(r.prev, chain);
                prop_assert_eq!(r.time_us, e.time_us);
                prop_assert_eq!(r.deliveries, e.deliveries);
                prop_assert_eq!(&r.sender, &e.sender);
                prop_assert_eq!(&r.recipient, &e.recipient);
                prop_assert_eq!(&r.body, &e.body);
                prop_assert_eq!(r.hash, sha256(&bytes[start + RECORD_HEAD_LEN..ends[i]]));
                chain = r.hash;
            }
        }

        /// A segment cut at any byte (a process killed during a write) yields exactly the
        /// records that were whole before the cut, and a torn tail unless the cut falls
        /// between two records.
        #[test]
        fn a_cut_yields_the_whole_records_before_it_and_a_torn_tail(
            entries in proptest::collection::vec(fields(), 0..6),
            cut in any::<prop::sample::Index>(),
        ) {
            let (bytes, ends) = segment(1, GENESIS, &entries);
            let at = cut.index(bytes.len() + 1);
            let s = scan(&bytes[..at]);
            if at < HEADER_LEN {
                prop_assert_eq!(s.header, HeaderState::Torn { len: at });
                prop_assert!(s.records.is_empty());
                return Ok(());
            }
            let whole = ends.iter().filter(|&&e| e <= at).count();
            prop_assert_eq!(s.records.len(), whole);
            let boundary = at == HEADER_LEN || ends.contains(&at);
            if boundary {
                prop_assert_eq!(s.tail, Tail::Clean);
            } else {
                let start = if whole == 0 { HEADER_LEN } else { ends[whole - 1] };
                prop_assert_eq!(s.tail, Tail::Torn { offset: start as u64 });
            }
        }

        /// Any single-byte change anywhere in a segment is caught as damage (never taken
        /// for a torn tail, never a different record returned).
        #[test]
        fn any_changed_byte_is_caught(
            entries in proptest::collection::vec(fields(), 1..5),
            pos in any::<prop::sample::Index>(),
            xor in 1u8..=255,
        ) {
            let (mut bytes, _) = segment(1, GENESIS, &entries);
            let at = pos.index(bytes.len());
            bytes[at] ^= xor;
            let s = scan(&bytes);
            if at < HEADER_LEN {
                prop_assert!(matches!(s.header, HeaderState::Invalid(_)), "{:?}", s.header);
            } else {
                prop_assert!(matches!(s.tail, Tail::Damaged { .. }), "{:?}", s.tail);
                prop_assert!(s.records.len() < entries.len());
                for ((_, r), e) in s.records.iter().zip(&entries) {
                    prop_assert_eq!(&r.body, &e.body);
                }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = scan(&bytes);
            let mut with_header = SegmentHeader {
                number: 1, first_seq: 1, created_us: 0, prev: GENESIS,
            }.encode().to_vec();
            with_header.extend_from_slice(&bytes);
            let _ = scan(&with_header);
            let _ = decode_payload(&bytes);
        }
    }

    #[test]
    fn an_oversized_record_is_refused_and_nothing_is_written() {
        let prev = GENESIS;
        let f = RecordFields {
            seq: 1,
            prev: &prev,
            time_us: 0,
            deliveries: 1,
            sender: b"s",
            recipient: b"r",
            body: &[7; 100],
        };
        let mut out = b"before".to_vec();
        let e = encode_record(&f, &mut out, 150).unwrap_err();
        assert_eq!(e.len, PAYLOAD_FIXED_LEN + 102);
        assert!(e.to_string().contains("limit of 150"), "{e}");
        assert_eq!(out, b"before");
        encode_record(&f, &mut out, 1000).unwrap();
        assert_eq!(out.len(), 6 + RECORD_HEAD_LEN + PAYLOAD_FIXED_LEN + 102);
    }

    #[test]
    fn a_length_beyond_the_limit_is_damage_not_a_torn_record() {
        let header = SegmentHeader {
            number: 1,
            first_seq: 1,
            created_us: 0,
            prev: GENESIS,
        };
        let mut bytes = header.encode().to_vec();
        let len = u32::try_from(MAX_RECORD_BYTES + 1).unwrap().to_le_bytes();
        let mut head = [0u8; RECORD_HEAD_LEN];
        head[..4].copy_from_slice(&len);
        let crc = crc32fast::hash(&head[..8]);
        head[8..].copy_from_slice(&crc.to_le_bytes());
        bytes.extend_from_slice(&head);
        let s = scan(&bytes);
        assert!(
            matches!(&s.tail, Tail::Damaged { why, .. } if why.contains("length")),
            "{:?}",
            s.tail
        );
    }

    #[test]
    fn a_file_that_is_not_a_segment_has_an_invalid_header() {
        assert!(matches!(
            decode_header(b"RVPWAL01 and more bytes than a header holds, certainly more"),
            HeaderState::Invalid(_)
        ));
        assert!(matches!(decode_header(b"xy"), HeaderState::Invalid(_)));
        assert_eq!(decode_header(b"RVPA"), HeaderState::Torn { len: 4 });
        assert_eq!(decode_header(b""), HeaderState::Torn { len: 0 });
    }
}
