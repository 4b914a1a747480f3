//! `rvp-admin archive` against an archive the home server wrote: IMs are sent over real
//! TCP to an in-process `HomeServer` with `[archive]` on and acknowledged; then the real
//! `rvp-admin` binary verifies the archive, exports it, notices a changed byte, a deleted
//! record, a cut-off end (with an anchor) and a deleted segment, and prunes by age.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::path::Path;

use common::admin;
use rvp_interop::server::*;

/// Runs the server with its archive in `dir` (and a store of its own, so that bob's login
/// of an earlier run is not restored beside the new one), signs bob on, sends `texts` from
/// alice (each acknowledged 200 and received by bob's client) and stops it.
async fn session(dir: &Path, run: &str, texts: &[String]) {
    let store = dir.join(run);
    std::fs::create_dir_all(&store).unwrap();
    let mut c = config(&store);
    c.archive.path = dir.join("archive");
    let server = TestServer::start_config(&c).await;
    let mut cb = Callback::start(200).await;
    let (alice, bob) = (server.client("alice"), server.client("bob"));
    assert_eq!(bob.login(&cb.url(), 3600).await.status, 200);
    for (i, t) in texts.iter().enumerate() {
        let ack = if i % 2 == 0 { "DeepOr" } else { "SingleHop" };
        let r = alice.im("bob", &im_body(t), Some(ack)).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert!(cb.next().await.text().contains(t.as_str()));
    }
    server.stop().await;
}

fn segments(archive: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(archive)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "arc"))
        .collect();
    v.sort();
    v
}

/// The byte offsets of the records of a segment, and each record's number.
fn records(seg: &Path) -> Vec<(usize, u64)> {
    let s = rvp_server::archive::scan(&std::fs::read(seg).unwrap());
    s.records
        .iter()
        .map(|(o, r)| (usize::try_from(*o).unwrap(), r.seq))
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_export_tamper_delete_prune() {
    let dir = TempDir::new("admin-archive");
    let first: Vec<String> = (0..6)
        .map(|i| format!("first run {i}: caf\u{e9} &amp; tea"))
        .collect();
    let second: Vec<String> = (0..4).map(|i| format!("second run {i}")).collect();
    session(dir.path(), "run1", &first).await;
    session(dir.path(), "run2", &second[..2]).await;
    session(dir.path(), "run3", &second[2..]).await;
    let archive = dir.path().join("archive");
    let arc = archive.to_str().unwrap();

    // Intact: every acknowledged IM, in order, exported byte for byte.
    let (code, out, err) = admin(&["archive", "verify", arc]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("intact"), "{out}");
    assert!(out.contains("10 record(s): 1 to 10"), "{out}");
    let anchor = out
        .split("--anchor ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("the head as an anchor")
        .to_owned();
    let (code, json, err) = admin(&["archive", "export", arc, "--text"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = json.lines().collect();
    assert_eq!(lines.len(), 10, "{json}");
    for (i, (line, text)) in lines.iter().zip(first.iter().chain(&second)).enumerate() {
        assert!(line.starts_with(&format!("{{\"seq\":{},", i + 1)), "{line}");
        assert!(
            line.contains(&format!("\"sender\":\"{}\"", url("alice"))),
            "{line}"
        );
        assert!(
            line.contains(&format!("\"recipient\":\"{}\"", url("bob"))),
            "{line}"
        );
        assert!(line.contains("\"deliveries\":1"), "{line}");
        // The body is librvp's IM exactly: JSON escapes its quotes and CR LF; markup,
        // entities and é stay as they are.
        let body = String::from_utf8(im_body(text))
            .unwrap()
            .replace('"', "\\\"")
            .replace('\r', "\\r")
            .replace('\n', "\\n");
        assert!(line.contains(&format!("\"body\":\"{body}\"")), "{line}");
    }
    let (code, b64, _) = admin(&["archive", "export", arc]);
    assert_eq!(code, 0);
    assert_eq!(
        b64.lines()
            .filter(|l| l.contains("\"body_base64\":"))
            .count(),
        10
    );
    let (code, recent, _) = admin(&["archive", "export", arc, "--since", "1h"]);
    assert_eq!((code, recent.lines().count()), (0, 10));
    let (code, none, _) = admin(&["archive", "export", arc, "--since", "2999-01-01T00:00:00Z"]);
    assert_eq!((code, none.lines().count()), (0, 0));
    let (code, out, _) = admin(&["archive", "verify", arc, "--anchor", &anchor]);
    assert_eq!(code, 0, "{out}");

    let segs = segments(&archive);
    assert!(segs.len() >= 2, "{segs:?}");
    let pristine = dir.path().join("pristine");
    copy_dir(&archive, &pristine);
    let restore = || {
        std::fs::remove_dir_all(&archive).unwrap();
        copy_dir(&pristine, &archive);
    };

    // One byte of record 3's body changed.
    let recs = records(&segs[0]);
    let (off, seq) = recs[2];
    assert_eq!(seq, 3);
    let mut bytes = std::fs::read(&segs[0]).unwrap();
    let at = off
        + bytes[off..]
            .windows(9)
            .position(|w| w == b"first run")
            .unwrap();
    bytes[at] = b'F';
    std::fs::write(&segs[0], &bytes).unwrap();
    let (code, out, _) = admin(&["archive", "verify", arc]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("NOT INTACT"), "{out}");
    assert!(out.contains("record 3:"), "{out}");
    assert!(out.contains(&format!("at byte {off}")), "{out}");
    // The export stops before it, and says so.
    let (code, json, err) = admin(&["archive", "export", arc]);
    assert_eq!((code, json.lines().count()), (1, 2), "{err}");
    assert!(err.contains("record 3"), "{err}");
    restore();

    // Record 4 deleted.
    let recs = records(&segs[0]);
    let bytes = std::fs::read(&segs[0]).unwrap();
    let (a, b) = (recs[3].0, recs[4].0);
    let mut cut = bytes[..a].to_vec();
    cut.extend_from_slice(&bytes[b..]);
    std::fs::write(&segs[0], cut).unwrap();
    let (code, out, _) = admin(&["archive", "verify", arc]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("record 4 expected, record 5 found"), "{out}");
    assert!(out.contains("record 4 is missing"), "{out}");
    restore();

    // The last record cut off the end: looks like a crash, but the anchor tells.
    let last = segs.last().unwrap();
    let recs = records(last);
    let f = std::fs::OpenOptions::new().write(true).open(last).unwrap();
    f.set_len(u64::try_from(recs.last().unwrap().0 + 5).unwrap())
        .unwrap();
    drop(f);
    let (code, out, _) = admin(&["archive", "verify", arc]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("torn: record 10"), "{out}");
    let (code, out, _) = admin(&["archive", "verify", arc, "--anchor", &anchor]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("record 10 is not in the archive"), "{out}");
    restore();

    // A whole segment deleted from the middle. (The oldest segment deleted would look
    // like retention: verify says the archive "begins after record N ... or removed".)
    assert!(segs.len() >= 3, "{segs:?}");
    std::fs::remove_file(&segs[1]).unwrap();
    let (code, out, _) = admin(&["archive", "verify", arc]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("missing"), "{out}");
    restore();

    // Retention by hand: everything older than no time at all; the newest segment stays
    // and what is left verifies, continuing from a pruned record.
    let (code, out, err) = admin(&["archive", "prune", arc, "--older-than", "0s"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("{} segment(s) deleted, 1 kept", segs.len() - 1)),
        "{out}"
    );
    let (code, out, _) = admin(&["archive", "verify", arc, "--anchor", &anchor]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("begins after record"), "{out}");

    // Usage and I/O errors: status 2.
    let (code, _, err) = admin(&["archive", "verify", "/nonexistent/rvp-archive"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/rvp-archive"), "{err}");
    let (code, _, _) = admin(&["archive", "prune", arc, "--older-than", "soon"]);
    assert_eq!(code, 2);
}
