//! `rvp-client`'s tokio driver against a test server (feature `driver`): the client
//! configuration of a test user and bounded waits for the client's events.
//!
//! ```no_run
//! use rvp_client::Event;
//! use rvp_interop::driver::{client_config, expect, signed_on};
//! use rvp_interop::server::TestServer;
//!
//! # async fn demo() {
//! let server = TestServer::start(|_config| {}).await;
//! let mut alice = signed_on(client_config(server.addr, "alice")).await;
//! alice.handle().set_state(rvp_proto::PresenceState::Busy).await.unwrap();
//! expect(&mut alice, "the state is set", |e| matches!(e, Event::StateSet { .. })).await;
//! # }
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use rvp_client::Event;
use rvp_client::driver::{Client, ClientConfig};

use crate::names::DOMAIN;

/// Bound on every single wait for a client event (longer than
/// [`server::WAIT`](crate::server::WAIT): the client's own timers and retries come first).
pub const WAIT: Duration = Duration::from_secs(15);

/// A client configuration for `alias@localhost` (password `<alias>-pw`, the test
/// [`config`](crate::server::config)'s) against the server at `server`.
pub fn client_config(server: SocketAddr, alias: &str) -> ClientConfig {
    let address = format!("{alias}@{DOMAIN}")
        .parse()
        .unwrap_or_else(|e| panic!("{alias:?} is not a valid alias: {e}"));
    let mut c = ClientConfig::new(address, format!("{alias}-pw")).expect("a client configuration");
    c.server = Some(server);
    c
}

/// Connects a client with `config` and waits (at most [`WAIT`]) until it has signed on.
pub async fn signed_on(config: ClientConfig) -> Client {
    let who = config.address.to_string();
    let mut client = Client::connect(config)
        .await
        .unwrap_or_else(|e| panic!("{who}: the client does not start: {e}"));
    expect(&mut client, &format!("{who} signs on"), |e| {
        matches!(e, Event::SignedOn { .. })
    })
    .await;
    client
}

/// Waits (at most [`WAIT`]) for the first event matching `pred`, skipping others; panics
/// naming `what` and the events seen.
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
