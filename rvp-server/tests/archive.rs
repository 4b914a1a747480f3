//! The compliance archive of the real `rvp-server` binary under `kill -9`: IMs are sent
//! and acknowledged while the server is killed; every acknowledged IM (and every one a
//! recipient received) is in the archive, byte for byte, and the archive verifies. The
//! next start continues the chain.
//!
//! Runs with `storage_sync = "interval"` (a checkpoint interval of ten minutes: the
//! archive's own periodic sync does not help) and `"always"`.

#![cfg(feature = "cli")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rvp_interop::server::*;
use rvp_server::archive;

const BIN: &str = env!("CARGO_BIN_EXE_rvp-server");

fn write_config(dir: &Path, sync: &str) -> PathBuf {
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nstorage = {:?}\nstorage_sync = {sync:?}\n\
         storage_checkpoint_interval = \"10m\"\n[log]\nprotocol_log = \"\"\nfilter = \"warn\"\n\
         [archive]\npath = {:?}\n\
         [[users]]\nalias = \"alice\"\npassword = \"alice-pw\"\n\
         [[users]]\nalias = \"bob\"\npassword = \"bob-pw\"\n",
        dir.join("state.redb").display().to_string(),
        dir.join("archive").display().to_string(),
    );
    let path = dir.join("server.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts the binary on `config`.
fn spawn(config: &Path) -> ServerProcess {
    ServerProcess::start(BIN, config)
}

fn kill_9(p: ServerProcess) {
    p.kill_9();
}

fn terminate(p: ServerProcess) {
    p.terminate();
}

/// The archive's records by body, after checking that it verifies.
fn archived(
    dir: &Path,
) -> (
    archive::VerifyReport,
    HashMap<Vec<u8>, archive::ArchiveRecord>,
) {
    let mut by_body = HashMap::new();
    let report = archive::verify(&dir.join("archive"), |r| {
        assert!(
            by_body.insert(r.body.clone(), r.clone()).is_none(),
            "record {} twice",
            r.seq
        );
    })
    .unwrap();
    assert!(report.is_intact(), "{report:?}");
    (report, by_body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_im_survives_kill_9_in_the_archive_sync_interval() {
    acknowledged_ims_survive_kill_9("interval").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_im_survives_kill_9_in_the_archive_sync_always() {
    acknowledged_ims_survive_kill_9("always").await;
}

async fn acknowledged_ims_survive_kill_9(sync: &str) {
    let dir = TempDir::new("archive-kill");
    let config = write_config(dir.path(), sync);
    let mut cb_bob = Callback::start(200).await;

    let p = spawn(&config);
    let bob = Client::new(p.addr, "bob");
    assert_eq!(bob.login(&cb_bob.url(), 14_400).await.status, 200);
    // IMs from alice in 3 streams, DeepOr and SingleHop; killed in the middle.
    let acked = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let addr = p.addr;
    let mut tasks = Vec::new();
    for t in 0..3 {
        let acked = Arc::clone(&acked);
        tasks.push(tokio::spawn(async move {
            let alice = Client::new(addr, "alice");
            for i in 0..500 {
                let body = im_body(&format!("stream {t} message {i} \u{e9}\u{1F600}"));
                let ack = if i % 2 == 0 { "DeepOr" } else { "SingleHop" };
                let Ok(r) = tokio::time::timeout(WAIT, try_im(&alice, "bob", &body, ack)).await
                else {
                    return;
                };
                match r {
                    Some(200) => acked.lock().unwrap().push(body),
                    _ => return,
                }
            }
        }));
    }
    let deadline = Instant::now() + WAIT * 3;
    while acked.lock().unwrap().len() < 60 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    kill_9(p);
    for t in tasks {
        let _ = tokio::time::timeout(WAIT, t).await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 60, "only {} acknowledged", acked.len());
    // What bob's client received, too.
    let mut delivered = Vec::new();
    while let Some(n) = cb_bob.next_within(Duration::from_millis(300)).await {
        delivered.push(n.body);
    }

    let (report, by_body) = archived(dir.path());
    let missing = acked.iter().filter(|b| !by_body.contains_key(*b)).count();
    assert_eq!(
        missing,
        0,
        "{missing} of {} acknowledged IMs not archived",
        acked.len()
    );
    let missing = delivered
        .iter()
        .filter(|b| !by_body.contains_key(*b))
        .count();
    assert_eq!(
        missing,
        0,
        "{missing} of {} delivered IMs not archived",
        delivered.len()
    );
    for b in &acked {
        let r = &by_body[b];
        assert_eq!(r.sender, url("alice"));
        assert_eq!(r.recipient, url("bob"));
        assert_eq!(r.deliveries, 1);
        let age = std::time::SystemTime::now()
            .duration_since(r.time())
            .unwrap();
        assert!(age < Duration::from_secs(600), "{age:?}");
    }
    let last = report.last.unwrap().0;

    // The next start continues the chain; a clean stop leaves it whole.
    let p = spawn(&config);
    let alice = Client::new(p.addr, "alice");
    let bob = Client::new(p.addr, "bob");
    assert_eq!(bob.login(&cb_bob.url(), 14_400).await.status, 200);
    let body = im_body("after the crash");
    assert_eq!(alice.im("bob", &body, Some("DeepOr")).await.status, 200);
    terminate(p);
    let (report, by_body) = archived(dir.path());
    assert_eq!(by_body[&body].seq, report.last.unwrap().0);
    assert!(report.last.unwrap().0 > last);
    assert!(report.torn.len() <= 1, "{report:?}");
}

/// An IM from `from` whose answer may never come (the server is killed): the status, if
/// any.
async fn try_im(from: &Client, to: &str, body: &[u8], ack: &str) -> Option<u16> {
    let req = Req::new("NOTIFY", &path(to))
        .header("Content-Type", "text/xml")
        .header("RVP-Ack-Type", ack)
        .body(body.to_vec());
    let first = try_raw(from.addr, &req.to_bytes(&from.url(), None)).await?;
    if first.status != 401 {
        return Some(first.status);
    }
    let nonce = nonce_of(first.header("WWW-Authenticate")?);
    let auth = from.digest(&req, &nonce);
    try_raw(from.addr, &req.to_bytes(&from.url(), Some(&auth)))
        .await
        .map(|r| r.status)
}

/// [`raw`] without panics: `None` when the server is gone.
async fn try_raw(addr: SocketAddr, bytes: &[u8]) -> Option<Resp> {
    use tokio::io::AsyncWriteExt as _;
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(bytes).await.ok()?;
    let mut buf = Vec::new();
    read_response(&mut s, &mut buf).await
}
