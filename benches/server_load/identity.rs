//! The cost of proving identity (issue 9): the same NOTIFY and PROPPATCH loads against
//! `rvp-server` with `require_auth = true`, every request carrying a fresh Digest answer
//! (the way a client that keeps a nonce answers: one nonce per connection, `nc` counting
//! up), against `rvp-server` in assertion-only mode and against the hyper baseline, in
//! one run.
//!
//! wrk cannot compute MD5, so this part has its own closed-loop load generator: `C`
//! keep-alive connections, each sending one request and reading its answer, for `S`
//! seconds. It computes a Digest response for *every* request it sends, whichever server
//! it talks to, and sends the `Authorization` header only to the server that asks for
//! proof: the client does the same work in all three runs, so the ratios compare the
//! servers.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use md5::{Digest as _, Md5};

use crate::client::Conn;

/// The demo user every request of this part speaks as.
pub(crate) const USER: &str = "alice";
/// Its password in the generated configuration.
pub(crate) const PASSWORD: &str = "alice-bench-pw";
/// The realm (the IM domain of the generated configuration).
const REALM: &str = "localhost";

/// One kind of request: the head without `Content-Length` (and without
/// `Authorization`), and what follows it.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    method: &'static str,
    uri: String,
    head: Vec<u8>,
    tail: Vec<u8>,
    /// MD5 hex of `method:uri` (HA2), computed once.
    ha2: String,
}

impl Template {
    /// A request to `uri` with these headers (`Host` and `RVP-Notifications-Version` are
    /// added) and body.
    pub(crate) fn new(
        method: &'static str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Template {
        let mut head = format!(
            "{method} {uri} HTTP/1.1\r\nHost: localhost\r\nRVP-Notifications-Version: 0.2\r\n"
        );
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        Template {
            method,
            uri: uri.to_owned(),
            head: head.into_bytes(),
            tail: format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes(),
            ha2: hex_md5(format!("{method}:{uri}").as_bytes()),
        }
    }

    /// The request without `Authorization` (set-up requests).
    pub(crate) fn clone_bytes(&self) -> Vec<u8> {
        self.bytes(None)
    }

    fn bytes(&self, authorization: Option<&str>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.head.len() + self.tail.len() + 320);
        out.extend_from_slice(&self.head);
        if let Some(a) = authorization {
            out.extend_from_slice(b"Authorization: ");
            out.extend_from_slice(a.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(&self.tail);
        out
    }
}

fn hex_md5(data: &[u8]) -> String {
    let digest = Md5::digest(data);
    let mut s = String::with_capacity(32);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The `Authorization` value answering `nonce` with count `nc` for `t`.
fn authorization(ha1: &str, t: &Template, nonce: &str, nc: u32, cnonce: &str) -> String {
    let response = hex_md5(format!("{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{}", t.ha2).as_bytes());
    format!(
        "Digest username=\"{USER}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{}\", \
         algorithm=\"MD5\", qop=auth, nc={nc:08x}, cnonce=\"{cnonce}\", response=\"{response}\"",
        t.uri
    )
}

/// Whether the server under load asks for proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proof {
    /// Get a nonce from the server's first 401 and send a Digest answer with every request.
    Digest,
    /// Compute the same answers (same client work) but send none.
    None,
    /// Send no Digest answer and count answers with this status as the good ones (the
    /// router's `302`s).
    Expect(u16),
}

/// What one load run measured.
#[derive(Debug, Clone)]
pub(crate) struct LoadResult {
    pub(crate) requests: u64,
    pub(crate) per_sec: f64,
    pub(crate) non_2xx: u64,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
}

/// `connections` connections for `seconds`, cycling through `templates`.
pub(crate) async fn run(
    addr: SocketAddr,
    connections: u32,
    seconds: u32,
    templates: Arc<Vec<Template>>,
    proof: Proof,
) -> io::Result<LoadResult> {
    let ha1 = Arc::new(hex_md5(format!("{USER}:{REALM}:{PASSWORD}").as_bytes()));
    let start = Instant::now();
    let end = start + Duration::from_secs(u64::from(seconds));
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (templates, ha1) = (Arc::clone(&templates), Arc::clone(&ha1));
        tasks.push(tokio::spawn(async move {
            one_connection(addr, c, end, &templates, &ha1, proof).await
        }));
    }
    let mut latencies = Vec::new();
    let mut non_2xx = 0;
    for t in tasks {
        let (l, bad) = t.await.map_err(io::Error::other)??;
        latencies.extend(l);
        non_2xx += bad;
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    // The latency at `per_mille`/1000 of the sorted list.
    let pct = |per_mille: usize| {
        let i = (latencies.len() * per_mille / 1000).min(latencies.len().saturating_sub(1));
        latencies.get(i).copied().unwrap_or_default()
    };
    Ok(LoadResult {
        requests: latencies.len() as u64,
        per_sec: latencies.len() as f64 / elapsed,
        non_2xx,
        p50: pct(500),
        p99: pct(990),
    })
}

async fn one_connection(
    addr: SocketAddr,
    index: u32,
    end: Instant,
    templates: &[Template],
    ha1: &str,
    proof: Proof,
) -> io::Result<(Vec<Duration>, u64)> {
    let mut conn = Conn::connect(addr).await?;
    let nonce = match proof {
        Proof::Digest => {
            let first = conn.send(&templates[0].bytes(None)).await?;
            if first.status != 401 {
                return Err(io::Error::other(format!(
                    "expected a 401 challenge, got {}",
                    first.status
                )));
            }
            nonce_of(&first.raw).ok_or_else(|| io::Error::other("no nonce in the challenge"))?
        }
        Proof::None | Proof::Expect(_) => "0".repeat(64),
    };
    let cnonce = format!("{index:08x}");
    let mut latencies = Vec::with_capacity(1 << 16);
    let mut bad = 0;
    let mut nc: u32 = 0;
    while Instant::now() < end {
        let t = &templates[nc as usize % templates.len()];
        nc += 1;
        let auth = authorization(ha1, t, &nonce, nc, &cnonce);
        let bytes = t.bytes((proof == Proof::Digest).then_some(auth.as_str()));
        let sent = Instant::now();
        let r = conn.send(&bytes).await?;
        latencies.push(sent.elapsed());
        let good = match proof {
            Proof::Expect(status) => r.status == status,
            _ => (200..300).contains(&r.status),
        };
        if !good {
            bad += 1;
        }
    }
    Ok((latencies, bad))
}

/// The `nonce="..."` of a `WWW-Authenticate` header in a raw answer.
fn nonce_of(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?;
    let at = text.find("nonce=\"")? + "nonce=\"".len();
    let len = text[at..].find('"')?;
    Some(text[at..at + len].to_owned())
}

/// Checks the Digest arithmetic against RFC 7616's MD5 example (section 3.9.1).
pub(crate) fn self_check() {
    let ha1 = hex_md5(b"Mufasa:http-auth@example.org:Circle of Life");
    let t = Template::new("GET", "/dir/index.html", &[], "");
    let r = hex_md5(
        format!(
            "{ha1}:7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v:00000001:\
             f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ:auth:{}",
            t.ha2
        )
        .as_bytes(),
    );
    assert_eq!(
        r, "8ca523f5e9506fed4657c9700eebdbec",
        "RFC 7616 MD5 example"
    );
    assert_eq!(
        t.method, "GET",
        "templates keep their method for the Digest HA2"
    );
}
