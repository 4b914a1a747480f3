//! Watchers on other servers, found through a real DNS server: dnsmasq on a free
//! 127.0.0.1 port (started by the test; under `CI=true` a missing dnsmasq fails the test),
//! named as the server's `[resolve] nameserver`.
//!
//! A watcher's `Call-Back` is its logical URL on its own domain. The NOTIFY for a presence
//! change goes to the server `_rvp._tcp.<host>` names (SRV target and port), or to the
//! host's own address when there is no SRV record and the URL carries a port, with the
//! request-target `/instmsg/aliases/<alias>` and `Host: <host>` (reference §7.4).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

#[path = "../../rvp-resolve/tests/support/dnsmasq.rs"]
mod dnsmasq;

use std::time::Duration;

use support::*;

/// A remote watcher `alias` at `url` subscribes to bob's presence.
async fn remote_watch(server: &TestServer, url: &str) {
    let watch = Req::new("SUBSCRIBE", &path("bob"))
        .header("Notification-Type", "update/propchange")
        .header("Subscription-Lifetime", "600")
        .header("Call-Back", url);
    let r = raw(server.addr, &watch.to_bytes(url, None)).await.unwrap();
    assert_eq!(r.status, 207, "{r:?}");
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
    let server = TestServer::start(|c| c.resolve.nameserver = Some(dns.addr)).await;
    let bob = server.client("bob");
    let cb_b = Callback::start(200).await;
    assert_eq!(bob.login(&cb_b.url(), 600).await.status, 200);
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
