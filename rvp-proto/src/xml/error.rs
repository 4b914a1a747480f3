//! Errors and limits of the XML layer.

/// Why an XML body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XmlError {
    /// The body is larger than [`XmlLimits::max_input_bytes`].
    #[error("XML body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the body.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The body is not UTF-8 (the only encoding RVP peers use).
    #[error("XML body is not valid UTF-8 (at byte {position})")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        position: usize,
    },
    /// The XML is not well formed.
    #[error("malformed XML at byte {position}: {message}")]
    Syntax {
        /// Byte offset where the parser stopped.
        position: u64,
        /// What the XML parser reported.
        message: Box<str>,
    },
    /// The body contains a `<!DOCTYPE …>` declaration (refused: no DTDs, no entity expansion).
    #[error("<!DOCTYPE> declarations are refused")]
    DocType,
    /// An entity reference other than the five predefined ones or a character reference.
    #[error("unknown or invalid entity reference &{0};")]
    Entity(Box<str>),
    /// An element name uses a prefix that no `xmlns:` declaration binds.
    #[error("element <{0}> uses an undeclared namespace prefix")]
    UnboundPrefix(Box<str>),
    /// Elements are nested deeper than [`XmlLimits::max_depth`].
    #[error("elements nested deeper than the limit of {limit}")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// The body has more elements than [`XmlLimits::max_elements`].
    #[error("more elements than the limit of {limit}")]
    TooManyElements {
        /// The limit.
        limit: usize,
    },
    /// A text value is longer than [`XmlLimits::max_text_bytes`].
    #[error("text of <{element}> exceeds the limit of {limit} bytes")]
    TextTooLong {
        /// The element holding the text.
        element: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The body has no root element.
    #[error("XML body has no root element (expected <{expected}>)")]
    NoRoot {
        /// The root this body type needs.
        expected: &'static str,
    },
    /// The root element is not the one this body type needs.
    #[error("root element is <{found}>, expected <{expected}>")]
    WrongRoot {
        /// The root this body type needs.
        expected: &'static str,
        /// The local name found.
        found: Box<str>,
    },
    /// Something other than whitespace, comments or processing instructions follows or
    /// precedes the root element.
    #[error("content outside the root element <{root}>")]
    OutsideRoot {
        /// The root element.
        root: &'static str,
    },
    /// A required child element is missing.
    #[error("<{parent}> lacks <{child}>")]
    Missing {
        /// The parent element.
        parent: &'static str,
        /// The missing child.
        child: &'static str,
    },
    /// An element that may appear once appears again.
    #[error("<{child}> appears more than once in <{parent}>")]
    Duplicate {
        /// The parent element.
        parent: &'static str,
        /// The repeated child.
        child: &'static str,
    },
    /// An element this body does not allow at that place.
    #[error("unexpected element <{element}> in <{parent}>")]
    Unexpected {
        /// The parent element.
        parent: &'static str,
        /// The local name of the unexpected element.
        element: Box<str>,
    },
    /// A number (timeout) that does not parse as seconds.
    #[error("<{element}> holds {value:?}, not a number of seconds")]
    InvalidNumber {
        /// The element.
        element: &'static str,
        /// Its text.
        value: Box<str>,
    },
    /// A `d:status` that is not `HTTP/1.1 <code> <reason>`.
    #[error("<d:status> holds {0:?}, not an HTTP status line")]
    InvalidStatus(Box<str>),
    /// A right of WebDAV ACL that RVP does not support (`writeowner`, `delete`,
    /// `createchild`, `deletechild`) or any other unknown ACL-namespace right.
    #[error("right <a:{0}> is not supported by RVP")]
    UnsupportedRight(Box<str>),
    /// An ACE principal without `a:credentials`, or with an empty one: the engine answers
    /// `400 credentials not specified` (PROTOCOL.md §2.7).
    #[error("credentials not specified")]
    CredentialsNotSpecified,
    /// An ACE principal that is not exactly one non-empty `a:rvp-principal` or one
    /// `a:allprincipals`, plus exactly one `a:credentials` (PROTOCOL.md §8.5).
    #[error("invalid ACE principal: {0}")]
    InvalidPrincipal(&'static str),
}

/// Limits applied while parsing an XML body. Every limit has a default, listed per field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct XmlLimits {
    /// Largest body accepted, in bytes. Default 256 KiB.
    pub max_input_bytes: usize,
    /// Deepest element nesting accepted (the root is depth 1). Default 32.
    pub max_depth: usize,
    /// Most elements (start or empty tags) in one body. Default 16 384.
    pub max_elements: usize,
    /// Longest text value (one element's concatenated text, CDATA and references), in
    /// bytes; also bounds raw XML kept for unknown properties and application
    /// notifications. Default 128 KiB.
    pub max_text_bytes: usize,
}

impl XmlLimits {
    /// The default limits (see each field).
    pub const DEFAULT: XmlLimits = XmlLimits {
        max_input_bytes: 256 * 1024,
        max_depth: 32,
        max_elements: 16 * 1024,
        max_text_bytes: 128 * 1024,
    };
}

impl Default for XmlLimits {
    fn default() -> Self {
        XmlLimits::DEFAULT
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::xml::{MultiStatus, Notification, PropFind, XmlBody};

    fn limits(f: impl FnOnce(&mut XmlLimits)) -> XmlLimits {
        let mut l = XmlLimits::default();
        f(&mut l);
        l
    }

    #[test]
    fn defaults_are_documented_values() {
        let l = XmlLimits::default();
        assert_eq!(
            (
                l.max_input_bytes,
                l.max_depth,
                l.max_elements,
                l.max_text_bytes
            ),
            (256 * 1024, 32, 16 * 1024, 128 * 1024)
        );
    }

    #[test]
    fn max_input_bytes() {
        let body = b"<propfind xmlns='DAV:'><allprop/></propfind>";
        let l = limits(|l| l.max_input_bytes = body.len());
        assert!(PropFind::parse_with(body, &l).is_ok());
        let l = limits(|l| l.max_input_bytes = body.len() - 1);
        assert_eq!(
            PropFind::parse_with(body, &l),
            Err(XmlError::TooLarge {
                size: body.len(),
                limit: body.len() - 1
            })
        );
    }

    #[test]
    fn max_depth() {
        // propfind(1) prop(2) displayname(3)
        let body = b"<propfind xmlns='DAV:'><prop><displayname/></prop></propfind>";
        assert!(PropFind::parse_with(body, &limits(|l| l.max_depth = 3)).is_ok());
        assert_eq!(
            PropFind::parse_with(body, &limits(|l| l.max_depth = 2)),
            Err(XmlError::TooDeep { limit: 2 })
        );
        // Deep nesting inside an element that is skipped is counted too.
        let mut deep = String::from("<propfind xmlns='DAV:'><allprop/>");
        deep.push_str(&"<x>".repeat(40));
        deep.push_str(&"</x>".repeat(40));
        deep.push_str("</propfind>");
        assert_eq!(
            PropFind::parse(deep.as_bytes()),
            Err(XmlError::TooDeep { limit: 32 })
        );
    }

    #[test]
    fn max_elements() {
        let body = b"<propfind xmlns='DAV:'><prop><displayname/><getetag/></prop></propfind>";
        assert!(PropFind::parse_with(body, &limits(|l| l.max_elements = 4)).is_ok());
        assert_eq!(
            PropFind::parse_with(body, &limits(|l| l.max_elements = 3)),
            Err(XmlError::TooManyElements { limit: 3 })
        );
    }

    #[test]
    fn max_text_bytes() {
        let body =
            b"<multistatus xmlns='DAV:'><response><href>0123456789</href></response></multistatus>";
        assert!(MultiStatus::parse_with(body, &limits(|l| l.max_text_bytes = 10)).is_ok());
        assert_eq!(
            MultiStatus::parse_with(body, &limits(|l| l.max_text_bytes = 9)),
            Err(XmlError::TextTooLong {
                element: "d:href",
                limit: 9
            })
        );
        // CDATA pieces are counted together.
        let n = b"<notification xmlns='http://schemas.microsoft.com/rvp/'><message><msgbody><mime-data><![CDATA[12345]]><![CDATA[678]]></mime-data></msgbody></message></notification>";
        assert!(matches!(
            Notification::parse_with(n, &limits(|l| l.max_text_bytes = 7)),
            Err(XmlError::TextTooLong {
                element: "r:mime-data",
                ..
            })
        ));
        // Raw XML kept for application notifications is bounded as well.
        let app = b"<notification xmlns='http://schemas.microsoft.com/rvp/'><x>0123456789</x></notification>";
        assert!(matches!(
            Notification::parse_with(app, &limits(|l| l.max_text_bytes = 5)),
            Err(XmlError::TextTooLong { .. })
        ));
    }

    #[test]
    fn not_utf8_and_syntax() {
        assert_eq!(
            PropFind::parse(b"<propfind xmlns='DAV:'>\xff</propfind>"),
            Err(XmlError::NotUtf8 { position: 23 })
        );
        assert!(matches!(
            PropFind::parse(b"<propfind xmlns='DAV:'><allprop/></prop>"),
            Err(XmlError::Syntax { .. })
        ));
        assert!(matches!(
            PropFind::parse(b"<propfind xmlns='DAV:'><allprop/>"),
            Err(XmlError::Syntax { .. })
        ));
    }
}
