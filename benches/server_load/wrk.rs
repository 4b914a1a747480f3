//! Runs Debian's `wrk` and reads its summary.

use std::io;
use std::path::Path;
use std::process::Command;

/// Load settings, identical for both servers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    pub(crate) threads: u32,
    pub(crate) connections: u32,
    pub(crate) seconds: u32,
}

/// What one wrk run measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct WrkResult {
    pub(crate) requests_per_sec: f64,
    pub(crate) requests: u64,
    pub(crate) non_2xx: u64,
    pub(crate) socket_errors: Option<String>,
    pub(crate) p50: String,
    pub(crate) p99: String,
}

/// `wrk -t T -c C -d Ds --latency --timeout 10s -s script url`, with `env` set.
pub(crate) fn run(
    script: &Path,
    url: &str,
    env: &[(&str, &str)],
    load: Load,
) -> io::Result<WrkResult> {
    let out = Command::new("wrk")
        .arg(format!("-t{}", load.threads))
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{}s", load.seconds))
        .args(["--latency", "--timeout", "10s", "-s"])
        .arg(script)
        .arg(url)
        .envs(env.iter().copied())
        .output()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run `wrk` ({e}): install it with `apt-get install wrk`"),
            )
        })?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "wrk failed ({}): {text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    parse(&text).ok_or_else(|| io::Error::other(format!("cannot read wrk's output:\n{text}")))
}

fn parse(text: &str) -> Option<WrkResult> {
    let mut r = WrkResult::default();
    let mut seen_rps = false;
    for line in text.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            r.requests_per_sec = v.trim().parse().ok()?;
            seen_rps = true;
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            r.non_2xx = v.trim().parse().ok()?;
        } else if t.starts_with("Socket errors:") {
            r.socket_errors = Some(t.to_owned());
        } else if let Some(v) = t.strip_prefix("50%") {
            r.p50 = v.trim().to_owned();
        } else if let Some(v) = t.strip_prefix("99%") {
            r.p99 = v.trim().to_owned();
        } else if t.contains(" requests in ") {
            r.requests = t.split_whitespace().next()?.parse().ok()?;
        }
    }
    seen_rps.then_some(r)
}

/// Checks the parser on a sample summary (run at start-up: a `harness = false` bench has
/// no test runner).
pub(crate) fn self_check() {
    {
        let text = "Running 1s test @ http://127.0.0.1:1\n  1 threads and 2 connections\n  \
            Latency Distribution\n     50%  100.00us\n     99%    1.20ms\n  \
            2000 requests in 1.00s, 1.00MB read\n  Non-2xx or 3xx responses: 3\n\
            Requests/sec:   1999.50\nTransfer/sec:      1.00MB\n";
        let r = parse(text).expect("parsed");
        assert_eq!(r.requests, 2000);
        assert_eq!(r.non_2xx, 3);
        assert!((r.requests_per_sec - 1999.5).abs() < 1e-9);
        assert_eq!(r.p99, "1.20ms");
    }
}
