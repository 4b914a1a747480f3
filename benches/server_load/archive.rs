//! The cost of the compliance archive on NOTIFY throughput (`RVP_BENCH_ONLY=archive`).
//!
//! NOTIFYs relayed to signed-on recipients — `RVP-Ack-Type: DeepOr` from `alice` to
//! `r00`.., each forwarded to its recipient's call-back (a listener of this program
//! answering `200` at once), so every one is archived — against the hyper baseline,
//! `rvp-server` without an archive and `rvp-server` with `[archive] path`, in alternating
//! rounds with the same wrk load as the throughput part. Both servers run with the same
//! `storage_sync` (`RVP_BENCH_STORAGE_SYNC`), which also decides when the archive is
//! synced; the archive goes where the store goes (`RVP_BENCH_STORAGE_DIR`, default the
//! bench's temporary directory) and is removed at the end.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::client::Conn;
use crate::wrk::{self, Load};
use crate::{check, env_num, fanout, loadavg, median, one_notify, print_wrk, procs, script, sink};

/// Bytes in the files of `dir` (0 when it cannot be read).
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

pub(crate) fn run(rt: &tokio::runtime::Runtime, bin: &Path, dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir.join("plain"))?;
    std::fs::create_dir_all(dir.join("archived"))?;
    let load = Load {
        threads: env_num("RVP_BENCH_THREADS", 1),
        connections: env_num("RVP_BENCH_CONNECTIONS", 32),
        seconds: env_num("RVP_BENCH_SECONDS", 10),
    };
    let rounds = env_num("RVP_BENCH_ROUNDS", 3).max(1);
    let log = std::env::var("RVP_BENCH_PROTOCOL_LOG").as_deref() != Ok("off");
    let recipients =
        usize::try_from(env_num("RVP_BENCH_RECIPIENTS", 16).max(1)).map_err(io::Error::other)?;
    let recipient = |i: usize| format!("r{i:02}");
    let mut users: Vec<String> = (0..recipients).map(recipient).collect();
    users.push("alice".into());
    let archive: PathBuf = std::env::var_os("RVP_BENCH_STORAGE_DIR")
        .map_or_else(|| dir.to_owned(), PathBuf::from)
        .join(format!("rvp-bench-{}-archive", std::process::id()));
    let result = (|| {
        let plain = procs::start_rvp(bin, &dir.join("plain"), &users, log)?;
        let extra = format!("[archive]\npath = {:?}\n", archive.display().to_string());
        let archived =
            procs::start_rvp_full(bin, &dir.join("archived"), &users, log, None, &extra, None)?;
        // One call-back listener per recipient, shared by both servers' logins.
        let sink = rt.block_on(sink::Sinks::start(recipients, false, &[]))?;
        let (notify_raw, proppatch_raw) = rt.block_on(async {
            let mut raws = None;
            for addr in [plain.addr, archived.addr] {
                let mut c = Conn::connect(addr).await?;
                for (i, cb) in sink.addrs.iter().enumerate() {
                    let r = c.send(&fanout::login(&recipient(i), *cb)).await?;
                    check("a recipient's login SUBSCRIBE", r.status, 200, &r.raw);
                }
                let n = c.send(&one_notify(&recipient(0), "DeepOr")).await?;
                check("NOTIFY DeepOr", n.status, 200, &n.raw);
                let p = c.send(&fanout::proppatch("alice", "online")).await?;
                check("PROPPATCH", p.status, 207, &p.raw);
                raws.get_or_insert((n.raw, p.raw));
            }
            Ok::<_, io::Error>(raws.unwrap_or_default())
        })?;
        let base = procs::start_baseline(dir, &notify_raw, &proppatch_raw)?;
        println!(
            "\n== The archive's cost: NOTIFY DeepOr to {recipients} signed-on recipients (each \
             relayed, so each archived), wrk -t{} -c{} -d{}s, {rounds} rounds, storage_sync {}",
            load.threads,
            load.connections,
            load.seconds,
            std::env::var("RVP_BENCH_STORAGE_SYNC").unwrap_or_else(|_| "interval".into())
        );
        let nodes = (0..recipients)
            .map(|i| format!("/instmsg/aliases/{}", recipient(i)))
            .collect::<Vec<_>>()
            .join(",");
        let env = [
            ("RVP_NODES", nodes.as_str()),
            ("RVP_FROM", "http://localhost/instmsg/aliases/alice"),
            ("RVP_ACK", "DeepOr"),
        ];
        let servers = [
            ("hyper", base.addr),
            ("rvp", plain.addr),
            ("rvp+arch", archived.addr),
        ];
        let mut results = vec![Vec::new(); servers.len()];
        let mut invalid = false;
        let mut relayed_archived = 0u64;
        for round in 1..=rounds {
            for (si, (name, addr)) in servers.iter().enumerate() {
                let before = sink.count();
                let r = wrk::run(&script("notify.lua"), &format!("http://{addr}"), &env, load)?;
                print_wrk(round, "NOTIFY-fwd", name, &r);
                if si > 0 {
                    // Let the forwarded NOTIFYs drain before the next run (bounded).
                    let mut last = sink.count();
                    for _ in 0..40 {
                        std::thread::sleep(Duration::from_millis(250));
                        let now = sink.count();
                        if now == last {
                            break;
                        }
                        last = now;
                    }
                    if si == 2 {
                        relayed_archived += sink.count() - before;
                    }
                }
                if r.non_2xx > 0 || r.requests == 0 {
                    println!("        INVALID: {} non-2xx answers", r.non_2xx);
                    invalid = true;
                }
                results[si].push(r.requests_per_sec);
            }
        }
        let per_round = |si: usize| -> Vec<f64> {
            results[0]
                .iter()
                .zip(&results[si])
                .map(|(b, r)| r / b)
                .collect()
        };
        let show = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "\n   server        req/s (median)   ratio to hyper: median (per round){}",
            if invalid { "   INVALID (non-2xx)" } else { "" }
        );
        for (si, (name, _)) in servers.iter().enumerate() {
            let ratios = per_round(si);
            println!(
                "   {name:<12} {:>14.0}   {:.2}x ({})",
                median(&results[si]),
                median(&ratios),
                show(&ratios)
            );
        }
        let with_without: Vec<f64> = results[2]
            .iter()
            .zip(&results[1])
            .map(|(a, p)| a / p)
            .collect();
        let bytes = dir_bytes(&archive);
        println!(
            "   with the archive / without: {:.2}x ({}); archive {:.1} MiB for {} relayed NOTIFYs \
             delivered ({:.0} bytes each)",
            median(&with_without),
            show(&with_without),
            bytes as f64 / (1024.0 * 1024.0),
            relayed_archived,
            bytes as f64 / (relayed_archived.max(1) as f64)
        );
        println!("   load average now: {}", loadavg());
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&archive);
    result
}
