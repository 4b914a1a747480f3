//! `rvp`: RVP, the presence and instant-messaging protocol of Exchange 2000 Instant
//! Messaging, in Rust.
//!
//! This umbrella crate re-exports the member crates of the workspace so that one
//! dependency brings the whole suite:
//!
//! | module | crate | what it is |
//! |---|---|---|
//! | [`proto`] | `rvp-proto` | the wire format, sans-IO |
//! | [`resolve`] | `rvp-resolve` | `alias@domain` → servers via DNS SRV, TTL cache |
//! | [`presence`] | `rvp-presence` | the home server's brain: a deterministic state machine |

// docs.rs builds with `--cfg docsrs` (Cargo.toml): items behind a feature say which.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use rvp_presence as presence;
pub use rvp_proto as proto;
pub use rvp_resolve as resolve;
