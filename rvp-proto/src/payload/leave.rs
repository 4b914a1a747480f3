//! "Left the conversation" (`text/x-imleave`, PROTOCOL.md §6.2; observed from Net::RVP only).
//!
//! After leaving, the leaver's client answers further NOTIFYs of that `Session-Id` with
//! `500 Internal Server Error` (PROTOCOL.md §6.2, S§8). The body is empty and ignored.

use super::SessionId;
use super::mime::{MimeHeader, write_header};
use super::typing::write_session_and_extras;

/// The media type of leave messages.
pub const LEAVE_TYPE: &str = "text/x-imleave";

/// "The sender left the conversation" (`text/x-imleave`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Leave {
    /// The conversation (`Session-Id`); `None` only if the sender left it out.
    pub session_id: Option<SessionId>,
    /// Headers this type does not model, in order.
    pub extra_headers: Vec<MimeHeader>,
}

impl Leave {
    /// A leave message for conversation `session_id`.
    pub fn new(session_id: SessionId) -> Self {
        Leave {
            session_id: Some(session_id),
            extra_headers: Vec::new(),
        }
    }

    pub(crate) fn write_to(&self, out: &mut String) {
        write_header(out, "Content-Type", LEAVE_TYPE);
        write_session_and_extras(out, self.session_id.as_ref(), &self.extra_headers);
    }
}
