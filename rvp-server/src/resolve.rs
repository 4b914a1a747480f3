//! Call-backs on other servers: a logical URL `http://host[:port]/instmsg/aliases/x` of a
//! principal that does not live here is delivered to `host` (port 80 unless given) at
//! the request-target `/instmsg/aliases/x`, after an address lookup through
//! `rvp-resolve` ([`rvp_resolve::Resolve::lookup_ip`]).
//!
//! The DNS server is the configuration's `[resolve] nameserver`; without one the server
//! makes no DNS query at all and such deliveries are reported as failed to the engine
//! (which answers a deep-acknowledged NOTIFY `412` and, after repeated failures,
//! discards the subscription, reference §5.7). An IP-literal host needs no lookup.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rvp_presence::{Delivery, DeliveryId};
use rvp_resolve::{HickoryResolver, LookupError, Resolve};
use tokio::sync::mpsc;

use crate::delivery::{Deliverer, Destination};
use crate::home::notification_for;

/// Splits `host[:port]` (port 80 when absent; `[v6]:port` accepted).
pub fn split_authority(authority: &str) -> Option<(&str, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => 80,
            None => return None,
        };
        return Some((host, port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h, p.parse().ok()?)),
        None => Some((authority, 80)),
    }
}

/// Delivers NOTIFYs to call-backs on other servers, looking their hosts up with `R`.
#[derive(Debug)]
pub struct ForeignResolver<R = HickoryResolver> {
    source: Arc<R>,
}

impl ForeignResolver<HickoryResolver> {
    /// A resolver asking only the DNS server at `nameserver`.
    pub fn new(nameserver: SocketAddr) -> Result<Self, LookupError> {
        Ok(ForeignResolver::with_source(
            HickoryResolver::with_nameserver(nameserver)?,
        ))
    }
}

impl<R: Resolve + Send + Sync + 'static> ForeignResolver<R> {
    /// A resolver over any DNS source (tests use `rvp_resolve::StaticResolver`).
    pub fn with_source(source: R) -> Self {
        ForeignResolver {
            source: Arc::new(source),
        }
    }

    /// The socket address for `host:port`.
    pub async fn address(&self, host: &str, port: u16) -> Option<SocketAddr> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(SocketAddr::new(ip, port));
        }
        match self.source.lookup_ip(host).await {
            Ok(answer) => answer
                .records()
                .first()
                .map(|ip| SocketAddr::new(*ip, port)),
            Err(e) => {
                tracing::debug!(host, "address lookup failed: {e}");
                None
            }
        }
    }

    /// Looks the delivery's host up and queues it, in a task of its own (the engine task
    /// never waits for DNS); reports a failure on `failures` when it cannot be routed.
    pub fn deliver(
        &self,
        d: Delivery,
        deliverer: Deliverer<DeliveryId>,
        failures: mpsc::UnboundedSender<DeliveryId>,
    ) {
        let source = Arc::clone(&self.source);
        tokio::spawn(async move {
            let me = ForeignResolver { source };
            let (authority, target) = d.destination();
            let routed = match split_authority(authority) {
                Some((host, port)) => me
                    .address(host, port)
                    .await
                    .and_then(|addr| Destination::new(addr, authority, target).ok()),
                None => None,
            };
            match routed {
                Some(dest) => {
                    deliverer.submit(notification_for(&d, dest));
                }
                None => {
                    tracing::debug!(callback = %d.callback(), "call-back host not found");
                    let _ = failures.send(d.id());
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities() {
        assert_eq!(
            split_authority("im.example.com"),
            Some(("im.example.com", 80))
        );
        assert_eq!(split_authority("h:8080"), Some(("h", 8080)));
        assert_eq!(split_authority("[::1]:81"), Some(("::1", 81)));
        assert_eq!(split_authority("[::1]"), Some(("::1", 80)));
        assert_eq!(split_authority("h:x"), None);
        assert_eq!(split_authority("[::1]x"), None);
    }
}
