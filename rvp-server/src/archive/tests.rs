#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::format::{self, RecordFields, SegmentHeader};
use super::*;
use crate::store::SyncMode;
use crate::test_support::TempDir;

fn entry(i: u32) -> Entry {
    Entry::new(
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + u64::from(i)),
        "http://im.example.com/instmsg/aliases/alice",
        "http://im.example.com/instmsg/aliases/bob",
        1 + i % 3,
        Bytes::from(format!("<r:notification>message {i}</r:notification>")),
    )
}

/// Small segments, so that a few records span several.
fn small(sync: SyncMode) -> ArchiveOptions {
    ArchiveOptions {
        segment_bytes: 400,
        ..ArchiveOptions::with_sync(sync, Duration::from_millis(20))
    }
}

/// Writes entries `range` in batches of `batch` and closes the writer.
fn write(dir: &Path, options: &ArchiveOptions, range: std::ops::Range<u32>, batch: usize) {
    let mut w = ArchiveWriter::open(dir, options.clone()).unwrap();
    let all: Vec<u32> = range.collect();
    for chunk in all.chunks(batch.max(1)) {
        for i in chunk {
            w.push(entry(*i));
        }
        w.commit().unwrap();
    }
    w.close().unwrap();
}

fn bodies(dir: &Path) -> (VerifyReport, Vec<String>) {
    let mut seen = Vec::new();
    let report = verify(dir, |r| {
        seen.push(String::from_utf8(r.body.clone()).unwrap())
    })
    .unwrap();
    (report, seen)
}

fn expected(range: std::ops::Range<u32>) -> Vec<String> {
    range
        .map(|i| String::from_utf8(entry(i).body.to_vec()).unwrap())
        .collect()
}

#[test]
fn records_written_over_several_segments_and_restarts_verify() {
    for sync in [SyncMode::Interval, SyncMode::Always] {
        let dir = TempDir::new("write");
        write(&dir.0, &small(sync), 0..10, 3);
        write(&dir.0, &small(sync), 10..12, 1);
        // A start without records leaves a segment with only its header.
        write(&dir.0, &small(sync), 12..12, 1);
        write(&dir.0, &small(sync), 12..20, 4);
        let (report, seen) = bodies(&dir.0);
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(seen, expected(0..20));
        assert_eq!(report.records, 20);
        assert_eq!(report.first, Some(1));
        assert_eq!(report.last.map(|l| l.0), Some(20));
        assert!(report.segments > 5, "{report:?}");
        assert_eq!(report.continues_from, None);
        assert!(report.torn.is_empty());
        // Every field comes back.
        let mut first = None;
        verify(&dir.0, |r| {
            first.get_or_insert_with(|| r.clone());
        })
        .unwrap();
        let r = first.unwrap();
        let e = entry(0);
        assert_eq!((r.seq, r.deliveries), (1, e.deliveries));
        assert_eq!(
            (r.sender.as_str(), r.recipient.as_str()),
            (&*e.sender, &*e.recipient)
        );
        assert_eq!(r.time(), e.time);
    }
}

#[cfg(unix)]
#[test]
fn the_archive_is_private_to_the_servers_user() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = TempDir::new("mode");
    let archive = dir.0.join("new").join("archive");
    write(&archive, &small(SyncMode::Interval), 0..1, 1);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&archive), 0o700);
    for (_, seg) in list_segments(&archive).unwrap() {
        assert_eq!(mode(&seg), 0o600, "{}", seg.display());
    }
}

#[test]
fn a_segment_closes_when_it_is_old() {
    let dir = TempDir::new("age");
    let o = ArchiveOptions {
        segment_max_age: Duration::ZERO,
        ..small(SyncMode::Interval)
    };
    write(&dir.0, &o, 0..3, 1);
    // One segment at open, then a new one before each of the 3 commits.
    assert_eq!(list_segments(&dir.0).unwrap().len(), 4);
    assert!(bodies(&dir.0).0.is_intact());
}

#[test]
fn the_maintenance_thread_syncs_in_interval_mode() {
    let dir = TempDir::new("sync");
    let mut w = ArchiveWriter::open(&dir.0, small(SyncMode::Interval)).unwrap();
    w.push(entry(1));
    w.commit().unwrap();
    // Nothing observable but the absence of failures: let a few ticks pass.
    std::thread::sleep(Duration::from_millis(80));
    w.push(entry(2));
    w.commit().unwrap();
    assert_eq!(w.next_seq(), 3);
    assert!(!w.commit_syncs());
    w.close().unwrap();
}

/// A process killed during a write leaves the last record cut short: the next start
/// begins a new segment continuing from the last whole record; verify reports the torn
/// record, not tampering.
#[test]
fn a_record_cut_short_by_a_crash_is_torn_not_tampering() {
    let dir = TempDir::new("torn");
    let o = ArchiveOptions {
        segment_bytes: SEGMENT_BYTES,
        ..small(SyncMode::Interval)
    };
    write(&dir.0, &o, 0..5, 1);
    let (_, last) = list_segments(&dir.0).unwrap().pop().unwrap();
    let len = std::fs::metadata(&last).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&last).unwrap();
    f.set_len(len - 9).unwrap();
    drop(f);
    let (report, seen) = bodies(&dir.0);
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(seen, expected(0..4));
    assert_eq!(report.torn.len(), 1);
    assert_eq!(report.torn[0].record, 5);
    // The next start continues from record 4: the new record 5 is message 5.
    write(&dir.0, &o, 5..7, 1);
    let (report, seen) = bodies(&dir.0);
    assert!(report.is_intact(), "{report:?}");
    let mut want = expected(0..4);
    want.extend(expected(5..7));
    assert_eq!(seen, want);
    assert_eq!(report.last.unwrap().0, 6);
    assert_eq!(report.torn.len(), 1);
    // A segment begun but never written (killed at once) is torn as well.
    let next = dir.0.join(segment_name(
        list_segments(&dir.0).unwrap().last().unwrap().0 + 1,
    ));
    std::fs::write(&next, &MAGIC[..3]).unwrap();
    write(&dir.0, &o, 7..8, 1);
    let (report, seen) = bodies(&dir.0);
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(seen.len(), 7);
    assert_eq!(report.torn.len(), 2);
}

/// Rewrites the records of segment `path` with `edit` applied to their fields,
/// recomputing every checksum (a deliberate forger, not a stray byte).
fn forge(path: &Path, mut edit: impl FnMut(&mut ArchiveRecord)) {
    let bytes = std::fs::read(path).unwrap();
    let s = scan(&bytes);
    let HeaderState::Valid(h) = s.header else {
        panic!()
    };
    let mut out = h.encode().to_vec();
    for (_, mut r) in s.records {
        edit(&mut r);
        format::encode_record(
            &RecordFields {
                seq: r.seq,
                prev: &r.prev,
                time_us: r.time_us,
                deliveries: r.deliveries,
                sender: r.sender.as_bytes(),
                recipient: r.recipient.as_bytes(),
                body: &r.body,
            },
            &mut out,
            MAX_RECORD_BYTES,
        )
        .unwrap();
    }
    std::fs::write(path, out).unwrap();
}

/// The record offsets of a segment file.
fn offsets(path: &Path) -> Vec<(u64, u64)> {
    let s = scan(&std::fs::read(path).unwrap());
    s.records.iter().map(|(o, r)| (*o, r.seq)).collect()
}

fn problem(dir: &Path) -> Problem {
    let (report, _) = bodies(dir);
    report.problem.expect("a problem")
}

#[test]
fn tampering_is_named_at_the_first_bad_record() {
    let fresh = || {
        let dir = TempDir::new("tamper");
        write(&dir.0, &small(SyncMode::Interval), 0..20, 2);
        let segs = list_segments(&dir.0).unwrap();
        assert!(segs.len() >= 4);
        (dir, segs)
    };

    // One byte of a record's body.
    let (dir, segs) = fresh();
    let victim = &segs[1].1;
    let recs = offsets(victim);
    let (off, seq) = recs[0];
    let mut bytes = std::fs::read(victim).unwrap();
    let at = usize::try_from(off).unwrap() + RECORD_HEAD_LEN + PAYLOAD_FIXED_LEN + 5;
    bytes[at] ^= 0x20;
    std::fs::write(victim, &bytes).unwrap();
    let p = problem(&dir.0);
    assert_eq!((p.record, p.offset, &p.segment), (seq, off, victim));
    assert!(matches!(p.kind, ProblemKind::BadRecord(_)), "{p}");
    assert!(p.to_string().contains(&format!("record {seq}")), "{p}");

    // A record's body rewritten with valid checksums: the next record's link breaks.
    let (dir, segs) = fresh();
    let victim = &segs[1].1;
    let recs = offsets(victim);
    assert!(recs.len() >= 2);
    let target = recs[0].1;
    forge(victim, |r| {
        if r.seq == target {
            r.body = b"<r:notification>something else</r:notification>".to_vec();
        }
    });
    let p = problem(&dir.0);
    assert_eq!(p.record, target, "{p}");
    assert_eq!(p.kind, ProblemKind::ChainBroken, "{p}");

    // A record deleted from the middle of a segment.
    let (dir, segs) = fresh();
    let victim = &segs[1].1;
    let recs = offsets(victim);
    let bytes = std::fs::read(victim).unwrap();
    let (a, seq) = recs[0];
    let b = recs[1].0;
    let mut cut = bytes[..usize::try_from(a).unwrap()].to_vec();
    cut.extend_from_slice(&bytes[usize::try_from(b).unwrap()..]);
    std::fs::write(victim, cut).unwrap();
    let p = problem(&dir.0);
    assert_eq!(p.record, seq, "{p}");
    assert_eq!(p.kind, ProblemKind::Sequence { found: seq + 1 }, "{p}");
    assert!(
        p.to_string().contains(&format!("record {seq} is missing")),
        "{p}"
    );

    // The last record of a segment deleted (the cut looks like a crash there): the next
    // segment does not continue from what is left.
    let (dir, segs) = fresh();
    let victim = &segs[1].1;
    let recs = offsets(victim);
    let (last_off, last_seq) = *recs.last().unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(victim)
        .unwrap();
    f.set_len(last_off).unwrap();
    drop(f);
    let p = problem(&dir.0);
    assert_eq!(p.segment, segs[2].1, "{p}");
    assert_eq!(p.record, last_seq, "{p}");
    assert!(matches!(p.kind, ProblemKind::HeaderMismatch(_)), "{p}");

    // Two records swapped.
    let (dir, segs) = fresh();
    let victim = &segs[1].1;
    let recs = offsets(victim);
    let bytes = std::fs::read(victim).unwrap();
    let [a, b] = [recs[0].0, recs[1].0].map(|o| usize::try_from(o).unwrap());
    let end = recs
        .get(2)
        .map_or(bytes.len(), |r| usize::try_from(r.0).unwrap());
    let mut swapped = bytes[..a].to_vec();
    swapped.extend_from_slice(&bytes[b..end]);
    swapped.extend_from_slice(&bytes[a..b]);
    swapped.extend_from_slice(&bytes[end..]);
    std::fs::write(victim, swapped).unwrap();
    let p = problem(&dir.0);
    assert_eq!(p.record, recs[0].1, "{p}");
    assert!(matches!(p.kind, ProblemKind::Sequence { .. }), "{p}");

    // A whole segment deleted.
    let (dir, segs) = fresh();
    std::fs::remove_file(&segs[2].1).unwrap();
    let p = problem(&dir.0);
    assert_eq!(
        p.kind,
        ProblemKind::MissingSegments {
            from: segs[2].0,
            to: segs[2].0
        },
        "{p}"
    );

    // A segment's header altered (its checksum recomputed): the first record does not
    // continue from it.
    let (dir, segs) = fresh();
    let victim = &segs[1].1;
    let mut bytes = std::fs::read(victim).unwrap();
    let HeaderState::Valid(mut h) = format::decode_header(&bytes) else {
        panic!()
    };
    h.created_us += 1;
    bytes[..HEADER_LEN].copy_from_slice(&h.encode());
    std::fs::write(victim, bytes).unwrap();
    let p = problem(&dir.0);
    assert_eq!(p.segment, *victim, "{p}");
    assert!(matches!(p.kind, ProblemKind::HeaderMismatch(_)), "{p}");
}

#[test]
fn retention_deletes_whole_old_segments_and_the_rest_still_verifies() {
    let dir = TempDir::new("prune");
    write(&dir.0, &small(SyncMode::Interval), 0..20, 2);
    let before = list_segments(&dir.0).unwrap();
    // Nothing is older than the epoch.
    let r = prune(&dir.0, UNIX_EPOCH).unwrap();
    assert!(r.deleted.is_empty());
    assert_eq!(r.kept, before.len());
    // Everything is older than an hour from now: all but the newest segment go.
    let r = prune(&dir.0, SystemTime::now() + Duration::from_secs(3600)).unwrap();
    assert_eq!(r.deleted.len(), before.len() - 1);
    assert_eq!(r.kept, 1);
    let (report, _) = bodies(&dir.0);
    assert!(report.is_intact(), "{report:?}");
    assert!(report.continues_from.is_some());
    // The chain goes on across the deleted prefix.
    write(&dir.0, &small(SyncMode::Interval), 20..23, 1);
    let (report, seen) = bodies(&dir.0);
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.last.unwrap().0, 23);
    assert_eq!(seen[seen.len() - 3..], expected(20..23)[..]);
}

#[test]
fn retention_runs_on_its_own_at_start_up() {
    let dir = TempDir::new("retention");
    write(&dir.0, &small(SyncMode::Always), 0..10, 1);
    let n = list_segments(&dir.0).unwrap().len();
    assert!(n > 2);
    // Segments begun a day ago: rewrite their headers' creation time.
    for (_, p) in list_segments(&dir.0).unwrap() {
        let mut bytes = std::fs::read(&p).unwrap();
        let HeaderState::Valid(mut h) = format::decode_header(&bytes) else {
            panic!()
        };
        h.created_us -= 3 * 24 * 3600 * 1_000_000;
        bytes[..HEADER_LEN].copy_from_slice(&h.encode());
        std::fs::write(&p, bytes).unwrap();
    }
    let o = ArchiveOptions {
        retention: Some(Duration::from_secs(2 * 24 * 3600)),
        ..small(SyncMode::Always)
    };
    let w = ArchiveWriter::open(&dir.0, o).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while list_segments(&dir.0).unwrap().len() > 2 {
        assert!(Instant::now() < deadline, "no retention within 10 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The newest old segment (its successor is the fresh one) and the fresh one remain.
    assert_eq!(list_segments(&dir.0).unwrap().len(), 2);
    w.close().unwrap();
}

#[test]
fn a_newest_segment_that_is_not_a_segment_stops_the_writer() {
    let dir = TempDir::new("unusable");
    write(&dir.0, &small(SyncMode::Interval), 0..2, 1);
    let (_, last) = list_segments(&dir.0).unwrap().pop().unwrap();
    let mut bytes = std::fs::read(&last).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&last, bytes).unwrap();
    let e = ArchiveWriter::open(&dir.0, small(SyncMode::Interval)).unwrap_err();
    assert!(matches!(e, ArchiveError::Unusable { .. }), "{e}");
    assert!(e.to_string().contains("rvp-admin archive verify"), "{e}");
}

#[test]
fn an_oversized_entry_fails_the_commit() {
    let dir = TempDir::new("large");
    let o = ArchiveOptions {
        max_record_bytes: 200,
        ..small(SyncMode::Interval)
    };
    let mut w = ArchiveWriter::open(&dir.0, o).unwrap();
    let mut e = entry(1);
    e.body = Bytes::from(vec![b'x'; 300]);
    w.push(e);
    assert!(matches!(w.commit(), Err(ArchiveError::TooLarge(_))));
    w.push(entry(2));
    assert!(w.commit().is_err(), "a failed writer stays failed");
}

#[test]
fn hex_round_trips() {
    let h: Hash = std::array::from_fn(|i| u8::try_from(i * 7 % 256).unwrap());
    assert_eq!(parse_hex(&hex(&h)), Some(h));
    assert_eq!(parse_hex("00"), None);
    assert_eq!(parse_hex(&"zz".repeat(32)), None);
    assert_eq!(
        from_micros(to_micros(UNIX_EPOCH - Duration::from_secs(5))),
        UNIX_EPOCH - Duration::from_secs(5)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any single-byte change anywhere in any segment of an archive is detected.
    #[test]
    fn any_changed_byte_in_the_archive_is_detected(
        n in 1u32..12,
        pos in any::<prop::sample::Index>(),
        which in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let dir = TempDir::new("prop-byte");
        write(&dir.0, &small(SyncMode::Interval), 0..n, 3);
        let segs = list_segments(&dir.0).unwrap();
        let victim = &segs[which.index(segs.len())].1;
        let mut bytes = std::fs::read(victim).unwrap();
        let at = pos.index(bytes.len());
        bytes[at] ^= xor;
        std::fs::write(victim, &bytes).unwrap();
        let (report, _) = bodies(&dir.0);
        prop_assert!(report.problem.is_some(), "byte {} of {}: {:?}", at, victim.display(), report);
        prop_assert!(report.torn.is_empty());
    }

    /// The newest segment cut at any byte: exactly the whole records before the cut are
    /// read, and a torn record is reported unless the cut falls between two records.
    #[test]
    fn a_cut_newest_segment_keeps_the_whole_records_before_it(
        n in 1u32..10,
        cut in any::<prop::sample::Index>(),
    ) {
        let dir = TempDir::new("prop-cut");
        let o = ArchiveOptions { segment_bytes: SEGMENT_BYTES, ..small(SyncMode::Interval) };
        write(&dir.0, &o, 0..n, 1);
        let (_, last) = list_segments(&dir.0).unwrap().pop().unwrap();
        let bytes = std::fs::read(&last).unwrap();
        let ends: Vec<usize> = offsets(&last)
            .iter()
            .skip(1)
            .map(|(o, _)| usize::try_from(*o).unwrap())
            .chain([bytes.len()])
            .collect();
        let at = cut.index(bytes.len() + 1);
        std::fs::write(&last, &bytes[..at]).unwrap();
        let (report, seen) = bodies(&dir.0);
        prop_assert!(report.is_intact(), "{:?}", report);
        let whole = if at < HEADER_LEN { 0 } else { ends.iter().filter(|&&e| e <= at).count() };
        prop_assert_eq!(seen, expected(0..u32::try_from(whole).unwrap()));
        let boundary = at == HEADER_LEN || ends.contains(&at);
        prop_assert_eq!(report.torn.len(), usize::from(!boundary));
    }
}

/// The engine hook: one entry per relayed NOTIFY, none for what relays nothing.
#[test]
fn relayed_notifies_become_one_entry_each() {
    use rvp_presence::{Caller, DirectoryProperties, NodeKey, Policy, RequestId};
    use rvp_proto::CredentialKind;

    let now = Instant::now();
    let mut e = Engine::new(Policy::default(), now).unwrap();
    for alias in ["alice", "bob"] {
        e.register_principal(
            NodeKey::new("im.example.com", alias).unwrap(),
            DirectoryProperties::new(alias, &format!("{alias}@example.com")),
        )
        .unwrap();
    }
    let url = |a: &str| format!("http://im.example.com/instmsg/aliases/{a}");
    let bob = Caller::authenticated(&url("bob"), CredentialKind::Digest)
        .with_source(std::net::Ipv4Addr::LOCALHOST.into());
    let alice = Caller::authenticated(&url("alice"), CredentialKind::Digest);
    let req = |method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]| {
        let mut b = http::Request::builder()
            .method(http::Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path)
            .header("Host", "im.example.com");
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(Bytes::copy_from_slice(body)).unwrap()
    };
    let mut id = 0;
    let mut handle = |e: &mut Engine, caller: &Caller, r: http::Request<Bytes>| {
        let before = e.pending_outputs();
        id += 1;
        e.handle_http(now, RequestId(id), caller, &r);
        let entry = relayed_entry(e, e.pending_outputs() - before, UNIX_EPOCH);
        while e.poll_output().is_some() {}
        entry
    };
    let im = |from: &str| {
        format!(
            "<?xml version=\"1.0\"?><r:notification xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\"><r:message><r:notification-from><r:contact><d:href>{from}</d:href></r:contact></r:notification-from><r:msgbody><r:mime-data>Content-Type: text/plain\r\n\r\nhi</r:mime-data></r:msgbody></r:message></r:notification>"
        )
    };
    let notify = |from: &str| {
        req(
            "NOTIFY",
            "/instmsg/aliases/bob",
            &[("RVP-From-Principal", from), ("RVP-Ack-Type", "SingleHop")],
            im(from).as_bytes(),
        )
    };
    // Nobody signed on: nothing relayed, nothing archived.
    assert_eq!(handle(&mut e, &alice, notify(&url("alice"))), None);
    // bob signs on twice.
    for port in [5001, 5002] {
        let login = req(
            "SUBSCRIBE",
            "/instmsg/aliases/bob",
            &[
                ("RVP-From-Principal", &url("bob")),
                ("Notification-Type", "pragma/notify"),
                ("Call-Back", &format!("http://127.0.0.1:{port}")),
                ("Subscription-Lifetime", "3600"),
            ],
            b"",
        );
        assert_eq!(handle(&mut e, &bob, login), None);
    }
    let got = handle(&mut e, &alice, notify(&url("alice"))).expect("archived");
    assert_eq!(&*got.sender, url("alice"));
    assert_eq!(&*got.recipient, url("bob"));
    assert_eq!(got.deliveries, 2);
    assert_eq!(got.body, im(&url("alice")).as_bytes());
    // A body naming someone else: 403, nothing relayed.
    assert_eq!(handle(&mut e, &alice, notify(&url("bob"))), None);
    // Other methods never are.
    let pf = req(
        "PROPFIND",
        "/instmsg/aliases/bob",
        &[("RVP-From-Principal", &url("alice")), ("Depth", "0")],
        b"",
    );
    assert_eq!(handle(&mut e, &alice, pf), None);
}

#[test]
fn a_header_round_trips() {
    let h = SegmentHeader {
        number: 9,
        first_seq: 77,
        created_us: -5,
        prev: [3; 32],
    };
    assert_eq!(format::decode_header(&h.encode()), HeaderState::Valid(h));
}
