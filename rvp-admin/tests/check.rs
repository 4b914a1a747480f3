//! `rvp-admin check`, `dns` and `config check`, run as the real binary: `check` walks a
//! router's 302 to the home server over real TCP (in-process servers on loopback) and says
//! what it found; against a user nobody has, it says so and exits 1.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{admin, admin_async};
use rvp_interop::server::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_follows_a_router_to_the_home_server() {
    let (home, router) = organisation(|_| {}).await;
    let at = home.addr.to_string();
    let server = router.addr.to_string();
    let (code, out, err) =
        admin_async(&["check", "alice@localhost", "--server", &server], "").await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("is a router: it refers to"), "{out}");
    assert!(out.contains(&format!("{at} (127.0.0.1) serves")), "{out}");
    assert!(out.contains("display name \"Alice A\""), "{out}");
    // Nobody of ours: the router says 404, and so does the report.
    let server = router.addr.to_string();
    let (code, out, _) = admin_async(&["check", "nobody@localhost", "--server", &server], "").await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("does not know /instmsg/aliases/nobody (404)"),
        "{out}"
    );
    // Nothing listening: a clear connection failure.
    let (code, out, _) =
        admin_async(&["check", "alice@localhost", "--server", "127.0.0.1:9"], "").await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("cannot connect"), "{out}");
    router.stop().await;
    home.stop().await;
}

#[test]
fn dns_and_config_check_read_a_configuration_file() {
    let dir = TempDir::new("admin-dns");
    let file = dir.path().join("server.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = [\"192.0.2.5:80\"]\ndomain = \"im.example.org\"\n\
         host_name = \"im.example.org\"\n\
         [[users]]\nalias = \"carol\"\npassword = \"carol-pw-3\"\n",
    )
    .unwrap();
    let path = file.display().to_string();
    let (code, out, err) = admin(&[
        "dns",
        "--config",
        &path,
        "--sign-in-domain",
        "example.org",
        "--ttl",
        "600",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("_rvp._tcp.example.org. 600 IN SRV 0 0 80 im.example.org."),
        "{out}"
    );
    assert!(out.contains("im.example.org. 600 IN A 192.0.2.5"), "{out}");
    // carol's password gives an HA1 librvp cannot use in realm localhost (zero byte at
    // index 3).
    std::fs::write(
        &file,
        "[[users]]\nalias = \"carol\"\npassword = \"carol-pw-3\"\n",
    )
    .unwrap();
    let (code, out, _) = admin(&["config", "check", "--config", &path]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("valid"), "{out}");
    assert!(out.contains("warning: user carol"), "{out}");
    std::fs::write(&file, "[server]\nlisten = \"not a list\"\n").unwrap();
    let (code, out, _) = admin(&["config", "check", "--config", &path]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("server.listen"), "{out}");
}
