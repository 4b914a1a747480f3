//! Test support: the real `rvp-server` in-process on a loopback port, and bounded waits
//! for client events.

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rvp_client::Event;
use rvp_client::driver::{Client, ClientConfig};
use rvp_server::config::Config;
use rvp_server::home::HomeServer;
use rvp_server::log::ProtocolLog;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Bound on every single wait.
pub const WAIT: Duration = Duration::from_secs(15);

/// A fresh temporary directory (removed on drop).
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "rvp-client-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The configuration: domain `localhost`, users alice, bob, carol (password
/// `<alias>-pw`), storage in `dir`, protocol log off, listening on `listen`; `policy` is
/// appended to a `[policy]` table.
pub fn config(dir: &Path, listen: &str, policy: &str) -> Config {
    let text = format!(
        "[server]\nlisten = [\"{listen}\"]\nstorage = {:?}\n[log]\nprotocol_log = \"\"\n\
         [policy]\n{policy}\n\
         [[users]]\nalias = \"alice\"\ndisplay_name = \"Alice A\"\nemail = \"alice@example.org\"\npassword = \"alice-pw\"\n\
         [[users]]\nalias = \"bob\"\ndisplay_name = \"Bob B\"\nemail = \"bob@example.org\"\npassword = \"bob-pw\"\n\
         [[users]]\nalias = \"carol\"\npassword = \"carol-pw\"\n",
        dir.join("store.redb").display().to_string()
    );
    Config::from_toml_str(&text, "test").unwrap()
}

/// An in-process `rvp-server`.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    pub dir: TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with("127.0.0.1:0", "", TempDir::new("srv")).await
    }

    pub async fn start_with(listen: &str, policy: &str, dir: TempDir) -> TestServer {
        let c = config(dir.path(), listen, policy);
        let server = HomeServer::start(&c, ProtocolLog::off()).await.unwrap();
        let addr = server.local_addrs()[0];
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = server
                .run(async {
                    let _ = rx.await;
                })
                .await;
        });
        TestServer {
            addr,
            stop: Some(tx),
            task: Some(task),
            dir,
        }
    }

    /// Stops the server; returns its storage folder (to start it again).
    pub async fn stop(mut self) -> TempDir {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(WAIT * 2, self.task.take().unwrap())
            .await
            .expect("server stops in time")
            .expect("server task");
        std::mem::replace(&mut self.dir, TempDir(PathBuf::new()))
    }
}

/// A client configuration for `alias@localhost` against `server`.
pub fn client_config(server: SocketAddr, alias: &str) -> ClientConfig {
    let mut c = ClientConfig::new(
        format!("{alias}@localhost").parse().unwrap(),
        format!("{alias}-pw"),
    )
    .unwrap();
    c.server = Some(server);
    c
}

/// The logical URL of `alias` in the test domain.
pub fn url(alias: &str) -> rvp_proto::url::LogicalUrl {
    format!("http://localhost/instmsg/aliases/{alias}")
        .parse()
        .unwrap()
}

/// Waits (bounded) for the first event matching `pred`, skipping others; panics naming
/// `what` and the events seen.
pub async fn expect(client: &mut Client, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, client.next_event()).await {
            Ok(Some(e)) if pred(&e) => return e,
            Ok(Some(e)) => seen.push(e),
            Ok(None) => panic!("{what}: the client stopped; events seen: {seen:#?}"),
            Err(_) => panic!("{what}: not within {WAIT:?}; events seen: {seen:#?}"),
        }
    }
}

/// Asserts that no event matching `pred` arrives within `d`.
pub async fn expect_none(
    client: &mut Client,
    what: &str,
    d: Duration,
    pred: impl Fn(&Event) -> bool,
) {
    let deadline = tokio::time::Instant::now() + d;
    while let Ok(Some(e)) = tokio::time::timeout_at(deadline, client.next_event()).await {
        assert!(!pred(&e), "{what}: unexpected {e:?}");
    }
}
