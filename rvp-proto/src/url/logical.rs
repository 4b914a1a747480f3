//! Logical URLs: `http://<host>/instmsg/aliases/<alias>` (PROTOCOL.md §1.2).

use std::fmt;
use std::str::FromStr;

use super::node::NodeUrl;
use super::physical::PhysicalUrl;
use super::syntax::{
    AuthorityRef, check_alias, parse_authority, validate_authority, write_encoded,
};
use super::{ALIASES_PREFIX, UrlError};

/// The logical URL of a principal: `http://<host>/instmsg/aliases/<alias>`.
///
/// This is the principal's identity everywhere (`RVP-From-Principal`, ACLs, `Call-Back` of
/// property subscriptions, `d:href`). The host is lower-case and carries `:port` only when
/// the port is not 80; the alias is stored decoded and ASCII-lower-cased, so equality is
/// the protocol's case-insensitive comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogicalUrl {
    /// Canonical host immediately followed by the canonical alias (one allocation).
    data: String,
    /// Where the alias starts in `data`.
    split: usize,
}

impl LogicalUrl {
    /// Builds a logical URL from a host (`host` or `host:port`) and a **decoded** alias.
    pub fn new(host: &str, alias: &str) -> Result<Self, UrlError> {
        let auth = validate_authority(host)?;
        check_alias(alias)?;
        Ok(LogicalUrl::build(auth, alias))
    }

    /// The logical URL of another alias on this URL's host: what [`LogicalUrl::new`]
    /// gives for `(self.host(), alias)`, without validating the host again (a server
    /// naming many principals of its one domain).
    ///
    /// ```
    /// use rvp_proto::url::LogicalUrl;
    /// let alice = LogicalUrl::new("IM.Example.com", "alice")?;
    /// assert_eq!(alice.with_alias("Bob")?, LogicalUrl::new("im.example.com", "bob")?);
    /// assert!(alice.with_alias("a/b").is_err());
    /// # Ok::<(), rvp_proto::url::UrlError>(())
    /// ```
    pub fn with_alias(&self, alias: &str) -> Result<LogicalUrl, UrlError> {
        check_alias(alias)?;
        let mut data = String::with_capacity(self.split + alias.len());
        data.push_str(self.host());
        Ok(LogicalUrl::from_canonical_host(data, alias))
    }

    /// Builds from a validated authority and a checked, decoded alias.
    pub(super) fn build(auth: AuthorityRef<'_>, alias: &str) -> LogicalUrl {
        LogicalUrl::from_canonical_host(auth.canonical(alias.len()), alias)
    }

    /// Builds from a canonical host (as a string to append to) and a checked alias.
    pub(super) fn from_canonical_host(mut data: String, alias: &str) -> LogicalUrl {
        let split = data.len();
        data.push_str(alias);
        data[split..].make_ascii_lowercase();
        LogicalUrl { data, split }
    }

    /// The canonical host (`host` or `host:port`).
    pub fn host(&self) -> &str {
        &self.data[..self.split]
    }

    /// The canonical (decoded, ASCII-lower-cased) alias.
    pub fn alias(&self) -> &str {
        &self.data[self.split..]
    }

    /// The request path of this node: `/instmsg/aliases/<encoded alias>`.
    pub fn path(&self) -> String {
        let mut s = String::with_capacity(ALIASES_PREFIX.len() + self.alias().len());
        s.push_str(ALIASES_PREFIX);
        let _ = write_encoded(&mut s, self.alias());
        s
    }

    /// The physical URL of this node on home server `home_host` (PROTOCOL.md §7.2).
    ///
    /// `home_host` is configuration and is only lower-cased (and stripped of `:80`);
    /// use [`PhysicalUrl::new`] to validate an untrusted home host.
    pub fn to_physical(&self, home_host: &str) -> PhysicalUrl {
        let home = match parse_authority(home_host) {
            Ok((h, _)) => h,
            Err(_) => home_host.to_ascii_lowercase(),
        };
        PhysicalUrl {
            home,
            logical: self.clone(),
        }
    }
}

impl fmt::Display for LogicalUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Pieces, not `write!`: a principal URL is written per request (callers, logs).
        f.write_str("http://")?;
        f.write_str(self.host())?;
        f.write_str(ALIASES_PREFIX)?;
        write_encoded(f, self.alias())
    }
}

impl FromStr for LogicalUrl {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Self, UrlError> {
        match NodeUrl::parse(s)? {
            NodeUrl::Logical(l) => Ok(l),
            _ => Err(UrlError::NotLogical(s.to_owned())),
        }
    }
}
