//! Requests the session emits: what each one is for ([`RequestKind`]) and its bytes.

use std::sync::Arc;

use rvp_proto::Method;
use rvp_proto::PresenceState;
use rvp_proto::url::LogicalUrl;

/// Names a request the session emitted; its answer or failure is handed back with it
/// (the shared `rvp-proto` type).
pub use rvp_proto::RequestId;

/// An ACL rule about one principal, written with an ACL request (PROTOCOL.md §2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AclRule {
    /// Grant `send-to` and `presence`.
    Allow,
    /// Deny `send-to` and `presence`: the principal sees this user offline and cannot
    /// message it (PROTOCOL.md §8.4).
    Block,
    /// Remove the entry (an ACE with empty grant and deny).
    Clear,
}

/// What an instant-message NOTIFY carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageKind {
    /// Text.
    Text,
    /// A typing notification.
    Typing,
    /// "Joined the conversation".
    Join,
    /// "Left the conversation".
    Leave,
    /// An application invitation.
    Invitation,
}

/// What a request is for. The session interprets its answer accordingly
/// ([`crate::reply::interpret`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestKind {
    /// `SUBSCRIBE` own node, `pragma/notify`, call-back = the client's listener.
    Login,
    /// `SUBSCRIBE` own node with the login subscription's id.
    RenewLogin,
    /// `UNSUBSCRIBE` of the login subscription.
    Logout,
    /// `PROPPATCH` own `r:state` (`renewal`: a lease refresh of the same state).
    SetState {
        /// The state set.
        state: PresenceState,
        /// A refresh of the lease rather than a change.
        renewal: bool,
    },
    /// `PROPFIND` of a node (own display name at sign-on, or a look-up).
    Properties {
        /// The node.
        who: LogicalUrl,
    },
    /// `SUBSCRIPTIONS` own node (`update/propchange`): who watches this user.
    Watchers,
    /// `ACL` read of the own node.
    ReadAcl,
    /// `ACL` write of one entry.
    WriteAcl {
        /// Whom the entry is about.
        who: LogicalUrl,
        /// The rule.
        rule: AclRule,
    },
    /// `SUBSCRIBE` `update/propchange` with the own logical URL as call-back.
    Watch {
        /// The watched node.
        who: LogicalUrl,
    },
    /// `SUBSCRIBE` renewal of a watch.
    RenewWatch {
        /// The watched node.
        who: LogicalUrl,
    },
    /// `UNSUBSCRIBE` of a watch.
    Unwatch {
        /// The watched node.
        who: LogicalUrl,
    },
    /// `NOTIFY` with an `r:message`.
    Message {
        /// The recipient.
        to: LogicalUrl,
        /// What it carries.
        what: MessageKind,
    },
}

impl RequestKind {
    /// The method of requests of this kind.
    pub fn method(&self) -> Method {
        match self {
            RequestKind::Login
            | RequestKind::RenewLogin
            | RequestKind::Watch { .. }
            | RequestKind::RenewWatch { .. } => Method::Subscribe,
            RequestKind::Logout | RequestKind::Unwatch { .. } => Method::Unsubscribe,
            RequestKind::SetState { .. } => Method::Proppatch,
            RequestKind::Properties { .. } => Method::Propfind,
            RequestKind::Watchers => Method::Subscriptions,
            RequestKind::ReadAcl | RequestKind::WriteAcl { .. } => Method::Acl,
            RequestKind::Message { .. } => Method::Notify,
        }
    }

    /// Which [`Lane`] requests of this kind travel in.
    pub fn lane(&self) -> Lane {
        match self {
            RequestKind::Message { .. } => Lane::Messages,
            _ => Lane::Control,
        }
    }
}

/// Requests of one lane must reach the server in the order they were emitted; the two
/// lanes are independent.
///
/// Messages wait for the recipient's client (`RVP-Ack-Type: DeepOr`, up to the server's
/// delivery timeout): a driver that sends them apart from everything else keeps a slow
/// recipient from delaying renewals, and keeps messages to one recipient in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Lane {
    /// Subscriptions, state, ACLs, look-ups.
    Control,
    /// Instant messages and other `r:message` NOTIFYs.
    Messages,
}

/// One request to send: the session built it, a driver writes it
/// ([`Request::write`]) to the home server, adding `Authorization` when it has a Digest
/// challenge, and hands the answer back with [`Request::id`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    id: RequestId,
    kind: RequestKind,
    host: String,
    target: String,
    from: Arc<str>,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Request {
    pub(crate) fn new(
        id: RequestId,
        kind: RequestKind,
        node: &LogicalUrl,
        from: Arc<str>,
    ) -> Request {
        let host = node.host();
        // Clients leave the port out of Host (PROTOCOL.md §3.2).
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h).to_owned();
        Request {
            id,
            kind,
            host,
            target: node.path(),
            from,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Request {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn body(mut self, body: Vec<u8>) -> Request {
        self.body = body;
        self
    }

    /// The id to hand the answer back with.
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// What the request is for.
    pub fn kind(&self) -> &RequestKind {
        &self.kind
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.kind.method()
    }

    /// The lane it travels in.
    pub fn lane(&self) -> Lane {
        self.kind.lane()
    }

    /// The `Host` header value.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The request-target (origin form, e.g. `/instmsg/aliases/bob`): also the Digest
    /// `uri`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The body.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }

    /// Points the request elsewhere: after a `302`, the same request goes to the
    /// `Location`'s host and path (PROTOCOL.md §2.9). `host` and `target` must be free of
    /// control characters and `target` of spaces; `false` (and nothing changed) otherwise.
    pub fn redirect(&mut self, host: &str, target: &str) -> bool {
        let clean = |s: &str, space: bool| {
            !s.is_empty() && !s.chars().any(|c| c.is_control() || (space && c == ' '))
        };
        if !clean(host, true) || !clean(target, true) {
            return false;
        }
        self.host = host.to_owned();
        self.target = target.to_owned();
        true
    }

    /// Appends the request's bytes: request line, `Host`, `RVP-Notifications-Version`,
    /// `RVP-From-Principal`, the request's own headers, `Authorization` when given,
    /// `Content-Length`, body. Header names are written in their RVP spelling.
    pub fn write(&self, authorization: Option<&str>, out: &mut Vec<u8>) {
        out.reserve(256 + self.body.len());
        out.extend_from_slice(self.method().as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        out.extend_from_slice(self.host.as_bytes());
        out.extend_from_slice(b"\r\nRVP-Notifications-Version: 0.2\r\nRVP-From-Principal: ");
        out.extend_from_slice(self.from.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if let Some(a) = authorization.filter(|a| !a.contains(['\r', '\n'])) {
            out.extend_from_slice(b"Authorization: ");
            out.extend_from_slice(a.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(self.body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(&self.body);
    }

    /// The request's bytes without `Authorization`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(None, &mut out);
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rvp_proto::codec::{RequestParser, Status};

    #[test]
    fn writes_a_parseable_request() {
        let node: LogicalUrl = "http://localhost:8080/instmsg/aliases/bob".parse().unwrap();
        let r = Request::new(
            RequestId(3),
            RequestKind::Watch { who: node.clone() },
            &node,
            Arc::from("http://localhost/instmsg/aliases/alice"),
        )
        .header("Notification-Type", "update/propchange")
        .body(b"xy".to_vec());
        let mut out = Vec::new();
        r.write(Some("Digest x=\"y\""), &mut out);
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("SUBSCRIBE /instmsg/aliases/bob HTTP/1.1\r\nHost: localhost\r\n"));
        assert!(text.contains("\r\nAuthorization: Digest x=\"y\"\r\nContent-Length: 2\r\n\r\nxy"));
        let mut p = RequestParser::default();
        let Status::Complete(m) = p.parse(&out).unwrap() else {
            panic!("complete")
        };
        assert_eq!(m.body(), b"xy");
        // An Authorization value with a line break is never written.
        let mut out = Vec::new();
        r.write(Some("a\r\nX: y"), &mut out);
        assert!(!String::from_utf8(out).unwrap().contains("X: y"));
        let mut r2 = r.clone();
        assert!(!r2.redirect("h\r\n", "/x"));
        assert!(r2.redirect("home1:8080", "/instmsg/local/localhost/instmsg/aliases/bob"));
        assert_eq!(r2.host(), "home1:8080");
        assert_eq!(r.lane(), Lane::Control);
    }
}
