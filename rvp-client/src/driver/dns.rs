//! Where to connect: the home server (fixed, or resolved through `rvp-resolve`), and host
//! look-ups for redirect `Location`s.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rvp_resolve::{Answer, LookupError, Resolve, Resolver, SrvRecord};

/// The operating system's resolver as an `rvp-resolve` source: address records only (it
/// cannot ask for SRV records, so `_rvp._tcp` lookups come back empty and resolution
/// falls back to the domain's own address on port 80, PROTOCOL.md §7.1 step 2). Use a
/// hickory source (feature `hickory`) for SRV.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemDns;

/// How long answers of [`SystemDns`] are cached by the resolver.
const SYSTEM_TTL: Duration = Duration::from_secs(60);

impl Resolve for SystemDns {
    fn lookup_srv(
        &self,
        _name: &str,
    ) -> impl Future<Output = Result<Answer<SrvRecord>, LookupError>> + Send {
        std::future::ready(Ok(Answer::NoData { ttl: None }))
    }

    fn lookup_ip(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Answer<IpAddr>, LookupError>> + Send {
        let name = name.to_owned();
        async move {
            match tokio::net::lookup_host((name.as_str(), 0)).await {
                Ok(addrs) => {
                    let mut records: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
                    records.dedup();
                    if records.is_empty() {
                        Ok(Answer::NoData { ttl: None })
                    } else {
                        Ok(Answer::Records {
                            records,
                            ttl: SYSTEM_TTL,
                        })
                    }
                }
                Err(_) => Ok(Answer::NxDomain { ttl: None }),
            }
        }
    }
}

type LookupFuture = Pin<Box<dyn Future<Output = Result<Vec<IpAddr>, String>> + Send>>;

/// Looks host names up (for redirect targets), through the resolver the client was built
/// with.
#[derive(Clone)]
pub(crate) struct HostLookup(Arc<dyn Fn(String) -> LookupFuture + Send + Sync>);

impl std::fmt::Debug for HostLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostLookup(..)")
    }
}

impl HostLookup {
    pub(crate) fn new<R: Resolve + Send + Sync + 'static>(
        resolver: Arc<Resolver<R>>,
    ) -> HostLookup {
        HostLookup(Arc::new(move |host: String| {
            let resolver = Arc::clone(&resolver);
            Box::pin(async move { resolver.addresses(&host).await.map_err(|e| e.to_string()) })
        }))
    }

    /// `host:port` → socket addresses (IP literals need no look-up).
    pub(crate) async fn lookup(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let ips = (self.0)(host.to_owned()).await?;
        Ok(ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect())
    }
}

/// An absolute `http://host[:port]/path` `Location`, split: (`Host` value, host, port,
/// path). `None` for anything else (relative, other schemes, no path).
pub(crate) fn split_location(location: &str) -> Option<(String, String, u16, String)> {
    let rest = location
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("http://"))
        .map(|_| &location[7..])?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && (h.ends_with(']') || !h.contains(':')) => {
            (h.to_owned(), p.parse::<u16>().ok().filter(|p| *p != 0)?)
        }
        _ => (authority.to_owned(), 80),
    };
    Some((authority.to_owned(), host, port, path.to_owned()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(
            split_location("http://home1.example.net/instmsg/local/x/instmsg/aliases/d"),
            Some((
                "home1.example.net".into(),
                "home1.example.net".into(),
                80,
                "/instmsg/local/x/instmsg/aliases/d".into()
            ))
        );
        assert_eq!(split_location("HTTP://127.0.0.1:8081/a").unwrap().2, 8081);
        assert_eq!(split_location("http://[::1]:90/a").unwrap().1, "[::1]");
        assert_eq!(split_location("/relative"), None);
        assert_eq!(split_location("https://x/a"), None);
        assert_eq!(split_location("http://x:0/a"), None);
        assert_eq!(split_location("http://u@x/a"), None);
        assert_eq!(split_location("http://x:port/a"), None);
    }
}
