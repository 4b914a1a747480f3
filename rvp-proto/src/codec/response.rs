//! Response parsing, including close-delimited bodies.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};

use super::head::{self, Headers, RawHeader};
use super::limits::MAX_HEADERS_CAP;
use super::{Limits, ParseError, Status};
use crate::header::RvpHeaders;

/// An incremental response parser. Keep one per connection (it reuses its header index).
#[derive(Debug, Clone, Default)]
pub struct ResponseParser {
    limits: Limits,
    headers: Vec<RawHeader>,
}

impl ResponseParser {
    /// A parser with the given limits.
    pub fn new(limits: Limits) -> ResponseParser {
        ResponseParser {
            limits,
            headers: Vec::new(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Parses one response from the start of `buf`.
    ///
    /// `eof` says whether the peer has closed the connection (no more bytes will come).
    /// A response without `Content-Length` (and not `1xx`, `204` or `304`) has a
    /// close-delimited body: it stays `Partial` until `eof`, then its body is the rest of
    /// `buf`. `eof` with an incomplete message is [`ParseError::UnexpectedEof`].
    pub fn parse<'p, 'b>(
        &'p mut self,
        buf: &'b [u8],
        eof: bool,
    ) -> Result<Status<ParsedResponse<'p, 'b>>, ParseError> {
        let limits = self.limits;
        let window = head::head_window(buf, &limits);
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
        let mut res = httparse::Response::new(&mut []);
        let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut res,
            window,
            &mut slots[..limits.header_slots()],
        );
        let head_len = match parsed.map_err(|e| head::syntax_error(e, &limits))? {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => {
                head::partial_head(buf, &limits)?;
                return if eof {
                    Err(ParseError::UnexpectedEof)
                } else {
                    Ok(Status::Partial)
                };
            }
        };
        let framing = head::index_headers(buf, res.headers, &mut self.headers)?;
        let code = res.code.unwrap_or(0);
        let bodiless = (100..200).contains(&code) || code == 204 || code == 304;
        let available = buf.len() - head_len;
        let (body_len, close_delimited) = match framing.content_length {
            _ if bodiless => (0, false),
            Some(n) => {
                head::check_body_len(n, &limits)?;
                if available < n {
                    return if eof {
                        Err(ParseError::UnexpectedEof)
                    } else {
                        Ok(Status::Partial)
                    };
                }
                (n, false)
            }
            None => {
                head::check_body_len(available, &limits)?;
                if !eof {
                    return Ok(Status::Partial);
                }
                (available, true)
            }
        };
        let head = ResponseHead {
            code,
            reason: res.reason.unwrap_or(""),
            minor_version: res.version.unwrap_or(1),
            headers: Headers::new(buf, &self.headers),
            head_len,
        };
        Ok(Status::Complete(ParsedResponse {
            head,
            body: &buf[head_len..head_len + body_len],
            close_delimited,
        }))
    }
}

/// A complete response: zero-copy head and body.
#[derive(Debug, Clone, Copy)]
pub struct ParsedResponse<'p, 'b> {
    head: ResponseHead<'p, 'b>,
    body: &'b [u8],
    close_delimited: bool,
}

impl<'p, 'b> ParsedResponse<'p, 'b> {
    /// The head.
    pub fn head(&self) -> &ResponseHead<'p, 'b> {
        &self.head
    }

    /// The body.
    pub fn body(&self) -> &'b [u8] {
        self.body
    }

    /// Whether the body was delimited by the end of the connection (no `Content-Length`);
    /// the connection cannot be reused.
    pub fn is_close_delimited(&self) -> bool {
        self.close_delimited
    }

    /// How many bytes of the buffer this message occupies (head + body).
    pub fn consumed(&self) -> usize {
        self.head.head_len + self.body.len()
    }

    /// Copies the response into an [`http::Response`].
    pub fn to_http(&self) -> Result<http::Response<Bytes>, ParseError> {
        let parts = self.head.http_parts()?;
        Ok(http::Response::from_parts(
            parts,
            Bytes::copy_from_slice(self.body),
        ))
    }
}

/// A response head: a zero-copy view of the status line and headers.
#[derive(Debug, Clone, Copy)]
pub struct ResponseHead<'p, 'b> {
    code: u16,
    reason: &'b str,
    minor_version: u8,
    headers: Headers<'p, 'b>,
    head_len: usize,
}

impl<'p, 'b> ResponseHead<'p, 'b> {
    /// The three-digit status code as received.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The reason phrase as received (clients ignore it, PROTOCOL.md §2).
    pub fn reason(&self) -> &'b str {
        self.reason
    }

    /// The HTTP minor version.
    pub fn minor_version(&self) -> u8 {
        self.minor_version
    }

    /// The headers.
    pub fn headers(&self) -> &Headers<'p, 'b> {
        &self.headers
    }

    /// Length of the head in bytes.
    pub fn head_len(&self) -> usize {
        self.head_len
    }

    /// Types the head: status code and every RVP header.
    pub fn typed(&self) -> Result<TypedResponse, ParseError> {
        let status = http::StatusCode::from_u16(self.code)
            .map_err(|_| ParseError::Syntax("invalid status code"))?;
        let mut rvp = RvpHeaders::default();
        for (name, value) in self.headers.iter() {
            rvp.add(name, value)?;
        }
        let location = self
            .headers
            .get_str("location")
            .map(|l| l.trim().to_owned());
        Ok(TypedResponse {
            status,
            rvp,
            location,
        })
    }

    fn http_parts(&self) -> Result<http::response::Parts, ParseError> {
        let mut res = http::Response::new(());
        *res.status_mut() = http::StatusCode::from_u16(self.code)
            .map_err(|_| ParseError::Http(format!("invalid status code {}", self.code)))?;
        *res.version_mut() = if self.minor_version == 0 {
            http::Version::HTTP_10
        } else {
            http::Version::HTTP_11
        };
        *res.headers_mut() = self.headers.to_header_map()?;
        Ok(res.into_parts().0)
    }
}

/// A response head with what RVP cares about typed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TypedResponse {
    /// The status code.
    pub status: http::StatusCode,
    /// Every RVP header (`Subscription-Id`, `Subscription-Lifetime`...).
    pub rvp: RvpHeaders,
    /// `Location` (on `302 Object moved`), trimmed.
    pub location: Option<String>,
}

/// Parses one response from the front of `buf` and, when complete, splits it off as an
/// [`http::Response`] whose body shares `buf`'s allocation. `Ok(None)`: more bytes needed.
pub fn decode_response(
    parser: &mut ResponseParser,
    buf: &mut BytesMut,
    eof: bool,
) -> Result<Option<http::Response<Bytes>>, ParseError> {
    let (parts, head_len, consumed) = match parser.parse(buf, eof)? {
        Status::Partial => return Ok(None),
        Status::Complete(msg) => (msg.head.http_parts()?, msg.head.head_len, msg.consumed()),
    };
    let body = buf.split_to(consumed).freeze().slice(head_len..);
    Ok(Some(http::Response::from_parts(parts, body)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::header::SubscriptionLifetime;

    #[test]
    fn content_length_and_pipelining() {
        let wire = b"HTTP/1.1 200 Successful\r\nSubscription-Id: 1001\r\nSubscription-Lifetime: 14000\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200";
        let mut p = ResponseParser::default();
        let Status::Complete(m) = p.parse(wire, false).unwrap() else {
            panic!()
        };
        assert_eq!(m.body(), b"ok");
        assert!(!m.is_close_delimited());
        let t = m.head().typed().unwrap();
        assert_eq!(t.status, http::StatusCode::OK);
        assert_eq!(
            t.rvp.subscription_id.unwrap().as_minted().unwrap().get(),
            1001
        );
        assert_eq!(
            t.rvp.subscription_lifetime,
            Some(SubscriptionLifetime(14000))
        );
        assert_eq!(&wire[m.consumed()..], b"HTTP/1.1 200");
    }

    #[test]
    fn close_delimited() {
        let wire = b"HTTP/1.0 200 OK\nContent-Type: text/html\n\n<html>bye</html>";
        let mut p = ResponseParser::default();
        assert!(p.parse(wire, false).unwrap().is_partial());
        let Status::Complete(m) = p.parse(wire, true).unwrap() else {
            panic!()
        };
        assert!(m.is_close_delimited());
        assert_eq!(m.body(), b"<html>bye</html>");
        assert_eq!(m.consumed(), wire.len());
        let mut p = ResponseParser::new(Limits::default().with_max_body_bytes(4));
        assert_eq!(
            p.parse(wire, false).unwrap_err(),
            ParseError::BodyTooLarge {
                length: 16,
                limit: 4
            }
        );
    }

    #[test]
    fn eof_inside_message() {
        let mut p = ResponseParser::default();
        assert_eq!(
            p.parse(b"HTTP/1.1 200 Succ", true).unwrap_err(),
            ParseError::UnexpectedEof
        );
        assert_eq!(
            p.parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", true)
                .unwrap_err(),
            ParseError::UnexpectedEof
        );
    }

    #[test]
    fn bodiless_statuses() {
        let mut p = ResponseParser::default();
        let Status::Complete(m) = p.parse(b"HTTP/1.1 204 No Content\r\n\r\nX", false).unwrap()
        else {
            panic!()
        };
        assert_eq!(m.consumed(), 27);
    }

    #[test]
    fn redirect_location_and_decode() {
        let wire = b"HTTP/1.1 302 Object moved\r\nLocation: http://imhome1/instmsg/local/im/instmsg/aliases/k\r\nContent-Length: 0\r\n\r\n";
        let mut p = ResponseParser::default();
        let Status::Complete(m) = p.parse(wire, false).unwrap() else {
            panic!()
        };
        let t = m.head().typed().unwrap();
        assert_eq!(t.status, http::StatusCode::FOUND);
        assert_eq!(
            t.location.as_deref(),
            Some("http://imhome1/instmsg/local/im/instmsg/aliases/k")
        );
        let mut buf = BytesMut::from(&wire[..]);
        let r = decode_response(&mut p, &mut buf, false).unwrap().unwrap();
        assert_eq!(r.status(), 302);
        assert!(buf.is_empty());
    }
}
