//! The reference RVP home server: `rvp-presence` wrapped in tokio, with authentication,
//! configuration, durable storage and callback delivery.
//!
//! The binary (`rvp-server`) is [`home::HomeServer`] started from a [`config::Config`];
//! the modules are its parts:
//!
//! | module | role |
//! |---|---|
//! | [`home`] | assembly: store → engine task → delivery → listener; the request handler |
//! | [`listener`], [`conn`], [`shutdown`] | accepting, HTTP/1.1 connection loop, limits, drain |
//! | [`auth`] | HTTP Digest and the user directory |
//! | [`engine`] | the task owning the sans-IO engine (group commit, outputs released after it) |
//! | [`delivery`] | outbound NOTIFYs: per-callback bounded queues and workers |
//! | [`resolve`] | call-backs on other servers (DNS through `rvp-resolve`) |
//! | [`store`] | write-ahead log, checkpoints into redb, replay and restore |
//! | [`archive`] | compliance archive of relayed NOTIFYs: hash-chained segments, verify, retention |
//! | [`directory`] | the users: `[[users]]` or LDAP (feature `ldap`), a cache with TTLs, outages served from it |
//! | [`config`], [`log`] | TOML configuration, protocol log |
//! | [`tls`] | `[tls]`: TLS to servers that publish `_rvps._tcp`, the TLS listener (feature `tls`) |
//! | [`metrics`], [`admin`] | counters in the Prometheus text format; the admin listener (`/metrics`, `/healthz`, `/readyz`) and configuration reload |
//!
//! ```no_run
//! use rvp_server::config::Config;
//! use rvp_server::home::HomeServer;
//! use rvp_server::log::ProtocolLog;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::embedded_default()?;
//! let server = HomeServer::start(&config, ProtocolLog::off()).await?;
//! println!("listening on {:?}", server.local_addrs());
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `cli` | on | the `rvp-server` binary: its command line (clap) and diagnostics on stderr (tracing-subscriber) |
//! | `mimalloc` | on | the binary allocates with mimalloc; the library never sets a global allocator |
//! | `dns` | on | DNS through hickory: `[resolve] nameserver` (call-backs on other servers, and believing other servers where their DNS points), [`resolve::ForeignResolver::new`]. Without it a configured nameserver is a configuration error; `[resolve] peers` still work |
//! | `tls` | on | TLS (rustls on ring): NOTIFYs to domains that publish `_rvps._tcp` go over TLS, `[tls] listen` (a TLS listener). Without it the `[tls]` listener, certificate and CA keys are configuration errors and every NOTIFY goes over plain HTTP |
//! | `ldap` | off | the LDAP directory backend (`[directory] backend = "ldap"`, `directory::LdapDirectory`, through ldap3, no TLS). Without it `backend = "ldap"` is a configuration error. This package's tests turn it on |
//!
//! An embedder of the library depends on
//! `rvp-server = { version = "0.1", default-features = false }` (with
//! `features = ["dns"]` to reach other servers by DNS) and builds none of clap,
//! tracing-subscriber, mimalloc, hickory or rustls (`features = ["tls"]` adds rustls).
//!
//! # Embedding: store and logging
//!
//! [`home::HomeServer::start`] takes all it needs from its two arguments:
//!
//! * the store is the file `config.server.storage` (its write-ahead log the directory
//!   beside it, [`store::wal_dir`]), a path the embedder chooses;
//! * the protocol log (one line per request) is the [`log::ProtocolLog`] the embedder
//!   builds: [`log::ProtocolLog::off`], [`log::ProtocolLog::open`] (a file or stderr),
//!   [`log::ProtocolLog::to_writer`] (any `Write`) or [`log::ProtocolLog::channel`];
//! * diagnostics are [`tracing`](https://docs.rs/tracing) events: the library installs no
//!   subscriber, the embedder installs its own (or none).
//!
//! A server with an embedded configuration and its own store path, on a free port, asked
//! once and stopped:
//!
//! ```
//! use rvp_server::config::Config;
//! use rvp_server::home::HomeServer;
//! use rvp_server::log::ProtocolLog;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = Config::from_toml_str(
//!     r#"
//!     [server]
//!     listen = ["127.0.0.1:0"]
//!     domain = "example.test"
//!
//!     [[users]]
//!     alias = "alice"
//!     password = "alice-secret"
//!     "#,
//!     "embedded configuration",
//! )?;
//! let dir = std::env::temp_dir().join(format!("rvp-embedding-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! config.server.storage = dir.join("state.redb");
//! let (log, lines) = ProtocolLog::channel(16);
//!
//! let server = HomeServer::start(&config, log).await?; // bound, not serving yet
//! let addr = server.local_addrs()[0];
//!
//! // One request, then stop. It speaks as alice without her password: 401, a challenge.
//! let body = r#"<d:propfind xmlns:d="DAV:" xmlns:r="http://schemas.microsoft.com/rvp/"><d:prop><r:state/></d:prop></d:propfind>"#;
//! let request = format!(
//!     "PROPFIND /instmsg/aliases/alice HTTP/1.1\r\nHost: example.test\r\nDepth: 0\r\n\
//!      RVP-From-Principal: http://example.test/instmsg/aliases/alice\r\n\
//!      Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
//!     body.len()
//! );
//! let (done, stop) = tokio::sync::oneshot::channel::<()>();
//! let client = tokio::spawn(async move {
//!     let mut conn = tokio::net::TcpStream::connect(addr).await?;
//!     conn.write_all(request.as_bytes()).await?;
//!     let mut answer = String::new();
//!     conn.read_to_string(&mut answer).await?;
//!     let _ = done.send(());
//!     Ok::<_, std::io::Error>(answer)
//! });
//! // Serves until `stop` resolves, then drains and saves the state.
//! server.run(async { let _ = stop.await; }).await?;
//! let answer = client.await??;
//! assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
//! assert!(lines.try_iter().any(|line| line.contains("PROPFIND")));
//! assert!(config.server.storage.exists());
//! std::fs::remove_dir_all(&dir)?;
//! # Ok(()) }
//! ```

// docs.rs builds with `--cfg docsrs` (Cargo.toml): items behind a feature say which.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod admin;
pub mod archive;
pub mod auth;
pub mod delivery;
pub mod directory;
pub(crate) mod duration;
pub mod metrics;
pub mod store;

pub mod config;
pub mod conn;
pub mod engine;
pub mod home;
pub mod listener;
pub mod log;
pub mod presence;
pub mod resolve;
pub mod router;
pub mod service;
pub mod setup;
pub mod shutdown;
pub mod tls;
pub mod trust;

#[cfg(test)]
mod test_support;
