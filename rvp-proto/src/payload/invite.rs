//! Application invitations (`text/x-msmsgsinvite`, PROTOCOL.md §6.2): NetMeeting, file
//! transfer. The body is itself a header block.
//!
//! The vocabulary below is the one observed from Miranda's file transfer; other fields are
//! kept in [`Invitation::other_fields`]. The transfer itself runs over a direct TCP
//! connection between the clients, outside RVP.

use std::fmt;

use super::mime::{MimeHeader, find_raw, parse_header_block, write_header};
use super::{Guid, PayloadError, PayloadLimits, SessionId};

/// The media type of invitations.
pub const INVITE_TYPE: &str = "text/x-msmsgsinvite";

/// `Application-GUID` of MSN file transfer, `{5D3E02AB-6190-11D3-BBBB-00C04F795683}`.
pub const FILE_TRANSFER_GUID: Guid = Guid(0x5D3E02AB_6190_11D3_BBBB_00C04F795683);

/// `Invitation-Command`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvitationCommand {
    /// `INVITE`: an offer.
    Invite,
    /// `ACCEPT`: the offer is taken (from the receiver), or connection details (from the
    /// sender).
    Accept,
    /// `CANCEL`: declined or aborted; see `Cancel-Code`.
    Cancel,
    /// Any other token, as received (never one of the three above, in any case).
    Other(String),
}

impl InvitationCommand {
    /// Reads a command token (case-insensitive).
    pub fn parse(token: &str) -> InvitationCommand {
        match token.to_ascii_uppercase().as_str() {
            "INVITE" => InvitationCommand::Invite,
            "ACCEPT" => InvitationCommand::Accept,
            "CANCEL" => InvitationCommand::Cancel,
            _ => InvitationCommand::Other(token.to_owned()),
        }
    }

    /// The token as written (`INVITE`...).
    pub fn as_str(&self) -> &str {
        match self {
            InvitationCommand::Invite => "INVITE",
            InvitationCommand::Accept => "ACCEPT",
            InvitationCommand::Cancel => "CANCEL",
            InvitationCommand::Other(s) => s,
        }
    }
}

impl fmt::Display for InvitationCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An application invitation (`text/x-msmsgsinvite`).
///
/// Every field of the nested header block is optional: which ones appear depends on the
/// command (PROTOCOL.md §6.2). Text fields are kept as sent; numbers and booleans are typed
/// and an unreadable one is an [`PayloadError::InvalidHeaderValue`] naming the field.
///
/// ```
/// use rvp_proto::payload::{Invitation, InvitationCommand, Payload, SessionId};
///
/// let id: SessionId = "{79FC61B5-1234-1234-8A10-941F33CA4C90}".parse()?;
/// let mut inv = Invitation::new(id, InvitationCommand::Cancel);
/// inv.cookie = Some("7".into());
/// inv.cancel_code = Some("REJECT".into());
/// let text = Payload::Invitation(inv.clone()).write();
/// assert!(text.ends_with("\r\n\r\nInvitation-Command: CANCEL\r\nInvitation-Cookie: 7\r\n\
///                         Cancel-Code: REJECT\r\n\r\n"));
/// assert_eq!(Payload::parse(&text)?, Payload::Invitation(inv));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct Invitation {
    /// The conversation (`Session-Id`); `None` only if the sender left it out.
    pub session_id: Option<SessionId>,
    /// `Application-Name` (`File Transfer`, `NetMeeting.3.01`).
    pub application_name: Option<String>,
    /// `Application-GUID` (see [`FILE_TRANSFER_GUID`]).
    pub application_guid: Option<Guid>,
    /// `Invitation-Command`.
    pub command: Option<InvitationCommand>,
    /// `Invitation-Cookie`: pairs the answers with the offer (a number in practice, kept as
    /// text).
    pub cookie: Option<String>,
    /// `Application-File`: the offered file's name.
    pub application_file: Option<String>,
    /// `Application-FileSize`: its size in bytes.
    pub application_file_size: Option<u64>,
    /// `IP-Address`: where the sender listens.
    pub ip_address: Option<String>,
    /// `Port`: the TCP port the sender listens on.
    pub port: Option<u16>,
    /// `AuthCookie`: secret for the direct connection.
    pub auth_cookie: Option<String>,
    /// `Launch-Application` (`TRUE`/`FALSE`).
    pub launch_application: Option<bool>,
    /// `Request-Data` (`IP-Address:`).
    pub request_data: Option<String>,
    /// `Cancel-Code` (`REJECT`...).
    pub cancel_code: Option<String>,
    /// Fields of the body not listed above, in order.
    pub other_fields: Vec<MimeHeader>,
    /// Headers of the outer block this type does not model, in order.
    pub extra_headers: Vec<MimeHeader>,
}

/// The typed fields of the invitation body, in the order they are written.
const FIELDS: [&str; 12] = [
    "Application-Name",
    "Application-GUID",
    "Invitation-Command",
    "Invitation-Cookie",
    "Application-File",
    "Application-FileSize",
    "IP-Address",
    "Port",
    "AuthCookie",
    "Launch-Application",
    "Request-Data",
    "Cancel-Code",
];

impl Invitation {
    /// An invitation with only `Session-Id` and `Invitation-Command` set.
    pub fn new(session_id: SessionId, command: InvitationCommand) -> Self {
        Invitation {
            session_id: Some(session_id),
            command: Some(command),
            ..Invitation::default()
        }
    }

    /// Reads the nested header block of an invitation body into `self` (blank lines before
    /// it are skipped, text after its empty line is ignored).
    pub(crate) fn read_body(
        &mut self,
        body: &str,
        limits: &PayloadLimits,
    ) -> Result<(), PayloadError> {
        let (fields, _rest) = parse_header_block(body.trim_start(), limits).map_err(|e| {
            PayloadError::InInvitationBody {
                source: Box::new(e),
            }
        })?;
        let get = |name: &str| find_raw(&fields, name).map(str::to_owned);
        self.application_name = get("Application-Name");
        self.application_guid = get("Application-GUID")
            .map(|v| {
                v.parse()
                    .map_err(|_| invalid("Application-GUID", &v, "not a {8-4-4-4-12} GUID"))
            })
            .transpose()?;
        self.command = get("Invitation-Command").map(|v| InvitationCommand::parse(&v));
        self.cookie = get("Invitation-Cookie");
        self.application_file = get("Application-File");
        self.application_file_size = get("Application-FileSize")
            .map(|v| {
                v.parse()
                    .map_err(|_| invalid("Application-FileSize", &v, "not a byte count"))
            })
            .transpose()?;
        self.ip_address = get("IP-Address");
        self.port = get("Port")
            .map(|v| v.parse().map_err(|_| invalid("Port", &v, "not a TCP port")))
            .transpose()?;
        self.auth_cookie = get("AuthCookie");
        self.launch_application = get("Launch-Application")
            .map(|v| match v.to_ascii_uppercase().as_str() {
                "TRUE" => Ok(true),
                "FALSE" => Ok(false),
                _ => Err(invalid("Launch-Application", &v, "not TRUE or FALSE")),
            })
            .transpose()?;
        self.request_data = get("Request-Data");
        self.cancel_code = get("Cancel-Code");
        // Everything that was not consumed above: unknown names and repeated known ones.
        let mut seen = [false; FIELDS.len()];
        for h in fields {
            match FIELDS.iter().position(|f| h.is(f)) {
                Some(i) if !seen[i] => seen[i] = true,
                _ => self.other_fields.push(h.into_owned()),
            }
        }
        Ok(())
    }

    pub(crate) fn write_to(&self, out: &mut String) {
        write_header(out, "Content-Type", "text/x-msmsgsinvite; charset=UTF-8");
        if let Some(id) = &self.session_id {
            write_header(out, "Session-Id", &id.to_string());
        }
        for h in &self.extra_headers {
            write_header(out, &h.name, &h.value);
        }
        out.push_str("\r\n");
        let opt = |out: &mut String, name: &str, v: Option<String>| {
            if let Some(v) = v {
                write_header(out, name, &v);
            }
        };
        opt(out, FIELDS[0], self.application_name.clone());
        opt(out, FIELDS[1], self.application_guid.map(|g| g.to_string()));
        opt(out, FIELDS[2], self.command.as_ref().map(|c| c.to_string()));
        opt(out, FIELDS[3], self.cookie.clone());
        opt(out, FIELDS[4], self.application_file.clone());
        opt(
            out,
            FIELDS[5],
            self.application_file_size.map(|n| n.to_string()),
        );
        opt(out, FIELDS[6], self.ip_address.clone());
        opt(out, FIELDS[7], self.port.map(|n| n.to_string()));
        opt(out, FIELDS[8], self.auth_cookie.clone());
        opt(
            out,
            FIELDS[9],
            self.launch_application
                .map(|b| if b { "TRUE" } else { "FALSE" }.to_owned()),
        );
        opt(out, FIELDS[10], self.request_data.clone());
        opt(out, FIELDS[11], self.cancel_code.clone());
        for h in &self.other_fields {
            write_header(out, &h.name, &h.value);
        }
        out.push_str("\r\n");
    }
}

fn invalid(header: &str, value: &str, reason: &'static str) -> PayloadError {
    PayloadError::InvalidHeaderValue {
        header: header.to_owned(),
        value: value.chars().take(64).collect(),
        reason,
    }
}
