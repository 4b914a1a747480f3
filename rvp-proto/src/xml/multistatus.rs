//! `d:multistatus`, the body of `207 Multi-Status` answers to PROPFIND, PROPPATCH and
//! update/propchange SUBSCRIBE (PROTOCOL.md §2.1, §2.4, §2.5).

use std::fmt;

use http::StatusCode;

use super::property::{Property, read_props, write_props};
use super::read::{Elem, Ns, Reader, parse_body, parse_mode, trim};
use super::{ParseMode, XmlBody, XmlError, XmlLimits, write};
use crate::status::reason_phrase;

/// The text of `d:status`: `HTTP/1.1 <code> <reason>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatusLine {
    /// The status code.
    pub code: StatusCode,
    /// The reason phrase (may be empty).
    pub reason: String,
}

impl StatusLine {
    /// A status line with Exchange's reason phrase for `code` (`200 Successful`).
    pub fn new(code: StatusCode) -> StatusLine {
        StatusLine {
            code,
            reason: reason_phrase(code).to_owned(),
        }
    }

    /// Parses `HTTP/1.1 200 Successful` (any `HTTP/x.y`; the reference's typo with dots for
    /// spaces, `HTTP/1.1.200.Successful`, is accepted too).
    pub fn parse(text: &str) -> Result<StatusLine, XmlError> {
        let bad = || XmlError::InvalidStatus(text.into());
        let t = trim(text);
        let rest = t.strip_prefix("HTTP/").ok_or_else(bad)?;
        // version: digits '.' digits
        let vlen = rest
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_digit() || (c == '.' && i == 1)))
            .map_or(rest.len(), |(i, _)| i);
        let rest = rest.get(vlen..).ok_or_else(bad)?;
        let rest = rest.strip_prefix([' ', '.']).ok_or_else(bad)?;
        let code = rest.get(..3).ok_or_else(bad)?;
        if !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let code = code
            .parse::<u16>()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .ok_or_else(bad)?;
        let reason = &rest[3..];
        let reason = if reason.is_empty() {
            ""
        } else {
            reason.strip_prefix([' ', '.']).ok_or_else(bad)?
        };
        Ok(StatusLine {
            code,
            reason: trim(reason).to_owned(),
        })
    }
}

/// `<d:status>HTTP/1.1 <code> <reason></d:status>`, as [`StatusLine`]'s
/// [`fmt::Display`] writes the text, without the formatting machinery (one per propstat
/// of every answer).
fn write_status(out: &mut Vec<u8>, code: StatusCode, reason: &str) {
    write::start(out, "d:status");
    out.extend_from_slice(b"HTTP/1.1 ");
    // A `StatusCode` is always three digits (100..=999).
    out.extend_from_slice(code.as_str().as_bytes());
    out.push(b' ');
    write::escape_text(out, reason);
    write::end(out, "d:status");
}

impl MultiStatus {
    /// Writes a multistatus of one `d:response` for `href` with one `d:propstat`: `props`
    /// and `status` with its Exchange reason phrase. The bytes are exactly those of the
    /// equivalent [`MultiStatus`]'s [`XmlBody::write`], without building one (a server
    /// answers every PROPPATCH that sets a state with this body).
    ///
    /// ```
    /// use http::StatusCode;
    /// use rvp_proto::xml::{MultiStatus, PropName, PropStat, Property, Response, StatusLine, XmlBody};
    ///
    /// let href = "http://im.example.com/instmsg/aliases/stevem";
    /// let props = [Property::text(PropName::DisplayName, "Steve")];
    /// let mut out = Vec::new();
    /// MultiStatus::write_one(&mut out, href, &props, StatusCode::OK);
    /// let built = MultiStatus {
    ///     responses: vec![Response {
    ///         href: href.into(),
    ///         propstats: vec![PropStat {
    ///             props: props.to_vec(),
    ///             status: StatusLine::new(StatusCode::OK),
    ///         }],
    ///     }],
    /// };
    /// assert_eq!(out, built.to_bytes());
    /// ```
    pub fn write_one(out: &mut Vec<u8>, href: &str, props: &[Property], status: StatusCode) {
        write::root_start(out, Self::ROOT);
        write_response_start(out, href);
        write_propstat(out, props, status, reason_phrase(status));
        write::end(out, "d:response");
        write::end(out, Self::ROOT);
    }
}

impl fmt::Display for StatusLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP/1.1 {} {}", self.code.as_u16(), self.reason)
    }
}

/// One `d:propstat`: properties sharing a status.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PropStat {
    /// The properties of `d:prop`.
    pub props: Vec<Property>,
    /// `d:status`.
    pub status: StatusLine,
}

/// One `d:response`: a node and its propstats.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Response {
    /// `d:href`: the node's URL.
    pub href: String,
    /// The propstats, in order.
    pub propstats: Vec<PropStat>,
}

/// A `d:multistatus` body.
///
/// ```
/// use http::StatusCode;
/// use rvp_proto::xml::{MultiStatus, PropName, PropStat, Property, Response, StatusLine, XmlBody};
///
/// let ms = MultiStatus {
///     responses: vec![Response {
///         href: "http://im.example.com/instmsg/aliases/stevem".into(),
///         propstats: vec![PropStat {
///             props: vec![Property::text(PropName::DisplayName, "Steve")],
///             status: StatusLine::new(StatusCode::OK),
///         }],
///     }],
/// };
/// assert_eq!(MultiStatus::parse(&ms.to_bytes())?, ms);
/// # Ok::<(), rvp_proto::xml::XmlError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct MultiStatus {
    /// The responses, in order.
    pub responses: Vec<Response>,
}

fn read_propstat(r: &mut Reader<'_>, e: &Elem<'_>) -> Result<PropStat, XmlError> {
    let mut props = None;
    let mut status = None;
    while let Some(c) = r.next_child(e, "d:propstat")? {
        match (c.ns, c.local) {
            (Ns::Dav, "prop") => {
                let p = read_props(r, &c)?;
                match &mut props {
                    None => props = Some(p),
                    Some(v) => v.extend(p),
                }
            }
            (Ns::Dav, "status") => {
                let (t, _) = r.text_range(&c, "d:status")?;
                if status.replace(StatusLine::parse(&t)?).is_some() {
                    return Err(XmlError::Duplicate {
                        parent: "d:propstat",
                        child: "d:status",
                    });
                }
            }
            _ => r.skip(&c)?,
        }
    }
    Ok(PropStat {
        props: props.unwrap_or_default(),
        status: status.ok_or(XmlError::Missing {
            parent: "d:propstat",
            child: "d:status",
        })?,
    })
}

fn read_response(r: &mut Reader<'_>, e: &Elem<'_>) -> Result<Response, XmlError> {
    let mut href = None;
    let mut propstats = Vec::new();
    while let Some(c) = r.next_child(e, "d:response")? {
        match (c.ns, c.local) {
            (Ns::Dav, "href") => {
                if href.replace(r.text(&c, "d:href")?).is_some() {
                    return Err(XmlError::Duplicate {
                        parent: "d:response",
                        child: "d:href",
                    });
                }
            }
            (Ns::Dav, "propstat") => propstats.push(read_propstat(r, &c)?),
            _ => r.skip(&c)?,
        }
    }
    Ok(Response {
        href: href.ok_or(XmlError::Missing {
            parent: "d:response",
            child: "d:href",
        })?,
        propstats,
    })
}

impl XmlBody for MultiStatus {
    const ROOT: &'static str = "d:multistatus";

    fn parse_with(input: &[u8], limits: &XmlLimits) -> Result<Self, XmlError> {
        parse_body(input, limits, read_document)
    }

    fn parse_mode(input: &[u8], limits: &XmlLimits, mode: ParseMode) -> Result<Self, XmlError> {
        parse_mode(input, limits, mode, read_document)
    }

    fn write(&self, out: &mut Vec<u8>) {
        write::root_start(out, Self::ROOT);
        for resp in &self.responses {
            write_response_start(out, &resp.href);
            for ps in &resp.propstats {
                write_propstat(out, &ps.props, ps.status.code, &ps.status.reason);
            }
            write::end(out, "d:response");
        }
        write::end(out, Self::ROOT);
    }
}

/// `<d:response><d:href>…</d:href>`.
fn write_response_start(out: &mut Vec<u8>, href: &str) {
    write::start(out, "d:response");
    write::text_element(out, "d:href", href);
}

/// `<d:propstat><d:prop>…</d:prop><d:status>…</d:status></d:propstat>`.
fn write_propstat(out: &mut Vec<u8>, props: &[Property], code: StatusCode, reason: &str) {
    write::start(out, "d:propstat");
    write_props(out, props);
    write_status(out, code, reason);
    write::end(out, "d:propstat");
}

/// The whole document, over either event source.
fn read_document(r: &mut Reader<'_>) -> Result<MultiStatus, XmlError> {
    const ROOT: &str = <MultiStatus as XmlBody>::ROOT;
    let root = r.root(Ns::Dav, "multistatus", ROOT)?;
    let mut responses = Vec::new();
    while let Some(e) = r.next_child(&root, ROOT)? {
        if e.is(Ns::Dav, "response") {
            responses.push(read_response(r, &e)?);
        } else {
            r.skip(&e)?;
        }
    }
    r.finish(ROOT)?;
    Ok(MultiStatus { responses })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::PresenceState;
    use crate::xml::{PropName, PropValue, StateValue};

    fn ok(props: Vec<Property>) -> PropStat {
        PropStat {
            props,
            status: StatusLine::new(StatusCode::OK),
        }
    }

    #[test]
    fn status_lines() {
        let s = StatusLine::parse(" HTTP/1.1 404 Not Found ").unwrap();
        assert_eq!(
            (s.code, s.reason.as_str()),
            (StatusCode::NOT_FOUND, "Not Found")
        );
        let s = StatusLine::parse("HTTP/1.1.200.Successful").unwrap();
        assert_eq!((s.code, s.reason.as_str()), (StatusCode::OK, "Successful"));
        let s = StatusLine::parse("HTTP/1.0 207").unwrap();
        assert_eq!((s.code, s.reason.as_str()), (StatusCode::MULTI_STATUS, ""));
        for bad in [
            "",
            "HTTP/1.1",
            "HTTP/1.1 2x0 OK",
            "HTTP/1.1 200OK",
            "FTP/1.1 200 OK",
            "HTTP/1.1 099 x",
        ] {
            assert!(StatusLine::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            StatusLine::new(StatusCode::OK).to_string(),
            "HTTP/1.1 200 Successful"
        );
    }

    #[test]
    fn status_element_is_the_escaped_display_text() {
        for (code, reason) in [
            (200, "Successful"),
            (404, ""),
            (599, "a <b> & \"c\""),
            (207, "\u{e9}t\u{e9}"),
        ] {
            let line = StatusLine {
                code: StatusCode::from_u16(code).unwrap(),
                reason: reason.to_owned(),
            };
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            write_status(&mut fast, line.code, &line.reason);
            write::text_element(&mut slow, "d:status", &line.to_string());
            assert_eq!(
                String::from_utf8(fast).unwrap(),
                String::from_utf8(slow).unwrap()
            );
        }
    }

    #[test]
    fn reference_2_4_b_golden() {
        let exchange = "<d:multistatus xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/' xmlns:a='http://schemas.microsoft.com/rvp/acl/'><d:response><d:href>http://laxhhim1.hq.ad.hilton.com/instmsg/aliases/peter_conrey</d:href><d:propstat><d:prop><d:displayname>Peter Conrey</d:displayname></d:prop><d:status>HTTP/1.1 200 Successful</d:status></d:propstat></d:response></d:multistatus>";
        let ms = MultiStatus::parse(exchange.as_bytes()).unwrap();
        assert_eq!(
            ms,
            MultiStatus {
                responses: vec![Response {
                    href: "http://laxhhim1.hq.ad.hilton.com/instmsg/aliases/peter_conrey".into(),
                    propstats: vec![ok(vec![Property::text(
                        PropName::DisplayName,
                        "Peter Conrey"
                    )])],
                }]
            }
        );
        let mut want = b"<?xml version=\"1.0\"?>".to_vec();
        want.extend_from_slice(exchange.as_bytes());
        assert_eq!(ms.to_bytes(), want);
    }

    #[test]
    fn reference_2_1_b_and_2_4_a_and_2_5() {
        let b = br#"<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:" xmlns:r="http://schemas.microsoft.com/rvp/">
 <d:response>
  <d:href>http://im.example.com/instmsg/aliases/stevem</d:href>
  <d:propstat>
   <d:prop>
    <r:state><r:offline/></r:state>
    <d:displayname>Steve</d:displayname>
    <r:email>stevem@example.com</r:email>
    <r:mobile-state>0</r:mobile-state>
    <r:mobile-description></r:mobile-description>
   </d:prop>
   <d:status>HTTP/1.1 200 Successful</d:status>
  </d:propstat>
 </d:response>
</d:multistatus>"#;
        let ms = MultiStatus::parse(b).unwrap();
        assert_eq!(
            ms.responses[0].propstats[0].props,
            vec![
                Property::state(StateValue::bare(PresenceState::Offline)),
                Property::text(PropName::DisplayName, "Steve"),
                Property::text(PropName::Email, "stevem@example.com"),
                Property::text(PropName::MobileState, "0"),
                Property::text(PropName::MobileDescription, ""),
            ]
        );
        let a = br#"<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:" xmlns:r="http://schemas.microsoft.com/rvp/">
 <d:response>
  <d:href>http://im.example.com/instmsg/aliases/stevem</d:href>
  <d:propstat>
   <d:prop><d:displayname>Steve Morgan</d:displayname></d:prop>
   <d:status>HTTP/1.1 200 OK</d:status>
  </d:propstat>
 </d:response>
</d:multistatus>"#;
        let ms = MultiStatus::parse(a).unwrap();
        assert_eq!(ms.responses[0].propstats[0].status.reason, "OK");
        let c = br#"<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:" xmlns:r="http://schemas.microsoft.com/rvp/">
 <d:response>
  <d:href>http://im.example.com/instmsg/aliases/stevem</d:href>
  <d:propstat>
   <d:prop>
    <r:state>
     <r:leased-value>
      <r:value><r:online/></r:value>
      <r:default-value><r:offline/></r:default-value>
      <d:timeout>3600</d:timeout>
     </r:leased-value>
     <r:view-id>3577</r:view-id>
    </r:state>
   </d:prop>
   <d:status>HTTP/1.1 200 OK</d:status>
  </d:propstat>
 </d:response>
</d:multistatus>"#;
        let ms = MultiStatus::parse(c).unwrap();
        assert_eq!(
            ms.responses[0].propstats[0].props,
            vec![Property::state(
                StateValue::leased(PresenceState::Online, PresenceState::Offline, Some(3600))
                    .with_view_id("3577")
            )]
        );
    }

    #[test]
    fn reference_2_4_c_missing_property() {
        let c = "<d:multistatus xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/'><d:response><d:href>http://im.example.com/instmsg/aliases/stevem</d:href><d:propstat><d:prop><d:displayname>Steve Morgan</d:displayname></d:prop><d:status>HTTP/1.1 200 Successful</d:status></d:propstat><d:propstat><d:prop><r:no-such-prop/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response></d:multistatus>";
        let ms = MultiStatus::parse(c.as_bytes()).unwrap();
        let ps = &ms.responses[0].propstats[1];
        assert_eq!(ps.status.code, StatusCode::NOT_FOUND);
        assert_eq!(
            ps.props,
            vec![Property {
                name: PropName::new(crate::xml::RVP_NS, "no-such-prop"),
                value: PropValue::Empty
            }]
        );
    }

    #[test]
    fn errors() {
        let no_href = b"<multistatus xmlns='DAV:'><response><propstat><prop/><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>";
        assert_eq!(
            MultiStatus::parse(no_href).unwrap_err(),
            XmlError::Missing {
                parent: "d:response",
                child: "d:href"
            }
        );
        let bad = b"<multistatus xmlns='DAV:'><response><href>x</href><propstat><status>200</status></propstat></response></multistatus>";
        assert!(matches!(
            MultiStatus::parse(bad),
            Err(XmlError::InvalidStatus(_))
        ));
    }
}
