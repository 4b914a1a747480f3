//! The method layer: an RVP request, typed once by `rvp-proto`, in; one HTTP response and
//! the NOTIFYs to send out (PROTOCOL.md §2, §9.1).
//!
//! ```text
//!  bytes ─► rvp_proto RequestParser ─► RequestHead::typed_lenient() ─► TypedRequest + body
//!                                                   │  Caller::from_rvp_headers(&req.rvp, auth, ip)
//!                                                   ▼
//!            Engine::handle_request(now, RequestId, &caller, &req, &body)
//!              method class (501/405) → identity (401/403) → node (404)
//!              → headers left to the method (412) → typed operation, one module per method:
//!                subscribe  unsubscribe  subscriptions  propfind  proppatch  notify  acl
//!                                                   │
//!            Engine::poll_output() ◄────────────────┘
//!              Output::Respond(answer) ─► answer.to_http() / answer.write(&mut buf)
//!              Output::Deliver(d)      ─► d.write_notify(&mut buf), sent to d.destination()
//! ```
//!
//! Every request gets exactly one [`Answer`]: at once, or, for a NOTIFY with
//! `RVP-Ack-Type: DeepOr`/`DeepAnd`, once the delivery outcomes reported with
//! [`Engine::handle_delivery_result`] decide it.
//!
//! Header rules (PROTOCOL.md §2, §9.5):
//!
//! * A malformed or unusable `Call-Back`, `Notification-Type`, `Subscription-Id` or
//!   `Depth` is treated as a missing one (`rvp-proto`'s lenient typing leaves it out and
//!   lists it in [`TypedRequest::unusable`]), which these methods answer with `412`
//!   (`Subscription-Id` on UNSUBSCRIBE: missing → `400`, present but not one of ours →
//!   `412`). Any other malformed or repeated RVP header → `400` naming it.
//! * Bodies are accepted with or without `Content-Type` (librvp sends ACL writes without
//!   one). XML bodies are parsed under [`Policy::xml_limits`](crate::Policy::xml_limits);
//!   a malformed body → `400` whose `text/plain` body names the element at fault.
//! * NOTIFY bodies are relayed byte for byte, never parsed; the `Bytes` of the request
//!   are shared with the deliveries (no copy).
//! * Refusals carry a one-line `text/plain` body saying what broke (clients read only the
//!   status code); `400 credentials not specified` and `500 hop count exceeded` carry
//!   their reason phrases on the status line.

mod acl;
pub(crate) mod notify;
pub(crate) mod propfind;
pub(crate) mod proppatch;
pub(crate) mod subscribe;
mod subscriptions;
mod unsubscribe;

use std::net::IpAddr;
use std::time::Instant;

use bytes::{BufMut, Bytes};
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use rvp_proto::codec::{ParseError, ReasonPhrase, TypedRequest};
use rvp_proto::header::{FromPrincipal, RvpHeaders};
use rvp_proto::url::{NodePath, RequestTarget};
use rvp_proto::xml::{XmlBody, XmlError};
use rvp_proto::{CredentialKind, Method, MethodClass};

pub use acl::{acl_from_wire, acl_to_wire};
pub use notify::NotifyParams;
pub use propfind::PropfindScope;
pub use proppatch::StatePatch;
pub use subscribe::SubscribeParams;

use crate::caller::Caller;
use crate::engine::{Answer, Engine, Form, Outcome, Refusal, RequestId};
use crate::principal::{NodeKey, PrincipalId};

/// `Subscription-Id` (lower-case, as the `http` crate stores names).
const SUBSCRIPTION_ID: HeaderName = HeaderName::from_static("subscription-id");
/// `Subscription-Lifetime`.
const SUBSCRIPTION_LIFETIME: HeaderName = HeaderName::from_static("subscription-lifetime");
const TEXT_XML: HeaderValue = HeaderValue::from_static("text/xml");
const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain");

/// The `400` for a request that does not type: the header at fault, or the target.
fn parse_refusal(e: &ParseError) -> Refusal {
    match e {
        ParseError::Header(h) => Refusal::BadRequest(h.to_string().into()),
        ParseError::Target(t) => bad(&format!("malformed request-target or Host: {t}")),
        other => bad(&other.to_string()),
    }
}

/// A `400` refusal with this text.
pub(crate) fn bad(text: &str) -> Refusal {
    Refusal::BadRequest(text.into())
}

/// A `400` refusal for a body that does not parse as `root`.
pub(crate) fn bad_xml(root: &str, e: &XmlError) -> Refusal {
    Refusal::BadRequest(format!("malformed <{root}> body: {e}").into())
}

/// Parses an XML body of type `T` under the policy's limits.
pub(crate) fn parse_body<T: XmlBody>(engine: &Engine, body: &[u8]) -> Result<T, Refusal> {
    T::parse_with(body, &engine.policy().xml_limits).map_err(|e| bad_xml(T::ROOT, &e))
}

/// Whether a body is empty or only whitespace.
pub(crate) fn is_blank(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
}

impl Engine {
    /// Handles one RVP request (PROTOCOL.md §2), typed once by `rvp-proto` in the lenient
    /// mode ([`RequestHead::typed_lenient`](rvp_proto::codec::RequestHead::typed_lenient)
    /// or [`TypedRequest::from_http`]): classifies the method (`501`/`405`), checks the
    /// caller's identity, resolves the request-target to a registered principal (logical,
    /// physical and `/aliases/` forms; `404` otherwise), and runs the method, which answers
    /// the headers the lenient typing left to it (PROTOCOL.md §2: mostly `412`) and types
    /// the XML body. Queues exactly one [`Answer`] for `request` (see
    /// [`Engine::poll_output`]); a NOTIFY also queues its deliveries.
    ///
    /// `body` is shared, not copied, by relayed NOTIFYs. `caller` says who is asking (see
    /// [`Caller::from_rvp_headers`]).
    pub fn handle_request(
        &mut self,
        now: Instant,
        request: RequestId,
        caller: &Caller,
        req: &TypedRequest,
        body: &Bytes,
    ) {
        self.advance(now);
        if let Err(refusal) = self.dispatch(now, request, caller, req, body) {
            self.next_form = None;
            self.refuse(request, refusal);
        }
    }

    /// [`Engine::handle_request`] for a request held as an [`http::Request`] (tests,
    /// embedders on an HTTP stack): typed with [`TypedRequest::from_http`], the same
    /// lenient typing a parsed head gets; a request that does not type is answered `400`
    /// naming what is malformed (after the method's own `501`/`405`).
    pub fn handle_http(
        &mut self,
        now: Instant,
        request: RequestId,
        caller: &Caller,
        req: &http::Request<Bytes>,
    ) {
        let token = req.method().as_str();
        let refusal = match MethodClass::classify(token.as_bytes()) {
            MethodClass::Rvp(_) => match TypedRequest::from_http(req) {
                Ok(typed) => return self.handle_request(now, request, caller, &typed, req.body()),
                Err(e) => parse_refusal(&e),
            },
            MethodClass::NotAllowed => Refusal::MethodNotAllowed(token.into()),
            _ => Refusal::NotImplemented(token.into()),
        };
        self.advance(now);
        self.next_form = None;
        self.refuse(request, refusal);
    }

    fn dispatch(
        &mut self,
        now: Instant,
        request: RequestId,
        caller: &Caller,
        req: &TypedRequest,
        body: &Bytes,
    ) -> Result<(), Refusal> {
        let method = match req.method {
            MethodClass::Rvp(m) => m,
            MethodClass::NotAllowed => return Err(Refusal::MethodNotAllowed("COPY/MOVE".into())),
            _ => return Err(Refusal::NotImplemented("not an RVP method".into())),
        };
        self.check_identity(caller)?;
        let node = self.resolve(&req.target).ok_or(Refusal::NotFound)?;
        let key = self
            .directory()
            .get(node)
            .map(|p| p.key().clone())
            .ok_or(Refusal::NotFound)?;
        let cx = Cx {
            now,
            request,
            caller,
            node,
            key: &key,
            head: req,
            body,
        };
        match method {
            Method::Subscribe => subscribe::handle(self, &cx),
            Method::Unsubscribe => unsubscribe::handle(self, &cx),
            Method::Subscriptions => subscriptions::handle(self, &cx),
            Method::Propfind => propfind::handle(self, &cx),
            Method::Proppatch => proppatch::handle(self, &cx),
            Method::Notify => notify::handle(self, &cx),
            Method::Acl => acl::handle(self, &cx),
            _ => Err(Refusal::NotImplemented(method.as_str().into())),
        }
    }

    /// The principal a request-target names: an alias path (under the request's
    /// authority, or the only principal with that alias), a physical path, or `None`
    /// (the root `/`, group and other paths are not nodes of this engine).
    pub fn resolve(&self, target: &RequestTarget) -> Option<PrincipalId> {
        match &target.path {
            NodePath::Alias(alias) => self
                .directory()
                .lookup_alias(target.authority.as_deref().unwrap_or(""), alias),
            NodePath::Local(l) => {
                NodeKey::new(l.host(), l.alias()).and_then(|k| self.directory().lookup(&k))
            }
            _ => None,
        }
    }
}

/// Everything a method handler needs about one request.
#[derive(Debug)]
pub(crate) struct Cx<'a> {
    pub(crate) now: Instant,
    pub(crate) request: RequestId,
    pub(crate) caller: &'a Caller,
    pub(crate) node: PrincipalId,
    pub(crate) key: &'a NodeKey,
    pub(crate) head: &'a TypedRequest,
    pub(crate) body: &'a Bytes,
}

impl Caller {
    /// The caller of a request as the embedder established it: the asserted
    /// `RVP-From-Principal` of `req` (ignored when absent or malformed — the method layer
    /// answers a malformed one with `400`), the authenticated identity if the request
    /// was authenticated (principal URL and how it was proven), and the source address
    /// (§5.3 binds view-less PROPPATCHes by it).
    ///
    /// ```
    /// use rvp_presence::Caller;
    /// use rvp_proto::CredentialKind;
    ///
    /// let req = http::Request::builder()
    ///     .method("SUBSCRIBE")
    ///     .uri("/instmsg/aliases/bob")
    ///     .header("RVP-From-Principal", "http://LOCALHOST/instmsg/aliases/bob")
    ///     .body(bytes::Bytes::new())?;
    /// let caller = Caller::from_request(
    ///     &req,
    ///     Some(("http://localhost/instmsg/aliases/bob", CredentialKind::Digest)),
    ///     Some("127.0.0.1".parse()?),
    /// );
    /// assert!(caller.is_authenticated());
    /// assert_eq!(
    ///     caller.asserted_principal().map(|p| &**p),
    ///     Some("http://localhost/instmsg/aliases/bob")
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_request<B>(
        req: &http::Request<B>,
        authenticated: Option<(&str, CredentialKind)>,
        source: Option<IpAddr>,
    ) -> Caller {
        let asserted = req.headers().get("rvp-from-principal").and_then(|v| {
            let mut h = RvpHeaders::default();
            h.add("RVP-From-Principal", v.as_bytes()).ok()?;
            h.from_principal
        });
        let caller = match authenticated {
            Some((p, kind)) => Caller::authenticated(p, kind),
            None => Caller::anonymous(),
        };
        Caller::build(caller, asserted.as_ref(), source)
    }

    /// [`Caller::from_request`] for a request typed by `rvp_proto` (e.g.
    /// [`TypedRequest::rvp`](rvp_proto::codec::TypedRequest)), with the proven identity
    /// typed too (a user's logical URL, or a server's bare host for `internal`
    /// credentials): nothing is formatted or parsed again.
    pub fn from_rvp_headers(
        rvp: &RvpHeaders,
        authenticated: Option<(&FromPrincipal, CredentialKind)>,
        source: Option<IpAddr>,
    ) -> Caller {
        let asserted = rvp.from_principal.as_ref();
        match authenticated {
            // Asserting the identity it proved (librvp, every request of a signed-on
            // client): one identity read once, presented twice.
            Some((p, kind)) if asserted == Some(p) => {
                Caller::build(Caller::authenticated_asserting(p, kind), None, source)
            }
            Some((p, kind)) => Caller::build(Caller::authenticated_as(p, kind), asserted, source),
            None => Caller::build(Caller::anonymous(), asserted, source),
        }
    }

    fn build(
        mut caller: Caller,
        asserted: Option<&FromPrincipal>,
        source: Option<IpAddr>,
    ) -> Caller {
        if let Some(a) = asserted {
            caller = caller.with_asserted_header(a);
        }
        match source {
            Some(ip) => caller.with_source(ip),
            None => caller,
        }
    }
}

impl Answer {
    /// The answer as the HTTP response to send: status (with the Exchange reason phrase,
    /// or [`Refusal::reason_override`] as a [`ReasonPhrase`] extension),
    /// `Subscription-Id`/`Subscription-Lifetime` for SUBSCRIBE, `Content-Type: text/xml`
    /// and the XML body for bodies (PROTOCOL.md §2), a one-line `text/plain` body for
    /// refusals. Write it with [`rvp_proto::codec::write_response`] (which adds
    /// `Content-Length` and `RVP-Notifications-Version`), or use [`Answer::write`].
    ///
    /// A `401` needs the embedder's `WWW-Authenticate` challenges added (authentication
    /// is not the engine's business, PROTOCOL.md §2.8).
    pub fn to_http(&self) -> http::Response<Bytes> {
        let mut res = http::Response::new(Bytes::new());
        *res.status_mut() = self.outcome.status();
        let headers = res.headers_mut();
        let body: Option<Vec<u8>> = match &self.outcome {
            Outcome::Subscribed {
                id,
                lifetime_secs,
                properties,
                ..
            } => {
                headers.insert(SUBSCRIPTION_ID, HeaderValue::from(id.get()));
                headers.insert(SUBSCRIPTION_LIFETIME, HeaderValue::from(*lifetime_secs));
                properties
                    .as_ref()
                    .map(|p| propfind::multistatus(p, &Form::Full).to_bytes())
            }
            Outcome::Renewed { id, lifetime_secs } => {
                headers.insert(SUBSCRIPTION_ID, HeaderValue::from(id.get()));
                headers.insert(SUBSCRIPTION_LIFETIME, HeaderValue::from(*lifetime_secs));
                None
            }
            Outcome::Subscriptions(list) => Some(subscriptions::render(list).to_bytes()),
            Outcome::Properties(p) => Some(propfind::multistatus(p, &self.form).to_bytes()),
            Outcome::StateSet { href, view, state } => {
                let mut out = Vec::new();
                proppatch::write_echo(&mut out, href, *view, state);
                Some(out)
            }
            Outcome::PropPatchRefused { href, propstats } => {
                Some(proppatch::refused(href, propstats).to_bytes())
            }
            Outcome::Acl(acl) => Some(acl_to_wire(acl).to_bytes()),
            Outcome::Refused(r) => {
                if let Some(phrase) = r.reason_override().and_then(ReasonPhrase::new) {
                    res.extensions_mut().insert(phrase);
                }
                let mut text = r.to_string();
                text.push_str("\r\n");
                res.headers_mut().insert(CONTENT_TYPE, TEXT_PLAIN);
                *res.body_mut() = Bytes::from(text);
                return res;
            }
            _ => None,
        };
        if let Some(b) = body {
            res.headers_mut().insert(CONTENT_TYPE, TEXT_XML);
            *res.body_mut() = Bytes::from(b);
        }
        res
    }

    /// Writes the answer as response bytes ([`Answer::to_http`], then
    /// [`rvp_proto::codec::write_response`]).
    pub fn write(&self, out: &mut impl BufMut) {
        rvp_proto::codec::write_response(&self.to_http(), out);
    }

    /// The answer as response bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.write(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn callers_from_headers() {
        let mut rvp = RvpHeaders::default();
        rvp.add("RVP-From-Principal", b"im.example.com").unwrap();
        let c = Caller::from_rvp_headers(&rvp, None, None);
        assert_eq!(c.asserted_principal().map(|p| &**p), Some("im.example.com"));
        assert!(!c.is_authenticated());
        let req = http::Request::builder()
            .header("rvp-from-principal", "not a url at all")
            .body(())
            .unwrap();
        let c = Caller::from_request(
            &req,
            Some(("http://h/instmsg/aliases/a", CredentialKind::Ntlm)),
            None,
        );
        assert_eq!(
            c.asserted_principal(),
            None,
            "a malformed assertion is ignored; the authenticated identity stands"
        );
        assert_eq!(
            c.principal().map(|p| &**p),
            Some("http://h/instmsg/aliases/a")
        );
        assert_eq!(Caller::from_request(&req, None, None), Caller::anonymous());
    }

    #[test]
    fn lenient_headers() {
        let req = http::Request::builder()
            .method("SUBSCRIBE")
            .uri("/instmsg/aliases/bob")
            .header("host", "localhost")
            .header("call-back", "not a url")
            .header("subscription-id", "a b")
            .body(Bytes::new())
            .unwrap();
        let h = TypedRequest::from_http(&req).unwrap();
        assert!(h.unusable.contains("Call-Back") && h.unusable.contains("Subscription-Id"));
        assert!(h.rvp.call_back.is_none());
        let req = http::Request::builder()
            .method("NOTIFY")
            .uri("/instmsg/aliases/bob")
            .header("rvp-hop-count", "x")
            .body(Bytes::new())
            .unwrap();
        let e = parse_refusal(&TypedRequest::from_http(&req).unwrap_err());
        assert_eq!(e.status(), http::StatusCode::BAD_REQUEST);
        assert!(e.to_string().contains("RVP-Hop-Count"), "{e}");
    }
}
