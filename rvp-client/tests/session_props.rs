//! Property tests of the sans-IO core: the Digest challenge parser never panics and reads
//! back what was written; a session answered by a well-behaved server model keeps every
//! subscription and its lease alive through hours of random time steps; a session fed
//! arbitrary answers, failures, NOTIFYs and actions keeps its invariants and always
//! finishes signing off.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rvp_client::digest::{Challenge, DigestAuth};
use rvp_client::{
    Event, Phase, Reply, Request, RequestId, RequestKind, Session, SessionConfig, TransportError,
};
use rvp_proto::PresenceState;
use rvp_proto::url::LogicalUrl;

fn url(alias: &str) -> LogicalUrl {
    format!("http://localhost/instmsg/aliases/{alias}")
        .parse()
        .unwrap()
}

fn quote(s: &str) -> String {
    let mut q = String::from("\"");
    for c in s.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

proptest! {
    #[test]
    fn challenge_parser_never_panics(s in "[ -~]{0,200}") {
        let _ = Challenge::parse(&s);
        let _ = Challenge::select([s.as_str(), "Digest realm=\"r\", nonce=\"n\""]);
    }

    #[test]
    fn challenge_values_read_back(
        realm in "[ !#-~]{1,40}|[a-z\"\\\\, =]{1,20}",
        nonce in "[A-Za-z0-9+/=]{1,64}",
        other in prop::option::of("(NTLM|Negotiate|Basic realm=\"x\")"),
    ) {
        let digest = format!("Digest qop=\"auth\", realm={}, nonce={}", quote(&realm), quote(&nonce));
        let value = match other {
            Some(o) => format!("{o}, {digest}"),
            None => digest,
        };
        let c = Challenge::parse(&value).unwrap();
        prop_assert_eq!(c.realm(), realm.as_str());
        prop_assert_eq!(c.nonce(), nonce.as_str());
        prop_assert!(c.qop_auth());
        let mut auth = DigestAuth::new("alice", "pw");
        auth.accept_challenge(c);
        let v = auth.authorization("PROPPATCH", "/instmsg/aliases/alice", "0123abcd").unwrap().unwrap();
        prop_assert!(!v.contains('\r') && !v.contains('\n'));
    }
}

/// A well-behaved server: grants what it is configured to, remembers when each
/// subscription and the lease end.
struct Model {
    now: Instant,
    lifetime: u32,
    lease: u32,
    next_id: u32,
    subs: HashMap<String, Instant>,
    login: Option<String>,
    lease_ends: Option<Instant>,
}

impl Model {
    fn answer(&mut self, r: &Request) -> Reply {
        let text = String::from_utf8(r.to_bytes()).unwrap();
        let header = |n: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{n}: ")))
                .map(str::to_owned)
        };
        let ms = |props: &str| {
            format!(
                "<d:multistatus xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/'><d:response>\
                 <d:href>x</d:href><d:propstat><d:prop>{props}</d:prop><d:status>HTTP/1.1 200 OK</d:status>\
                 </d:propstat></d:response></d:multistatus>"
            )
        };
        let ends = self.now + Duration::from_secs(u64::from(self.lifetime));
        let (status, headers, body) = match r.kind() {
            RequestKind::Login | RequestKind::Watch { .. } => {
                self.next_id += 1;
                let id = self.next_id.to_string();
                self.subs.insert(id.clone(), ends);
                if *r.kind() == RequestKind::Login {
                    self.login = Some(id.clone());
                }
                let body = if *r.kind() == RequestKind::Login {
                    String::new()
                } else {
                    ms("<r:state><r:online/></r:state>")
                };
                (
                    if body.is_empty() { 200 } else { 207 },
                    format!(
                        "Subscription-Id: {id}\r\nSubscription-Lifetime: {}\r\n",
                        self.lifetime
                    ),
                    body,
                )
            }
            RequestKind::RenewLogin | RequestKind::RenewWatch { .. } => {
                let id = header("Subscription-Id").unwrap();
                match self.subs.get_mut(&id) {
                    Some(e) if *e > self.now => {
                        *e = ends;
                        (
                            200,
                            format!(
                                "Subscription-Id: {id}\r\nSubscription-Lifetime: {}\r\n",
                                self.lifetime
                            ),
                            String::new(),
                        )
                    }
                    _ => (412, String::new(), String::new()),
                }
            }
            RequestKind::SetState { .. } => {
                self.lease_ends = Some(self.now + Duration::from_secs(u64::from(self.lease)));
                (
                    207,
                    String::new(),
                    ms(&format!(
                        "<r:state><r:leased-value><r:value><r:online/></r:value><r:default-value><r:offline/>\
                     </r:default-value><d:timeout>{}</d:timeout></r:leased-value><r:view-id>9</r:view-id></r:state>",
                        self.lease
                    )),
                )
            }
            RequestKind::Properties { .. } => {
                (207, String::new(), ms("<d:displayname>A</d:displayname>"))
            }
            RequestKind::Watchers => (
                200,
                String::new(),
                "<r:subscriptions xmlns:r='http://schemas.microsoft.com/rvp/'/>".into(),
            ),
            RequestKind::ReadAcl | RequestKind::WriteAcl { .. } => (
                200,
                String::new(),
                "<a:rvpacl xmlns:a='http://schemas.microsoft.com/rvp/acl/'><a:acl/></a:rvpacl>"
                    .into(),
            ),
            _ => (200, String::new(), String::new()),
        };
        Reply::parse(
            format!(
                "HTTP/1.1 {status} X\r\n{headers}Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap()
    }
}

fn drain(session: &mut Session, model: &mut Model) {
    for _ in 0..1000 {
        let Some(r) = session.poll_transmit() else {
            return;
        };
        let reply = model.answer(&r);
        session.handle_response(model.now, r.id(), &reply);
    }
    panic!("the session keeps sending");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Against a server that answers everything, nothing the session holds ever lapses:
    /// renewals are sent before each granted lifetime ends, whatever the time steps.
    #[test]
    fn renewals_come_before_expiry(
        lifetime in 60u32..20_000,
        lease in 60u32..3_600,
        steps in prop::collection::vec(1u64..600, 1..120),
    ) {
        let t0 = Instant::now();
        let mut config = SessionConfig::new(url("alice"));
        config.watch_list = vec![url("bob"), url("carol")];
        let mut session = Session::new(config).unwrap();
        let mut model = Model { now: t0, lifetime, lease, next_id: 0, subs: HashMap::new(), login: None, lease_ends: None };
        session.sign_on(t0, "http://127.0.0.1:4000".parse().unwrap()).unwrap();
        drain(&mut session, &mut model);
        prop_assert_eq!(session.phase(), Phase::SignedOn);
        prop_assert_eq!(session.buddies().filter(|b| b.watching).count(), 2);
        for step in steps {
            let target = model.now + Duration::from_secs(step);
            // Wake up at every timer on the way, as a driver does.
            while let Some(t) = session.poll_timeout().filter(|t| *t <= target) {
                prop_assert!(t >= model.now, "a timer in the past");
                model.now = t;
                session.handle_timeout(t);
                drain(&mut session, &mut model);
            }
            model.now = target;
            session.handle_timeout(target);
            drain(&mut session, &mut model);
            let login = model.login.clone().unwrap();
            prop_assert!(model.subs[&login] > model.now, "the login lapsed");
            prop_assert!(model.lease_ends.unwrap() > model.now, "the lease lapsed");
            let live = model.subs.values().filter(|e| **e > model.now).count();
            prop_assert_eq!(live, 4, "login, self-watch and two watches are live");
        }
        while session.poll_event().is_some() {}
        session.sign_off(model.now).unwrap();
        drain(&mut session, &mut model);
        prop_assert_eq!(session.phase(), Phase::SignedOff);
    }
}

#[derive(Debug, Clone)]
enum Op {
    Answer(usize, u16),
    Fail(usize),
    Advance(u64),
    Notify(usize),
    SetState,
    Watch(u8),
    Unwatch(u8),
    Send(u8),
    Block(u8),
    Leave(u8),
    SignOff,
    SignOn,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<usize>(), prop::sample::select(vec![200u16, 207, 302, 401, 403, 404, 412, 500, 503])).prop_map(|(i, s)| Op::Answer(i, s)),
        2 => any::<usize>().prop_map(Op::Fail),
        2 => (0u64..20_000).prop_map(Op::Advance),
        2 => any::<usize>().prop_map(Op::Notify),
        1 => Just(Op::SetState),
        1 => any::<u8>().prop_map(Op::Watch),
        1 => any::<u8>().prop_map(Op::Unwatch),
        1 => any::<u8>().prop_map(Op::Send),
        1 => any::<u8>().prop_map(Op::Block),
        1 => any::<u8>().prop_map(Op::Leave),
        1 => Just(Op::SignOff),
        1 => Just(Op::SignOn),
    ]
}

const NOTIFIES: [&str; 6] = [
    "<r:notification xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/'><r:propnotification><r:notification-from><r:contact><d:href>http://localhost/instmsg/aliases/bob</d:href></r:contact></r:notification-from><r:notification-to><r:contact><d:href>http://localhost/instmsg/aliases/alice</d:href></r:contact></r:notification-to><d:propertyupdate><d:set><d:prop><r:state><r:away/></r:state></d:prop></d:set></d:propertyupdate></r:propnotification></r:notification>",
    "<r:notification xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/'><r:message><r:notification-from><r:contact><d:href>http://localhost/instmsg/aliases/bob</d:href></r:contact></r:notification-from><r:msgbody><r:mime-data>MIME-Version: 1.0\r\nContent-Type: text/plain\r\nSession-Id: {3F2504E0-4F89-11D3-9A0C-0305E82C3301}\r\n\r\nhi</r:mime-data></r:msgbody></r:message></r:notification>",
    "<r:notification xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/'><r:message><r:notification-from><r:contact><d:href>http://localhost/instmsg/aliases/bob</d:href></r:contact></r:notification-from><r:msgbody><r:mime-data>MIME-Version: 1.0\r\nContent-Type: text/x-imleave\r\nSession-Id: {3F2504E0-4F89-11D3-9A0C-0305E82C3301}\r\n\r\n</r:mime-data></r:msgbody></r:message></r:notification>",
    "<r:notification xmlns:r='http://schemas.microsoft.com/rvp/'><x:app xmlns:x='urn:x'/></r:notification>",
    "<r:notification xmlns:r='http://schemas.microsoft.com/rvp/'><r:message>",
    "not xml at all",
];

fn reply_for(kind: &RequestKind, status: u16, n: u64) -> Reply {
    let body = match (kind, status) {
        (
            RequestKind::SetState { .. }
            | RequestKind::Properties { .. }
            | RequestKind::Watch { .. },
            207,
        ) => {
            "<d:multistatus xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/'><d:response><d:href>x</d:href><d:propstat><d:prop><r:state><r:busy/></r:state></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"
        }
        _ => "",
    };
    let headers = if n.is_multiple_of(3) {
        String::new()
    } else {
        format!(
            "Subscription-Id: {n}\r\nSubscription-Lifetime: {}\r\n",
            60 + n % 500
        )
    };
    Reply::parse(
        format!(
            "HTTP/1.1 {status} X\r\n{headers}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever happens, the session never panics, request ids are unique and increasing,
    /// its timer is never in the past, unanswered requests stay bounded, NOTIFYs get one
    /// of the documented answers, and signing off with every answer given ends in
    /// `SignedOff` with `Event::SignedOff`.
    #[test]
    fn invariants_under_arbitrary_input(ops in prop::collection::vec(op(), 1..80)) {
        let t0 = Instant::now();
        let mut config = SessionConfig::new(url("alice"));
        config.max_pending = 16;
        config.max_watches = 4;
        config.watch_list = vec![url("bob")];
        let mut session = Session::new(config).unwrap();
        session.sign_on(t0, "http://127.0.0.1:4000".parse().unwrap()).unwrap();
        let mut now = t0;
        let mut outstanding: Vec<(RequestId, RequestKind)> = Vec::new();
        let mut seen: BTreeSet<RequestId> = BTreeSet::new();
        let mut last = RequestId(0);
        let mut n = 0u64;
        for op in ops {
            n += 1;
            match op {
                Op::Answer(i, status) if !outstanding.is_empty() => {
                    let (id, kind) = outstanding.remove(i % outstanding.len());
                    session.handle_response(now, id, &reply_for(&kind, status, n));
                }
                Op::Fail(i) if !outstanding.is_empty() => {
                    let (id, _) = outstanding.remove(i % outstanding.len());
                    session.handle_failure(now, id, TransportError::Timeout);
                }
                Op::Advance(s) => {
                    now += Duration::from_secs(s);
                    session.handle_timeout(now);
                }
                Op::Notify(i) => {
                    let body = NOTIFIES[i % NOTIFIES.len()];
                    let wire = format!("NOTIFY / HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                    let status = session.handle_notify_bytes(now, wire.as_bytes()).status();
                    prop_assert!([200, 400, 405, 500].contains(&status));
                }
                Op::SetState => { let _ = session.set_state(now, PresenceState::Busy); }
                Op::Watch(k) => { let _ = session.watch(now, url(&format!("u{}", k % 8))); }
                Op::Unwatch(k) => { let _ = session.unwatch(now, &url(&format!("u{}", k % 8))); }
                Op::Send(k) => { let _ = session.send_message(now, &url(&format!("u{}", k % 8)), "x"); }
                Op::Block(k) => { let _ = session.block(now, &url(&format!("u{}", k % 8))); }
                Op::Leave(k) => { let _ = session.leave(now, &url(&format!("u{}", k % 8))); }
                Op::SignOff => { let _ = session.sign_off(now); }
                Op::SignOn => { let _ = session.sign_on(now, "http://127.0.0.1:4000".parse().unwrap()); }
                _ => {}
            }
            while let Some(r) = session.poll_transmit() {
                prop_assert!(r.id() > last, "ids increase");
                prop_assert!(seen.insert(r.id()), "ids are unique");
                last = r.id();
                outstanding.push((r.id(), r.kind().clone()));
            }
            if session.poll_timeout().is_some() {
                prop_assert_eq!(session.phase(), Phase::SignedOn);
            }
            // Actions are refused beyond max_pending; renewals and sign-off requests may
            // add a few (one per subscription and the lease).
            prop_assert!(session.pending() <= 16 + 4 + 1 + 3, "pending: {}", session.pending());
            while session.poll_event().is_some() {}
        }
        // Sign off, answering everything: the session ends signed off.
        let _ = session.sign_off(now);
        for _ in 0..200 {
            while let Some(r) = session.poll_transmit() {
                outstanding.push((r.id(), r.kind().clone()));
            }
            let Some((id, kind)) = outstanding.pop() else { break };
            session.handle_response(now, id, &reply_for(&kind, 200, 1));
        }
        prop_assert_eq!(session.phase(), Phase::SignedOff);
        let events: Vec<Event> = std::iter::from_fn(|| session.poll_event()).collect();
        prop_assert!(events.is_empty() || events.contains(&Event::SignedOff), "{events:?}");
    }
}
