//! `[directory]`: where the users come from, and the cache in front of a remote directory.
//!
//! ```toml
//! [directory]
//! backend = "ldap"             # "file" (default): the [[users]] of the configuration
//! cache_ttl = "5m"
//! cache_negative_ttl = "30s"
//! cache_max_entries = 10000
//! cache_max_stale = "1h"
//! retry_interval = "5s"
//!
//! [directory.ldap]
//! url = "ldap://ldap.example.org"
//! bind_dn = "cn=rvp-server,dc=example,dc=org"
//! bind_password_file = "/etc/rvp-server/ldap.secret"
//! base_dn = "ou=people,dc=example,dc=org"
//! ```
//!
//! Every value is checked while the file is read, so a wrong one is a
//! [`ConfigError`](crate::config::ConfigError) naming the key (and its line, for the keys
//! checked one by one; the checks that compare keys name the `[directory]` table's line).
//! The documented reference of every key is the embedded `default.toml`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use crate::duration;

/// Default `cache_ttl`: a found user is asked again after 5 minutes.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(300);
/// Default `cache_negative_ttl`: an unknown user is asked again after 30 seconds.
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(30);
/// Default `cache_max_entries`: users (and unknown addresses) remembered.
pub const DEFAULT_CACHE_MAX_ENTRIES: usize = 10_000;
/// Largest `cache_max_entries` accepted (about 10 KiB each at most: 10 GiB would be far
/// beyond any IM domain).
pub const MAX_CACHE_MAX_ENTRIES: usize = 1_000_000;
/// Default `cache_max_stale`: how long past its TTL a cached user is still served while
/// the directory cannot be reached.
pub const DEFAULT_CACHE_MAX_STALE: Duration = Duration::from_secs(3600);
/// Default `retry_interval`: while the directory cannot be reached it is asked at most
/// this often (lookups in between get the cache or an error at once).
pub const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_secs(5);
/// Default `directory.ldap.connect_timeout` and `directory.ldap.timeout`.
pub const DEFAULT_LDAP_TIMEOUT: Duration = Duration::from_secs(5);
/// Default `directory.ldap.max_results`: the most users a listing (start-up registration)
/// returns; more is an error rather than a silently shortened list.
pub const DEFAULT_LDAP_MAX_RESULTS: usize = 100_000;
/// Largest `directory.ldap.max_results` accepted.
pub const MAX_LDAP_MAX_RESULTS: usize = 10_000_000;
/// Longest `directory.ldap.filter` / `list_filter` template accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// The default lookup filter: the `rvpUser` class of `contrib/ldap/rvp.schema`.
pub const DEFAULT_LDAP_FILTER: &str = "(&(objectClass=rvpUser)(rvpIMAddress={address}))";
/// The default listing filter.
pub const DEFAULT_LDAP_LIST_FILTER: &str = "(objectClass=rvpUser)";

/// The placeholders a lookup filter may hold; each is replaced by the looked-up
/// address's part, escaped for an LDAP filter (RFC 4515).
pub const FILTER_PLACEHOLDERS: [&str; 3] = ["{address}", "{alias}", "{domain}"];

/// Where the users come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Backend {
    /// The `[[users]]` of the configuration file (the default).
    #[default]
    File,
    /// An LDAP server (`[directory.ldap]`; needs the `ldap` feature).
    Ldap,
}

impl<'de> Deserialize<'de> for Backend {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        match name.as_str() {
            "file" => Ok(Backend::File),
            "ldap" if cfg!(feature = "ldap") => Ok(Backend::Ldap),
            "ldap" => Err(de::Error::custom(
                "\"ldap\": this rvp-server was built without the `ldap` feature (rebuild with \
                 `--features ldap`, or use \"file\" and [[users]])",
            )),
            other => Err(de::Error::custom(format!(
                "unknown directory backend {other:?}: expected \"file\" or \"ldap\""
            ))),
        }
    }
}

/// `[directory]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "DirectoryFields")]
#[non_exhaustive]
pub struct DirectoryConfig {
    /// `"file"` (default) or `"ldap"`.
    pub backend: Backend,
    /// How long a found user is served from the cache before the directory is asked
    /// again. Default [`DEFAULT_CACHE_TTL`]; not zero.
    #[serde(with = "duration")]
    pub cache_ttl: Duration,
    /// How long an unknown address is answered "no such user" from the cache. Default
    /// [`DEFAULT_NEGATIVE_TTL`]; not zero. Never served past it.
    #[serde(with = "duration")]
    pub cache_negative_ttl: Duration,
    /// Cached answers kept at most (found users and unknown addresses together); beyond
    /// it the unknown addresses go first, then the answers closest to expiry. Default
    /// [`DEFAULT_CACHE_MAX_ENTRIES`]; 1 to [`MAX_CACHE_MAX_ENTRIES`].
    pub cache_max_entries: usize,
    /// While the directory cannot be reached, a cached user is served up to this long
    /// past its TTL (zero: never past it). Default [`DEFAULT_CACHE_MAX_STALE`].
    #[serde(with = "duration")]
    pub cache_max_stale: Duration,
    /// While the directory cannot be reached, it is asked at most this often. Default
    /// [`DEFAULT_RETRY_INTERVAL`]; not zero.
    #[serde(with = "duration")]
    pub retry_interval: Duration,
    /// `[directory.ldap]`: needed with `backend = "ldap"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldap: Option<LdapConfig>,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        DirectoryConfig {
            backend: Backend::File,
            cache_ttl: DEFAULT_CACHE_TTL,
            cache_negative_ttl: DEFAULT_NEGATIVE_TTL,
            cache_max_entries: DEFAULT_CACHE_MAX_ENTRIES,
            cache_max_stale: DEFAULT_CACHE_MAX_STALE,
            retry_interval: DEFAULT_RETRY_INTERVAL,
            ldap: None,
        }
    }
}

/// `[directory]` as written, before the checks that compare keys.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct DirectoryFields {
    backend: Backend,
    #[serde(deserialize_with = "nonzero_duration")]
    cache_ttl: Duration,
    #[serde(deserialize_with = "nonzero_duration")]
    cache_negative_ttl: Duration,
    #[serde(deserialize_with = "cache_max_entries")]
    cache_max_entries: usize,
    #[serde(with = "duration")]
    cache_max_stale: Duration,
    #[serde(deserialize_with = "nonzero_duration")]
    retry_interval: Duration,
    ldap: Option<LdapConfig>,
}

impl Default for DirectoryFields {
    fn default() -> Self {
        let d = DirectoryConfig::default();
        DirectoryFields {
            backend: d.backend,
            cache_ttl: d.cache_ttl,
            cache_negative_ttl: d.cache_negative_ttl,
            cache_max_entries: d.cache_max_entries,
            cache_max_stale: d.cache_max_stale,
            retry_interval: d.retry_interval,
            ldap: d.ldap,
        }
    }
}

impl TryFrom<DirectoryFields> for DirectoryConfig {
    type Error = String;

    fn try_from(f: DirectoryFields) -> Result<Self, String> {
        if f.backend == Backend::Ldap && f.ldap.is_none() {
            return Err(
                "directory.backend = \"ldap\" needs a [directory.ldap] table (url, base_dn, ...)"
                    .into(),
            );
        }
        Ok(DirectoryConfig {
            backend: f.backend,
            cache_ttl: f.cache_ttl,
            cache_negative_ttl: f.cache_negative_ttl,
            cache_max_entries: f.cache_max_entries,
            cache_max_stale: f.cache_max_stale,
            retry_interval: f.retry_interval,
            ldap: f.ldap,
        })
    }
}

/// A secret from the configuration: never printed (`Debug` and the printed
/// configuration show `<redacted>`).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// `[directory.ldap]`: an LDAP server holding the users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "LdapFields")]
#[non_exhaustive]
pub struct LdapConfig {
    /// `ldap://host[:port]` (plain TCP) or `ldapi://<percent-encoded socket path>`.
    /// Required. TLS (`ldaps://`, StartTLS) is not built in: reach a remote server through
    /// a local TLS tunnel, or over `ldapi://` on the same host.
    pub url: String,
    /// DN to bind as; empty (the default): an anonymous bind.
    pub bind_dn: String,
    /// Password of `bind_dn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_password: Option<Secret>,
    /// File holding the password of `bind_dn` (its first line), read when the directory
    /// is opened, so the configuration file need not hold it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_password_file: Option<PathBuf>,
    /// Where users are searched (the whole subtree). Required.
    pub base_dn: String,
    /// Lookup filter template; `{address}`, `{alias}` and `{domain}` are replaced by the
    /// looked-up address's parts, escaped (RFC 4515). Default [`DEFAULT_LDAP_FILTER`].
    pub filter: String,
    /// Filter of the listing of every user (start-up registration). Default
    /// [`DEFAULT_LDAP_LIST_FILTER`].
    pub list_filter: String,
    /// Time to connect (TCP). Default [`DEFAULT_LDAP_TIMEOUT`]; not zero.
    #[serde(with = "duration")]
    pub connect_timeout: Duration,
    /// Time for each operation (bind, and each answer of a search). Default
    /// [`DEFAULT_LDAP_TIMEOUT`]; not zero.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// The most users a listing returns; a directory holding more makes the listing an
    /// error. Default [`DEFAULT_LDAP_MAX_RESULTS`]; 1 to [`MAX_LDAP_MAX_RESULTS`].
    pub max_results: usize,
    /// `[directory.ldap.attributes]`: which attribute holds what.
    pub attributes: AttributeMap,
}

impl LdapConfig {
    /// A configuration for `url` and `base_dn` with every other key at its default.
    pub fn new(url: impl Into<String>, base_dn: impl Into<String>) -> LdapConfig {
        LdapConfig {
            url: url.into(),
            bind_dn: String::new(),
            bind_password: None,
            bind_password_file: None,
            base_dn: base_dn.into(),
            filter: DEFAULT_LDAP_FILTER.into(),
            list_filter: DEFAULT_LDAP_LIST_FILTER.into(),
            connect_timeout: DEFAULT_LDAP_TIMEOUT,
            timeout: DEFAULT_LDAP_TIMEOUT,
            max_results: DEFAULT_LDAP_MAX_RESULTS,
            attributes: AttributeMap::rvp_user(),
        }
    }

    /// Checks what [`LdapConfig::new`] and field assignments cannot: the same checks as
    /// reading the configuration does. `Err((dotted key, message))`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let key = |k: &str| format!("directory.ldap.{k}");
        check_url(&self.url).map_err(|m| (key("url"), m))?;
        check_base_dn(&self.base_dn).map_err(|m| (key("base_dn"), m))?;
        check_filter(&self.filter, true).map_err(|m| (key("filter"), m))?;
        check_filter(&self.list_filter, false).map_err(|m| (key("list_filter"), m))?;
        for (k, d) in [
            ("connect_timeout", self.connect_timeout),
            ("timeout", self.timeout),
        ] {
            if d.is_zero() {
                return Err((key(k), "must not be zero".into()));
            }
        }
        check_max_results(self.max_results).map_err(|m| (key("max_results"), m))?;
        self.attributes.validate()?;
        if self.bind_password.is_some() && self.bind_password_file.is_some() {
            return Err((
                key("bind_password_file"),
                "give either bind_password or bind_password_file, not both".into(),
            ));
        }
        Ok(())
    }
}

/// `[directory.ldap]` as written.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LdapFields {
    #[serde(deserialize_with = "url")]
    url: String,
    bind_dn: String,
    bind_password: Option<Secret>,
    bind_password_file: Option<PathBuf>,
    #[serde(deserialize_with = "base_dn")]
    base_dn: String,
    #[serde(deserialize_with = "lookup_filter")]
    filter: String,
    #[serde(deserialize_with = "list_filter")]
    list_filter: String,
    #[serde(deserialize_with = "nonzero_duration")]
    connect_timeout: Duration,
    #[serde(deserialize_with = "nonzero_duration")]
    timeout: Duration,
    #[serde(deserialize_with = "max_results")]
    max_results: usize,
    attributes: AttributeMap,
}

impl Default for LdapFields {
    fn default() -> Self {
        let d = LdapConfig::new("", "");
        LdapFields {
            url: d.url,
            bind_dn: d.bind_dn,
            bind_password: d.bind_password,
            bind_password_file: d.bind_password_file,
            base_dn: d.base_dn,
            filter: d.filter,
            list_filter: d.list_filter,
            connect_timeout: d.connect_timeout,
            timeout: d.timeout,
            max_results: d.max_results,
            attributes: d.attributes,
        }
    }
}

impl TryFrom<LdapFields> for LdapConfig {
    type Error = String;

    fn try_from(f: LdapFields) -> Result<Self, String> {
        let c = LdapConfig {
            url: f.url,
            bind_dn: f.bind_dn,
            bind_password: f.bind_password,
            bind_password_file: f.bind_password_file,
            base_dn: f.base_dn,
            filter: f.filter,
            list_filter: f.list_filter,
            connect_timeout: f.connect_timeout,
            timeout: f.timeout,
            max_results: f.max_results,
            attributes: f.attributes,
        };
        // The keys left out (required ones) and the checks across keys; the others were
        // checked one by one.
        c.validate()
            .map_err(|(key, m)| format!("key `{key}`: {m}"))?;
        Ok(c)
    }
}

/// `[directory.ldap.attributes]`: the attribute that holds each part of a user. An empty
/// name means the directory has no such attribute (then: enabled, home from the physical
/// URL else this server, URLs built from the address, no display name or e-mail, no
/// Digest credentials). Names compare ASCII-case-insensitively, as LDAP's do.
///
/// The default is the `rvpUser` class of `contrib/ldap/rvp.schema`
/// ([`AttributeMap::rvp_user`]); [`AttributeMap::exchange`] reads Exchange 2000's
/// attributes in Active Directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AttributeMap {
    /// `alias@domain` (required). Default `rvpIMAddress`.
    #[serde(deserialize_with = "attribute_name")]
    pub address: String,
    /// LDAP Boolean (`TRUE`/`FALSE`); absent in an entry: enabled. Default `rvpIMEnabled`.
    #[serde(deserialize_with = "attribute_name")]
    pub enabled: String,
    /// Home server host (`host` or `host:port`). Default `rvpIMHomeServer`.
    #[serde(deserialize_with = "attribute_name")]
    pub home: String,
    /// Logical URL `http://<domain>/instmsg/aliases/<alias>`. Default `rvpIMLogicalURL`.
    #[serde(deserialize_with = "attribute_name")]
    pub logical_url: String,
    /// Physical URL `http://<home>/instmsg/local/<domain>/instmsg/aliases/<alias>`.
    /// Default `rvpIMPhysicalURL`.
    #[serde(deserialize_with = "attribute_name")]
    pub physical_url: String,
    /// Display name (`d:displayname`). Default `displayName`.
    #[serde(deserialize_with = "attribute_name")]
    pub display_name: String,
    /// E-mail (`r:email`). Default `mail`.
    #[serde(deserialize_with = "attribute_name")]
    pub email: String,
    /// Digest HA1s: `<32 hex>` (over the alias) or `<username>:<realm>:<32 hex>`, one value
    /// per username form. Default `rvpDigestHA1`.
    #[serde(deserialize_with = "attribute_name")]
    pub ha1: String,
}

impl Default for AttributeMap {
    fn default() -> Self {
        AttributeMap::rvp_user()
    }
}

impl AttributeMap {
    /// The `rvpUser` class of `contrib/ldap/rvp.schema` (plus `displayName` and `mail` of
    /// inetOrgPerson).
    pub fn rvp_user() -> AttributeMap {
        AttributeMap {
            address: "rvpIMAddress".into(),
            enabled: "rvpIMEnabled".into(),
            home: "rvpIMHomeServer".into(),
            logical_url: "rvpIMLogicalURL".into(),
            physical_url: "rvpIMPhysicalURL".into(),
            display_name: "displayName".into(),
            email: "mail".into(),
            ha1: "rvpDigestHA1".into(),
        }
    }

    /// Exchange 2000's `msExchIMRecipient` attributes in Active Directory:
    /// `msExchIMAddress`, `msExchIMMetaPhysicalURL` (the logical URL),
    /// `msExchIMPhysicalURL` (whose host is the home server), `displayName`, `mail`. AD
    /// has no enabled flag (filter disabled accounts out instead) and no Digest HA1 an
    /// LDAP client can read: set `ha1` to an attribute of your own, or these users cannot
    /// authenticate.
    pub fn exchange() -> AttributeMap {
        AttributeMap {
            address: "msExchIMAddress".into(),
            enabled: String::new(),
            home: String::new(),
            logical_url: "msExchIMMetaPhysicalURL".into(),
            physical_url: "msExchIMPhysicalURL".into(),
            display_name: "displayName".into(),
            email: "mail".into(),
            ha1: String::new(),
        }
    }

    /// The mapped (non-empty) attribute names, as asked of the server.
    pub fn requested(&self) -> Vec<&str> {
        self.fields()
            .into_iter()
            .map(|(_, name)| name)
            .filter(|n| !n.is_empty())
            .collect()
    }

    fn fields(&self) -> [(&'static str, &str); 8] {
        [
            ("address", &self.address),
            ("enabled", &self.enabled),
            ("home", &self.home),
            ("logical_url", &self.logical_url),
            ("physical_url", &self.physical_url),
            ("display_name", &self.display_name),
            ("email", &self.email),
            ("ha1", &self.ha1),
        ]
    }

    /// `Err((dotted key, message))` for a name that is not an attribute description, or a
    /// missing address attribute.
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (field, name) in self.fields() {
            let key = format!("directory.ldap.attributes.{field}");
            if name.is_empty() {
                if field == "address" {
                    return Err((key, "must name the attribute holding alias@domain".into()));
                }
                continue;
            }
            if !is_attribute_name(name) {
                return Err((
                    key,
                    format!(
                        "{name:?} is not an LDAP attribute name (a letter, then letters, digits \
                         and '-'; or a numeric OID)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// An attribute description without options: `name` (RFC 4512 `keystring`) or a numeric
/// OID, at most 128 bytes.
fn is_attribute_name(s: &str) -> bool {
    let keystring = s.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let oid = !s.is_empty()
        && s.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    s.len() <= 128 && (keystring || oid)
}

fn check_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err("is required (ldap://host:port or ldapi://<socket path>)".into());
    }
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("ldaps://") {
        return Err(format!(
            "{url}: ldaps:// needs TLS, which this rvp-server does not build in; use ldap:// \
             through a local TLS tunnel, or ldapi:// on the same host"
        ));
    }
    let rest = lower
        .strip_prefix("ldap://")
        .or_else(|| lower.strip_prefix("ldapi://"))
        .ok_or_else(|| format!("{url}: must start with ldap:// or ldapi://"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("{url}: names no server"));
    }
    if rest.contains(['?', '#', ' ']) {
        return Err(format!(
            "{url}: give the server only (base DN and filter are keys of their own)"
        ));
    }
    Ok(())
}

fn check_base_dn(dn: &str) -> Result<(), String> {
    if dn.trim().is_empty() {
        return Err("is required (the DN users are searched under)".into());
    }
    if !dn.contains('=') {
        return Err(format!("{dn:?} is not a DN (attr=value,...)"));
    }
    Ok(())
}

fn check_max_results(n: usize) -> Result<(), String> {
    if n == 0 || n > MAX_LDAP_MAX_RESULTS {
        return Err(format!("must be 1 to {MAX_LDAP_MAX_RESULTS}, not {n}"));
    }
    Ok(())
}

/// A filter template: parenthesised, balanced, bounded; with `lookup`, at least one of
/// `{address}`/`{alias}` and no other `{...}`; a listing filter holds no placeholder.
fn check_filter(filter: &str, lookup: bool) -> Result<(), String> {
    if filter.len() > MAX_FILTER_LEN {
        return Err(format!("is longer than {MAX_FILTER_LEN} bytes"));
    }
    if !filter.starts_with('(') || !filter.ends_with(')') {
        return Err(format!(
            "{filter:?} is not an LDAP filter: it must be in parentheses"
        ));
    }
    let mut depth = 0usize;
    for b in filter.bytes() {
        match b {
            b'(' => depth += 1,
            b')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("{filter:?}: unbalanced parentheses"))?;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("{filter:?}: unbalanced parentheses"));
    }
    let mut rest = filter;
    let mut found = false;
    while let Some(start) = rest.find('{') {
        let tail = &rest[start..];
        match FILTER_PLACEHOLDERS.iter().find(|p| tail.starts_with(*p)) {
            Some(p) if lookup => {
                found |= *p != "{domain}";
                rest = &tail[p.len()..];
            }
            Some(p) => {
                return Err(format!(
                    "{filter:?}: the listing filter takes no placeholder ({p})"
                ));
            }
            None => {
                return Err(format!(
                    "{filter:?}: unknown placeholder at {:?} (known: {})",
                    tail.chars().take(12).collect::<String>(),
                    FILTER_PLACEHOLDERS.join(", ")
                ));
            }
        }
    }
    if lookup && !found {
        return Err(format!(
            "{filter:?} must hold {{address}} or {{alias}}, else every lookup finds the same \
             entries"
        ));
    }
    Ok(())
}

fn checked<'de, D, T>(d: D, check: impl FnOnce(&T) -> Result<(), String>) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let v = T::deserialize(d)?;
    check(&v).map_err(de::Error::custom)?;
    Ok(v)
}

fn nonzero_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let v = duration::deserialize(d)?;
    if v.is_zero() {
        return Err(de::Error::custom("must not be zero"));
    }
    Ok(v)
}

fn cache_max_entries<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    checked(d, |n: &usize| {
        if *n == 0 || *n > MAX_CACHE_MAX_ENTRIES {
            return Err(format!("must be 1 to {MAX_CACHE_MAX_ENTRIES}, not {n}"));
        }
        Ok(())
    })
}

fn max_results<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    checked(d, |n: &usize| check_max_results(*n))
}

fn attribute_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |s: &String| {
        if s.is_empty() || is_attribute_name(s) {
            Ok(())
        } else {
            Err(format!(
                "{s:?} is not an LDAP attribute name (a letter, then letters, digits and '-'; \
                 or a numeric OID); \"\" for none"
            ))
        }
    })
}

fn url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |s: &String| check_url(s))
}

fn base_dn<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |s: &String| check_base_dn(s))
}

fn lookup_filter<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |s: &String| check_filter(s, true))
}

fn list_filter<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |s: &String| check_filter(s, false))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigError};

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, "test.toml")
    }

    const LDAP: &str = "[directory]\nbackend = \"ldap\"\n[directory.ldap]\n\
                        url = \"ldap://127.0.0.1:389\"\nbase_dn = \"dc=example,dc=org\"\n";

    #[test]
    fn defaults_are_the_file_backend() {
        let c = parse("").unwrap();
        assert_eq!(c.directory, DirectoryConfig::default());
        assert_eq!(c.directory.backend, Backend::File);
        assert_eq!(c.directory.cache_ttl, DEFAULT_CACHE_TTL);
        assert_eq!(c.directory.cache_negative_ttl, DEFAULT_NEGATIVE_TTL);
        assert_eq!(c.directory.cache_max_entries, DEFAULT_CACHE_MAX_ENTRIES);
        assert_eq!(c.directory.cache_max_stale, DEFAULT_CACHE_MAX_STALE);
        assert_eq!(c.directory.retry_interval, DEFAULT_RETRY_INTERVAL);
        assert!(c.directory.ldap.is_none());
        // The embedded default documents the table with its defaults.
        assert_eq!(
            Config::embedded_default().unwrap().directory,
            DirectoryConfig::default()
        );
    }

    #[cfg(feature = "ldap")]
    #[test]
    fn an_ldap_table_with_defaults() {
        let c = parse(LDAP).unwrap();
        assert_eq!(c.directory.backend, Backend::Ldap);
        let l = c.directory.ldap.unwrap();
        assert_eq!(
            l,
            LdapConfig::new("ldap://127.0.0.1:389", "dc=example,dc=org")
        );
        assert_eq!(l.attributes, AttributeMap::rvp_user());
        assert_eq!(l.filter, DEFAULT_LDAP_FILTER);
        assert_eq!(l.max_results, DEFAULT_LDAP_MAX_RESULTS);
        assert_eq!(l.validate(), Ok(()));
    }

    #[cfg(not(feature = "ldap"))]
    #[test]
    fn ldap_needs_the_feature() {
        let e = parse(LDAP).unwrap_err();
        assert_eq!(
            (e.line(), e.key()),
            (Some(2), Some("directory.backend")),
            "{e}"
        );
        assert!(e.to_string().contains("`ldap` feature"), "{e}");
    }

    #[test]
    fn an_exchange_style_map_parses() {
        let text = format!(
            "{LDAP}filter = \"(&(objectClass=user)(msExchIMAddress={{address}}))\"\n\
             [directory.ldap.attributes]\naddress = \"msExchIMAddress\"\nenabled = \"\"\n\
             home = \"\"\nlogical_url = \"msExchIMMetaPhysicalURL\"\n\
             physical_url = \"msExchIMPhysicalURL\"\nha1 = \"\"\n"
        );
        let text = text.replace("backend = \"ldap\"", "backend = \"file\"");
        let c = parse(&text).unwrap();
        assert_eq!(
            c.directory.ldap.unwrap().attributes,
            AttributeMap::exchange()
        );
    }

    #[test]
    fn wrong_values_name_key_and_line() {
        let file = LDAP.replace("backend = \"ldap\"", "backend = \"file\"");
        for (extra, key, line, words) in [
            (
                "[directory]\ncache_ttl = \"0s\"\n",
                "directory.cache_ttl",
                2,
                "zero",
            ),
            (
                "[directory]\ncache_max_entries = 0\n",
                "directory.cache_max_entries",
                2,
                "1 to",
            ),
            (
                "[directory]\nbackend = \"nis\"\n",
                "directory.backend",
                2,
                "unknown directory backend",
            ),
            (
                "[directory]\nretry_interval = \"soon\"\n",
                "directory.retry_interval",
                2,
                "invalid duration",
            ),
            (
                "[directory]\nttl = 5\n",
                "directory.ttl",
                2,
                "unknown field",
            ),
        ] {
            let e = parse(extra).unwrap_err();
            assert_eq!((e.line(), e.key()), (Some(line), Some(key)), "{e}");
            assert!(e.to_string().contains(words), "{e}");
        }
        for (line_text, key, words) in [
            ("url = \"ldaps://x\"", "directory.ldap.url", "TLS"),
            ("url = \"http://x\"", "directory.ldap.url", "ldap://"),
            ("base_dn = \"people\"", "directory.ldap.base_dn", "not a DN"),
            (
                "filter = \"(uid=bob)\"",
                "directory.ldap.filter",
                "{address} or {alias}",
            ),
            (
                "filter = \"(uid={user})\"",
                "directory.ldap.filter",
                "unknown placeholder",
            ),
            (
                "filter = \"(&(uid={alias})\"",
                "directory.ldap.filter",
                "unbalanced",
            ),
            (
                "list_filter = \"(uid={alias})\"",
                "directory.ldap.list_filter",
                "no placeholder",
            ),
            ("timeout = 0", "directory.ldap.timeout", "zero"),
            ("max_results = 0", "directory.ldap.max_results", "1 to"),
        ] {
            // Replace the key when the table already sets it, else add it.
            let k = line_text.split(' ').next().unwrap();
            let text = if file.contains(&format!("{k} = ")) {
                file.lines()
                    .map(|l| {
                        if l.starts_with(&format!("{k} = ")) {
                            line_text
                        } else {
                            l
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
                    + "\n"
            } else {
                format!("{file}{line_text}\n")
            };
            let e = parse(&text).unwrap_err();
            let line = text.lines().position(|l| l == line_text).unwrap() + 1;
            assert_eq!((e.line(), e.key()), (Some(line), Some(key)), "{text}\n{e}");
            assert!(e.to_string().contains(words), "{e}");
        }
        let e = parse(&format!(
            "{file}[directory.ldap.attributes]\nemail = \"e mail\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.key(), Some("directory.ldap.attributes.email"), "{e}");
    }

    #[test]
    fn checks_across_keys_name_the_keys() {
        let e = parse("[directory]\nbackend = \"file\"\n[directory.ldap]\nbase_dn = \"dc=x\"\n")
            .unwrap_err();
        assert!(e.to_string().contains("directory.ldap.url"), "{e}");
        let e = parse(&format!(
            "{}bind_password = \"pw\"\nbind_password_file = \"/x\"\n",
            LDAP.replace("backend = \"ldap\"", "backend = \"file\"")
        ))
        .unwrap_err();
        assert!(e.to_string().contains("not both"), "{e}");
        let e = parse(
            "[directory.ldap]\nurl = \"ldap://x\"\nbase_dn = \"dc=x\"\n\
                       [directory.ldap.attributes]\naddress = \"\"\n",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("directory.ldap.attributes.address"),
            "{e}"
        );
        #[cfg(feature = "ldap")]
        {
            let e = parse("[directory]\nbackend = \"ldap\"\n").unwrap_err();
            assert_eq!((e.line(), e.key()), (Some(1), Some("directory")), "{e}");
            assert!(e.to_string().contains("[directory.ldap]"), "{e}");
        }
    }

    #[test]
    fn the_bind_password_is_never_printed() {
        let text = format!(
            "{}bind_dn = \"cn=rvp,dc=example,dc=org\"\nbind_password = \"s3cret\"\n",
            LDAP.replace("backend = \"ldap\"", "backend = \"file\"")
        );
        let c = parse(&text).unwrap();
        let l = c.directory.ldap.as_ref().unwrap();
        assert_eq!(l.bind_password.as_ref().unwrap().expose(), "s3cret");
        assert!(!format!("{c:?}").contains("s3cret"));
        let printed = c.to_redacted_toml();
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("[directory.ldap]"), "{printed}");
        // What is printed reads back (with the password redacted).
        let back = parse(&printed).unwrap();
        assert_eq!(
            back.directory.ldap.unwrap().bind_password.unwrap().expose(),
            "<redacted>"
        );
    }

    /// The commented `[directory.ldap]` examples of default.toml, uncommented, are valid:
    /// the rvpUser one gives the defaults, the Active Directory one the Exchange map.
    #[test]
    fn the_documented_examples_parse() {
        let doc = crate::config::DEFAULT_TOML;
        let start = doc.find("# [directory.ldap]\n").unwrap();
        let ad = doc.find("# Active Directory with Exchange").unwrap();
        let end = doc.find("# Users of the IM domain").unwrap();
        let uncomment = |text: &str| -> String {
            text.lines()
                .filter_map(|l| l.strip_prefix("# "))
                .filter(|l| {
                    l.starts_with('[') || l.split_once(" = ").is_some_and(|(k, _)| !k.contains(' '))
                })
                .map(|l| format!("{l}\n"))
                .collect()
        };
        let rvp = uncomment(&doc[start..ad]);
        assert!(rvp.contains("url = ") && rvp.contains("ha1 = "), "{rvp}");
        let c = parse(&rvp).unwrap();
        let l = c.directory.ldap.unwrap();
        assert_eq!(l.attributes, AttributeMap::rvp_user());
        assert_eq!(l.filter, DEFAULT_LDAP_FILTER);
        assert_eq!(l.list_filter, DEFAULT_LDAP_LIST_FILTER);
        assert_eq!(l.max_results, DEFAULT_LDAP_MAX_RESULTS);
        assert_eq!(l.timeout, DEFAULT_LDAP_TIMEOUT);
        let exchange = format!(
            "[directory.ldap]\nurl = \"ldap://dc.example.org\"\nbase_dn = \"dc=example,dc=org\"\n{}",
            uncomment(&doc[ad..end])
        );
        let c = parse(&exchange).unwrap();
        let l = c.directory.ldap.unwrap();
        assert_eq!(l.attributes, AttributeMap::exchange(), "{exchange}");
        assert!(l.filter.contains("msExchIMAddress={address}"));
    }

    #[test]
    fn attribute_names() {
        for ok in ["mail", "msExchIMAddress", "rvp-x1", "2.5.4.3"] {
            assert!(is_attribute_name(ok), "{ok}");
        }
        for bad in [
            "",
            "1abc",
            "a b",
            "mail;lang-en",
            "2..5",
            "x(",
            &"a".repeat(129),
        ] {
            assert!(!is_attribute_name(bad), "{bad}");
        }
    }
}
