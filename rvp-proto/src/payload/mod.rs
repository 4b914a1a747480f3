//! The MIME payloads carried in `r:mime-data` (PROTOCOL.md §6).
//!
//! An instant message, a typing notification, a join or leave, or an application
//! invitation travels as a small MIME document inside the `r:mime-data` element of a
//! NOTIFY. The XML layer hands over its text (CDATA sections concatenated, entities
//! decoded); this module turns it into a typed [`Payload`] and back.
//!
//! ```text
//!  r:mime-data text ──► [decode_double_utf8] ──► Payload::parse ──► Payload
//!   (from xml/)          (librvp, Miranda:        (MimePart:          Message / Typing /
//!                         optional repair)         headers + body)    Join / Leave /
//!                                                                     Invitation / Unknown
//!  Payload ──► Payload::write ──► [encode_double_utf8] ──► xml::write_cdata ──► r:mime-data
//! ```
//!
//! A **server** does not need any of this: it forwards the raw `r:mime-data` bytes
//! untouched (PROTOCOL.md §6.1, interop README point 8), because clients disagree on the
//! character encoding and a re-serialised body breaks one of them. Clients and tools use
//! this module to read and write payloads.
//!
//! ```
//! use rvp_proto::payload::{Payload, decode_double_utf8};
//!
//! // What librvp sends for "Grüße", after XML decoding.
//! let wire = "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\
//!             X-MMS-IM-Format: FN=MS%%20Shell%%20Dlg; EF=; CO=0; CS=0; PF=0\r\n\
//!             Session-Id: {D9727BE8-8678-0990-2CE7-BEC55B1ACC0C}\r\n\r\n\
//!             Gr\u{c3}\u{bc}\u{c3}\u{9f}e";
//! let Payload::Message(m) = Payload::parse(&decode_double_utf8(wire))? else {
//!     panic!("not a message")
//! };
//! assert_eq!(m.text, "Grüße");
//! assert_eq!(m.format.map(|f| f.font_name).as_deref(), Some("MS Shell Dlg"));
//! # Ok::<(), rvp_proto::payload::PayloadError>(())
//! ```
//!
//! Writing always uses CRLF line ends and puts `MIME-Version: 1.0` first; reading accepts
//! CRLF or bare LF, header names in any case and order, and folded lines (see [`mime`]).

use std::borrow::Cow;

pub mod double_utf8;
pub mod invite;
pub mod leave;
pub mod message;
pub mod mime;
pub mod session_id;
pub mod typing;

pub use double_utf8::{decode_double_utf8, encode_double_utf8, is_double_utf8};
pub use invite::{FILE_TRANSFER_GUID, INVITE_TYPE, Invitation, InvitationCommand};
pub use leave::{LEAVE_TYPE, Leave};
pub use message::{DEFAULT_CHARSET, Effects, ImFormat, TextMessage};
pub use mime::{MimeHeader, MimePart};
pub use session_id::{Guid, InvalidGuid, SessionId};
pub use typing::{CONTROL_TYPE, CONTROL_TYPE_SPEC_TYPO, Join, Typing};

use mime::{ContentType, RawHeader, write_header};

/// Size limits applied while parsing a payload.
///
/// Every limit is checked before the data it bounds is kept, and exceeding one is a
/// [`PayloadError`] naming the limit. The same limits apply to the nested header block of an
/// invitation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct PayloadLimits {
    /// Most headers in one header block. Default 32 (real payloads have 3 to 5).
    pub max_headers: usize,
    /// Longest header line in bytes, without its line end, and longest unfolded header.
    /// Default 2048.
    pub max_line_len: usize,
    /// Largest body in bytes. Default 131 072 (128 KiB; Windows Messenger caps a message
    /// at a few hundred characters).
    pub max_body_len: usize,
    /// Largest header block in bytes, line ends and the closing empty line included.
    /// Default 16 384. (It also bounds runs of empty continuation lines, which add nothing
    /// to a header and so escape `max_line_len`.)
    pub max_header_block_len: usize,
}

impl Default for PayloadLimits {
    fn default() -> Self {
        PayloadLimits {
            max_headers: 32,
            max_line_len: 2048,
            max_body_len: 128 * 1024,
            max_header_block_len: 16 * 1024,
        }
    }
}

/// Why a payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// More headers than [`PayloadLimits::max_headers`].
    #[error("more than {limit} headers in the header block")]
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// A header line (or an unfolded header) longer than [`PayloadLimits::max_line_len`].
    #[error("header line {line} is longer than {limit} bytes")]
    LineTooLong {
        /// 1-based line number in the header block.
        line: usize,
        /// The limit.
        limit: usize,
    },
    /// A header block larger than [`PayloadLimits::max_header_block_len`].
    #[error("header block is larger than {limit} bytes")]
    HeaderBlockTooLarge {
        /// The limit.
        limit: usize,
    },
    /// A body larger than [`PayloadLimits::max_body_len`].
    #[error("body of {len} bytes is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// The body's length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A header line that is not `Name: value` (no colon, an invalid name, or a bare CR).
    #[error("header line {line} is not `Name: value`: {content:?}")]
    MalformedHeaderLine {
        /// 1-based line number in the header block.
        line: usize,
        /// The start of the line.
        content: String,
    },
    /// A line starting with white space before any header.
    #[error("header line {line} continues a header, but no header precedes it")]
    ContinuationWithoutHeader {
        /// 1-based line number in the header block.
        line: usize,
    },
    /// A required header is absent.
    #[error("the `{header}` header is missing")]
    MissingHeader {
        /// The header's name.
        header: &'static str,
    },
    /// A header whose value cannot be read as its type.
    #[error("invalid `{header}` value {value:?}: {reason}")]
    InvalidHeaderValue {
        /// The header's name.
        header: String,
        /// The start of the value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A field of `X-MMS-IM-Format` that cannot be read.
    #[error("invalid `{field}` field in X-MMS-IM-Format: {value:?}")]
    InvalidImFormat {
        /// The field's key (`EF`, `CO`...).
        field: String,
        /// The start of the value.
        value: String,
    },
    /// An error in the nested header block of an invitation body (line numbers count from
    /// the start of the body).
    #[error("in the invitation body: {source}")]
    InInvitationBody {
        /// The error in the body.
        source: Box<PayloadError>,
    },
    /// Payload bytes that are not valid in the charset they declare.
    #[error("payload bytes are not valid {charset} at byte {offset}")]
    InvalidText {
        /// The declared charset.
        charset: String,
        /// Offset of the first bad byte.
        offset: usize,
    },
    /// Payload bytes in a charset this crate does not decode (UTF-8, ISO-8859-1, US-ASCII
    /// and windows-1252 are decoded).
    #[error("cannot decode payload bytes in charset {charset:?}")]
    UnsupportedCharset {
        /// The declared charset.
        charset: String,
    },
}

/// A parsed `r:mime-data` payload.
///
/// `Payload::parse(&p.write()) == Ok(p)` holds for every payload built from valid parts
/// (the property tests check it):
/// - header values without CR, LF or surrounding white space, header names that are
///   tokens; extra headers named differently from the ones the kind models;
/// - a message `charset` that is a token (no `;`, quote or space); [`ImFormat::other`]
///   keys other than the five known ones, values without `;`;
/// - an [`Payload::Unknown`] whose `Content-Type` is not one of the known kinds.
///
/// Whatever [`Payload::parse`] returns also satisfies these conditions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Payload {
    /// An instant message (`text/plain`).
    Message(TextMessage),
    /// A typing notification (`text/x-msmsgscontrol` with `TypingUser`).
    Typing(Typing),
    /// "Joined the conversation" (`text/x-msmsgscontrol` without `TypingUser`).
    Join(Join),
    /// "Left the conversation" (`text/x-imleave`).
    Leave(Leave),
    /// An application invitation (`text/x-msmsgsinvite`).
    Invitation(Invitation),
    /// Any other `Content-Type`: the header block (without `MIME-Version`) and body as
    /// received.
    Unknown {
        /// The headers in order, `MIME-Version` left out.
        headers: Vec<MimeHeader>,
        /// The body, unchanged.
        body: String,
    },
}

impl Payload {
    /// Parses payload text with the default [`PayloadLimits`].
    ///
    /// The text is taken as is: apply [`decode_double_utf8`] first (or use
    /// [`Payload::parse_repairing_double_utf8`]) for text from librvp or Miranda.
    pub fn parse(text: &str) -> Result<Payload, PayloadError> {
        Payload::parse_with(text, &PayloadLimits::default())
    }

    /// Parses payload text with explicit limits.
    ///
    /// `Content-Type` is required ([`PayloadError::MissingHeader`]); `MIME-Version` is not
    /// checked. `Session-Id` is optional and must be a GUID when present. Its media type
    /// selects the variant; an unknown type gives [`Payload::Unknown`].
    pub fn parse_with(text: &str, limits: &PayloadLimits) -> Result<Payload, PayloadError> {
        // White space before the header block (an XML writer's indentation outside the
        // CDATA section) is skipped.
        let (headers, body) = mime::parse_header_block(text.trim_start(), limits)?;
        if body.len() > limits.max_body_len {
            return Err(PayloadError::BodyTooLarge {
                len: body.len(),
                limit: limits.max_body_len,
            });
        }
        let ct = mime::find_raw(&headers, "Content-Type")
            .map(ContentType::parse)
            .ok_or(PayloadError::MissingHeader {
                header: "Content-Type",
            })?;
        let payload = if ct.is("text/plain") {
            let charset = ct.param("charset").map(str::to_owned);
            let ([format, session], mut extra) =
                split_known(headers, ["X-MMS-IM-Format", "Session-Id"]);
            // A formatting header we cannot read must not cost the message: keep it
            // verbatim among the extra headers.
            let format = format.and_then(|f| match ImFormat::parse(&f) {
                Ok(parsed) => Some(parsed),
                Err(_) => {
                    extra.insert(0, MimeHeader::new("X-MMS-IM-Format", f));
                    None
                }
            });
            Payload::Message(TextMessage {
                session_id: parse_session_id(session.as_deref())?,
                charset,
                format,
                text: body.to_owned(),
                extra_headers: extra,
            })
        } else if ct.is(CONTROL_TYPE) || ct.is(CONTROL_TYPE_SPEC_TYPO) {
            let ([user, session], extra) = split_known(headers, ["TypingUser", "Session-Id"]);
            let session_id = parse_session_id(session.as_deref())?;
            match user {
                Some(user) => Payload::Typing(Typing {
                    session_id,
                    user: user.into_owned(),
                    extra_headers: extra,
                }),
                None => Payload::Join(Join {
                    session_id,
                    extra_headers: extra,
                }),
            }
        } else if ct.is(LEAVE_TYPE) {
            let ([session], extra) = split_known(headers, ["Session-Id"]);
            Payload::Leave(Leave {
                session_id: parse_session_id(session.as_deref())?,
                extra_headers: extra,
            })
        } else if ct.is(INVITE_TYPE) {
            let ([session], extra) = split_known(headers, ["Session-Id"]);
            let mut inv = Invitation {
                session_id: parse_session_id(session.as_deref())?,
                extra_headers: extra,
                ..Invitation::default()
            };
            inv.read_body(body, limits)?;
            Payload::Invitation(inv)
        } else {
            let mut headers = headers;
            if let Some(i) = headers.iter().position(|h| h.is("MIME-Version")) {
                headers.remove(i);
            }
            Payload::Unknown {
                headers: headers.into_iter().map(RawHeader::into_owned).collect(),
                body: body.to_owned(),
            }
        };
        Ok(payload)
    }

    /// Applies [`decode_double_utf8`] to `text`, then parses it. The `bool` tells whether
    /// the text was double UTF-8 (and has been repaired).
    pub fn parse_repairing_double_utf8(text: &str) -> Result<(Payload, bool), PayloadError> {
        let decoded = decode_double_utf8(text);
        let repaired = matches!(decoded, Cow::Owned(_));
        Ok((Payload::parse(&decoded)?, repaired))
    }

    /// Parses payload bytes (the MIME document itself, not XML) with the default limits.
    ///
    /// The bytes are decoded in the charset named by `Content-Type` (`UTF-8`, `ISO-8859-1`,
    /// `US-ASCII`, `windows-1252`); without a `charset` parameter, ISO-8859-1 is assumed
    /// (PROTOCOL.md §6.2).
    pub fn parse_bytes(bytes: &[u8]) -> Result<Payload, PayloadError> {
        Payload::parse_bytes_with(bytes, &PayloadLimits::default())
    }

    /// [`Payload::parse_bytes`] with explicit limits.
    pub fn parse_bytes_with(bytes: &[u8], limits: &PayloadLimits) -> Result<Payload, PayloadError> {
        let text = decode_bytes(bytes, limits)?;
        Payload::parse_with(&text, limits)
    }

    /// Writes the payload: `MIME-Version: 1.0` first, CRLF line ends.
    ///
    /// Header values are written trimmed, with any CR or LF inside replaced by a space, so
    /// no value can add a header or end the header block early.
    pub fn write(&self) -> String {
        let mut out = String::with_capacity(192);
        write_header(&mut out, "MIME-Version", "1.0");
        match self {
            Payload::Message(m) => m.write_to(&mut out),
            Payload::Typing(t) => t.write_to(&mut out),
            Payload::Join(j) => j.write_to(&mut out),
            Payload::Leave(l) => l.write_to(&mut out),
            Payload::Invitation(i) => i.write_to(&mut out),
            Payload::Unknown { headers, body } => {
                for h in headers {
                    write_header(&mut out, &h.name, &h.value);
                }
                out.push_str("\r\n");
                out.push_str(body);
            }
        }
        out
    }

    /// The conversation this payload belongs to, if it names one.
    pub fn session_id(&self) -> Option<SessionId> {
        match self {
            Payload::Message(m) => m.session_id,
            Payload::Typing(t) => t.session_id,
            Payload::Join(j) => j.session_id,
            Payload::Leave(l) => l.session_id,
            Payload::Invitation(i) => i.session_id,
            Payload::Unknown { headers, .. } => {
                mime::find_header(headers, "Session-Id").and_then(|v| v.parse().ok())
            }
        }
    }
}

macro_rules! payload_from {
    ($($variant:ident($ty:ty)),* $(,)?) => {$(
        impl From<$ty> for Payload {
            fn from(value: $ty) -> Payload {
                Payload::$variant(value)
            }
        }
    )*};
}

payload_from!(
    Message(TextMessage),
    Typing(Typing),
    Join(Join),
    Leave(Leave),
    Invitation(Invitation),
);

/// Takes the first occurrence of each of `known` out of `headers`; returns their values and
/// the remaining headers (minus the first `MIME-Version` and `Content-Type`), in order.
fn split_known<'t, const N: usize>(
    headers: Vec<RawHeader<'t>>,
    known: [&str; N],
) -> ([Option<Cow<'t, str>>; N], Vec<MimeHeader>) {
    let mut values: [Option<Cow<'t, str>>; N] = std::array::from_fn(|_| None);
    let mut seen_version = false;
    let mut seen_type = false;
    let mut extra = Vec::new();
    for h in headers {
        if !seen_version && h.is("MIME-Version") {
            seen_version = true;
        } else if !seen_type && h.is("Content-Type") {
            seen_type = true;
        } else if let Some(i) = known
            .iter()
            .position(|k| h.is(k))
            .filter(|&i| values[i].is_none())
        {
            values[i] = Some(h.value);
        } else {
            extra.push(h.into_owned());
        }
    }
    (values, extra)
}

fn parse_session_id(value: Option<&str>) -> Result<Option<SessionId>, PayloadError> {
    value
        .map(|v| {
            v.parse().map_err(|_| PayloadError::InvalidHeaderValue {
                header: "Session-Id".to_owned(),
                value: v.chars().take(64).collect(),
                reason: "not a {8-4-4-4-12} GUID",
            })
        })
        .transpose()
}

/// Decodes payload bytes in their declared charset (see [`Payload::parse_bytes`]).
fn decode_bytes<'b>(bytes: &'b [u8], limits: &PayloadLimits) -> Result<Cow<'b, str>, PayloadError> {
    // White space before the header block is skipped, as by `parse_with`.
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let bytes = &bytes[start..];
    // The header block is ASCII; reading it as Latin-1 cannot fail. Only as much as the
    // limit allows is read here; the body is checked against its limit before decoding.
    let prefix_len = bytes
        .len()
        .min(limits.max_header_block_len.saturating_add(1));
    let prefix: String = bytes[..prefix_len].iter().map(|&b| char::from(b)).collect();
    let (headers, rest) = mime::parse_header_block(&prefix, limits)?;
    // In bytes of the input: each of them is one char of `prefix`.
    let block_len = prefix[..prefix.len() - rest.len()].chars().count();
    let body_len = bytes.len() - block_len;
    if body_len > limits.max_body_len {
        return Err(PayloadError::BodyTooLarge {
            len: body_len,
            limit: limits.max_body_len,
        });
    }
    let charset = mime::find_raw(&headers, "Content-Type")
        .map(ContentType::parse)
        .and_then(|ct| ct.param("charset"));
    let latin1 = || bytes.iter().map(|&b| char::from(b)).collect::<String>();
    let label = charset.unwrap_or(DEFAULT_CHARSET);
    match label.to_ascii_lowercase().as_str() {
        "utf-8" | "utf8" => match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Cow::Borrowed(s)),
            Err(e) => Err(PayloadError::InvalidText {
                charset: label.to_owned(),
                offset: start + e.valid_up_to(),
            }),
        },
        "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1" => {
            Ok(Cow::Owned(latin1()))
        }
        "us-ascii" | "ascii" => match bytes.iter().position(|b| !b.is_ascii()) {
            None => Ok(Cow::Owned(latin1())),
            Some(offset) => Err(PayloadError::InvalidText {
                charset: label.to_owned(),
                offset: start + offset,
            }),
        },
        "windows-1252" | "cp1252" => Ok(Cow::Owned(bytes.iter().map(|&b| cp1252(b)).collect())),
        _ => Err(PayloadError::UnsupportedCharset {
            charset: label.chars().take(64).collect(),
        }),
    }
}

/// windows-1252 to Unicode. The five unassigned bytes map to the C1 controls of the same
/// value (as the WHATWG encoding standard does).
fn cp1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '\u{20AC}', '\u{81}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}',
        '\u{2021}', '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{8D}',
        '\u{017D}', '\u{8F}', '\u{90}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}',
        '\u{2013}', '\u{2014}', '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}',
        '\u{9D}', '\u{017E}', '\u{0178}',
    ];
    match b {
        0x80..=0x9F => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

#[cfg(test)]
mod tests;
