//! Every wire example of PROTOCOL.md §2 (request and response heads) parses to the expected
//! typed values, with CRLF and with bare-LF line endings.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rvp_proto::codec::{RequestParser, ResponseParser, Status, TypedRequest, TypedResponse};
use rvp_proto::header::{
    AckType, Depth, HopCount, NotificationType, NotificationsVersion, SubscriptionLifetime,
};
use rvp_proto::url::{NodePath, NodeUrl};
use rvp_proto::{Method, MethodClass};

fn variants(text: &str) -> [Vec<u8>; 2] {
    [
        text.replace('\n', "\r\n").into_bytes(),
        text.as_bytes().to_vec(),
    ]
}

fn req(text: &str) -> TypedRequest {
    let mut out = None;
    for wire in variants(text) {
        let mut p = RequestParser::default();
        let Status::Complete(m) = p.parse(&wire).unwrap() else {
            panic!("partial: {text}")
        };
        assert_eq!(m.consumed(), wire.len(), "{text}");
        let t = m.head().typed().unwrap();
        if let Some(prev) = &out {
            assert_eq!(prev, &t, "CRLF and LF differ");
        }
        out = Some(t);
    }
    out.unwrap()
}

fn res(text: &str) -> TypedResponse {
    let mut out = None;
    for wire in variants(text) {
        let mut p = ResponseParser::default();
        let Status::Complete(m) = p.parse(&wire, true).unwrap() else {
            panic!("partial: {text}")
        };
        assert_eq!(m.consumed(), wire.len(), "{text}");
        let t = m.head().typed().unwrap();
        if let Some(prev) = &out {
            assert_eq!(prev, &t, "CRLF and LF differ");
        }
        out = Some(t);
    }
    out.unwrap()
}

fn logical(t: &TypedRequest) -> String {
    t.rvp
        .from_principal
        .as_ref()
        .and_then(|p| p.logical())
        .map(|l| l.to_string())
        .unwrap_or_default()
}

#[test]
fn example_2_1_a_login_subscription() {
    let t = req("SUBSCRIBE /instmsg/aliases/bruceb HTTP/1.1
Subscription-Lifetime: 14400
Notification-Type: pragma/notify
Call-Back: http://198.176.154.132:1234
RVP-Notifications-Version: 0.2
Host: imhome1.acme.com
Content-Length: 0
RVP-From-Principal: http://im.acme.com/instmsg/aliases/bruceb

");
    assert_eq!(t.method, MethodClass::Rvp(Method::Subscribe));
    assert_eq!(t.target.path, NodePath::Alias("bruceb".into()));
    assert_eq!(t.target.authority.as_deref(), Some("imhome1.acme.com"));
    assert_eq!(
        t.rvp.subscription_lifetime,
        Some(SubscriptionLifetime(14400))
    );
    assert_eq!(t.rvp.notification_type, Some(NotificationType::Notify));
    let NodeUrl::LocalNode(cb) = t.rvp.call_back.as_ref().unwrap().url() else {
        panic!()
    };
    assert_eq!((cb.host(), cb.port()), ("198.176.154.132", 1234));
    assert_eq!(
        t.rvp.notifications_version,
        Some(NotificationsVersion::V0_2)
    );
    assert_eq!(logical(&t), "http://im.acme.com/instmsg/aliases/bruceb");

    let r = res("HTTP/1.1 200 Successful
Subscription-Id: 98210
Subscription-Lifetime: 14400
RVP-Notifications-Version: 0.2
Content-Length: 0

");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.rvp.subscription_id.unwrap().as_minted().unwrap().get(),
        98210
    );
    assert_eq!(
        r.rvp.subscription_lifetime,
        Some(SubscriptionLifetime(14400))
    );
}

#[test]
fn example_2_1_a_librvp_variant() {
    let t = req("SUBSCRIBE /instmsg/aliases/utegaact HTTP/1.1
Content-Length: 0
RVP-Notifications-Version: 0.2
Host: omnent
Notification-Type: pragma/notify
RVP-From-Principal: http://omnent/instmsg/aliases/utegaact
Subscription-Lifetime: 14000
Call-Back: http://172.16.6.148:48401

");
    assert_eq!(
        t.rvp.subscription_lifetime,
        Some(SubscriptionLifetime(14000))
    );
    assert_eq!(
        t.rvp.call_back.unwrap().url().to_string(),
        "http://172.16.6.148:48401"
    );
    assert_eq!(
        t.target.logical().unwrap().to_string(),
        "http://omnent/instmsg/aliases/utegaact"
    );
}

#[test]
fn example_2_1_b_property_subscription() {
    let t = req(
        "SUBSCRIBE http://im.example.com/instmsg/aliases/stevem HTTP/1.1
Subscription-Lifetime: 14400
Notification-Type: update/propchange
Call-Back: http://im.acme.com/instmsg/aliases/bruceb
RVP-Notifications-Version: 0.2
Host: im.example.com
Content-Length: 0
RVP-From-Principal: http://im.acme.com/instmsg/aliases/bruceb

",
    );
    assert!(t.target.absolute);
    assert_eq!(
        t.target.logical().unwrap().to_string(),
        "http://im.example.com/instmsg/aliases/stevem"
    );
    assert_eq!(t.rvp.notification_type, Some(NotificationType::Propchange));
    assert_eq!(
        t.rvp
            .call_back
            .unwrap()
            .url()
            .logical()
            .unwrap()
            .to_string(),
        "http://im.acme.com/instmsg/aliases/bruceb"
    );
    let r = res("HTTP/1.1 207 Multi-Status
Subscription-Id: 79
Subscription-Lifetime: 14400
Content-Type: text/xml
Content-Length: 4
RVP-Notifications-Version: 0.2

<x/>");
    assert_eq!(r.status, 207);
    assert_eq!(r.rvp.subscription_id.unwrap().as_str(), "79");
}

#[test]
fn example_2_1_c_renewal() {
    let t = req("SUBSCRIBE /instmsg/aliases/stevem HTTP/1.1
Host: im.example.com
Subscription-Lifetime: 14400
Subscription-Id: 79
RVP-Notifications-Version: 0.2
RVP-From-Principal: http://im.acme.com/instmsg/aliases/bruceb
Content-Length: 0

");
    assert_eq!(t.rvp.subscription_id.unwrap().as_str(), "79");
    assert_eq!(t.rvp.notification_type, None);
    assert_eq!(t.rvp.call_back, None);
}

#[test]
fn example_2_2_unsubscribe() {
    let t = req("UNSUBSCRIBE /stock/companyA HTTP/1.1
Host: im.stockquotes.com
RVP-Notifications-Version: 0.2
RVP-From-Principal: http://im.acme.com/instmsg/aliases/bruceb
Subscription-Id: 1234
Content-Length: 0

");
    assert_eq!(t.method, MethodClass::Rvp(Method::Unsubscribe));
    assert_eq!(t.target.path, NodePath::Other("/stock/companyA".into()));
    assert_eq!(t.rvp.subscription_id.unwrap().as_str(), "1234");
    let r = res("HTTP/1.1 200 Successful
RVP-Notifications-Version: 0.2
Content-Length: 0

");
    assert_eq!(r.status, 200);
}

#[test]
fn example_2_3_subscriptions() {
    let t = req("SUBSCRIPTIONS /lists/sales-event HTTP/1.1
Host: im.example.com
RVP-Notifications-Version: 0.2
Notification-Type: update/propchange
RVP-From-Principal: http://im.acme.com/instmsg/aliases/bruceb
Content-Length: 0

");
    assert_eq!(t.method, MethodClass::Rvp(Method::Subscriptions));
    assert_eq!(t.target.path, NodePath::Other("/lists/sales-event".into()));
    assert_eq!(t.rvp.notification_type, Some(NotificationType::Propchange));
}

#[test]
fn example_2_4_propfind() {
    let t = req("PROPFIND /instmsg/aliases/stevem HTTP/1.1
Host: im.example.com
RVP-Notifications-Version: 0.2
RVP-From-Principal: http://im.example.com/instmsg/aliases/stevem
Depth: 0
Content-Type: text/xml
Content-Length: 3

<x>");
    assert_eq!(t.method, MethodClass::Rvp(Method::Propfind));
    assert_eq!(t.rvp.depth, Some(Depth::Zero));
    let r = res("HTTP/1.1 207 Multi-Status
Content-Type: text/xml
Content-Length: 0
RVP-Notifications-Version: 0.2

");
    assert_eq!(r.status, 207);
}

#[test]
fn example_2_5_proppatch() {
    let t = req("PROPPATCH /instmsg/aliases/stevem HTTP/1.1
Host: im.example.com
RVP-Notifications-Version: 0.2
RVP-From-Principal: http://im.example.com/instmsg/aliases/stevem
Content-Type: text/xml
Content-Length: 0

");
    assert_eq!(t.method, MethodClass::Rvp(Method::Proppatch));
    assert_eq!(logical(&t), "http://im.example.com/instmsg/aliases/stevem");
}

#[test]
fn example_2_6_a_instant_message() {
    let t = req("NOTIFY /instmsg/aliases/bruceb HTTP/1.1
Host: im.acmewidgets.com
RVP-Notifications-Version: 0.2
RVP-Ack-Type: DeepOr
RVP-Hop-Count: 1
RVP-From-Principal: http://im.example.com/instmsg/aliases/stevem
Content-Type: text/xml
Content-Length: 0

");
    assert_eq!(t.method, MethodClass::Rvp(Method::Notify));
    assert_eq!(t.rvp.ack_type(), AckType::DeepOr);
    assert_eq!(t.rvp.hop_count(), HopCount::ORIGIN);
    let r = res("HTTP/1.1 200 Successful
RVP-Notifications-Version: 0.2
Content-Length: 0

");
    assert_eq!(r.status, 200);
}

#[test]
fn example_2_6_c_relay_to_local_node() {
    let t = req("NOTIFY / HTTP/1.1
Host: 198.176.154.132:1234
RVP-Notifications-Version: 0.2
RVP-Ack-Type: DeepOr
RVP-Hop-Count: 2
Subscription-Id: 98210
RVP-From-Principal: http://im.example.com/instmsg/aliases/stevem
Content-Type: text/xml
Content-Length: 0

");
    assert_eq!(t.target.path, NodePath::Root);
    assert_eq!(t.target.authority.as_deref(), Some("198.176.154.132:1234"));
    assert_eq!(t.rvp.hop_count, HopCount::new(2));
    assert_eq!(t.rvp.subscription_id.unwrap().as_str(), "98210");
    let r = res("HTTP/1.1 200 Successful
RVP-Notifications-Version: 0.2
Content-Type: text/html
Content-Length: 6

<HTML>");
    assert_eq!(r.status, 200);
}

#[test]
fn example_2_6_d_property_notification_close_delimited_answer() {
    let t = req("NOTIFY / HTTP/1.1
RVP-Hop-Count: 2
RVP-Notifications-Version: 0.2
Host: 128.1.1.11
Content-Length: 0
Content-Type: text/xml
RVP-From-Principal: im.example.com

");
    assert_eq!(
        t.rvp.from_principal,
        Some(rvp_proto::header::FromPrincipal::Host(
            "im.example.com".into()
        ))
    );
    assert_eq!(t.rvp.ack_type(), AckType::SingleHop);
    // The answer has no Content-Length: its body ends with the connection.
    let r = res("HTTP/1.1 200 Successful
RVP-Notifications-Version: 0.2

");
    assert_eq!(r.status, 200);
}

#[test]
fn example_2_6_e_generic_notification() {
    let t = req("NOTIFY / HTTP/1.1
Host: shipper.com:5150
RVP-Notifications-Version: 0.2
RVP-Ack-Type: DeepOr
Subscription-Id: 9A504
Content-Type: text/xml
Content-Length: 0

");
    let id = t.rvp.subscription_id.unwrap();
    assert_eq!((id.as_str(), id.as_minted()), ("9A504", None));
    assert_eq!(t.rvp.from_principal, None);
    let r = res("HTTP/1.1 200 Successful
RVP-Notifications-Version: 0.2
Server: PackageClient/1.0

");
    assert_eq!(r.status, 200);
}

#[test]
fn example_2_7_acl() {
    let t = req("ACL /instmsg/aliases/bruceb HTTP/1.1
RVP-Notifications-Version: 0.2
Host: im.acme.com
Content-Length: 0
RVP-From-Principal: http://im.acme.com/instmsg/aliases/bruceb

");
    assert_eq!(t.method, MethodClass::Rvp(Method::Acl));
    let r = res("HTTP/1.1 200 Successful
Content-Type: text/xml
Content-Length: 0
RVP-Notifications-Version: 0.2

");
    assert_eq!(r.status, 200);
}

#[test]
fn example_2_8_authentication() {
    let r = res("HTTP/1.1 401 Access Denied
WWW-Authenticate: Negotiate
WWW-Authenticate: NTLM
WWW-Authenticate: Digest qop=\"auth\", realm=\"im.acme.com\", nonce=\"78a8ffeeb123458a400358100000b4d0ed33ae239123441b44896487feda\"
Content-Type: text/html
Content-Length: 0
RVP-Notifications-Version: 0.2

");
    assert_eq!(r.status, 401);
    let r = res("HTTP/1.1 200 Successful
Subscription-Id: 98210
Subscription-Lifetime: 14400
RVP-Notifications-Version: 0.2

");
    assert_eq!(
        r.rvp.subscription_lifetime,
        Some(SubscriptionLifetime(14400))
    );
}

#[test]
fn example_2_9_redirect() {
    let r = res("HTTP/1.1 302 Object moved
Location: http://imhome1.domain2.com/instmsg/local/im.domain2.com/instmsg/aliases/kevinf
RVP-Notifications-Version: 0.2
Content-Length: 0

");
    assert_eq!(r.status, 302);
    let loc: NodeUrl = r.location.unwrap().parse().unwrap();
    assert_eq!(
        loc.logical().unwrap().to_string(),
        "http://im.domain2.com/instmsg/aliases/kevinf"
    );
    let t = req(
        "SUBSCRIBE /instmsg/local/im.domain2.com/instmsg/aliases/kevinf HTTP/1.1
Host: imhome1.domain2.com

",
    );
    assert_eq!(
        t.target.logical().unwrap().to_string(),
        "http://im.domain2.com/instmsg/aliases/kevinf"
    );
}
