//! `rvp-admin archive ...`: verify, export and prune the compliance archive. The reading,
//! checking and deleting is `rvp_server::archive`'s (shared with the server); this module
//! words the results.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use rvp_server::archive::{self, ArchiveRecord, Hash, VerifyReport, hex};

use crate::{AdminError, Outcome, json, time};

/// A record the operator noted earlier (`verify` prints the head): record `seq` must still
/// be in the archive with this hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Anchor {
    pub(crate) seq: u64,
    pub(crate) hash: Hash,
}

/// Parses `SEQ:HASH` (a record number and 64 hexadecimal digits).
pub(crate) fn parse_anchor(text: &str) -> Result<Anchor, String> {
    let (seq, hash) = text.split_once(':').ok_or_else(|| {
        format!("{text:?}: expected SEQ:HASH (a record number, a colon, 64 hex digits)")
    })?;
    let seq = seq
        .trim()
        .parse()
        .map_err(|_| format!("{seq:?} is not a record number"))?;
    let hash =
        archive::parse_hex(hash).ok_or_else(|| format!("{hash:?} is not 64 hexadecimal digits"))?;
    Ok(Anchor { seq, hash })
}

fn out_err(e: std::io::Error) -> AdminError {
    AdminError::Output(e)
}

/// Writes what a report says about the part of the archive that verified.
fn describe(out: &mut impl Write, dir: &Path, r: &VerifyReport) -> std::io::Result<()> {
    match (r.first, r.last) {
        (Some(first), Some((last, hash))) => {
            writeln!(
                out,
                "  {} segment(s), {} record(s): {first} to {last}",
                r.segments, r.records
            )?;
            writeln!(
                out,
                "  head: record {last}, hash {} (note it to check later with --anchor {last}:{})",
                hex(&hash),
                hex(&hash)
            )?;
        }
        _ => writeln!(out, "  {} segment(s), no records", r.segments)?,
    }
    if let Some((seq, hash)) = r.continues_from {
        writeln!(
            out,
            "  begins after record {seq} (hash {}): older segments were deleted (retention or \
             `rvp-admin archive prune`) — or removed by someone",
            hex(&hash)
        )?;
    }
    for t in &r.torn {
        let seg = t.segment.strip_prefix(dir).unwrap_or(&t.segment);
        writeln!(
            out,
            "  torn: record {} in {} at byte {}: cut short when the server stopped during its \
             write (never acknowledged); not tampering",
            t.record,
            seg.display(),
            t.offset
        )?;
    }
    Ok(())
}

/// `archive verify DIR [--anchor SEQ:HASH]`.
pub(crate) fn verify(
    dir: &Path,
    anchor: Option<Anchor>,
    out: &mut impl Write,
) -> Result<Outcome, AdminError> {
    let mut anchored: Option<Hash> = None;
    let report = archive::verify(dir, |r: &ArchiveRecord| {
        if anchor.is_some_and(|a| a.seq == r.seq) {
            anchored = Some(r.hash);
        }
    })?;
    let w = &mut *out;
    if let Some(p) = &report.problem {
        writeln!(w, "archive {}: NOT INTACT", dir.display()).map_err(out_err)?;
        writeln!(w, "  first bad place: {p}").map_err(out_err)?;
        writeln!(w, "  verified before it:").map_err(out_err)?;
        describe(w, dir, &report).map_err(out_err)?;
        return Ok(Outcome::Problem);
    }
    let anchor_problem = anchor.and_then(|a| match anchored {
        Some(h) if h == a.hash => None,
        Some(h) => Some(format!(
            "record {} has hash {}, the anchor says {}: the chain was rewritten from there on",
            a.seq,
            hex(&h),
            hex(&a.hash)
        )),
        None if report.last.is_none_or(|(last, _)| a.seq > last) => Some(format!(
            "record {} is not in the archive, which ends at record {}: records were cut off its end",
            a.seq,
            report.last.map_or(0, |l| l.0)
        )),
        None => Some(format!(
            "record {} is no longer in the archive (older segments were deleted): the anchor \
             cannot be checked; choose a newer one",
            a.seq
        )),
    });
    if let Some(why) = anchor_problem {
        writeln!(w, "archive {}: NOT INTACT", dir.display()).map_err(out_err)?;
        writeln!(w, "  anchor: {why}").map_err(out_err)?;
        describe(w, dir, &report).map_err(out_err)?;
        return Ok(Outcome::Problem);
    }
    writeln!(w, "archive {}: intact", dir.display()).map_err(out_err)?;
    if let Some(a) = anchor {
        writeln!(w, "  anchor: record {} has the noted hash", a.seq).map_err(out_err)?;
    }
    describe(w, dir, &report).map_err(out_err)?;
    Ok(Outcome::Ok)
}

/// One record as a JSON line: `seq`, `time` (RFC 3339 UTC), `sender`, `recipient`,
/// `deliveries`, the body as `body` (UTF-8 text, when `text` and it is valid UTF-8) or
/// `body_base64`, and `hash` (hex SHA-256, what the next record chains from).
pub(crate) fn json_line(r: &ArchiveRecord, text: bool) -> String {
    let mut s = String::with_capacity(256 + r.body.len() * 4 / 3);
    s.push_str("{\"seq\":");
    s.push_str(&r.seq.to_string());
    s.push_str(",\"time\":");
    json::push_str(&mut s, &time::format_micros(r.time_us));
    s.push_str(",\"sender\":");
    json::push_str(&mut s, &r.sender);
    s.push_str(",\"recipient\":");
    json::push_str(&mut s, &r.recipient);
    s.push_str(",\"deliveries\":");
    s.push_str(&r.deliveries.to_string());
    match std::str::from_utf8(&r.body) {
        Ok(body) if text => {
            s.push_str(",\"body\":");
            json::push_str(&mut s, body);
        }
        _ => {
            s.push_str(",\"body_base64\":\"");
            json::push_base64(&mut s, &r.body);
            s.push('"');
        }
    }
    s.push_str(",\"hash\":\"");
    s.push_str(&hex(&r.hash));
    s.push_str("\"}");
    s
}

/// `archive export DIR [--since TIME] [--text]`: the records received at or after `since`,
/// one JSON object per line, as they verify. A problem ends the export (the lines before
/// it verified) and is reported on `err`.
pub(crate) fn export(
    dir: &Path,
    since: Option<SystemTime>,
    text: bool,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, AdminError> {
    let since_us = since.map(archive::to_micros);
    let mut failed: Option<std::io::Error> = None;
    let report = archive::verify(dir, |r| {
        if failed.is_some() || since_us.is_some_and(|s| r.time_us < s) {
            return;
        }
        if let Err(e) = writeln!(out, "{}", json_line(r, text)) {
            failed = Some(e);
        }
    })?;
    if let Some(e) = failed {
        return Err(AdminError::Output(e));
    }
    out.flush().map_err(out_err)?;
    match &report.problem {
        Some(p) => {
            writeln!(
                err,
                "rvp-admin: archive {} does not verify; exported up to the first bad place: {p}",
                dir.display()
            )
            .map_err(out_err)?;
            Ok(Outcome::Problem)
        }
        None => Ok(Outcome::Ok),
    }
}

/// `archive prune DIR --older-than AGE`: [`archive::prune`] at now − `age`.
pub(crate) fn prune(
    dir: &Path,
    age: Duration,
    out: &mut impl Write,
) -> Result<Outcome, AdminError> {
    let cutoff = SystemTime::now()
        .checked_sub(age)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let r = archive::prune(dir, cutoff)?;
    for p in &r.deleted {
        writeln!(out, "deleted {}", p.display()).map_err(out_err)?;
    }
    writeln!(
        out,
        "archive {}: {} segment(s) deleted, {} kept (the newest is never deleted)",
        dir.display(),
        r.deleted.len(),
        r.kept
    )
    .map_err(out_err)?;
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::json::tests::{read_base64, read_str};

    fn record(body: &[u8]) -> ArchiveRecord {
        // Records are only built by the library's reader; go through a real archive.
        let dir = std::env::temp_dir().join(format!(
            "rvp-admin-json-{}-{}",
            std::process::id(),
            body.len()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let mut w = archive::ArchiveWriter::open(&dir, archive::ArchiveOptions::default()).unwrap();
        w.push(archive::Entry::new(
            SystemTime::UNIX_EPOCH + Duration::from_micros(1_796_632_429_123_456),
            "http://im.example.com/instmsg/aliases/al\"ice",
            "http://im.example.com/instmsg/aliases/bob",
            2,
            bytes::Bytes::copy_from_slice(body),
        ));
        w.commit().unwrap();
        w.close().unwrap();
        let mut got = None;
        archive::verify(&dir, |r| got = Some(r.clone())).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        got.unwrap()
    }

    /// The value of `"key":` in a line `json_line` wrote (test side).
    fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
        let start = line.find(&format!("\"{key}\":"))? + key.len() + 3;
        let rest = &line[start..];
        if rest.starts_with('"') {
            let mut escaped = false;
            for (i, c) in rest.char_indices().skip(1) {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => return Some(&rest[..=i]),
                    _ => escaped = false,
                }
            }
            None
        } else {
            rest.split([',', '}']).next()
        }
    }

    #[test]
    fn a_record_as_a_json_line() {
        let r = record("<r:notification>h\u{e9}llo \"you\"\n</r:notification>".as_bytes());
        let line = json_line(&r, true);
        assert!(!line.contains('\n'));
        assert_eq!(field(&line, "seq"), Some("1"));
        assert_eq!(field(&line, "deliveries"), Some("2"));
        assert_eq!(
            read_str(field(&line, "time").unwrap()).unwrap(),
            "2026-12-07T08:33:49.123456Z"
        );
        assert_eq!(
            read_str(field(&line, "sender").unwrap()).unwrap(),
            "http://im.example.com/instmsg/aliases/al\"ice"
        );
        assert_eq!(
            read_str(field(&line, "body").unwrap()).unwrap().as_bytes(),
            &r.body[..]
        );
        assert_eq!(
            field(&line, "hash").unwrap().trim_matches('"'),
            hex(&r.hash)
        );
        let line = json_line(&r, false);
        assert_eq!(field(&line, "body"), None);
        let b64 = read_str(field(&line, "body_base64").unwrap()).unwrap();
        assert_eq!(read_base64(&b64).unwrap(), r.body);
    }

    #[test]
    fn a_body_that_is_not_utf8_stays_base64_even_as_text() {
        let r = record(&[0xff, 0xfe, b'<', 0]);
        let line = json_line(&r, true);
        assert_eq!(field(&line, "body"), None);
        let b64 = read_str(field(&line, "body_base64").unwrap()).unwrap();
        assert_eq!(read_base64(&b64).unwrap(), vec![0xff, 0xfe, b'<', 0]);
    }

    #[test]
    fn anchors_parse() {
        let h = "ab".repeat(32);
        assert_eq!(
            parse_anchor(&format!("12:{h}")),
            Ok(Anchor {
                seq: 12,
                hash: [0xab; 32]
            })
        );
        for bad in ["12", "x:00", &format!("12:{}", "ab".repeat(31))] {
            assert!(parse_anchor(bad).is_err(), "{bad}");
        }
    }
}
