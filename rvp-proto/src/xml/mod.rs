//! The XML bodies of RVP (PROTOCOL.md §4): one module per body, each with a typed value that
//! parses from bytes and writes itself back.
//!
//! ```text
//!   request/response body bytes
//!          │  T::parse / T::parse_with(limits)      (namespace-aware, prefix-agnostic,
//!          ▼                                          DOCTYPE refused, limits enforced)
//!   PropFind │ PropertyUpdate │ MultiStatus │ Notification │ RvpAcl │ Subscriptions
//!          │  T::write(&mut Vec<u8>) / T::to_bytes()
//!          ▼
//!   Exchange-style bytes: <?xml version="1.0"?><d:… xmlns:d='DAV:' xmlns:r='…' xmlns:a='…'>…
//! ```
//!
//! Input rules (PROTOCOL.md §4.1, §9.2, §9.5): bodies are UTF-8 (a leading byte-order mark is
//! skipped); `<!DOCTYPE` is refused and only the five predefined entities and character
//! references are known; every [`XmlLimits`] limit is enforced; elements are matched by namespace URI, never by
//! prefix; the ACL namespace is also recognised without its trailing slash and in any ASCII
//! case; `d:subscriptions`, `d:subscription`, `d:subscription-id` and `r:principal`,
//! `r:rvp-principal` are accepted beside their usual namespaces; leading and trailing
//! whitespace of text values is trimmed; unknown elements are skipped unless the body keeps
//! them (unknown properties, application notifications). Line ends inside text are kept as
//! sent (RVP's MIME payloads are CRLF-delimited), with no XML end-of-line normalisation.
//!
//! Output rules: a `<?xml version="1.0"?>` prolog, the root declaring
//! `xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/' xmlns:a='http://schemas.microsoft.com/rvp/acl/'`,
//! the prefixes `d`, `r`, `a`, single quotes, no whitespace between elements.
//!
//! ```
//! use rvp_proto::xml::{PropFind, PropName, XmlBody};
//!
//! let body = b"<?xml version=\"1.0\"?>\n<D:propfind xmlns:D=\"DAV:\"><D:prop><D:displayname/></D:prop></D:propfind>";
//! let req = PropFind::parse(body)?;
//! assert_eq!(req, PropFind::Prop(vec![PropName::DisplayName]));
//! assert_eq!(
//!     req.to_bytes(),
//!     b"<?xml version=\"1.0\"?><d:propfind xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/' \
//! xmlns:a='http://schemas.microsoft.com/rvp/acl/'><d:prop><d:displayname/></d:prop></d:propfind>"
//! );
//! # Ok::<(), rvp_proto::xml::XmlError>(())
//! ```

mod error;
mod fast;
mod read;
mod write;

pub mod acl;
pub mod multistatus;
pub mod notification;
pub mod property;
pub mod propertyupdate;
pub mod propfind;
pub mod subscriptions;

pub use acl::{Ace, AcePrincipal, Inheritance, RvpAcl};
pub use error::{XmlError, XmlLimits};
pub use multistatus::{MultiStatus, PropStat, Response, StatusLine};
pub use notification::{Contact, Message, MimeData, Notification, PropNotification};
pub use property::{LeasedValue, PropName, PropValue, Property, StateContent, StateValue};
pub use propertyupdate::PropertyUpdate;
pub use propfind::PropFind;
pub use subscriptions::{Subscription, Subscriptions};
pub use write::write_cdata;

/// The WebDAV namespace, prefix `d`.
pub const DAV_NS: &str = "DAV:";
/// The RVP namespace, prefix `r`.
pub const RVP_NS: &str = "http://schemas.microsoft.com/rvp/";
/// The RVP ACL namespace, prefix `a`.
pub const ACL_NS: &str = "http://schemas.microsoft.com/rvp/acl/";

/// Which event source a body is parsed over ([`XmlBody::parse_mode`]): for the
/// differential tests of the fast tokenizer, not for use.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseMode {
    /// The fast tokenizer alone: an error whenever it declines the input.
    Fast,
    /// quick-xml alone.
    Full,
}

/// An RVP XML body: parses from bytes, writes itself in Exchange style.
pub trait XmlBody: Sized {
    /// The root element, as written (`"d:propfind"`).
    const ROOT: &'static str;

    /// Parses a body under the given limits.
    ///
    /// The crate's bodies are read by a fast tokenizer for the plain XML clients send,
    /// and by quick-xml for the rest (and for every body the fast tokenizer does not
    /// finish with a value): the result is quick-xml's whenever the two could differ.
    fn parse_with(input: &[u8], limits: &XmlLimits) -> Result<Self, XmlError>;

    /// Parses a body over one event source only: for the differential tests (the
    /// `xml_fast` fuzz target), which check that a value from [`ParseMode::Fast`] is
    /// exactly the value from [`ParseMode::Full`]. Bodies outside this crate parse as
    /// [`XmlBody::parse_with`] in both modes.
    #[doc(hidden)]
    fn parse_mode(input: &[u8], limits: &XmlLimits, mode: ParseMode) -> Result<Self, XmlError> {
        let _ = mode;
        Self::parse_with(input, limits)
    }

    /// Appends the body, prolog included, to `out`.
    fn write(&self, out: &mut Vec<u8>);

    /// Parses a body under [`XmlLimits::default`].
    fn parse(input: &[u8]) -> Result<Self, XmlError> {
        Self::parse_with(input, &XmlLimits::default())
    }

    /// The body as a new byte vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write(&mut out);
        out
    }
}
