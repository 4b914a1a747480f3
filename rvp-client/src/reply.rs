//! Answers from the server: [`Reply`] (the owned part of a response the session needs) and
//! [`interpret`], which reads it for the [`RequestKind`] it answers.
//!
//! ```text
//!  response bytes ─► rvp_proto::codec::ResponseParser ─► Reply::from_parsed ─► Reply
//!                                         (status, Subscription-Id, Subscription-Lifetime,
//!                                          Location, WWW-Authenticate, body)
//!  Reply + RequestKind ─► interpret ─► Interpreted (Subscribed, StateSet, Properties, Acl, ...)
//! ```

use rvp_proto::codec::{ParsedResponse, ResponseParser, Status};
use rvp_proto::header::SubscriptionId;
use rvp_proto::xml::{
    MultiStatus, PropName, PropValue, RvpAcl, StateContent, Subscription, Subscriptions, XmlBody,
    XmlError, XmlLimits,
};
use rvp_proto::{PresenceState, RvpHeaders};

use crate::request::RequestKind;

/// Most `WWW-Authenticate` values kept from one answer.
pub const MAX_CHALLENGES: usize = 8;

/// The parts of a server's answer the session and a driver use. Build it with
/// [`Reply::from_parsed`] or [`Reply::parse`], or by hand ([`Reply::new`]) in tests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Reply {
    /// The three-digit status code.
    pub status: u16,
    /// `Subscription-Id`.
    pub subscription_id: Option<SubscriptionId>,
    /// `Subscription-Lifetime`, seconds.
    pub subscription_lifetime: Option<u32>,
    /// `Location` (on a `302`), trimmed.
    pub location: Option<String>,
    /// Every `WWW-Authenticate` value, in order (at most [`MAX_CHALLENGES`]).
    pub challenges: Vec<String>,
    /// The server will close the connection (`Connection: close`, HTTP/1.0 without
    /// keep-alive, or a body delimited by the close).
    pub closes: bool,
    /// The body.
    pub body: Vec<u8>,
}

/// A reply that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// The bytes are not one complete HTTP response.
    #[error("not a complete HTTP response: {0}")]
    Framing(String),
    /// A `2xx` answer that lacks what it must carry (a subscription without
    /// `Subscription-Id`, a `207` without the property asked for...).
    #[error("the answer lacks {0}")]
    Missing(&'static str),
    /// The body is not the XML expected.
    #[error("unreadable XML body: {0}")]
    Xml(#[from] XmlError),
}

impl Reply {
    /// A reply with this status and nothing else.
    pub fn new(status: u16) -> Reply {
        Reply {
            status,
            ..Reply::default()
        }
    }

    /// Takes what is needed from a framed response. RVP headers that are malformed are
    /// left out (the session then reports what is missing) rather than refused.
    pub fn from_parsed(msg: &ParsedResponse<'_, '_>) -> Reply {
        let head = msg.head();
        let headers = head.headers();
        let mut rvp = RvpHeaders::default();
        let mut location = None;
        let mut challenges = Vec::new();
        let mut closes = msg.is_close_delimited() || head.minor_version() == 0;
        for (name, value) in headers.iter() {
            if name.eq_ignore_ascii_case("subscription-id")
                || name.eq_ignore_ascii_case("subscription-lifetime")
            {
                let _ = rvp.add(name, value);
            } else if name.eq_ignore_ascii_case("location") {
                location = std::str::from_utf8(value).ok().map(|v| v.trim().to_owned());
            } else if name.eq_ignore_ascii_case("www-authenticate") {
                if challenges.len() < MAX_CHALLENGES
                    && let Ok(v) = std::str::from_utf8(value)
                {
                    challenges.push(v.trim().to_owned());
                }
            } else if name.eq_ignore_ascii_case("connection") {
                let v = String::from_utf8_lossy(value).to_ascii_lowercase();
                if v.split(',').any(|t| t.trim() == "close") {
                    closes = true;
                } else if v.split(',').any(|t| t.trim() == "keep-alive") {
                    closes = msg.is_close_delimited();
                }
            }
        }
        Reply {
            status: head.code(),
            subscription_id: rvp.subscription_id,
            subscription_lifetime: rvp.subscription_lifetime.map(|l| l.seconds()),
            location,
            challenges,
            closes,
            body: msg.body().to_vec(),
        }
    }

    /// Parses one complete response (a body without `Content-Length` runs to the end of
    /// `bytes`).
    pub fn parse(bytes: &[u8]) -> Result<Reply, ReplyError> {
        let mut parser = ResponseParser::default();
        match parser.parse(bytes, true) {
            Ok(Status::Complete(m)) => Ok(Reply::from_parsed(&m)),
            Ok(Status::Partial) => Err(ReplyError::Framing("incomplete".into())),
            Err(e) => Err(ReplyError::Framing(e.to_string())),
        }
    }

    /// Whether the status is `2xx`.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Properties of a principal read from a `d:multistatus` (only those under a `200`
/// propstat).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Properties {
    /// The `d:href` of the response.
    pub href: Option<String>,
    /// `r:state`: the state element, or the value of a lease.
    pub state: Option<PresenceState>,
    /// `d:displayname`.
    pub display_name: Option<String>,
    /// `r:email`.
    pub email: Option<String>,
    /// The lease granted (`d:timeout` of a lease), seconds.
    pub lease: Option<u32>,
    /// `r:view-id`.
    pub view_id: Option<String>,
}

impl Properties {
    /// Reads the first response of a `d:multistatus`.
    pub fn from_multistatus(ms: &MultiStatus) -> Properties {
        let mut p = Properties::default();
        let Some(r) = ms.responses.first() else {
            return p;
        };
        p.href = Some(r.href.clone());
        for ps in r.propstats.iter().filter(|ps| ps.status.code.is_success()) {
            for prop in &ps.props {
                match (&prop.name, &prop.value) {
                    (PropName::State, PropValue::State(s)) => {
                        match &s.content {
                            StateContent::Bare(st) => p.state = Some(st.clone()),
                            StateContent::Leased(l) => {
                                p.state = Some(l.value.clone());
                                p.lease = l.timeout;
                            }
                            _ => {}
                        }
                        if s.view_id.is_some() {
                            p.view_id.clone_from(&s.view_id);
                        }
                    }
                    (PropName::DisplayName, PropValue::Text(t)) => {
                        p.display_name = Some(t.clone());
                    }
                    (PropName::Email, PropValue::Text(t)) => p.email = Some(t.clone()),
                    _ => {}
                }
            }
        }
        p
    }
}

/// A [`Reply`] read for the request it answers (by [`RequestKind`]): what the server
/// granted, returned or refused. (The server side of the same exchange is
/// `rvp_presence::Outcome`.)
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Interpreted {
    /// A subscription was created or renewed: its id and granted lifetime (seconds;
    /// `None` when the server did not say, i.e. the lifetime asked for).
    Subscribed {
        /// `Subscription-Id`.
        id: SubscriptionId,
        /// `Subscription-Lifetime`.
        lifetime: Option<u32>,
        /// The watched node's properties (the `207` of a new watch; `None` for a bodiless
        /// `200`).
        properties: Option<Properties>,
    },
    /// A PROPPATCH or PROPFIND answered with properties.
    Properties(Properties),
    /// The subscriptions listed.
    Subscriptions(Vec<Subscription>),
    /// The ACL read or written.
    Acl(RvpAcl),
    /// A `2xx` to an ACL request whose body is not a valid `a:rvpacl` (for instance ACEs
    /// without `a:credentials`, which `rvp-proto` refuses, PROTOCOL.md §2.7): the request
    /// succeeded, the ACL cannot be shown.
    AclUnreadable(XmlError),
    /// A success without anything to read (UNSUBSCRIBE, NOTIFY).
    Done,
    /// Not a `2xx`: the status.
    Refused(u16),
}

/// Reads `reply` as the answer to a request of `kind` (PROTOCOL.md §2). A `2xx` that does
/// not carry what it must is an error; any other status is [`Interpreted::Refused`].
pub fn interpret(
    kind: &RequestKind,
    reply: &Reply,
    limits: &XmlLimits,
) -> Result<Interpreted, ReplyError> {
    if !reply.is_success() {
        return Ok(Interpreted::Refused(reply.status));
    }
    let multistatus = |body: &[u8]| -> Result<Properties, ReplyError> {
        Ok(Properties::from_multistatus(&MultiStatus::parse_with(
            body, limits,
        )?))
    };
    Ok(match kind {
        RequestKind::Login
        | RequestKind::RenewLogin
        | RequestKind::Watch { .. }
        | RequestKind::RenewWatch { .. } => {
            let id = reply
                .subscription_id
                .clone()
                .ok_or(ReplyError::Missing("Subscription-Id"))?;
            let properties = if reply.body.iter().all(u8::is_ascii_whitespace) {
                None
            } else if matches!(
                kind,
                RequestKind::Watch { .. } | RequestKind::RenewWatch { .. }
            ) {
                Some(multistatus(&reply.body)?)
            } else {
                None
            };
            Interpreted::Subscribed {
                id,
                lifetime: reply.subscription_lifetime,
                properties,
            }
        }
        RequestKind::SetState { .. } => {
            let p = multistatus(&reply.body)?;
            if p.state.is_none() {
                return Err(ReplyError::Missing("r:state under a 200 propstat"));
            }
            Interpreted::Properties(p)
        }
        RequestKind::Properties { .. } => Interpreted::Properties(multistatus(&reply.body)?),
        RequestKind::Watchers => Interpreted::Subscriptions(
            Subscriptions::parse_with(&reply.body, limits)?.subscriptions,
        ),
        RequestKind::ReadAcl | RequestKind::WriteAcl { .. } => {
            match RvpAcl::parse_with(&reply.body, limits) {
                Ok(acl) => Interpreted::Acl(acl),
                Err(e) => Interpreted::AclUnreadable(e),
            }
        }
        RequestKind::Logout | RequestKind::Unwatch { .. } | RequestKind::Message { .. } => {
            Interpreted::Done
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_headers_and_closing() {
        let r = Reply::parse(
            b"HTTP/1.1 200 Successful\r\nSubscription-Id: 1001\r\nSubscription-Lifetime: 14000\r\n\
              WWW-Authenticate: NTLM\r\nwww-authenticate: Digest realm=\"r\", nonce=\"n\"\r\n\
              Connection: close\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.subscription_id.unwrap().as_str(), "1001");
        assert_eq!(r.subscription_lifetime, Some(14000));
        assert_eq!(r.challenges.len(), 2);
        assert!(r.closes);
        // librvp-style close-delimited answer.
        let r = Reply::parse(b"HTTP/1.1 200 Successful\r\nRVP-Notifications-Version: 0.2\r\n\r\n")
            .unwrap();
        assert!(r.closes && r.body.is_empty());
        // Malformed RVP headers are left out, not fatal.
        let r = Reply::parse(
            b"HTTP/1.1 200 OK\r\nSubscription-Lifetime: soon\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.subscription_lifetime, None);
        assert!(Reply::parse(b"HTTP/1.1 200").is_err());
    }

    #[test]
    fn subscribe_without_id_is_an_error() {
        let r = Reply::new(200);
        assert_eq!(
            interpret(&RequestKind::Login, &r, &XmlLimits::default()),
            Err(ReplyError::Missing("Subscription-Id"))
        );
        assert_eq!(
            interpret(&RequestKind::Login, &Reply::new(412), &XmlLimits::default()),
            Ok(Interpreted::Refused(412))
        );
    }
}
