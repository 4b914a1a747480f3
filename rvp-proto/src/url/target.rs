//! Request targets (PROTOCOL.md §1.2, §7.2): the node a request is for, from its
//! request-URI and `Host` header.

use std::borrow::Cow;

use super::fast::fast_alias;
use super::logical::LogicalUrl;
use super::syntax::{
    AuthorityRef, PathKind, check_len, classify_path, split_http, validate_authority,
};
use super::{ALIASES_PREFIX, UrlError};

/// What a request-target names, independent of which host it was addressed to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NodePath {
    /// `/instmsg/aliases/<alias>` (or the documentation form `/aliases/<alias>`, ref §1.2):
    /// a principal hosted (or routed) here, by canonical alias. The IM domain is the
    /// server's own; it is *not* necessarily the `Host` header (a home server receives
    /// logical paths with its own host name, ref §1.2).
    Alias(String),
    /// `/instmsg/local/<host>/instmsg/aliases/<alias>`: a physical path, naming the logical
    /// URL explicitly.
    Local(LogicalUrl),
    /// `/` (or an absolute URL without path): the local node of a client.
    Root,
    /// Any other valid path (group and list nodes...), as received.
    Other(String),
}

impl NodePath {
    /// The canonical alias named by an alias or physical path.
    pub fn alias(&self) -> Option<&str> {
        match self {
            NodePath::Alias(a) => Some(a),
            NodePath::Local(l) => Some(l.alias()),
            NodePath::Root | NodePath::Other(_) => None,
        }
    }
}

/// A parsed request-target: the node path plus the authority it was addressed to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestTarget {
    /// Canonical authority (`host` or `host:port`): from an absolute-form target, else from
    /// the `Host` header, else `None`.
    pub authority: Option<String>,
    /// Whether the target was in absolute-form (`http://host/path`).
    pub absolute: bool,
    /// The node path.
    pub path: NodePath,
}

impl RequestTarget {
    /// The logical URL named by this target, using the target's own authority for alias
    /// paths (use [`NodePath::alias`] and your own IM domain when the authority is the
    /// home server's name).
    pub fn logical(&self) -> Option<LogicalUrl> {
        match &self.path {
            NodePath::Alias(a) => {
                let host = self.authority.as_deref()?;
                let mut data = String::with_capacity(host.len() + a.len());
                data.push_str(host);
                Some(LogicalUrl::from_canonical_host(data, a))
            }
            NodePath::Local(l) => Some(l.clone()),
            NodePath::Root | NodePath::Other(_) => None,
        }
    }
}

/// The path of a request-target, validated without allocating (unless escaped).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NodePathRef<'a> {
    /// An alias path; the alias is decoded but not yet lower-cased.
    Alias(Cow<'a, str>),
    /// A physical path: logical host and decoded alias.
    Local(AuthorityRef<'a>, Cow<'a, str>),
    /// `/`.
    Root,
    /// Any other valid path, as received.
    Other(&'a str),
}

/// A request-target validated without allocating: see [`parse_target_ref`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestTargetRef<'a> {
    /// Authority from an absolute-form target, else from the `Host` header.
    pub authority: Option<AuthorityRef<'a>>,
    /// Whether the target was in absolute-form.
    pub absolute: bool,
    /// The node path.
    pub path: NodePathRef<'a>,
}

impl RequestTargetRef<'_> {
    /// The canonical, owned target.
    pub fn to_request_target(&self) -> RequestTarget {
        let path = match &self.path {
            NodePathRef::Alias(a) => NodePath::Alias(a.to_ascii_lowercase()),
            NodePathRef::Local(host, alias) => NodePath::Local(LogicalUrl::build(*host, alias)),
            NodePathRef::Root => NodePath::Root,
            NodePathRef::Other(p) => NodePath::Other((*p).to_owned()),
        };
        RequestTarget {
            authority: self.authority.map(|a| a.canonical(0)),
            absolute: self.absolute,
            path,
        }
    }

    /// The decoded alias named by an alias or physical path (not lower-cased: compare
    /// with `eq_ignore_ascii_case`).
    pub fn alias(&self) -> Option<&str> {
        match &self.path {
            NodePathRef::Alias(a) | NodePathRef::Local(_, a) => Some(a),
            NodePathRef::Root | NodePathRef::Other(_) => None,
        }
    }
}

/// Parses a request-target as a home server, router or client listener receives it.
///
/// Accepts origin-form (`/instmsg/aliases/x`, `/instmsg/local/<host>/instmsg/aliases/x`,
/// `/`, `/aliases/x`, other paths) and absolute-form (`http://host/...`). For origin-form
/// the authority is taken from `host_header` (validated) when given; in absolute-form the
/// URL's own authority wins (HTTP/1.1). Rejects `*`, authority-form, queries, fragments,
/// dot segments and invalid escapes.
///
/// ```
/// use rvp_proto::url::{parse_target, NodePath};
///
/// let t = parse_target("/instmsg/aliases/BruceB", Some("imhome1.acme.com"))?;
/// assert_eq!(t.path, NodePath::Alias("bruceb".into()));
/// assert_eq!(t.authority.as_deref(), Some("imhome1.acme.com"));
/// assert_eq!(parse_target("/", None)?.path, NodePath::Root);
/// # Ok::<(), rvp_proto::url::UrlError>(())
/// ```
pub fn parse_target(target: &str, host_header: Option<&str>) -> Result<RequestTarget, UrlError> {
    Ok(parse_target_ref(target, host_header)?.to_request_target())
}

/// [`parse_target`] without allocating (unless the path has percent-escapes).
pub fn parse_target_ref<'a>(
    target: &'a str,
    host_header: Option<&'a str>,
) -> Result<RequestTargetRef<'a>, UrlError> {
    check_len(target)?;
    if let Some(alias) = target.strip_prefix(ALIASES_PREFIX).and_then(fast_alias) {
        // Fast path for the common origin-form alias path (same result as below).
        let authority = match host_header {
            Some(h) => Some(validate_authority(h.trim())?),
            None => None,
        };
        return Ok(RequestTargetRef {
            authority,
            absolute: false,
            path: NodePathRef::Alias(Cow::Borrowed(alias)),
        });
    }
    let (authority, absolute, path) = if target.starts_with('/') {
        let auth = match host_header {
            Some(h) => Some(validate_authority(h.trim())?),
            None => None,
        };
        (auth, false, target)
    } else if target
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
    {
        let (auth, path) = split_http(target)?;
        (Some(auth), true, path)
    } else {
        return Err(UrlError::InvalidTarget(target.to_owned()));
    };
    let path = match classify_path(path, true)? {
        PathKind::Root => NodePathRef::Root,
        PathKind::Aliases(alias) => NodePathRef::Alias(alias),
        PathKind::Local(host, alias) => NodePathRef::Local(host, alias),
        PathKind::Other => NodePathRef::Other(path),
    };
    Ok(RequestTargetRef {
        authority,
        absolute,
        path,
    })
}
