//! Reading an archive back: [`verify()`] (the whole chain, one segment in memory at a
//! time) and [`prune()`] (retention by whole segments).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::format::{self, GENESIS, HEADER_LEN, HeaderState, SegmentHeader, Tail};
use super::{ArchiveError, ArchiveRecord, Hash, hex, io_error, list_segments, to_micros};

/// What is wrong at the first bad place of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// A segment's header fails its checksum or is not a header.
    BadHeader(String),
    /// A segment's header does not belong where it is: its number is not its file's, or
    /// it does not continue from the segment before it (records or a whole segment
    /// missing, or a segment replaced).
    HeaderMismatch(String),
    /// Segment numbers jump: the segments in between are missing.
    MissingSegments {
        /// The first missing number.
        from: u64,
        /// The last missing number.
        to: u64,
    },
    /// The bytes of a record fail a checksum or do not decode: altered or damaged.
    BadRecord(String),
    /// A record has another number than the one expected: records missing before it, or
    /// records reordered.
    Sequence {
        /// The number found.
        found: u64,
    },
    /// The next record holds another hash of this record than this record has: this
    /// record (or that link) was altered or replaced.
    ChainBroken,
}

/// The first place where an archive does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// The segment file.
    pub segment: PathBuf,
    /// Byte offset in it.
    pub offset: u64,
    /// The record at fault: the one expected at this place.
    pub record: u64,
    /// What is wrong.
    pub kind: ProblemKind,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = format!("{} at byte {}", self.segment.display(), self.offset);
        let n = self.record;
        match &self.kind {
            ProblemKind::BadHeader(why) => write!(f, "{at}: segment header: {why}"),
            ProblemKind::HeaderMismatch(why) => write!(f, "{at}: segment header: {why}"),
            ProblemKind::MissingSegments { from, to } if from == to => write!(
                f,
                "{at}: segment {from} is missing (the records from record {n} on are not all there)"
            ),
            ProblemKind::MissingSegments { from, to } => write!(
                f,
                "{at}: segments {from} to {to} are missing (the records from record {n} on \
                 are not all there)"
            ),
            ProblemKind::BadRecord(why) => {
                write!(f, "{at}: record {n}: {why} (altered or damaged)")
            }
            ProblemKind::Sequence { found } if *found > n => write!(
                f,
                "{at}: record {n} expected, record {found} found: record{} {n}{} missing",
                if found - n > 1 { "s" } else { "" },
                if found - n > 1 {
                    format!(" to {} are", found - 1)
                } else {
                    " is".into()
                }
            ),
            ProblemKind::Sequence { found } => write!(
                f,
                "{at}: record {n} expected, record {found} found: records reordered or repeated"
            ),
            ProblemKind::ChainBroken => write!(
                f,
                "{at}: record {n} is not the record the next one chains from: record {n} (or \
                 the next record's link to it) was altered or replaced"
            ),
        }
    }
}

/// A record cut short at the end of a segment: being written when the process stopped
/// (never acknowledged), or the archive's end cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TornRecord {
    /// The segment.
    pub segment: PathBuf,
    /// Where the incomplete bytes start.
    pub offset: u64,
    /// The number the record would have had.
    pub record: u64,
}

/// The result of [`verify()`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Segment files found.
    pub segments: usize,
    /// Records verified (before the problem, if any).
    pub records: u64,
    /// The first record present.
    pub first: Option<u64>,
    /// The last record verified and its hash.
    pub last: Option<(u64, Hash)>,
    /// The hash at the end of the verified chain (the last record's, or the last
    /// header's when no record follows it): what the next record will chain from.
    pub head: Option<Hash>,
    /// When the archive does not begin with the first record ever written (older
    /// segments were deleted by retention, or removed): the record number and hash
    /// the oldest segment continues from.
    pub continues_from: Option<(u64, Hash)>,
    /// Records cut short at a segment's end (a process killed during the write).
    pub torn: Vec<TornRecord>,
    /// The first place that does not verify; `None`: intact.
    pub problem: Option<Problem>,
}

impl VerifyReport {
    /// Whether nothing was found altered, missing or out of place.
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

/// Where the chain stands: the last item's record number and hash.
#[derive(Debug, Clone, Copy)]
struct Tip {
    seq: u64,
    hash: Hash,
    segment: u64,
}

/// Verifies the archive in `dir`, calling `visit` with each record in order as it is
/// proven (chained to everything before it). Stops at the first problem, which the
/// report names; an error only when a file cannot be read.
///
/// Checks: every segment header and record checksum; segment numbers without gaps, each
/// header's number its file name's; each header continuing from the last whole item of
/// the segment before; records numbered one after the other and each holding the hash of
/// the item before it. A record cut short at a segment's end is reported in
/// [`VerifyReport::torn`], not as a problem, provided the next segment (begun at the next
/// start) continues from the last whole record before it; otherwise the problem says what
/// is missing.
pub fn verify(
    dir: &Path,
    mut visit: impl FnMut(&ArchiveRecord),
) -> Result<VerifyReport, ArchiveError> {
    let segments = list_segments(dir)?;
    let mut report = VerifyReport {
        segments: segments.len(),
        ..VerifyReport::default()
    };
    let mut tip: Option<Tip> = None;
    for (number, path) in &segments {
        let bytes = std::fs::read(path).map_err(io_error(path, "read a segment"))?;
        let scan = format::scan(&bytes);
        let problem = |offset: u64, record: u64, kind: ProblemKind| Problem {
            segment: path.clone(),
            offset,
            record,
            kind,
        };
        let expected = tip.map_or(1, |t| t.seq + 1);
        if let Some(t) = tip
            && *number != t.segment + 1
        {
            report.problem = Some(problem(
                0,
                expected,
                ProblemKind::MissingSegments {
                    from: t.segment + 1,
                    to: number.saturating_sub(1),
                },
            ));
            return Ok(report);
        }
        let header = match scan.header {
            HeaderState::Valid(h) => h,
            HeaderState::Torn { .. } => {
                // Begun but never written to (killed at once): the next segment must
                // continue from what came before it.
                report.torn.push(TornRecord {
                    segment: path.clone(),
                    offset: 0,
                    record: expected,
                });
                tip = Some(Tip {
                    segment: *number,
                    ..tip.unwrap_or(Tip {
                        seq: 0,
                        hash: GENESIS,
                        segment: 0,
                    })
                });
                continue;
            }
            HeaderState::Invalid(why) => {
                report.problem = Some(problem(0, expected, ProblemKind::BadHeader(why)));
                return Ok(report);
            }
        };
        if let Some(why) = header_mismatch(&header, *number, tip) {
            report.problem = Some(problem(0, expected, ProblemKind::HeaderMismatch(why)));
            return Ok(report);
        }
        if tip.is_none() && (header.first_seq != 1 || header.prev != GENESIS) {
            report.continues_from = Some((header.first_seq.saturating_sub(1), header.prev));
        }
        let mut t = Tip {
            seq: header.first_seq.saturating_sub(1),
            hash: header.hash(),
            segment: *number,
        };
        for (offset, r) in &scan.records {
            if r.seq != t.seq + 1 {
                report.problem = Some(problem(
                    *offset,
                    t.seq + 1,
                    ProblemKind::Sequence { found: r.seq },
                ));
                return Ok(report);
            }
            if r.prev != t.hash && t.hash == header.hash() {
                report.problem = Some(problem(
                    0,
                    r.seq,
                    ProblemKind::HeaderMismatch(format!(
                        "record {} does not continue from this header: the header or the \
                         record's link to it was altered",
                        r.seq
                    )),
                ));
                return Ok(report);
            }
            if r.prev != t.hash {
                // The record before (or this record's link) is not what was chained.
                let at = scan
                    .records
                    .iter()
                    .rev()
                    .find(|(_, p)| p.seq == t.seq)
                    .map_or(0, |(o, _)| *o);
                report.problem = Some(problem(at, t.seq, ProblemKind::ChainBroken));
                return Ok(report);
            }
            visit(r);
            report.records += 1;
            report.first.get_or_insert(r.seq);
            report.last = Some((r.seq, r.hash));
            t.seq = r.seq;
            t.hash = r.hash;
        }
        report.head = Some(t.hash);
        tip = Some(t);
        match scan.tail {
            Tail::Clean => {}
            Tail::Torn { offset } => report.torn.push(TornRecord {
                segment: path.clone(),
                offset,
                record: t.seq + 1,
            }),
            Tail::Damaged { offset, why } => {
                report.problem = Some(problem(offset, t.seq + 1, ProblemKind::BadRecord(why)));
                return Ok(report);
            }
        }
    }
    Ok(report)
}

/// Why `header` does not belong as segment `number` after `tip`, if it does not.
fn header_mismatch(header: &SegmentHeader, number: u64, tip: Option<Tip>) -> Option<String> {
    if header.number != number {
        return Some(format!(
            "it says segment {}, its file name says {number}",
            header.number
        ));
    }
    let t = tip?;
    if header.first_seq != t.seq + 1 {
        return Some(format!(
            "it begins with record {}, but the segment before ends with record {}",
            header.first_seq, t.seq
        ));
    }
    if header.prev != t.hash {
        return Some(format!(
            "it does not continue from the last whole item before it (record {}, hash {}): \
             records after it are missing or a segment was replaced",
            t.seq,
            hex(&t.hash)
        ));
    }
    None
}

/// What [`prune()`] deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PruneReport {
    /// The segment files deleted, oldest first.
    pub deleted: Vec<PathBuf>,
    /// Segments left.
    pub kept: usize,
}

/// Retention: deletes the oldest segments all of whose records were received before
/// `cutoff`, oldest first, never the newest segment (it may be being written). A segment
/// qualifies when the segment after it was begun before `cutoff` (every record of a
/// segment is received before the next segment is begun), so only the headers are read.
/// Stops at the first segment that does not qualify, so what is left is a whole chain
/// that continues from the last deleted record (its first header names it).
pub fn prune(dir: &Path, cutoff: SystemTime) -> Result<PruneReport, ArchiveError> {
    let segments = list_segments(dir)?;
    let cutoff_us = to_micros(cutoff);
    let mut report = PruneReport::default();
    for pair in segments.windows(2) {
        let next = &pair[1].1;
        let mut head = [0u8; HEADER_LEN];
        let read = std::fs::File::open(next).and_then(|mut f| {
            use std::io::Read as _;
            f.read_exact(&mut head)
        });
        let created = match read {
            Ok(()) => match format::decode_header(&head) {
                HeaderState::Valid(h) => h.created_us,
                _ => break,
            },
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(io_error(next, "read a segment header")(e)),
        };
        if created >= cutoff_us {
            break;
        }
        let old = &pair[0].1;
        std::fs::remove_file(old).map_err(io_error(old, "delete an expired segment"))?;
        report.deleted.push(old.clone());
    }
    if !report.deleted.is_empty() {
        super::sync_dir(dir).map_err(io_error(dir, "sync the directory"))?;
    }
    report.kept = segments.len() - report.deleted.len();
    Ok(report)
}
