//! Replays the two-client librvp session of `interop/captures/librvp-alice-bob.wire.log`
//! (read from `../shared/interop/captures`) as engine input, and checks that the engine produces the
//! answers (status codes) and notifications (call-back, hop count, body) the real
//! clients accepted there.
//!
//! Request parsing here is deliberately minimal (string scanning); the real parsers live
//! in `rvp-proto`. The only translation is of ids: the capture's server handed out its own
//! subscription and view ids, which the clients echoed; the replay maps each captured id
//! to the one the engine handed out in the same answer.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use rvp_presence::{
    Ace, AcePrincipal, AckType, Caller, Delivery, DeliveryOutcome, DirectoryProperties, Engine,
    NodeKey, NotifyParams, Output, Policy, PropfindScope, RequestId, Response, StatePatch,
    SubscribeParams, SubscriptionId, SubscriptionKind, ViewId,
};
use rvp_proto::{CredentialKind, CredentialSet, PresenceState, Right, RightSet};

/// The capture, read from `$RVP_CAPTURES_DIR` or `../shared/interop/captures` beside the
/// repository. A missing file fails the test loudly.
fn capture() -> Vec<u8> {
    let dir = match std::env::var_os("RVP_CAPTURES_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/interop/captures")
        }
    };
    let path = dir.join("librvp-alice-bob.wire.log");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "capture {} is missing ({e}): set RVP_CAPTURES_DIR",
            path.display()
        )
    })
}

struct Block<'a> {
    secs: u64,
    direction: &'a str,
    peer: &'a str,
    bytes: &'a [u8],
}

fn blocks(log: &[u8]) -> Vec<Block<'_>> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i < log.len() {
        if log[i..].starts_with(b"===== ") && (i == 0 || log[i - 1] == b'\n') {
            starts.push(i);
        }
        i += 1;
    }
    let mut out = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(log.len());
        let line_end = s + log[s..].iter().position(|b| *b == b'\n').unwrap();
        let head = std::str::from_utf8(&log[s..line_end]).unwrap().trim_end();
        let head = head.trim_start_matches("===== ").trim_end_matches(" =====");
        let mut parts = head.splitn(3, ' ');
        let time = parts.next().unwrap();
        let direction = parts.next().unwrap();
        let peer = parts.next().unwrap_or("");
        let t: Vec<u64> = time.split(':').map(|x| x.parse().unwrap()).collect();
        out.push(Block {
            secs: t[0] * 3600 + t[1] * 60 + t[2],
            direction,
            peer,
            bytes: &log[line_end + 1..end],
        });
    }
    out
}

struct Message<'a> {
    start: String,
    headers: Vec<(String, String)>,
    body: &'a [u8],
}

impl Message<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn message(bytes: &[u8]) -> Message<'_> {
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, p + 4))
        .unwrap_or((bytes.len(), bytes.len()));
    let head = std::str::from_utf8(&bytes[..split.0]).unwrap();
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let rest = &bytes[split.1..];
    let len = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
        .map_or(0, |(_, v)| v.parse::<usize>().unwrap());
    Message {
        start,
        headers,
        body: &rest[..len.min(rest.len())],
    }
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(&s[i..j])
}

fn node_key(path: &str) -> NodeKey {
    NodeKey::new("localhost", path.rsplit('/').next().unwrap()).unwrap()
}

fn state_patch(body: &str, views: &HashMap<u32, ViewId>) -> StatePatch {
    let state_xml = between(body, "<r:state>", "</r:state>").unwrap();
    let name = between(state_xml, "<r:value><r:", "/>")
        .or_else(|| between(state_xml, "<r:", "/>"))
        .unwrap();
    let mut p = StatePatch::leased(PresenceState::from_local_name(name).unwrap(), 0);
    p.timeout_secs = between(state_xml, "timeout>", "<").map(|t| t.parse().unwrap());
    if let Some(v) = between(state_xml, "<r:view-id>", "<") {
        p.view = Some(views[&v.parse::<u32>().unwrap()]);
    }
    p
}

fn rights(xml: &str) -> RightSet {
    xml.split("<a:")
        .filter_map(|t| t.split("/>").next())
        .filter_map(Right::from_local_name)
        .collect()
}

fn aces(body: &str) -> Vec<Ace> {
    body.split("<a:ace>")
        .skip(1)
        .map(|ace| {
            let principal = match between(ace, "<a:rvp-principal>", "<") {
                Some(u) => AcePrincipal::url(u),
                None => AcePrincipal::All,
            };
            let creds = between(ace, "<a:credentials>", "</a:credentials>").unwrap_or("");
            let credentials: CredentialSet = creds
                .split("<a:")
                .filter_map(|t| t.split("/>").next())
                .filter_map(CredentialKind::from_local_name)
                .collect();
            Ace {
                principal,
                credentials,
                grant: between(ace, "<a:grant>", "</a:grant>").map_or(RightSet::EMPTY, rights),
                deny: between(ace, "<a:deny>", "</a:deny>").map_or(RightSet::EMPTY, rights),
            }
        })
        .collect()
}

#[test]
fn librvp_alice_bob_session_replays() {
    let capture = capture();
    let log = blocks(&capture);
    assert!(log.len() > 60, "capture parsed into {} blocks", log.len());
    let t0 = Instant::now();
    let base = log[0].secs;
    let mut e = Engine::new(Policy::default(), t0).unwrap();
    for (alias, name) in [("alice", "Alice"), ("bob", "Bob")] {
        e.register_principal(
            NodeKey::new("localhost", alias).unwrap(),
            DirectoryProperties::new(name, &format!("{alias}@localhost")),
        )
        .unwrap();
    }
    let mut subs: HashMap<u32, SubscriptionId> = HashMap::new();
    let mut views: HashMap<u32, ViewId> = HashMap::new();
    let mut by_peer: HashMap<String, RequestId> = HashMap::new();
    let mut answers: HashMap<RequestId, Response> = HashMap::new();
    let mut sent: VecDeque<Delivery> = VecDeque::new();
    let mut awaiting: Vec<Delivery> = Vec::new();
    let mut next = 0u64;
    let (mut requests, mut notifies_checked) = (0, 0);

    for b in &log {
        let now = t0 + Duration::from_secs(b.secs - base);
        match (b.direction, b.peer) {
            ("START", _) => {}
            ("CLIENT->SERVER", p) if !p.starts_with("reply from") => {
                requests += 1;
                let m = message(b.bytes);
                let mut it = m.start.split(' ');
                let (method, path) = (it.next().unwrap(), it.next().unwrap());
                let from = m.header("RVP-From-Principal").unwrap();
                // librvp authenticated every request by Digest in the verified session.
                let caller = Caller::authenticated(from, CredentialKind::Digest)
                    .with_source("127.0.0.1".parse().unwrap());
                let node = node_key(path);
                next += 1;
                let req = RequestId(next);
                by_peer.insert(p.to_owned(), req);
                let kind = m.header("Notification-Type").map(|t| match t {
                    "pragma/notify" => SubscriptionKind::Notify,
                    _ => SubscriptionKind::PropChange,
                });
                let sub_id = m
                    .header("Subscription-Id")
                    .map(|s| subs[&s.parse::<u32>().unwrap()]);
                let body = std::str::from_utf8(m.body).unwrap();
                match method {
                    "SUBSCRIBE" => {
                        let lifetime = m
                            .header("Subscription-Lifetime")
                            .map(|l| l.parse().unwrap());
                        let mut params = match sub_id {
                            Some(id) => SubscribeParams::renewal(id, 0),
                            None => SubscribeParams::new(
                                kind.unwrap(),
                                m.header("Call-Back").unwrap(),
                                0,
                            ),
                        };
                        params.lifetime_secs = lifetime;
                        e.subscribe(now, req, &caller, &node, params);
                    }
                    "UNSUBSCRIBE" => e.unsubscribe(now, req, &caller, &node, sub_id),
                    "SUBSCRIPTIONS" => e.subscriptions(now, req, &caller, &node, kind),
                    "PROPFIND" => e.propfind(
                        now,
                        req,
                        &caller,
                        &node,
                        m.header("Depth"),
                        PropfindScope::Named,
                    ),
                    "PROPPATCH" => {
                        e.proppatch_state(now, req, &caller, &node, state_patch(body, &views))
                    }
                    "ACL" if m.body.is_empty() => e.acl_read(now, req, &caller, &node),
                    "ACL" => e.acl_write(now, req, &caller, &node, aces(body)),
                    "NOTIFY" => {
                        let hop = m.header("RVP-Hop-Count").map_or(1, |h| h.parse().unwrap());
                        let ack = match m.header("RVP-Ack-Type") {
                            Some("DeepOr") => AckType::DeepOr,
                            Some("DeepAnd") => AckType::DeepAnd,
                            _ => AckType::SingleHop,
                        };
                        e.notify(
                            now,
                            req,
                            &caller,
                            &node,
                            NotifyParams::new(hop, ack, Bytes::copy_from_slice(m.body)),
                        );
                    }
                    other => panic!("unexpected method {other}"),
                }
            }
            ("CLIENT->SERVER", p) => {
                // A client's answer to a NOTIFY: report it for the oldest delivery to it.
                let cb = p.trim_start_matches("reply from ");
                let m = message(b.bytes);
                let code: u16 = m.start.split(' ').nth(1).unwrap().parse().unwrap();
                let i = awaiting
                    .iter()
                    .position(|d| &**d.callback() == cb)
                    .expect("a delivery awaits this answer");
                let d = awaiting.remove(i);
                e.handle_delivery_result(
                    now,
                    d.id(),
                    DeliveryOutcome::from_status(StatusCode::from_u16(code).unwrap()),
                );
            }
            ("SERVER->CLIENT", p) if p.starts_with("reply to ") => {
                let req = by_peer[p.trim_start_matches("reply to ")];
                let m = message(b.bytes);
                let code: u16 = m.start.split(' ').nth(1).unwrap().parse().unwrap();
                let ours = answers
                    .remove(&req)
                    .unwrap_or_else(|| panic!("no answer yet for {p} ({})", m.start));
                assert_eq!(ours.status().as_u16(), code, "{p}: ours {ours:?}");
                // Map the ids the capture's server handed out to ours.
                if let (
                    Some(theirs),
                    Response::Subscribed { id, .. } | Response::Renewed { id, .. },
                ) = (m.header("Subscription-Id"), &ours)
                {
                    subs.insert(theirs.parse().unwrap(), *id);
                }
                if let Response::StateSet { view, .. } = &ours {
                    let body = std::str::from_utf8(m.body).unwrap();
                    let theirs: u32 = between(body, "<r:view-id>", "<").unwrap().parse().unwrap();
                    views.insert(theirs, *view);
                }
                if let Response::Subscribed {
                    properties: Some(p),
                    ..
                } = &ours
                {
                    // The 207 body's state as the client saw it.
                    let body = std::str::from_utf8(m.body).unwrap_or("");
                    if let Some(s) = between(body, "<r:state><r:", "/>") {
                        assert_eq!(p.state.local_name(), s);
                    }
                }
            }
            ("SERVER->CLIENT", cb) => {
                // A NOTIFY the clients accepted: we must have produced the same one.
                let m = message(b.bytes);
                let i = sent
                    .iter()
                    .position(|d| &**d.callback() == cb)
                    .unwrap_or_else(|| {
                        panic!("engine sent no NOTIFY to {cb} at {}", b.secs - base)
                    });
                let d = sent.remove(i).unwrap();
                assert_eq!(
                    d.hop_count().to_string(),
                    m.header("RVP-Hop-Count").unwrap()
                );
                match d.relayed_body() {
                    Some(bytes) => assert_eq!(&bytes[..], m.body, "relayed body differs"),
                    None => {
                        let theirs = std::str::from_utf8(m.body).unwrap();
                        let ours = String::from_utf8(d.body_bytes().to_vec()).unwrap();
                        for (start, end) in [
                            ("<r:notification-from><r:contact><d:href>", "<"),
                            ("<r:notification-to><r:contact><d:href>", "<"),
                            ("<r:state><r:", "/>"),
                        ] {
                            assert_eq!(
                                between(&ours, start, end),
                                between(theirs, start, end),
                                "{start}"
                            );
                        }
                    }
                }
                notifies_checked += 1;
                awaiting.push(d);
            }
            other => panic!("unexpected block {other:?}"),
        }
        while let Some(o) = e.poll_output() {
            match o {
                Output::Respond(a) => {
                    let a = *a;
                    assert!(
                        answers.insert(a.request, a.response).is_none(),
                        "two answers"
                    );
                }
                Output::Deliver(d) => sent.push_back(d),
                _ => panic!("unexpected output"),
            }
        }
    }
    assert!(
        sent.is_empty(),
        "engine sent NOTIFYs the capture does not have: {sent:?}"
    );
    assert!(answers.is_empty(), "unmatched answers: {answers:?}");
    assert!(requests >= 30, "{requests} requests replayed");
    assert_eq!(notifies_checked, 7, "NOTIFYs matched");
}
