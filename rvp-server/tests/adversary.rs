//! Issue 9, "believe no identity that is not proven": an adversarial suite against the real
//! `rvp-server` binary over real TCP on 127.0.0.0/8.
//!
//! Every test starts its own server from a TOML file in a temporary directory (users alice,
//! bob, carol and dave with passwords `<alias>-pw`, domain `localhost`, `require_auth =
//! true`, protocol log off) and plays an attacker: asserting a local user without proof,
//! asserting someone else with one's own proof, hijacking or cancelling other people's
//! subscriptions, guessing subscription ids, pointing call-backs at other machines, forging
//! message senders, probing for blocks through answers, and exhausting a node. Every wait
//! is bounded (a few seconds at most) and every loop is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use rvp_interop::server::*;
use tokio::net::TcpListener;

const BIN: &str = env!("CARGO_BIN_EXE_rvp-server");

/// The usual source address of a client.
const LO1: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
/// Another machine on the loopback network.
const LO2: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// How long a "nothing arrives" check waits.
const QUIET: Duration = Duration::from_millis(500);

/// A foreign principal: cannot be proven here, only asserted.
const MALLORY: &str = "http://other.example/instmsg/aliases/mallory";
/// A second foreign principal of the same foreign domain.
const TRUDY: &str = "http://other.example/instmsg/aliases/trudy";

/// The real binary, killed on drop; its configuration and store live in `dir`.
struct Server {
    addr: SocketAddr,
    /// Killed when dropped, before `_dir` goes.
    _process: ServerProcess,
    _dir: TempDir,
}

impl Server {
    /// Starts the binary with the suite's configuration plus `extra` TOML (whole tables,
    /// e.g. `"[policy]\nsubscriber_quota_per_node = 3\n"`).
    fn start(extra: &str) -> Server {
        let dir = TempDir::new("adversary");
        let mut text = format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nstorage = {:?}\n\
             [auth]\nrequire_auth = true\n\
             [log]\nprotocol_log = \"\"\nfilter = \"warn\"\n",
            dir.path().join("state.redb").display().to_string()
        );
        text.push_str(extra);
        for alias in ["alice", "bob", "carol", "dave"] {
            text.push_str(&format!(
                "[[users]]\nalias = \"{alias}\"\npassword = \"{alias}-pw\"\n"
            ));
        }
        let config = dir.path().join("server.toml");
        std::fs::write(&config, text).unwrap();
        let process = ServerProcess::start(BIN, &config);
        Server {
            addr: process.addr,
            _process: process,
            _dir: dir,
        }
    }

    fn client(&self, alias: &str) -> Client {
        Client::new(self.addr, alias)
    }

    /// Sends `req` without credentials from `src`, with `RVP-From-Principal: from` (if any).
    async fn bare_from(&self, src: IpAddr, req: &Req, from: Option<&str>) -> (Vec<u8>, Resp) {
        raw_from(src, self.addr, &req.bytes_as(from, None))
            .await
            .expect("an answer")
    }

    /// [`Server::bare_from`] from 127.0.0.1, parsed answer only.
    async fn bare(&self, req: &Req, from: Option<&str>) -> Resp {
        self.bare_from(LO1, req, from).await.1
    }
}

/// A server of the suite's configuration with bob signed on: the server, bob, his
/// call-back and his login subscription's id.
async fn with_bob_signed_on() -> (Server, Client, Callback, u32) {
    let srv = Server::start("");
    let bob = srv.client("bob");
    let cb_b = Callback::start(200).await;
    let login = sign_on(&bob, &cb_b).await;
    (srv, bob, cb_b, login)
}

/// Signs `who` on with a login subscription whose call-back is `cb`; its subscription id.
async fn sign_on(who: &Client, cb: &Callback) -> u32 {
    let r = who.login(&cb.url(), 14_400).await;
    assert_eq!(r.status, 200, "{} signs on: {r:?}", who.alias);
    r.subscription_id()
}

/// The owner's own (proven) list of the login subscriptions on its node.
async fn login_subscriptions(owner: &Client) -> String {
    let r = owner
        .send_proven(
            &Req::new("SUBSCRIPTIONS", &path(&owner.alias))
                .header("Notification-Type", "pragma/notify"),
            Some(&owner.url()),
        )
        .await;
    assert_eq!(r.status, 200, "{}'s SUBSCRIPTIONS: {r:?}", owner.alias);
    r.text()
}

fn lists(subscriptions: &str, id: u32) -> bool {
    subscriptions.contains(&format!("<r:subscription-id>{id}</r:subscription-id>"))
}

/// A `401` with exactly one `WWW-Authenticate`, a Digest challenge.
fn assert_challenged(r: &Resp, what: &str) {
    assert_eq!(r.status, 401, "{what}: {r:?}");
    assert_eq!(r.headers_named("WWW-Authenticate"), 1, "{what}: {r:?}");
    let c = r.header("WWW-Authenticate").unwrap();
    assert!(c.starts_with("Digest "), "{what}: {c}");
}

/// Nothing at all reaches `cb` within [`QUIET`].
async fn assert_quiet(cb: &mut Callback, what: &str) {
    if let Some(n) = cb.next_within(QUIET).await {
        panic!("{what}: the call-back received {n:?}");
    }
}

/// An IM NOTIFY to `to` (no `RVP-Ack-Type` unless `ack`).
fn im(to: &str, body: Vec<u8>, ack: Option<&str>) -> Req {
    let mut r = Req::new("NOTIFY", &path(to)).header("Content-Type", "text/xml");
    if let Some(a) = ack {
        r = r.header("RVP-Ack-Type", a);
    }
    r.body(body)
}

/// An UNSUBSCRIBE of subscription `id` on `node`.
fn unsubscribe(node: &str, id: u32) -> Req {
    Req::new("UNSUBSCRIBE", &path(node)).header("Subscription-Id", &id.to_string())
}

/// A renewal of subscription `id` on `node`: only `Subscription-Id` and the lifetime.
fn renewal(node: &str, id: u32) -> Req {
    Req::new("SUBSCRIBE", &path(node))
        .header("Subscription-Id", &id.to_string())
        .header("Subscription-Lifetime", "14400")
}

/// A new `update/propchange` watch of `node` with call-back `cb`.
fn watch(node: &str, cb: &str) -> Req {
    Req::new("SUBSCRIBE", &path(node))
        .header("Notification-Type", "update/propchange")
        .header("Subscription-Lifetime", "14400")
        .header("Call-Back", cb)
}

/// A property-change notification body, the shape servers send to watchers (§2.6-d).
fn propnotification_body(about: &str, to: &str, marker: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\"?><r:notification xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\"><r:propnotification><r:notification-from><r:contact><d:href>{about}</d:href><r:description>{marker}</r:description></r:contact></r:notification-from><r:notification-to><r:contact><d:href>{to}</d:href><r:description/></r:contact></r:notification-to><d:propertyupdate><d:set><d:prop><r:state><r:online/></r:state></d:prop></d:set></d:propertyupdate></r:propnotification></r:notification>"
    )
    .into_bytes()
}

/// An ACL write of one ACE for `who` with the given granted and denied rights.
fn acl_ace(who: &str, grant: &str, deny: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><a:rvpacl xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\" xmlns:a=\"http://schemas.microsoft.com/rvp/acl/\"><a:acl><a:inheritance>none</a:inheritance><a:ace><a:principal><a:rvp-principal>{who}</a:rvp-principal><a:credentials><a:assertion/><a:digest/><a:ntlm/></a:credentials></a:principal><a:grant>{grant}</a:grant><a:deny>{deny}</a:deny></a:ace></a:acl></a:rvpacl>"
    )
}

/// `owner` writes one ACE to its own ACL, proven.
async fn write_acl(owner: &Client, body: String) {
    let r = owner
        .send_proven(
            &Req::new("ACL", &path(&owner.alias)).body(body),
            Some(&owner.url()),
        )
        .await;
    assert_eq!(r.status, 200, "{}'s ACL write: {r:?}", owner.alias);
}

/// `who` signs off like a client: state offline, then UNSUBSCRIBE of its login.
async fn sign_off(who: &Client, login: u32) {
    let r = who.set_state("offline").await;
    assert!(
        (200..300).contains(&r.status),
        "{} offline: {r:?}",
        who.alias
    );
    let r = who
        .send_proven(&unsubscribe(&who.alias, login), Some(&who.url()))
        .await;
    assert_eq!(r.status, 200, "{} cancels its login: {r:?}", who.alias);
}

/// The exact bytes of an answer with the `Date` value and the target alias in the body
/// replaced (and `Content-Length` recomputed for the replaced body).
fn normalized(answer: &[u8], alias: &str) -> String {
    let text = String::from_utf8_lossy(answer).into_owned();
    let (head, body) = match text.find("\r\n\r\n") {
        Some(i) => (&text[..i], &text[i + 4..]),
        None => (text.as_str(), ""),
    };
    let body = body.replace(alias, "<alias>");
    let head: Vec<String> = head
        .split("\r\n")
        .map(|line| match line.split_once(':') {
            Some((n, _)) if n.trim().eq_ignore_ascii_case("date") => format!("{n}: <date>"),
            Some((n, _)) if n.trim().eq_ignore_ascii_case("content-length") => {
                format!("{n}: {}", body.len())
            }
            _ => line.to_owned(),
        })
        .collect();
    format!("{}\r\n\r\n{body}", head.join("\r\n"))
}

// ---- 1. Local identities must be proven ----

/// Attack: cancel bob's login subscription by asserting bob without credentials.
/// Rule: a request asserting a local user is challenged (401, one Digest challenge) and
/// nothing takes effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unproven_local_assertion_cannot_unsubscribe() {
    let (srv, bob, _cb_b, login) = with_bob_signed_on().await;
    assert!(lists(&login_subscriptions(&bob).await, login));

    let r = srv
        .bare(&unsubscribe("bob", login), Some(&url("bob")))
        .await;
    assert_challenged(&r, "UNSUBSCRIBE asserting bob without credentials");
    assert!(
        lists(&login_subscriptions(&bob).await, login),
        "bob's login subscription was cancelled by an unproven assertion"
    );
}

/// Attack: send bob an IM as alice by asserting alice without credentials.
/// Rule: a request asserting a local user is challenged (401) and nothing is relayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unproven_local_sender_is_challenged() {
    let (srv, _, mut cb_b, _) = with_bob_signed_on().await;

    let req = im("bob", im_body_from(&url("alice"), "pay mallory now"), None);
    let r = srv.bare(&req, Some(&url("alice"))).await;
    assert_challenged(&r, "IM asserting alice without credentials");
    assert_quiet(&mut cb_b, "an IM asserting alice without proof").await;
}

/// Attack: read bob's ACL and list his subscriptions by asserting bob without credentials.
/// Rule: a request asserting a local user is challenged (401).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unproven_local_assertion_reads_neither_acl_nor_subscriptions() {
    let (srv, _, _cb_b, _) = with_bob_signed_on().await;

    let r = srv
        .bare(&Req::new("ACL", &path("bob")), Some(&url("bob")))
        .await;
    assert_challenged(&r, "ACL read asserting bob without credentials");
    let subs = Req::new("SUBSCRIPTIONS", &path("bob")).header("Notification-Type", "pragma/notify");
    let r = srv.bare(&subs, Some(&url("bob"))).await;
    assert_challenged(&r, "SUBSCRIPTIONS asserting bob without credentials");
}

/// Attack: carol proves who she is, then asserts alice in `RVP-From-Principal`.
/// Rule: a proven caller asserting another local principal is refused (403), nothing is
/// relayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proven_caller_cannot_assert_another_local_user() {
    let (srv, _, mut cb_b, _) = with_bob_signed_on().await;
    let carol = srv.client("carol");

    let req = im("bob", im_body_from(&url("alice"), "it is me, alice"), None);
    let r = carol.send_proven(&req, Some(&url("alice"))).await;
    assert_eq!(r.status, 403, "carol asserting alice: {r:?}");
    assert_quiet(&mut cb_b, "carol's IM asserting alice").await;
}

/// Attack: speak as the server itself (`RVP-From-Principal: localhost`, what servers send
/// on property-change NOTIFYs) to plant a fake presence change on bob's client.
/// Rule: the server's own host is a local identity: unproven → 401, proven as someone else
/// (carol) → 403; nothing reaches bob.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_own_host_cannot_be_asserted() {
    let (srv, _, mut cb_b, _) = with_bob_signed_on().await;
    let carol = srv.client("carol");

    let req = Req::new("NOTIFY", &path("bob"))
        .header("Content-Type", "text/xml")
        .header("RVP-Hop-Count", "1")
        .body(propnotification_body(
            &url("alice"),
            &url("bob"),
            "forged-by-host",
        ));
    let r = srv.bare(&req, Some(DOMAIN)).await;
    assert_challenged(&r, "propnotification asserting the server's host");
    let r = carol.send_proven(&req, Some(DOMAIN)).await;
    assert_eq!(r.status, 403, "carol asserting the server's host: {r:?}");
    assert_quiet(&mut cb_b, "a propnotification asserting the server's host").await;
}

/// Attack: assert bob's alias under another host (`http://evil.example/.../bob`) and
/// cancel bob's login subscription.
/// Rule: principals match by their whole URL, never by alias: not 2xx, subscription kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_url_with_a_local_alias_is_not_the_local_user() {
    let (srv, bob, _cb_b, login) = with_bob_signed_on().await;

    let r = srv
        .bare(
            &unsubscribe("bob", login),
            Some("http://evil.example/instmsg/aliases/bob"),
        )
        .await;
    assert!(
        !(200..300).contains(&r.status),
        "evil.example's bob cancelled bob's login: {r:?}"
    );
    assert!(
        lists(&login_subscriptions(&bob).await, login),
        "bob's login subscription is gone"
    );
}

// ---- 2. Renewals and UNSUBSCRIBE only by the proven subscriber or the owner ----

/// Attack: keep bob's login subscription alive (or cancel it) knowing only its id, with no
/// identity at all or as another proven user.
/// Rule: only the proven subscriber or the node's owner renews or cancels: anonymous → not
/// 2xx, carol → 403, bob → 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_proven_subscriber_or_owner_renews_or_cancels() {
    let (srv, bob, _cb_b, login) = with_bob_signed_on().await;
    let carol = srv.client("carol");

    let r = srv.bare(&renewal("bob", login), None).await;
    assert!(
        !(200..300).contains(&r.status),
        "an anonymous renewal of bob's login: {r:?}"
    );
    let r = carol
        .send_proven(&renewal("bob", login), Some(&carol.url()))
        .await;
    assert_eq!(r.status, 403, "carol renews bob's login: {r:?}");
    let r = carol
        .send_proven(&unsubscribe("bob", login), Some(&carol.url()))
        .await;
    assert_eq!(r.status, 403, "carol cancels bob's login: {r:?}");
    assert!(
        lists(&login_subscriptions(&bob).await, login),
        "bob's login subscription is gone"
    );

    let r = bob
        .send_proven(&renewal("bob", login), Some(&bob.url()))
        .await;
    assert_eq!(r.status, 200, "bob renews his login: {r:?}");
    assert_eq!(r.subscription_id(), login);
}

// ---- 3. Unpredictable subscription ids ----

/// Attack: guess the id of someone's subscription from one's own (ids counting up).
/// Rule: ids are decimal integers in 1..2^31, distinct, and successive ones are not
/// consecutive numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_ids_are_unpredictable() {
    let srv = Server::start("");
    let carol = srv.client("carol");
    let cb1 = Callback::start(200).await;
    let cb2 = Callback::start(200).await;
    let mut ids: Vec<u64> = Vec::new();
    let mut take = |r: Resp, what: &str| {
        assert!((200..300).contains(&r.status), "{what}: {r:?}");
        let v = r
            .header("Subscription-Id")
            .expect("a Subscription-Id")
            .trim();
        assert!(
            !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()),
            "{what}: id {v:?} is not a decimal integer"
        );
        let id: u64 = v.parse().unwrap();
        assert!(
            (1..1u64 << 31).contains(&id),
            "{what}: id {id} out of 1..2^31"
        );
        ids.push(id);
    };
    take(carol.login(&cb1.url(), 14_400).await, "login 1");
    for who in ["alice", "bob", "dave"] {
        take(carol.watch(who, 14_400).await, who);
    }
    take(carol.login(&cb2.url(), 14_400).await, "login 2");
    for who in ["alice", "bob", "dave"] {
        take(carol.watch(who, 14_400).await, who);
    }
    assert_eq!(ids.len(), 8);
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "repeated ids: {ids:?}");
    for w in ids.windows(2) {
        assert_ne!(
            w[0].abs_diff(w[1]),
            1,
            "successive ids are consecutive: {ids:?}"
        );
    }
}

// ---- 4. IP call-backs tie to the caller's own address ----

/// Attack: from 127.0.0.2, subscribe a third machine's address (127.0.0.1:port) to alice's
/// presence, asserting that address as the principal: a reflection of notifications onto a
/// victim.
/// Rule: an IP call-back of an unproven caller must be the caller's own address: 401, and
/// the victim never gets a connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_call_back_of_another_address_is_refused() {
    let srv = Server::start("");
    let victim = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let victim_url = format!("http://{}", victim.local_addr().unwrap());

    let (_, r) = srv
        .bare_from(LO2, &watch("alice", &victim_url), Some(&victim_url))
        .await;
    assert_challenged(&r, "an IP call-back on another address");

    let alice = srv.client("alice");
    let cb_a = Callback::start(200).await;
    sign_on(&alice, &cb_a).await;
    let r = alice.set_state("online").await;
    assert_eq!(r.status, 207, "{r:?}");
    if let Ok(accepted) = tokio::time::timeout(Duration::from_secs(1), victim.accept()).await {
        panic!(
            "the victim's address was connected to: {:?}",
            accepted.map(|(_, a)| a)
        );
    }
}

/// Control for the attack above: a client subscribing its own address (127.0.0.1 from
/// 127.0.0.1) is accepted and served.
/// Rule: an IP call-back on the caller's own address is accepted (2xx).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_call_back_of_ones_own_address_is_accepted() {
    let srv = Server::start("");
    let mut own = Callback::start(200).await;
    let own_url = own.url();

    let (_, r) = srv
        .bare_from(LO1, &watch("alice", &own_url), Some(&own_url))
        .await;
    assert!((200..300).contains(&r.status), "own IP call-back: {r:?}");

    let alice = srv.client("alice");
    let cb_a = Callback::start(200).await;
    sign_on(&alice, &cb_a).await;
    assert_eq!(alice.set_state("online").await.status, 207);
    own.state_change("online").await;
}

/// Attack: carol (proven) from 127.0.0.2 subscribes 127.0.0.1:port to alice's presence.
/// Rule: a call-back that is not one's own logical URL needs `subscribe-others` on the
/// node; carol lacks it on alice's node: 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proven_caller_needs_subscribe_others_for_an_ip_call_back() {
    let srv = Server::start("");
    let carol = srv.client("carol");
    let victim = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let victim_url = format!("http://{}", victim.local_addr().unwrap());

    let (_, r) = carol
        .send_proven_from(LO2, &watch("alice", &victim_url), Some(&carol.url()))
        .await;
    assert_eq!(r.status, 403, "carol's IP call-back on alice's node: {r:?}");
}

/// Attack: call-backs that dodge the IP rule: a logical URL on this server that names no
/// principal, and a "principal of another domain" whose domain is an IP literal (so its
/// notifications go to that machine's port 80).
/// Rule: a logical-URL call-back must be a principal URL, and a domain is never an IP
/// literal: both 4xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_backs_that_are_no_principal_or_an_ip_domain_are_refused() {
    let srv = Server::start("");
    let alice = srv.client("alice");

    let r = alice
        .send_proven(
            &watch("alice", "http://localhost/not/a/principal"),
            Some(&alice.url()),
        )
        .await;
    assert!(
        (400..500).contains(&r.status),
        "a call-back that is no principal: {r:?}"
    );

    let ip_principal = "http://127.0.0.1/instmsg/aliases/x";
    let (_, r) = srv
        .bare_from(LO2, &watch("alice", ip_principal), Some(ip_principal))
        .await;
    assert!(
        (400..500).contains(&r.status),
        "a call-back naming a domain by IP literal: {r:?}"
    );
}

// ---- 5. Forged message senders ----

/// Attack: carol (proven, asserting herself) sends bob an IM whose body says it is from
/// alice (`r:notification-from`), which clients display as the sender.
/// Rule: the body's sender must be the proven sender: 403 and nothing relayed; with her own
/// href it is delivered, with `RVP-From-Principal` carol.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_sender_in_the_message_body_is_refused() {
    let (srv, _, mut cb_b, _) = with_bob_signed_on().await;
    let carol = srv.client("carol");

    let forged = im("bob", im_body_from(&url("alice"), "forged alice"), None);
    let r = carol.send_proven(&forged, Some(&carol.url())).await;
    assert_eq!(
        r.status, 403,
        "carol's IM claiming alice in the body: {r:?}"
    );
    assert_quiet(&mut cb_b, "an IM with a forged body sender").await;

    let honest = im("bob", im_body_from(&carol.url(), "honest carol"), None);
    let r = carol.send_proven(&honest, Some(&carol.url())).await;
    assert_eq!(r.status, 200, "carol's honest IM: {r:?}");
    let n = cb_b.next().await;
    assert!(n.text().contains("honest carol"), "{n:?}");
    assert_eq!(n.header("RVP-From-Principal"), Some(url("carol").as_str()));
}

// ---- 6. Blocked looks exactly like offline ----

/// Attack: tell "bob blocked me" from "bob is offline" by comparing the answers to IMs.
/// Rule: an IM refused for `send-to` gets byte-for-byte the answer an offline recipient's
/// IM gets (after `Date` and the target alias), for an asserted foreign sender and for a
/// proven local one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_looks_exactly_like_offline() {
    let (srv, bob, mut cb_b, login) = with_bob_signed_on().await;
    let carol = srv.client("carol");
    assert_eq!(bob.set_state("online").await.status, 207);
    write_acl(&bob, acl_body(MALLORY, true)).await;
    write_acl(&bob, acl_body(&url("carol"), true)).await;

    let mallory_im = |to: &str| im(to, im_body_from(MALLORY, "knock knock"), None);
    let carol_im = |to: &str| im(to, im_body_from(&url("carol"), "knock knock"), None);

    // (i) bob online, blocking both.
    let (m_blocked, _) = srv.bare_from(LO1, &mallory_im("bob"), Some(MALLORY)).await;
    let (c_blocked, _) = carol
        .send_proven_from(LO1, &carol_im("bob"), Some(&carol.url()))
        .await;
    // (ii) dave never signed on.
    let (m_offline, _) = srv.bare_from(LO1, &mallory_im("dave"), Some(MALLORY)).await;
    let (c_offline, _) = carol
        .send_proven_from(LO1, &carol_im("dave"), Some(&carol.url()))
        .await;
    // (iii) bob signed off.
    sign_off(&bob, login).await;
    let (m_gone, _) = srv.bare_from(LO1, &mallory_im("bob"), Some(MALLORY)).await;

    // Everything bob's client received meanwhile: none of it is a blocked IM (bounded).
    for _ in 0..20 {
        let Some(n) = cb_b.next_within(Duration::from_millis(200)).await else {
            break;
        };
        assert!(
            !n.text().contains("knock knock"),
            "a blocked IM reached bob: {n:?}"
        );
    }
    let offline = normalized(&m_offline, "dave");
    let pairs = [
        (
            "mallory: bob blocking, online",
            normalized(&m_blocked, "bob"),
            "mallory: dave offline",
            offline.clone(),
        ),
        (
            "mallory: bob signed off",
            normalized(&m_gone, "bob"),
            "mallory: dave offline",
            offline,
        ),
        (
            "carol: bob blocking, online",
            normalized(&c_blocked, "bob"),
            "carol: dave offline",
            normalized(&c_offline, "dave"),
        ),
    ];
    let differ: Vec<String> = pairs
        .iter()
        .filter(|(_, a, _, b)| a != b)
        .map(|(na, a, nb, b)| format!("{na}:\n{a:?}\n  differs from {nb}:\n{b:?}"))
        .collect();
    assert!(
        differ.is_empty(),
        "a sender can tell a block from offline:\n{}",
        differ.join("\n")
    );
}

/// Attack: carol may message bob but bob denies her `presence`; a deep acknowledgement
/// (`DeepOr`, answered only once a client has the message) would tell her bob is online.
/// Rule: to a sender denied `presence`, a deep acknowledgement never reveals presence: the
/// same answer (200) whether bob is online or offline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_acknowledgement_never_reveals_presence_to_a_denied_sender() {
    let (srv, bob, mut cb_b, login) = with_bob_signed_on().await;
    let carol = srv.client("carol");
    assert_eq!(bob.set_state("online").await.status, 207);
    write_acl(
        &bob,
        acl_ace(&url("carol"), "<a:send-to/>", "<a:presence/>"),
    )
    .await;

    let req = im(
        "bob",
        im_body_from(&url("carol"), "are you there"),
        Some("DeepOr"),
    );
    let (online, r) = carol.send_proven_from(LO1, &req, Some(&carol.url())).await;
    assert_eq!(r.status, 200, "DeepOr IM to bob online: {r:?}");
    assert!(cb_b.next().await.text().contains("are you there"));

    sign_off(&bob, login).await;
    let (offline, r) = carol.send_proven_from(LO1, &req, Some(&carol.url())).await;
    assert_eq!(r.status, 200, "DeepOr IM to bob offline: {r:?}");
    assert_eq!(
        normalized(&online, "bob"),
        normalized(&offline, "bob"),
        "carol tells bob online (left) from offline (right)"
    );
}

// ---- 7. Exhaustion ----

/// Attack: a foreign principal (unprovable, asserted) fills alice's node with identical
/// watches.
/// Rule: each subscriber gets at most `subscriber_quota_per_node` subscriptions on a node:
/// the first 3 succeed (207), the 4th is refused (503).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_subscriber_is_held_to_its_quota() {
    let srv = Server::start("[policy]\nsubscriber_quota_per_node = 3\n");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = srv.bare(&watch("alice", MALLORY), Some(MALLORY)).await;
        statuses.push(r.status);
    }
    assert_eq!(
        statuses,
        [207, 207, 207, 503],
        "mallory's four watches of alice"
    );
}

/// Attack: foreign principals fill alice's node to its cap so that alice cannot sign on.
/// Rule: the owner's proven login is never crowded out by others' subscriptions: with
/// `max_subscriptions_per_node = 6` filled by two foreign subscribers (3 + 3), alice's login
/// still succeeds (200).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_node_still_takes_its_owners_login() {
    let srv =
        Server::start("[policy]\nmax_subscriptions_per_node = 6\nsubscriber_quota_per_node = 3\n");
    for who in [MALLORY, TRUDY] {
        for i in 0..3 {
            let r = srv.bare(&watch("alice", who), Some(who)).await;
            assert_eq!(r.status, 207, "{who}'s watch {i}: {r:?}");
        }
    }
    let alice = srv.client("alice");
    let cb_a = Callback::start(200).await;
    let r = alice.login(&cb_a.url(), 14_400).await;
    assert_eq!(r.status, 200, "alice's login on her full node: {r:?}");
}

// ---- The challenge names no one ----

/// Attack: enumerate users by comparing 401s (an unknown user vs a known user with a
/// wrong password).
/// Rule: a refused Digest answer gets the same 401 body whoever was named, and the body
/// names no user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_never_names_a_user() {
    let srv = Server::start("");
    let req = Req::new("ACL", &path("alice"));
    let unknown = Client::new(srv.addr, "zed");
    let mut wrong = srv.client("alice");
    wrong.password = "not-alices-password".into();
    let a = unknown.send_proven(&req, Some(&unknown.url())).await;
    let b = wrong.send_proven(&req, Some(&wrong.url())).await;
    assert_eq!((a.status, b.status), (401, 401), "{a:?} {b:?}");
    assert_eq!(
        a.text(),
        b.text(),
        "unknown user (left) vs wrong password (right)"
    );
    for body in [a.text(), b.text()] {
        assert!(
            !body.contains("zed") && !body.contains("alice"),
            "the 401 names a user: {body}"
        );
    }
}
