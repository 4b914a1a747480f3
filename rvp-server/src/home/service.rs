//! The request path: Digest, proven and believed identities, routing (router role and
//! live directory), the engine call, and the answer's HTTP rules (PROTOCOL.md §8.1).

use std::sync::Arc;
use std::time::Instant;

use http::StatusCode;
use rvp_presence::Caller;

use crate::auth::{AuthError, Authenticator, Identity};
use crate::engine::EngineHandle;
use crate::metrics::{AuthFailure, Metrics};
use crate::presence::{PresenceCore, PresenceRequest};
use crate::service::{Handler, LogPrincipal, Peer, Request, Response, text_response};
use crate::trust::ServerTrust;
use rvp_proto::header::FromPrincipal;

/// The [`Handler`] of the home server: authentication, then the engine.
#[derive(Debug, Clone)]
pub struct RvpService {
    engine: EngineHandle<PresenceCore>,
    auth: Arc<Authenticator>,
    trust: Arc<ServerTrust>,
    metrics: Arc<Metrics>,
    router: Option<Arc<crate::router::Router>>,
    /// Routers and reverse proxies whose `X-Forwarded-For` names the client.
    trusted_proxies: Arc<[std::net::IpAddr]>,
    /// The IM domain, and the addresses of the other servers of it (`[router.homes]`,
    /// `[resolve] peers` for the domain): they may speak as the domain.
    domain: Arc<str>,
    fellows: Arc<[std::net::IpAddr]>,
    /// The directory read per request ([`live`](super::live)), when the users come from one.
    live: Option<Arc<super::live::LiveUsers>>,
}

impl RvpService {
    /// A service over a running engine task and an authenticator.
    pub fn new(engine: EngineHandle<PresenceCore>, auth: Arc<Authenticator>) -> RvpService {
        RvpService {
            engine,
            auth,
            trust: Arc::new(ServerTrust::default()),
            metrics: Arc::new(Metrics::new()),
            router: None,
            trusted_proxies: Arc::from(Vec::new()),
            domain: Arc::from(""),
            fellows: Arc::from(Vec::new()),
            live: None,
        }
    }

    /// Reads the directory per request ([`live`](super::live)): users added, changed, moved or
    /// disabled there take effect while the server runs. Installs the layer's router
    /// (always consulted, since any user may turn out to live elsewhere).
    pub fn with_live_users(mut self, live: Arc<super::live::LiveUsers>) -> RvpService {
        self.router = Some(Arc::clone(live.router()));
        self.live = Some(live);
        self
    }

    /// The other servers of IM domain `domain`, by address: a request from one of them
    /// that speaks as the domain (`RVP-From-Principal: <domain>`, the property changes a
    /// home server sends for its users) is proven by that address.
    pub fn with_fellow_servers(
        mut self,
        domain: &str,
        addresses: &[std::net::IpAddr],
    ) -> RvpService {
        self.domain = Arc::from(domain);
        self.fellows = Arc::from(addresses.to_vec());
        self
    }

    /// Believes these routers' and reverse proxies' `X-Forwarded-For` for the client's
    /// address (`[router] trusted_proxies`): a home server behind a router judges the
    /// client the router forwards, not the router.
    pub fn with_trusted_proxies(mut self, proxies: &[std::net::IpAddr]) -> RvpService {
        self.trusted_proxies = Arc::from(proxies.to_vec());
        self
    }

    /// Routes requests for users whose home is another server ([`crate::router`]); a
    /// router with nothing to route is dropped.
    pub fn with_router(mut self, router: crate::router::Router) -> RvpService {
        self.router = router.routes_anything().then(|| Arc::new(router));
        self
    }

    /// Counts refused credentials into `metrics` (default: counters of its own).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> RvpService {
        self.metrics = metrics;
        self
    }

    /// Which other servers are believed (default: none).
    pub fn with_trust(mut self, trust: ServerTrust) -> RvpService {
        self.trust = Arc::new(trust);
        self
    }

    /// A `401` with one fresh challenge and the same body whatever the refusal was
    /// ([`crate::auth::UNAUTHORIZED_BODY`]): the reason is only logged (debug), so an answer
    /// never tells an unknown user from a wrong password.
    fn unauthorized(&self, now: Instant, after: Option<&AuthError>) -> Response {
        let mut res = text_response(StatusCode::UNAUTHORIZED, crate::auth::UNAUTHORIZED_BODY);
        let challenge = self.auth.challenge(now, after);
        res.headers_mut()
            .insert(http::header::WWW_AUTHENTICATE, challenge.to_header_value());
        res
    }
}

/// Callers built per worker thread, at most this many (then the memo starts again).
const PROVEN_CALLERS: usize = 1024;

/// The caller of a request that asserts the identity `p` it proved with `kind` (before its
/// source address is set): `make()` the first time on this thread, a clone of that after.
///
/// Building one formats the principal and keys it (about 1.6k instructions, per request of
/// every signed-on librvp client); the result depends on `(p, kind)` alone, so it is kept.
/// Only proven identities get here: the memo holds directory users, never what a caller
/// merely asserts, and is bounded by [`PROVEN_CALLERS`] per thread all the same.
fn proven_caller(
    p: &FromPrincipal,
    kind: rvp_proto::CredentialKind,
    make: impl FnOnce() -> Caller,
) -> Caller {
    use std::cell::RefCell;
    use std::collections::HashMap;
    type Kinds = Vec<(rvp_proto::CredentialKind, Caller)>;
    type Memo = HashMap<FromPrincipal, Kinds, foldhash::fast::RandomState>;
    thread_local! {
        static MEMO: RefCell<Memo> = RefCell::new(HashMap::default());
    }
    MEMO.with_borrow_mut(|memo| {
        if let Some(c) = memo
            .get(p)
            .and_then(|kinds| kinds.iter().find(|(k, _)| *k == kind))
        {
            return c.1.clone();
        }
        let caller = make();
        if memo.len() >= PROVEN_CALLERS {
            memo.clear();
        }
        memo.entry(p.clone())
            .or_default()
            .push((kind, caller.clone()));
        caller
    })
}

impl Handler for RvpService {
    async fn handle(&self, peer: Peer, request: Request, now: Instant) -> Response {
        // The directory first (async, here in the server layer: the engine stays
        // sans-IO): the users the request names, as the directory says now.
        //
        // The directory, the router and the server-trust checks are boxed where they run:
        // their futures (kilobytes) would otherwise be part of every request's future,
        // copied with it, on servers that use none of them.
        if let Some(live) = &self.live
            && let Some(answer) = Box::pin(live.check(&request)).await.response()
        {
            return answer;
        }
        if let Some(router) = &self.router
            && let Some(routed) =
                Box::pin(crate::router::answer(router, peer.addr.ip(), &request)).await
        {
            return routed;
        }
        let authorization = request.authorization();
        let identity = match self.auth.authenticate(
            now,
            request.method.as_str(),
            request.target(),
            authorization,
        ) {
            Ok(id) => id,
            Err(e) => {
                self.metrics.auth_failure(AuthFailure::of(&e));
                tracing::debug!(peer = %peer.addr, "authentication refused: {e}");
                return self.unauthorized(now, Some(&e));
            }
        };
        // The client: the connection, or whom a trusted router or proxy forwards.
        // (`X-Forwarded-For` is looked up only when the connection is a trusted proxy:
        // from anyone else it is ignored anyway.)
        let client = crate::router::client_ip(
            &self.trusted_proxies,
            peer.addr.ip(),
            if self.trusted_proxies.contains(&peer.addr.ip()) {
                request.header("x-forwarded-for")
            } else {
                None
            },
        );
        let principal = identity.principal().cloned().map(FromPrincipal::from);
        let mut proven = match (&principal, identity.credential_kind()) {
            (Some(p), Some(k)) => Some((p, k)),
            _ => None,
        };
        // Another home server of this domain speaks as the domain (property changes of its
        // users): proven by its address, `internal` credentials (PROTOCOL.md §8.2).
        let domain_host;
        if proven.is_none()
            && let Some(FromPrincipal::Host(host)) = &request.typed.rvp.from_principal
            && self.fellows.contains(&client)
            && host.eq_ignore_ascii_case(&self.domain)
        {
            domain_host = FromPrincipal::Host(host.clone());
            proven = Some((&domain_host, rvp_proto::CredentialKind::Internal));
        }
        // A request speaking as another server is believed only from where that server's
        // DNS (or the configuration) places it (crate::trust).
        if let Some(FromPrincipal::Host(host)) = &request.typed.rvp.from_principal
            && let Err(e) = Box::pin(self.trust.check_server(host, client)).await
        {
            tracing::info!(peer = %peer.addr, "refused: {e}");
            return text_response(
                StatusCode::FORBIDDEN,
                "RVP-From-Principal names a server this address does not speak for",
            );
        }
        let caller = match proven {
            // The common case (librvp asserts, with every request, the identity it proves):
            // the caller is a pure function of that identity, kept per worker thread.
            Some((p, kind)) if request.typed.rvp.from_principal.as_ref() == Some(p) => {
                proven_caller(p, kind, || {
                    Caller::from_rvp_headers(&request.typed.rvp, proven, None)
                })
                .with_source(client)
            }
            _ => Caller::from_rvp_headers(&request.typed.rvp, proven, Some(client)),
        };
        let log_name: Option<Arc<str>> = match &identity {
            Identity::Authenticated(a) => Some(Arc::clone(&a.username)),
            _ => caller.asserted_principal().cloned(),
        };
        let answer = self
            .engine
            .call(PresenceRequest {
                caller,
                body: request.body(),
                typed: request.typed,
            })
            .await;
        let mut res = match answer {
            Ok(a) => a.to_http(),
            Err(e) => text_response(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        };
        if res.status() == StatusCode::UNAUTHORIZED {
            if identity.is_authenticated() {
                // Never a second 401 for a verified Digest answer: librvp ends the account
                // on it. The caller is who they proved to be, and lacks the right.
                *res.status_mut() = StatusCode::FORBIDDEN;
            } else {
                // The same 401 as for refused credentials: what the engine wanted (which
                // right, which identity) goes to the debug log only.
                tracing::debug!(peer = %peer.addr, "401: {}", String::from_utf8_lossy(res.body()).trim_end());
                res = self.unauthorized(now, None);
            }
        }
        if let Some(name) = log_name {
            res.extensions_mut().insert(LogPrincipal(name));
        }
        res
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rvp_proto::CredentialKind;
    use rvp_proto::header::RvpHeaders;
    use rvp_proto::url::LogicalUrl;

    fn asserting(p: &FromPrincipal) -> RvpHeaders {
        let mut h = RvpHeaders::default();
        h.from_principal = Some(p.clone());
        h
    }

    /// The kept caller is the one built for that request, for each identity and kind,
    /// with the source set after.
    #[test]
    fn a_kept_caller_is_the_built_one() {
        let ip: std::net::IpAddr = [127, 0, 0, 9].into();
        for alias in ["alice", "bob"] {
            let p = FromPrincipal::from(LogicalUrl::new("localhost", alias).unwrap());
            let rvp = asserting(&p);
            for kind in [CredentialKind::Digest, CredentialKind::Internal] {
                let direct = Caller::from_rvp_headers(&rvp, Some((&p, kind)), Some(ip));
                for _ in 0..2 {
                    let kept = proven_caller(&p, kind, || {
                        Caller::from_rvp_headers(&rvp, Some((&p, kind)), None)
                    })
                    .with_source(ip);
                    assert_eq!(kept, direct);
                }
            }
        }
    }

    /// The memo stays bounded whatever the number of identities.
    #[test]
    fn the_memo_is_bounded() {
        for i in 0..(PROVEN_CALLERS + 10) {
            let p = FromPrincipal::from(LogicalUrl::new("localhost", &format!("u{i}")).unwrap());
            let rvp = asserting(&p);
            let _ = proven_caller(&p, CredentialKind::Digest, || {
                Caller::from_rvp_headers(&rvp, Some((&p, CredentialKind::Digest)), None)
            });
        }
        // Same thread: count what this thread's memo holds by asking for a new one and
        // checking that the clear happened (the last identities are kept, the first not).
        let first = FromPrincipal::from(LogicalUrl::new("localhost", "u0").unwrap());
        let mut built = false;
        let _ = proven_caller(&first, CredentialKind::Digest, || {
            built = true;
            Caller::from_rvp_headers(
                &asserting(&first),
                Some((&first, CredentialKind::Digest)),
                None,
            )
        });
        assert!(
            built,
            "the first identity was dropped when the memo was full"
        );
    }
}
