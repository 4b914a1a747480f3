//! NOTIFYs the server sends to the client's call-back (PROTOCOL.md §2.6, §5.5, §6):
//! [`Inbound::parse`] classifies one, [`NotifyAnswer`] is the HTTP answer to it.
//!
//! ```text
//!  NOTIFY / (bytes) ─► rvp_proto::codec::RequestParser ─► Inbound::parse
//!      r:propnotification ─► Inbound::Presence { who, state, .. }
//!      r:message ─► decode_double_utf8 ─► Payload::parse ─► Inbound::Message { from, payload }
//!      anything else in r:notification ─► Inbound::Application
//! ```

use rvp_proto::Method;
use rvp_proto::PresenceState;
use rvp_proto::codec::ParsedRequest;
use rvp_proto::payload::{Payload, PayloadError, PayloadLimits, decode_double_utf8};
use rvp_proto::url::{LogicalUrl, NodeUrl, UrlError};
use rvp_proto::xml::{
    Notification, PropName, PropValue, StateContent, XmlBody, XmlError, XmlLimits,
};

/// A NOTIFY received on the call-back, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Inbound {
    /// A property change of a watched node (`r:propnotification`).
    Presence {
        /// The node whose properties changed.
        who: LogicalUrl,
        /// The new `r:state`, if the change carries one.
        state: Option<PresenceState>,
        /// The new `d:displayname`, if the change carries one.
        display_name: Option<String>,
    },
    /// An instant or control message (`r:message`).
    Message {
        /// The sender (`r:notification-from`).
        from: LogicalUrl,
        /// The sender's display name, if given.
        from_name: Option<String>,
        /// The payload, double UTF-8 repaired.
        payload: Box<Payload>,
    },
    /// Any other notification: the content of `r:notification`, verbatim.
    Application(String),
}

/// Why a NOTIFY could not be read. Each is answered `400` (or `405` for another method).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InboundError {
    /// Not a NOTIFY.
    #[error("method {0:?} on the call-back (only NOTIFY is served)")]
    Method(String),
    /// The bytes are not one complete HTTP request.
    #[error("not a complete HTTP request: {0}")]
    Framing(String),
    /// The body is not an `r:notification`.
    #[error("unreadable notification body: {0}")]
    Xml(#[from] XmlError),
    /// The sender or node URL is not a principal's URL.
    #[error("not a principal's URL: {0}")]
    Url(#[from] UrlError),
    /// The MIME payload of a message cannot be read.
    #[error("unreadable message payload: {0}")]
    Payload(#[from] PayloadError),
}

impl InboundError {
    /// The status the NOTIFY is answered with.
    pub fn status(&self) -> u16 {
        match self {
            InboundError::Method(_) => 405,
            _ => 400,
        }
    }
}

fn principal(href: &str) -> Result<LogicalUrl, UrlError> {
    match NodeUrl::parse(href.trim())? {
        NodeUrl::Logical(l) => Ok(l),
        NodeUrl::Physical(p) => Ok(p.into_logical()),
        _ => Err(UrlError::NotLogical(href.to_owned())),
    }
}

impl Inbound {
    /// Classifies a framed request received on the call-back.
    pub fn parse(
        req: &ParsedRequest<'_, '_>,
        xml: &XmlLimits,
        payload: &PayloadLimits,
    ) -> Result<Inbound, InboundError> {
        if req.head().method() != Some(Method::Notify) {
            return Err(InboundError::Method(req.head().method_token().to_owned()));
        }
        Inbound::parse_body(req.body(), xml, payload)
    }

    /// Classifies an `r:notification` body.
    pub fn parse_body(
        body: &[u8],
        xml: &XmlLimits,
        limits: &PayloadLimits,
    ) -> Result<Inbound, InboundError> {
        Ok(match Notification::parse_with(body, xml)? {
            Notification::PropNotification(p) => {
                let mut state = None;
                let mut display_name = None;
                for prop in &p.update.set {
                    match (&prop.name, &prop.value) {
                        (PropName::State, PropValue::State(s)) => match &s.content {
                            StateContent::Bare(v) => state = Some(v.clone()),
                            StateContent::Leased(l) => state = Some(l.value.clone()),
                            _ => {}
                        },
                        (PropName::DisplayName, PropValue::Text(t)) => {
                            display_name = Some(t.clone());
                        }
                        _ => {}
                    }
                }
                Inbound::Presence {
                    who: principal(&p.from.href)?,
                    state,
                    display_name,
                }
            }
            Notification::Message(m) => {
                let text = decode_double_utf8(&m.mime_data.text);
                Inbound::Message {
                    from: principal(&m.from.href)?,
                    from_name: m.from.description.filter(|d| !d.is_empty()),
                    payload: Box::new(Payload::parse_with(&text, limits)?),
                }
            }
            Notification::Application(xml) => Inbound::Application(xml),
            // A future kind of notification: keep nothing, answer 200.
            _ => Inbound::Application(String::new()),
        })
    }
}

/// The HTTP answer to a NOTIFY on the call-back: a status, `RVP-Notifications-Version`
/// and an empty body with `Content-Length: 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NotifyAnswer {
    status: u16,
}

impl NotifyAnswer {
    /// `200 Successful`.
    pub const OK: NotifyAnswer = NotifyAnswer { status: 200 };

    /// An answer with this status (clamped to `100..=599`; anything else is `500`).
    pub fn new(status: u16) -> NotifyAnswer {
        NotifyAnswer {
            status: if (100..=599).contains(&status) {
                status
            } else {
                500
            },
        }
    }

    /// The status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Appends the answer's bytes.
    pub fn write(&self, out: &mut Vec<u8>) {
        let reason =
            http::StatusCode::from_u16(self.status).map_or("Unknown", rvp_proto::reason_phrase);
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(self.status.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(reason.as_bytes());
        out.extend_from_slice(b"\r\nRVP-Notifications-Version: 0.2\r\nContent-Length: 0\r\n\r\n");
    }

    /// The answer's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(80);
        self.write(&mut out);
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        assert_eq!(
            NotifyAnswer::OK.to_bytes(),
            b"HTTP/1.1 200 Successful\r\nRVP-Notifications-Version: 0.2\r\nContent-Length: 0\r\n\r\n"
        );
        assert_eq!(NotifyAnswer::new(42).status(), 500);
        assert!(
            String::from_utf8(NotifyAnswer::new(500).to_bytes())
                .unwrap()
                .starts_with("HTTP/1.1 500 ")
        );
    }

    #[test]
    fn a_state_change() {
        let body = "<?xml version=\"1.0\"?><r:notification xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/'>\
            <r:propnotification><r:notification-from><r:contact><d:href>http://localhost/instmsg/aliases/bob</d:href></r:contact></r:notification-from>\
            <r:notification-to><r:contact><d:href>http://localhost/instmsg/aliases/alice</d:href></r:contact></r:notification-to>\
            <d:propertyupdate><d:set><d:prop><r:state><r:away/></r:state></d:prop></d:set></d:propertyupdate></r:propnotification></r:notification>";
        let got = Inbound::parse_body(
            body.as_bytes(),
            &XmlLimits::default(),
            &PayloadLimits::default(),
        )
        .unwrap();
        let Inbound::Presence { who, state, .. } = got else {
            panic!("presence")
        };
        assert_eq!(who.alias(), "bob");
        assert_eq!(state, Some(PresenceState::Away));
        assert!(
            Inbound::parse_body(b"<x/>", &XmlLimits::default(), &PayloadLimits::default()).is_err()
        );
    }
}
