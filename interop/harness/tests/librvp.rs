//! The harness against the real librvp, with a throw-away responder standing in for a server.
//!
//! librvp only talks to port 80, so each test re-runs itself inside a private network
//! namespace (`rvp_interop::netns::run_isolated`: `unshare --net`, needs root and `ip` from
//! iproute2) where it can bind 127.0.0.1:80 without meeting anything else on the machine.
//! Without a namespace it binds the machine's 127.0.0.1:80 directly, one test at a time.
//! Under `CI=true` nothing is skipped.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod support {
    pub(crate) mod mini_rvp;
}

use std::time::Duration;

use rvp_interop::event::status;
use rvp_interop::netns::{inside, run_isolated};
use rvp_interop::{Event, Frontend, PurpleClient, PurpleOptions};
use rvp_proto::state::PresenceState;
use support::mini_rvp::MiniRvp;

const T: Duration = Duration::from_secs(15);

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Runs `body` with the front end in a private network namespace (see `rvp_interop::netns`).
fn isolated(test: &str, body: fn(Frontend)) {
    let Some(frontend) = Frontend::require() else {
        return;
    };
    run_isolated(test, Some(&frontend), || body(frontend.clone()));
}

fn start_server() -> Option<MiniRvp> {
    match MiniRvp::start("127.0.0.1:80") {
        Ok(server) => Some(server),
        Err(err) => {
            assert!(!in_ci(), "CI=true: cannot bind 127.0.0.1:80: {err}");
            eprintln!("\n*** SKIPPED: cannot bind 127.0.0.1:80 ({err}); librvp needs port 80.\n");
            None
        }
    }
}

#[test]
fn librvp_signs_on_changes_state_and_signs_off() {
    isolated("librvp_signs_on_changes_state_and_signs_off", |frontend| {
        let Some(server) = start_server() else { return };
        let options = PurpleOptions::new("alice@localhost")
            .password("secret")
            .frontend(frontend)
            .debug(true);
        let mut alice = PurpleClient::sign_on(options, T).unwrap();

        alice.set_state(&PresenceState::Busy).unwrap();
        alice
            .expect(
                |e| {
                    *e == Event::AccountStatus {
                        state: PresenceState::Busy,
                    }
                },
                T,
            )
            .unwrap();
        alice.set_state(&PresenceState::Away).unwrap();
        alice
            .expect(
                |e| {
                    *e == Event::AccountStatus {
                        state: PresenceState::Away,
                    }
                },
                T,
            )
            .unwrap();
        // The PROPPATCH for `away` goes out asynchronously: a round trip through the front
        // end's command queue orders it before the logout.
        alice.command("ping sync").unwrap();
        alice
            .expect(|e| matches!(e, Event::Pong { text } if text == "sync"), T)
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));

        let reason = alice.logout_and_wait(T).unwrap();
        assert_eq!(reason, "logout");
        let transcript = alice.transcript();
        for line in ["signed-on", "signing-off", "signed-off", "exit logout"] {
            assert!(
                transcript.iter().any(|l| l == line),
                "no `{line}` in {transcript:#?}"
            );
        }

        let seen = server.seen();
        let methods: Vec<&str> = seen.iter().map(|s| s.method.as_str()).collect();
        for method in [
            "SUBSCRIBE",
            "PROPPATCH",
            "PROPFIND",
            "SUBSCRIPTIONS",
            "ACL",
            "UNSUBSCRIBE",
        ] {
            assert!(methods.contains(&method), "no {method} in {seen:#?}");
        }
        let states: Vec<&str> = seen.iter().filter_map(|s| s.state.as_deref()).collect();
        assert_eq!(
            states,
            ["online", "busy", "away", "offline"],
            "states written: {seen:#?}"
        );
        eprintln!(
            "librvp session against the mini responder:\n{}",
            transcript.join("\n")
        );
    });
}

#[test]
fn two_librvp_clients_see_each_other_and_chat() {
    isolated("two_librvp_clients_see_each_other_and_chat", |frontend| {
        let Some(_server) = start_server() else {
            return;
        };
        let client = |user: &str| {
            let options = PurpleOptions::new(user)
                .password("secret")
                .frontend(frontend.clone())
                .debug(true);
            PurpleClient::sign_on(options, T).unwrap()
        };
        let mut alice = client("alice@localhost");
        let mut bob = client("bob@localhost");

        alice.add_buddy("bob@localhost").unwrap();
        bob.add_buddy("alice@localhost").unwrap();
        alice
            .expect(
                |e| matches!(e, Event::BuddySignedOn { who } if who == "bob@localhost"),
                T,
            )
            .unwrap();
        bob.expect(
            |e| matches!(e, Event::BuddySignedOn { who } if who == "alice@localhost"),
            T,
        )
        .unwrap();

        bob.set_state(&PresenceState::Busy).unwrap();
        alice
            .expect(status("bob@localhost", PresenceState::Busy), T)
            .unwrap();
        alice.set_state(&PresenceState::Away).unwrap();
        bob.expect(status("alice@localhost", PresenceState::Away), T)
            .unwrap();

        alice.typing("bob@localhost").unwrap();
        bob.expect(
            |e| matches!(e, Event::Typing { who } if who == "alice@localhost"),
            T,
        )
        .unwrap();

        let hello = "Hello Bob & ünïcødé € ✓ — line one\nline two";
        alice.send_im("bob@localhost", hello).unwrap();
        let Event::Im { who, text } = bob.expect(|e| matches!(e, Event::Im { .. }), T).unwrap()
        else {
            unreachable!()
        };
        assert_eq!(who, "alice@localhost");
        let plain = rvp_interop::html_to_text(&text);
        eprintln!("bob got {text:?} -> {plain:?}");
        assert_eq!(plain, hello);

        bob.send_im("alice@localhost", "Grüße zurück").unwrap();
        let Event::Im { who, text } = alice.expect(|e| matches!(e, Event::Im { .. }), T).unwrap()
        else {
            unreachable!()
        };
        assert_eq!(who, "bob@localhost");
        assert_eq!(rvp_interop::html_to_text(&text), "Grüße zurück");

        assert_eq!(alice.logout_and_wait(T).unwrap(), "logout");
        bob.expect(
            |e| matches!(e, Event::BuddySignedOff { who } if who == "alice@localhost"),
            T,
        )
        .unwrap();
        assert_eq!(bob.logout_and_wait(T).unwrap(), "logout");
        eprintln!("bob's session:\n{}", bob.transcript().join("\n"));
    });
}

#[test]
fn librvp_reports_an_unreachable_server() {
    isolated("librvp_reports_an_unreachable_server", |frontend| {
        // Nothing listens on port 80 in a fresh namespace; on the host, check.
        if !inside() && std::net::TcpStream::connect(("127.0.0.1", 80)).is_ok() {
            assert!(!in_ci(), "CI=true: something listens on 127.0.0.1:80");
            eprintln!("*** SKIPPED: something listens on 127.0.0.1:80");
            return;
        }
        let options = PurpleOptions::new("carol@localhost")
            .password("x")
            .frontend(frontend);
        let mut carol = PurpleClient::spawn(options).unwrap();
        let err = carol.wait_signed_on(T).unwrap_err();
        assert!(
            matches!(
                &err,
                rvp_interop::HarnessError::Aborted {
                    event: Event::ConnectionError { .. },
                    ..
                }
            ),
            "{err}"
        );
        carol
            .expect(|e| matches!(e, Event::Exit { .. }), T)
            .unwrap();
        carol.wait_exit(T).unwrap();
    });
}

#[test]
fn commands_are_checked() {
    let Some(frontend) = Frontend::require() else {
        return;
    };
    let options = PurpleOptions::new("dave@localhost")
        .frontend(frontend)
        .no_login();
    let mut dave = PurpleClient::spawn(options).unwrap();
    dave.expect(
        |e| matches!(e, Event::Ready { user, .. } if user == "dave@localhost"),
        T,
    )
    .unwrap();
    dave.command("ping hé ho").unwrap();
    assert_eq!(
        dave.expect(|e| matches!(e, Event::Pong { .. }), T).unwrap(),
        Event::Pong {
            text: "hé ho".into()
        }
    );
    dave.command("status no-such-state").unwrap();
    assert!(matches!(
        dave.expect(|e| matches!(e, Event::Error { .. }), T).unwrap(),
        Event::Error { command, .. } if command == "status"
    ));
    dave.send_im("bob@localhost", "not signed on").unwrap();
    assert!(matches!(
        dave.expect(|e| matches!(e, Event::Error { .. }), T).unwrap(),
        Event::Error { command, text } if command == "im" && text == "not signed on"
    ));
    assert!(dave.command("two\nlines").is_err());
    dave.quit().unwrap();
    assert_eq!(
        dave.expect(|e| matches!(e, Event::Exit { .. }), T).unwrap(),
        Event::Exit {
            reason: "quit".into()
        }
    );
    assert!(dave.wait_exit(T).unwrap().success());
}
