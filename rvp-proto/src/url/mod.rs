//! Node URLs: logical, physical and local-node forms (PROTOCOL.md §1.2, §7.2).
//!
//! Every RVP node is named by an `http:` URL. Three shapes matter to Exchange IM:
//!
//! | type | shape | example |
//! |---|---|---|
//! | [`LogicalUrl`] | `http://<host>/instmsg/aliases/<alias>` | `http://im.acme.com/instmsg/aliases/bruceb` |
//! | [`PhysicalUrl`] | `http://<home>/instmsg/local/<host>/instmsg/aliases/<alias>` | `http://imhome1.acme.com/instmsg/local/im.acme.com/instmsg/aliases/bruceb` |
//! | [`LocalNodeUrl`] | `http://<ip>:<port>` (request-URI `/`) | `http://198.176.154.132:1234` |
//!
//! Anything else that is a well-formed `http:` URL (group and list nodes such as
//! `http://im.example.com/groups/sales`) is kept as [`OtherUrl`]; [`NodeUrl`] is the sum of
//! the four.
//!
//! # Canonical form
//!
//! * The scheme is matched case-insensitively and always written `http://`.
//! * Hosts are ASCII and lower-cased; a port equal to 80 is dropped (`http://h:80/x` is
//!   `http://h/x`). IPv6 literals are accepted in brackets.
//! * Aliases are strictly percent-decoded (an invalid escape, a decoded `/`, a non-UTF-8
//!   result, an empty alias or an alias of `.` or `..` is an error), then **ASCII-lower-cased**:
//!   aliases compare case-insensitively for ASCII letters (PROTOCOL.md §1.2); other characters
//!   are kept as they are. On output every byte outside the RFC 3986 unreserved set is
//!   percent-encoded, so `format → parse` always gives back the same value.
//! * Queries, fragments, user-info, dot segments (`.`/`..`, also as `%2e`) and empty
//!   segments are rejected; URLs longer than [`MAX_URL_LEN`] bytes are rejected.
//!
//! ```
//! use rvp_proto::url::{LogicalUrl, NodeUrl};
//!
//! let url: LogicalUrl = "HTTP://IM.Acme.com/instmsg/aliases/BruceB".parse()?;
//! assert_eq!(url.host(), "im.acme.com");
//! assert_eq!(url.alias(), "bruceb");
//! assert_eq!(url.to_string(), "http://im.acme.com/instmsg/aliases/bruceb");
//!
//! let physical = url.to_physical("imhome1.acme.com");
//! assert_eq!(
//!     physical.to_string(),
//!     "http://imhome1.acme.com/instmsg/local/im.acme.com/instmsg/aliases/bruceb"
//! );
//! assert_eq!(NodeUrl::parse(&physical.to_string())?.logical(), Some(&url));
//! # Ok::<(), rvp_proto::url::UrlError>(())
//! ```

/// Longest URL (or request-target) accepted, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// Longest alias, in bytes once percent-decoded (real aliases are directory account names
/// of at most a few dozen characters). With hosts of at most 255 bytes this keeps every
/// formatted URL — logical, and physical with its second host — below [`MAX_URL_LEN`] even
/// when every alias byte is written percent-encoded, so whatever parses also formats to a
/// URL that parses.
pub const MAX_ALIAS_LEN: usize = 256;

const ALIASES_PREFIX: &str = "/instmsg/aliases/";
const LOCAL_PREFIX: &str = "/instmsg/local/";
const SHORT_ALIASES_PREFIX: &str = "/aliases/";

/// What is wrong with a URL or request-target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// An alias longer than [`MAX_ALIAS_LEN`] bytes (decoded).
    #[error("alias is {0} bytes long, more than the limit of {MAX_ALIAS_LEN}")]
    AliasTooLong(usize),
    /// Longer than [`MAX_URL_LEN`].
    #[error("URL is {0} bytes long, more than the limit of {MAX_URL_LEN}")]
    TooLong(usize),
    /// Not an absolute `http://` URL.
    #[error("not an absolute http:// URL: {0:?}")]
    NotHttp(String),
    /// The host part is empty or contains a character that is not allowed in a host name.
    #[error("invalid host {0:?}")]
    InvalidHost(String),
    /// The port is not a decimal number in `1..=65535`.
    #[error("invalid port {0:?}")]
    InvalidPort(String),
    /// A `%` not followed by two hexadecimal digits.
    #[error("invalid percent-escape in {0:?}")]
    InvalidEscape(String),
    /// Percent-decoding produced bytes that are not UTF-8.
    #[error("percent-decoded text is not UTF-8 in {0:?}")]
    NotUtf8(String),
    /// The alias is empty.
    #[error("empty alias")]
    EmptyAlias,
    /// The alias decodes to a string containing `/`.
    #[error("alias {0:?} contains an encoded '/'")]
    SlashInAlias(String),
    /// A path segment is `.` or `..` (possibly percent-encoded).
    #[error("dot segment in path {0:?}")]
    DotSegment(String),
    /// A path has an empty segment (`//`).
    #[error("empty segment in path {0:?}")]
    EmptySegment(String),
    /// A character that may not appear in a URL (space, control, `"`, `<`...).
    #[error("character {0:?} not allowed in a URL")]
    InvalidChar(char),
    /// URLs of nodes carry neither query nor fragment.
    #[error("query or fragment not allowed in {0:?}")]
    QueryOrFragment(String),
    /// The URL is well-formed but not a logical URL (`http://host/instmsg/aliases/alias`).
    #[error("not a logical URL (http://host/instmsg/aliases/alias): {0:?}")]
    NotLogical(String),
    /// The URL is well-formed but not a physical URL.
    #[error("not a physical URL (http://home/instmsg/local/host/instmsg/aliases/alias): {0:?}")]
    NotPhysical(String),
    /// The URL is well-formed but not a local node URL (`http://ip:port` with path `/` or empty).
    #[error("not a local node URL (http://ip:port): {0:?}")]
    NotLocalNode(String),
    /// A request-target in neither origin-form (`/...`) nor absolute-form (`http://...`).
    #[error("request-target is neither origin-form nor absolute-form: {0:?}")]
    InvalidTarget(String),
}

mod fast;
mod local_node;
mod logical;
mod node;
mod physical;
mod syntax;
mod target;
#[cfg(test)]
mod tests;

#[cfg(test)]
use fast::fast_host_header;
pub(crate) use fast::{fast_node_url, fast_target_ref, is_host_byte};
pub use local_node::LocalNodeUrl;
pub use logical::LogicalUrl;
pub use node::{NodeUrl, NodeUrlRef, OtherUrl};
pub use physical::PhysicalUrl;
pub use syntax::{AuthorityRef, canonical_alias, canonical_principal, decode_alias};
pub use target::{
    NodePath, NodePathRef, RequestTarget, RequestTargetRef, parse_target, parse_target_ref,
};
