//! Which servers are believed: a request that speaks as a *server*
//! (`RVP-From-Principal: im.other.example`, a bare host, as on the property-change NOTIFYs
//! one server sends another) is believed only from an address that host's DNS points to
//! (`_rvp._tcp` SRV targets, then its address records, through `rvp-resolve`), or from a
//! peer listed in `[resolve] peers` (PROTOCOL.md §8.1). What such a server may then say
//! is limited by the engine: only for principals of its own domain (the NOTIFY sender
//! rule). This server's own host name is never believed from outside: the engine asks
//! for proof of every local identity, and a bare host cannot be proven.
//!
//! ```text
//!  RVP-From-Principal: <host> ── local domain? ── yes ──► the engine decides (401/403)
//!                                   │ no
//!                                   ▼
//!                     peer address in [resolve] peers.<host>? ── yes ──► believed
//!                                   │ no
//!                                   ▼
//!                     in the addresses DNS gives for <host>? ── yes ──► believed
//!                                   │ no / no nameserver / DNS down
//!                                   ▼
//!                                  403
//! ```

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::resolve::ForeignResolver;

/// Why a request speaking as a server was not believed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Untrusted {
    /// Neither the configured peers nor DNS place the server at the request's address.
    #[error("{host} is not known to speak from {peer}")]
    NotFromThere {
        /// The server the request speaks as.
        host: String,
        /// Where it came from.
        peer: IpAddr,
    },
}

/// The servers this one believes, and how it finds out.
#[derive(Debug, Clone, Default)]
pub struct ServerTrust {
    local_domain: String,
    peers: BTreeMap<String, Vec<IpAddr>>,
    resolver: Option<Arc<ForeignResolver>>,
}

impl ServerTrust {
    /// Trust for a server of IM domain `local_domain`, believing `peers` (host → the
    /// addresses it speaks from) and, with a resolver, what DNS says.
    pub fn new(
        local_domain: &str,
        peers: &BTreeMap<String, Vec<IpAddr>>,
        resolver: Option<Arc<ForeignResolver>>,
    ) -> ServerTrust {
        ServerTrust {
            local_domain: local_domain.to_ascii_lowercase(),
            peers: peers
                .iter()
                .map(|(h, a)| (h.trim_end_matches('.').to_ascii_lowercase(), a.clone()))
                .collect(),
            resolver,
        }
    }

    /// Whether a request from `peer` asserting the bare host `host` is believed. Hosts of
    /// the local domain are left to the engine (`Ok`).
    pub async fn check_server(&self, host: &str, peer: IpAddr) -> Result<(), Untrusted> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host == self.local_domain {
            return Ok(());
        }
        let refused = || Untrusted::NotFromThere {
            host: host.clone(),
            peer,
        };
        if self.peers.get(&host).is_some_and(|a| a.contains(&peer)) {
            return Ok(());
        }
        let Some(resolver) = &self.resolver else {
            return Err(refused());
        };
        match resolver.server_addresses(&host).await {
            Ok(ips) if ips.contains(&peer) => Ok(()),
            Ok(_) => Err(refused()),
            Err(e) => {
                tracing::warn!(%host, %peer, "cannot check a server's address, refused: {e}");
                Err(refused())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn configured_peers_and_the_local_domain() {
        let mut peers = BTreeMap::new();
        peers.insert(
            "Other.Example.".to_owned(),
            vec!["127.0.0.2".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))],
        );
        let t = ServerTrust::new("localhost", &peers, None);
        let from = |s: &str| s.parse::<IpAddr>().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert_eq!(
            t.check_server("other.example", from("127.0.0.2")).await,
            Ok(())
        );
        assert_eq!(
            t.check_server("OTHER.example.", from("127.0.0.2")).await,
            Ok(())
        );
        assert!(
            t.check_server("other.example", from("127.0.0.3"))
                .await
                .is_err()
        );
        // No nameserver: an unlisted server is never believed.
        assert!(
            t.check_server("third.example", from("127.0.0.2"))
                .await
                .is_err()
        );
        // The local domain is the engine's business (it asks for proof).
        assert_eq!(t.check_server("LOCALHOST", from("10.0.0.1")).await, Ok(()));
    }
}
