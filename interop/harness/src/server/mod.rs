//! End-to-end test support for `rvp-server` over real TCP on 127.0.0.1 (feature `server`):
//! a home server in-process ([`TestServer`]) or the real binary ([`ServerProcess`]), an RVP
//! client that authenticates the way librvp does ([`Client`], [`Req`], [`Resp`]; raw bytes
//! with [`raw`] and [`raw_from`]), call-back listeners that record the NOTIFYs they receive
//! ([`Callback`]), and the request bodies librvp sends ([`state_body`], [`acl_body`],
//! [`im_body`], ...). Every wait is bounded by [`WAIT`]; every failure panics, failing the
//! test.
//!
//! The test users are alice, bob and carol of [`DOMAIN`], password `<alias>-pw` ([`config`]).
//!
//! ```no_run
//! use rvp_interop::server::{Callback, TestServer};
//!
//! # async fn demo() {
//! let server = TestServer::start(|_config| {}).await;
//! let mut cb = Callback::start(200).await;
//! let (alice, bob) = (server.client("alice"), server.client("bob"));
//! assert_eq!(bob.login(&cb.url(), 3600).await.status, 200);
//! assert_eq!(bob.acl("alice", false).await.status, 200);
//! assert_eq!(alice.watch("bob", 3600).await.status, 200);
//! assert_eq!(bob.set_state("busy").await.status, 200);
//! server.stop().await;
//! # }
//! ```
//!
//! `rvp-server` dev-depends on this crate, which depends on `rvp-server`: its integration
//! tests link the one library both use, but its unit tests (a second build of the crate,
//! with `cfg(test)`) would see other types, so only integration tests use this module.

mod body;
mod callback;
mod client;
mod process;
mod wire;

pub use body::{PROPFIND_BODY, acl_body, im_body, im_body_from, state_body};
pub use callback::{Callback, Received};
pub use client::Client;
pub use process::ServerProcess;
pub use wire::{Req, Resp, fresh_nonce, nonce_of, raw, raw_from, read_response};

// The names and the folder every server test uses, so that `use rvp_interop::server::*`
// brings the whole kit.
pub use crate::names::{DOMAIN, path, url};
pub use crate::tempdir::TempDir;

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rvp_server::admin::Reloader;
use rvp_server::config::Config;
use rvp_server::home::{HomeServer, ServerError};
use rvp_server::listener::ServeReport;
use rvp_server::log::ProtocolLog;
use rvp_server::metrics::Metrics;
use rvp_server::router::Role;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Bound on every single wait.
pub const WAIT: Duration = Duration::from_secs(10);

/// The test configuration: alice, bob and carol of [`DOMAIN`] (password `<alias>-pw`;
/// alice and bob with display names and e-mail addresses), listening on 127.0.0.1 port 0,
/// storage in `dir`, protocol log off.
pub fn config(dir: &Path) -> Config {
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nstorage = {:?}\n[log]\nprotocol_log = \"\"\n\
         [[users]]\nalias = \"alice\"\ndisplay_name = \"Alice A\"\nemail = \"alice@example.org\"\npassword = \"alice-pw\"\n\
         [[users]]\nalias = \"bob\"\ndisplay_name = \"Bob B\"\nemail = \"bob@example.org\"\npassword = \"bob-pw\"\n\
         [[users]]\nalias = \"carol\"\npassword = \"carol-pw\"\n",
        dir.join("store.redb").display().to_string()
    );
    Config::from_toml_str(&text, "test").expect("the test configuration is valid")
}

/// Makes `c` a router (`[server] role = "router"`) whose users all live on `home` (an
/// address, or a `host:port` it finds in DNS).
pub fn route_to(c: &mut Config, home: &str) {
    c.server.role = Role::Router;
    for u in &mut c.users {
        u.home = Some(home.to_owned());
    }
}

/// An organisation of two servers: a home server (`role = "home"`) and a router in front
/// of it ([`route_to`] the home server), configured further by `tweak`; (home, router).
pub async fn organisation(tweak: impl FnOnce(&mut Config)) -> (TestServer, TestServer) {
    let home = TestServer::start(|c| c.server.role = Role::Home).await;
    let at = home.addr.to_string();
    let router = TestServer::start(|c| {
        route_to(c, &at);
        tweak(c);
    })
    .await;
    (home, router)
}

/// A home server running in-process, in a task of the test's tokio runtime; stopped by
/// [`TestServer::stop`] (dropping it leaves the task running until the runtime ends).
pub struct TestServer {
    /// The RVP listener's address (the first one configured).
    pub addr: SocketAddr,
    /// The first TLS listener, when `tls.listen` is set.
    pub tls: Option<SocketAddr>,
    /// The admin listener, when `admin.listen` is set.
    pub admin: Option<SocketAddr>,
    /// The server's counters.
    pub metrics: Arc<Metrics>,
    /// Applies new configurations to the running server.
    pub reloader: Reloader,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<ServeReport, ServerError>>>,
    _dir: Option<TempDir>,
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// Starts on the test [`config`], changed by `tweak`, with storage in a [`TempDir`] of
    /// its own (removed with the server).
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = TempDir::new("srv");
        let mut c = config(dir.path());
        tweak(&mut c);
        let mut s = TestServer::start_config(&c).await;
        s._dir = Some(dir);
        s
    }

    /// Starts on `c` (its storage is the caller's: a test that restarts a server keeps the
    /// folder), protocol log off.
    pub async fn start_config(c: &Config) -> TestServer {
        TestServer::start_logged(c, ProtocolLog::off()).await
    }

    /// Starts on `c`, writing the protocol log to `log`.
    pub async fn start_logged(c: &Config, log: ProtocolLog) -> TestServer {
        let server = HomeServer::start(c, log).await.expect("the server starts");
        let addr = server.local_addrs()[0];
        let tls = server.tls_addrs().first().copied();
        let admin = server.admin_addr();
        let metrics = Arc::clone(server.metrics());
        let reloader = server.reloader();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            tls,
            admin,
            metrics,
            reloader,
            stop: Some(tx),
            task: Some(task),
            _dir: None,
        }
    }

    /// A [`Client`] for `alias` (password `<alias>-pw`) against this server.
    pub fn client(&self, alias: &str) -> Client {
        Client::new(self.addr, alias)
    }

    /// Stops the server (listeners closed, connections drained, storage flushed) and
    /// returns how serving ended; panics unless it stops cleanly within twice [`WAIT`].
    pub async fn stop(mut self) -> ServeReport {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("a running server");
        tokio::time::timeout(WAIT * 2, task)
            .await
            .expect("server stops in time")
            .expect("server task")
            .expect("server ran cleanly")
    }
}
