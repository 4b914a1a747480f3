//! rvp-client against the real librvp (Debian's `pidgin-librvp`, driven headless through
//! libpurple by the `rvp-interop` harness), both signed on to the real `rvp-server`.
//!
//! ```text
//!   this test ──► rvp-client alice ──HTTP──► rvp-server :80 ◄──HTTP── librvp bob ◄── rvp-purple
//!                 (call-back listener) ◄─NOTIFY─┘        └─NOTIFY─► (librvp's call-back)
//! ```
//!
//! librvp connects to port 80 of its domain, so the test re-runs itself in a private
//! network namespace (`rvp_interop::netns::run_isolated`) where the server owns
//! 127.0.0.1:80. Presence both ways, typing, non-ASCII messages both ways (librvp's
//! "double UTF-8"), a block (librvp sees alice offline and its message is refused), the
//! block lifted, and sign-off. Every wait is bounded ([`STEP`]). Without the front end
//! (not Debian, not root) the test skips loudly, except under `CI=true` where it fails.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::panic
)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rvp_client::driver::Client;
use rvp_client::{AclRule, Event as ClientEvent};
use rvp_interop::driver::{client_config, expect, signed_on};
use rvp_interop::event::offline;
use rvp_interop::logical_url as url;
use rvp_interop::netns::run_isolated;
use rvp_interop::server::{TempDir, TestServer, config};
use rvp_interop::{Event, Frontend, PurpleClient, PurpleOptions, html_to_text};
use rvp_proto::PresenceState;
use rvp_server::auth::{Ha1, LibrvpCompat};

/// Bound on every single wait.
const STEP: Duration = Duration::from_secs(15);
const ALICE: &str = "alice@localhost";
const BOB: &str = "bob@localhost";
/// An ordinary password for librvp (HA1 without a zero byte, checked below).
const BOB_PASSWORD: &str = "bob-pw-91c";

#[test]
fn rvp_client_and_librvp() {
    let Some(frontend) = Frontend::require() else {
        return;
    };
    run_isolated("rvp_client_and_librvp", Some(&frontend), || {
        scenario(&frontend);
    });
}

fn pass(started: Instant, step: &str) {
    eprintln!("PASS {step} ({:.2} s)", started.elapsed().as_secs_f64());
}

/// Waits (bounded) for an rvp-client event matching `pred`.
fn expect_client(
    rt: &tokio::runtime::Runtime,
    client: &mut Client,
    what: &str,
    pred: impl Fn(&ClientEvent) -> bool,
) -> ClientEvent {
    rt.block_on(expect(client, what, pred))
}

fn scenario(frontend: &Frontend) {
    let started = Instant::now();
    assert_eq!(
        Ha1::from_password("bob", "localhost", BOB_PASSWORD).librvp_compatible(),
        LibrvpCompat::Compatible
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = TempDir::new("client-interop");
    let listen: SocketAddr = ([127, 0, 0, 1], 80).into();
    let mut config = config(dir.path());
    config.server.listen = vec![listen];
    for u in &mut config.users {
        if u.alias == "bob" {
            u.password = Some(BOB_PASSWORD.into());
        }
    }
    let server = rt.block_on(TestServer::start_config(&config));
    pass(started, "rvp-server on 127.0.0.1:80");

    let mut bob = PurpleClient::sign_on(
        PurpleOptions::new(BOB)
            .password(BOB_PASSWORD)
            .frontend(frontend.clone())
            .debug(true),
        STEP,
    )
    .expect("librvp bob signs on");
    pass(started, "librvp bob signed on");

    let mut config = client_config(listen, "alice");
    config.session.watch_list.push(url("bob"));
    let mut alice = rt.block_on(signed_on(config));
    expect_client(
        &rt,
        &mut alice,
        "sees bob online",
        |e| matches!(e, ClientEvent::Presence { who, state: PresenceState::Online } if *who == url("bob")),
    );
    pass(
        started,
        "rvp-client alice signed on and sees librvp bob online",
    );

    bob.add_buddy(ALICE).unwrap();
    bob.expect(
        |e| matches!(e, Event::BuddySignedOn { who } if who == ALICE),
        STEP,
    )
    .expect("bob sees alice online");
    pass(started, "librvp bob adds alice and sees her online");

    bob.set_state(&PresenceState::Busy).unwrap();
    expect_client(
        &rt,
        &mut alice,
        "sees bob busy",
        |e| matches!(e, ClientEvent::Presence { who, state: PresenceState::Busy } if *who == url("bob")),
    );
    pass(started, "bob -> busy, seen by rvp-client");
    rt.block_on(alice.handle().set_state(PresenceState::Away))
        .unwrap();
    bob.expect(
        |e| matches!(e, Event::BuddyStatus { who, state: PresenceState::Away } if who == ALICE),
        STEP,
    )
    .expect("bob sees alice away");
    pass(started, "rvp-client -> away, seen by librvp");

    rt.block_on(alice.handle().send_typing(&url("bob")))
        .unwrap();
    bob.expect(|e| matches!(e, Event::Typing { who } if who == ALICE), STEP)
        .expect("bob sees alice typing");
    pass(started, "rvp-client types, librvp shows it");

    let to_bob = "Grüße, ☕ € ü — Ελληνικά, 日本語";
    rt.block_on(alice.handle().send_message(&url("bob"), to_bob))
        .unwrap();
    let got = bob
        .expect(|e| matches!(e, Event::Im { who, .. } if who == ALICE), STEP)
        .expect("bob gets alice's message");
    let Event::Im { text, .. } = got else {
        unreachable!()
    };
    assert_eq!(html_to_text(&text), to_bob, "librvp shows {text:?}");
    expect_client(&rt, &mut alice, "the message is delivered", |e| {
        matches!(e, ClientEvent::Delivered { .. })
    });
    pass(started, "IM rvp-client -> librvp, non-ASCII text intact");

    let to_alice = "Danke! ñ ß ø ✓ 🎉";
    bob.send_im(ALICE, to_alice).unwrap();
    let got = expect_client(&rt, &mut alice, "gets bob's message", |e| {
        matches!(e, ClientEvent::Message { .. })
    });
    let ClientEvent::Message { from, text, .. } = got else {
        unreachable!()
    };
    assert_eq!(from, url("bob"));
    assert_eq!(text, to_alice);
    pass(started, "IM librvp -> rvp-client, non-ASCII text intact");

    rt.block_on(alice.handle().set_rule(&url("bob"), AclRule::Block))
        .unwrap();
    bob.expect(offline(ALICE), STEP)
        .expect("bob sees alice offline");
    bob.send_im(ALICE, "still there?").unwrap();
    bob.expect(
        |e| matches!(e, Event::SendFailed { who, .. } if who == ALICE),
        STEP,
    )
    .expect("bob's IM is refused");
    pass(
        started,
        "rvp-client blocks librvp: bob sees alice offline, his IM is refused",
    );

    rt.block_on(alice.handle().set_rule(&url("bob"), AclRule::Allow))
        .unwrap();
    bob.expect(
        |e| match e {
            Event::BuddySignedOn { who } => who == ALICE,
            Event::BuddyStatus { who, state } => who == ALICE && *state != PresenceState::Offline,
            _ => false,
        },
        STEP,
    )
    .expect("bob sees alice again");
    pass(started, "rvp-client allows librvp again: bob sees alice");

    rt.block_on(alice.sign_off()).unwrap();
    bob.expect(offline(ALICE), STEP)
        .expect("bob sees alice sign off");
    pass(started, "rvp-client signs off, librvp sees it");

    bob.logout().unwrap();
    let _ = bob.wait_exit(STEP);
    rt.block_on(server.stop());
    pass(started, "librvp signs off; server stopped");
}
