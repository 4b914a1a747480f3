//! `rvp-admin check alias@domain`: walks the path a client takes — `_rvp._tcp` SRV (or
//! the domain's address), the server it names, a router's `302` to the home server — and
//! says in words what works and what does not.
//!
//! Each step asks the network once, with a time-out ([`STEP_TIMEOUT`]); at most
//! [`MAX_REDIRECTS`] referrals are followed. The probe is a `PROPFIND` of the user's
//! state and display name with no credentials, asserting a principal of another domain
//! (`http://rvp-admin.invalid/instmsg/aliases/check`): the default ACL lets anyone read
//! both, so a healthy set-up answers `207` and nothing is changed anywhere.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::BytesMut;
use rvp_proto::codec::{ResponseParser, Status};
use rvp_resolve::{Address, HickoryResolver, Resolver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest wait for one DNS query, connection or answer.
pub(crate) const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// Most `302`s followed.
pub(crate) const MAX_REDIRECTS: usize = 3;
/// Largest answer read.
const MAX_ANSWER: usize = 256 * 1024;

/// What the walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    /// One line per step, in words.
    pub(crate) lines: Vec<String>,
    /// Whether the user was reached.
    pub(crate) ok: bool,
}

impl Report {
    fn say(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }
}

/// Where the walk starts: DNS through `nameserver`, or a given server (skipping DNS).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Start {
    /// Ask this DNS server.
    Dns(SocketAddr),
    /// Connect here directly.
    Server(SocketAddr),
}

/// Walks from `address` to its home server.
pub(crate) async fn walk(address: &Address, start: Start) -> Report {
    let mut r = Report {
        lines: Vec::new(),
        ok: false,
    };
    let domain = address.domain().to_owned();
    let mut candidates: Vec<(String, SocketAddr)> = Vec::new();
    match start {
        Start::Server(addr) => {
            r.say(format!("Using the server at {addr} (DNS not asked)."));
            candidates.push((domain.clone(), addr));
        }
        Start::Dns(ns) => match dns_candidates(&domain, ns, &mut r).await {
            Some(c) => candidates = c,
            None => return r,
        },
    }
    for (host, addr) in candidates {
        let path = format!("/instmsg/aliases/{}", address.alias());
        if probe_chain(&host, addr, &path, &mut r).await {
            r.ok = true;
            return r;
        }
    }
    r.say(format!(
        "No server answered for {address}: clients cannot sign in as this user."
    ));
    r
}

async fn dns_candidates(
    domain: &str,
    nameserver: SocketAddr,
    r: &mut Report,
) -> Option<Vec<(String, SocketAddr)>> {
    let source = match HickoryResolver::with_nameserver(nameserver) {
        Ok(s) => s,
        Err(e) => {
            r.say(format!("Cannot use the DNS server {nameserver}: {e}."));
            return None;
        }
    };
    let resolver = Resolver::new(source);
    let plan = match tokio::time::timeout(STEP_TIMEOUT, resolver.plan(domain)).await {
        Ok(Ok(plan)) => plan,
        Ok(Err(e)) => {
            r.say(format!(
                "DNS ({nameserver}) names no RVP server for {domain}: {e}. Publish \
                 `_rvp._tcp.{domain}` (see `rvp-admin dns`) or an address record for \
                 {domain}."
            ));
            return None;
        }
        Err(_) => {
            r.say(format!(
                "DNS ({nameserver}) did not answer within {STEP_TIMEOUT:?}."
            ));
            return None;
        }
    };
    let mut out = Vec::new();
    for t in plan.targets() {
        let how = match t.source {
            rvp_resolve::TargetSource::Srv => "the _rvp._tcp SRV record",
            rvp_resolve::TargetSource::AddressFallback => {
                "the domain's own address (no usable _rvp._tcp SRV record)"
            }
            _ => "a fallback",
        };
        match tokio::time::timeout(STEP_TIMEOUT, resolver.addresses(&t.host)).await {
            Ok(Ok(ips)) if !ips.is_empty() => {
                r.say(format!(
                    "DNS: {how} names {}:{} at {}.",
                    t.host,
                    t.port,
                    join(&ips)
                ));
                out.extend(
                    ips.into_iter()
                        .map(|ip| (t.host.to_string(), SocketAddr::new(ip, t.port))),
                );
            }
            Ok(Ok(_)) | Ok(Err(_)) => r.say(format!(
                "DNS: {how} names {}, which has no address record: add one.",
                t.host
            )),
            Err(_) => r.say(format!("DNS did not answer for {} in time.", t.host)),
        }
    }
    if out.is_empty() {
        r.say(format!("No address to connect to for {domain}."));
        return None;
    }
    Some(out)
}

fn join(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Probes `path` at `addr` (Host `host`) and follows `302`s; whether the user was reached.
async fn probe_chain(host: &str, addr: SocketAddr, path: &str, r: &mut Report) -> bool {
    let (mut host, mut addr, mut path) = (host.to_owned(), addr, path.to_owned());
    for _ in 0..=MAX_REDIRECTS {
        let answer = match probe(&host, addr, &path).await {
            Ok(a) => a,
            Err(e) => {
                r.say(format!("{addr} ({host}): {e}."));
                return false;
            }
        };
        match answer.status {
            207 => {
                r.say(format!(
                    "{addr} ({host}) serves {path}: 207, the user's node answers{}.",
                    describe(&answer.body)
                ));
                return true;
            }
            302 => {
                let Some(location) = answer.location else {
                    r.say(format!(
                        "{addr} answered 302 without a Location: a broken router."
                    ));
                    return false;
                };
                r.say(format!(
                    "{addr} ({host}) is a router: it refers to {location}."
                ));
                match next_hop(&location).await {
                    Some((h, a, p)) => (host, addr, path) = (h, a, p),
                    None => {
                        r.say(format!(
                            "The Location {location} cannot be reached: its host has no \
                             address (clients will fail the same way)."
                        ));
                        return false;
                    }
                }
            }
            401 => {
                r.say(format!(
                    "{addr} ({host}) asks for credentials to read {path}: the server works, \
                     but this user's ACL does not let everyone read its state."
                ));
                return true;
            }
            404 => {
                r.say(format!(
                    "{addr} ({host}) does not know {path} (404): the user does not exist \
                     there, or the server is not this domain's."
                ));
                return false;
            }
            other => {
                r.say(format!(
                    "{addr} ({host}) answered {other} to {path}: unexpected."
                ));
                return false;
            }
        }
    }
    r.say(format!(
        "More than {MAX_REDIRECTS} referrals: a loop between routers?"
    ));
    false
}

/// The host, address and path a `Location` names (an IP literal, or a name looked up
/// in the system's usual way is NOT done: only literal `ip:port` authorities and names
/// that resolve through the standard library are followed).
async fn next_hop(location: &str) -> Option<(String, SocketAddr, String)> {
    let rest = location.strip_prefix("http://")?;
    let (authority, path) = rest.split_at(rest.find('/')?);
    let addr = match authority.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            let with_port = if authority.contains(':') {
                authority.to_owned()
            } else {
                format!("{authority}:80")
            };
            tokio::net::lookup_host(with_port).await.ok()?.next()?
        }
    };
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    Some((host.to_owned(), addr, path.to_owned()))
}

#[derive(Debug)]
struct Answer {
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
}

async fn probe(host: &str, addr: SocketAddr, path: &str) -> Result<Answer, String> {
    let body = "<?xml version=\"1.0\"?><d:propfind xmlns:d=\"DAV:\" \
                xmlns:r=\"http://schemas.microsoft.com/rvp/\"><d:prop><r:state/>\
                <d:displayname/></d:prop></d:propfind>";
    let request = format!(
        "PROPFIND {path} HTTP/1.1\r\nHost: {host}\r\nRVP-Notifications-Version: 0.2\r\n\
         RVP-From-Principal: http://rvp-admin.invalid/instmsg/aliases/check\r\nDepth: 0\r\n\
         Content-Type: text/xml\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        let mut s = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect ({e})"))?;
        s.write_all(request.as_bytes())
            .await
            .map_err(|e| format!("cannot send ({e})"))?;
        let mut buf = BytesMut::with_capacity(4096);
        loop {
            let eof = s
                .read_buf(&mut buf)
                .await
                .map_err(|e| format!("cannot read ({e})"))?
                == 0;
            let mut parser = ResponseParser::default();
            match parser.parse(&buf, eof) {
                Ok(Status::Complete(res)) => {
                    let res = res.to_http().map_err(|e| format!("a bad answer ({e})"))?;
                    return Ok(Answer {
                        status: res.status().as_u16(),
                        location: res
                            .headers()
                            .get("location")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned),
                        body: res.body().to_vec(),
                    });
                }
                Ok(Status::Partial) if buf.len() <= MAX_ANSWER => {}
                Ok(_) => return Err("an answer too large".to_owned()),
                Err(e) => return Err(format!("not an HTTP answer ({e})")),
            }
        }
    };
    tokio::time::timeout(STEP_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer within {STEP_TIMEOUT:?}"))?
}

/// ` (state online, display name "Alice")` from a 207 body, when it says so.
fn describe(body: &[u8]) -> String {
    let Ok(m) = <rvp_proto::xml::MultiStatus as rvp_proto::xml::XmlBody>::parse(body) else {
        return String::new();
    };
    let mut parts = Vec::new();
    for ps in m.responses.iter().flat_map(|r| &r.propstats) {
        for p in &ps.props {
            match &p.value {
                rvp_proto::xml::PropValue::State(rvp_proto::xml::StateValue {
                    content: rvp_proto::xml::StateContent::Bare(state),
                    ..
                }) => {
                    parts.push(format!("state {}", state.local_name()));
                }
                rvp_proto::xml::PropValue::Text(t)
                    if p.name == rvp_proto::xml::PropName::DisplayName =>
                {
                    parts.push(format!("display name {t:?}"));
                }
                _ => {}
            }
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// Prints the report; `true` when the user was reached.
pub(crate) fn print(report: &Report, out: &mut impl Write) -> std::io::Result<bool> {
    for line in &report.lines {
        writeln!(out, "{line}")?;
    }
    Ok(report.ok)
}
