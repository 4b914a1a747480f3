//! The router role finding home servers in DNS (PROTOCOL.md §7.3): a home server named in
//! the directory but not in `[router] homes` is looked up through `[resolve] nameserver`, a
//! real dnsmasq (the rvp-interop harness, so this file is left out of the package).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use rvp_interop::server::*;
use rvp_server::router::Role;

/// A home server the directory names by host name only (`home = "home1.corp.test:<port>"`,
/// not in `[router] homes`) is found in DNS through `[resolve] nameserver` (a real
/// dnsmasq): outside clients are proxied to it; without a nameserver the router cannot
/// reach it and says so (`502`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_servers_are_found_in_dns() {
    let Some(dns) = rvp_interop::dnsmasq::Dnsmasq::start_or_skip(
        "home_servers_are_found_in_dns",
        &["--host-record=home1.corp.test,127.0.0.1".into()],
    ) else {
        return;
    };
    let home = TestServer::start(|c| c.server.role = Role::Home).await;
    let named = format!("home1.corp.test:{}", home.addr.port());
    let outside = |c: &mut rvp_server::config::Config| {
        route_to(c, &named);
        c.router.inside = vec!["10.0.0.0/8".parse().unwrap()];
    };
    let router = TestServer::start(|c| {
        outside(c);
        c.resolve.nameserver = Some(dns.addr);
    })
    .await;
    let cb = Callback::start(200).await;
    let r = router.client("alice").login(&cb.url(), 600).await;
    assert_eq!(r.status, 200, "{r:?}");
    router.stop().await;
    // No nameserver: the name cannot be resolved, the router answers 502.
    let blind = TestServer::start(outside).await;
    let r = blind.client("alice").login(&cb.url(), 600).await;
    assert_eq!(r.status, 502, "{r:?}");
    blind.stop().await;
    home.stop().await;
}
