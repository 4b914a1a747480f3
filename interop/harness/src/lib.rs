//! Drives **librvp**, the third-party RVP client (Debian's `pidgin-librvp` plugin for
//! libpurple), from Rust tests.
//!
//! librvp runs inside `rvp-purple`, a small headless libpurple front end of ours
//! (`interop/purple-frontend/rvp-purple.c`): one account per process, line commands on stdin,
//! one line per libpurple event on stdout. This crate builds that front end on demand
//! (Debian packages only, see [`frontend`]), starts it with a fresh configuration folder,
//! sends it commands and waits for its [`Event`]s with timeouts.
//!
//! ```text
//!   test ──commands──▶ PurpleClient ──stdin──▶ rvp-purple ─ libpurple ─ librvp.so ──HTTP──▶ server
//!        ◀──Event────  (reader thread)◀─stdout─   (GLib loop)              ◀──NOTIFY──  (callback)
//! ```
//!
//! librvp signs on to the server of its sign-in name's domain on **port 80** (or the port
//! of an `_rvp._tcp` SRV record): `alice@localhost` talks to `http://localhost/`.
//!
//! ```no_run
//! use std::time::Duration;
//! use rvp_interop::{Event, PurpleClient, PurpleOptions};
//! use rvp_proto::state::PresenceState;
//!
//! # fn main() -> Result<(), rvp_interop::HarnessError> {
//! let t = Duration::from_secs(10);
//! let mut alice = PurpleClient::sign_on(PurpleOptions::new("alice@localhost").password("a"), t)?;
//! let mut bob = PurpleClient::sign_on(PurpleOptions::new("bob@localhost").password("b"), t)?;
//! alice.add_buddy("bob@localhost")?;
//! alice.expect(|e| matches!(e, Event::BuddySignedOn { who } if who == "bob@localhost"), t)?;
//! bob.set_state(&PresenceState::Busy)?;
//! alice.expect(
//!     |e| matches!(e, Event::BuddyStatus { who, state: PresenceState::Busy } if who == "bob@localhost"),
//!     t,
//! )?;
//! bob.send_im("alice@localhost", "grüß dich")?;
//! let im = alice.expect(|e| matches!(e, Event::Im { .. }), t)?;
//! alice.logout_and_wait(t)?;
//! # Ok(()) }
//! ```
//!
//! Tests that need librvp call [`Frontend::require`]: it fails the test under `CI=true` and
//! skips loudly otherwise when the front end cannot be built. [`netns::run_isolated`] gives a
//! test its own network namespace, so that its server can bind 127.0.0.1:80. Inside it,
//! [`dns::NamespaceDns`] gives librvp (and the servers) a real DNS server with the test's
//! `_rvp._tcp` SRV and address records, for domains other than `localhost`.
//!
//! Beside librvp, [`slapd::Slapd`] starts a real OpenLDAP server with this repository's
//! schemas, for the tests of the LDAP directory (rvp-server) and of `rvp-admin user`.
//!
//! This crate is also the one home of the test support shared across the workspace's
//! crates: no test reaches into another crate's files with `#[path]`.
//!
//! * always: the test domain's names ([`url`], [`path`], [`logical_url`], [`DOMAIN`]),
//!   a [`TempDir`], the real-client captures ([`captures`]);
//! * feature `server`: module `server`, `rvp-server` in-process or as its binary,
//!   raw RVP clients authenticating like librvp, call-back listeners, request bodies;
//! * feature `driver` (with `server`): module `driver`, `rvp-client`'s tokio
//!   driver against that server with bounded waits for its events.
//!
//! The features are opt-in, so that the crates below `rvp-server` (rvp-proto,
//! rvp-resolve) use the harness without building the server.

pub mod captures;
pub mod client;
pub mod dns;
pub mod dnsmasq;
#[cfg(feature = "driver")]
pub mod driver;
pub mod event;
pub mod frontend;
mod names;
pub mod netns;
pub mod report;
#[cfg(feature = "server")]
pub mod server;
pub mod slapd;
mod tempdir;

pub use client::{PurpleClient, PurpleOptions};
pub use event::{Event, ParseError, html_to_text};
pub use frontend::Frontend;
pub use names::{DOMAIN, logical_url, path, url};
pub use tempdir::TempDir;

use std::time::Duration;

/// Everything that can go wrong while driving a librvp client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// The front end could not be found or built (the message says why).
    #[error("librvp front end unavailable: {0}")]
    Unavailable(String),
    /// `build.sh` failed.
    #[error("interop/purple-frontend/build.sh failed ({status}):\n{stderr}")]
    Build {
        /// The script's exit status.
        status: String,
        /// Its stderr.
        stderr: String,
    },
    /// An I/O operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A command line contained a line break.
    #[error("command contains a line break: {line:?}")]
    BadCommand {
        /// The command.
        line: String,
    },
    /// No matching event (or exit) within the time allowed.
    #[error("{user}: nothing matching within {waited:?}; last lines:\n{tail}")]
    Timeout {
        /// The client.
        user: String,
        /// The time waited.
        waited: Duration,
        /// The end of the transcript.
        tail: String,
    },
    /// The front end exited (closed its stdout) before a matching event.
    #[error("{user}: front end exited before the expected event; last lines:\n{tail}")]
    Exited {
        /// The client.
        user: String,
        /// The end of the transcript.
        tail: String,
    },
    /// An event that rules out the awaited one arrived (e.g. `connection-error`).
    #[error("{user}: got {event:?} while waiting; last lines:\n{tail}")]
    Aborted {
        /// The client.
        user: String,
        /// The event.
        event: Event,
        /// The end of the transcript.
        tail: String,
    },
    /// The front end printed a line that does not parse.
    #[error("{user}: unreadable line {line:?}: {source}")]
    Parse {
        /// The client.
        user: String,
        /// The line.
        line: String,
        /// Why it does not parse.
        #[source]
        source: ParseError,
    },
}
