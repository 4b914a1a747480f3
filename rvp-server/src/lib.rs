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
//! | [`config`], [`log`] | TOML configuration, protocol log |
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

pub mod archive;
pub mod auth;
pub mod delivery;
pub mod store;

pub mod config;
pub mod conn;
pub mod engine;
pub mod home;
pub mod listener;
pub mod log;
pub mod resolve;
pub mod service;
pub mod shutdown;
pub mod trust;
