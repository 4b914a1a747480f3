//! SIGHUP reloads the users and the `[policy]` of the real `rvp-server` binary without
//! dropping connections; a broken file keeps the configuration in force and says why.
//! Over real TCP on 127.0.0.1; every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;

use rvp_interop::server::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_rvp-server");

fn write_config(dir: &TempDir, users: &[(&str, &str)], policy: &str, extra: &str) -> String {
    let mut text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nstorage = {:?}\n\
         [policy]\n{policy}\n[log]\nprotocol_log = \"\"\nfilter = \"info\"\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n{extra}\n",
        dir.path().join("state.redb").display().to_string()
    );
    for (alias, password) in users {
        text.push_str(&format!(
            "[[users]]\nalias = \"{alias}\"\npassword = \"{password}\"\n"
        ));
    }
    let path = dir.path().join("server.toml");
    std::fs::write(&path, &text).unwrap();
    text
}

fn client(addr: SocketAddr, alias: &str, password: &str) -> Client {
    let mut c = Client::new(addr, alias);
    c.password = password.into();
    c
}

async fn scrape(admin: SocketAddr) -> String {
    let mut s = TcpStream::connect(admin).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    tokio::time::timeout(WAIT, s.read_to_string(&mut out))
        .await
        .expect("scraped in time")
        .unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_users_and_policy_and_keeps_connections() {
    let dir = TempDir::new("reload");
    write_config(
        &dir,
        &[
            ("alice", "alice-pw"),
            ("bob", "bob-pw"),
            ("dave", "dave-pw"),
        ],
        "subscription_lifetime_max = \"4h\"",
        "",
    );
    let config = dir.path().join("server.toml");
    let p = ServerProcess::start(BIN, &config);
    let addr = p.addr;

    // Before: alice signs on; carol does not exist.
    let mut cb = Callback::start(200).await;
    let alice = client(addr, "alice", "alice-pw");
    let r = alice.login(&cb.url(), 14_400).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("Subscription-Lifetime"), Some("14400"));
    assert_eq!(
        client(addr, "carol", "carol-pw")
            .login(&cb.url(), 60)
            .await
            .status,
        401
    );
    // A kept-alive connection, opened before the reload: challenged now, answered after.
    let mut kept = TcpStream::connect(addr).await.unwrap();
    let propfind = Req::new("PROPFIND", &path("bob"))
        .header("Depth", "0")
        .body(PROPFIND_BODY);
    kept.write_all(&propfind.to_bytes(&url("alice"), None))
        .await
        .unwrap();
    let mut buf = Vec::new();
    let challenge = read_response(&mut kept, &mut buf).await.unwrap();
    assert_eq!(challenge.status, 401);
    let nonce = nonce_of(challenge.header("WWW-Authenticate").unwrap());

    // The new file: carol added, bob's password changed, dave removed; a shorter maximum
    // lifetime; and a key that needs a restart.
    write_config(
        &dir,
        &[
            ("alice", "alice-pw"),
            ("bob", "bob-new"),
            ("carol", "carol-pw"),
        ],
        "subscription_lifetime_max = \"2m\"",
        // erin is added out of service (`enabled = false`).
        "[limits]\nmax_pipelined = 8\n\
         [[users]]\nalias = \"erin\"\npassword = \"erin-pw\"\nenabled = false\n",
    );
    p.hangup();
    let lines = p.stderr_until("configuration reloaded");
    let reloaded = lines.last().unwrap();
    for want in ["carol", "dave", "bob", "policy_changed=true"] {
        assert!(reloaded.contains(want), "{want}: {reloaded}");
    }
    let lines = p.stderr_until("limits.max_pipelined");
    assert!(
        lines.last().unwrap().contains("restart"),
        "{}",
        lines.join("\n")
    );

    // The connection opened before answers on: the Digest answer to its old challenge.
    let answer = alice.digest(&propfind, &nonce);
    kept.write_all(&propfind.to_bytes(&url("alice"), Some(&answer)))
        .await
        .unwrap();
    let r = read_response(&mut kept, &mut buf).await.unwrap();
    assert_eq!(r.status, 207, "{r:?}");
    // erin, added out of service, is nobody: no sign-in, nothing to watch.
    assert_eq!(
        client(addr, "erin", "erin-pw")
            .login(&cb.url(), 60)
            .await
            .status,
        401
    );
    let r = alice.watch("erin", 600).await;
    assert_eq!(
        r.status, 404,
        "a disabled user added by a reload is watchable: {r:?}"
    );
    // carol can sign in, under the new policy.
    let carol = client(addr, "carol", "carol-pw");
    let r = carol.login(&cb.url(), 14_400).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("Subscription-Lifetime"), Some("120"));
    // bob's new password works, the old one no longer; dave cannot authenticate.
    assert_eq!(
        client(addr, "bob", "bob-pw")
            .set_state("online")
            .await
            .status,
        401
    );
    assert_eq!(
        client(addr, "bob", "bob-new")
            .set_state("online")
            .await
            .status,
        207
    );
    assert_eq!(
        client(addr, "dave", "dave-pw")
            .set_state("online")
            .await
            .status,
        401
    );
    // alice's login subscription, made before, still delivers.
    assert_eq!(alice.watch("bob", 3600).await.status, 207);
    assert_eq!(
        client(addr, "bob", "bob-new")
            .set_state("busy")
            .await
            .status,
        207
    );
    cb.state_change("busy").await;

    // A broken file: refused with the reason, the configuration in force kept.
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        good.replace(
            "subscription_lifetime_max = \"2m\"",
            "subscription_lifetime_max = \"two minutes\"",
        ),
    )
    .unwrap();
    p.hangup();
    let lines = p.stderr_until("configuration reload refused");
    let refused = lines.last().unwrap();
    assert!(
        refused.contains("server.toml:5:") && refused.contains("policy.subscription_lifetime_max"),
        "{refused}"
    );
    // Still serving, with the users and policy of the last good file.
    let r = carol.login(&cb.url(), 14_400).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("Subscription-Lifetime"), Some("120"));
    assert_eq!(
        client(addr, "bob", "bob-new")
            .propfind("alice")
            .await
            .status,
        207
    );
    // A file the configuration checks refuse (a user twice) is refused the same way.
    std::fs::write(
        &config,
        format!("{good}[[users]]\nalias = \"Carol\"\npassword = \"x\"\n"),
    )
    .unwrap();
    p.hangup();
    let lines = p.stderr_until("configuration reload refused");
    assert!(lines.last().unwrap().contains("twice"), "{lines:?}");
    assert_eq!(carol.propfind("alice").await.status, 207);

    let text = scrape(p.admin()).await;
    assert!(
        text.contains("rvp_config_reloads_total{result=\"applied\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("rvp_config_reloads_total{result=\"refused\"} 2\n"),
        "{text}"
    );
    assert!(text.contains("\nrvp_users 3\n"), "{text}");
    p.terminate();
}
