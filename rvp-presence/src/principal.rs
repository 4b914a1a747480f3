//! The directory of principals (nodes) the embedder registers, and how URLs map onto them
//! (PROTOCOL.md §1.2, §1.3, §4.4).
//!
//! A principal is named by its logical host (`im.example.com`) and alias (`stevem`); both
//! are compared case-insensitively (PROTOCOL.md §1.2). Its node is reachable as the logical
//! URL `http://<host>/instmsg/aliases/<alias>`, as the physical URL
//! `http://<home>/instmsg/local/<host>/instmsg/aliases/<alias>`, and (documentation
//! artefact, §1.2) as `/aliases/<alias>`.
//!
//! The method layer ([`crate::method`]) maps `rvp_proto::url::RequestTarget` onto a
//! principal with [`Directory::lookup_alias`] and [`Directory::lookup`];
//! [`Directory::lookup_url`] and [`Directory::lookup_path`] accept plain strings.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use rvp_proto::url::NodeUrlRef;

/// Index of a registered principal inside one engine (dense, never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrincipalId(pub(crate) u32);

impl PrincipalId {
    /// The index as a number (for logs).
    pub fn index(self) -> u32 {
        self.0
    }
}

/// The canonical name of a principal node: lower-cased logical host and alias.
#[derive(Clone)]
pub struct NodeKey {
    // Shared, not boxed: a key is cloned into every caller, subscription and answer that
    // names its principal, and a clone is then a reference count, not an allocation. Host
    // and alias live in one allocation: `parts[..split]` and `parts[split..]`.
    parts: Arc<str>,
    split: usize,
}

impl NodeKey {
    /// A key from a logical host (a port, if any, is dropped) and an alias. Returns `None`
    /// when either is empty or contains `/`, whitespace or a control character.
    pub fn new(host: &str, alias: &str) -> Option<NodeKey> {
        let (host, alias) = key_parts(host, alias)?;
        let len = host.len() + alias.len();
        // Lower-cased on the stack and shared in one allocation (a `String` first, then
        // the `Arc`, would be two).
        let mut stack = [0u8; 128];
        let parts: Arc<str> = match stack.get_mut(..len) {
            Some(both) => {
                both[..host.len()].copy_from_slice(host.as_bytes());
                both[host.len()..].copy_from_slice(alias.as_bytes());
                both.make_ascii_lowercase();
                // ASCII lower-casing keeps UTF-8 valid.
                Arc::from(std::str::from_utf8(both).ok()?)
            }
            None => Arc::from((host.to_owned() + alias).to_ascii_lowercase()),
        };
        Some(NodeKey {
            parts,
            split: host.len(),
        })
    }

    /// Whether [`NodeKey::new`]`(host, alias)` would be this key, without building it.
    fn is_parts(&self, host: &str, alias: &str) -> bool {
        // `self` is lower-cased already: ASCII-case-insensitive equality is equality with
        // the lower-cased parts.
        key_parts(host, alias).is_some_and(|(h, a)| {
            self.host().eq_ignore_ascii_case(h) && self.alias().eq_ignore_ascii_case(a)
        })
    }

    /// The logical host, lower-cased.
    pub fn host(&self) -> &str {
        &self.parts[..self.split]
    }

    /// The alias, lower-cased.
    pub fn alias(&self) -> &str {
        &self.parts[self.split..]
    }

    /// The logical URL `http://<host>/instmsg/aliases/<alias>`.
    pub fn logical_url(&self) -> String {
        format!("http://{}/instmsg/aliases/{}", self.host(), self.alias())
    }

    /// The physical URL of this node on the home server `home_host`.
    pub fn physical_url(&self, home_host: &str) -> String {
        format!(
            "http://{home_host}/instmsg/local/{}/instmsg/aliases/{}",
            self.host(),
            self.alias()
        )
    }
}

// Equality, order and hash are those of the pair (host, alias), as when the two were
// separate fields; `Hash` must stay that of `dyn KeyParts` (the borrowed lookup).
impl PartialEq for NodeKey {
    fn eq(&self, other: &NodeKey) -> bool {
        self.split == other.split && self.parts == other.parts
    }
}

impl Eq for NodeKey {}

impl Hash for NodeKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn KeyParts).hash(state);
    }
}

impl PartialOrd for NodeKey {
    fn partial_cmp(&self, other: &NodeKey) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for NodeKey {
    fn cmp(&self, other: &NodeKey) -> std::cmp::Ordering {
        (self.host(), self.alias()).cmp(&(other.host(), other.alias()))
    }
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKey")
            .field("host", &self.host())
            .field("alias", &self.alias())
            .finish()
    }
}

/// The host (port dropped) and alias a key is made of, trimmed; `None` when either is
/// empty or contains `/`, whitespace or a control character.
fn key_parts<'a>(host: &'a str, alias: &'a str) -> Option<(&'a str, &'a str)> {
    let host = strip_port(host.trim());
    let alias = alias.trim();
    // Byte checks for the ASCII that every real name is; the char walk (Unicode white
    // space and controls) only for the rest.
    let bad = |s: &str| {
        s.is_empty()
            || s.bytes()
                .any(|b| b == b'/' || b.is_ascii_whitespace() || b.is_ascii_control())
            || (!s.is_ascii() && s.chars().any(|c| c.is_whitespace() || c.is_control()))
    };
    (!bad(host) && !bad(alias)).then_some((host, alias))
}

fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// The directory-owned properties of a principal (PROTOCOL.md §4.4). They are read by
/// PROPFIND and SUBSCRIBE 207 bodies; the engine never changes them on a PROPPATCH.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DirectoryProperties {
    /// `d:displayname`.
    pub display_name: Option<Box<str>>,
    /// `r:email`.
    pub email: Option<Box<str>>,
    /// `r:mobile-state`.
    pub mobile_state: Option<Box<str>>,
    /// `r:mobile-description`.
    pub mobile_description: Option<Box<str>>,
}

impl DirectoryProperties {
    /// Properties with a display name and an e-mail address.
    pub fn new(display_name: &str, email: &str) -> DirectoryProperties {
        DirectoryProperties {
            display_name: Some(display_name.into()),
            email: Some(email.into()),
            mobile_state: None,
            mobile_description: None,
        }
    }
}

/// A key's two parts, borrowed: the directory is looked up through this without building
/// a [`NodeKey`] (an allocation) when the parts are lower-case already.
///
/// Hashing and equality are those of the pair (`host`, then `alias`, each hashed as a
/// `str`), and `NodeKey`'s own impls are these, as `Borrow` requires: a `NodeKey` and the
/// pair of its parts hash alike and compare equal.
trait KeyParts {
    fn parts(&self) -> (&str, &str);
}

impl KeyParts for NodeKey {
    fn parts(&self) -> (&str, &str) {
        (self.host(), self.alias())
    }
}

impl KeyParts for (&str, &str) {
    fn parts(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl Hash for dyn KeyParts + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (host, alias) = self.parts();
        host.hash(state);
        alias.hash(state);
    }
}

impl PartialEq for dyn KeyParts + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn KeyParts + '_ {}

impl<'a> Borrow<dyn KeyParts + 'a> for NodeKey {
    fn borrow(&self) -> &(dyn KeyParts + 'a) {
        self
    }
}

/// One registered principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    key: NodeKey,
    logical_url: Arc<str>,
    host: Arc<str>,
    properties: DirectoryProperties,
}

impl Principal {
    /// The canonical key.
    pub fn key(&self) -> &NodeKey {
        &self.key
    }

    /// The logical URL (shared).
    pub fn logical_url(&self) -> &Arc<str> {
        &self.logical_url
    }

    /// The logical host (shared; used as `RVP-From-Principal` of server-originated
    /// notifications, PROTOCOL.md §2.6).
    pub fn host(&self) -> &Arc<str> {
        &self.host
    }

    /// The directory properties.
    pub fn properties(&self) -> &DirectoryProperties {
        &self.properties
    }

    pub(crate) fn set_properties(&mut self, properties: DirectoryProperties) {
        self.properties = properties;
    }
}

/// Why a principal could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// The same host + alias is already registered.
    #[error("principal {0} is already registered")]
    Duplicate(String),
    /// The directory holds `u32::MAX` principals.
    #[error("directory full: at most u32::MAX principals")]
    Full,
}

/// The principals hosted by this engine, by key, by alias and by URL.
#[derive(Debug, Default)]
pub struct Directory {
    records: Vec<Principal>,
    // foldhash, not SipHash: looked up on every request with keys of the directory's own
    // users (a few hundred instructions a lookup saved); randomly seeded all the same.
    by_key: HashMap<NodeKey, PrincipalId, foldhash::fast::RandomState>,
    by_alias: HashMap<Arc<str>, Vec<PrincipalId>, foldhash::fast::RandomState>,
    /// The distinct logical hosts of the registered principals (a handful).
    hosts: Vec<Arc<str>>,
}

impl Directory {
    /// Registers a principal; its node starts with the default ACL (PROTOCOL.md §8.3).
    pub fn insert(
        &mut self,
        key: NodeKey,
        properties: DirectoryProperties,
    ) -> Result<PrincipalId, DirectoryError> {
        if self.by_key.contains_key(&key) {
            return Err(DirectoryError::Duplicate(key.logical_url()));
        }
        let id = PrincipalId(u32::try_from(self.records.len()).map_err(|_| DirectoryError::Full)?);
        self.by_key.insert(key.clone(), id);
        self.by_alias
            .entry(Arc::from(key.alias()))
            .or_default()
            .push(id);
        if !self.hosts.iter().any(|h| **h == *key.host()) {
            self.hosts.push(Arc::from(key.host()));
        }
        self.records.push(Principal {
            logical_url: key.logical_url().into(),
            host: Arc::from(key.host()),
            key,
            properties,
        });
        Ok(id)
    }

    /// Number of registered principals.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no principal is registered.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The record of `id`.
    pub fn get(&self, id: PrincipalId) -> Option<&Principal> {
        self.records.get(id.0 as usize)
    }

    pub(crate) fn get_mut(&mut self, id: PrincipalId) -> Option<&mut Principal> {
        self.records.get_mut(id.0 as usize)
    }

    /// The principal with this key.
    pub fn lookup(&self, key: &NodeKey) -> Option<PrincipalId> {
        self.by_key.get(key).copied()
    }

    /// [`Directory::lookup`] of [`NodeKey::new`]`(host, alias)`, without building the key
    /// when its parts are lower-case already (real names nearly always are).
    fn lookup_parts(&self, host: &str, alias: &str) -> Option<PrincipalId> {
        let (h, a) = key_parts(host, alias)?;
        let lower = |s: &str| !s.bytes().any(|b| b.is_ascii_uppercase());
        if lower(h) && lower(a) {
            self.by_key.get(&(h, a) as &dyn KeyParts).copied()
        } else {
            self.lookup(&NodeKey::new(host, alias)?)
        }
    }

    /// Resolves a request path on a request `Host`: `/instmsg/aliases/<alias>`,
    /// `/aliases/<alias>`, or `/instmsg/local/<host>/instmsg/aliases/<alias>`.
    ///
    /// For the two logical forms the alias is looked up under the request host first; when
    /// the request host is not a logical host (a home server addressed by its own name, as
    /// in the reference's login example) and exactly one registered principal has that
    /// alias, that one is meant.
    pub fn lookup_path(&self, request_host: &str, path: &str) -> Option<PrincipalId> {
        let path = path.split(['?', '#']).next().unwrap_or(path);
        let path = path.strip_suffix('/').unwrap_or(path);
        if let Some(rest) = path.strip_prefix("/instmsg/local/") {
            let (host, tail) = rest.split_once('/')?;
            let alias = tail.strip_prefix("instmsg/aliases/")?;
            return self.lookup(&NodeKey::new(host, alias)?);
        }
        let alias = path
            .strip_prefix("/instmsg/aliases/")
            .or_else(|| path.strip_prefix("/aliases/"))?;
        self.lookup_alias(request_host, alias)
    }

    /// Resolves a (decoded) alias addressed to `request_host`: the principal with that
    /// logical host and alias, or, when the request host is not a logical host here (a
    /// home server addressed by its own name), the only principal with that alias.
    pub fn lookup_alias(&self, request_host: &str, alias: &str) -> Option<PrincipalId> {
        if let Some(id) = self.lookup_parts(request_host, alias) {
            return Some(id);
        }
        match self
            .by_alias
            .get(alias.to_ascii_lowercase().as_str())?
            .as_slice()
        {
            [only] => Some(*only),
            _ => None,
        }
    }

    /// Resolves a principal URL exactly (PROTOCOL.md §8.2 comparison): the logical form
    /// `http://<host>/instmsg/aliases/<alias>` or the physical form
    /// `http://<home>/instmsg/local/<host>/instmsg/aliases/<alias>`, host and alias
    /// compared case-insensitively. Unlike [`Directory::lookup_path`] there is no fallback
    /// to "the only principal with that alias": an identity on another host is another
    /// principal, whatever its alias.
    pub fn lookup_url(&self, url: &str) -> Option<PrincipalId> {
        self.lookup(&principal_key(url)?)
    }

    /// Whether `host` (a port, if any, ignored; case-insensitive) is the logical host of
    /// at least one registered principal: an identity on it is a local one.
    pub fn is_local_host(&self, host: &str) -> bool {
        let host = strip_port(host.trim());
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Whether `principal` names an identity of this directory's domains: a principal URL
    /// (logical or physical form) whose logical host is local, or a bare local host (a
    /// server speaking for its domain). Registered or not.
    pub fn is_local_identity(&self, principal: &str) -> bool {
        match principal_key(principal) {
            Some(key) => self.is_local_host(key.host()),
            None => !principal.contains('/') && self.is_local_host(principal),
        }
    }
}

/// The node key a principal URL names: `http://<host>[:port]/instmsg/aliases/<alias>` or
/// the physical `http://<home>/instmsg/local/<host>/instmsg/aliases/<alias>`, read by
/// rvp-proto's URL parser (escapes decoded, PROTOCOL.md §8.2) after trimming surrounding
/// white space and one trailing `/` (which some clients append to a principal URL).
/// `None` for anything else (IP call-backs, bare hosts, other paths).
pub fn principal_key(url: &str) -> Option<NodeKey> {
    let url = url.trim();
    let url = url.strip_suffix('/').unwrap_or(url);
    match NodeUrlRef::parse(url).ok()? {
        NodeUrlRef::Logical { host, alias } | NodeUrlRef::Physical { host, alias, .. } => {
            NodeKey::new(host.host(), &alias)
        }
        _ => None,
    }
}

/// Whether [`principal_key`]`(url)` is `key`, without building a key (the NOTIFY sender
/// check, per request).
pub(crate) fn principal_url_is(url: &str, key: &NodeKey) -> bool {
    let url = url.trim();
    let url = url.strip_suffix('/').unwrap_or(url);
    match NodeUrlRef::parse(url) {
        Ok(NodeUrlRef::Logical { host, alias } | NodeUrlRef::Physical { host, alias, .. }) => {
            key.is_parts(host.host(), &alias)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn dir() -> (Directory, PrincipalId, PrincipalId) {
        let mut d = Directory::default();
        let a = d
            .insert(
                NodeKey::new("im.example.com", "SteveM").unwrap(),
                DirectoryProperties::default(),
            )
            .unwrap();
        let b = d
            .insert(
                NodeKey::new("localhost", "alice").unwrap(),
                DirectoryProperties::default(),
            )
            .unwrap();
        (d, a, b)
    }

    proptest::proptest! {
        /// The sender check's comparison without a key is exactly "its key is this key",
        /// over hosts and aliases in any case, with ports, escapes, spaces and slashes.
        #[test]
        fn principal_url_is_agrees_with_principal_key(
            host in "[a-zA-Z.]{0,3}(:[0-9]{0,2})?",
            alias in "( |%20|%2F|%41|[a-cA-C/_])?[a-cA-C]{0,2}",
            physical in proptest::bool::ANY,
            slash in proptest::bool::ANY,
            key_host in "[a-cA-C.]{1,3}",
            key_alias in "[a-cA-C]{1,2}",
        ) {
            let url = if physical {
                format!("http://home:81/instmsg/local/{host}/instmsg/aliases/{alias}")
            } else {
                format!("http://{host}/instmsg/aliases/{alias}")
            };
            let url = if slash { url + "/" } else { url };
            let keys = [NodeKey::new(&key_host, &key_alias), principal_key(&url)];
            for key in keys.iter().flatten() {
                proptest::prop_assert_eq!(
                    principal_url_is(&url, key),
                    principal_key(&url).as_ref() == Some(key),
                    "{} against {:?}", url, key
                );
            }
        }

        /// The borrowed lookup finds exactly what building the key and looking it up
        /// finds, over hosts and aliases in any case, with ports and spaces.
        #[test]
        fn borrowed_lookup_is_the_keyed_lookup(
            host in "( )?(im.example.com|IM.Example.COM|localhost|LocalHost|other)(:[0-9]{1,2})?",
            alias in "( )?(stevem|SteveM|alice|ALICE|bob|)( )?",
        ) {
            let (d, _, _) = dir();
            proptest::prop_assert_eq!(
                d.lookup_parts(&host, &alias),
                NodeKey::new(&host, &alias).and_then(|k| d.lookup(&k))
            );
        }

        /// Equality and order of keys are those of their (host, alias) pairs, however the
        /// two split one string ("ab" + "c" is not "a" + "bc").
        #[test]
        fn keys_compare_as_their_pairs(
            h1 in "[a-cA-C]{1,3}", a1 in "[a-cA-C]{1,3}",
            h2 in "[a-cA-C]{1,3}", a2 in "[a-cA-C]{1,3}",
        ) {
            let (k1, k2) = (NodeKey::new(&h1, &a1).unwrap(), NodeKey::new(&h2, &a2).unwrap());
            let p1 = (h1.to_ascii_lowercase(), a1.to_ascii_lowercase());
            let p2 = (h2.to_ascii_lowercase(), a2.to_ascii_lowercase());
            proptest::prop_assert_eq!((k1.host(), k1.alias()), (p1.0.as_str(), p1.1.as_str()));
            proptest::prop_assert_eq!(k1 == k2, p1 == p2);
            proptest::prop_assert_eq!(k1.cmp(&k2), p1.cmp(&p2));
        }

        /// A key and the pair of its parts hash alike (the `Borrow` contract).
        #[test]
        fn a_key_and_its_parts_hash_alike(host in "[a-z.]{1,8}", alias in "[a-z0-9]{1,8}") {
            use std::hash::BuildHasher;
            let key = NodeKey::new(&host, &alias).unwrap();
            let s = std::collections::hash_map::RandomState::new();
            let parts: &dyn KeyParts = &(host.as_str(), alias.as_str());
            proptest::prop_assert_eq!(s.hash_one(&key), s.hash_one(parts));
            proptest::prop_assert!(Borrow::<dyn KeyParts>::borrow(&key) == parts);
        }

        /// The byte-level name check refuses exactly what a walk over the characters
        /// (slash, Unicode white space, controls) refuses.
        #[test]
        fn name_checks_agree_with_the_char_walk(host in "\\PC{0,6}[ /\t\u{b}\u{85}\u{a0}]?\\PC{0,6}", alias in "\\PC{0,8}") {
            let reference = |s: &str| {
                s.is_empty() || s.chars().any(|c| c == '/' || c.is_whitespace() || c.is_control())
            };
            let h = strip_port(host.trim());
            let a = alias.trim();
            proptest::prop_assert_eq!(NodeKey::new(&host, &alias).is_none(), reference(h) || reference(a));
        }
    }

    #[test]
    fn long_keys_are_built_alike() {
        let alias = "A".repeat(300);
        let k = NodeKey::new("Host.Example", &alias).unwrap();
        assert_eq!(k.host(), "host.example");
        assert_eq!(k.alias(), "a".repeat(300));
        assert_eq!(
            k,
            NodeKey::new("HOST.example:81", &alias.to_lowercase()).unwrap()
        );
    }

    #[test]
    fn keys_are_case_insensitive_and_portless() {
        let k = NodeKey::new("IM.Example.com:80", "SteveM").unwrap();
        assert_eq!(k.host(), "im.example.com");
        assert_eq!(k.alias(), "stevem");
        assert_eq!(
            k.logical_url(),
            "http://im.example.com/instmsg/aliases/stevem"
        );
        assert_eq!(
            k.physical_url("imhome1.example.com"),
            "http://imhome1.example.com/instmsg/local/im.example.com/instmsg/aliases/stevem"
        );
        assert!(NodeKey::new("", "a").is_none());
        assert!(NodeKey::new("h", "a/b").is_none());
        assert!(NodeKey::new("h", "a b").is_none());
    }

    #[test]
    fn logical_physical_and_short_forms_map_to_one_node() {
        let (d, a, b) = dir();
        assert_eq!(
            d.lookup_url("http://im.example.com/instmsg/aliases/stevem"),
            Some(a)
        );
        assert_eq!(
            d.lookup_url("HTTP://IM.EXAMPLE.COM/instmsg/aliases/STEVEM/"),
            Some(a)
        );
        assert_eq!(
            d.lookup_url("http://imhome1/instmsg/local/im.example.com/instmsg/aliases/stevem"),
            Some(a)
        );
        assert_eq!(
            d.lookup_path("imhome1.example.com", "/instmsg/aliases/stevem"),
            Some(a)
        );
        assert_eq!(d.lookup_path("localhost", "/aliases/alice"), Some(b));
        assert_eq!(d.lookup_path("localhost", "/instmsg/aliases/nobody"), None);
        assert_eq!(d.lookup_url("http://198.51.100.7:1234"), None);
        assert_eq!(d.lookup_url("mailto:x"), None);
    }

    #[test]
    fn principal_urls_match_exactly_never_by_alias_alone() {
        let (d, a, b) = dir();
        // The request-target fallback (a home server addressed by its own name) ...
        assert_eq!(d.lookup_path("imhome1", "/instmsg/aliases/alice"), Some(b));
        // ... never applies to an identity: another host is another principal.
        assert_eq!(
            d.lookup_url("http://evil.example/instmsg/aliases/alice"),
            None
        );
        assert_eq!(
            d.lookup_url("http://localhost/instmsg/aliases/stevem"),
            None
        );
        assert_eq!(
            d.lookup_url("http://localhost:8080/instmsg/aliases/ALICE"),
            Some(b)
        );
        assert_eq!(
            d.lookup_url("http://im.example.com/instmsg/aliases/stevem/"),
            Some(a)
        );
        assert_eq!(d.lookup_url("http://localhost/aliases/alice"), None);
        assert_eq!(d.lookup_url("http://localhost/instmsg/aliases/"), None);
        assert_eq!(d.lookup_url("http://é/"), None);
    }

    #[test]
    fn local_identities() {
        let (d, _, _) = dir();
        assert!(d.is_local_identity("http://localhost/instmsg/aliases/alice"));
        // Not registered, still of a local domain.
        assert!(d.is_local_identity("http://LOCALHOST/instmsg/aliases/nobody"));
        assert!(
            d.is_local_identity("http://imhome1/instmsg/local/im.example.com/instmsg/aliases/x")
        );
        assert!(d.is_local_identity("localhost"));
        assert!(d.is_local_identity("IM.example.com"));
        assert!(!d.is_local_identity("http://other.example/instmsg/aliases/alice"));
        assert!(!d.is_local_identity("other.example"));
        assert!(!d.is_local_identity("http://127.0.0.1:22"));
        assert!(!d.is_local_identity("http://localhost:22"));
    }

    #[test]
    fn duplicates_are_refused() {
        let (mut d, _, _) = dir();
        let e = d
            .insert(
                NodeKey::new("localhost", "ALICE").unwrap(),
                DirectoryProperties::default(),
            )
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("http://localhost/instmsg/aliases/alice")
        );
    }

    #[test]
    fn ambiguous_alias_needs_the_host() {
        let (mut d, _, b) = dir();
        let c = d
            .insert(
                NodeKey::new("other.example", "alice").unwrap(),
                DirectoryProperties::default(),
            )
            .unwrap();
        assert_eq!(d.lookup_path("home", "/instmsg/aliases/alice"), None);
        assert_eq!(
            d.lookup_path("localhost", "/instmsg/aliases/alice"),
            Some(b)
        );
        assert_eq!(
            d.lookup_path("other.example", "/instmsg/aliases/alice"),
            Some(c)
        );
    }
}
