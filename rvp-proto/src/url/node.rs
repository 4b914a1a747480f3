//! [`NodeUrl`], the sum of the URL forms (and [`OtherUrl`] for the rest), and its
//! borrowed, not-yet-canonical view [`NodeUrlRef`].

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use super::UrlError;
use super::fast::fast_node_url;
use super::local_node::LocalNodeUrl;
use super::logical::LogicalUrl;
use super::physical::PhysicalUrl;
use super::syntax::{AuthorityRef, PathKind, classify_path, split_http};

/// Any other well-formed `http:` node URL (group, list, device nodes...).
///
/// The host is canonical (lower-case, no `:80`); the path is validated (no dot or empty
/// segments, valid escapes, no query) and kept as received.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OtherUrl {
    host: String,
    path: String,
}

impl OtherUrl {
    /// The canonical host (`host` or `host:port`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The path, starting with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for OtherUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.host, self.path)
    }
}

/// The URL of any node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum NodeUrl {
    /// `http://host/instmsg/aliases/alias`.
    Logical(LogicalUrl),
    /// `http://home/instmsg/local/host/instmsg/aliases/alias`.
    Physical(PhysicalUrl),
    /// `http://ip:port` or `http://ip:port/`.
    LocalNode(LocalNodeUrl),
    /// Any other well-formed `http:` URL.
    Other(OtherUrl),
}

impl NodeUrl {
    /// Parses an absolute `http://` URL and classifies it.
    ///
    /// A path that starts with `/instmsg/aliases/` or `/instmsg/local/` must be a valid
    /// logical or physical URL (its errors are reported, it does not fall back to
    /// [`NodeUrl::Other`]).
    pub fn parse(s: &str) -> Result<NodeUrl, UrlError> {
        Ok(NodeUrlRef::parse(s)?.to_node_url())
    }

    /// The logical URL of a logical or physical node URL.
    pub fn logical(&self) -> Option<&LogicalUrl> {
        match self {
            NodeUrl::Logical(l) => Some(l),
            NodeUrl::Physical(p) => Some(p.logical()),
            NodeUrl::LocalNode(_) | NodeUrl::Other(_) => None,
        }
    }

    /// The canonical host of the URL (`host` or `host:port`; for a local node, `host:port`).
    pub fn host(&self) -> String {
        match self {
            NodeUrl::Logical(l) => l.host().to_owned(),
            NodeUrl::Physical(p) => p.home.clone(),
            NodeUrl::LocalNode(l) => l.authority(),
            NodeUrl::Other(o) => o.host.clone(),
        }
    }
}

impl fmt::Display for NodeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeUrl::Logical(u) => u.fmt(f),
            NodeUrl::Physical(u) => u.fmt(f),
            NodeUrl::LocalNode(u) => u.fmt(f),
            NodeUrl::Other(u) => u.fmt(f),
        }
    }
}

impl FromStr for NodeUrl {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Self, UrlError> {
        NodeUrl::parse(s)
    }
}

impl From<LogicalUrl> for NodeUrl {
    fn from(u: LogicalUrl) -> Self {
        NodeUrl::Logical(u)
    }
}

impl From<PhysicalUrl> for NodeUrl {
    fn from(u: PhysicalUrl) -> Self {
        NodeUrl::Physical(u)
    }
}

impl From<LocalNodeUrl> for NodeUrl {
    fn from(u: LocalNodeUrl) -> Self {
        NodeUrl::LocalNode(u)
    }
}

/// A node URL validated without allocating (unless it has percent-escapes): borrowed
/// parts, not yet canonical. [`NodeUrlRef::to_node_url`] gives the canonical [`NodeUrl`].
///
/// This is what the zero-copy typed views of the codec hold; compare owned values for
/// protocol equality (case-insensitive aliases, lower-case hosts).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NodeUrlRef<'a> {
    /// A logical URL: host and decoded (not yet lower-cased) alias.
    Logical {
        /// Host.
        host: AuthorityRef<'a>,
        /// Decoded alias.
        alias: Cow<'a, str>,
    },
    /// A physical URL.
    Physical {
        /// Home server.
        home: AuthorityRef<'a>,
        /// Host of the logical URL.
        host: AuthorityRef<'a>,
        /// Decoded alias.
        alias: Cow<'a, str>,
    },
    /// A local node.
    LocalNode(AuthorityRef<'a>),
    /// Any other node.
    Other {
        /// Host.
        host: AuthorityRef<'a>,
        /// Path as received.
        path: &'a str,
    },
}

impl<'a> NodeUrlRef<'a> {
    /// Validates and classifies an absolute `http://` URL (same rules as [`NodeUrl::parse`]).
    pub fn parse(s: &'a str) -> Result<NodeUrlRef<'a>, UrlError> {
        match fast_node_url(s) {
            Some(fast) => Ok(fast),
            None => NodeUrlRef::parse_general(s),
        }
    }

    /// [`NodeUrlRef::parse`] without the fast path (the reference the fast path must agree
    /// with).
    pub(super) fn parse_general(s: &'a str) -> Result<NodeUrlRef<'a>, UrlError> {
        let (auth, path) = split_http(s)?;
        Ok(match classify_path(path, false)? {
            PathKind::Root => NodeUrlRef::LocalNode(auth),
            PathKind::Aliases(alias) => NodeUrlRef::Logical { host: auth, alias },
            PathKind::Local(host, alias) => NodeUrlRef::Physical {
                home: auth,
                host,
                alias,
            },
            PathKind::Other => NodeUrlRef::Other { host: auth, path },
        })
    }

    /// The canonical, owned URL.
    pub fn to_node_url(&self) -> NodeUrl {
        match self {
            NodeUrlRef::Logical { host, alias } => {
                NodeUrl::Logical(LogicalUrl::build(*host, alias))
            }
            NodeUrlRef::Physical { home, host, alias } => NodeUrl::Physical(PhysicalUrl {
                home: home.canonical(0),
                logical: LogicalUrl::build(*host, alias),
            }),
            NodeUrlRef::LocalNode(auth) => NodeUrl::LocalNode(LocalNodeUrl::from_authority(*auth)),
            NodeUrlRef::Other { host, path } => NodeUrl::Other(OtherUrl {
                host: host.canonical(0),
                path: (*path).to_owned(),
            }),
        }
    }

    /// The decoded alias of a logical or physical URL (not lower-cased: compare with
    /// `eq_ignore_ascii_case`).
    pub fn alias(&self) -> Option<&str> {
        match self {
            NodeUrlRef::Logical { alias, .. } | NodeUrlRef::Physical { alias, .. } => Some(alias),
            NodeUrlRef::LocalNode(_) | NodeUrlRef::Other { .. } => None,
        }
    }
}
