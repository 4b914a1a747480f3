//! The reference RVP home server: `rvp-presence` wrapped in tokio, with authentication,
//! configuration, durable storage and callback delivery.
//!
//! (Being built: see issue 5.)

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
