//! Property tests at the wire level: random sequences of RVP requests, built with
//! `rvp_proto`'s writers (well-formed, malformed and arbitrary headers and bodies), go
//! through `rvp_proto::codec` and `Engine::handle_request`. Nothing panics; every request
//! gets exactly one answer; every answer's bytes frame back as a response with the same
//! status and a body that parses as the XML it claims; every NOTIFY the engine asks for
//! writes and frames back as a request.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
mod wire;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use http::StatusCode;
use proptest::prelude::*;
use rvp_presence::{
    Caller, DeliveryOutcome, DirectoryProperties, Engine, Output, Policy, RequestId,
};
use rvp_proto::codec::{RequestParser, decode_request, write_request};
use rvp_proto::xml::{
    Ace, AcePrincipal, Contact, Message, MimeData, MultiStatus, Notification, PropFind, PropName,
    Property, PropertyUpdate, RvpAcl, StateValue, Subscriptions, XmlBody,
};
use rvp_proto::{CredentialKind, CredentialSet, PresenceState, RightSet};

use common::{HOST, key, url};

const PEOPLE: [&str; 3] = ["alice", "bob", "carol"];
const METHODS: [&str; 10] = [
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "SUBSCRIPTIONS",
    "PROPFIND",
    "PROPPATCH",
    "NOTIFY",
    "ACL",
    "GET",
    "COPY",
    "LOCK",
];

#[derive(Debug, Clone)]
enum Body {
    Empty,
    PropFind(usize),
    State {
        state: usize,
        timeout: Option<u32>,
        view: Option<u32>,
        extra: bool,
    },
    Acl {
        who: Option<usize>,
        grant: u16,
        deny: u16,
        creds: u8,
    },
    Message(String),
    Bytes(Vec<u8>),
    /// A valid body cut short.
    Truncated(usize, usize),
}

#[derive(Debug, Clone)]
enum Op {
    Request {
        method: usize,
        node: usize,
        caller: usize,
        /// Add the headers and body the method needs, with valid values (mostly).
        plausible: bool,
        pick: usize,
        headers: Vec<(usize, usize)>,
        body: Body,
    },
    Advance(u32),
    Report {
        pick: usize,
        outcome: usize,
    },
}

fn body_strategy() -> impl Strategy<Value = Body> {
    prop_oneof![
        Just(Body::Empty),
        (0usize..4).prop_map(Body::PropFind),
        (
            0usize..10,
            proptest::option::of(0u32..20_000),
            proptest::option::of(0u32..40),
            any::<bool>()
        )
            .prop_map(|(state, timeout, view, extra)| Body::State {
                state,
                timeout,
                view,
                extra
            }),
        (
            proptest::option::of(0usize..4),
            any::<u16>(),
            any::<u16>(),
            0u8..16
        )
            .prop_map(|(who, grant, deny, creds)| Body::Acl {
                who,
                grant,
                deny,
                creds
            }),
        "[ -~]{0,40}".prop_map(Body::Message),
        proptest::collection::vec(any::<u8>(), 0..80).prop_map(Body::Bytes),
        (0usize..3, 0usize..200).prop_map(|(k, n)| Body::Truncated(k, n)),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (
            (
                prop_oneof![9 => 0usize..7, 1 => 7usize..METHODS.len()],
                prop_oneof![8 => 0usize..3, 1 => 3usize..5],
                prop_oneof![4 => 0usize..3, 1 => 3usize..5],
            ),
            proptest::bool::weighted(0.8),
            any::<usize>(),
            prop_oneof![
                3 => Just(Vec::new()),
                1 => proptest::collection::vec((0usize..9, 0usize..8), 1..4),
            ],
            body_strategy()
        )
            .prop_map(|((method, node, caller), plausible, pick, headers, body)| Op::Request {
                method,
                node,
                caller,
                plausible,
                pick,
                headers,
                body
            }),
        1 => prop_oneof![4 => 0u32..120, 1 => 0u32..20_000].prop_map(Op::Advance),
        2 => (any::<usize>(), 0usize..3).prop_map(|(pick, outcome)| Op::Report { pick, outcome }),
    ]
}

const STATES: [PresenceState; 10] = [
    PresenceState::Online,
    PresenceState::Offline,
    PresenceState::Away,
    PresenceState::Busy,
    PresenceState::BackSoon,
    PresenceState::OnPhone,
    PresenceState::AtLunch,
    PresenceState::Idle,
    PresenceState::Invisible,
    PresenceState::Online,
];

fn rights(bits: u16) -> RightSet {
    rvp_proto::Right::ALL_RIGHTS
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, r)| *r)
        .collect()
}

fn credentials(bits: u8) -> CredentialSet {
    [
        CredentialKind::Assertion,
        CredentialKind::Digest,
        CredentialKind::Ntlm,
        CredentialKind::Internal,
    ]
    .iter()
    .enumerate()
    .filter(|(i, _)| bits & (1 << i) != 0)
    .map(|(_, k)| *k)
    .collect()
}

fn body_bytes(body: &Body) -> Vec<u8> {
    match body {
        Body::Empty => Vec::new(),
        Body::PropFind(k) => match k {
            0 => PropFind::AllProp,
            1 => PropFind::PropName,
            2 => PropFind::Prop(vec![PropName::DisplayName, PropName::State]),
            _ => PropFind::Prop(vec![PropName::new("urn:x", "y"), PropName::Email]),
        }
        .to_bytes(),
        Body::State {
            state,
            timeout,
            view,
            extra,
        } => {
            let s = STATES[*state].clone();
            let mut v = match timeout {
                Some(t) => StateValue::leased(s, PresenceState::Offline, Some(*t)),
                None => StateValue::bare(s),
            };
            if let Some(view) = view {
                v = v.with_view_id(view.to_string());
            }
            let mut props = vec![Property::state(v)];
            if *extra {
                props.push(Property::text(PropName::DisplayName, "Mallory"));
            }
            PropertyUpdate::set(props).to_bytes()
        }
        Body::Acl {
            who,
            grant,
            deny,
            creds,
        } => RvpAcl {
            inheritance: None,
            aces: vec![Ace {
                principal: match who {
                    Some(i) if *i < 3 => AcePrincipal::Url(url(PEOPLE[*i])),
                    Some(_) => AcePrincipal::Url("http://elsewhere/instmsg/aliases/x".into()),
                    None => AcePrincipal::AllPrincipals,
                },
                credentials: credentials(*creds),
                grant: rights(*grant),
                deny: rights(*deny),
            }],
        }
        .to_bytes(),
        Body::Message(text) => Notification::Message(Message {
            from: Contact::new(url("alice"), "Alice"),
            to: vec![Contact::new(url("bob"), "Bob")],
            mime_data: MimeData::new(format!(
                "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n{text}"
            )),
        })
        .to_bytes(),
        Body::Bytes(b) => b.clone(),
        Body::Truncated(k, n) => {
            let full = body_bytes(&match k {
                0 => Body::PropFind(2),
                1 => Body::State {
                    state: 0,
                    timeout: Some(1200),
                    view: None,
                    extra: false,
                },
                _ => Body::Acl {
                    who: None,
                    grant: 3,
                    deny: 0,
                    creds: 1,
                },
            });
            full[..(*n).min(full.len())].to_vec()
        }
    }
}

/// A header from the pool: (name, value) by index; values include malformed ones.
fn header(name: usize, value: usize, issued: &[String]) -> (&'static str, String) {
    let v = |opts: &[&str]| opts[value % opts.len()].to_owned();
    match name {
        0 => (
            "Notification-Type",
            v(&[
                "pragma/notify",
                "update/propchange",
                "x/y",
                "",
                "update/propchange",
            ]),
        ),
        1 => (
            "Call-Back",
            match value % 5 {
                0 => format!("http://10.0.0.{value}:{}", 1000 + value),
                1 => url(PEOPLE[value % 3]),
                2 => "garbage".into(),
                3 => "http://remote.example.org/instmsg/aliases/w".into(),
                _ => "http://10.0.0.9:5060".into(),
            },
        ),
        2 => (
            "Subscription-Lifetime",
            v(&["60", "14400", "0", "99999999999", "soon", "40", "14000"]),
        ),
        3 => (
            "Subscription-Id",
            match value % 4 {
                0 | 1 if !issued.is_empty() => issued[value % issued.len()].clone(),
                2 => "9A504".into(),
                _ => "0".into(),
            },
        ),
        4 => ("Depth", v(&["0", "1", "infinity", "x"])),
        5 => ("RVP-Hop-Count", v(&["1", "2", "7", "8", "0", "x"])),
        6 => (
            "RVP-Ack-Type",
            v(&["SingleHop", "DeepOr", "DeepAnd", "Maybe"]),
        ),
        7 => (
            "RVP-From-Principal",
            v(&[
                "http://im.example.com/instmsg/aliases/mallory",
                "im.example.com",
                "not a principal",
            ]),
        ),
        _ => ("Content-Type", v(&["text/xml", "text/plain"])),
    }
}

/// The headers and body a method needs, valid but for the odd pick.
fn plausible_parts(
    method: &str,
    caller: usize,
    pick: usize,
    issued: &[String],
    body: &Body,
) -> (Vec<(&'static str, String)>, Body) {
    let me = url(PEOPLE[caller % 3]);
    let id = if issued.is_empty() {
        "1".to_owned()
    } else {
        issued[pick % issued.len()].clone()
    };
    match method {
        "SUBSCRIBE" if pick.is_multiple_of(5) => (
            vec![
                ("Subscription-Id", id),
                ("Subscription-Lifetime", "14400".into()),
            ],
            Body::Empty,
        ),
        "SUBSCRIBE" => {
            let (kind, cb) = if pick % 5 < 4 {
                (
                    "pragma/notify",
                    format!("http://10.0.0.{}:4000", caller + 1),
                )
            } else {
                ("update/propchange", me)
            };
            (
                vec![
                    ("Notification-Type", kind.into()),
                    ("Call-Back", cb),
                    ("Subscription-Lifetime", ["60", "14400"][pick % 2].into()),
                ],
                Body::Empty,
            )
        }
        "UNSUBSCRIBE" => (vec![("Subscription-Id", id)], Body::Empty),
        "SUBSCRIPTIONS" => (
            vec![(
                "Notification-Type",
                ["pragma/notify", "update/propchange"][pick % 2].into(),
            )],
            Body::Empty,
        ),
        "PROPFIND" => (vec![("Depth", "0".into())], Body::PropFind(pick % 4)),
        "PROPPATCH" => (
            Vec::new(),
            match body {
                Body::State { .. } => body.clone(),
                _ => Body::State {
                    state: pick % 10,
                    timeout: Some(1200),
                    view: None,
                    extra: false,
                },
            },
        ),
        "NOTIFY" => (
            vec![
                ("RVP-Hop-Count", "1".into()),
                (
                    "RVP-Ack-Type",
                    ["SingleHop", "DeepOr", "DeepAnd"][pick % 3].into(),
                ),
            ],
            Body::Message(format!("message {pick}")),
        ),
        "ACL" => (
            Vec::new(),
            match body {
                Body::Acl { .. } | Body::Empty => body.clone(),
                _ => Body::Empty,
            },
        ),
        _ => (Vec::new(), body.clone()),
    }
}

fn run(ops: &[Op]) {
    let t0 = Instant::now();
    let mut e = Engine::new(Policy::default(), t0).unwrap();
    for p in PEOPLE {
        e.register_principal(
            key(p),
            DirectoryProperties::new(p, &format!("{p}@example.com")),
        )
        .unwrap();
    }
    let mut now = t0;
    let mut next = 0u64;
    let mut pending: HashSet<RequestId> = HashSet::new();
    let mut issued: Vec<String> = Vec::new();
    let mut deliveries = Vec::new();
    // Everybody logs in and watches everybody else, so that state changes and messages
    // have somewhere to go.
    let mut setup = Vec::new();
    for caller in 0..3 {
        setup.push(Op::Request {
            method: 0,
            node: caller,
            caller,
            plausible: true,
            pick: 1,
            headers: Vec::new(),
            body: Body::Empty,
        });
        for node in (0..3).filter(|n| *n != caller) {
            setup.push(Op::Request {
                method: 0,
                node,
                caller,
                plausible: true,
                pick: 4,
                headers: Vec::new(),
                body: Body::Empty,
            });
        }
    }
    for op in setup.iter().chain(ops) {
        match op {
            Op::Request {
                method,
                node,
                caller,
                plausible,
                pick,
                headers,
                body,
            } => {
                let method = METHODS[*method];
                let (needed, body) = if *plausible {
                    plausible_parts(method, *caller, *pick, &issued, body)
                } else {
                    (Vec::new(), body.clone())
                };
                // Most plausible requests that only an owner makes go to the caller's node.
                let owner_op = matches!(
                    method,
                    "SUBSCRIBE" | "UNSUBSCRIBE" | "SUBSCRIPTIONS" | "PROPPATCH" | "ACL"
                );
                let node = if *plausible && owner_op && pick % 3 != 0 && *caller < 3 {
                    caller
                } else {
                    node
                };
                let target = match node {
                    n @ 0..3 => format!("/instmsg/aliases/{}", PEOPLE[*n]),
                    3 => "/instmsg/aliases/nobody".to_owned(),
                    _ => "/".to_owned(),
                };
                let mut b = http::Request::builder()
                    .method(method)
                    .uri(&target)
                    .header("Host", HOST);
                if *caller < 3 {
                    b = b.header("RVP-From-Principal", url(PEOPLE[*caller]));
                }
                let extra = headers.iter().map(|(n, v)| header(*n, *v, &issued));
                for (name, value) in needed.into_iter().chain(extra) {
                    if let Ok(value) = http::HeaderValue::from_str(&value) {
                        b = b.header(name, value);
                    }
                }
                let req = b.body(body_bytes(&body)).unwrap();
                let mut buf = BytesMut::new();
                write_request(&req, &mut buf);
                let req = decode_request(&mut RequestParser::default(), &mut buf)
                    .expect("our writer's request frames")
                    .expect("complete");
                // Callers 0-2 authenticated as themselves, 3 asserted only, 4 anonymous.
                let auth = (*caller < 3).then(|| (url(PEOPLE[*caller]), CredentialKind::Digest));
                let who = Caller::from_request(
                    &req,
                    auth.as_ref().map(|(u, k)| (u.as_str(), *k)),
                    Some("192.0.2.1".parse().unwrap()),
                );
                next += 1;
                pending.insert(RequestId(next));
                e.handle_http(now, RequestId(next), &who, &req);
            }
            Op::Advance(secs) => {
                now += Duration::from_secs(u64::from(*secs));
                e.handle_timeout(now);
            }
            Op::Report { pick, outcome } => {
                if !deliveries.is_empty() {
                    let d: rvp_presence::Delivery = deliveries.swap_remove(pick % deliveries.len());
                    let outcome = [
                        DeliveryOutcome::Delivered,
                        DeliveryOutcome::Failed,
                        DeliveryOutcome::LeftConversation,
                    ][*outcome];
                    e.handle_delivery_result(now, d.id(), outcome);
                }
            }
        }
        check_outputs(&mut e, &mut pending, &mut issued, &mut deliveries);
    }
    // Deep acknowledgements still open are decided by the delivery timeout.
    e.handle_timeout(now + Duration::from_secs(86_400));
    check_outputs(&mut e, &mut pending, &mut issued, &mut deliveries);
    assert!(
        pending.is_empty(),
        "requests without an answer: {pending:?}"
    );
}

fn check_outputs(
    e: &mut Engine,
    pending: &mut HashSet<RequestId>,
    issued: &mut Vec<String>,
    deliveries: &mut Vec<rvp_presence::Delivery>,
) {
    while let Some(o) = e.poll_output() {
        match o {
            Output::Respond(a) => {
                assert!(
                    pending.remove(&a.request),
                    "second answer to {:?}",
                    a.request
                );
                let res = wire::answer_response(&a);
                assert_eq!(res.status(), a.outcome.status());
                if let Some(id) = res.headers().get("subscription-id") {
                    issued.push(id.to_str().unwrap().to_owned());
                }
                let ct = res
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap());
                match (res.status(), ct) {
                    (StatusCode::MULTI_STATUS, ct) => {
                        assert_eq!(ct, Some("text/xml"));
                        MultiStatus::parse(res.body()).expect("207 body parses");
                    }
                    (StatusCode::OK, Some("text/xml")) => {
                        let b = res.body();
                        assert!(
                            Subscriptions::parse(b).is_ok() || RvpAcl::parse(b).is_ok(),
                            "200 body parses"
                        );
                    }
                    (StatusCode::OK, None) => assert!(res.body().is_empty()),
                    (s, ct) => {
                        assert!(s.is_client_error() || s.is_server_error(), "{s}");
                        assert_eq!(ct, Some("text/plain"));
                    }
                }
            }
            Output::Deliver(d) => {
                wire::notify(&d);
                deliveries.push(d);
            }
            other => panic!("unexpected output {other:?}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn wire_requests_get_exactly_one_answer_that_parses(
        ops in proptest::collection::vec(op_strategy(), 1..48)
    ) {
        run(&ops);
    }
}

#[test]
fn arbitrary_request_bytes_never_panic() {
    // Whatever frames is answered; whatever does not is the codec's to refuse.
    proptest!(ProptestConfig { cases: 256, ..ProptestConfig::default() }, |(
        method in 0usize..METHODS.len(),
        tail in proptest::collection::vec(any::<u8>(), 0..200),
    )| {
        let t0 = Instant::now();
        let mut e = Engine::new(Policy::default(), t0).unwrap();
        e.register_principal(
            key("alice"),
            DirectoryProperties::new("Alice", "alice@example.com"),
        )
        .unwrap();
        let mut bytes = format!("{} /instmsg/aliases/alice HTTP/1.1\r\nHost: {HOST}\r\n", METHODS[method]).into_bytes();
        bytes.extend_from_slice(&tail);
        bytes.extend_from_slice(b"\r\n\r\n");
        let mut buf = BytesMut::from(&bytes[..]);
        if let Ok(Some(req)) = decode_request(&mut RequestParser::default(), &mut buf) {
            let who = Caller::from_request(&req, None, None);
            e.handle_http(t0, RequestId(1), &who, &req);
            e.handle_timeout(t0 + Duration::from_secs(3600));
            let mut answers = 0;
            while let Some(o) = e.poll_output() {
                if let Output::Respond(a) = o {
                    answers += 1;
                    wire::answer_response(&a);
                }
            }
            prop_assert_eq!(answers, 1);
        }
    });
}
