//! Routers, home servers and two federated organisations, end to end with the real librvp
//! client (Debian's `pidgin-librvp`, driven through `rvp-interop`), a real dnsmasq and the
//! real `rvp-server` binary in every role (issue 11).
//!
//! Each test re-runs itself in a private network namespace (`rvp_interop::netns`), where
//! every server owns port 80 of a 127.0.0.x address of its own and dnsmasq answers on
//! 127.0.0.53:53. librvp finds its servers exactly as it would in the wild: `_rvp._tcp` SRV
//! of the domain of its sign-in name, else the domain's address, port 80, through the C
//! library's resolver; each front end runs in a mount namespace of its own where the
//! test's `resolv.conf` is bind-mounted over `/etc/resolv.conf`
//! ([`NamespaceDns::client_wrapper`]). The servers ask the same dnsmasq (`[resolve]
//! nameserver`, `allow_loopback = true`: everything is on loopback here).
//!
//! **Router paths** (one organisation: a router and a home server; `alice@corp.test`,
//! `bob@corp.test`; `_rvp._tcp.corp.test SRV → im.corp.test:80`, the router):
//!
//! ```text
//!   inside  ([router] inside has the client):  librvp ──any method──► router ── 302 Location:
//!             http://home.corp.test/instmsg/local/im.corp.test/instmsg/aliases/<x>
//!           librvp ──the same request again (Digest against the home)──► home
//!   outside (not in [router] inside):          librvp ──► router ══proxied══► home
//!             (the home's 401, the Digest answer and the final answer pass through)
//! ```
//!
//! Both: sign-on, presence both ways, IMs both ways, sign-off seen by the buddy; the
//! protocol logs show that the path was the one meant (only 302s at the router and only
//! physical URLs at the home; or no 302 at all, the same answers logged by both, and only
//! logical URLs at the home).
//!
//! **Two organisations**:
//!
//! ```text
//!   org A: a.test, _rvp._tcp.a.test SRV → im.a.test:80   org B: b.test, NO SRV record (dnsmasq
//!          (librvp names A's users http://im.a.test/...)         answers the _rvp._tcp query
//!          router  im.a.test     127.0.1.1:80                    REFUSED): b.test A record, port 80
//!          home1.a.test (alice)  127.0.1.11:80                   router  b.test        127.0.0.1:80
//!          home2.a.test (carol)  127.0.1.12:80                   home1.b.test (bob)    127.0.2.11:80
//!                                                                home2.b.test (dave)   127.0.2.12:80
//!
//!   alice's librvp ──SUBSCRIBE bob, Call-Back http://im.a.test/instmsg/aliases/alice──► B's router
//!                  (SRV refused → b.test's address)          ══proxied══► home1.b.test
//!   home1.b.test ──NOTIFY /instmsg/aliases/alice, RVP-From-Principal: b.test──► A's router
//!                  (im.a.test: SRV refused → its address)    ══proxied══► home1.a.test
//!   home1.a.test believes "b.test" (DNS: b.test's address is where the request came from)
//!                ──relayed──► alice's login call-back
//!   and back: home1.a.test ──NOTIFY, RVP-From-Principal: im.a.test──► B's router ══► home1.b.test,
//!   which believes "im.a.test" through [resolve] peers.
//! ```
//!
//! Users of A watch and message users of B and back; dave (B) denies alice (A): alice sees
//! him offline and her IM is answered as to an offline user (`412`, which her librvp
//! receives), dave gets nothing. A claim to be a server DNS does not place anywhere
//! (`c.test`), sent through A's router, is refused by A's home server (`403`, relayed).
//! Not here: watches between two home servers of *one* organisation (alice and carol):
//! carol's home cannot verify alice's Digest answer (her credentials live on alice's home)
//! and librvp ends a session on a second `401`.
//!
//! **What loopback cannot show.** In one network namespace every connection leaves from
//! 127.0.0.1 (the kernel's source address for all of 127.0.0.0/8), whoever makes it: the
//! librvp clients, the servers' NOTIFYs and the routers' proxied requests. So (1) a router
//! cannot tell its own clients from the other organisation's servers: the federation test
//! puts nobody inside (`inside` = the organisation's server range, which no connection
//! comes from) and every request is proxied; the router-path tests show the inside `302`;
//! (2) B's router is placed on 127.0.0.1 so that "where b.test's DNS points" is also where
//! B's NOTIFYs come from, and A's homes believe b.test by DNS; B's homes believe im.a.test
//! through `[resolve] peers` (127.0.0.1). Any process of the namespace could claim either
//! name: the test shows that the trust check is passed and where it is made, not that it
//! tells organisations apart (`tests/foreign.rs` does, with distinct source addresses).
//! (3) A home server behind a router checks a server's claim against the address of the
//! connection it got, which is its router's: here that is 127.0.0.1 too. Where the router
//! has an address of its own, a claim proxied by it is checked against the router's
//! address, not the sender's (the router does not pass the sender's address on).
//!
//! Every wait is bounded ([`STEP`]), and so is each test ([`WHOLE`], a watchdog that prints
//! the logs, kills what the test started and exits). Without the front end, dnsmasq or a
//! network namespace the tests skip loudly, except under `CI=true` where they fail. On
//! failure every client's events and librvp log, every server's stderr and protocol log and
//! the DNS query log are printed.

#![cfg(all(feature = "cli", feature = "dns"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rvp_interop::dns::{self, NamespaceDns, Record};
use rvp_interop::event::{offline, online, status};
use rvp_interop::netns::{self, run_isolated};
use rvp_interop::report::{Failure, LogLine, Step, Watchdog, read_lossy, tail};
use rvp_interop::{Event, Frontend, PurpleClient, PurpleOptions, ensure, html_to_text};
use rvp_proto::state::PresenceState;
use rvp_server::auth::{Ha1, LibrvpCompat};

/// Bound on every single wait (an event, a sign-on, a server starting, a log line).
const STEP: Duration = Duration::from_secs(15);
/// Bound on one whole test; past it the watchdog reports and ends the process.
const WHOLE: Duration = Duration::from_secs(150);
/// How long a client is watched for something that must *not* arrive.
const QUIET: Duration = Duration::from_millis(1500);
/// How many lines of a client's librvp debug log a failure report quotes.
const DEBUG_TAIL_LINES: usize = 150;

const SERVER: &str = env!("CARGO_BIN_EXE_rvp-server");
/// The namespace's DNS server (port 53).
const DNS_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 53);

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

// ---------------------------------------------------------------------------------------
// The tests.

/// Inside clients: every method is answered `302` by the router and followed by librvp to
/// the home server's physical URL.
#[test]
fn librvp_inside_clients_follow_the_routers_302() {
    isolated("librvp_inside_clients_follow_the_routers_302", |net| {
        router_paths(net, Side::Inside)
    });
}

/// Outside clients: the router proxies everything to the home server.
#[test]
fn librvp_outside_clients_are_proxied_by_the_router() {
    isolated("librvp_outside_clients_are_proxied_by_the_router", |net| {
        router_paths(net, Side::Outside)
    });
}

/// Two organisations, each a router and two home servers, federated through DNS.
#[test]
fn librvp_users_of_two_federated_organisations() {
    isolated("librvp_users_of_two_federated_organisations", federation);
}

/// Says on the process's stderr (not libtest's captured output) that a test is skipped.
fn loud_skip(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

/// Runs `body` in a private network namespace with the librvp front end, then reports.
fn isolated(test: &'static str, body: fn(&mut Net<'_>) -> Step) {
    let Some(frontend) = Frontend::require() else {
        return;
    };
    if dns::dnsmasq_path().is_none() {
        assert!(
            !in_ci(),
            "CI=true: {test} needs dnsmasq (`bash .ci/install-deps` installs dnsmasq-base)"
        );
        loud_skip(&format!(
            "\n*** SKIPPED {test}: dnsmasq not found (apt-get install dnsmasq-base).\n"
        ));
        return;
    }
    run_isolated(test, Some(&frontend), || {
        if !netns::inside() {
            // run_isolated fell back to the host's loopback: port 53 and the addresses
            // used here are not ours to take there.
            assert!(
                !in_ci(),
                "CI=true: {test} needs a private network namespace (unshare --net, root)"
            );
            loud_skip(&format!(
                "\n*** SKIPPED {test}: no private network namespace (needs root).\n"
            ));
            return;
        }
        let mut net = Net::new(&frontend, test);
        let result = body(&mut net);
        net.finish(result);
    });
}

// ---------------------------------------------------------------------------------------
// Router paths.

/// Which way the router treats the clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Inside,
    Outside,
}

const CORP: &str = "corp.test";
/// The SRV target of corp.test: librvp names the users' URLs after it, so it is the
/// servers' `domain` (PROTOCOL.md §1.3, §7.1).
const CORP_IM: &str = "im.corp.test";
const CORP_ROUTER: Ipv4Addr = Ipv4Addr::new(127, 0, 3, 1);
const CORP_HOME: Ipv4Addr = Ipv4Addr::new(127, 0, 3, 11);
const CORP_HOME_NAME: &str = "home.corp.test";
const CORP_ALICE: &str = "alice@corp.test";
const CORP_BOB: &str = "bob@corp.test";
/// Passwords whose HA1 (realm im.corp.test) has no zero byte: librvp's answers are
/// standard (checked at the start).
const CORP_ALICE_PW: &str = "alice-corp-0";
const CORP_BOB_PW: &str = "bob-corp-0";

/// Every method librvp sends in this scenario (sign-on, buddies, states, IMs, sign-off).
const LIBRVP_METHODS: [&str; 7] = [
    "SUBSCRIBE",
    "PROPPATCH",
    "PROPFIND",
    "SUBSCRIPTIONS",
    "ACL",
    "NOTIFY",
    "UNSUBSCRIBE",
];

fn router_paths(net: &mut Net<'_>, side: Side) -> Step {
    check_passwords(CORP_IM, &[("alice", CORP_ALICE_PW), ("bob", CORP_BOB_PW)])?;
    net.start_dns(&[
        Record::rvp_srv(CORP, CORP_IM, 80),
        Record::a(CORP_IM, CORP_ROUTER),
        Record::a(CORP_HOME_NAME, CORP_HOME),
    ])?;
    net.pass("dnsmasq on 127.0.0.53:53: _rvp._tcp.corp.test SRV → im.corp.test:80 (the router)");

    let users = [("alice", CORP_ALICE_PW), ("bob", CORP_BOB_PW)];
    net.start_server(
        "home",
        CORP_HOME,
        &home_config(CORP_IM, CORP_HOME_NAME, &users, ""),
    )?;
    // Every client connects from 127.0.0.1: inside it is, or the range of the
    // organisation's servers only (nobody connects from there), and then every client is
    // outside.
    let inside = match side {
        Side::Inside => "127.0.0.1/32",
        Side::Outside => "127.0.3.0/24",
    };
    net.start_server(
        "router",
        CORP_ROUTER,
        &router_config(
            CORP_IM,
            inside,
            &[("alice", CORP_HOME_NAME), ("bob", CORP_HOME_NAME)],
            &[(CORP_HOME_NAME, CORP_HOME)],
        ),
    )?;
    net.pass(&format!(
        "home server home.corp.test on {CORP_HOME}:80, router im.corp.test on {CORP_ROUTER}:80 \
         ([router] inside = {inside})"
    ));

    net.sign_on(CORP_ALICE, CORP_ALICE_PW)?;
    net.sign_on(CORP_BOB, CORP_BOB_PW)?;
    net.pass("alice and bob signed on through the router");

    net.client(CORP_ALICE).add_buddy(CORP_BOB)?;
    net.client(CORP_BOB).add_buddy(CORP_ALICE)?;
    net.expect(CORP_ALICE, online(CORP_BOB))?;
    net.expect(CORP_BOB, online(CORP_ALICE))?;
    net.pass("alice and bob add each other and see each other online");

    net.client(CORP_BOB).set_state(&PresenceState::Busy)?;
    net.expect(CORP_ALICE, status(CORP_BOB, PresenceState::Busy))?;
    net.client(CORP_ALICE).set_state(&PresenceState::Away)?;
    net.expect(CORP_BOB, status(CORP_ALICE, PresenceState::Away))?;
    net.pass("bob -> busy seen by alice, alice -> away seen by bob");

    net.im(CORP_ALICE, CORP_BOB, "über den Router ☕")?;
    net.im(CORP_BOB, CORP_ALICE, "zurück ✓")?;
    net.pass("IMs alice -> bob and bob -> alice, non-ASCII text intact");

    net.sign_off(CORP_ALICE)?;
    net.expect(CORP_BOB, offline(CORP_ALICE))?;
    net.pass("alice signs off, bob sees her offline");
    net.sign_off(CORP_BOB)?;
    net.pass("bob signs off");
    // Stopped first: a server writes its protocol log in batches, flushed at exit.
    net.stop_servers()?;

    let router = net.server("router").protocol_lines();
    let home = net.server("home").protocol_lines();
    let physical = format!("/instmsg/local/{CORP_IM}/instmsg/aliases/");
    let methods = |lines: &[LogLine]| -> BTreeSet<String> {
        lines.iter().map(|l| l.method.clone()).collect()
    };
    let (at_router, at_home) = (methods(&router), methods(&home));
    let wanted: BTreeSet<String> = LIBRVP_METHODS.iter().map(|m| (*m).to_owned()).collect();
    ensure!(
        at_home == wanted,
        "the home server was sent {at_home:?}; this scenario makes librvp send {wanted:?}"
    );
    ensure!(
        home.iter()
            .any(|l| l.by("alice") && (200..300).contains(&l.status))
            && home
                .iter()
                .any(|l| l.by("bob") && (200..300).contains(&l.status)),
        "no request authenticated by alice and bob (Digest) reached the home server"
    );
    match side {
        Side::Inside => {
            let not_302: Vec<&str> = router
                .iter()
                .filter(|l| l.status != 302)
                .map(|l| l.raw.as_str())
                .collect();
            ensure!(
                not_302.is_empty(),
                "the router answered an inside client otherwise than with 302:\n{}",
                not_302.join("\n")
            );
            ensure!(
                at_router == at_home,
                "methods referred by the router {at_router:?}, followed to the home {at_home:?}"
            );
            let logical: Vec<&str> = home
                .iter()
                .filter(|l| !l.target.starts_with(&physical))
                .map(|l| l.raw.as_str())
                .collect();
            ensure!(
                logical.is_empty(),
                "requests reached the home server without a 302 (not on the physical URL):\n{}",
                logical.join("\n")
            );
            net.pass(&format!(
                "inside path: the router answered all {} requests with 302, librvp followed \
                 each to the physical URL on the home server ({} requests there, methods {at_home:?})",
                router.len(),
                home.len()
            ));
        }
        Side::Outside => {
            let redirects: Vec<&str> = router
                .iter()
                .filter(|l| l.status == 302)
                .map(|l| l.raw.as_str())
                .collect();
            ensure!(
                redirects.is_empty(),
                "the router sent an outside client a 302:\n{}",
                redirects.join("\n")
            );
            let physical_hits: Vec<&str> = home
                .iter()
                .filter(|l| l.target.starts_with("/instmsg/local/"))
                .map(|l| l.raw.as_str())
                .collect();
            ensure!(
                physical_hits.is_empty(),
                "an outside client learnt the home server's physical URL:\n{}",
                physical_hits.join("\n")
            );
            // Everything the home server answered went through the router, and the router
            // relayed exactly that answer (same method, target and status, as often).
            let key = |l: &LogLine| (l.method.clone(), l.target.clone(), l.status);
            let count = |lines: &[LogLine]| {
                let mut m: BTreeMap<(String, String, u16), usize> = BTreeMap::new();
                for l in lines {
                    *m.entry(key(l)).or_default() += 1;
                }
                m
            };
            let (relayed, served) = (count(&router), count(&home));
            ensure!(
                relayed == served,
                "the router's log (relayed answers) and the home server's differ:\n\
                 router {relayed:#?}\nhome {served:#?}"
            );
            ensure!(
                router.iter().any(|l| l.status == 401),
                "no 401 challenge was relayed: Digest did not pass through the router"
            );
            net.pass(&format!(
                "outside path: no 302; all {} requests (methods {at_router:?}, the home's 401 \
                 challenges included) were proxied and answered exactly as the home server \
                 answered them, on logical URLs only",
                router.len()
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Two organisations.

const A_DOMAIN: &str = "a.test";
/// A's SRV target and so the host of its users' URLs (the servers' `domain`).
const A_IM: &str = "im.a.test";
const A_ROUTER: Ipv4Addr = Ipv4Addr::new(127, 0, 1, 1);
const A_HOME1: (&str, Ipv4Addr) = ("home1.a.test", Ipv4Addr::new(127, 0, 1, 11));
const A_HOME2: (&str, Ipv4Addr) = ("home2.a.test", Ipv4Addr::new(127, 0, 1, 12));
/// B publishes no SRV record: its users' URLs are on b.test itself.
const B_DOMAIN: &str = "b.test";
/// Where every connection in the namespace comes from (see the module docs).
const B_ROUTER: Ipv4Addr = Ipv4Addr::LOCALHOST;
const B_HOME1: (&str, Ipv4Addr) = ("home1.b.test", Ipv4Addr::new(127, 0, 2, 11));
const B_HOME2: (&str, Ipv4Addr) = ("home2.b.test", Ipv4Addr::new(127, 0, 2, 12));

const ALICE: &str = "alice@a.test";
const CAROL: &str = "carol@a.test";
const BOB: &str = "bob@b.test";
const DAVE: &str = "dave@b.test";
/// HA1s (realms im.a.test and b.test) without a zero byte (checked at the start).
const ALICE_PW: &str = "alice-a-0";
const CAROL_PW: &str = "carol-a-0";
const BOB_PW: &str = "bob-b-0";
const DAVE_PW: &str = "dave-b-0";

fn federation(net: &mut Net<'_>) -> Step {
    check_passwords(A_IM, &[("alice", ALICE_PW), ("carol", CAROL_PW)])?;
    check_passwords(B_DOMAIN, &[("bob", BOB_PW), ("dave", DAVE_PW)])?;
    net.start_dns(&[
        Record::rvp_srv(A_DOMAIN, A_IM, 80),
        Record::a(A_IM, A_ROUTER),
        Record::a(A_HOME1.0, A_HOME1.1),
        Record::a(A_HOME2.0, A_HOME2.1),
        Record::a(B_DOMAIN, B_ROUTER),
        Record::a(B_HOME1.0, B_HOME1.1),
        Record::a(B_HOME2.0, B_HOME2.1),
    ])?;
    let dns = net.dns();
    let srv_a = dns.query(&format!("_rvp._tcp.{A_DOMAIN}"), dns::TYPE_SRV)?;
    let srv_b = dns.query(&format!("_rvp._tcp.{B_DOMAIN}"), dns::TYPE_SRV)?;
    let a_b = dns.query(B_DOMAIN, dns::TYPE_A)?;
    ensure!(
        srv_a.rcode == dns::RCODE_NOERROR && srv_a.answers == 1,
        "_rvp._tcp.a.test SRV: {srv_a:?}"
    );
    ensure!(
        srv_b.rcode == dns::RCODE_REFUSED && srv_b.answers == 0,
        "_rvp._tcp.b.test SRV should be answered with an error (REFUSED), got {srv_b:?}"
    );
    ensure!(a_b.answers == 1, "b.test A: {a_b:?}");
    net.pass(
        "dnsmasq: _rvp._tcp.a.test SRV → im.a.test:80; _rvp._tcp.b.test answered REFUSED, \
         b.test A 127.0.0.1",
    );

    // A's homes believe b.test where its DNS points; B's believe im.a.test as a peer.
    let resolve_a = format!("[resolve]\nnameserver = \"{DNS_IP}:53\"\nallow_loopback = true\n");
    let resolve_b = format!(
        "[resolve]\nnameserver = \"{DNS_IP}:53\"\nallow_loopback = true\n\
         [resolve.peers]\n\"{A_IM}\" = [\"127.0.0.1\"]\n"
    );
    net.start_server(
        "a-home1",
        A_HOME1.1,
        &home_config(A_IM, A_HOME1.0, &[("alice", ALICE_PW)], &resolve_a),
    )?;
    net.start_server(
        "a-home2",
        A_HOME2.1,
        &home_config(A_IM, A_HOME2.0, &[("carol", CAROL_PW)], &resolve_a),
    )?;
    net.start_server(
        "a-router",
        A_ROUTER,
        &router_config(
            A_IM,
            "127.0.1.0/24",
            &[("alice", A_HOME1.0), ("carol", A_HOME2.0)],
            &[A_HOME1, A_HOME2],
        ),
    )?;
    net.start_server(
        "b-home1",
        B_HOME1.1,
        &home_config(B_DOMAIN, B_HOME1.0, &[("bob", BOB_PW)], &resolve_b),
    )?;
    net.start_server(
        "b-home2",
        B_HOME2.1,
        &home_config(B_DOMAIN, B_HOME2.0, &[("dave", DAVE_PW)], &resolve_b),
    )?;
    net.start_server(
        "b-router",
        B_ROUTER,
        &router_config(
            B_DOMAIN,
            "127.0.2.0/24",
            &[("bob", B_HOME1.0), ("dave", B_HOME2.0)],
            &[B_HOME1, B_HOME2],
        ),
    )?;
    net.pass("org A (router + 2 homes) and org B (router + 2 homes) started on port 80");

    net.sign_on(ALICE, ALICE_PW)?;
    net.sign_on(CAROL, CAROL_PW)?;
    net.sign_on(BOB, BOB_PW)?;
    net.sign_on(DAVE, DAVE_PW)?;
    for (server, alias) in [
        ("a-home1", "alice"),
        ("a-home2", "carol"),
        ("b-home1", "bob"),
        ("b-home2", "dave"),
    ] {
        net.server(server)
            .wait_logged(&format!("{alias}'s login on {server}"), |l| {
                l.by(alias) && l.method == "SUBSCRIBE" && l.status == 200
            })?;
    }
    net.pass("alice, carol (A) and bob, dave (B) signed on, each at its own home server");

    net.client(ALICE).add_buddy(BOB)?;
    net.client(ALICE).add_buddy(DAVE)?;
    net.client(CAROL).add_buddy(DAVE)?;
    net.client(BOB).add_buddy(ALICE)?;
    net.client(DAVE).add_buddy(ALICE)?;
    net.client(DAVE).add_buddy(CAROL)?;
    for (watcher, buddy) in [
        (ALICE, BOB),
        (ALICE, DAVE),
        (CAROL, DAVE),
        (BOB, ALICE),
        (DAVE, ALICE),
        (DAVE, CAROL),
    ] {
        net.expect(watcher, online(buddy))?;
    }
    net.pass("watches across the boundary, both ways: everyone sees their buddies online");

    net.client(BOB).set_state(&PresenceState::Busy)?;
    net.expect(ALICE, status(BOB, PresenceState::Busy))?;
    net.client(DAVE).set_state(&PresenceState::Away)?;
    net.expect(ALICE, status(DAVE, PresenceState::Away))?;
    net.expect(CAROL, status(DAVE, PresenceState::Away))?;
    net.pass("B -> A: bob busy seen by alice, dave away seen by alice and carol");
    net.client(ALICE).set_state(&PresenceState::Busy)?;
    net.expect(BOB, status(ALICE, PresenceState::Busy))?;
    net.expect(DAVE, status(ALICE, PresenceState::Busy))?;
    net.client(CAROL).set_state(&PresenceState::OnPhone)?;
    net.expect(DAVE, status(CAROL, PresenceState::OnPhone))?;
    net.pass("A -> B: alice busy seen by bob and dave, carol on the phone seen by dave");

    net.im(ALICE, BOB, "Grüße von A ☕")?;
    net.im(BOB, ALICE, "und zurück von B ✓")?;
    net.im(CAROL, DAVE, "κάρολ → ντέιβ")?;
    net.im(DAVE, CAROL, "日本語で返事")?;
    net.pass("IMs across the boundary both ways (alice <-> bob, carol <-> dave), text intact");

    // Each hop, in the protocol logs. The presence NOTIFYs of B's homes reached A's
    // router, which proxied them to the watcher's home, which believed b.test and
    // relayed them (and the other way round, with im.a.test believed as a peer).
    for (router, home, alias, server_name) in [
        ("a-router", "a-home1", "alice", B_DOMAIN),
        ("a-router", "a-home2", "carol", B_DOMAIN),
        ("b-router", "b-home1", "bob", A_IM),
        ("b-router", "b-home2", "dave", A_IM),
    ] {
        let own = format!("/instmsg/aliases/{alias}");
        let at_home = net.server(home).wait_logged(
            &format!("a NOTIFY from {server_name} for {alias} at {home}"),
            |l| {
                l.method == "NOTIFY"
                    && l.target == own
                    && l.principal == server_name
                    && l.status == 200
            },
        )?;
        net.server(router)
            .wait_logged(&format!("NOTIFYs for {alias} proxied by {router}"), |l| {
                l.method == "NOTIFY" && l.target == own && l.status == 200
            })?;
        eprintln!("     {home}: {}", at_home.raw);
    }
    for (router, home, alias) in [
        ("b-router", "b-home1", "bob"),
        ("b-router", "b-home2", "dave"),
        ("a-router", "a-home1", "alice"),
        ("a-router", "a-home2", "carol"),
    ] {
        let own = format!("/instmsg/aliases/{alias}");
        let foreign = |l: &LogLine| {
            l.method == "SUBSCRIBE"
                && l.target == own
                && l.principal.starts_with("http://")
                && !l.principal.contains(&format!("/aliases/{alias}"))
                && (200..300).contains(&l.status)
        };
        net.server(home).wait_logged(
            &format!("a watch on {alias} from the other organisation"),
            foreign,
        )?;
        net.server(router)
            .wait_logged(&format!("{router} proxying the watch on {alias}"), |l| {
                l.method == "SUBSCRIBE" && l.target == own && (200..300).contains(&l.status)
            })?;
    }
    let dns_log = net.dns().log_text();
    for name in [format!("_rvp._tcp.{B_DOMAIN}"), format!("_rvp._tcp.{A_IM}")] {
        let answers = dns::answers_in_log(&dns_log, "SRV", &name);
        ensure!(
            !answers.is_empty() && answers.iter().all(|a| a.contains("REFUSED")),
            "dnsmasq should have refused every SRV query for {name}; it answered {answers:?}\n{}",
            dns::log_lines_about(&dns_log, &name)
        );
    }
    net.pass(
        "every hop logged: watches proxied by the other organisation's router to the home \
         server; presence NOTIFYs (RVP-From-Principal b.test / im.a.test) proxied by the \
         watcher's router and believed by its home; the SRV queries for b.test and \
         im.a.test were all REFUSED and the address records used",
    );

    // dave (B) denies alice (A): she sees him offline, carol (also A) still sees him away.
    net.client(DAVE).deny(ALICE)?;
    net.server("b-home2").wait_logged("dave's ACL write", |l| {
        l.by("dave") && l.method == "ACL" && (200..300).contains(&l.status)
    })?;
    net.expect(ALICE, offline(DAVE))?;
    net.nothing(CAROL, "dave offline for carol", offline(DAVE))?;
    net.pass("dave (B) denies alice (A): alice sees dave offline, carol does not");

    // librvp gets the 412 an offline dave would give. (It cannot show it: it names the
    // recipient of a refused NOTIFY after the URL's alias and its *own* domain,
    // `dave@a.test`, a conversation that does not exist, so no `send-failed` appears for
    // a user of another domain; within one domain it does, see interop_librvp.rs.)
    net.client(ALICE).send_im(DAVE, "bist du da, ü?")?;
    net.client_log_line(
        ALICE,
        "the 412 answer to her NOTIFY to dave",
        "got a 412 response to",
        "NOTIFY instmsg/aliases/dave",
    )?;
    let refused = net
        .server("b-home2")
        .wait_logged("alice's IM to dave refused", |l| {
            l.method == "NOTIFY"
                && l.target == "/instmsg/aliases/dave"
                && l.principal == format!("http://{A_IM}/instmsg/aliases/alice")
                && l.status == 412
        })?;
    net.server("b-router")
        .wait_logged("the 412 relayed by B's router", |l| {
            l.method == "NOTIFY" && l.target == "/instmsg/aliases/dave" && l.status == 412
        })?;
    net.nothing(
        DAVE,
        "alice's refused IM",
        |e| matches!(e, Event::Im { who, .. } if who == ALICE),
    )?;
    eprintln!("     b-home2: {}", refused.raw);
    net.pass(
        "alice's IM to dave answered 412 as for an offline user (by dave's home, relayed \
         by B's router, received by alice's librvp); nothing for dave",
    );

    // A server DNS does not place here is refused by A's home behind the router.
    let (status, answer) = raw_request(
        SocketAddr::from((A_ROUTER, 80)),
        &server_propchange(
            A_IM,
            "alice",
            "c.test",
            "http://c.test/instmsg/aliases/mallory",
        ),
    )?;
    ensure!(
        status == 403,
        "a NOTIFY speaking as c.test (unknown to DNS) through A's router: {status}\n{answer}"
    );
    net.server("a-home1")
        .wait_logged("the c.test claim refused", |l| {
            l.method == "NOTIFY" && l.target == "/instmsg/aliases/alice" && l.status == 403
        })?;
    net.nothing(ALICE, "anything about mallory", |e| {
        format!("{e:?}").contains("mallory")
    })?;
    net.pass("a NOTIFY speaking as c.test, sent through A's router: 403 from alice's home, nothing relayed");

    // Sign-offs cross the boundary too.
    net.sign_off(BOB)?;
    net.expect(ALICE, offline(BOB))?;
    net.sign_off(ALICE)?;
    net.expect(DAVE, offline(ALICE))?;
    net.pass("bob signs off (alice sees it), alice signs off (dave sees it)");
    net.sign_off(CAROL)?;
    net.sign_off(DAVE)?;
    net.pass("carol and dave sign off");
    net.stop_servers()
}

/// A NOTIFY as another server sends it: a property change of `about` (logical URL) for
/// `alias` of `domain`, `RVP-From-Principal: <from>`.
fn server_propchange(domain: &str, alias: &str, from: &str, about: &str) -> Vec<u8> {
    let to = format!("http://{domain}/instmsg/aliases/{alias}");
    let body = format!(
        "<?xml version=\"1.0\"?><r:notification xmlns:d=\"DAV:\" \
         xmlns:r=\"http://schemas.microsoft.com/rvp/\"><r:propnotification>\
         <r:notification-from><r:contact><d:href>{about}</d:href><r:description/></r:contact>\
         </r:notification-from><r:notification-to><r:contact><d:href>{to}</d:href>\
         <r:description/></r:contact></r:notification-to><d:propertyupdate><d:set><d:prop>\
         <r:state><r:online/></r:state></d:prop></d:set></d:propertyupdate>\
         </r:propnotification></r:notification>"
    );
    format!(
        "NOTIFY /instmsg/aliases/{alias} HTTP/1.1\r\nHost: {domain}\r\n\
         RVP-Notifications-Version: 0.2\r\nRVP-From-Principal: {from}\r\nRVP-Hop-Count: 1\r\n\
         Content-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends `request` on a new connection and reads the answer (bounded by [`STEP`]): its
/// status and its text.
fn raw_request(to: SocketAddr, request: &[u8]) -> Result<(u16, String), Failure> {
    let fail = |e: std::io::Error| Failure(format!("request to {to}: {e}"));
    let mut s = TcpStream::connect_timeout(&to, STEP).map_err(fail)?;
    s.set_read_timeout(Some(STEP)).map_err(fail)?;
    s.set_write_timeout(Some(STEP)).map_err(fail)?;
    s.write_all(request).map_err(fail)?;
    let mut answer = Vec::new();
    // `Connection: close`: the server closes after its answer.
    s.read_to_end(&mut answer).map_err(fail)?;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| Failure(format!("no status line from {to}: {text:?}")))?;
    Ok((status, text))
}

// ---------------------------------------------------------------------------------------
// Configurations.

fn check_passwords(realm: &str, users: &[(&str, &str)]) -> Step {
    for (user, password) in users {
        let got = Ha1::from_password(user, realm, password).librvp_compatible();
        ensure!(
            got == LibrvpCompat::Compatible,
            "{user}'s HA1 in realm {realm}: {got:?}; the test needs one without a zero byte"
        );
    }
    Ok(())
}

/// A home server of `domain` named `host_name`, holding `users`; `extra` is appended.
fn home_config(domain: &str, host_name: &str, users: &[(&str, &str)], extra: &str) -> String {
    let mut c = format!(
        "[server]\nrole = \"home\"\ndomain = \"{domain}\"\nhost_name = \"{host_name}\"\n\
         [auth]\nrequire_auth = true\n{extra}"
    );
    for (alias, password) in users {
        let _ = write!(
            c,
            "\n[[users]]\nalias = \"{alias}\"\npassword = \"{password}\"\n"
        );
    }
    c
}

/// A router of `domain` whose users live on the homes given (name → address, port 80).
fn router_config(
    domain: &str,
    inside: &str,
    users: &[(&str, &str)],
    homes: &[(&str, Ipv4Addr)],
) -> String {
    let mut c = format!(
        "[server]\nrole = \"router\"\ndomain = \"{domain}\"\nhost_name = \"{domain}\"\n\
         [router]\ninside = [\"{inside}\"]\n[router.homes]\n"
    );
    for (name, ip) in homes {
        let _ = writeln!(c, "\"{name}\" = \"{ip}:80\"");
    }
    for (alias, home) in users {
        let _ = write!(c, "\n[[users]]\nalias = \"{alias}\"\nhome = \"{home}\"\n");
    }
    c
}

// ---------------------------------------------------------------------------------------
// The harness of these tests: servers, clients, logs, the watchdog.

/// The real `rvp-server` binary in one role.
#[derive(Debug)]
struct ServerProcess {
    name: String,
    child: Child,
    listen: SocketAddr,
    stdout: PathBuf,
    stderr: PathBuf,
    protocol_log: PathBuf,
}

impl ServerProcess {
    /// Writes the configuration (`body` plus the listen address, storage and logs), starts
    /// the server and waits until it accepts connections.
    fn start(dir: &Path, name: &str, ip: Ipv4Addr, body: &str) -> Result<ServerProcess, Failure> {
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Failure(format!("creating {}: {e}", dir.display())))?;
        let listen = SocketAddr::from((ip, 80));
        let protocol_log = dir.join("protocol.log");
        // [server] and [log] keys go before the body's tables; the body starts with its
        // own [server] table, so they are spliced into it.
        let config = body.replacen(
            "[server]\n",
            &format!(
                "[server]\nlisten = [\"{listen}\"]\nstorage = \"{}\"\n",
                dir.join("store.redb").display()
            ),
            1,
        ) + &format!(
            "\n[log]\nprotocol_log = \"{}\"\nfilter = \"info,rvp_server=debug\"\n",
            protocol_log.display()
        );
        let path = dir.join("server.toml");
        std::fs::write(&path, &config)
            .map_err(|e| Failure(format!("writing {}: {e}", path.display())))?;
        let stdout = dir.join("stdout");
        let stderr = dir.join("stderr");
        let open = |p: &Path| {
            std::fs::File::create(p).map_err(|e| Failure(format!("creating {}: {e}", p.display())))
        };
        let child = Command::new(SERVER)
            .arg("--config")
            .arg(&path)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(open(&stdout)?)
            .stderr(open(&stderr)?)
            .spawn()
            .map_err(|e| Failure(format!("starting {SERVER}: {e}")))?;
        let mut server = ServerProcess {
            name: name.to_owned(),
            child,
            listen,
            stdout,
            stderr,
            protocol_log,
        };
        let deadline = Instant::now() + STEP;
        loop {
            if TcpStream::connect_timeout(&listen, Duration::from_millis(200)).is_ok() {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(Failure(format!(
                    "{name} exited at start-up ({status}):\n{}\nconfiguration:\n{config}",
                    read_lossy(&server.stderr)
                )));
            }
            ensure!(
                Instant::now() < deadline,
                "{name} does not accept connections on {listen} after {STEP:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn protocol_lines(&self) -> Vec<LogLine> {
        LogLine::read_all(&self.protocol_log)
    }

    /// Waits (bounded) until the protocol log has a line matching `pred`.
    fn wait_logged(&self, what: &str, pred: impl Fn(&LogLine) -> bool) -> Result<LogLine, Failure> {
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(line) = self.protocol_lines().into_iter().find(|l| pred(l)) {
                return Ok(line);
            }
            ensure!(
                Instant::now() < deadline,
                "{}: no protocol log line for {what} within {STEP:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then a bounded wait for a clean exit.
    fn terminate(&mut self) -> Step {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        ensure!(
            sent.as_ref().is_ok_and(|s| s.success()),
            "cannot send SIGTERM to {} ({pid}): {sent:?}",
            self.name
        );
        let deadline = Instant::now() + STEP;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                ensure!(
                    status.success(),
                    "{} exited with {status} after SIGTERM",
                    self.name
                );
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "{} still running {STEP:?} after SIGTERM",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the watchdog prints and kills when a test exceeds [`WHOLE`].
#[derive(Debug, Default)]
struct Registry {
    /// (label, pid) of every server and the DNS server.
    pids: Vec<(String, u32)>,
    /// Files worth printing: (label, path).
    files: Vec<(String, PathBuf)>,
}

/// Past [`WHOLE`]: the logs worth printing, then every server and the DNS server killed
/// (the clients end with the process: their stdin closes).
fn arm_watchdog(test: &'static str, registry: Arc<Mutex<Registry>>) -> Watchdog {
    Watchdog::arm(test, WHOLE, move || {
        let registry = registry.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        for (label, path) in &registry.files {
            let _ = writeln!(
                out,
                "===== {label} ({}) =====\n{}",
                path.display(),
                tail(&read_lossy(path), 200)
            );
        }
        for (_, pid) in &registry.pids {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        out
    })
}

/// Everything one test holds; dumped in full when a step fails.
struct Net<'a> {
    test: &'static str,
    frontend: &'a Frontend,
    dir: PathBuf,
    dns: Option<NamespaceDns>,
    servers: Vec<ServerProcess>,
    clients: BTreeMap<&'static str, PurpleClient>,
    /// Clients that ended (their logs stay wanted for a failure report).
    ended: Vec<PurpleClient>,
    registry: Arc<Mutex<Registry>>,
    watchdog: Option<Watchdog>,
    started: Instant,
    passed: usize,
}

impl<'a> Net<'a> {
    fn new(frontend: &'a Frontend, test: &'static str) -> Net<'a> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("rvp-federation-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the test's temporary folder");
        let registry = Arc::new(Mutex::new(Registry::default()));
        Net {
            test,
            frontend,
            dir,
            dns: None,
            servers: Vec::new(),
            clients: BTreeMap::new(),
            ended: Vec::new(),
            watchdog: Some(arm_watchdog(test, Arc::clone(&registry))),
            registry,
            started: Instant::now(),
            passed: 0,
        }
    }

    fn pass(&mut self, step: &str) {
        let t = self.started.elapsed().as_secs_f64();
        eprintln!("PASS {step} ({t:.2} s)");
        self.passed += 1;
    }

    fn register(&self, label: &str, pid: Option<u32>, files: &[(&str, &Path)]) {
        let mut r = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pid) = pid {
            r.pids.push((label.to_owned(), pid));
        }
        for (what, path) in files {
            r.files
                .push((format!("{label} {what}"), path.to_path_buf()));
        }
    }

    fn start_dns(&mut self, records: &[Record]) -> Step {
        let dns = NamespaceDns::start(DNS_IP, records, &self.dir.join("dns"))?;
        self.register("dnsmasq", Some(dns.pid()), &[("query log", dns.log_path())]);
        self.dns = Some(dns);
        Ok(())
    }

    fn dns(&self) -> &NamespaceDns {
        self.dns.as_ref().expect("dns started")
    }

    fn start_server(&mut self, name: &str, ip: Ipv4Addr, config: &str) -> Step {
        let server = ServerProcess::start(&self.dir, name, ip, config)?;
        self.register(
            name,
            Some(server.child.id()),
            &[
                ("stderr", &server.stderr),
                ("protocol log", &server.protocol_log),
            ],
        );
        self.servers.push(server);
        Ok(())
    }

    fn server(&self, name: &str) -> &ServerProcess {
        self.servers
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no server {name}"))
    }

    fn client(&mut self, user: &str) -> &mut PurpleClient {
        self.clients
            .get_mut(user)
            .unwrap_or_else(|| panic!("{user} is not signed on"))
    }

    /// Starts `user`'s librvp with the namespace's DNS and waits for its sign-on.
    fn sign_on(&mut self, user: &'static str, password: &str) -> Step {
        let options = PurpleOptions::new(user)
            .password(password)
            .frontend(self.frontend.clone())
            .wrapper(self.dns().client_wrapper())
            .debug(true);
        let mut client = PurpleClient::spawn(options)?;
        let signed_on = client.wait_signed_on(STEP);
        self.register(user, None, &[("librvp log", client.stderr_log())]);
        if let Err(e) = signed_on {
            self.ended.push(client);
            return Err(Failure(format!("{user} did not sign on: {e}")));
        }
        self.clients.insert(user, client);
        Ok(())
    }

    /// Signs `user` off (`logout`) and waits for its front end to end.
    fn sign_off(&mut self, user: &str) -> Step {
        let reason = self.client(user).logout_and_wait(STEP)?;
        if let Some(client) = self.clients.remove(user) {
            self.ended.push(client);
        }
        ensure!(
            reason == "logout",
            "{user}'s front end ended with {reason:?}"
        );
        Ok(())
    }

    fn expect(&mut self, user: &str, pred: impl Fn(&Event) -> bool) -> Result<Event, Failure> {
        Ok(self.client(user).expect(pred, STEP)?)
    }

    /// Waits (bounded) until `user`'s librvp debug log has a line containing both `a` and
    /// `b`.
    fn client_log_line(&mut self, user: &str, what: &str, a: &str, b: &str) -> Step {
        let log = self.client(user).stderr_log().to_path_buf();
        let deadline = Instant::now() + STEP;
        loop {
            if read_lossy(&log)
                .lines()
                .any(|l| l.contains(a) && l.contains(b))
            {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "{user}'s librvp log shows no {what} within {STEP:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Fails if `user` received anything matching `pred` within [`QUIET`].
    fn nothing(&mut self, user: &str, what: &str, pred: impl Fn(&Event) -> bool) -> Step {
        std::thread::sleep(QUIET);
        let client = self.client(user);
        client.command("ping quiet")?;
        client.expect(
            |e| matches!(e, Event::Pong { text } if text == "quiet"),
            STEP,
        )?;
        let got: Vec<Event> = client.pending_events().into_iter().filter(pred).collect();
        ensure!(got.is_empty(), "{user} received {what}: {got:?}");
        Ok(())
    }

    /// `from` sends `to` an IM; it arrives with its text intact.
    fn im(&mut self, from: &'static str, to: &'static str, text: &str) -> Step {
        self.client(from).send_im(to, text)?;
        let got = self.expect(to, |e| matches!(e, Event::Im { who, .. } if who == from))?;
        let Event::Im { text: got, .. } = &got else {
            unreachable!("matched an Im")
        };
        ensure!(
            html_to_text(got) == text,
            "{to} got {got:?} (as text {:?}), {from} sent {text:?}",
            html_to_text(got)
        );
        Ok(())
    }

    /// Checks that no server died, stops each with SIGTERM (which also flushes its protocol
    /// log: lines are written in batches), then that none answered 5xx.
    fn stop_servers(&mut self) -> Step {
        for server in &mut self.servers {
            ensure!(
                server.child.try_wait().ok().flatten().is_none(),
                "{} died during the test",
                server.name
            );
        }
        for server in &mut self.servers {
            server.terminate()?;
        }
        for server in &self.servers {
            let bad: Vec<String> = server
                .protocol_lines()
                .into_iter()
                .filter(|l| l.status >= 500)
                .map(|l| l.raw)
                .collect();
            ensure!(
                bad.is_empty(),
                "{} answered 5xx:\n{}",
                server.name,
                bad.join("\n")
            );
        }
        self.pass("all servers exited cleanly on SIGTERM; none died or answered 5xx");
        Ok(())
    }

    /// Everything worth reading after a failure.
    fn report(&self) -> String {
        let mut out = String::new();
        for client in self.ended.iter().chain(self.clients.values()) {
            let _ = writeln!(
                out,
                "===== {} events =====\n{}",
                client.user(),
                client.transcript().join("\n")
            );
            let _ = writeln!(
                out,
                "===== {} librvp debug log ({}) =====\n{}",
                client.user(),
                client.stderr_log().display(),
                tail(&read_lossy(client.stderr_log()), DEBUG_TAIL_LINES)
            );
        }
        for server in &self.servers {
            let _ = writeln!(
                out,
                "===== {} ({}) stdout =====\n{}\n===== {} stderr =====\n{}\n===== {} protocol log =====\n{}",
                server.name,
                server.listen,
                tail(&read_lossy(&server.stdout), 40),
                server.name,
                tail(&read_lossy(&server.stderr), 200),
                server.name,
                read_lossy(&server.protocol_log)
            );
        }
        if let Some(dns) = &self.dns {
            let _ = writeln!(
                out,
                "===== dnsmasq query log =====\n{}",
                tail(&dns.log_text(), 300)
            );
        }
        out
    }

    /// Reports the outcome: removes the folder after a success, prints everything and
    /// panics after a failure.
    fn finish(mut self, result: Step) {
        drop(self.watchdog.take());
        match result {
            Ok(()) => {
                eprintln!(
                    "PASS {}: {} steps in {:.2} s",
                    self.test,
                    self.passed,
                    self.started.elapsed().as_secs_f64()
                );
                self.clients.clear();
                self.ended.clear();
                self.servers.clear();
                self.dns = None;
                let _ = std::fs::remove_dir_all(&self.dir);
            }
            Err(Failure(why)) => {
                eprintln!(
                    "\nFAIL {} after {} passed steps ({:.2} s): {why}\n(test folder kept: {})\n{}",
                    self.test,
                    self.passed,
                    self.started.elapsed().as_secs_f64(),
                    self.dir.display(),
                    self.report()
                );
                panic!("{} failed: {why}", self.test);
            }
        }
    }
}
