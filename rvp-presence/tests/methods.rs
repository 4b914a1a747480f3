//! The method layer from raw request bytes (PROTOCOL.md §2 wire examples): every request
//! goes through `rvp_proto::codec`, `Engine::handle_request` and `Answer::write`, and the
//! response bytes are framed and parsed back with `rvp_proto`'s parsers.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod wire;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use rvp_presence::{
    Caller, DeliveryOutcome, DirectoryProperties, Engine, NodeKey, Outcome, Policy, PrincipalId,
    RequestId,
};
use rvp_proto::xml::{
    AcePrincipal, Contact, MultiStatus, Notification, PropName, PropNotification, PropValue,
    Property, PropertyUpdate, RvpAcl, StateContent, StateValue, Subscriptions, XmlBody,
};
use rvp_proto::{CredentialKind, PresenceState, Right};
use wire::{drain, header, notify, request, send, wire};

const STEVE: &str = "http://im.example.com/instmsg/aliases/stevem";
const BRUCE: &str = "http://im.acme.com/instmsg/aliases/bruceb";
const BRUCE_CLIENT: &str = "http://198.176.154.132:1234";

struct T {
    e: Engine,
    t0: Instant,
    steve: PrincipalId,
    next: u64,
}

impl T {
    fn new() -> T {
        let t0 = Instant::now();
        let mut e = Engine::new(Policy::default(), t0).unwrap();
        let mut props = DirectoryProperties::new("Steve Morgan", "stevem@example.com");
        props.mobile_state = Some("0".into());
        let steve = e
            .register_principal(NodeKey::new("im.example.com", "stevem").unwrap(), props)
            .unwrap();
        e.register_principal(
            NodeKey::new("im.acme.com", "bruceb").unwrap(),
            DirectoryProperties::new("Bruce", "bruceb@acme.com"),
        )
        .unwrap();
        T {
            e,
            t0,
            steve,
            next: 0,
        }
    }

    fn at(&self, secs: u64) -> Instant {
        self.t0 + Duration::from_secs(secs)
    }

    /// Sends `bytes` at `secs`, authenticated as `auth` (Digest) when given.
    fn send(
        &mut self,
        secs: u64,
        auth: Option<&str>,
        bytes: &[u8],
    ) -> (
        http::Response<Bytes>,
        rvp_presence::Answer,
        Vec<rvp_presence::Delivery>,
    ) {
        self.next += 1;
        let caller = caller(bytes, auth);
        let now = self.at(secs);
        send(&mut self.e, now, self.next, &caller, bytes)
    }

    fn status(&mut self, auth: Option<&str>, bytes: &[u8]) -> u16 {
        self.send(0, auth, bytes).0.status().as_u16()
    }

    /// bruceb's login subscription (reference example 2.1-a); returns its id.
    fn bruce_logs_in(&mut self) -> String {
        let (res, _, _) = self.send(0, Some(BRUCE), &ex_2_1_a());
        header(&res, "subscription-id").unwrap().to_owned()
    }

    /// bruceb watches stevem (example 2.1-b); returns the subscription id. bruceb is a
    /// principal of this engine (im.acme.com is registered here), so his requests carry
    /// his proof, as a real client's do after the challenge (PROTOCOL.md §8.1).
    fn bruce_watches_steve(&mut self) -> String {
        let (res, _, _) = self.send(0, Some(BRUCE), &ex_2_1_b());
        assert_eq!(res.status(), StatusCode::MULTI_STATUS);
        header(&res, "subscription-id").unwrap().to_owned()
    }
}

/// `auth` for "proven as the principal the request asserts": every principal of these
/// examples is registered in the test engine, so its requests must carry proof of it
/// (PROTOCOL.md §8.1), as a real client's do after answering the challenge.
const SELF: Option<&str> = Some("<self>");

fn caller(bytes: &[u8], auth: Option<&str>) -> Caller {
    let req = request(bytes);
    let asserted = req
        .headers()
        .get("rvp-from-principal")
        .map(|v| v.to_str().unwrap().to_owned());
    let auth = match auth {
        Some("<self>") => asserted.as_deref(),
        other => other,
    };
    Caller::from_request(
        &req,
        auth.map(|p| (p, CredentialKind::Digest)),
        Some("198.176.154.132".parse().unwrap()),
    )
}

fn ex_2_1_a() -> Vec<u8> {
    wire(
        "SUBSCRIBE /instmsg/aliases/bruceb HTTP/1.1
Subscription-Lifetime: 14400
Notification-Type: pragma/notify
Call-Back: http://198.176.154.132:1234
RVP-Notifications-Version: 0.2
Host: imhome1.acme.com
RVP-From-Principal: http://im.acme.com/instmsg/aliases/bruceb",
        "",
    )
}

fn ex_2_1_b() -> Vec<u8> {
    wire(
        "SUBSCRIBE http://im.example.com/instmsg/aliases/stevem HTTP/1.1
Subscription-Lifetime: 14400
Notification-Type: update/propchange
Call-Back: http://im.acme.com/instmsg/aliases/bruceb
RVP-Notifications-Version: 0.2
Host: im.example.com
RVP-From-Principal: http://im.acme.com/instmsg/aliases/bruceb",
        "",
    )
}

fn multistatus(res: &http::Response<Bytes>) -> MultiStatus {
    assert_eq!(res.status(), StatusCode::MULTI_STATUS);
    assert_eq!(header(res, "content-type"), Some("text/xml"));
    MultiStatus::parse(res.body()).expect("207 body parses")
}

fn prop<'a>(m: &'a MultiStatus, name: &PropName) -> Option<(&'a Property, u16)> {
    m.responses[0].propstats.iter().find_map(|ps| {
        ps.props
            .iter()
            .find(|p| p.name == *name)
            .map(|p| (p, ps.status.code.as_u16()))
    })
}

fn text(m: &MultiStatus, name: &PropName) -> Option<String> {
    match prop(m, name)? {
        (
            Property {
                value: PropValue::Text(t),
                ..
            },
            200,
        ) => Some(t.clone()),
        _ => None,
    }
}

fn state(m: &MultiStatus) -> StateValue {
    match prop(m, &PropName::State) {
        Some((
            Property {
                value: PropValue::State(s),
                ..
            },
            200,
        )) => s.clone(),
        other => panic!("no r:state with 200: {other:?}"),
    }
}

// ------------------------------------------------------------------ SUBSCRIBE §2.1

#[test]
fn subscribe_login_example_2_1_a() {
    let mut t = T::new();
    let (res, answer, deliveries) = t.send(0, Some(BRUCE), &ex_2_1_a());
    assert_eq!(res.status(), StatusCode::OK);
    let id = header(&res, "subscription-id").unwrap();
    assert!(id.parse::<u32>().unwrap() > 0);
    assert_eq!(header(&res, "subscription-lifetime"), Some("14400"));
    assert!(res.body().is_empty());
    assert!(deliveries.is_empty());
    assert!(
        answer
            .to_bytes()
            .starts_with(b"HTTP/1.1 200 Successful\r\n")
    );
    // librvp's variant: lifetime 14000 is granted as asked.
    let (res, _, _) = t.send(
        0,
        Some(BRUCE),
        &wire(
            "SUBSCRIBE /instmsg/aliases/bruceb HTTP/1.1
RVP-Notifications-Version: 0.2
Host: omnent
Notification-Type: pragma/notify
RVP-From-Principal: http://im.acme.com/instmsg/aliases/bruceb
Subscription-Lifetime: 14000
Call-Back: http://172.16.6.148:48401",
            "",
        ),
    );
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "subscription-lifetime"), Some("14000"));
}

#[test]
fn subscribe_presence_example_2_1_b_and_renewal_2_1_c() {
    let mut t = T::new();
    let (res, _, _) = t.send(0, SELF, &ex_2_1_b());
    let m = multistatus(&res);
    assert_eq!(m.responses.len(), 1);
    assert_eq!(m.responses[0].href, STEVE);
    assert_eq!(
        state(&m).content,
        StateContent::Bare(PresenceState::Offline)
    );
    assert_eq!(
        text(&m, &PropName::DisplayName).as_deref(),
        Some("Steve Morgan")
    );
    assert_eq!(
        text(&m, &PropName::Email).as_deref(),
        Some("stevem@example.com")
    );
    assert_eq!(text(&m, &PropName::MobileState).as_deref(), Some("0"));
    let id = header(&res, "subscription-id").unwrap().to_owned();
    assert_eq!(header(&res, "subscription-lifetime"), Some("14400"));

    // 2.1-c: renewal, 200 without a body even for a propchange subscription.
    let (res, _, _) = t.send(
        600,
        SELF,
        &wire(
            &format!(
                "SUBSCRIBE /instmsg/aliases/stevem HTTP/1.1
Host: im.example.com
Subscription-Lifetime: 14400
Subscription-Id: {id}
RVP-Notifications-Version: 0.2
RVP-From-Principal: http://im.acme.com/instmsg/aliases/bruceb"
            ),
            "",
        ),
    );
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "subscription-id"), Some(id.as_str()));
    assert_eq!(header(&res, "subscription-lifetime"), Some("14400"));
    assert!(res.body().is_empty());
    assert_eq!(header(&res, "content-type"), None);
}

#[test]
fn subscribe_refusals() {
    let mut t = T::new();
    let base = "SUBSCRIBE /instmsg/aliases/stevem HTTP/1.1\nHost: im.example.com\nRVP-From-Principal: http://im.acme.com/instmsg/aliases/bruceb";
    let cases: [(&str, u16); 9] = [
        // static subscription
        (
            "Notification-Type: update/propchange\nCall-Back: http://im.acme.com/instmsg/aliases/bruceb",
            400,
        ),
        // Notification-Type missing, unknown, malformed
        (
            "Subscription-Lifetime: 60\nCall-Back: http://im.acme.com/instmsg/aliases/bruceb",
            412,
        ),
        (
            "Subscription-Lifetime: 60\nNotification-Type: update/other\nCall-Back: http://im.acme.com/instmsg/aliases/bruceb",
            412,
        ),
        (
            "Subscription-Lifetime: 60\nNotification-Type: ???\nCall-Back: http://im.acme.com/instmsg/aliases/bruceb",
            412,
        ),
        // Call-Back missing, malformed
        (
            "Subscription-Lifetime: 60\nNotification-Type: update/propchange",
            412,
        ),
        (
            "Subscription-Lifetime: 60\nNotification-Type: update/propchange\nCall-Back: mailto:x",
            412,
        ),
        // unknown ids: opaque token, decimal never minted, not a token
        ("Subscription-Lifetime: 60\nSubscription-Id: 9A504", 412),
        ("Subscription-Lifetime: 60\nSubscription-Id: 98210", 412),
        ("Subscription-Lifetime: 60\nSubscription-Id: a b", 412),
    ];
    for (headers, code) in cases {
        let bytes = wire(&format!("{base}\n{headers}"), "");
        assert_eq!(t.status(SELF, &bytes), code, "{headers}");
    }
    // Unknown node → 404; malformed Subscription-Lifetime → 400 naming it.
    let unknown = wire(
        "SUBSCRIBE /instmsg/aliases/nobody HTTP/1.1\nHost: im.example.com\nSubscription-Lifetime: 60\nNotification-Type: pragma/notify\nCall-Back: http://10.0.0.1:1",
        "",
    );
    assert_eq!(t.status(SELF, &unknown), 404);
    let (res, _, _) = t.send(
        0,
        None,
        &wire(&format!("{base}\nSubscription-Lifetime: soon"), ""),
    );
    assert_eq!(res.status(), 400);
    assert_eq!(header(&res, "content-type"), Some("text/plain"));
    assert!(String::from_utf8_lossy(res.body()).contains("Subscription-Lifetime"));
}

// ------------------------------------------------------------------ UNSUBSCRIBE §2.2

#[test]
fn unsubscribe_example_2_2_and_refusals() {
    let mut t = T::new();
    // The example's node is not one of ours.
    let ex = wire(
        "UNSUBSCRIBE /stock/companyA HTTP/1.1
Host: im.stockquotes.com
RVP-Notifications-Version: 0.2
RVP-From-Principal: http://im.acme.com/instmsg/aliases/bruceb
Subscription-Id: 1234",
        "",
    );
    assert_eq!(t.status(SELF, &ex), 404);
    let id = t.bruce_watches_steve();
    let un = |id: &str| {
        wire(
            &format!(
                "UNSUBSCRIBE /instmsg/aliases/stevem HTTP/1.1\nHost: im.example.com\nRVP-From-Principal: {BRUCE}\nSubscription-Id: {id}"
            ),
            "",
        )
    };
    assert_eq!(t.status(SELF, &un("abc")), 412);
    let missing = wire(
        &format!(
            "UNSUBSCRIBE /instmsg/aliases/stevem HTTP/1.1\nHost: im.example.com\nRVP-From-Principal: {BRUCE}"
        ),
        "",
    );
    assert_eq!(t.status(SELF, &missing), 400);
    // Someone else may not cancel it.
    let other = wire(
        &format!(
            "UNSUBSCRIBE /instmsg/aliases/stevem HTTP/1.1\nHost: im.example.com\nRVP-From-Principal: http://im.acme.com/instmsg/aliases/mallory\nSubscription-Id: {id}"
        ),
        "",
    );
    assert_eq!(t.status(None, &other), 401);
    let (res, _, _) = t.send(0, SELF, &un(&id));
    assert_eq!(res.status(), 200);
    assert!(res.body().is_empty());
    assert_eq!(t.status(SELF, &un(&id)), 412, "gone");
}

// ------------------------------------------------------------------ SUBSCRIPTIONS §2.3

#[test]
fn subscriptions_list_with_remaining_seconds() {
    let mut t = T::new();
    let ex = wire(
        "SUBSCRIPTIONS /lists/sales-event HTTP/1.1
Host: im.example.com
RVP-Notifications-Version: 0.2
Notification-Type: update/propchange
RVP-From-Principal: http://im.acme.com/instmsg/aliases/bruceb",
        "",
    );
    assert_eq!(t.status(SELF, &ex), 404);
    let id = t.bruce_watches_steve();
    let list = |nt: &str| {
        wire(
            &format!(
                "SUBSCRIPTIONS /instmsg/aliases/stevem HTTP/1.1\nHost: im.example.com\nRVP-From-Principal: {STEVE}{nt}"
            ),
            "",
        )
    };
    let (res, _, _) = t.send(
        100,
        Some(STEVE),
        &list("\nNotification-Type: update/propchange"),
    );
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), Some("text/xml"));
    let subs = Subscriptions::parse(res.body()).unwrap();
    assert_eq!(subs.subscriptions.len(), 1);
    let s = &subs.subscriptions[0];
    assert_eq!(s.id, id);
    assert_eq!(s.href.as_deref(), Some(BRUCE));
    assert_eq!(s.principal.as_deref(), Some(BRUCE));
    assert_eq!(s.timeout, Some(14_400 - 100));
    let (res, _, _) = t.send(
        100,
        Some(STEVE),
        &list("\nNotification-Type: pragma/notify"),
    );
    assert!(
        Subscriptions::parse(res.body())
            .unwrap()
            .subscriptions
            .is_empty()
    );
    assert_eq!(t.status(Some(STEVE), &list("")), 412);
    // bruceb (unauthenticated) lacks the subscriptions right on stevem.
    let theirs = wire(
        &format!(
            "SUBSCRIPTIONS /instmsg/aliases/stevem HTTP/1.1\nHost: im.example.com\nRVP-From-Principal: {BRUCE}\nNotification-Type: update/propchange"
        ),
        "",
    );
    assert_eq!(t.status(None, &theirs), 401);
}

// ------------------------------------------------------------------ PROPFIND §2.4

fn propfind(depth: Option<&str>, body: &str) -> Vec<u8> {
    let depth = depth.map_or_else(String::new, |d| format!("\nDepth: {d}"));
    wire(
        &format!(
            "PROPFIND /instmsg/aliases/stevem HTTP/1.1
Host: im.example.com
RVP-Notifications-Version: 0.2
RVP-From-Principal: http://im.example.com/instmsg/aliases/stevem{depth}
Content-Type: text/xml"
        ),
        body,
    )
}

#[test]
fn propfind_examples_2_4() {
    let mut t = T::new();
    let ex_a = "<?xml version=\"1.0\"?>\n<d:propfind xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\">\n <d:prop><d:displayname/></d:prop>\n</d:propfind>";
    let (res, _, _) = t.send(0, Some(STEVE), &propfind(Some("0"), ex_a));
    let m = multistatus(&res);
    assert_eq!(m.responses[0].href, STEVE);
    assert_eq!(m.responses[0].propstats.len(), 1);
    assert_eq!(
        m.responses[0].propstats[0].props,
        vec![Property::text(PropName::DisplayName, "Steve Morgan")]
    );
    // 2.4-c: an unknown property is a 404 propstat beside the 200 one.
    let ex_c = "<d:propfind xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/'><d:prop><d:displayname/><r:no-such-prop/></d:prop></d:propfind>";
    let (res, _, _) = t.send(0, Some(STEVE), &propfind(Some("0"), ex_c));
    let m = multistatus(&res);
    let codes: Vec<u16> = m.responses[0]
        .propstats
        .iter()
        .map(|p| p.status.code.as_u16())
        .collect();
    assert_eq!(codes, [200, 404]);
    assert_eq!(
        m.responses[0].propstats[1].props,
        vec![Property::empty(PropName::new(
            "http://schemas.microsoft.com/rvp/",
            "no-such-prop"
        ))]
    );
    // allprop: every property; propname: names only.
    let all = "<d:propfind xmlns:d='DAV:'><d:allprop/></d:propfind>";
    let m = multistatus(&t.send(0, Some(STEVE), &propfind(Some("0"), all)).0);
    assert_eq!(
        state(&m).content,
        StateContent::Bare(PresenceState::Offline)
    );
    assert_eq!(
        text(&m, &PropName::Email).as_deref(),
        Some("stevem@example.com")
    );
    let names = "<d:propfind xmlns:d='DAV:'><d:propname/></d:propfind>";
    let m = multistatus(&t.send(0, Some(STEVE), &propfind(Some("0"), names)).0);
    let props = &m.responses[0].propstats[0].props;
    assert!(props.iter().all(|p| p.value == PropValue::Empty));
    assert!(props.iter().any(|p| p.name == PropName::DisplayName));
}

#[test]
fn propfind_refusals() {
    let mut t = T::new();
    let body = "<d:propfind xmlns:d='DAV:'><d:prop><d:displayname/></d:prop></d:propfind>";
    assert_eq!(t.status(Some(STEVE), &propfind(None, body)), 412);
    assert_eq!(t.status(Some(STEVE), &propfind(Some("1"), body)), 412);
    assert_eq!(
        t.status(Some(STEVE), &propfind(Some("infinity"), body)),
        412
    );
    assert_eq!(t.status(Some(STEVE), &propfind(Some("zero"), body)), 412);
    assert_eq!(t.status(Some(STEVE), &propfind(Some("0"), "")), 400);
    let empty = "<d:propfind xmlns:d='DAV:'><d:prop/></d:propfind>";
    assert_eq!(t.status(Some(STEVE), &propfind(Some("0"), empty)), 400);
    let (res, _, _) = t.send(
        0,
        Some(STEVE),
        &propfind(Some("0"), "<d:propfind xmlns:d='DAV:'><d:prop>"),
    );
    assert_eq!(res.status(), 400);
    let text = String::from_utf8_lossy(res.body()).into_owned();
    assert!(text.contains("d:propfind"), "{text}");
    let wrong_root = "<d:propertyupdate xmlns:d='DAV:'/>";
    let (res, _, _) = t.send(0, Some(STEVE), &propfind(Some("0"), wrong_root));
    assert_eq!(res.status(), 400);
    assert!(String::from_utf8_lossy(res.body()).contains("propertyupdate"));
}

// ------------------------------------------------------------------ PROPPATCH §2.5

fn proppatch(body: &str) -> Vec<u8> {
    wire(
        "PROPPATCH /instmsg/aliases/stevem HTTP/1.1
Host: im.example.com
RVP-Notifications-Version: 0.2
RVP-From-Principal: http://im.example.com/instmsg/aliases/stevem
Content-Type: text/xml",
        body,
    )
}

fn leased(value: &str, timeout: &str, view: Option<&str>) -> String {
    let view = view.map_or_else(String::new, |v| format!("<r:view-id>{v}</r:view-id>"));
    format!(
        "<?xml version=\"1.0\"?><d:propertyupdate xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/' xmlns:a='http://schemas.microsoft.com/rvp/acl/'><d:set><d:prop><r:state><r:leased-value><r:value><r:{value}/></r:value><r:default-value><r:offline/></r:default-value>{timeout}</r:leased-value>{view}</r:state></d:prop></d:set></d:propertyupdate>"
    )
}

#[test]
fn proppatch_example_2_5_and_refresh() {
    let mut t = T::new();
    let ex = "<?xml version=\"1.0\"?>
<d:propertyupdate xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\">
 <d:set><d:prop>
  <r:state>
   <r:leased-value>
    <r:value><r:online/></r:value>
    <r:default-value><r:offline/></r:default-value>
    <r:timeout>3600</r:timeout>
   </r:leased-value>
  </r:state>
 </d:prop></d:set>
</d:propertyupdate>";
    let (res, _, _) = t.send(0, Some(STEVE), &proppatch(ex));
    let m = multistatus(&res);
    assert_eq!(m.responses[0].href, STEVE);
    let s = state(&m);
    assert_eq!(
        s.content,
        StateValue::leased(PresenceState::Online, PresenceState::Offline, Some(3600)).content
    );
    let view = s.view_id.expect("a view id is handed out");
    assert!(String::from_utf8_lossy(&res.body()[..]).contains("<d:timeout>3600</d:timeout>"));
    assert_eq!(t.e.published_state(t.steve), Some(&PresenceState::Online));

    // Miranda's form with d:timeout and the view id: same view, new value.
    let (res, _, _) = t.send(
        60,
        Some(STEVE),
        &proppatch(&leased("busy", "<d:timeout>1200</d:timeout>", Some(&view))),
    );
    let s = state(&multistatus(&res));
    assert_eq!(s.view_id.as_deref(), Some(view.as_str()));
    assert_eq!(t.e.published_state(t.steve), Some(&PresenceState::Busy));

    // librvp's logout form: bare offline with the view id.
    let bare = format!(
        "<?xml version=\"1.0\"?>\n<d:propertyupdate xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\"><d:set><d:prop><r:state><r:offline/><r:view-id>{view}</r:view-id></r:state></d:prop></d:set></d:propertyupdate>"
    );
    let (res, _, _) = t.send(120, Some(STEVE), &proppatch(&bare));
    assert_eq!(
        state(&multistatus(&res)).view_id.as_deref(),
        Some(view.as_str())
    );
    assert_eq!(t.e.published_state(t.steve), Some(&PresenceState::Offline));

    // A lease beyond the policy is clamped, and the clamp is what the echo says.
    let (res, _, _) = t.send(
        180,
        Some(STEVE),
        &proppatch(&leased("online", "<r:timeout>14400</r:timeout>", None)),
    );
    assert!(String::from_utf8_lossy(res.body()).contains("<d:timeout>3600</d:timeout>"));
}

#[test]
fn proppatch_is_atomic_and_checked() {
    let mut t = T::new();
    t.bruce_logs_in();
    t.bruce_watches_steve();
    let mixed = "<d:propertyupdate xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/'><d:set><d:prop><r:state><r:leased-value><r:value><r:busy/></r:value><r:default-value><r:offline/></r:default-value><d:timeout>1200</d:timeout></r:leased-value></r:state><d:displayname>Evil</d:displayname><r:email>x@y</r:email></d:prop></d:set></d:propertyupdate>";
    let (res, _, deliveries) = t.send(0, Some(STEVE), &proppatch(mixed));
    let m = multistatus(&res);
    assert_eq!(prop(&m, &PropName::State).map(|p| p.1), Some(424));
    assert_eq!(prop(&m, &PropName::DisplayName).map(|p| p.1), Some(403));
    assert_eq!(prop(&m, &PropName::Email).map(|p| p.1), Some(403));
    assert!(deliveries.is_empty(), "nothing changed, nobody told");
    assert_eq!(t.e.published_state(t.steve), Some(&PresenceState::Offline));
    // Only a directory property: 403 propstat.
    let name_only = "<d:propertyupdate xmlns:d='DAV:'><d:set><d:prop><d:displayname>Evil</d:displayname></d:prop></d:set></d:propertyupdate>";
    let m = multistatus(&t.send(0, Some(STEVE), &proppatch(name_only)).0);
    assert_eq!(prop(&m, &PropName::DisplayName).map(|p| p.1), Some(403));
    // Malformed, empty, wrong rights.
    assert_eq!(t.status(Some(STEVE), &proppatch("<d:propertyupdate")), 400);
    assert_eq!(t.status(Some(STEVE), &proppatch("")), 400);
    let nothing = "<d:propertyupdate xmlns:d='DAV:'/>";
    assert_eq!(t.status(Some(STEVE), &proppatch(nothing)), 400);
    let body = leased("busy", "<d:timeout>1200</d:timeout>", None);
    assert_eq!(t.status(None, &proppatch(&body)), 401, "asserted only");
    assert_eq!(
        t.status(Some(BRUCE), &proppatch(&body)),
        403,
        "someone else"
    );
}

// ------------------------------------------------------------------ NOTIFY §2.6

fn ex_2_6_a(ack: &str, hop: u32) -> Vec<u8> {
    wire(
        &format!(
            "NOTIFY /instmsg/aliases/bruceb HTTP/1.1
Host: im.acmewidgets.com
RVP-Notifications-Version: 0.2
RVP-Ack-Type: {ack}
RVP-Hop-Count: {hop}
RVP-From-Principal: http://im.example.com/instmsg/aliases/stevem
Content-Type: text/xml"
        ),
        "<?xml version=\"1.0\"?>\n<r:notification xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\">\n <r:message>\n  <r:notification-from>\n   <r:contact>\n    <d:href>http://im.example.com/instmsg/aliases/stevem</d:href>\n    <r:description>Steve Morgan</r:description>\n   </r:contact>\n  </r:notification-from>\n  <r:notification-to>\n   <r:contact>\n    <d:href>http://im.acmewidgets.com/instmsg/aliases/bruceb</d:href>\n    <r:description>bruce</r:description>\n   </r:contact>\n  </r:notification-to>\n  <r:msgbody>\n   <r:mime-data><![CDATA[MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nX-MMS-IM-Format: FN=Microsoft%20Sans%20Serif; EF=; CO=0; CS=0; PF=22\r\nSession-Id: {79FC61B5-1234-1234-8A10-941F33CA4C90}\r\n\r\nLet's have lunch]]></r:mime-data>\n  </r:msgbody>\n </r:message>\n</r:notification>",
    )
}

#[test]
fn notify_im_example_2_6_a_is_relayed_as_2_6_c() {
    let mut t = T::new();
    let login = t.bruce_logs_in();
    let bytes = ex_2_6_a("DeepOr", 1);
    let req = request(&bytes);
    let caller = caller(&bytes, SELF);
    t.e.handle_http(t.t0, RequestId(99), &caller, &req);
    let (answers, deliveries) = drain(&mut t.e);
    assert!(answers.is_empty(), "DeepOr waits for the client");
    assert_eq!(deliveries.len(), 1);
    let d = &deliveries[0];
    assert_eq!(d.destination(), ("198.176.154.132:1234", "/"));
    assert_eq!(
        d.relayed_body().unwrap().as_ptr(),
        req.body().as_ptr(),
        "the request's bytes are shared, not copied"
    );
    let n = notify(d);
    assert_eq!(n.method().as_str(), "NOTIFY");
    assert_eq!(n.uri().path(), "/");
    let h = |name: &str| n.headers().get(name).unwrap().to_str().unwrap().to_owned();
    assert_eq!(h("host"), "198.176.154.132:1234");
    assert_eq!(h("rvp-hop-count"), "2");
    assert_eq!(h("rvp-ack-type"), "DeepOr");
    assert_eq!(h("subscription-id"), login);
    assert_eq!(h("rvp-from-principal"), STEVE);
    assert_eq!(h("content-type"), "text/xml");
    assert_eq!(n.body(), req.body(), "body relayed byte for byte");
    assert!(matches!(
        Notification::parse(n.body()).unwrap(),
        Notification::Message(_)
    ));
    // The client accepts: the sender gets its 200.
    t.e.handle_delivery_result(t.t0, d.id(), DeliveryOutcome::Delivered);
    let (answers, _) = drain(&mut t.e);
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].request, RequestId(99));
    let res = wire::answer_response(&answers[0]);
    assert_eq!(res.status(), 200);
}

#[test]
fn notify_acknowledgements_and_refusals() {
    let mut t = T::new();
    // Nobody logged in: SingleHop 200 at once, DeepOr/DeepAnd 412.
    assert_eq!(t.status(SELF, &ex_2_6_a("SingleHop", 1)), 200);
    assert_eq!(t.status(SELF, &ex_2_6_a("DeepOr", 1)), 412);
    assert_eq!(t.status(SELF, &ex_2_6_a("DeepAnd", 1)), 412);
    // Hop limit (8): 500 with its reason phrase.
    let (_, a, _) = t.send(0, SELF, &ex_2_6_a("SingleHop", 8));
    assert!(
        a.to_bytes()
            .starts_with(b"HTTP/1.1 500 hop count exceeded\r\n")
    );
    // Malformed headers name themselves.
    let bad = String::from_utf8(ex_2_6_a("SingleHop", 1))
        .unwrap()
        .replace("RVP-Hop-Count: 1", "RVP-Hop-Count: many");
    let (res, _, _) = t.send(0, SELF, bad.as_bytes());
    assert_eq!(res.status(), 400);
    assert!(String::from_utf8_lossy(res.body()).contains("RVP-Hop-Count"));
    let bad = String::from_utf8(ex_2_6_a("SingleHop", 1))
        .unwrap()
        .replace("RVP-Ack-Type: SingleHop", "RVP-Ack-Type: Maybe");
    assert_eq!(t.status(SELF, bad.as_bytes()), 400);
    // Without RVP-From-Principal there is nobody to relay from.
    let anonymous = String::from_utf8(ex_2_6_a("SingleHop", 1))
        .unwrap()
        .replace(
            "RVP-From-Principal: http://im.example.com/instmsg/aliases/stevem\r\n",
            "",
        );
    assert_eq!(t.status(SELF, anonymous.as_bytes()), 400);
    // Nothing to relay.
    let empty = wire(
        &format!(
            "NOTIFY /instmsg/aliases/bruceb HTTP/1.1\nHost: im.acme.com\nRVP-From-Principal: {STEVE}"
        ),
        "",
    );
    assert_eq!(t.status(SELF, &empty), 400);
    // A NOTIFY to `/` is for a client's local node, not a node here.
    let root = wire(
        &format!("NOTIFY / HTTP/1.1\nHost: 127.0.0.1:5000\nRVP-From-Principal: {STEVE}"),
        "<r:notification xmlns:r='http://schemas.microsoft.com/rvp/'/>",
    );
    assert_eq!(t.status(SELF, &root), 404);
}

#[test]
fn deep_acknowledgements_through_the_wire() {
    // bruceb is logged in twice; the ack type decides when and what the sender hears.
    for (ack, outcomes, expected) in [
        (
            "DeepAnd",
            [
                DeliveryOutcome::Delivered,
                DeliveryOutcome::LeftConversation,
            ],
            500,
        ),
        (
            "DeepAnd",
            [DeliveryOutcome::Delivered, DeliveryOutcome::Delivered],
            200,
        ),
        (
            "DeepOr",
            [DeliveryOutcome::Failed, DeliveryOutcome::Failed],
            412,
        ),
        (
            "DeepOr",
            [DeliveryOutcome::Failed, DeliveryOutcome::Delivered],
            200,
        ),
    ] {
        let mut t = T::new();
        t.bruce_logs_in();
        let second = String::from_utf8(ex_2_1_a())
            .unwrap()
            .replace("198.176.154.132:1234", "198.176.154.133:1234");
        t.send(0, Some(BRUCE), second.as_bytes());
        let bytes = ex_2_6_a(ack, 1);
        t.e.handle_http(t.t0, RequestId(7), &caller(&bytes, SELF), &request(&bytes));
        let (answers, deliveries) = drain(&mut t.e);
        assert!(answers.is_empty() && deliveries.len() == 2, "{ack}");
        let mut heard = Vec::new();
        for (d, outcome) in deliveries.iter().zip(outcomes) {
            t.e.handle_delivery_result(t.t0, d.id(), outcome);
            heard.extend(drain(&mut t.e).0);
        }
        assert_eq!(heard.len(), 1, "{ack} {outcomes:?}: one answer");
        let res = wire::answer_response(&heard[0]);
        assert_eq!(res.status().as_u16(), expected, "{ack} {outcomes:?}");
    }
}

#[test]
fn property_change_notify_example_2_6_d() {
    let mut t = T::new();
    let login = t.bruce_logs_in();
    t.bruce_watches_steve();
    let body = leased("online", "<d:timeout>1200</d:timeout>", None);
    let (res, _, deliveries) = t.send(0, Some(STEVE), &proppatch(&body));
    assert_eq!(res.status(), 207);
    // bruceb's call-back is a logical URL hosted here: relayed to his client, hop 2.
    assert_eq!(deliveries.len(), 1);
    let n = notify(&deliveries[0]);
    let h = |name: &str| {
        n.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(n.uri().path(), "/");
    assert_eq!(h("host").as_deref(), Some("198.176.154.132:1234"));
    assert_eq!(h("rvp-hop-count").as_deref(), Some("2"));
    assert_eq!(h("rvp-from-principal").as_deref(), Some("im.example.com"));
    assert_eq!(h("subscription-id"), Some(login));
    assert_eq!(h("rvp-ack-type"), None);
    // Every r:contact carries r:description: the node's display name, and an empty one
    // for the watcher (unknown here).
    let expected = Notification::PropNotification(PropNotification {
        from: Contact::new(STEVE, "Steve Morgan"),
        to: Contact::new(BRUCE, ""),
        update: PropertyUpdate::set(vec![Property::state(StateValue::bare(
            PresenceState::Online,
        ))]),
    });
    assert_eq!(Notification::parse(n.body()).unwrap(), expected);
    // The precomputed prefix/suffix splice is byte for byte the XML writer's rendering.
    assert_eq!(&n.body()[..], &expected.to_bytes()[..]);
    assert_eq!(deliveries[0].callback().as_str(), BRUCE_CLIENT);
}

#[test]
fn spliced_property_changes_equal_the_xml_writer_for_every_state() {
    for state in [
        PresenceState::Online,
        PresenceState::Offline,
        PresenceState::Away,
        PresenceState::Busy,
        PresenceState::BackSoon,
        PresenceState::OnPhone,
        PresenceState::AtLunch,
        PresenceState::Idle,
        PresenceState::Invisible,
    ] {
        let mut t = T::new();
        // A remote watcher whose URL needs escaping.
        let cb = "http://remote.example.org/instmsg/aliases/o'neil&co";
        t.e.subscribe(
            t.t0,
            RequestId(1),
            &Caller::asserted(cb),
            &NodeKey::new("im.example.com", "stevem").unwrap(),
            rvp_presence::SubscribeParams::new(
                rvp_presence::SubscriptionKind::PropChange,
                cb.parse().unwrap(),
                3600,
            ),
        );
        drain(&mut t.e);
        let name = state.local_name();
        let body = leased(name, "<d:timeout>1200</d:timeout>", None);
        let (_, _, deliveries) = t.send(0, Some(STEVE), &proppatch(&body));
        if matches!(state, PresenceState::Offline | PresenceState::Invisible) {
            // Invisible is published as offline (§5.4): no change, no NOTIFY.
            assert!(deliveries.is_empty(), "{name} is no change");
            continue;
        }
        assert_eq!(deliveries.len(), 1, "{name}");
        let expected = Notification::PropNotification(PropNotification {
            from: Contact::new(STEVE, "Steve Morgan"),
            // The call-back as typed at SUBSCRIBE: its canonical text, escapes and all.
            to: Contact::new(
                cb.parse::<rvp_proto::header::CallBack>().unwrap().as_str(),
                "",
            ),
            update: PropertyUpdate::set(vec![Property::state(StateValue::bare(state.clone()))]),
        });
        let ours = deliveries[0].body_bytes();
        assert_eq!(&ours[..], &expected.to_bytes()[..], "{name}");
        assert_eq!(Notification::parse(&ours).unwrap(), expected);
    }
}

// ------------------------------------------------------------------ ACL §2.7

fn acl(body: &str) -> Vec<u8> {
    wire(
        &format!(
            "ACL /instmsg/aliases/bruceb HTTP/1.1\nRVP-Notifications-Version: 0.2\nHost: im.acme.com\nRVP-From-Principal: {BRUCE}"
        ),
        body,
    )
}

#[test]
fn acl_read_and_write_example_2_7() {
    let mut t = T::new();
    let (res, _, _) = t.send(0, Some(BRUCE), &acl(""));
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), Some("text/xml"));
    let read = RvpAcl::parse(res.body()).unwrap();
    assert_eq!(read.aces.len(), 2, "the default ACL: owner and everybody");
    assert!(
        read.aces.iter().any(
            |a| a.principal == AcePrincipal::AllPrincipals && a.grant.contains(Right::Presence)
        )
    );
    // A write without Content-Type (librvp): merged, answered with the whole ACL.
    let deny = "<?xml version=\"1.0\"?>
<a:rvpacl xmlns:a=\"http://schemas.microsoft.com/rvp/acl/\"><a:acl><a:inheritance>none</a:inheritance><a:ace><a:principal><a:rvp-principal>http://im.example.com/instmsg/aliases/steveb/</a:rvp-principal><a:credentials><a:assertion/><a:digest/><a:ntlm/></a:credentials></a:principal><a:grant/><a:deny><a:send-to/><a:presence/></a:deny></a:ace></a:acl></a:rvpacl>";
    let (res, _, _) = t.send(0, Some(BRUCE), &acl(deny));
    assert_eq!(res.status(), 200);
    let written = RvpAcl::parse(res.body()).unwrap();
    assert_eq!(written.aces.len(), 3);
    let steveb = written
        .aces
        .iter()
        .find(|a| {
            a.principal == AcePrincipal::Url("http://im.example.com/instmsg/aliases/steveb/".into())
        })
        .expect("the new ACE");
    assert!(steveb.deny.contains(Right::SendTo) && steveb.deny.contains(Right::Presence));
    // The same ACL, read back, is what the write answered.
    let (res, _, _) = t.send(0, Some(BRUCE), &acl(""));
    assert_eq!(RvpAcl::parse(res.body()).unwrap(), written);
}

#[test]
fn acl_refusals() {
    let mut t = T::new();
    let no_creds = "<a:rvpacl xmlns:a='http://schemas.microsoft.com/rvp/acl/'><a:acl><a:ace><a:principal><a:allprincipals/></a:principal><a:grant><a:presence/></a:grant><a:deny/></a:ace></a:acl></a:rvpacl>";
    let (res, a, _) = t.send(0, Some(BRUCE), &acl(no_creds));
    assert_eq!(res.status(), 400);
    assert!(
        a.to_bytes()
            .starts_with(b"HTTP/1.1 400 credentials not specified\r\n")
    );
    let unsupported = "<a:rvpacl xmlns:a='http://schemas.microsoft.com/rvp/acl/'><a:acl><a:ace><a:principal><a:allprincipals/><a:credentials><a:assertion/></a:credentials></a:principal><a:grant><a:writeowner/></a:grant><a:deny/></a:ace></a:acl></a:rvpacl>";
    let (res, _, _) = t.send(0, Some(BRUCE), &acl(unsupported));
    assert_eq!(res.status(), 400);
    assert!(String::from_utf8_lossy(res.body()).contains("writeowner"));
    assert_eq!(t.status(Some(BRUCE), &acl("<a:rvpacl")), 400);
    // Someone else, authenticated, may not read bruceb's ACL.
    assert_eq!(t.status(Some(STEVE), &acl("")), 403);
    assert_eq!(t.status(None, &acl("")), 401);
}

#[test]
fn xml_bodies_beyond_the_policy_limits_are_refused() {
    let mut policy = Policy::default();
    policy.xml_limits.max_input_bytes = 64;
    let t0 = Instant::now();
    let mut e = Engine::new(policy, t0).unwrap();
    e.register_principal(
        NodeKey::new("im.example.com", "stevem").unwrap(),
        DirectoryProperties::new("Steve Morgan", "stevem@example.com"),
    )
    .unwrap();
    let body = "<d:propfind xmlns:d='DAV:'><d:prop><d:displayname/></d:prop></d:propfind>";
    assert!(body.len() > 64);
    let bytes = propfind(Some("0"), body);
    let (res, _, _) = send(&mut e, t0, 1, &caller(&bytes, Some(STEVE)), &bytes);
    assert_eq!(res.status(), 400);
    assert!(String::from_utf8_lossy(res.body()).contains("limit of 64 bytes"));
    // Within the default limits the same body is fine.
    let mut t = T::new();
    assert_eq!(t.status(Some(STEVE), &bytes), 207);
}

// ------------------------------------------------------------------ other methods

#[test]
fn unsupported_methods() {
    let mut t = T::new();
    for (method, code) in [
        ("GET", 501),
        ("HEAD", 501),
        ("POST", 501),
        ("PUT", 501),
        ("LOCK", 501),
        ("UNLOCK", 501),
        ("OPTIONS", 501),
        ("MKCOL", 501),
        ("DELETE", 501),
        ("POLL", 501),
        ("subscribe", 501),
        ("COPY", 405),
        ("MOVE", 405),
    ] {
        let bytes = wire(
            &format!("{method} /instmsg/aliases/stevem HTTP/1.1\nHost: im.example.com"),
            "",
        );
        let (res, _, _) = t.send(0, SELF, &bytes);
        assert_eq!(res.status().as_u16(), code, "{method}");
    }
}

#[test]
fn node_forms_resolve() {
    let mut t = T::new();
    let body = "<d:propfind xmlns:d='DAV:'><d:prop><d:displayname/></d:prop></d:propfind>";
    for target in [
        "/instmsg/aliases/stevem",
        "/instmsg/aliases/SteveM",
        "/aliases/stevem",
        "/instmsg/local/im.example.com/instmsg/aliases/stevem",
        "http://im.example.com/instmsg/aliases/stevem",
        "http://imhome1.example.com/instmsg/local/im.example.com/instmsg/aliases/stevem",
    ] {
        let bytes = wire(
            &format!("PROPFIND {target} HTTP/1.1\nHost: im.example.com\nDepth: 0"),
            body,
        );
        let (res, a, _) = t.send(0, Some(STEVE), &bytes);
        assert_eq!(res.status(), 207, "{target}");
        assert!(matches!(a.outcome, Outcome::Properties(_)));
    }
    for target in [
        "/instmsg/aliases/nobody",
        "/instmsg/local/im.other.com/instmsg/aliases/stevem",
        "/groups/sales",
        "/",
    ] {
        let bytes = wire(
            &format!("PROPFIND {target} HTTP/1.1\nHost: im.example.com\nDepth: 0"),
            body,
        );
        assert_eq!(t.status(Some(STEVE), &bytes), 404, "{target}");
    }
    let bytes = wire(
        "PROPFIND /instmsg/aliases/a?b=c HTTP/1.1\nHost: im.example.com\nDepth: 0",
        body,
    );
    assert_eq!(t.status(Some(STEVE), &bytes), 400);
}
