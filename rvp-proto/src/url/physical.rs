//! Physical URLs: `http://<home>/instmsg/local/<host>/instmsg/aliases/<alias>`
//! (PROTOCOL.md §7.2).

use std::fmt;
use std::str::FromStr;

use super::logical::LogicalUrl;
use super::node::NodeUrl;
use super::syntax::{parse_authority, write_encoded};
use super::{ALIASES_PREFIX, LOCAL_PREFIX, UrlError};

/// The physical URL of a principal's node on its home server:
/// `http://<home>/instmsg/local/<host>/instmsg/aliases/<alias>` (PROTOCOL.md §7.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhysicalUrl {
    pub(super) home: String,
    pub(super) logical: LogicalUrl,
}

impl PhysicalUrl {
    /// Builds a physical URL, validating the home host.
    pub fn new(home_host: &str, logical: LogicalUrl) -> Result<Self, UrlError> {
        let (home, _) = parse_authority(home_host)?;
        Ok(PhysicalUrl { home, logical })
    }

    /// The home server's canonical host (`host` or `host:port`).
    pub fn home(&self) -> &str {
        &self.home
    }

    /// The logical URL this physical URL stands for.
    pub fn logical(&self) -> &LogicalUrl {
        &self.logical
    }

    /// Consumes `self`, returning the logical URL.
    pub fn into_logical(self) -> LogicalUrl {
        self.logical
    }

    /// The request path: `/instmsg/local/<host>/instmsg/aliases/<alias>`.
    pub fn path(&self) -> String {
        format!(
            "{LOCAL_PREFIX}{}{}",
            self.logical.host(),
            self.logical.path()
        )
    }
}

impl fmt::Display for PhysicalUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "http://{}{LOCAL_PREFIX}{}{ALIASES_PREFIX}",
            self.home,
            self.logical.host()
        )?;
        write_encoded(f, self.logical.alias())
    }
}

impl FromStr for PhysicalUrl {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Self, UrlError> {
        match NodeUrl::parse(s)? {
            NodeUrl::Physical(p) => Ok(p),
            _ => Err(UrlError::NotPhysical(s.to_owned())),
        }
    }
}
