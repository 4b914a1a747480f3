//! The LDAP directory (feature `ldap`): users as entries of an LDAP server, through the
//! `ldap3` crate on tokio.
//!
//! ```text
//! lookup(alias@domain) ─► search base_dn (subtree), filter with {address}/{alias}/{domain}
//!                         replaced (escaped), size limit 2 ─► 0: None, 1: the entry,
//!                         2: DirectoryError::Ambiguous
//! all()                ─► search base_dn, list_filter, paged (PAGE_SIZE a page), at most
//!                         max_results entries (one more: DirectoryError::TooMany)
//! ```
//!
//! One connection is kept and shared by concurrent requests (LDAP multiplexes them); it is
//! opened (and bound, when `bind_dn` is set) by the first request, and again after it was
//! lost — a request that finds the kept connection dead is retried once on a new one.
//! Every step is bounded: connecting by `connect_timeout`, the bind and each answer of a
//! search by `timeout`.
//!
//! Which attribute holds what is the [`AttributeMap`]: by default the `rvpUser` class of
//! `contrib/ldap/rvp.schema`, or Exchange's `msExchIMRecipient` attributes
//! ([`AttributeMap::exchange`]). An entry is read strictly: one value per attribute (HA1s
//! excepted), UTF-8, within the limits below, URLs that agree with the address; an entry
//! that breaks a rule is a [`DirectoryError::InvalidEntry`] for its lookup and is left out
//! of a listing (logged at warn).

use std::collections::{HashMap, HashSet};
use std::future::Future;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{
    Ldap, LdapConnAsync, LdapConnSettings, LdapError, LdapResult, Mod, ResultEntry, Scope,
};
use ldap3::{SearchOptions, ldap_escape};
use rvp_proto::url::{AuthorityRef, LogicalUrl, PhysicalUrl};
use rvp_resolve::Address;

use super::{
    AttributeMap, BoxFuture, Credentials, DigestHa1, Directory, DirectoryEntry, DirectoryError,
    LdapConfig, Secret,
};

/// Entries asked per page of a listing (RFC 2696 paged results; Active Directory answers
/// at most 1,000 a page).
pub const PAGE_SIZE: i32 = 500;
/// Longest address value read, in bytes (a 64-byte alias, `@`, a 253-byte domain).
pub const MAX_ADDRESS_LEN: usize = 320;
/// Longest display name read, in bytes.
pub const MAX_DISPLAY_NAME_LEN: usize = 256;
/// Longest e-mail read, in bytes.
pub const MAX_EMAIL_LEN: usize = 320;
/// Longest URL, home server or HA1 value read, in bytes.
pub const MAX_VALUE_LEN: usize = 1024;
/// Most HA1 values one entry may hold (one per username form and realm).
pub const MAX_HA1_VALUES: usize = 16;
/// Longest bind password file read, in bytes.
pub const MAX_PASSWORD_FILE_LEN: u64 = 4096;

/// LDAP result code `sizeLimitExceeded` (RFC 4511).
const SIZE_LIMIT_EXCEEDED: u32 = 4;

/// Users in an LDAP server: see the [module docs](self).
#[derive(Debug)]
pub struct LdapDirectory {
    config: LdapConfig,
    password: Option<Secret>,
    describe: String,
    conn: tokio::sync::Mutex<Option<Ldap>>,
}

/// An entry as the server sent it: DN, lower-cased attribute names → values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawEntry {
    /// The DN.
    pub dn: String,
    /// Attribute (lower case) → its values.
    pub attrs: HashMap<String, Vec<Vec<u8>>>,
}

/// A change to one user's entry ([`LdapDirectory::change_user`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserChange {
    /// Set the mapped `enabled` attribute (`TRUE` / `FALSE`).
    Enabled(bool),
    /// Replace the mapped `ha1` attribute's values by these (`<32 hex>` for an HA1 over
    /// the alias in the server's realm, else `<username>:<realm>:<32 hex>`).
    Ha1(Vec<DigestHa1>),
}

/// A stored HA1 as an attribute value: `<32 hex>` when it is over the alias in the
/// server's realm, else `<username>:<realm>:<32 hex>` (the form [`DigestHa1::parse`] reads).
pub fn ha1_value(d: &DigestHa1) -> String {
    match (&d.username, &d.realm) {
        (None, None) => d.ha1.to_hex(),
        (username, realm) => format!(
            "{}:{}:{}",
            username.as_deref().unwrap_or(""),
            realm.as_deref().unwrap_or(""),
            d.ha1.to_hex()
        ),
    }
}

impl LdapDirectory {
    /// A directory for `config`: checks it, reads the bind password file. Connects to
    /// nothing yet.
    pub fn new(config: &LdapConfig) -> Result<LdapDirectory, DirectoryError> {
        config
            .validate()
            .map_err(|(key, m)| DirectoryError::Config(format!("{key}: {m}")))?;
        let sample = Address::new("probe", "example.org")
            .map_err(|e| DirectoryError::Config(e.to_string()))?;
        for (key, filter) in [
            ("filter", expand(&config.filter, &sample)),
            ("list_filter", config.list_filter.clone()),
        ] {
            ldap3::parse_filter(&filter).map_err(|_| {
                DirectoryError::Config(format!(
                    "directory.ldap.{key}: {filter:?} is not an LDAP filter (RFC 4515)"
                ))
            })?;
        }
        let password = match (&config.bind_password, &config.bind_password_file) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(path)) => Some(read_password_file(path)?),
            (None, None) => None,
        };
        Ok(LdapDirectory {
            describe: format!("{} (base {})", config.url, config.base_dn),
            config: config.clone(),
            password,
            conn: tokio::sync::Mutex::new(None),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &LdapConfig {
        &self.config
    }

    async fn connect(&self) -> Result<Ldap, DirectoryError> {
        let settings = LdapConnSettings::new().set_conn_timeout(self.config.connect_timeout);
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &self.config.url)
            .await
            .map_err(|e| self.error(e))?;
        let describe = self.describe.clone();
        tokio::spawn(async move {
            if let Err(error) = conn.drive().await {
                tracing::debug!(directory = %describe, %error, "LDAP connection ended");
            }
        });
        if !self.config.bind_dn.is_empty() || self.password.is_some() {
            let password = self.password.as_ref().map_or("", Secret::expose);
            ldap.with_timeout(self.config.timeout)
                .simple_bind(&self.config.bind_dn, password)
                .await
                .and_then(LdapResult::success)
                .map_err(|e| self.error(e))?;
        }
        tracing::debug!(directory = %self.describe, "LDAP connection open");
        Ok(ldap)
    }

    /// The kept connection, or a new one; `true` when new.
    async fn handle(&self) -> Result<(Ldap, bool), DirectoryError> {
        let mut slot = self.conn.lock().await;
        if let Some(h) = slot.as_mut()
            && !h.is_closed()
        {
            return Ok((h.clone(), false));
        }
        *slot = None;
        let h = self.connect().await?;
        *slot = Some(h.clone());
        Ok((h, true))
    }

    async fn forget(&self) {
        *self.conn.lock().await = None;
    }

    /// Runs `op` on the kept connection; once more on a new one if the kept one turns out
    /// to be dead.
    async fn with_connection<T, F, Fut>(&self, op: F) -> Result<T, DirectoryError>
    where
        F: Fn(Ldap) -> Fut,
        Fut: Future<Output = Result<T, LdapError>>,
    {
        let (h, fresh) = self.handle().await?;
        match op(h).await {
            Ok(v) => Ok(v),
            Err(e) if !fresh && is_connection_lost(&e) => {
                tracing::debug!(directory = %self.describe, error = %e, "LDAP connection lost; reconnecting");
                self.forget().await;
                let (h, _) = self.handle().await?;
                let r = op(h).await;
                if let Err(e) = &r
                    && (is_connection_lost(e) || matches!(e, LdapError::Timeout { .. }))
                {
                    self.forget().await;
                }
                r.map_err(|e| self.error(e))
            }
            Err(e) => {
                if is_connection_lost(&e) || matches!(e, LdapError::Timeout { .. }) {
                    self.forget().await;
                }
                Err(self.error(e))
            }
        }
    }

    async fn search_one(
        &self,
        mut ldap: Ldap,
        filter: &str,
    ) -> Result<(Vec<ResultEntry>, LdapResult), LdapError> {
        let attrs: Vec<String> = self
            .config
            .attributes
            .requested()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let r = ldap
            .with_search_options(SearchOptions::new().sizelimit(2))
            .with_timeout(self.config.timeout)
            .search(&self.config.base_dn, Scope::Subtree, filter, attrs)
            .await?;
        Ok((r.0, r.1))
    }

    /// The listing: entries, the final result, and whether there were more than `max`.
    async fn search_all(
        &self,
        mut ldap: Ldap,
        max: usize,
    ) -> Result<(Vec<ResultEntry>, LdapResult, bool), LdapError> {
        let attrs: Vec<String> = self
            .config
            .attributes
            .requested()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let adapters: Vec<Box<dyn Adapter<'_, String, Vec<String>>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(PAGE_SIZE)),
        ];
        let mut stream = ldap
            .with_timeout(self.config.timeout)
            .streaming_search_with(
                adapters,
                &self.config.base_dn,
                Scope::Subtree,
                &self.config.list_filter,
                attrs,
            )
            .await?;
        let mut entries = Vec::new();
        while let Some(e) = stream.next().await? {
            if entries.len() == max {
                // The caller drops the connection, which ends the search on the server.
                let res = stream.finish().await;
                return Ok((entries, res, true));
            }
            entries.push(e);
        }
        let res = stream.finish().await;
        Ok((entries, res, false))
    }

    /// The one entry the lookup filter finds for `address`, as the server sent it (`None`:
    /// no entry). Not yet checked to be this address's.
    async fn find_raw(&self, address: &Address) -> Result<Option<RawEntry>, DirectoryError> {
        let filter = expand(&self.config.filter, address);
        let (found, res) = self
            .with_connection(|h| self.search_one(h, &filter))
            .await?;
        if res.rc == SIZE_LIMIT_EXCEEDED || found.len() > 1 {
            return Err(DirectoryError::Ambiguous {
                address: address.to_string(),
                count: found.len().max(2),
            });
        }
        if res.rc != 0 {
            return Err(self.server_error(&res));
        }
        let Some(found) = found.into_iter().next() else {
            return Ok(None);
        };
        raw_entry(found)
            .ok_or_else(|| malformed(&self.describe))
            .map(Some)
    }

    async fn lookup_entry(
        &self,
        address: &Address,
    ) -> Result<Option<DirectoryEntry>, DirectoryError> {
        let Some(raw) = self.find_raw(address).await? else {
            return Ok(None);
        };
        let entry = entry_from_raw(&raw, &self.config.attributes)?;
        if !same_user(&entry.address, address) {
            tracing::debug!(
                %address, dn = %raw.dn, found = %entry.address,
                "LDAP filter matched an entry of another address: not this user"
            );
            return Ok(None);
        }
        Ok(Some(entry))
    }

    /// Changes the entry of `address` (found with the lookup filter, as the server finds
    /// it) with one LDAP modify operation, bound as `bind_dn`: the mapped attribute's
    /// values are replaced. Answers the entry's DN, or `None` when the directory holds no
    /// entry for `address` (nothing changed). The entry's other attributes need not be
    /// readable, so an entry the server refuses (a malformed HA1, say) can be repaired.
    ///
    /// Errors: [`DirectoryError::Config`] when the attribute map names no attribute for
    /// the change (the Exchange map has no `enabled` and no `ha1`);
    /// [`DirectoryError::InvalidEntry`] for values beyond what the server reads back
    /// ([`MAX_HA1_VALUES`], [`MAX_VALUE_LEN`]); [`DirectoryError::Server`] when the
    /// directory refuses (no write access for the bind DN, a value its schema refuses).
    pub async fn change_user(
        &self,
        address: &Address,
        change: &UserChange,
    ) -> Result<Option<String>, DirectoryError> {
        let map = &self.config.attributes;
        let (key, attribute, values) = match change {
            UserChange::Enabled(on) => (
                "enabled",
                &map.enabled,
                vec![if *on { "TRUE" } else { "FALSE" }.to_owned()],
            ),
            UserChange::Ha1(list) => ("ha1", &map.ha1, list.iter().map(ha1_value).collect()),
        };
        if attribute.is_empty() {
            return Err(DirectoryError::Config(format!(
                "directory.ldap.attributes.{key} is empty: this directory has no attribute \
                 that holds {what}; name one in [directory.ldap.attributes]{hint}",
                what = match change {
                    UserChange::Enabled(_) => "whether a user is enabled",
                    UserChange::Ha1(_) => "Digest HA1s",
                },
                hint = match change {
                    UserChange::Enabled(_) =>
                        ", or disable the account in the directory itself (Active Directory: \
                         the account's own flag, which the lookup filter leaves out)",
                    UserChange::Ha1(_) => "",
                },
            )));
        }
        let invalid = |reason: String| DirectoryError::InvalidEntry {
            entry: address.to_string(),
            attribute: attribute.clone(),
            reason,
        };
        if values.len() > MAX_HA1_VALUES {
            return Err(invalid(format!(
                "{} values; at most {MAX_HA1_VALUES}",
                values.len()
            )));
        }
        if let Some(v) = values.iter().find(|v| v.len() > MAX_VALUE_LEN) {
            return Err(invalid(format!(
                "a value of {} bytes; at most {MAX_VALUE_LEN}",
                v.len()
            )));
        }
        let Some(raw) = self.find_raw(address).await? else {
            return Ok(None);
        };
        let found = raw_address(&raw, map)?;
        if !same_user(&found, address) {
            return Ok(None);
        }
        let dn = raw.dn;
        let values: HashSet<String> = values.into_iter().collect();
        let res = self
            .with_connection(|mut h| {
                let mods = vec![Mod::Replace(attribute.clone(), values.clone())];
                let dn = dn.clone();
                let timeout = self.config.timeout;
                async move { h.with_timeout(timeout).modify(&dn, mods).await }
            })
            .await?;
        if res.rc != 0 {
            return Err(self.server_error(&res));
        }
        tracing::info!(directory = %self.describe, %dn, attribute = %attribute, "LDAP entry changed");
        Ok(Some(dn))
    }

    async fn list_entries(&self) -> Result<Vec<DirectoryEntry>, DirectoryError> {
        let max = self.config.max_results;
        let (found, res, more) = self.with_connection(|h| self.search_all(h, max)).await?;
        if more || res.rc == SIZE_LIMIT_EXCEEDED {
            self.forget().await;
            return Err(DirectoryError::TooMany {
                directory: self.describe.clone(),
                limit: if more { max } else { found.len() },
            });
        }
        if res.rc != 0 {
            return Err(self.server_error(&res));
        }
        let mut entries = Vec::with_capacity(found.len());
        let mut skipped = 0usize;
        for f in found {
            let read = raw_entry(f)
                .ok_or_else(|| malformed(&self.describe))
                .and_then(|raw| entry_from_raw(&raw, &self.config.attributes));
            match read {
                Ok(e) => entries.push(e),
                Err(error) => {
                    skipped += 1;
                    tracing::warn!(directory = %self.describe, %error, "LDAP entry left out");
                }
            }
        }
        tracing::debug!(
            directory = %self.describe,
            users = entries.len(),
            skipped,
            "LDAP users listed"
        );
        Ok(entries)
    }

    fn error(&self, e: LdapError) -> DirectoryError {
        let directory = self.describe.clone();
        match e {
            LdapError::LdapResult { result } => DirectoryError::Server {
                directory,
                reason: result.to_string(),
            },
            LdapError::FilterParsing
            | LdapError::UrlParsing { .. }
            | LdapError::UnknownScheme(_)
            | LdapError::EmptyUnixPath
            | LdapError::PortInUnixPath => DirectoryError::Config(format!("{directory}: {e}")),
            other => DirectoryError::Unavailable {
                directory,
                reason: other.to_string(),
            },
        }
    }

    fn server_error(&self, res: &LdapResult) -> DirectoryError {
        DirectoryError::Server {
            directory: self.describe.clone(),
            reason: res.to_string(),
        }
    }
}

impl Directory for LdapDirectory {
    fn lookup<'a>(
        &'a self,
        address: &'a Address,
    ) -> BoxFuture<'a, Result<Option<DirectoryEntry>, DirectoryError>> {
        Box::pin(self.lookup_entry(address))
    }

    fn all(&self) -> BoxFuture<'_, Result<Vec<DirectoryEntry>, DirectoryError>> {
        Box::pin(self.list_entries())
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}

/// Errors after which the connection is no use: the next request opens a new one.
fn is_connection_lost(e: &LdapError) -> bool {
    matches!(
        e,
        LdapError::Io { .. }
            | LdapError::OpSend { .. }
            | LdapError::ResultRecv { .. }
            | LdapError::IdScrubSend { .. }
            | LdapError::MiscSend { .. }
            | LdapError::EndOfStream
    )
}

fn malformed(directory: &str) -> DirectoryError {
    DirectoryError::Server {
        directory: directory.to_owned(),
        reason: "a search result entry that is not one (malformed SearchResultEntry)".into(),
    }
}

fn same_user(a: &Address, b: &Address) -> bool {
    a.alias().eq_ignore_ascii_case(b.alias()) && a.domain() == b.domain()
}

fn read_password_file(path: &std::path::Path) -> Result<Secret, DirectoryError> {
    use std::io::Read;
    let fail = |why: String| {
        DirectoryError::Config(format!(
            "directory.ldap.bind_password_file {}: {why}",
            path.display()
        ))
    };
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut text = String::new();
    file.take(MAX_PASSWORD_FILE_LEN + 1)
        .read_to_string(&mut text)
        .map_err(|e| fail(e.to_string()))?;
    if text.len() as u64 > MAX_PASSWORD_FILE_LEN {
        return Err(fail(format!("longer than {MAX_PASSWORD_FILE_LEN} bytes")));
    }
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(fail("empty (the password is its first line)".into()));
    }
    Ok(Secret::new(line))
}

/// The lookup filter for `address`: each placeholder replaced once, escaped (RFC 4515),
/// in one pass (a replaced value is never scanned again).
pub fn expand(template: &str, address: &Address) -> String {
    let full = address.to_string();
    let mut out = String::with_capacity(template.len() + full.len() * 2);
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (value, len) = if tail.starts_with("{address}") {
            (full.as_str(), "{address}".len())
        } else if tail.starts_with("{alias}") {
            (address.alias(), "{alias}".len())
        } else if tail.starts_with("{domain}") {
            (address.domain(), "{domain}".len())
        } else {
            out.push('{');
            rest = &tail[1..];
            continue;
        };
        out.push_str(&ldap_escape(value));
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// A search result entry as DN and attributes, read without trusting its shape (`None`
/// for anything that is not `[APPLICATION 4] { dn, { { type, { value... } }... } }`).
pub fn raw_entry(re: ResultEntry) -> Option<RawEntry> {
    let mut parts = re.0.match_id(4)?.expect_constructed()?.into_iter();
    let dn = String::from_utf8(parts.next()?.expect_primitive()?).ok()?;
    let mut attrs: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for attribute in parts.next()?.expect_constructed()? {
        let mut a = attribute.expect_constructed()?.into_iter();
        let name = String::from_utf8(a.next()?.expect_primitive()?).ok()?;
        let values = a
            .next()?
            .expect_constructed()?
            .into_iter()
            .map(|v| v.expect_primitive())
            .collect::<Option<Vec<_>>>()?;
        attrs
            .entry(name.to_ascii_lowercase())
            .or_default()
            .extend(values);
    }
    Some(RawEntry { dn, attrs })
}

/// The address of an LDAP entry (its one value of the mapped `address` attribute).
pub fn raw_address(raw: &RawEntry, map: &AttributeMap) -> Result<Address, DirectoryError> {
    let invalid = |reason: String| DirectoryError::InvalidEntry {
        entry: raw.dn.clone(),
        attribute: map.address.clone(),
        reason,
    };
    let values = raw
        .attrs
        .get(&map.address.to_ascii_lowercase())
        .map_or(&[][..], Vec::as_slice);
    let value = match values {
        [] => return Err(invalid("missing: the entry has no address".into())),
        [v] => v,
        many => {
            return Err(invalid(format!(
                "{} values, where one is expected",
                many.len()
            )));
        }
    };
    if value.len() > MAX_ADDRESS_LEN {
        return Err(invalid(format!("longer than {MAX_ADDRESS_LEN} bytes")));
    }
    let text = std::str::from_utf8(value).map_err(|_| invalid("not UTF-8".into()))?;
    Address::parse(text).map_err(|e| invalid(format!("{text:?}: {e}")))
}

/// A directory entry from an LDAP entry's attributes, read as `map` says (see the
/// [module docs](self) for the rules).
pub fn entry_from_raw(
    raw: &RawEntry,
    map: &AttributeMap,
) -> Result<DirectoryEntry, DirectoryError> {
    let dn = raw.dn.as_str();
    let invalid = |attribute: &str, reason: String| DirectoryError::InvalidEntry {
        entry: dn.to_owned(),
        attribute: attribute.to_owned(),
        reason,
    };
    let values = |name: &str| -> &[Vec<u8>] {
        if name.is_empty() {
            return &[];
        }
        raw.attrs
            .get(&name.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    };
    let text = |name: &str, v: &[u8], limit: usize| -> Result<String, DirectoryError> {
        if v.len() > limit {
            return Err(invalid(name, format!("longer than {limit} bytes")));
        }
        String::from_utf8(v.to_vec()).map_err(|_| invalid(name, "not UTF-8".into()))
    };
    let single = |name: &str, limit: usize| -> Result<Option<String>, DirectoryError> {
        match values(name) {
            [] => Ok(None),
            [v] => text(name, v, limit).map(Some),
            many => Err(invalid(
                name,
                format!("{} values, where one is expected", many.len()),
            )),
        }
    };

    let mut e = DirectoryEntry::new(raw_address(raw, map)?, dn)?;

    if let Some(flag) = single(&map.enabled, MAX_VALUE_LEN)? {
        e.enabled = if flag.eq_ignore_ascii_case("TRUE") {
            true
        } else if flag.eq_ignore_ascii_case("FALSE") {
            false
        } else {
            return Err(invalid(
                &map.enabled,
                format!("{flag:?}: expected TRUE or FALSE"),
            ));
        };
    }
    if let Some(url) = single(&map.logical_url, MAX_VALUE_LEN)? {
        let logical: LogicalUrl = url
            .parse()
            .map_err(|err| invalid(&map.logical_url, format!("{url:?}: {err}")))?;
        if logical.alias() != e.alias() {
            return Err(invalid(
                &map.logical_url,
                format!("{url:?} names another alias than {}", e.address),
            ));
        }
        e.logical_url = logical;
    }
    if let Some(url) = single(&map.physical_url, MAX_VALUE_LEN)? {
        let physical: PhysicalUrl = url
            .parse()
            .map_err(|err| invalid(&map.physical_url, format!("{url:?}: {err}")))?;
        if physical.logical() != &e.logical_url {
            return Err(invalid(
                &map.physical_url,
                format!("{url:?} stands for another user than {}", e.logical_url),
            ));
        }
        e.physical_url = Some(physical);
    }
    let home = match single(&map.home, MAX_VALUE_LEN)? {
        Some(h) => Some(
            AuthorityRef::parse(&h)
                .map_err(|err| invalid(&map.home, format!("{h:?}: {err}")))?
                .to_canonical(),
        ),
        None => None,
    };
    e.home = match (home, &e.physical_url) {
        (Some(h), Some(p)) if h != p.home() => {
            return Err(invalid(
                &map.home,
                format!(
                    "{h} disagrees with the physical URL's home server {}",
                    p.home()
                ),
            ));
        }
        (Some(h), _) => Some(h),
        (None, Some(p)) => Some(p.home().to_owned()),
        (None, None) => None,
    };
    if e.physical_url.is_none()
        && let Some(h) = &e.home
    {
        e.physical_url = Some(e.logical_url.to_physical(h));
    }
    e.display_name = single(&map.display_name, MAX_DISPLAY_NAME_LEN)?;
    e.email = single(&map.email, MAX_EMAIL_LEN)?;

    let ha1s = values(&map.ha1);
    if ha1s.len() > MAX_HA1_VALUES {
        return Err(invalid(
            &map.ha1,
            format!("{} values; at most {MAX_HA1_VALUES}", ha1s.len()),
        ));
    }
    if !ha1s.is_empty() {
        let list = ha1s
            .iter()
            .map(|v| {
                let t = text(&map.ha1, v, MAX_VALUE_LEN)?;
                DigestHa1::parse(&t).map_err(|why| invalid(&map.ha1, why))
            })
            .collect::<Result<Vec<_>, _>>()?;
        e.credentials = Credentials::Ha1(list);
    }
    Ok(e)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &[&str])]) -> RawEntry {
        RawEntry {
            dn: "uid=x,dc=example,dc=org".into(),
            attrs: pairs
                .iter()
                .map(|(k, vs)| {
                    (
                        k.to_ascii_lowercase(),
                        vs.iter().map(|v| v.as_bytes().to_vec()).collect(),
                    )
                })
                .collect(),
        }
    }

    const HEX: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn an_rvp_user_entry() {
        let e = entry_from_raw(
            &raw(&[
                ("rvpIMAddress", &["Alice@IM.example.org"]),
                ("rvpIMEnabled", &["TRUE"]),
                ("rvpIMHomeServer", &["im1.example.org"]),
                ("displayName", &["Alice Liddell"]),
                ("mail", &["alice@example.org"]),
                (
                    "rvpDigestHA1",
                    &[HEX, &format!("CORP\\alice:im.example.org:{HEX}")],
                ),
            ]),
            &AttributeMap::rvp_user(),
        )
        .unwrap();
        assert_eq!(e.address.to_string(), "Alice@im.example.org");
        assert!(e.enabled);
        assert_eq!(e.home.as_deref(), Some("im1.example.org"));
        assert_eq!(
            e.physical_url.unwrap().to_string(),
            "http://im1.example.org/instmsg/local/im.example.org/instmsg/aliases/alice"
        );
        assert_eq!(e.display_name.as_deref(), Some("Alice Liddell"));
        assert!(matches!(e.credentials, Credentials::Ha1(ref l) if l.len() == 2));
        assert_eq!(e.origin, "uid=x,dc=example,dc=org");
    }

    #[test]
    fn an_exchange_entry() {
        let e = entry_from_raw(
            &raw(&[
                ("msExchIMAddress", &["bruceb@im.example.org"]),
                (
                    "msExchIMPhysicalURL",
                    &["http://im2.example.org/instmsg/local/im.example.org/instmsg/aliases/bruceb"],
                ),
                (
                    "msExchIMMetaPhysicalURL",
                    &["http://im.example.org/instmsg/aliases/bruceb"],
                ),
                ("rvpDigestHA1", &[HEX]),
            ]),
            &AttributeMap::exchange(),
        )
        .unwrap();
        assert_eq!(e.home.as_deref(), Some("im2.example.org"));
        assert!(e.enabled);
        // The map reads no HA1 attribute.
        assert_eq!(e.credentials, Credentials::None);
    }

    #[test]
    fn entries_that_break_a_rule_are_refused_naming_the_attribute() {
        let map = AttributeMap::rvp_user();
        let long = "x".repeat(MAX_DISPLAY_NAME_LEN + 1);
        let ha1s: Vec<String> = (0..=MAX_HA1_VALUES).map(|_| HEX.to_owned()).collect();
        let ha1s: Vec<&str> = ha1s.iter().map(String::as_str).collect();
        for (pairs, attribute, words) in [
            (vec![("mail", &["a@b"][..])], "rvpIMAddress", "missing"),
            (
                vec![("rvpIMAddress", &["alice"][..])],
                "rvpIMAddress",
                "'@'",
            ),
            (
                vec![("rvpIMAddress", &["a@x.org", "b@x.org"][..])],
                "rvpIMAddress",
                "2 values",
            ),
            (
                vec![("rvpIMEnabled", &["yes"][..])],
                "rvpIMEnabled",
                "TRUE or FALSE",
            ),
            (
                vec![(
                    "rvpIMLogicalURL",
                    &["http://im.x.org/instmsg/aliases/bob"][..],
                )],
                "rvpIMLogicalURL",
                "another alias",
            ),
            (
                vec![(
                    "rvpIMPhysicalURL",
                    &["http://h/instmsg/local/im.x.org/instmsg/aliases/bob"][..],
                )],
                "rvpIMPhysicalURL",
                "another user",
            ),
            (
                vec![
                    ("rvpIMHomeServer", &["h1"][..]),
                    (
                        "rvpIMPhysicalURL",
                        &["http://h2/instmsg/local/x.org/instmsg/aliases/a"][..],
                    ),
                ],
                "rvpIMHomeServer",
                "disagrees",
            ),
            (
                vec![("rvpIMHomeServer", &["not a host"][..])],
                "rvpIMHomeServer",
                "not a host",
            ),
            (
                vec![("displayName", &[long.as_str()][..])],
                "displayName",
                "longer than 256",
            ),
            (
                vec![("rvpDigestHA1", &["xyz"][..])],
                "rvpDigestHA1",
                "not an HA1",
            ),
            (
                vec![("rvpDigestHA1", &ha1s[..])],
                "rvpDigestHA1",
                "at most 16",
            ),
        ] {
            let mut pairs = pairs;
            if !pairs.iter().any(|(k, _)| *k == "rvpIMAddress") && attribute != "rvpIMAddress" {
                pairs.push(("rvpIMAddress", &["a@x.org"][..]));
            }
            let e = entry_from_raw(&raw(&pairs), &map).unwrap_err();
            match &e {
                DirectoryError::InvalidEntry {
                    attribute: a,
                    reason,
                    ..
                } => {
                    assert_eq!(a, attribute, "{e}");
                    assert!(e.to_string().contains(words), "{e} / {reason}");
                }
                other => panic!("{other:?}"),
            }
        }
        let mut bad_utf8 = raw(&[("rvpIMAddress", &["a@x.org"])]);
        bad_utf8
            .attrs
            .insert("displayname".into(), vec![vec![0xff, 0xfe]]);
        assert!(
            entry_from_raw(&bad_utf8, &map)
                .unwrap_err()
                .to_string()
                .contains("UTF-8")
        );
    }

    proptest::proptest! {
        /// What `change_user` writes reads back as the same HA1 (the parser of entries).
        #[test]
        fn ha1_values_read_back(
            user in "[A-Za-z0-9._/\\\\-]{1,24}",
            realm in "[ -~]{0,40}",
            bytes in proptest::prelude::any::<[u8; 16]>(),
            bare in proptest::prelude::any::<bool>(),
        ) {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let d = if bare {
                DigestHa1::parse(&hex)
            } else {
                DigestHa1::parse(&format!("{user}:{realm}:{hex}"))
            }
            .unwrap();
            let value = ha1_value(&d);
            proptest::prop_assert!(value.len() <= MAX_VALUE_LEN);
            proptest::prop_assert_eq!(DigestHa1::parse(&value).unwrap(), d);
        }
    }

    #[test]
    fn disabled_and_attribute_names_in_any_case() {
        let e = entry_from_raw(
            &raw(&[("RVPIMADDRESS", &["a@x.org"]), ("rvpimenabled", &["FALSE"])]),
            &AttributeMap::rvp_user(),
        )
        .unwrap();
        assert!(!e.enabled);
    }

    #[test]
    fn filters_are_expanded_escaped_in_one_pass() {
        let a = Address::new("x{alias}*", "im.example.org").unwrap();
        assert_eq!(
            expand("(&(a={address})(b={alias})(c={domain})(d={other}))", &a),
            "(&(a=x{alias}\\2a@im.example.org)(b=x{alias}\\2a)(c=im.example.org)(d={other}))"
        );
        let a = Address::new("o)(uid=*", "x.org").unwrap();
        assert_eq!(expand("(uid={alias})", &a), "(uid=o\\29\\28uid=\\2a)");
    }

    #[test]
    fn malformed_result_entries_are_none_not_a_panic() {
        use ldap3::asn1::{PL, StructureTag, TagClass};
        let prim = |id, v: &[u8]| StructureTag {
            class: TagClass::Universal,
            id,
            payload: PL::P(v.to_vec()),
        };
        let cons = |id, inner: Vec<StructureTag>| StructureTag {
            class: TagClass::Universal,
            id,
            payload: PL::C(inner),
        };
        let good = cons(
            4,
            vec![
                prim(4, b"dc=x"),
                cons(
                    16,
                    vec![cons(
                        16,
                        vec![prim(4, b"mail"), cons(17, vec![prim(4, b"a@b")])],
                    )],
                ),
            ],
        );
        let r = raw_entry(ResultEntry::new(good)).unwrap();
        assert_eq!(r.attrs["mail"], vec![b"a@b".to_vec()]);
        for bad in [
            prim(4, b"x"),
            cons(5, vec![]),
            cons(4, vec![]),
            cons(4, vec![prim(4, &[0xff])]),
            cons(4, vec![prim(4, b"dc=x"), prim(4, b"attrs")]),
            cons(4, vec![prim(4, b"dc=x"), cons(16, vec![prim(4, b"mail")])]),
            cons(
                4,
                vec![
                    prim(4, b"dc=x"),
                    cons(16, vec![cons(16, vec![prim(4, b"mail"), prim(4, b"v")])]),
                ],
            ),
        ] {
            assert!(raw_entry(ResultEntry::new(bad)).is_none());
        }
    }

    #[test]
    fn the_password_file_is_read_and_bounded() {
        let dir = std::env::temp_dir().join(format!("rvp-ldap-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("secret");
        std::fs::write(&p, "s3cret\nignored\n").unwrap();
        assert_eq!(read_password_file(&p).unwrap().expose(), "s3cret");
        std::fs::write(&p, "\n").unwrap();
        assert!(
            read_password_file(&p)
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        std::fs::write(&p, "x".repeat(5000)).unwrap();
        assert!(
            read_password_file(&p)
                .unwrap_err()
                .to_string()
                .contains("longer")
        );
        let e = read_password_file(&dir.join("missing")).unwrap_err();
        assert!(e.to_string().contains("bind_password_file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
        let mut c = LdapConfig::new("ldap://127.0.0.1:1", "dc=x");
        c.filter = "(&(uid={alias})(x=y)".into();
        assert!(matches!(
            LdapDirectory::new(&c),
            Err(DirectoryError::Config(_))
        ));
        // The Active Directory filter default.toml documents (an extensible match with
        // AD's bitwise-AND rule) is a filter ldap3 sends.
        c.filter = "(&(objectClass=user)(msExchIMAddress={address})\
                    (!(userAccountControl:1.2.840.113556.1.4.803:=2)))"
            .into();
        c.attributes = AttributeMap::exchange();
        assert!(LdapDirectory::new(&c).is_ok());
    }
}
