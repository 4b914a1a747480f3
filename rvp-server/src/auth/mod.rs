//! Who is calling: HTTP Digest authentication and the identity it yields (reference §8.1,
//! §8.2).
//!
//! ```text
//!  request line + Authorization header
//!        │
//!        ▼
//!  Authenticator::authenticate(now, method, target, authorization)
//!        ├─ no header ──────────────► Ok(Identity::Unauthenticated)   evaluate as asserted (§8.2)
//!        ├─ Digest, verified ───────► Ok(Identity::Authenticated { principal, kind: Digest })
//!        └─ other scheme / refused ─► Err(AuthError)  ─► 401 with Authenticator::challenge(now, Some(&err))
//! ```
//!
//! The server offers exactly one challenge, `WWW-Authenticate: Digest qop="auth",
//! realm="<IM domain>", nonce="<fresh>"` (reference §8.1 (I)): that is what librvp, the
//! real client we test against, handles. The [`digest`] module has the verification
//! details (nonces, expiry, replay protection); the headers and the request-digest are
//! [`rvp_proto::digest`]'s.
//!
//! Usernames: librvp sends the local part of the sign-in name (`alice`), or `DOMAIN\alice`
//! when its Auth Domain option is set; Miranda sends `DOMAIN/alice`. All three map to the
//! principal `http://<IM domain>/instmsg/aliases/alice`. Because HA1 covers the username
//! exactly as sent, [`UserDirectory`] keeps either the password (any form works) or one HA1
//! per accepted username form.
//!
//! NTLM is out of scope: librvp authenticates with Digest when Digest is the only scheme
//! offered, and crashes on NTLM challenges unless specially configured (interop README).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use rvp_server::auth::{Authenticator, DigestConfig, Identity, NonceSecret, UserDirectory};
//! use rvp_proto::digest::{compute_response, Ha1, QopAuth};
//!
//! let mut users = UserDirectory::new("localhost")?;
//! users.add_password("alice", "wonderland")?;
//! let now = Instant::now();
//! let auth = Authenticator::new(DigestConfig::new("localhost"), NonceSecret::generate()?, users, now);
//!
//! // A bare request: evaluated as asserted; if the operation needs proof, answer 401.
//! assert_eq!(auth.authenticate(now, "SUBSCRIBE", "/instmsg/aliases/alice", None)?, Identity::Unauthenticated);
//! let challenge = auth.challenge(now, None);
//!
//! // The client answers the challenge (here computed the way librvp does).
//! let ha1 = Ha1::from_password("alice", "localhost", "wonderland");
//! let qop = QopAuth { nc: "00000001", cnonce: "c0ffee" };
//! let response = compute_response(&ha1, "SUBSCRIBE", "/instmsg/aliases/alice", challenge.nonce(), Some(qop));
//! let header = format!(
//!     "Digest username=\"alice\", realm=\"localhost\", nonce=\"{}\", uri=\"/instmsg/aliases/alice\", \
//!      algorithm=\"MD5\", qop=auth, nc=00000001, cnonce=\"c0ffee\", response=\"{response}\"",
//!     challenge.nonce()
//! );
//! let later = now + Duration::from_millis(20);
//! let id = auth.authenticate(later, "SUBSCRIBE", "/instmsg/aliases/alice", Some(header.as_bytes()))?;
//! assert_eq!(id.principal().map(|p| p.to_string()).as_deref(), Some("http://localhost/instmsg/aliases/alice"));
//! // The same answer again is a replay.
//! assert!(auth.authenticate(later, "SUBSCRIBE", "/instmsg/aliases/alice", Some(header.as_bytes())).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod digest;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use rvp_proto::CredentialKind;
use rvp_proto::url::{LogicalUrl, UrlError, canonical_alias};

pub use digest::{
    Challenge, DigestAccount, DigestConfig, DigestUsers, DigestVerifier, Ha1, LibrvpCompat,
    NonceSecret, Verified, VerifyError,
};
use rvp_proto::digest::DigestHeaderError;

/// The body (`text/plain`) of every `401` the server sends, whatever the reason: an
/// unknown user, a wrong password, a stale or forged nonce, a missing `qop` all read the
/// same, so answers do not tell which users exist. The reason goes to the debug log.
pub const UNAUTHORIZED_BODY: &str = "authentication required";

/// Why a request's credentials were not accepted, or a directory entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The `Authorization` header uses a scheme we do not offer (NTLM, Basic...).
    #[error("Authorization scheme {0:?} not supported (only Digest)")]
    UnsupportedScheme(String),
    /// The Digest answer was refused.
    #[error(transparent)]
    Digest(#[from] VerifyError),
    /// A user alias in the directory is not a valid alias.
    #[error("invalid user alias {alias:?}: {source}")]
    InvalidAlias {
        /// The alias given.
        alias: String,
        /// What is wrong with it.
        source: UrlError,
    },
    /// The IM domain is not a valid host.
    #[error("invalid IM domain {domain:?}: {source}")]
    InvalidDomain {
        /// The domain given.
        domain: String,
        /// What is wrong with it.
        source: UrlError,
    },
    /// An HA1 entry's username form does not name the alias it is stored under.
    #[error("username {username:?} does not belong to user {alias:?}")]
    UsernameMismatch {
        /// The username form.
        username: String,
        /// The alias.
        alias: String,
    },
}

impl AuthError {
    /// Whether a challenge with `stale=true` fits (the credentials were right but the
    /// nonce too old).
    pub fn is_stale(&self) -> bool {
        matches!(self, AuthError::Digest(e) if e.is_stale())
    }
}

/// A caller whose credentials were verified.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Authenticated {
    /// The principal the account belongs to.
    pub principal: LogicalUrl,
    /// How it was proven ([`CredentialKind::Digest`] here).
    pub kind: CredentialKind,
    /// The username exactly as sent (for the request log; shared with it).
    pub username: Arc<str>,
}

/// The identity a request presents, beyond its asserted `RVP-From-Principal` (which every
/// request presents with [`CredentialKind::Assertion`], reference §8.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Identity {
    /// Credentials were verified.
    Authenticated(Authenticated),
    /// No credentials: evaluate the request with its asserted identity only.
    Unauthenticated,
}

impl Identity {
    /// The authenticated principal, if any.
    pub fn principal(&self) -> Option<&LogicalUrl> {
        match self {
            Identity::Authenticated(a) => Some(&a.principal),
            Identity::Unauthenticated => None,
        }
    }

    /// The credential kind of the proof, if any.
    pub fn credential_kind(&self) -> Option<CredentialKind> {
        match self {
            Identity::Authenticated(a) => Some(a.kind),
            Identity::Unauthenticated => None,
        }
    }

    /// Whether credentials were verified.
    pub fn is_authenticated(&self) -> bool {
        matches!(self, Identity::Authenticated(_))
    }
}

#[derive(Debug, Clone)]
enum Secret {
    /// The password: HA1 is computed for whatever username form arrives, except the
    /// alias itself in the IM domain's realm (what librvp and most clients send), whose
    /// HA1 is computed once here.
    Password(Box<str>, Ha1),
    /// Precomputed HA1s, one per accepted username form (exact bytes).
    Ha1(Vec<(Box<str>, Ha1)>),
}

/// The local users who can authenticate: alias → password or HA1s.
///
/// Accepted username forms for alias `alice`: `alice`, `DOMAIN\alice`, `DOMAIN/alice`
/// (the alias compared ASCII-case-insensitively, like aliases in URLs). The `DOMAIN` part is
/// any name unless [`UserDirectory::restrict_domains`] limits it.
#[derive(Debug, Clone)]
pub struct UserDirectory {
    im_domain: String,
    /// A URL on the IM domain (validated once), to build each user's principal from.
    domain_url: LogicalUrl,
    /// foldhash: looked up on every verified request, keyed by configured user names.
    users: HashMap<String, Secret, foldhash::fast::RandomState>,
    domains: Option<Vec<String>>,
}

/// Splits `DOMAIN\user` or `DOMAIN/user` at the last separator.
fn split_username(username: &str) -> (Option<&str>, &str) {
    match username.rfind(['\\', '/']) {
        Some(i) => (Some(&username[..i]), &username[i + 1..]),
        None => (None, username),
    }
}

impl UserDirectory {
    /// An empty directory for the IM domain (the logical host of the principals).
    pub fn new(im_domain: &str) -> Result<UserDirectory, AuthError> {
        // Validate the domain by building a URL with it.
        let probe =
            LogicalUrl::new(im_domain, "probe").map_err(|source| AuthError::InvalidDomain {
                domain: im_domain.to_owned(),
                source,
            })?;
        Ok(UserDirectory {
            im_domain: probe.host().to_owned(),
            domain_url: probe,
            users: HashMap::default(),
            domains: None,
        })
    }

    fn alias_key(alias: &str) -> Result<String, AuthError> {
        canonical_alias(alias).map_err(|source| AuthError::InvalidAlias {
            alias: alias.to_owned(),
            source,
        })
    }

    /// Adds (or replaces) a user with a password.
    pub fn add_password(&mut self, alias: &str, password: &str) -> Result<(), AuthError> {
        let key = Self::alias_key(alias)?;
        let ha1 = Ha1::from_password(&key, &self.im_domain, password);
        self.users
            .insert(key, Secret::Password(password.into(), ha1));
        Ok(())
    }

    /// Adds an HA1 for one username form of a user (`alice` or `CORP\alice`), computed
    /// over that exact form and the realm. A user can have several; adding an HA1 to a
    /// user who has a password replaces the password.
    pub fn add_ha1(&mut self, alias: &str, username: &str, ha1: Ha1) -> Result<(), AuthError> {
        let key = Self::alias_key(alias)?;
        let (_, local) = split_username(username);
        if canonical_alias(local).ok().as_deref() != Some(key.as_str()) {
            return Err(AuthError::UsernameMismatch {
                username: username.to_owned(),
                alias: alias.to_owned(),
            });
        }
        let entry = self
            .users
            .entry(key)
            .or_insert_with(|| Secret::Ha1(Vec::new()));
        match entry {
            Secret::Ha1(list) => {
                list.retain(|(u, _)| &**u != username);
                list.push((username.into(), ha1));
            }
            Secret::Password(..) => *entry = Secret::Ha1(vec![(username.into(), ha1)]),
        }
        Ok(())
    }

    /// Accepts `DOMAIN\user` forms only for these domains (ASCII-case-insensitive). By
    /// default any domain is accepted: the domain is part of what HA1 covers, so it grants
    /// nothing without the password.
    pub fn restrict_domains<I, S>(&mut self, domains: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.domains = Some(
            domains
                .into_iter()
                .map(|d| d.as_ref().to_ascii_lowercase())
                .collect(),
        );
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The principal a username form maps to, whether or not the user exists.
    pub fn principal_for(&self, username: &str) -> Option<LogicalUrl> {
        let (domain, local) = split_username(username);
        if let (Some(d), Some(allowed)) = (domain, &self.domains)
            && !allowed.iter().any(|a| a.eq_ignore_ascii_case(d))
        {
            return None;
        }
        // The domain was validated once, at construction: only the alias is checked here.
        self.domain_url.with_alias(local).ok()
    }
}

impl DigestUsers for UserDirectory {
    fn lookup(&self, username: &str, realm: &str) -> Option<DigestAccount> {
        let principal = self.principal_for(username)?;
        let ha1 = match self.users.get(principal.alias())? {
            Secret::Password(_, ha1)
                if username == principal.alias() && realm == self.im_domain =>
            {
                ha1.clone()
            }
            Secret::Password(p, _) => Ha1::from_password(username, realm, p),
            Secret::Ha1(list) => list.iter().find(|(u, _)| &**u == username)?.1.clone(),
        };
        Some(DigestAccount { principal, ha1 })
    }
}

/// Digest verification plus the user directory: what the listener calls per request.
///
/// The directory can be replaced while the server runs ([`Authenticator::replace_users`],
/// a configuration reload): a request verifies against the directory in force when it
/// arrives; nonces and the replay table are kept, so clients signed on stay signed on.
#[derive(Debug)]
pub struct Authenticator {
    verifier: DigestVerifier,
    users: RwLock<Arc<UserDirectory>>,
    /// Directory reads by Digest verification.
    lookups: AtomicU64,
}

/// A [`DigestUsers`] that counts its reads.
struct Counted<'a> {
    users: &'a UserDirectory,
    lookups: &'a AtomicU64,
}

impl DigestUsers for Counted<'_> {
    fn lookup(&self, username: &str, realm: &str) -> Option<DigestAccount> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        self.users.lookup(username, realm)
    }
}

impl Authenticator {
    /// An authenticator whose nonce clock starts at `now`.
    pub fn new(
        config: DigestConfig,
        secret: NonceSecret,
        users: UserDirectory,
        now: Instant,
    ) -> Authenticator {
        Authenticator {
            verifier: DigestVerifier::new(config, secret, now),
            users: RwLock::new(Arc::new(users)),
            lookups: AtomicU64::new(0),
        }
    }

    /// The verifier (nonce and replay state).
    pub fn verifier(&self) -> &DigestVerifier {
        &self.verifier
    }

    /// The user directory in force.
    pub fn users(&self) -> Arc<UserDirectory> {
        Arc::clone(&self.users.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the user directory: requests from now on verify against `users` (a user
    /// left out can no longer authenticate; a new one can). Returns the one replaced.
    pub fn replace_users(&self, users: UserDirectory) -> Arc<UserDirectory> {
        let mut slot = self.users.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *slot, Arc::new(users))
    }

    /// User directory reads made by Digest verification so far (one per Digest answer
    /// that got as far as naming its user).
    pub fn directory_lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    /// The identity a request proves. `authorization` is the `Authorization` header value
    /// (`None` when absent); `method` and `target` come from the request line.
    ///
    /// `Ok(Identity::Unauthenticated)` without a header; an error (answer `401` with
    /// [`Authenticator::challenge`]) for another scheme or a refused Digest answer.
    pub fn authenticate(
        &self,
        now: Instant,
        method: &str,
        target: &str,
        authorization: Option<&[u8]>,
    ) -> Result<Identity, AuthError> {
        let Some(value) = authorization else {
            return Ok(Identity::Unauthenticated);
        };
        match rvp_proto::digest::split_scheme(value) {
            Some((scheme, _)) if scheme.eq_ignore_ascii_case(b"Digest") => {}
            Some((scheme, _)) => {
                return Err(AuthError::UnsupportedScheme(
                    String::from_utf8_lossy(scheme).into_owned(),
                ));
            }
            None => {
                return Err(
                    VerifyError::from(DigestHeaderError::Malformed("no auth scheme")).into(),
                );
            }
        }
        let users = self.users();
        let counted = Counted {
            users: &users,
            lookups: &self.lookups,
        };
        let v = self
            .verifier
            .verify_header(now, &counted, method, target, value)?;
        if v.librvp_truncated {
            tracing::debug!(
                username = %v.username,
                "Digest answer accepted in librvp's truncated-HA1 form"
            );
        }
        Ok(Identity::Authenticated(Authenticated {
            principal: v.principal,
            kind: CredentialKind::Digest,
            username: v.username,
        }))
    }

    /// A fresh challenge for a 401; pass the refusal (if any) so a stale nonce can be
    /// flagged.
    pub fn challenge(&self, now: Instant, after: Option<&AuthError>) -> Challenge {
        self.verifier
            .challenge(now, after.is_some_and(AuthError::is_stale))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn username_forms() {
        assert_eq!(split_username("alice"), (None, "alice"));
        assert_eq!(split_username("CORP\\alice"), (Some("CORP"), "alice"));
        assert_eq!(split_username("CORP/alice"), (Some("CORP"), "alice"));
        let mut d = UserDirectory::new("LocalHost").unwrap();
        d.add_password("Alice", "pw").unwrap();
        let want = "http://localhost/instmsg/aliases/alice";
        for form in ["alice", "ALICE", "CORP\\alice", "corp/Alice"] {
            let acct = d.lookup(form, "localhost").unwrap();
            assert_eq!(acct.principal.to_string(), want, "{form}");
            assert_eq!(acct.ha1, Ha1::from_password(form, "localhost", "pw"));
        }
        // The alias in the directory's realm has its HA1 computed once; another realm
        // still gets the HA1 of that realm.
        assert_eq!(
            d.lookup("alice", "elsewhere").unwrap().ha1,
            Ha1::from_password("alice", "elsewhere", "pw")
        );
        assert!(d.lookup("bob", "localhost").is_none());
        d.restrict_domains(["corp"]);
        assert!(d.lookup("CORP\\alice", "localhost").is_some());
        assert!(d.lookup("EVIL\\alice", "localhost").is_none());
        assert!(d.lookup("alice", "localhost").is_some());
    }

    /// A Digest answer as librvp sends it, for a fresh challenge.
    fn answer(auth: &Authenticator, now: Instant, user: &str, password: &str) -> String {
        let nonce = auth.challenge(now, None).nonce().to_owned();
        let ha1 = Ha1::from_password(user, "localhost", password);
        let qop = rvp_proto::digest::QopAuth {
            nc: "00000001",
            cnonce: "0a4f113b",
        };
        let response = rvp_proto::digest::compute_response(&ha1, "ACL", "/x", &nonce, Some(qop));
        format!(
            "Digest username=\"{user}\", realm=\"localhost\", nonce=\"{nonce}\", uri=\"/x\", \
             qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"{response}\""
        )
    }

    #[test]
    fn the_directory_is_replaced_while_running_and_its_reads_counted() {
        let now = Instant::now();
        let mut users = UserDirectory::new("localhost").unwrap();
        users.add_password("alice", "a-pw").unwrap();
        let auth = Authenticator::new(
            DigestConfig::new("localhost"),
            NonceSecret::generate().unwrap(),
            users,
            now,
        );
        let check = |user: &str, pw: &str| {
            let a = answer(&auth, now, user, pw);
            auth.authenticate(now, "ACL", "/x", Some(a.as_bytes()))
        };
        assert!(check("alice", "a-pw").unwrap().is_authenticated());
        assert!(check("bob", "b-pw").is_err());
        assert_eq!(auth.directory_lookups(), 2);
        // Reload: bob added, alice removed.
        let mut users = UserDirectory::new("localhost").unwrap();
        users.add_password("bob", "b-pw").unwrap();
        let old = auth.replace_users(users);
        assert_eq!(old.len(), 1);
        assert!(check("bob", "b-pw").unwrap().is_authenticated());
        assert!(matches!(
            check("alice", "a-pw"),
            Err(AuthError::Digest(VerifyError::UnknownUser(_)))
        ));
        assert_eq!(auth.directory_lookups(), 4);
        assert_eq!(auth.users().len(), 1);
    }

    #[test]
    fn ha1_forms_are_exact() {
        let mut d = UserDirectory::new("localhost").unwrap();
        let ha1 = Ha1::from_password("alice", "localhost", "pw");
        d.add_ha1("alice", "alice", ha1.clone()).unwrap();
        assert_eq!(d.lookup("alice", "localhost").unwrap().ha1, ha1);
        // Another form has no HA1: unknown.
        assert!(d.lookup("CORP\\alice", "localhost").is_none());
        assert!(d.lookup("Alice", "localhost").is_none());
        assert!(matches!(
            d.add_ha1("alice", "bob", ha1.clone()),
            Err(AuthError::UsernameMismatch { .. })
        ));
        assert!(matches!(
            d.add_password("", "x"),
            Err(AuthError::InvalidAlias { .. })
        ));
        assert!(UserDirectory::new("bad host").is_err());
    }
}
