//! Interop with the real-client captures (`testdata/captures/*.wire.log`): rvp-client reads
//! every message the server sent to a client there.
//!
//! * Every answer the server gave (`SERVER->CLIENT reply to …`) is framed by
//!   [`Reply::parse`] and read by [`rvp_client::reply::interpret`] as the answer to the
//!   request it followed (the request's method and headers give the [`RequestKind`]).
//!   A `2xx` must yield what the session needs (subscription ids, states, view ids, ACLs,
//!   subscription lists); challenges must give a usable Digest challenge. One exception is
//!   named: the capture server's ACL answers whose ACEs lack `a:credentials` (refused by
//!   `rvp-proto` as the Exchange document says) are read as `Interpreted::AclUnreadable`.
//! * Every NOTIFY the server sent to a client's call-back (`SERVER->CLIENT http://…`) is
//!   handed to a [`Session`] as received (bytes, line ends as captured): it must be
//!   answered `200` and turn into a typed event, never a warning.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use rvp_interop::captures;

use std::collections::HashMap;
use std::time::Instant;

use rvp_client::digest::Challenge;
use rvp_client::reply::{Interpreted, interpret};
use rvp_client::{AclRule, Event, MessageKind, Reply, RequestKind, Session, SessionConfig};
use rvp_proto::codec::{RequestParser, Status};
use rvp_proto::url::LogicalUrl;
use rvp_proto::xml::{XmlError, XmlLimits};
use rvp_proto::{Method, PresenceState};

/// The kind of request a captured request is, from its method and headers.
fn kind_of(request: &[u8]) -> RequestKind {
    let mut p = RequestParser::default();
    let Status::Complete(m) = p.parse(request).unwrap() else {
        panic!("a complete request")
    };
    let head = m.head();
    let who: LogicalUrl = head
        .typed()
        .unwrap()
        .target
        .logical()
        .unwrap_or_else(|| "http://localhost/instmsg/aliases/x".parse().unwrap());
    let header = |n: &str| head.headers().get_str(n).map(str::trim);
    match head.method().expect("an RVP method") {
        Method::Subscribe => match (header("Notification-Type"), header("Subscription-Id")) {
            (Some("pragma/notify"), _) => RequestKind::Login,
            (_, Some(_)) => RequestKind::RenewWatch { who },
            _ => RequestKind::Watch { who },
        },
        Method::Unsubscribe => RequestKind::Unwatch { who },
        Method::Subscriptions => RequestKind::Watchers,
        Method::Propfind => RequestKind::Properties { who },
        Method::Proppatch => RequestKind::SetState {
            state: PresenceState::Online,
            renewal: false,
        },
        Method::Acl if m.body().is_empty() => RequestKind::ReadAcl,
        Method::Acl => RequestKind::WriteAcl {
            who,
            rule: AclRule::Allow,
        },
        Method::Notify => RequestKind::Message {
            to: who,
            what: MessageKind::Text,
        },
        other => panic!("unexpected method {other:?}"),
    }
}

#[test]
fn every_server_to_client_message_of_the_captures_is_read() {
    let mut answers: HashMap<&'static str, usize> = HashMap::new();
    let mut notifies: HashMap<&'static str, usize> = HashMap::new();
    for file in captures::capture_files() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let mut last_request: HashMap<String, Vec<u8>> = HashMap::new();
        for b in captures::read_blocks(&file) {
            let at = format!("{name}:{} {} {}", b.line, b.direction, b.peer);
            if b.direction == "CLIENT->SERVER" && !b.is_response() {
                last_request.insert(b.peer.clone(), b.bytes.clone());
                continue;
            }
            if b.direction != "SERVER->CLIENT" {
                continue;
            }
            if let Some(peer) = b.peer.strip_prefix("reply to ") {
                let request = last_request
                    .get(peer)
                    .unwrap_or_else(|| panic!("{at}: no request before this answer"));
                let kind = kind_of(request);
                let reply = Reply::parse(&b.bytes).unwrap_or_else(|e| panic!("{at}: {e}"));
                if reply.status == 401 {
                    Challenge::select(reply.challenges.iter().map(String::as_str))
                        .unwrap_or_else(|e| panic!("{at}: challenge: {e}"));
                }
                let answer = interpret(&kind, &reply, &XmlLimits::default())
                    .unwrap_or_else(|e| panic!("{at}: {kind:?}: {e}"));
                let label = match (&kind, &answer) {
                    (_, Interpreted::Refused(_)) => "refused",
                    (RequestKind::Login, Interpreted::Subscribed { .. }) => "login",
                    (RequestKind::Watch { .. }, Interpreted::Subscribed { properties, .. }) => {
                        assert!(
                            properties.as_ref().is_some_and(|p| p.state.is_some()),
                            "{at}: a new watch's 207 names the state"
                        );
                        "watch"
                    }
                    (RequestKind::RenewWatch { .. }, Interpreted::Subscribed { .. }) => "renewal",
                    (RequestKind::SetState { .. }, Interpreted::Properties(p)) => {
                        assert!(p.state.is_some(), "{at}");
                        "state"
                    }
                    (RequestKind::Properties { .. }, Interpreted::Properties(_)) => "propfind",
                    (RequestKind::Watchers, Interpreted::Subscriptions(_)) => "subscriptions",
                    (RequestKind::ReadAcl | RequestKind::WriteAcl { .. }, Interpreted::Acl(_)) => {
                        "acl"
                    }
                    // The capture's throw-away server wrote ACEs without a:credentials,
                    // which rvp-proto refuses (PROTOCOL.md §2.7); the request succeeded.
                    (
                        RequestKind::ReadAcl | RequestKind::WriteAcl { .. },
                        Interpreted::AclUnreadable(XmlError::CredentialsNotSpecified),
                    ) => "acl without credentials",
                    (RequestKind::Unwatch { .. }, Interpreted::Done) => "unsubscribe",
                    (RequestKind::Message { .. }, Interpreted::Done) => "notify",
                    other => panic!("{at}: unexpected {other:?}"),
                };
                *answers.entry(label).or_default() += 1;
            } else if b.peer.starts_with("http://") {
                let me = "http://localhost/instmsg/aliases/someone".parse().unwrap();
                let mut session = Session::new(SessionConfig::new(me)).unwrap();
                let answer = session.handle_notify_bytes(Instant::now(), &b.bytes);
                assert_eq!(answer.status(), 200, "{at}");
                let events: Vec<Event> = std::iter::from_fn(|| session.poll_event()).collect();
                assert_eq!(events.len(), 1, "{at}: {events:?}");
                let label = match &events[0] {
                    Event::Presence { .. } => "presence",
                    Event::Message { text, .. } => {
                        assert!(!text.is_empty(), "{at}");
                        "message"
                    }
                    Event::Typing { .. } => "typing",
                    Event::Joined { .. } => "join",
                    Event::Left { .. } => "leave",
                    other => panic!("{at}: unexpected {other:?}"),
                };
                *notifies.entry(label).or_default() += 1;
            }
        }
    }
    eprintln!("answers read: {answers:?}\nNOTIFYs read: {notifies:?}");
    for label in [
        "login",
        "watch",
        "state",
        "propfind",
        "subscriptions",
        "acl without credentials",
        "notify",
        "renewal",
    ] {
        assert!(
            answers.get(label).is_some_and(|n| *n > 0),
            "no {label} answer in the captures"
        );
    }
    for label in ["presence", "message", "typing"] {
        assert!(
            notifies.get(label).is_some_and(|n| *n > 0),
            "no {label} NOTIFY in the captures"
        );
    }
}
