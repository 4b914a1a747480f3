//! The reference RVP home server: `rvp-presence` wrapped in tokio, with authentication,
//! configuration, durable storage and callback delivery.
//!
//! (Being built: see issue 5.)

pub mod auth;
pub mod delivery;
pub mod store;
