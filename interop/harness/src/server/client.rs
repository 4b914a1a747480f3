//! [`Client`]: one test user's requests, authenticated the way librvp does it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};

use rvp_proto::digest::{Ha1, QopAuth, compute_response};

use super::body::{PROPFIND_BODY, acl_body, state_body};
use super::wire::{Req, Resp, fresh_nonce, nonce_of, raw, raw_from};
use crate::names::{DOMAIN, path, url};

/// An RVP client for one user, authenticating like librvp: each request is sent bare;
/// a `401` is answered once with Digest (`nc=00000001`, fresh cnonce) on a new connection.
#[derive(Debug, Clone)]
pub struct Client {
    /// The server's address.
    pub addr: SocketAddr,
    /// The user's alias in [`DOMAIN`].
    pub alias: String,
    /// The Digest password (`<alias>-pw` unless changed).
    pub password: String,
    /// Send the Digest answer after a 401 (else return the 401).
    pub authenticate: bool,
}

/// The client nonces of every [`Client::digest`] in the process: never one twice.
static CNONCE: AtomicU64 = AtomicU64::new(1);

impl Client {
    /// `alias` (password `<alias>-pw`) against the server at `addr`.
    pub fn new(addr: SocketAddr, alias: &str) -> Client {
        Client {
            addr,
            alias: alias.into(),
            password: format!("{alias}-pw"),
            authenticate: true,
        }
    }

    /// The user's logical URL (its `RVP-From-Principal`).
    pub fn url(&self) -> String {
        url(&self.alias)
    }

    /// The Digest `Authorization` value answering `nonce` for this request.
    pub fn digest(&self, req: &Req, nonce: &str) -> String {
        let ha1 = Ha1::from_password(&self.alias, DOMAIN, &self.password);
        let cnonce = format!("{:08x}", CNONCE.fetch_add(1, Ordering::Relaxed));
        let qop = QopAuth {
            nc: "00000001",
            cnonce: &cnonce,
        };
        let response = compute_response(&ha1, &req.method, &req.target, nonce, Some(qop));
        format!(
            "Digest username=\"{}\", realm=\"{DOMAIN}\", nonce=\"{nonce}\", uri=\"{}\", algorithm=\"MD5\", qop=auth, nc=00000001, cnonce=\"{cnonce}\", response=\"{response}\"",
            self.alias, req.target
        )
    }

    /// Sends `req` (bare, then with Digest after a 401 when `authenticate`).
    pub async fn send(&self, req: &Req) -> Resp {
        let first = raw(self.addr, &req.to_bytes(&self.url(), None))
            .await
            .expect("an answer");
        if first.status != 401 || !self.authenticate {
            return first;
        }
        assert_eq!(first.headers_named("WWW-Authenticate"), 1, "{first:?}");
        let nonce = nonce_of(first.header("WWW-Authenticate").expect("a challenge"));
        let auth = self.digest(req, &nonce);
        raw(self.addr, &req.to_bytes(&self.url(), Some(&auth)))
            .await
            .expect("an answer")
    }

    /// Sends `req` with this client's verified Digest answer from the start (a nonce is
    /// fetched first, so no bare attempt is ever made), from source address `src`, with
    /// `RVP-From-Principal` set to `from` (or left out). Returns exact bytes and parsed.
    pub async fn send_proven_from(
        &self,
        src: IpAddr,
        req: &Req,
        from: Option<&str>,
    ) -> (Vec<u8>, Resp) {
        let nonce = fresh_nonce(self.addr).await;
        let auth = self.digest(req, &nonce);
        raw_from(src, self.addr, &req.bytes_as(from, Some(&auth)))
            .await
            .expect("an answer")
    }

    /// [`Client::send_proven_from`] from 127.0.0.1, parsed answer only.
    pub async fn send_proven(&self, req: &Req, from: Option<&str>) -> Resp {
        self.send_proven_from(Ipv4Addr::LOCALHOST.into(), req, from)
            .await
            .1
    }

    /// Login subscription (`pragma/notify`) with `callback` as `Call-Back`.
    pub async fn login(&self, callback: &str, lifetime: u32) -> Resp {
        self.send(
            &Req::new("SUBSCRIBE", &path(&self.alias))
                .header("Notification-Type", "pragma/notify")
                .header("Subscription-Lifetime", &lifetime.to_string())
                .header("Call-Back", callback),
        )
        .await
    }

    /// Watch `target` (`update/propchange`, call-back = own logical URL, like librvp).
    pub async fn watch(&self, target: &str, lifetime: u32) -> Resp {
        self.send(
            &Req::new("SUBSCRIBE", &path(target))
                .header("Notification-Type", "update/propchange")
                .header("Subscription-Lifetime", &lifetime.to_string())
                .header("Call-Back", &self.url()),
        )
        .await
    }

    /// Sets own state with a lease (librvp's form).
    pub async fn set_state(&self, state: &str) -> Resp {
        self.send(&Req::new("PROPPATCH", &path(&self.alias)).body(state_body(state, 1200)))
            .await
    }

    /// Sends an IM body to `to` with an ack type.
    pub async fn im(&self, to: &str, body: &[u8], ack: Option<&str>) -> Resp {
        let mut r = Req::new("NOTIFY", &path(to)).header("Content-Type", "text/xml");
        if let Some(a) = ack {
            r = r.header("RVP-Ack-Type", a);
        }
        self.send(&r.body(body.to_vec())).await
    }

    /// Writes one ACE to own ACL: `grant` or `deny` `send-to` and `presence` for `who`.
    pub async fn acl(&self, who: &str, deny: bool) -> Resp {
        self.send(&Req::new("ACL", &path(&self.alias)).body(acl_body(&url(who), deny)))
            .await
    }

    /// `SUBSCRIPTIONS` of own node, listing the subscriptions of `kind`
    /// (`update/propchange`, `pragma/notify`).
    pub async fn subscriptions(&self, kind: &str) -> Resp {
        self.send(&Req::new("SUBSCRIPTIONS", &path(&self.alias)).header("Notification-Type", kind))
            .await
    }

    /// `PROPFIND` (depth 0) of `target`'s state, display name and e-mail address.
    pub async fn propfind(&self, target: &str) -> Resp {
        self.send(
            &Req::new("PROPFIND", &path(target))
                .header("Depth", "0")
                .body(PROPFIND_BODY),
        )
        .await
    }
}
