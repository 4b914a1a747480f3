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
    /// `400 credentials not specified` (reference §2.7).
    #[error("credentials not specified")]
    CredentialsNotSpecified,
    /// An ACE principal that is not exactly one non-empty `a:rvp-principal` or one
    /// `a:allprincipals`, plus exactly one `a:credentials` (reference §8.5).
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
