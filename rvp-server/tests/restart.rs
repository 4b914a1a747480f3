//! The real `rvp-server` binary killed with `kill -9` (and stopped with SIGTERM) and
//! restarted on the same store: subscriptions, leases and ACLs survive, so a watcher keeps
//! receiving presence without signing on again and a denied user stays denied.
//!
//! Each test runs twice: with `storage_sync = "interval"` and a checkpoint interval of
//! ten minutes (so that everything acknowledged is only in the write-ahead log when the
//! process dies: the replay is what must bring it back), and with `storage_sync =
//! "always"`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rvp_interop::server::*;

const BIN: &str = env!("CARGO_BIN_EXE_rvp-server");

/// `storage_sync` and `storage_checkpoint_interval` of a test variant.
const INTERVAL: (&str, &str) = ("interval", "10m");
const ALWAYS: (&str, &str) = ("always", "1s");

fn write_config(dir: &TempDir, (sync, checkpoint): (&str, &str)) -> std::path::PathBuf {
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nstorage = {:?}\n\
         storage_sync = {sync:?}\nstorage_checkpoint_interval = {checkpoint:?}\n[log]\nprotocol_log = \"\"\nfilter = \"warn\"\n\
         [[users]]\nalias = \"alice\"\npassword = \"alice-pw\"\n\
         [[users]]\nalias = \"bob\"\npassword = \"bob-pw\"\n\
         [[users]]\nalias = \"carol\"\npassword = \"carol-pw\"\n",
        dir.path().join("state.redb").display().to_string()
    );
    let path = dir.path().join("server.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts the binary on `config`.
fn spawn(config: &std::path::Path) -> ServerProcess {
    ServerProcess::start(BIN, config)
}

fn kill_9(p: ServerProcess) {
    p.kill_9();
}

fn terminate(p: ServerProcess) {
    p.terminate();
}

fn clients(addr: SocketAddr) -> (Client, Client, Client) {
    (
        Client::new(addr, "alice"),
        Client::new(addr, "bob"),
        Client::new(addr, "carol"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_kill_9_and_sigterm_sync_interval() {
    state_survives_kill_9_and_sigterm(INTERVAL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_kill_9_and_sigterm_sync_always() {
    state_survives_kill_9_and_sigterm(ALWAYS).await;
}

async fn state_survives_kill_9_and_sigterm(mode: (&str, &str)) {
    let dir = TempDir::new("restart");
    let config = write_config(&dir, mode);
    let mut cb_a = Callback::start(200).await;
    let mut cb_b = Callback::start(200).await;

    // Before: alice and bob signed on, alice watches bob, bob denies carol.
    let p = spawn(&config);
    let (alice, bob, carol) = clients(p.addr);
    let r = alice.login(&cb_a.url(), 14_400).await;
    assert_eq!(r.status, 200);
    let alice_login = r.subscription_id();
    assert_eq!(bob.login(&cb_b.url(), 14_400).await.status, 200);
    assert_eq!(bob.set_state("online").await.status, 207);
    assert_eq!(alice.watch("bob", 14_400).await.status, 207);
    assert_eq!(carol.watch("bob", 14_400).await.status, 207);
    let r = bob.acl("carol", true).await;
    assert_eq!(r.status, 200, "{r:?}");
    // The ACL write was acknowledged: kill at once.
    kill_9(p);

    // After kill -9: no sign-on again.
    let p = spawn(&config);
    let (alice, bob, carol) = clients(p.addr);
    assert_eq!(bob.set_state("busy").await.status, 207);
    let n = cb_a.state_change("busy").await;
    assert_eq!(n.target, "/");
    let r = alice
        .im("bob", &im_body("after the crash"), Some("DeepOr"))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(cb_b.next().await.text().contains("after the crash"));
    // carol stays denied: bob looks offline to her, her IMs get 412.
    let r = carol.propfind("bob").await;
    assert_eq!(r.status, 207);
    assert!(r.text().contains("<r:offline/>"), "{}", r.text());
    let r = carol
        .im("bob", &im_body_from(&carol.url(), "hello?"), Some("DeepOr"))
        .await;
    assert_eq!(r.status, 412, "{r:?}");
    // alice's login subscription is the same one: its renewal succeeds.
    let renew = Req::new("SUBSCRIBE", &path("alice"))
        .header("Subscription-Id", &alice_login.to_string())
        .header("Subscription-Lifetime", "14400");
    let r = alice.send(&renew).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.subscription_id(), alice_login);
    // A graceful stop keeps it all as well.
    terminate(p);

    let p = spawn(&config);
    let (_alice, bob, carol) = clients(p.addr);
    assert_eq!(bob.set_state("away").await.status, 207);
    cb_a.state_change("away").await;
    let r = carol
        .im(
            "bob",
            &im_body_from(&carol.url(), "hello again?"),
            Some("DeepOr"),
        )
        .await;
    assert_eq!(r.status, 412, "{r:?}");
    drop(p);
}

/// `kill -9` while watch SUBSCRIBEs pour in: every subscription whose `200`/`207` reached
/// its client is there after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_subscription_is_lost_to_kill_9_under_load_sync_interval() {
    no_acknowledged_subscription_is_lost_to_kill_9_under_load(INTERVAL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_subscription_is_lost_to_kill_9_under_load_sync_always() {
    no_acknowledged_subscription_is_lost_to_kill_9_under_load(ALWAYS).await;
}

async fn no_acknowledged_subscription_is_lost_to_kill_9_under_load(mode: (&str, &str)) {
    let dir = TempDir::new("restart-load");
    let config = write_config(&dir, mode);
    let p = spawn(&config);
    let addr = p.addr;
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u32>::new()));
    let mut tasks = Vec::new();
    for t in 0..4 {
        let acked = std::sync::Arc::clone(&acked);
        tasks.push(tokio::spawn(async move {
            for i in 0..2_000 {
                let who = format!("http://remote.example/instmsg/aliases/w{t}x{i}");
                let watch = Req::new("SUBSCRIBE", &path("bob"))
                    .header("Notification-Type", "update/propchange")
                    .header("Subscription-Lifetime", "14400")
                    .header("Call-Back", &who);
                let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
                    return;
                };
                use tokio::io::AsyncWriteExt;
                if s.write_all(&watch.to_bytes(&who, None)).await.is_err() {
                    return;
                }
                let mut buf = Vec::new();
                let r = tokio::time::timeout(WAIT, async {
                    use tokio::io::AsyncReadExt;
                    let mut chunk = [0u8; 4096];
                    loop {
                        let mut p = rvp_proto::codec::ResponseParser::default();
                        if let Ok(rvp_proto::codec::Status::Complete(m)) = p.parse(&buf, false) {
                            let id = m
                                .head()
                                .headers()
                                .get("subscription-id")
                                .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse().ok());
                            return (m.head().code(), id);
                        }
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return (0, None),
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                })
                .await;
                match r {
                    Ok((207, Some(id))) => acked.lock().unwrap().push(id),
                    _ => return,
                }
            }
        }));
    }
    // Let some land, then pull the plug in the middle of the flow.
    let deadline = Instant::now() + WAIT;
    while acked.lock().unwrap().len() < 50 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    kill_9(p);
    for t in tasks {
        let _ = tokio::time::timeout(WAIT, t).await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 50, "only {} acknowledged", acked.len());

    let p = spawn(&config);
    let bob = Client::new(p.addr, "bob");
    let r = bob.subscriptions("update/propchange").await;
    assert_eq!(r.status, 200, "{r:?}");
    let body = r.text();
    let missing: Vec<u32> = acked
        .iter()
        .copied()
        .filter(|id| !body.contains(&format!("<r:subscription-id>{id}</r:subscription-id>")))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged subscriptions lost: {missing:?}",
        missing.len(),
        acked.len()
    );
    drop(p);
}
