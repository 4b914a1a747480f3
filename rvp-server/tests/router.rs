//! The router role over real TCP (PROTOCOL.md §7.3): a home server holding alice and bob,
//! and a router for the same IM domain whose directory says they live there. Inside
//! clients get a `302` to the physical URL on the home server; outside clients are proxied
//! (the Digest exchange passes through, the answer is relayed byte for byte); unknown
//! users and other domains get `404`; the hop limit and the in-flight bound hold.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use rvp_interop::server::*;
use rvp_server::router::Role;

fn physical(home: SocketAddr, alias: &str) -> String {
    format!("http://{home}/instmsg/local/{DOMAIN}/instmsg/aliases/{alias}")
}

/// Inside (no `inside` ranges: everyone), every method is referred with a `302` naming
/// the home server and the physical URL; signing on there works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_clients_are_referred_to_the_home_server() {
    let (home, router) = organisation(|_| {}).await;
    let alice = router.client("alice");
    let cb = Callback::start(200).await;
    let r = alice.login(&cb.url(), 600).await;
    assert_eq!(r.status, 302, "{r:?}");
    assert_eq!(
        r.header("Location"),
        Some(physical(home.addr, "alice").as_str())
    );
    // PROPFIND too: every method.
    let r = alice.propfind("bob").await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("Location"),
        Some(physical(home.addr, "bob").as_str())
    );
    // Following the Location: the home server answers on the physical URL.
    let at_home = home.client("alice");
    let login = Req::new(
        "SUBSCRIBE",
        &format!("/instmsg/local/{DOMAIN}/instmsg/aliases/alice"),
    )
    .header("Notification-Type", "pragma/notify")
    .header("Subscription-Lifetime", "600")
    .header("Call-Back", &cb.url());
    assert_eq!(at_home.send(&login).await.status, 200);
    router.stop().await;
    home.stop().await;
}

/// Outside, requests are proxied: the 401 challenge of the home server, the Digest answer
/// (computed over the target the client used) and the final answer all pass through, and
/// the relayed answer is byte for byte what the home server says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_clients_are_proxied_byte_for_byte() {
    let (home, router) = organisation(|c| {
        c.router.inside = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;
    let alice = router.client("alice");
    let mut cb = Callback::start(200).await;
    assert_eq!(alice.login(&cb.url(), 600).await.status, 200);
    assert_eq!(alice.set_state("online").await.status, 207);
    // bob, signed on at home directly, watches alice and hears the state set via the router.
    let bob = home.client("bob");
    let r = bob.watch("alice", 600).await;
    assert_eq!(r.status, 207, "{r:?}");
    assert!(r.text().contains("<r:online/>"), "{}", r.text());
    // An IM to alice through the router reaches her login call-back.
    let r = bob_via(&router)
        .im("alice", &im_body_from(&url("bob"), "via the router"), None)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(cb.next().await.text().contains("via the router"));
    // Byte for byte: the same PROPFIND (a foreign principal, no credentials) both ways.
    let req = Req::new("PROPFIND", &path("alice"))
        .header("Depth", "0")
        .body(PROPFIND_BODY)
        .bytes_as(Some("http://other.example/instmsg/aliases/zed"), None);
    let direct = raw_from("127.0.0.1".parse().unwrap(), home.addr, &req)
        .await
        .unwrap();
    let routed = raw_from("127.0.0.1".parse().unwrap(), router.addr, &req)
        .await
        .unwrap();
    assert_eq!(direct.1.status, 207);
    assert_eq!(
        routed.0, direct.0,
        "the relayed answer differs from the home server's"
    );
    router.stop().await;
    home.stop().await;
}

fn bob_via(router: &TestServer) -> Client {
    router.client("bob")
}

/// Unknown users and other domains: `404` from the router, nothing forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_answers_404_for_nobody_of_ours() {
    let (home, router) = organisation(|_| {}).await;
    let mut nobody = router.client("nobody");
    nobody.authenticate = false;
    assert_eq!(nobody.propfind("nobody").await.status, 404);
    let other = Req::new("PROPFIND", "http://other.example/instmsg/aliases/alice")
        .header("Depth", "0")
        .body(PROPFIND_BODY)
        .bytes_as(Some("http://other.example/instmsg/aliases/zed"), None);
    let r = raw_from("127.0.0.1".parse().unwrap(), router.addr, &other)
        .await
        .unwrap()
        .1;
    assert_eq!(r.status, 404);
    router.stop().await;
    home.stop().await;
}

/// A trusted reverse proxy's `X-Forwarded-For` decides inside/outside; anyone else's is
/// ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let (home, router) = organisation(|c| {
        c.router.inside = vec!["10.0.0.0/8".parse().unwrap()];
        c.router.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let req = |xff: &str| {
        Req::new("PROPFIND", &path("alice"))
            .header("Depth", "0")
            .header("X-Forwarded-For", xff)
            .body(PROPFIND_BODY)
            .bytes_as(Some("http://other.example/instmsg/aliases/zed"), None)
    };
    let from = |ip: &str| ip.parse::<std::net::IpAddr>().unwrap();
    // From the trusted proxy: the client is 10.1.2.3, inside → 302.
    let r = raw_from(from("127.0.0.1"), router.addr, &req("10.1.2.3"))
        .await
        .unwrap()
        .1;
    assert_eq!(r.status, 302);
    // From elsewhere the header is ignored: 127.0.0.2 is outside → proxied (207).
    let r = raw_from(from("127.0.0.2"), router.addr, &req("10.1.2.3"))
        .await
        .unwrap()
        .1;
    assert_eq!(r.status, 207);
    router.stop().await;
    home.stop().await;
}

/// Loops end at the hop limit (`500`), and at most `max_in_flight` requests are proxied
/// at once (`503` beyond); a home server that does not answer costs `proxy_timeout`, then
/// `502`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_limit_in_flight_bound_and_a_silent_home() {
    // A "home server" that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let router = TestServer::start(|c| {
        route_to(c, &silent_addr.to_string());
        c.router.inside = vec!["10.0.0.0/8".parse().unwrap()];
        c.router.max_in_flight = 1;
        c.router.proxy_timeout = Duration::from_millis(800);
    })
    .await;
    let propfind = |hops: u32| {
        Req::new("PROPFIND", &path("alice"))
            .header("Depth", "0")
            .header("RVP-Hop-Count", &hops.to_string())
            .body(PROPFIND_BODY)
            .bytes_as(Some("http://other.example/instmsg/aliases/zed"), None)
    };
    let lo = "127.0.0.1".parse::<std::net::IpAddr>().unwrap();
    let r = raw_from(lo, router.addr, &propfind(8)).await.unwrap().1;
    assert_eq!(r.status, 500, "{r:?}");
    let addr = router.addr;
    let first = tokio::spawn(async move { raw_from(lo, addr, &propfind(1)).await.unwrap().1 });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = raw_from(lo, router.addr, &propfind(1)).await.unwrap().1;
    assert_eq!(second.status, 503, "{second:?}");
    let first = first.await.unwrap();
    assert_eq!(first.status, 502, "{first:?}");
    hold.abort();
    router.stop().await;
}

/// A home server behind a router judges the client the router forwards (`X-Forwarded-For`,
/// believed because the home lists the router in `[router] trusted_proxies`): another
/// server's property change, proxied by the router, is believed when it comes from where
/// that server is known to be, and refused from anywhere else; a home that does not trust
/// the router sees only the router's address and refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_behind_a_router_judges_the_forwarded_client() {
    for trusts_router in [true, false] {
        let home = TestServer::start(|c| {
            c.server.role = Role::Home;
            c.resolve
                .peers
                .insert("peer.test".into(), vec!["127.0.0.7".parse().unwrap()]);
            if trusts_router {
                c.router.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
            }
        })
        .await;
        let at = home.addr.to_string();
        let router = TestServer::start(|c| {
            route_to(c, &at);
            c.router.inside = vec!["10.0.0.0/8".parse().unwrap()];
        })
        .await;
        let bob = home.client("bob");
        let mut cb = Callback::start(200).await;
        assert_eq!(bob.login(&cb.url(), 600).await.status, 200);
        let change = format!(
            "<?xml version=\"1.0\"?><r:notification xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\"><r:propnotification><r:notification-from><r:contact><d:href>http://peer.test/instmsg/aliases/zed</d:href><r:description/></r:contact></r:notification-from><r:notification-to><r:contact><d:href>{}</d:href><r:description/></r:contact></r:notification-to><d:propertyupdate><d:set><d:prop><r:state><r:online/></r:state></d:prop></d:set></d:propertyupdate></r:propnotification></r:notification>",
            url("bob")
        );
        let req = Req::new("NOTIFY", &path("bob"))
            .header("Content-Type", "text/xml")
            .body(change.into_bytes())
            .bytes_as(Some("peer.test"), None);
        let from = |ip: &str| ip.parse::<std::net::IpAddr>().unwrap();
        let r = raw_from(from("127.0.0.7"), router.addr, &req)
            .await
            .unwrap()
            .1;
        if trusts_router {
            assert_eq!(r.status, 200, "{r:?}");
            assert!(
                cb.next()
                    .await
                    .text()
                    .contains("peer.test/instmsg/aliases/zed")
            );
        } else {
            assert_eq!(r.status, 403, "{r:?}");
        }
        let r = raw_from(from("127.0.0.8"), router.addr, &req)
            .await
            .unwrap()
            .1;
        assert_eq!(r.status, 403, "{r:?}");
        assert!(
            cb.next_within(Duration::from_millis(300)).await.is_none(),
            "a refused claim was relayed"
        );
        router.stop().await;
        home.stop().await;
    }
}

/// Two home servers of one domain: a user of one proves herself on the other (they share
/// the directory: carol, homed on home 2, watches alice on home 1), and a home server
/// speaks as the domain to the other (property changes of its users) when it comes from a
/// fellow server's address (`[router.homes]`), never from elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_servers_of_one_domain_verify_each_others_users() {
    let home1 = TestServer::start(|c| {
        for u in &mut c.users {
            if u.alias == "carol" {
                u.home = Some("home2.test".into());
            }
        }
    })
    .await;
    let home2 = TestServer::start(|c| {
        for u in &mut c.users {
            if u.alias != "carol" {
                u.home = Some("home1.test".into());
            }
        }
        c.router
            .homes
            .insert("home1.test".into(), "127.0.0.1:9".parse().unwrap());
    })
    .await;
    // carol, at home on home 2, watches alice on home 1: proven there.
    let r = home1.client("carol").watch("alice", 600).await;
    assert_eq!(r.status, 207, "{r:?}");
    // carol signs on at home 2; home 1 (a fellow address) tells her alice changed.
    let carol = home2.client("carol");
    let mut cb = Callback::start(200).await;
    assert_eq!(carol.login(&cb.url(), 600).await.status, 200);
    let change = format!(
        "<?xml version=\"1.0\"?><r:notification xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\"><r:propnotification><r:notification-from><r:contact><d:href>{}</d:href><r:description/></r:contact></r:notification-from><r:notification-to><r:contact><d:href>{}</d:href><r:description/></r:contact></r:notification-to><d:propertyupdate><d:set><d:prop><r:state><r:busy/></r:state></d:prop></d:set></d:propertyupdate></r:propnotification></r:notification>",
        url("alice"),
        url("carol")
    );
    let req = Req::new("NOTIFY", &path("carol"))
        .header("Content-Type", "text/xml")
        .body(change.into_bytes())
        .bytes_as(Some(DOMAIN), None);
    let from = |ip: &str| ip.parse::<std::net::IpAddr>().unwrap();
    let r = raw_from(from("127.0.0.1"), home2.addr, &req)
        .await
        .unwrap()
        .1;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(cb.next().await.text().contains("<r:busy/>"));
    // From an address that is no server of the domain: the domain is a local identity
    // that cannot be proven that way.
    let r = raw_from(from("127.0.0.9"), home2.addr, &req)
        .await
        .unwrap()
        .1;
    assert_eq!(r.status, 401, "{r:?}");
    assert!(cb.next_within(Duration::from_millis(300)).await.is_none());
    home2.stop().await;
    home1.stop().await;
}
