//! Replays real client sessions from `interop/captures` (read from `$RVP_CAPTURES_DIR` or
//! `testdata/captures` in the repository; a missing file fails loudly) through
//! the product stack: each captured request's raw bytes are framed by
//! `rvp_proto::codec::decode_request` and handed to `Engine::handle_request`; each answer
//! is written with `Answer::write` and each NOTIFY with `Delivery::write_notify`, framed
//! back with `rvp_proto`'s parsers and compared with what the clients accepted there:
//!
//! * status codes, `Subscription-Id`/`Subscription-Lifetime` presence and granted lifetime;
//! * `207` bodies parsed as `MultiStatus`: `r:state`, `d:displayname`, `r:email` as the
//!   clients saw them; PROPPATCH echoes carry the value asked for and a view id;
//! * NOTIFYs: call-back, request-target, `Host`, hop count, `RVP-From-Principal`; relayed
//!   IM bodies byte for byte; property changes parsed as `Notification` (from, to, state).
//!
//! The only translation is of ids: the capture's server handed out its own subscription
//! and view ids, which the clients echoed; each captured id is mapped to the one the
//! engine handed out in the same answer, and rewritten in later requests.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod wire;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, StatusCode};
use rvp_presence::{
    Answer, Caller, Delivery, DeliveryOutcome, DirectoryProperties, Engine, NodeKey, Output,
    Policy, RequestId,
};
use rvp_proto::codec::{RequestParser, ResponseParser, decode_request, decode_response};
use rvp_proto::xml::{
    MultiStatus, Notification, PropName, PropValue, PropertyUpdate, StateContent, StateValue,
    Subscriptions, XmlBody,
};
use rvp_proto::{CredentialKind, PresenceState};

/// A capture, read from `$RVP_CAPTURES_DIR` or `testdata/captures` in the
/// repository. A missing file fails the test loudly.
fn capture(name: &str) -> Vec<u8> {
    let dir = match std::env::var_os("RVP_CAPTURES_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/captures"),
    };
    let path = dir.join(name);
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
    for i in 0..log.len() {
        if log[i..].starts_with(b"===== ") && (i == 0 || log[i - 1] == b'\n') {
            starts.push(i);
        }
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

/// Frames the request at the front of a block (the log's block separator follows it).
fn frame_request(bytes: &[u8]) -> http::Request<Bytes> {
    let mut buf = BytesMut::from(bytes);
    let req = decode_request(&mut RequestParser::default(), &mut buf)
        .expect("captured request frames")
        .expect("captured request complete");
    assert!(
        buf.iter().all(u8::is_ascii_whitespace),
        "one request per block"
    );
    req
}

/// Frames a captured response (librvp answers NOTIFYs without `Content-Length`: the body
/// ends with the block).
fn frame_response(bytes: &[u8]) -> http::Response<Bytes> {
    let mut buf = BytesMut::from(bytes);
    decode_response(&mut ResponseParser::default(), &mut buf, true)
        .expect("captured response frames")
        .expect("captured response complete")
}

fn hdr<'a>(h: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).map(|v| v.to_str().expect("ASCII header"))
}

/// The 200 properties of a multistatus: state (effective element), display name, e-mail.
fn shown(m: &MultiStatus) -> HashMap<&'static str, String> {
    let mut out = HashMap::new();
    for ps in &m.responses[0].propstats {
        if ps.status.code != StatusCode::OK {
            continue;
        }
        for p in &ps.props {
            match (&p.name, &p.value) {
                (PropName::State, PropValue::State(s)) => {
                    if let StateContent::Bare(v) = &s.content {
                        out.insert("state", v.local_name().to_owned());
                    }
                }
                (PropName::DisplayName, PropValue::Text(t)) => {
                    out.insert("displayname", t.clone());
                }
                (PropName::Email, PropValue::Text(t)) => {
                    out.insert("email", t.clone());
                }
                _ => {}
            }
        }
    }
    out
}

fn echoed_state(m: &MultiStatus) -> StateValue {
    m.responses[0]
        .propstats
        .iter()
        .flat_map(|ps| &ps.props)
        .find_map(|p| match &p.value {
            PropValue::State(s) => Some(s.clone()),
            _ => None,
        })
        .expect("PROPPATCH echo has r:state")
}

fn value_of(s: &StateValue) -> PresenceState {
    match &s.content {
        StateContent::Bare(v) => v.clone(),
        StateContent::Leased(l) => l.value.clone(),
        other => panic!("unexpected state content {other:?}"),
    }
}

/// Rewrites `<r:view-id>theirs</r:view-id>` to ours in a request body.
fn translate_views(body: &Bytes, views: &HashMap<String, String>) -> Bytes {
    let text = std::str::from_utf8(body).expect("UTF-8 body");
    let mut out = text.to_owned();
    for (theirs, ours) in views {
        out = out.replace(
            &format!("<r:view-id>{theirs}</r:view-id>"),
            &format!("<r:view-id>{ours}</r:view-id>"),
        );
    }
    Bytes::from(out)
}

#[derive(Debug, Default)]
struct Counts {
    requests: usize,
    answers: usize,
    notifies: usize,
    relays: usize,
    redundant: usize,
    dropped: usize,
    /// `offline` NOTIFYs the engine sent to a watcher an ACL write just hid presence from
    /// (the capture's server sent none: it kept showing the last state).
    hidden: usize,
}

struct Pending {
    id: RequestId,
    method: String,
    body: Bytes,
}

fn replay(file: &str, policy: Policy) -> Counts {
    let capture = capture(file);
    let log = blocks(&capture);
    assert!(log.len() > 40, "{file}: {} blocks", log.len());
    let t0 = Instant::now();
    let base = log[0].secs;
    let mut e = Engine::new(policy, t0).unwrap();
    for (alias, name) in [("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")] {
        e.register_principal(
            NodeKey::new("localhost", alias).unwrap(),
            DirectoryProperties::new(name, &format!("{alias}@example.com")),
        )
        .unwrap();
    }
    let mut subs: HashMap<String, String> = HashMap::new();
    let mut views: HashMap<String, String> = HashMap::new();
    let mut by_peer: HashMap<String, VecDeque<Pending>> = HashMap::new();
    let mut answers: HashMap<RequestId, Answer> = HashMap::new();
    let mut sent: VecDeque<Delivery> = VecDeque::new();
    let mut awaiting: Vec<Delivery> = Vec::new();
    // Captured NOTIFYs the engine rightly did not send, whose client replies to skip.
    let mut unanswered: HashMap<String, usize> = HashMap::new();
    let mut counts = Counts::default();

    for b in &log {
        let now = t0 + Duration::from_secs(b.secs - base);
        let at = b.secs - base;
        let mut acl_write = false;
        match (b.direction, b.peer) {
            ("START", _) => {}
            ("CLIENT->SERVER", p) if !p.starts_with("reply from") => {
                counts.requests += 1;
                let mut req = frame_request(b.bytes);
                if let Some(theirs) = hdr(req.headers(), "subscription-id")
                    && let Some(ours) = subs.get(theirs)
                {
                    let v = HeaderValue::from_str(ours).unwrap();
                    req.headers_mut().insert("subscription-id", v);
                }
                if req.method() == "PROPPATCH" {
                    *req.body_mut() = translate_views(req.body(), &views);
                }
                let from = hdr(req.headers(), "rvp-from-principal")
                    .expect("clients assert themselves")
                    .to_owned();
                // The clients authenticated every request by Digest in these sessions.
                let caller = Caller::from_request(
                    &req,
                    Some((&from, CredentialKind::Digest)),
                    Some("127.0.0.1".parse().unwrap()),
                );
                let id = RequestId(counts.requests as u64);
                acl_write = req.method() == "ACL" && !req.body().is_empty();
                e.handle_http(now, id, &caller, &req);
                by_peer.entry(p.to_owned()).or_default().push_back(Pending {
                    id,
                    method: req.method().as_str().to_owned(),
                    body: req.body().clone(),
                });
            }
            ("DROP", _) => {
                // "callback <url> failed: ...": the delivery failed (connection refused).
                let text = std::str::from_utf8(b.bytes).unwrap();
                let cb = text
                    .trim()
                    .strip_prefix("callback ")
                    .and_then(|t| t.split(' ').next())
                    .expect("DROP names the call-back");
                if let Some(i) = awaiting.iter().position(|d| d.callback().as_str() == cb) {
                    let d = awaiting.remove(i);
                    e.handle_delivery_result(now, d.id(), DeliveryOutcome::Failed);
                } else {
                    let n = unanswered
                        .get_mut(cb)
                        .expect("a NOTIFY to the dropped call-back");
                    *n -= 1;
                }
                counts.dropped += 1;
            }
            ("CLIENT->SERVER", p) => {
                // A client's answer to a NOTIFY: report it for the oldest delivery to it.
                let cb = p.trim_start_matches("reply from ");
                let res = frame_response(b.bytes);
                if !awaiting.iter().any(|d| d.callback().as_str() == cb)
                    && let Some(n) = unanswered.get_mut(cb).filter(|n| **n > 0)
                {
                    *n -= 1;
                    continue;
                }
                let i = awaiting
                    .iter()
                    .position(|d| d.callback().as_str() == cb)
                    .unwrap_or_else(|| panic!("{file} @{at}s: no delivery awaits {cb}"));
                let d = awaiting.remove(i);
                e.handle_delivery_result(now, d.id(), DeliveryOutcome::from_status(res.status()));
            }
            ("SERVER->CLIENT", p) if p.starts_with("reply to ") => {
                counts.answers += 1;
                let pending = by_peer
                    .get_mut(p.trim_start_matches("reply to "))
                    .and_then(VecDeque::pop_front)
                    .unwrap_or_else(|| panic!("{file} @{at}s: reply to an unknown request"));
                let theirs = frame_response(b.bytes);
                let answer = answers.remove(&pending.id).unwrap_or_else(|| {
                    panic!("{file} @{at}s: no answer yet for {}", pending.method)
                });
                let ours = wire::answer_response(&answer);
                let what = format!("{file} @{at}s {} ({:?})", pending.method, answer.outcome);
                assert_eq!(ours.status(), theirs.status(), "{what}");
                for h in ["subscription-id", "subscription-lifetime"] {
                    assert_eq!(
                        hdr(ours.headers(), h).is_some(),
                        hdr(theirs.headers(), h).is_some(),
                        "{what}: {h}"
                    );
                }
                assert_eq!(
                    hdr(ours.headers(), "subscription-lifetime"),
                    hdr(theirs.headers(), "subscription-lifetime"),
                    "{what}: granted lifetime"
                );
                if let (Some(t), Some(o)) = (
                    hdr(theirs.headers(), "subscription-id"),
                    hdr(ours.headers(), "subscription-id"),
                ) {
                    subs.insert(t.to_owned(), o.to_owned());
                }
                if ours.status() == StatusCode::MULTI_STATUS {
                    let o = MultiStatus::parse(ours.body()).expect("our 207 parses");
                    let t = MultiStatus::parse(theirs.body()).expect("their 207 parses");
                    assert_eq!(o.responses[0].href, t.responses[0].href, "{what}");
                    if pending.method == "PROPPATCH" {
                        let asked = PropertyUpdate::parse(&pending.body).unwrap();
                        let echo = echoed_state(&o);
                        assert_eq!(value_of(&echo), value_of(asked.state().unwrap()), "{what}");
                        let theirs_view = echoed_state(&t).view_id.expect("their view id");
                        let ours_view = echo.view_id.expect("our view id");
                        views.insert(theirs_view, ours_view);
                    } else {
                        let (o, t) = (shown(&o), shown(&t));
                        if pending.method == "SUBSCRIBE" {
                            assert_eq!(o.len(), 3, "{what}: {o:?}");
                        }
                        for (k, v) in &o {
                            assert_eq!(Some(v), t.get(k), "{what}: {k}");
                        }
                    }
                }
                if pending.method == "SUBSCRIPTIONS" {
                    Subscriptions::parse(ours.body()).expect("our r:subscriptions parses");
                }
                if pending.method == "ACL" {
                    rvp_proto::xml::RvpAcl::parse(ours.body()).expect("our a:rvpacl parses");
                }
            }
            ("SERVER->CLIENT", cb) => {
                // A NOTIFY the clients accepted: we must have produced the same one.
                let theirs = frame_request(b.bytes);
                let what = format!("{file} @{at}s NOTIFY to {cb}");
                let Some(i) = sent.iter().position(|d| d.callback().as_str() == cb) else {
                    // The capture's server notified on every PROPPATCH; the engine only
                    // when the published value changes. A missing NOTIFY is acceptable
                    // only if it announces the value already published.
                    let Notification::PropNotification(n) =
                        Notification::parse(theirs.body()).expect("their notification parses")
                    else {
                        panic!("{what}: engine relayed no message");
                    };
                    let node = e
                        .directory()
                        .lookup_url(&n.from.href)
                        .expect("a local node");
                    assert_eq!(
                        e.published_state(node),
                        n.update.state().map(value_of).as_ref(),
                        "{what}: engine sent no NOTIFY for a change"
                    );
                    *unanswered.entry(cb.to_owned()).or_default() += 1;
                    counts.redundant += 1;
                    continue;
                };
                let d = sent.remove(i).unwrap();
                let ours = wire::notify(&d);
                assert_eq!(ours.uri(), theirs.uri(), "{what}");
                for h in ["host", "rvp-hop-count", "content-type"] {
                    assert_eq!(
                        hdr(ours.headers(), h),
                        hdr(theirs.headers(), h),
                        "{what}: {h}"
                    );
                }
                if d.relayed_body().is_some() {
                    assert_eq!(
                        hdr(ours.headers(), "rvp-from-principal"),
                        hdr(theirs.headers(), "rvp-from-principal"),
                        "{what}: the original sender"
                    );
                    assert_eq!(ours.body(), theirs.body(), "{what}: relayed body differs");
                    counts.relays += 1;
                } else {
                    // The presence service's host name (PROTOCOL.md §2.6); the capture's
                    // server put the node's URL there.
                    assert_eq!(
                        hdr(ours.headers(), "rvp-from-principal"),
                        Some("localhost"),
                        "{what}"
                    );
                    let (o, t) = (
                        Notification::parse(ours.body()).expect("our notification parses"),
                        Notification::parse(theirs.body()).expect("their notification parses"),
                    );
                    let (Notification::PropNotification(o), Notification::PropNotification(t)) =
                        (o, t)
                    else {
                        panic!("{what}: property changes expected");
                    };
                    assert_eq!(o.from.href, t.from.href, "{what}");
                    assert_eq!(o.to.href, t.to.href, "{what}");
                    assert_eq!(
                        o.update.state().map(value_of),
                        t.update.state().map(value_of),
                        "{what}"
                    );
                }
                counts.notifies += 1;
                awaiting.push(d);
            }
            other => panic!("{file}: unexpected block {:?}", (other.0, other.1)),
        }
        while let Some(o) = e.poll_output() {
            match o {
                Output::Respond(a) => {
                    let a = *a;
                    assert!(answers.insert(a.request, a).is_none(), "two answers");
                }
                Output::Deliver(d) if acl_write => {
                    // A deny hides the node's state from a watcher: it alone hears offline.
                    let ours = wire::notify(&d);
                    let Ok(Notification::PropNotification(n)) = Notification::parse(ours.body())
                    else {
                        panic!("{file} @{at}s: an ACL write sent a message");
                    };
                    assert_eq!(
                        n.update.state().map(value_of),
                        Some(PresenceState::Offline),
                        "{file} @{at}s"
                    );
                    counts.hidden += 1;
                    e.handle_delivery_result(now, d.id(), DeliveryOutcome::Delivered);
                }
                Output::Deliver(d) => sent.push_back(d),
                _ => panic!("unexpected output"),
            }
        }
    }
    assert!(
        sent.is_empty(),
        "{file}: engine sent NOTIFYs the capture does not have: {sent:?}"
    );
    assert!(answers.is_empty(), "{file}: unmatched answers: {answers:?}");
    assert!(
        by_peer.values().all(VecDeque::is_empty),
        "{file}: requests without a captured reply"
    );
    assert_eq!(counts.requests, counts.answers, "{file}");
    counts
}

#[test]
fn librvp_alice_bob_session_replays() {
    let c = replay("librvp-alice-bob.wire.log", Policy::default());
    // At the end alice denies bob: he is told she is offline (the capture's server did not).
    assert_eq!(
        (c.requests, c.notifies, c.relays, c.redundant, c.hidden),
        (30, 7, 3, 0, 1),
        "{c:?}"
    );
}

#[test]
fn netrvp_carol_librvp_alice_session_replays() {
    let c = replay("netrvp-carol-librvp-alice.wire.log", Policy::default());
    // Net::RVP's r:timeout 14400 leases are clamped to the policy's 3600 s; the one
    // captured NOTIFY the engine does not send repeats the published value.
    assert_eq!(
        (c.requests, c.notifies, c.relays, c.redundant, c.dropped),
        (24, 7, 4, 1, 1),
        "{c:?}"
    );
}

#[test]
fn renewal_with_a_40_second_lifetime_replays() {
    // The capture's server granted 40 s whatever was asked: the policy clamps the same.
    let mut policy = Policy::default();
    policy.subscription_lifetime_min = Duration::from_secs(40);
    policy.subscription_lifetime_max = Duration::from_secs(40);
    let c = replay("librvp-netrvp-renewal-lifetime40.wire.log", policy);
    // Every captured NOTIFY there re-announces an unchanged value (lease refreshes).
    assert_eq!((c.requests, c.notifies, c.redundant), (23, 0, 4), "{c:?}");
}
