//! The directory of the configuration file: its `[[users]]`.
//!
//! Every user is in the IM domain `server.domain`, enabled unless `enabled = false`, homed
//! on its `home` (absent: this server, `server.host_name`). A disabled user is treated as
//! an LDAP entry with `rvpIMEnabled: FALSE`: not registered, no Digest credentials, so it
//! is answered as a user the directory does not hold. A `password` stays a password (any username form
//! works); an `ha1` is an HA1 over the alias in the server's realm, as before.

use std::collections::HashMap;
use std::fmt;

use rvp_proto::url::{AuthorityRef, PhysicalUrl, canonical_alias};
use rvp_resolve::Address;

use super::{BoxFuture, Credentials, DigestHa1, Directory, DirectoryEntry, DirectoryError, Secret};
use crate::auth::digest::Ha1;
use serde::{Deserialize, Serialize};

/// One `[[users]]` entry.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct UserConfig {
    /// The alias: sign-in name `alias@domain`, node `/instmsg/aliases/<alias>`. Required.
    pub alias: String,
    /// `d:displayname`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `r:email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Clear-text password (Digest needs the password or the HA1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Digest HA1: 32 hex digits, MD5 of `user:realm:password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha1: Option<String>,
    /// The host name (`host` or `host:port`) of the home server that holds this user, when
    /// it is another server of the IM domain: requests for the user are then routed there
    /// (see [`crate::router`]). Absent: this server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    /// `false`: the user is not served (it cannot sign in and is answered as a user the
    /// directory does not hold), though its entry stays in the file. Absent: enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

impl fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserConfig")
            .field("alias", &self.alias)
            .field("display_name", &self.display_name)
            .field("email", &self.email)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ha1", &self.ha1.as_ref().map(|_| "<redacted>"))
            .field("home", &self.home)
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// The `[[users]]` of a configuration, in their order, looked up by alias.
#[derive(Debug, Clone)]
pub struct FileDirectory {
    domain: String,
    entries: Vec<DirectoryEntry>,
    /// canonical alias → index in `entries`.
    by_alias: HashMap<String, usize>,
}

impl FileDirectory {
    /// `users` of the IM domain `domain`, served by the server `host_name` unless their
    /// `home` says otherwise.
    pub fn from_users(
        domain: &str,
        host_name: &str,
        users: &[UserConfig],
    ) -> Result<FileDirectory, DirectoryError> {
        let mut entries = Vec::with_capacity(users.len());
        let mut by_alias = HashMap::with_capacity(users.len());
        for (i, u) in users.iter().enumerate() {
            let origin = format!("users[{i}]");
            let invalid = |attribute: &str, reason: String| DirectoryError::InvalidEntry {
                entry: origin.clone(),
                attribute: attribute.to_owned(),
                reason,
            };
            let address =
                Address::new(&u.alias, domain).map_err(|e| invalid("alias", e.to_string()))?;
            let mut e = DirectoryEntry::new(address, origin.clone())?;
            let home = u.home.as_deref().unwrap_or(host_name);
            let home = AuthorityRef::parse(home)
                .map_err(|err| invalid("home", format!("{home:?}: {err}")))?
                .to_canonical();
            e.physical_url = Some(
                PhysicalUrl::new(&home, e.logical_url.clone())
                    .map_err(|err| invalid("home", err.to_string()))?,
            );
            e.home = u.home.as_ref().map(|_| home);
            e.enabled = u.enabled.unwrap_or(true);
            e.display_name.clone_from(&u.display_name);
            e.email.clone_from(&u.email);
            e.credentials = match (&u.password, &u.ha1) {
                (Some(p), _) => Credentials::Password(Secret::new(p.as_str())),
                (None, Some(h)) => Credentials::Ha1(vec![DigestHa1::new(
                    Ha1::from_hex(h).ok_or_else(|| invalid("ha1", "not 32 hex digits".into()))?,
                )]),
                (None, None) => Credentials::None,
            };
            let key = canonical_alias(&u.alias).map_err(|err| invalid("alias", err.to_string()))?;
            if by_alias.insert(key, entries.len()).is_some() {
                return Err(invalid(
                    "alias",
                    format!("alias {:?} is defined twice", u.alias),
                ));
            }
            entries.push(e);
        }
        Ok(FileDirectory {
            domain: domain.to_ascii_lowercase(),
            entries,
            by_alias,
        })
    }

    /// The user `address` names, at once (the file is in memory).
    pub fn get(&self, address: &Address) -> Option<&DirectoryEntry> {
        if !address.domain().eq_ignore_ascii_case(&self.domain) {
            return None;
        }
        let key = canonical_alias(address.alias()).ok()?;
        self.by_alias.get(&key).and_then(|&i| self.entries.get(i))
    }

    /// Every user, in the file's order.
    pub fn entries(&self) -> &[DirectoryEntry] {
        &self.entries
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Directory for FileDirectory {
    fn lookup<'a>(
        &'a self,
        address: &'a Address,
    ) -> BoxFuture<'a, Result<Option<DirectoryEntry>, DirectoryError>> {
        let found = self.get(address).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn all(&self) -> BoxFuture<'_, Result<Vec<DirectoryEntry>, DirectoryError>> {
        let all = self.entries.clone();
        Box::pin(async move { Ok(all) })
    }

    fn describe(&self) -> String {
        format!(
            "[[users]] of the configuration ({} users)",
            self.entries.len()
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn users_become_entries() {
        let c = Config::from_toml_str(
            "[server]\ndomain = \"im.example.org\"\nhost_name = \"im0.example.org\"\n\
             [[users]]\nalias = \"Alice\"\ndisplay_name = \"Alice L\"\nemail = \"a@example.org\"\n\
             password = \"pw\"\n\
             [[users]]\nalias = \"bob\"\nha1 = \"0123456789abcdef0123456789abcdef\"\n\
             home = \"IM1.example.org\"\n\
             [[users]]\nalias = \"carol\"\nenabled = false\n",
            "x",
        )
        .unwrap();
        let d = c.file_directory().unwrap();
        assert_eq!(d.len(), 3);
        let alice = d
            .get(&Address::parse("ALICE@im.example.org").unwrap())
            .unwrap();
        assert_eq!(alice.address.alias(), "Alice");
        assert_eq!(alice.home, None);
        assert!(alice.is_homed_on("im0.example.org"));
        assert_eq!(
            alice.physical_url.as_ref().unwrap().to_string(),
            "http://im0.example.org/instmsg/local/im.example.org/instmsg/aliases/alice"
        );
        assert_eq!(alice.display_name.as_deref(), Some("Alice L"));
        assert_eq!(alice.credentials, Credentials::Password(Secret::new("pw")));
        let bob = d
            .get(&Address::parse("bob@im.example.org").unwrap())
            .unwrap();
        assert_eq!(bob.home.as_deref(), Some("im1.example.org"));
        assert!(!bob.is_homed_on("im0.example.org"));
        assert_eq!(bob.physical_url.as_ref().unwrap().home(), "im1.example.org");
        assert!(matches!(&bob.credentials, Credentials::Ha1(l) if l.len() == 1));
        assert_eq!(bob.email_or_address(), "bob@im.example.org");
        let carol = d
            .get(&Address::parse("carol@im.example.org").unwrap())
            .unwrap();
        assert_eq!(carol.credentials, Credentials::None);
        assert!(!carol.enabled, "enabled = false");
        assert!(alice.enabled && bob.enabled, "absent: enabled");
        assert!(
            d.get(&Address::parse("dave@im.example.org").unwrap())
                .is_none()
        );
        assert!(
            d.get(&Address::parse("alice@example.org").unwrap())
                .is_none()
        );
        let order: Vec<_> = d.entries().iter().map(|e| e.origin.as_str()).collect();
        assert_eq!(order, ["users[0]", "users[1]", "users[2]"]);
    }

    #[test]
    fn a_bad_home_names_the_user() {
        let mut c = Config::from_toml_str("[[users]]\nalias = \"bob\"\n", "x").unwrap();
        c.users[0].home = Some("not a host".into());
        let e = c.file_directory().unwrap_err();
        assert!(
            matches!(&e, DirectoryError::InvalidEntry { entry, attribute, .. }
                if entry == "users[0]" && attribute == "home"),
            "{e}"
        );
    }
}
