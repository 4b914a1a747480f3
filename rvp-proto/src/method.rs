//! The request methods of RVP and how every other method token is classified.
//!
//! Exchange 2000 IM speaks exactly seven methods (PROTOCOL.md §2): four from GENA/RVP
//! (`SUBSCRIBE`, `UNSUBSCRIBE`, `SUBSCRIPTIONS`, `NOTIFY`) and three from WebDAV
//! (`PROPFIND`, `PROPPATCH`, `ACL`). Method tokens are case-sensitive (HTTP), so
//! `subscribe` is *not* `SUBSCRIBE`: it is an unknown method and gets `501`.

use std::fmt;

/// One of the seven RVP methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Method {
    /// `SUBSCRIBE`: create or renew a leased subscription (PROTOCOL.md §2.1).
    Subscribe,
    /// `UNSUBSCRIBE`: cancel a subscription (§2.2).
    Unsubscribe,
    /// `SUBSCRIPTIONS`: list the live subscriptions of a node (§2.3).
    Subscriptions,
    /// `NOTIFY`: deliver a notification to a node (§2.6).
    Notify,
    /// `PROPFIND`: read properties (§2.4).
    Propfind,
    /// `PROPPATCH`: set properties, chiefly the leased `r:state` (§2.5).
    Proppatch,
    /// `ACL`: read or write a node's access control list (§2.7).
    Acl,
}

impl Method {
    /// All seven methods, in the order of PROTOCOL.md §2.
    pub const ALL: [Method; 7] = [
        Method::Subscribe,
        Method::Unsubscribe,
        Method::Subscriptions,
        Method::Propfind,
        Method::Proppatch,
        Method::Notify,
        Method::Acl,
    ];

    /// The exact wire token.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Subscribe => "SUBSCRIBE",
            Method::Unsubscribe => "UNSUBSCRIBE",
            Method::Subscriptions => "SUBSCRIPTIONS",
            Method::Notify => "NOTIFY",
            Method::Propfind => "PROPFIND",
            Method::Proppatch => "PROPPATCH",
            Method::Acl => "ACL",
        }
    }

    /// Parses an exact, case-sensitive RVP method token.
    ///
    /// Returns `None` for anything else; use [`MethodClass::classify`] to learn how a
    /// server should answer such a token.
    pub fn from_token(token: &[u8]) -> Option<Method> {
        Some(match token {
            b"SUBSCRIBE" => Method::Subscribe,
            b"UNSUBSCRIBE" => Method::Unsubscribe,
            b"SUBSCRIPTIONS" => Method::Subscriptions,
            b"NOTIFY" => Method::Notify,
            b"PROPFIND" => Method::Propfind,
            b"PROPPATCH" => Method::Proppatch,
            b"ACL" => Method::Acl,
            _ => return None,
        })
    }

    /// The method as an [`http::Method`] (RVP methods are HTTP extension methods).
    pub fn to_http(self) -> http::Method {
        // Every token above is a valid HTTP token, so this cannot fail; keep a fallback
        // that still names the method rather than panicking.
        http::Method::from_bytes(self.as_str().as_bytes()).unwrap_or(http::Method::GET)
    }

    /// The RVP method named by an [`http::Method`], if it is one.
    pub fn from_http(method: &http::Method) -> Option<Method> {
        Method::from_token(method.as_str().as_bytes())
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a server must treat a request method token (PROTOCOL.md §2, S§5.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MethodClass {
    /// One of the seven RVP methods.
    Rvp(Method),
    /// `COPY` or `MOVE`: answer `405 Method Not Allowed`.
    NotAllowed,
    /// Everything else (`GET`, `HEAD`, `POST`, `PUT`, `LOCK`, `UNLOCK`, `OPTIONS`, the
    /// pre-Exchange `MKCOL`, `RMCOL`, `DELETE`, `POLL`, lower-case spellings, unknown
    /// tokens): answer `501 Not Implemented`.
    NotImplemented,
}

impl MethodClass {
    /// Classifies a method token exactly as it appeared on the wire.
    pub fn classify(token: &[u8]) -> MethodClass {
        match Method::from_token(token) {
            Some(m) => MethodClass::Rvp(m),
            None if token == b"COPY" || token == b"MOVE" => MethodClass::NotAllowed,
            None => MethodClass::NotImplemented,
        }
    }

    /// The status code a server answers a request of this class with when it does not
    /// process it (`None` for RVP methods).
    pub fn rejection_status(self) -> Option<http::StatusCode> {
        match self {
            MethodClass::Rvp(_) => None,
            MethodClass::NotAllowed => Some(http::StatusCode::METHOD_NOT_ALLOWED),
            MethodClass::NotImplemented => Some(http::StatusCode::NOT_IMPLEMENTED),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for m in Method::ALL {
            assert_eq!(Method::from_token(m.as_str().as_bytes()), Some(m));
            assert_eq!(Method::from_http(&m.to_http()), Some(m));
        }
    }

    #[test]
    fn case_sensitive() {
        assert_eq!(Method::from_token(b"subscribe"), None);
        assert_eq!(
            MethodClass::classify(b"Notify"),
            MethodClass::NotImplemented
        );
    }

    #[test]
    fn classification_follows_reference() {
        for t in [
            "GET", "HEAD", "POST", "PUT", "LOCK", "UNLOCK", "OPTIONS", "MKCOL", "POLL", "DELETE",
            "RMCOL", "FOO",
        ] {
            assert_eq!(
                MethodClass::classify(t.as_bytes()),
                MethodClass::NotImplemented,
                "{t}"
            );
            assert_eq!(
                MethodClass::classify(t.as_bytes()).rejection_status(),
                Some(http::StatusCode::NOT_IMPLEMENTED)
            );
        }
        for t in ["COPY", "MOVE"] {
            assert_eq!(
                MethodClass::classify(t.as_bytes()).rejection_status(),
                Some(http::StatusCode::METHOD_NOT_ALLOWED)
            );
        }
        assert_eq!(MethodClass::classify(b"ACL"), MethodClass::Rvp(Method::Acl));
    }
}
