//! Control messages (`text/x-msmsgscontrol`): typing notifications and "joined the
//! conversation" (PROTOCOL.md §6.2).
//!
//! A control payload with a `TypingUser` header is a [`Typing`] notification (Windows
//! Messenger sends one every 4 s while the user types, Miranda every 5 s); one without is a
//! [`Join`] (Net::RVP opens a conversation with it). The body is empty and ignored (Net::RVP
//! sends a lone CRLF), and so are parameters of the media type (librvp sends
//! `text/x-msmsgscontrol; charset=UTF-8`); we write the bare type and an empty body.
//!
//! The spec misspells the media type `text/x-msmsscontrol` (S§10.2, PROTOCOL.md §9.2 item
//! 11). We **accept** that spelling when reading, since it can mean nothing else and a
//! client copying the spec would otherwise be unreadable, and we always **write** the real
//! token [`CONTROL_TYPE`].

use super::SessionId;
use super::mime::{MimeHeader, write_header};

/// The media type of control messages.
pub const CONTROL_TYPE: &str = "text/x-msmsgscontrol";

/// The spec's misspelling of [`CONTROL_TYPE`], accepted on input only.
pub const CONTROL_TYPE_SPEC_TYPO: &str = "text/x-msmsscontrol";

/// "`user` is typing" (`text/x-msmsgscontrol` with `TypingUser`).
///
/// ```
/// use rvp_proto::payload::{Payload, Typing};
///
/// let p = Payload::parse(
///     "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgscontrol\r\n\
///      TypingUser: bruceb@example.com\r\n\
///      Session-Id: {79FC61B5-1234-1234-8A10-941F33CA4C90}\r\n\r\n",
/// )?;
/// let Payload::Typing(t) = p else { panic!("not typing") };
/// assert_eq!(t.user, "bruceb@example.com");
/// # Ok::<(), rvp_proto::payload::PayloadError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Typing {
    /// The conversation (`Session-Id`); `None` only if the sender left it out.
    pub session_id: Option<SessionId>,
    /// The typist's address (`TypingUser`), e.g. `bruceb@example.com`, as sent.
    pub user: String,
    /// Headers this type does not model, in order.
    pub extra_headers: Vec<MimeHeader>,
}

impl Typing {
    /// A typing notification for `user` in conversation `session_id`.
    pub fn new(session_id: SessionId, user: impl Into<String>) -> Self {
        Typing {
            session_id: Some(session_id),
            user: user.into(),
            extra_headers: Vec::new(),
        }
    }

    pub(crate) fn write_to(&self, out: &mut String) {
        write_header(out, "Content-Type", CONTROL_TYPE);
        write_header(out, "TypingUser", &self.user);
        write_session_and_extras(out, self.session_id.as_ref(), &self.extra_headers);
    }
}

/// "The sender joined the conversation" (`text/x-msmsgscontrol` without `TypingUser`;
/// observed from Net::RVP only).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Join {
    /// The conversation (`Session-Id`); `None` only if the sender left it out.
    pub session_id: Option<SessionId>,
    /// Headers this type does not model, in order.
    pub extra_headers: Vec<MimeHeader>,
}

impl Join {
    /// A join message for conversation `session_id`.
    pub fn new(session_id: SessionId) -> Self {
        Join {
            session_id: Some(session_id),
            extra_headers: Vec::new(),
        }
    }

    pub(crate) fn write_to(&self, out: &mut String) {
        write_header(out, "Content-Type", CONTROL_TYPE);
        write_session_and_extras(out, self.session_id.as_ref(), &self.extra_headers);
    }
}

/// Writes `Session-Id` (if any), the extra headers, and the empty line of an empty body.
pub(crate) fn write_session_and_extras(
    out: &mut String,
    session_id: Option<&SessionId>,
    extra: &[MimeHeader],
) {
    if let Some(id) = session_id {
        write_header(out, "Session-Id", &id.to_string());
    }
    for h in extra {
        write_header(out, &h.name, &h.value);
    }
    out.push_str("\r\n");
}
