//! Backup and restore of the store, as rvp-server/README.md ("Operating") documents them,
//! with the real binary: make state, stop, take the backup (`tar` of `state.redb` and
//! `state.redb.wal`), change the state, stop, wipe the store, restore, start: the state is
//! the backed-up one. Over real TCP on 127.0.0.1; every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::process::{Command, Stdio};

use rvp_interop::server::*;

const BIN: &str = env!("CARGO_BIN_EXE_rvp-server");

fn spawn(config: &Path) -> ServerProcess {
    ServerProcess::start(BIN, config)
}

/// `systemctl stop`: SIGTERM, and the process ends cleanly (the store checkpointed).
fn stop(p: ServerProcess) {
    p.terminate();
}

/// Runs a shell command line of the README (with the test's paths), which must succeed.
fn sh(line: &str) {
    let out = Command::new("sh")
        .args(["-c", line])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_then_restore_brings_the_state_back() {
    let dir = TempDir::new("backup");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nstorage = {:?}\n\
             [log]\nprotocol_log = \"\"\nfilter = \"warn\"\n\
             [[users]]\nalias = \"alice\"\npassword = \"alice-pw\"\n\
             [[users]]\nalias = \"bob\"\npassword = \"bob-pw\"\n\
             [[users]]\nalias = \"carol\"\npassword = \"carol-pw\"\n",
            state.join("state.redb").display().to_string()
        ),
    )
    .unwrap();
    let (state_dir, backup) = (
        state.display().to_string(),
        dir.path().join("rvp-backup.tar.gz").display().to_string(),
    );
    let mut cb_alice = Callback::start(200).await;
    let cb_bob = Callback::start(200).await;

    // The state to keep: alice signed on and watching bob; bob denies carol.
    let p = spawn(&config);
    let (alice, bob, carol) = (
        Client::new(p.addr, "alice"),
        Client::new(p.addr, "bob"),
        Client::new(p.addr, "carol"),
    );
    assert_eq!(alice.login(&cb_alice.url(), 14_400).await.status, 200);
    assert_eq!(bob.login(&cb_bob.url(), 14_400).await.status, 200);
    assert_eq!(bob.set_state("online").await.status, 207);
    assert_eq!(alice.watch("bob", 14_400).await.status, 207);
    assert_eq!(bob.acl("carol", true).await.status, 200);
    stop(p);

    // Backup (README): stopped, both the file and its log directory.
    sh(&format!(
        "tar -C '{state_dir}' -czf '{backup}' state.redb state.redb.wal"
    ));

    // Later changes, which the restore must undo: bob lets carol in again.
    let p = spawn(&config);
    let (bob, carol_later) = (Client::new(p.addr, "bob"), Client::new(p.addr, "carol"));
    assert_eq!(bob.acl("carol", false).await.status, 200);
    assert_eq!(bob.set_state("away").await.status, 207);
    let r = carol_later.propfind("bob").await;
    assert!(r.text().contains("<r:away/>"), "{}", r.text());
    stop(p);

    // The store is lost.
    sh(&format!(
        "rm -rf '{state_dir}/state.redb' '{state_dir}/state.redb.wal'"
    ));
    // Restore (README): stopped, the old files and log directory removed, unpacked.
    sh(&format!("tar -C '{state_dir}' -xzf '{backup}'"));

    let p = spawn(&config);
    let (bob, carol) = (
        Client::new(p.addr, "bob"),
        Client {
            addr: p.addr,
            ..carol
        },
    );
    // carol is denied again: bob looks offline to her.
    let r = carol.propfind("bob").await;
    assert_eq!(r.status, 207);
    assert!(r.text().contains("<r:offline/>"), "{}", r.text());
    // alice's login and her watch of bob are back: bob's change reaches her call-back.
    assert_eq!(bob.set_state("busy").await.status, 207);
    cb_alice.state_change("busy").await;
    stop(p);
}
