//! The user directory: who the users of the IM domain are, where they live and how they
//! prove who they are (PROTOCOL.md §1.3, §7.2, §8.1).
//!
//! ```text
//!   alias@domain ──► Directory::lookup ──► Option<DirectoryEntry>   (per request, for
//!                                                      an LDAP directory: home/live.rs)
//!                    Directory::all    ──► every entry (start-up registration)
//!
//!   FileDirectory ─── the [[users]] of the configuration (`home` optional)
//!   LdapDirectory ─── an LDAP server (feature `ldap`): the `rvpUser` class of
//!                     contrib/ldap/rvp.schema, or Exchange's msExchIM* attributes
//!   CachedDirectory<D> ─ TTL + negative TTL, bounded, counted; lookups coalesced per
//!                        address, at most max_in_flight at once, timed out; a directory
//!                        outage serves cached users (logged at warn once per outage)
//! ```
//!
//! A [`DirectoryEntry`] is what Exchange kept per IM user in Active Directory (its
//! `msExchIMRecipient` attributes) plus what Digest needs: the address `alias@domain`,
//! whether the user is enabled, its home server, its logical and physical URLs, display
//! name, e-mail and credentials (a password, or HA1s per username form).
//!
//! The backends are chosen by configuration (`[directory] backend`), so the server holds
//! an `Arc<dyn Directory>` ([`Config::open_directory`](crate::config::Config::open_directory)); the trait's methods return boxed futures for that.
//! Everything here is independent of the running server: [`user_directory`] builds the
//! Digest [`UserDirectory`] from entries, and
//! [`DirectoryEntry::digest`] verifies one looked-up user.
//!
//! ```
//! use rvp_server::config::Config;
//! use rvp_server::directory::Directory;
//! use rvp_resolve::Address;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::from_toml_str(
//!     "[server]\ndomain = \"im.example.org\"\nhost_name = \"im0.example.org\"\n\
//!      [[users]]\nalias = \"alice\"\npassword = \"pw\"\n\
//!      [[users]]\nalias = \"bob\"\npassword = \"pw\"\nhome = \"im1.example.org\"\n",
//!     "example",
//! )?;
//! let directory = config.file_directory()?;
//! let bob = directory.lookup(&Address::parse("Bob@im.example.org")?).await?.unwrap();
//! assert!(!bob.is_homed_on("im0.example.org"));
//! assert_eq!(
//!     bob.physical_url_on("im0.example.org").to_string(),
//!     "http://im1.example.org/instmsg/local/im.example.org/instmsg/aliases/bob"
//! );
//! assert!(directory.lookup(&Address::parse("carol@im.example.org")?).await?.is_none());
//! # Ok(()) }
//! ```

pub mod cache;
pub mod config;
pub mod file;
#[cfg(feature = "ldap")]
#[cfg_attr(docsrs, doc(cfg(feature = "ldap")))]
pub mod ldap;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rvp_presence::{DirectoryProperties, NodeKey};
use rvp_proto::url::{AuthorityRef, LogicalUrl, PhysicalUrl, canonical_alias};
use rvp_resolve::Address;

use crate::auth::UserDirectory;
use crate::auth::digest::{DigestAccount, DigestUsers, Ha1};

pub use cache::{
    CacheConfig, CacheStats, CachedDirectory, DEFAULT_LOOKUP_TIMEOUT, DEFAULT_MAX_IN_FLIGHT,
};
pub use config::{AttributeMap, Backend, DirectoryConfig, LdapConfig, Secret};
pub use file::{FileDirectory, UserConfig};
#[cfg(feature = "ldap")]
#[cfg_attr(docsrs, doc(cfg(feature = "ldap")))]
pub use ldap::LdapDirectory;

/// A boxed future that can cross threads: what [`Directory`]'s methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A source of users.
///
/// Implementations answer for whatever addresses they hold; the caller keeps to its own
/// IM domain. A lookup that cannot be answered (the directory is down, an entry is
/// broken) is an error, never `Ok(None)`: `None` means "no such user" and may be cached.
pub trait Directory: fmt::Debug + Send + Sync {
    /// The user `address` names (alias compared ASCII-case-insensitively, domain as DNS
    /// names are), or `None` when there is none.
    fn lookup<'a>(
        &'a self,
        address: &'a Address,
    ) -> BoxFuture<'a, Result<Option<DirectoryEntry>, DirectoryError>>;

    /// Every user, for start-up registration and reloads. Bounded: a directory holding
    /// more than its limit answers [`DirectoryError::TooMany`], never a shortened list.
    /// Entries that cannot be read are left out (and logged).
    fn all(&self) -> BoxFuture<'_, Result<Vec<DirectoryEntry>, DirectoryError>>;

    /// What this directory is, for logs (`file (3 users)`, `ldap://host/ base ...`).
    fn describe(&self) -> String;

    /// The cache's counters, when this directory is cached ([`CachedDirectory`]).
    fn cache_stats(&self) -> Option<CacheStats> {
        None
    }
}

impl<D: Directory + ?Sized> Directory for Arc<D> {
    fn lookup<'a>(
        &'a self,
        address: &'a Address,
    ) -> BoxFuture<'a, Result<Option<DirectoryEntry>, DirectoryError>> {
        (**self).lookup(address)
    }

    fn all(&self) -> BoxFuture<'_, Result<Vec<DirectoryEntry>, DirectoryError>> {
        (**self).all()
    }

    fn describe(&self) -> String {
        (**self).describe()
    }

    fn cache_stats(&self) -> Option<CacheStats> {
        (**self).cache_stats()
    }
}

impl<D: Directory + ?Sized> Directory for Box<D> {
    fn lookup<'a>(
        &'a self,
        address: &'a Address,
    ) -> BoxFuture<'a, Result<Option<DirectoryEntry>, DirectoryError>> {
        (**self).lookup(address)
    }

    fn all(&self) -> BoxFuture<'_, Result<Vec<DirectoryEntry>, DirectoryError>> {
        (**self).all()
    }

    fn describe(&self) -> String {
        (**self).describe()
    }

    fn cache_stats(&self) -> Option<CacheStats> {
        (**self).cache_stats()
    }
}

/// Why the directory could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// The directory could not be reached or did not answer in time (connection refused
    /// or lost, time-out).
    #[error("directory {directory} cannot be reached: {reason}")]
    Unavailable {
        /// Which directory ([`Directory::describe`]).
        directory: String,
        /// What failed.
        reason: String,
    },
    /// The directory answered with an error (bind refused, no such base DN, busy...).
    #[error("directory {directory} refused the request: {reason}")]
    Server {
        /// Which directory.
        directory: String,
        /// Its answer.
        reason: String,
    },
    /// An entry cannot be used (a malformed URL, HA1 or flag; a value beyond its limit).
    #[error("directory entry {entry}: attribute {attribute}: {reason}")]
    InvalidEntry {
        /// The entry: its DN, or `users[i]` in the configuration.
        entry: String,
        /// The attribute (or configuration key) at fault.
        attribute: String,
        /// What is wrong.
        reason: String,
    },
    /// More than one entry answers for one address.
    #[error("{count} directory entries match {address}; an address must name one user")]
    Ambiguous {
        /// The address looked up.
        address: String,
        /// How many entries matched (at least 2; the search stops there).
        count: usize,
    },
    /// A listing found more users than allowed.
    #[error(
        "directory {directory} holds more than {limit} users; raise directory.ldap.max_results \
         (and the server's own size limit) if that is right"
    )]
    TooMany {
        /// Which directory.
        directory: String,
        /// The limit.
        limit: usize,
    },
    /// The directory's configuration cannot be used (an unreadable password file...).
    #[error("directory configuration: {0}")]
    Config(String),
    /// Too many lookups are in flight already ([`CacheConfig::max_in_flight`]): not
    /// asked. Not an outage, and nothing is cached; the caller may try again.
    #[error("directory {directory}: {limit} lookups already in flight; try again")]
    Busy {
        /// Which directory.
        directory: String,
        /// The limit.
        limit: usize,
    },
}

impl DirectoryError {
    /// Whether the error is the directory's state rather than the answer's: the cache then
    /// serves what it has ([`DirectoryError::Unavailable`], [`DirectoryError::Server`]).
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            DirectoryError::Unavailable { .. } | DirectoryError::Server { .. }
        )
    }

    fn invalid(entry: &str, attribute: &str, reason: impl Into<String>) -> DirectoryError {
        DirectoryError::InvalidEntry {
            entry: entry.to_owned(),
            attribute: attribute.to_owned(),
            reason: reason.into(),
        }
    }
}

/// How a user proves who it is (HTTP Digest, PROTOCOL.md §8.1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// None: the user cannot authenticate (it can still be watched and messaged).
    None,
    /// The password: HA1 is computed for whatever username form and realm arrive.
    Password(Secret),
    /// Digest HA1s, one per username form (and realm).
    Ha1(Vec<DigestHa1>),
}

/// One stored HA1 = MD5(`username:realm:password`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DigestHa1 {
    /// The username form it was computed over, exactly as the client sends it; `None`:
    /// the entry's alias as written.
    pub username: Option<Box<str>>,
    /// The realm it was computed in; `None`: the server's.
    pub realm: Option<Box<str>>,
    /// The hash.
    pub ha1: Ha1,
}

impl DigestHa1 {
    /// An HA1 over the alias in the server's realm.
    pub fn new(ha1: Ha1) -> DigestHa1 {
        DigestHa1 {
            username: None,
            realm: None,
            ha1,
        }
    }

    /// Parses a stored value: `<32 hex digits>` (over the alias, in the server's realm)
    /// or `<username>:<realm>:<32 hex digits>` (a line of an htdigest file).
    pub fn parse(value: &str) -> Result<DigestHa1, String> {
        let value = value.trim();
        let (prefix, hex) = match value.rsplit_once(':') {
            Some((p, h)) => (Some(p), h),
            None => (None, value),
        };
        let ha1 = Ha1::from_hex(hex)
            .filter(|_| hex.len() == 32)
            .ok_or_else(|| {
                "not an HA1: expected 32 hex digits, or username:realm:HA1".to_owned()
            })?;
        let Some(prefix) = prefix else {
            return Ok(DigestHa1::new(ha1));
        };
        let (username, realm) = prefix
            .split_once(':')
            .ok_or_else(|| "expected username:realm:HA1 (two ':')".to_owned())?;
        if username.is_empty() {
            return Err("empty username before username:realm:HA1".into());
        }
        Ok(DigestHa1 {
            username: Some(username.into()),
            realm: Some(realm.into()),
            ha1,
        })
    }
}

/// One user of the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DirectoryEntry {
    /// `alias@domain`, as the directory writes it.
    pub address: Address,
    /// Whether the user is served at all: a disabled user cannot authenticate and is not
    /// registered.
    pub enabled: bool,
    /// The home server's host (`host` or `host:port`); `None`: the server that asks.
    pub home: Option<String>,
    /// `http://<domain>/instmsg/aliases/<alias>`: the principal's identity.
    pub logical_url: LogicalUrl,
    /// The node on its home server, when the directory names it (else
    /// [`DirectoryEntry::physical_url_on`] builds it).
    pub physical_url: Option<PhysicalUrl>,
    /// `d:displayname`.
    pub display_name: Option<String>,
    /// `r:email`.
    pub email: Option<String>,
    /// How the user authenticates.
    pub credentials: Credentials,
    /// Where the entry comes from, for messages: an LDAP DN, or `users[i]`.
    pub origin: String,
}

impl DirectoryEntry {
    /// An enabled entry for `address` with its logical URL and nothing else.
    pub fn new(address: Address, origin: impl Into<String>) -> Result<Self, DirectoryError> {
        let origin = origin.into();
        let logical_url = address
            .logical_url()
            .map_err(|e| DirectoryError::invalid(&origin, "address", e.to_string()))?;
        Ok(DirectoryEntry {
            address,
            enabled: true,
            home: None,
            logical_url,
            physical_url: None,
            display_name: None,
            email: None,
            credentials: Credentials::None,
            origin,
        })
    }

    /// The canonical alias (decoded, ASCII-lower-cased): the key of the user's node.
    pub fn alias(&self) -> &str {
        self.logical_url.alias()
    }

    /// Whether the user lives on the server whose host is `host` (no `home`, or the same
    /// host; `host:80` is `host`).
    pub fn is_homed_on(&self, host: &str) -> bool {
        match &self.home {
            None => true,
            Some(home) => canonical_host(home) == canonical_host(host),
        }
    }

    /// The physical URL: the directory's, else built on the home server (`this_host` when
    /// the entry names none).
    pub fn physical_url_on(&self, this_host: &str) -> PhysicalUrl {
        self.physical_url.clone().unwrap_or_else(|| {
            self.logical_url
                .to_physical(self.home.as_deref().unwrap_or(this_host))
        })
    }

    /// The display name, else the alias as written.
    pub fn display_name_or_alias(&self) -> &str {
        self.display_name
            .as_deref()
            .unwrap_or_else(|| self.address.alias())
    }

    /// The e-mail, else `alias@domain`.
    pub fn email_or_address(&self) -> String {
        self.email
            .clone()
            .unwrap_or_else(|| self.address.to_string())
    }

    /// The properties the presence engine shows (`d:displayname`, `r:email`).
    pub fn directory_properties(&self) -> DirectoryProperties {
        DirectoryProperties::new(self.display_name_or_alias(), &self.email_or_address())
    }

    /// The presence engine's key of the user's node (domain and alias).
    pub fn node_key(&self) -> Option<NodeKey> {
        NodeKey::new(self.address.domain(), self.address.alias())
    }

    /// HA1 for `username` (exactly as the client sent it) in `realm`: computed from the
    /// password, or the stored one for that username form and realm. `None` when the
    /// user has no credentials for it. Does not check that `username` names this user
    /// ([`DirectoryEntry::digest`] does).
    pub fn ha1_for(&self, username: &str, realm: &str) -> Option<Ha1> {
        match &self.credentials {
            Credentials::None => None,
            Credentials::Password(p) => Some(Ha1::from_password(username, realm, p.expose())),
            Credentials::Ha1(list) => list
                .iter()
                .find(|d| {
                    d.username.as_deref().unwrap_or(self.address.alias()) == username
                        && d.realm.as_deref().is_none_or(|r| r == realm)
                })
                .map(|d| d.ha1.clone()),
        }
    }

    /// This one user as Digest verification's account source: it answers a username that
    /// names this user (`alias`, `DOMAIN\alias`, `DOMAIN/alias`, alias compared
    /// ASCII-case-insensitively) while the user is enabled, with its HA1 for that exact
    /// username.
    pub fn digest(&self) -> EntryDigest<'_> {
        EntryDigest { entry: self }
    }
}

/// One [`DirectoryEntry`] as a [`DigestUsers`]: [`DirectoryEntry::digest`].
#[derive(Debug, Clone, Copy)]
pub struct EntryDigest<'a> {
    entry: &'a DirectoryEntry,
}

impl DigestUsers for EntryDigest<'_> {
    fn lookup(&self, username: &str, realm: &str) -> Option<DigestAccount> {
        if !self.entry.enabled {
            return None;
        }
        let local = username_alias(username);
        if canonical_alias(local).ok().as_deref() != Some(self.entry.alias()) {
            return None;
        }
        Some(DigestAccount {
            principal: self.entry.logical_url.clone(),
            ha1: self.entry.ha1_for(username, realm)?,
        })
    }
}

/// The alias part of a Digest username: `alice`, `DOMAIN\alice`, `DOMAIN/alice`.
pub fn username_alias(username: &str) -> &str {
    username
        .rsplit_once(['\\', '/'])
        .map_or(username, |(_, alias)| alias)
}

/// The Digest user directory of the users served on `this_host` in `im_domain`: enabled
/// entries of that domain homed here (users homed on another server authenticate
/// there). Passwords stay passwords; stored HA1s of another realm than `realm` are left
/// out (they could never verify).
pub fn user_directory<'a>(
    im_domain: &str,
    realm: &str,
    this_host: &str,
    entries: impl IntoIterator<Item = &'a DirectoryEntry>,
) -> Result<UserDirectory, DirectoryError> {
    let mut users = UserDirectory::new(im_domain)
        .map_err(|e| DirectoryError::Config(format!("IM domain: {e}")))?;
    for e in entries {
        if !e.enabled
            || !e.is_homed_on(this_host)
            || !e.address.domain().eq_ignore_ascii_case(im_domain)
        {
            continue;
        }
        let alias = e.address.alias();
        let refused = |err: crate::auth::AuthError| {
            DirectoryError::invalid(&e.origin, "credentials", err.to_string())
        };
        match &e.credentials {
            Credentials::None => {}
            Credentials::Password(p) => users.add_password(alias, p.expose()).map_err(refused)?,
            Credentials::Ha1(list) => {
                for d in list
                    .iter()
                    .filter(|d| d.realm.as_deref().is_none_or(|r| r == realm))
                {
                    let username = d.username.as_deref().unwrap_or(alias);
                    users
                        .add_ha1(alias, username, d.ha1.clone())
                        .map_err(refused)?;
                }
            }
        }
    }
    Ok(users)
}

/// `host` or `host:port` canonical (lower case, no `:80`), or lower-cased as is.
fn canonical_host(host: &str) -> String {
    AuthorityRef::parse(host).map_or_else(|_| host.to_ascii_lowercase(), |a| a.to_canonical())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::auth::digest::{DigestConfig, DigestVerifier, NonceSecret};
    use rvp_proto::digest::{QopAuth, compute_response};

    fn entry(alias: &str) -> DirectoryEntry {
        DirectoryEntry::new(Address::new(alias, "im.example.org").unwrap(), "test").unwrap()
    }

    #[test]
    fn ha1_values_parse() {
        let hex = "0123456789abcdef0123456789ABCDEF";
        let d = DigestHa1::parse(hex).unwrap();
        assert_eq!((d.username, d.realm), (None, None));
        let d = DigestHa1::parse(&format!("CORP\\alice:im.example.org:{hex}")).unwrap();
        assert_eq!(d.username.as_deref(), Some("CORP\\alice"));
        assert_eq!(d.realm.as_deref(), Some("im.example.org"));
        for bad in [
            "",
            "xyz",
            "0123456789abcdef",
            &format!("{hex}00"),
            &format!("alice:{hex}"),
            &format!(":realm:{hex}"),
        ] {
            assert!(DigestHa1::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ha1_for_username_forms_and_realms() {
        let mut e = entry("Alice");
        e.credentials = Credentials::Password(Secret::new("pw"));
        assert_eq!(
            e.ha1_for("CORP\\alice", "r"),
            Some(Ha1::from_password("CORP\\alice", "r", "pw"))
        );
        let over_alias = Ha1::from_password("Alice", "r", "pw");
        let over_corp = Ha1::from_password("CORP\\Alice", "r", "pw");
        e.credentials = Credentials::Ha1(vec![
            DigestHa1::new(over_alias.clone()),
            DigestHa1::parse(&format!("CORP\\Alice:r:{}", over_corp.to_hex())).unwrap(),
        ]);
        assert_eq!(e.ha1_for("Alice", "r"), Some(over_alias.clone()));
        assert_eq!(e.ha1_for("Alice", "other realm"), Some(over_alias));
        assert_eq!(e.ha1_for("alice", "r"), None, "HA1 covers the exact bytes");
        assert_eq!(e.ha1_for("CORP\\Alice", "r"), Some(over_corp));
        assert_eq!(e.ha1_for("CORP\\Alice", "other realm"), None);
        e.credentials = Credentials::None;
        assert_eq!(e.ha1_for("Alice", "r"), None);
    }

    #[test]
    fn digest_verifies_one_entry_and_never_a_disabled_one() {
        let now = std::time::Instant::now();
        let v = DigestVerifier::new(
            DigestConfig::new("im.example.org"),
            NonceSecret::from_bytes([7; 32]),
            now,
        );
        let mut e = entry("alice");
        e.credentials = Credentials::Password(Secret::new("wonderland"));
        let answer = |user: &str, nc: &str| {
            let nonce = v.challenge(now, false).nonce().to_owned();
            let ha1 = Ha1::from_password(user, "im.example.org", "wonderland");
            let qop = QopAuth {
                nc,
                cnonce: "c0ffee",
            };
            let response = compute_response(&ha1, "SUBSCRIBE", "/x", &nonce, Some(qop));
            format!(
                "Digest username=\"{user}\", realm=\"im.example.org\", nonce=\"{nonce}\", \
                 uri=\"/x\", qop=auth, nc={nc}, cnonce=\"c0ffee\", response=\"{response}\""
            )
        };
        let ok = v
            .verify_header(
                now,
                &e.digest(),
                "SUBSCRIBE",
                "/x",
                answer("CORP/alice", "00000001").as_bytes(),
            )
            .unwrap();
        assert_eq!(ok.principal, e.logical_url);
        assert!(
            v.verify_header(
                now,
                &e.digest(),
                "SUBSCRIBE",
                "/x",
                answer("bob", "00000001").as_bytes()
            )
            .is_err()
        );
        e.enabled = false;
        assert!(
            v.verify_header(
                now,
                &e.digest(),
                "SUBSCRIBE",
                "/x",
                answer("alice", "00000001").as_bytes()
            )
            .is_err()
        );
    }

    #[test]
    fn homes_and_urls() {
        let mut e = entry("bob");
        assert!(e.is_homed_on("anything"));
        assert_eq!(
            e.physical_url_on("im0.example.org").to_string(),
            "http://im0.example.org/instmsg/local/im.example.org/instmsg/aliases/bob"
        );
        e.home = Some("IM1.example.org:80".into());
        assert!(e.is_homed_on("im1.example.org"));
        assert!(!e.is_homed_on("im1.example.org:8080"));
        assert!(!e.is_homed_on("im0.example.org"));
        assert_eq!(
            e.physical_url_on("im0.example.org").home(),
            "im1.example.org"
        );
        assert_eq!(e.display_name_or_alias(), "bob");
        assert_eq!(e.email_or_address(), "bob@im.example.org");
        assert_eq!(e.node_key(), NodeKey::new("im.example.org", "bob"),);
    }

    #[test]
    fn user_directory_keeps_enabled_users_homed_here() {
        let mut a = entry("alice");
        a.credentials = Credentials::Password(Secret::new("pw"));
        let mut b = entry("bob");
        b.home = Some("im1.example.org".into());
        b.credentials = Credentials::Password(Secret::new("pw"));
        let mut c = entry("carol");
        c.enabled = false;
        c.credentials = Credentials::Password(Secret::new("pw"));
        let mut d = entry("dave");
        d.credentials = Credentials::Ha1(vec![
            DigestHa1::parse(&format!("dave:other:{}", "0".repeat(32))).unwrap(),
            DigestHa1::new(Ha1::from_password("dave", "im.example.org", "pw")),
        ]);
        let users = user_directory(
            "im.example.org",
            "im.example.org",
            "im0.example.org",
            [&a, &b, &c, &d],
        )
        .unwrap();
        assert_eq!(users.len(), 2);
        assert!(users.lookup("alice", "im.example.org").is_some());
        assert!(users.lookup("bob", "im.example.org").is_none());
        assert!(users.lookup("carol", "im.example.org").is_none());
        assert!(users.lookup("dave", "im.example.org").is_some());
    }
}
