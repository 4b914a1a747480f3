//! Watchers on other servers, found through a real DNS server: dnsmasq on a free
//! 127.0.0.1 port (started by the test; under `CI=true` a missing dnsmasq fails the test),
//! named as the server's `[resolve] nameserver`.
//!
//! A watcher's `Call-Back` is its logical URL on its own domain. The NOTIFY for a presence
//! change goes to the server `_rvp._tcp.<host>` names (SRV target and port), or to the
//! host's own address when there is no SRV record and the URL carries a port, with the
//! request-target `/instmsg/aliases/<alias>` and `Host: <host>` (PROTOCOL.md §7.4).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use rvp_interop::dnsmasq;

use std::time::Duration;

use rvp_interop::server::*;

/// A remote watcher `alias` at `url` subscribes to bob's presence.
async fn remote_watch(server: &TestServer, url: &str) {
    let watch = Req::new("SUBSCRIBE", &path("bob"))
        .header("Notification-Type", "update/propchange")
        .header("Subscription-Lifetime", "600")
        .header("Call-Back", url);
    let r = raw(server.addr, &watch.to_bytes(url, None)).await.unwrap();
    assert_eq!(r.status, 207, "{r:?}");
}

/// A server that finds other domains' servers through `dns` and may deliver to loopback
/// (every "remote server" here is on loopback, which DNS answers are otherwise never
/// allowed to point deliveries at), with bob signed on: the server, bob, his call-back.
async fn server_with_bob(dns: &dnsmasq::Dnsmasq) -> (TestServer, Client, Callback) {
    let server = TestServer::start(|c| {
        c.resolve.nameserver = Some(dns.addr);
        c.resolve.allow_loopback = true;
    })
    .await;
    let bob = server.client("bob");
    let cb_b = Callback::start(200).await;
    assert_eq!(bob.login(&cb_b.url(), 600).await.status, 200);
    (server, bob, cb_b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_reach_servers_found_by_srv_and_by_address() {
    // Two "remote servers": call-back listeners of ours on loopback ports.
    let mut by_srv = Callback::start(200).await;
    let mut by_address = Callback::start(200).await;
    let Some(dns) = dnsmasq::Dnsmasq::start_or_skip(
        "notifications_reach_servers_found_by_srv_and_by_address",
        &[
            // acme.test's RVP server is rvp.acme.test on by_srv's port.
            format!(
                "--srv-host=_rvp._tcp.acme.test,rvp.acme.test,{},0,0",
                by_srv.addr.port()
            ),
            "--host-record=rvp.acme.test,127.0.0.1".into(),
            // plain.test has no SRV record, only an address.
            "--host-record=plain.test,127.0.0.1".into(),
        ],
    ) else {
        return;
    };
    let (server, bob, _cb_b) = server_with_bob(&dns).await;
    assert_eq!(bob.set_state("online").await.status, 207);

    remote_watch(&server, "http://acme.test/instmsg/aliases/zed").await;
    let plain = format!(
        "http://plain.test:{}/instmsg/aliases/yan",
        by_address.addr.port()
    );
    remote_watch(&server, &plain).await;
    // A domain DNS knows nothing about: never delivered, and the server unharmed.
    remote_watch(&server, "http://nowhere.test/instmsg/aliases/x").await;

    for (round, state) in ["busy", "away"].into_iter().enumerate() {
        assert_eq!(bob.set_state(state).await.status, 207);
        let n = by_srv.state_change(state).await;
        assert_eq!(n.target, "/instmsg/aliases/zed", "round {round}");
        assert_eq!(n.header("Host"), Some("acme.test"));
        let n = by_address.state_change(state).await;
        assert_eq!(n.target, "/instmsg/aliases/yan", "round {round}");
        let host = format!("plain.test:{}", by_address.addr.port());
        assert_eq!(n.header("Host"), Some(host.as_str()));
    }
    assert!(
        by_srv
            .next_within(Duration::from_millis(300))
            .await
            .is_none()
    );
    server.stop().await;
    drop(dns);
}

/// A property change as another server sends it: `RVP-From-Principal` is the bare host.
fn server_propnotification(about: &str, to: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\"?><r:notification xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\"><r:propnotification><r:notification-from><r:contact><d:href>{about}</d:href><r:description/></r:contact></r:notification-from><r:notification-to><r:contact><d:href>{to}</d:href><r:description/></r:contact></r:notification-to><d:propertyupdate><d:set><d:prop><r:state><r:online/></r:state></d:prop></d:set></d:propertyupdate></r:propnotification></r:notification>"
    )
    .into_bytes()
}

/// A request speaking as another server (a bare host in `RVP-From-Principal`) is believed
/// only from an address its DNS points to (SRV target or address record, from a real
/// dnsmasq), or from `[resolve] peers`; and only about principals of its own domain.
/// Everything else is 403 and reaches nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_are_believed_only_from_where_their_dns_points() {
    let Some(dns) = dnsmasq::Dnsmasq::start_or_skip(
        "servers_are_believed_only_from_where_their_dns_points",
        &[
            // srv.test's server is rvp.srv.test at 127.0.0.3; a.test is at 127.0.0.1.
            "--srv-host=_rvp._tcp.srv.test,rvp.srv.test,80,0,0".into(),
            "--host-record=rvp.srv.test,127.0.0.3".into(),
            "--host-record=a.test,127.0.0.1".into(),
            "--host-record=far.test,127.0.0.9".into(),
        ],
    ) else {
        return;
    };
    let server = TestServer::start(|c| {
        c.resolve.nameserver = Some(dns.addr);
        c.resolve
            .peers
            .insert("listed.test".into(), vec!["127.0.0.4".parse().unwrap()]);
    })
    .await;
    let bob = server.client("bob");
    let mut cb = Callback::start(200).await;
    assert_eq!(bob.login(&cb.url(), 600).await.status, 200);
    let send = |src: &'static str, host: &'static str, about: String| {
        let req = Req::new("NOTIFY", &path("bob"))
            .header("Content-Type", "text/xml")
            .body(server_propnotification(&about, &url("bob")));
        let bytes = req.bytes_as(Some(host), None);
        let addr = server.addr;
        async move {
            raw_from(src.parse().unwrap(), addr, &bytes)
                .await
                .expect("an answer")
                .1
                .status
        }
    };
    // Believed: the address record, the SRV target, a configured peer.
    assert_eq!(
        send(
            "127.0.0.1",
            "a.test",
            "http://a.test/instmsg/aliases/zed".into()
        )
        .await,
        200
    );
    assert!(
        cb.next()
            .await
            .text()
            .contains("a.test/instmsg/aliases/zed")
    );
    assert_eq!(
        send(
            "127.0.0.3",
            "srv.test",
            "http://srv.test/instmsg/aliases/y".into()
        )
        .await,
        200
    );
    assert!(
        cb.next()
            .await
            .text()
            .contains("srv.test/instmsg/aliases/y")
    );
    assert_eq!(
        send(
            "127.0.0.4",
            "listed.test",
            "http://listed.test/instmsg/aliases/x".into()
        )
        .await,
        200
    );
    assert!(cb.next().await.text().contains("listed.test"));
    // Refused: the wrong address, a name DNS does not know, a principal of another
    // domain, and this server's own host.
    assert_eq!(
        send(
            "127.0.0.2",
            "a.test",
            "http://a.test/instmsg/aliases/zed".into()
        )
        .await,
        403
    );
    assert_eq!(
        send(
            "127.0.0.1",
            "far.test",
            "http://far.test/instmsg/aliases/w".into()
        )
        .await,
        403
    );
    assert_eq!(
        send(
            "127.0.0.1",
            "nowhere.test",
            "http://nowhere.test/instmsg/aliases/w".into()
        )
        .await,
        403
    );
    assert_eq!(
        send("127.0.0.1", "a.test", url("alice")).await,
        403,
        "a server speaks only for its own domain"
    );
    assert_eq!(send("127.0.0.1", "localhost", url("alice")).await, 401);
    assert!(
        cb.next_within(Duration::from_millis(300)).await.is_none(),
        "nothing refused was relayed"
    );
    server.stop().await;
}

/// A DNS answer for another domain never aims this server at its own host: with
/// `[resolve] allow_loopback` off (the default), a watcher whose domain resolves to a
/// loopback address gets nothing, and the server goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_answers_never_aim_deliveries_at_loopback() {
    let mut target = Callback::start(200).await;
    let Some(dns) = dnsmasq::Dnsmasq::start_or_skip(
        "dns_answers_never_aim_deliveries_at_loopback",
        &[
            format!(
                "--srv-host=_rvp._tcp.acme.test,rvp.acme.test,{},0,0",
                target.addr.port()
            ),
            "--host-record=rvp.acme.test,127.0.0.1".into(),
        ],
    ) else {
        return;
    };
    let server = TestServer::start(|c| c.resolve.nameserver = Some(dns.addr)).await;
    let bob = server.client("bob");
    let mut cb_b = Callback::start(200).await;
    assert_eq!(bob.login(&cb_b.url(), 600).await.status, 200);
    remote_watch(&server, "http://acme.test/instmsg/aliases/zed").await;
    assert_eq!(bob.set_state("busy").await.status, 207);
    assert!(
        target
            .next_within(Duration::from_millis(700))
            .await
            .is_none(),
        "a NOTIFY went to a loopback address DNS gave"
    );
    // The server is unharmed: bob's own login still hears an IM.
    let carol = server.client("carol");
    let r = carol
        .im("bob", &im_body_from(&carol.url(), "still here"), None)
        .await;
    assert_eq!(r.status, 200);
    assert!(cb_b.next().await.text().contains("still here"));
    server.stop().await;
}

/// A domain whose `_rvp._tcp` query gets no usable answer (here dnsmasq, with no upstream
/// server, answers the SRV query itself with an error or nothing) is reached at its address
/// record on port 80 (PROTOCOL.md §7.1): the fallback does not depend on the kind of
/// failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_srv_query_falls_back_to_the_address_on_port_80() {
    let at: std::net::SocketAddr = "127.0.0.78:80".parse().unwrap();
    let Some(mut remote) = Callback::start_at(at, 200).await else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI=true: cannot bind {at} (port 80 needs root)"
        );
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "SKIPPED a_failed_srv_query_falls_back_to_the_address_on_port_80: cannot bind {at}"
            );
        }
        return;
    };
    let Some(dns) = dnsmasq::Dnsmasq::start_or_skip(
        "a_failed_srv_query_falls_back_to_the_address_on_port_80",
        &["--host-record=fall.test,127.0.0.78".into()],
    ) else {
        return;
    };
    let (server, bob, _cb_b) = server_with_bob(&dns).await;
    remote_watch(&server, "http://fall.test/instmsg/aliases/q").await;
    assert_eq!(bob.set_state("away").await.status, 207);
    let n = remote.state_change("away").await;
    assert_eq!(n.target, "/instmsg/aliases/q");
    assert_eq!(n.header("Host"), Some("fall.test"));
    server.stop().await;
}
