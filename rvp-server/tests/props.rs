//! Property test of the wired server over real TCP: any sequence of plausible requests
//! (every method, every user, with and without Digest, good and broken bodies) is answered
//! with a well-framed response, a request whose Digest answer verified is never answered
//! `401`, nothing fails with a 5xx, and the server keeps serving.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use proptest::prelude::*;
use rvp_interop::server::*;

const USERS: [&str; 3] = ["alice", "bob", "carol"];

#[derive(Debug, Clone)]
enum Op {
    Login,
    Watch(usize),
    State(&'static str),
    Im(usize, &'static str),
    Acl(usize, bool),
    AclRead(usize),
    Propfind(usize),
    Subscriptions,
    Unsubscribe(u32),
    BadXml(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Login),
        (0..3usize).prop_map(Op::Watch),
        prop::sample::select(vec!["online", "busy", "away", "offline", "idle"]).prop_map(Op::State),
        (
            0..3usize,
            prop::sample::select(vec!["SingleHop", "DeepOr", "DeepAnd"])
        )
            .prop_map(|(u, a)| Op::Im(u, a)),
        (0..3usize, any::<bool>()).prop_map(|(u, d)| Op::Acl(u, d)),
        (0..3usize).prop_map(Op::AclRead),
        (0..3usize).prop_map(Op::Propfind),
        Just(Op::Subscriptions),
        (0..20u32).prop_map(Op::Unsubscribe),
        (0..3usize).prop_map(Op::BadXml),
    ]
}

fn request(op: &Op, me: &str, callback: &str) -> Req {
    match op {
        Op::Login => Req::new("SUBSCRIBE", &path(me))
            .header("Notification-Type", "pragma/notify")
            .header("Subscription-Lifetime", "600")
            .header("Call-Back", callback),
        Op::Watch(u) => Req::new("SUBSCRIBE", &path(USERS[*u]))
            .header("Notification-Type", "update/propchange")
            .header("Subscription-Lifetime", "600")
            .header("Call-Back", &url(me)),
        Op::State(s) => Req::new("PROPPATCH", &path(me)).body(state_body(s, 600)),
        Op::Im(u, ack) => Req::new("NOTIFY", &path(USERS[*u]))
            .header("RVP-Ack-Type", ack)
            .body(im_body("prop")),
        Op::Acl(u, deny) => Req::new("ACL", &path(me)).body(acl_body(&url(USERS[*u]), *deny)),
        Op::AclRead(u) => Req::new("ACL", &path(USERS[*u])),
        Op::Propfind(u) => Req::new("PROPFIND", &path(USERS[*u]))
            .header("Depth", "0")
            .body(PROPFIND_BODY),
        Op::Subscriptions => {
            Req::new("SUBSCRIPTIONS", &path(me)).header("Notification-Type", "update/propchange")
        }
        Op::Unsubscribe(id) => {
            Req::new("UNSUBSCRIBE", &path(me)).header("Subscription-Id", &id.to_string())
        }
        Op::BadXml(u) => Req::new("PROPPATCH", &path(USERS[*u])).body("<d:propertyupdate><"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn any_request_sequence_is_served(
        steps in prop::collection::vec((0..3usize, op(), any::<bool>()), 1..16),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let server = TestServer::start(|_| {}).await;
            let callbacks = [
                Callback::start(200).await,
                Callback::start(404).await,
                Callback::start(200).await,
            ];
            for (who, op, authenticate) in &steps {
                let mut client = server.client(USERS[*who]);
                client.authenticate = *authenticate;
                let req = request(op, USERS[*who], &callbacks[*who].url());
                let first = raw(server.addr, &req.to_bytes(&client.url(), None))
                    .await
                    .expect("an answer");
                let r = if first.status == 401 && *authenticate {
                    assert_eq!(first.headers_named("WWW-Authenticate"), 1);
                    let r = client.send(&req).await;
                    assert_ne!(r.status, 401, "{op:?} by {}: verified, then 401", USERS[*who]);
                    r
                } else {
                    first
                };
                assert!(r.status < 500, "{op:?}: {r:?}");
                assert!(r.header("Content-Length").is_some());
                assert_eq!(r.header("RVP-Notifications-Version"), Some("0.2"));
            }
            let r = server.client("alice").propfind("bob").await;
            assert_eq!(r.status, 207, "still serving");
            server.stop().await;
        });
    }
}
