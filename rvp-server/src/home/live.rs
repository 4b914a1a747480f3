//! The directory read per request (issue 11): users added, changed, moved or disabled in
//! the directory take effect while the server runs, without a restart.
//!
//! ```text
//!  request ──► names of users of this IM domain it carries (at most three):
//!              the request-target, RVP-From-Principal, the Digest username
//!                │
//!                ▼  Directory::lookup through the CachedDirectory, in the server layer
//!                   (the engine stays sans-IO): a cache hit, or one bounded LDAP request
//!                   per address (coalesced, at most max_in_flight at once, timed out)
//!        ┌───────┴──────────────────────────────┬───────────────────────────────┐
//!   enabled user                          no user, disabled,            outage / busy
//!   ├─ Digest table: its credentials      broken or ambiguous           (no answer)
//!   ├─ homed here: registered in the      ├─ out of the Digest table    ├─ known here: served
//!   │  engine (once; new properties set)  ├─ out of the router table    │  as before
//!   └─ homed elsewhere: router table      └─ as target: 404, the same   └─ as target and
//!                                            answer as for any unknown     never seen: 503
//!                                            name
//! ```
//!
//! Then the request goes on as before: router (302 / proxy), Digest, engine.
//!
//! How long a change takes: a user added to the directory is found by the first request
//! naming it once the negative answer for its name (if one was cached) is older than
//! `directory.cache_negative_ttl`; a user disabled, removed or moved is noticed by the
//! first request naming it once its cached entry is older than `directory.cache_ttl`.
//! The cache TTL is therefore the bound on how long a disabled user can still sign in.
//! The engine cannot forget a principal: a disabled user's node stays registered (its
//! watchers keep their subscriptions until their leases run out), but nothing reaches
//! it: it is answered as unknown and cannot authenticate. Re-enabled, it is served again
//! with the state it had.
//!
//! During a directory outage the cache serves the users it holds (up to
//! `directory.cache_max_stale` past their TTL, logged at warn once per outage), and users
//! this layer has already applied stay as they are; only names never seen get a `503`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http::StatusCode;
use rvp_proto::url::{NodePath, RequestTarget, canonical_alias};
use rvp_resolve::Address;

use crate::auth::Authenticator;
use crate::directory::{Directory, DirectoryEntry, DirectoryError, username_alias};
use crate::engine::EngineHandle;
use crate::presence::PresenceCore;
use crate::router::{Role, Router};
use crate::service::{Request, Response, text_response};

/// The body of the `503` for a name the directory cannot answer for now.
pub const DIRECTORY_UNAVAILABLE: &str = "the user directory cannot answer now; try again";

/// What the directory said about the users a request names, for the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Go on (router, Digest, engine).
    Proceed,
    /// The request-target is not a user of this domain (or a disabled one): `404`.
    NotFound,
    /// The request-target has never been seen and the directory cannot answer: `503`.
    Unavailable,
}

impl Verdict {
    /// The answer that ends the request here, if any.
    pub fn response(self) -> Option<Response> {
        match self {
            Verdict::Proceed => None,
            Verdict::NotFound => Some(text_response(
                StatusCode::NOT_FOUND,
                crate::router::NO_SUCH_USER,
            )),
            Verdict::Unavailable => Some(text_response(
                StatusCode::SERVICE_UNAVAILABLE,
                DIRECTORY_UNAVAILABLE,
            )),
        }
    }
}

/// What one lookup says about one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// An enabled user of the domain.
    User,
    /// Not a user (none, disabled, unusable entry).
    NotAUser,
    /// The directory could not answer and the name was never applied here.
    Unsure,
}

/// What has been applied from the directory so far (canonical alias → ...).
#[derive(Debug, Default)]
struct Applied {
    /// Users whose credentials are in the Digest table (home cleared: every server of the
    /// domain verifies every user of it).
    digest: HashMap<String, DirectoryEntry>,
    /// Users registered in the engine, with the display name and e-mail they were given.
    registered: HashMap<String, Shown>,
}

/// What the engine shows of a user (`d:displayname`, `r:email`), as the entry gave it.
type Shown = (Option<String>, Option<String>);

fn shown(e: &DirectoryEntry) -> Shown {
    (e.display_name.clone(), e.email.clone())
}

/// Whether `e` verifies as `applied` does (what the Digest table takes of an entry).
fn same_credentials(applied: &DirectoryEntry, e: &DirectoryEntry) -> bool {
    applied.enabled == e.enabled
        && applied.credentials == e.credentials
        && applied.address.alias() == e.address.alias()
        && applied.address.domain() == e.address.domain()
}

/// The per-request directory layer of a home server or router: see the [module
/// docs](self).
#[derive(Debug)]
pub struct LiveUsers {
    directory: Arc<dyn Directory>,
    /// The IM domain, lower case.
    domain: String,
    host_name: String,
    realm: String,
    role: Role,
    engine: EngineHandle<PresenceCore>,
    auth: Arc<Authenticator>,
    router: Arc<Router>,
    applied: Mutex<Applied>,
}

impl LiveUsers {
    /// The layer over `directory` for the server `config` describes, which started with
    /// `entries` (registered in `engine`, in `auth`'s Digest table and in `router`).
    pub fn new(
        config: &crate::config::Config,
        directory: Arc<dyn Directory>,
        entries: &[DirectoryEntry],
        engine: EngineHandle<PresenceCore>,
        auth: Arc<Authenticator>,
        router: Arc<Router>,
    ) -> LiveUsers {
        let domain = config.server.domain.to_ascii_lowercase();
        let mut applied = Applied::default();
        for e in entries
            .iter()
            .filter(|e| e.enabled && e.address.domain().eq_ignore_ascii_case(&domain))
        {
            let mut verifiable = e.clone();
            verifiable.home = None;
            applied.digest.insert(e.alias().to_owned(), verifiable);
            if e.is_homed_on(&config.server.host_name) {
                applied.registered.insert(e.alias().to_owned(), shown(e));
            }
        }
        LiveUsers {
            directory,
            domain,
            host_name: config.server.host_name.clone(),
            realm: config.realm().to_owned(),
            role: config.server.role,
            engine,
            auth,
            router,
            applied: Mutex::new(applied),
        }
    }

    /// The router whose table this layer keeps.
    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }

    /// The directory asked.
    pub fn directory(&self) -> &Arc<dyn Directory> {
        &self.directory
    }

    fn applied(&self) -> MutexGuard<'_, Applied> {
        self.applied.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Looks up the users `request` names, applies what changed, and says whether the
    /// request goes on.
    pub async fn check(&self, request: &Request) -> Verdict {
        let target = self.target_address(&request.typed.target);
        let asserted = request
            .typed
            .rvp
            .from_principal
            .as_ref()
            .and_then(|p| p.logical())
            .filter(|l| l.host().eq_ignore_ascii_case(&self.domain))
            .and_then(|l| Address::new(l.alias(), &self.domain).ok());
        let username = request
            .authorization()
            .and_then(|v| self.username_address(v));
        // One lookup per name: the three are often the same user.
        let same = |a: &Option<Address>, b: &Option<Address>| match (a, b) {
            (Some(a), Some(b)) => a.alias().eq_ignore_ascii_case(b.alias()),
            _ => false,
        };
        let asserted = if same(&asserted, &target) {
            None
        } else {
            asserted
        };
        let username = if same(&username, &target) || same(&username, &asserted) {
            None
        } else {
            username
        };
        let (t, _, _) = tokio::join!(
            self.check_name(target.as_ref()),
            self.check_name(asserted.as_ref()),
            self.check_name(username.as_ref()),
        );
        match t {
            None | Some(Known::User) => Verdict::Proceed,
            Some(Known::NotAUser) => Verdict::NotFound,
            Some(Known::Unsure) => Verdict::Unavailable,
        }
    }

    fn target_address(&self, target: &RequestTarget) -> Option<Address> {
        target_address(target, &self.domain, &self.host_name, self.role)
    }

    /// The address a Digest `Authorization` header's username names in this domain.
    fn username_address(&self, value: &[u8]) -> Option<Address> {
        let params = rvp_proto::digest::Authorization::parse(value).ok()?;
        let username = params.username?;
        Address::new(username_alias(&username), &self.domain).ok()
    }

    async fn check_name(&self, address: Option<&Address>) -> Option<Known> {
        let address = address?;
        let alias = canonical_alias(address.alias()).ok()?;
        let answer = self.directory.lookup(address).await;
        Some(match answer {
            Ok(Some(e)) if e.enabled && e.address.domain().eq_ignore_ascii_case(&self.domain) => {
                if self.apply_user(&alias, &e) {
                    self.register(&alias, &e).await;
                }
                Known::User
            }
            Ok(_) => {
                self.apply_gone(&alias);
                Known::NotAUser
            }
            Err(e) if e.is_outage() || matches!(e, DirectoryError::Busy { .. }) => {
                tracing::debug!(%address, error = %e, "directory lookup failed; known users stay as they are");
                if self.knows(&alias) {
                    Known::User
                } else {
                    Known::Unsure
                }
            }
            Err(e) => {
                // A broken or ambiguous entry: nobody is served under it (which entry
                // would a password prove?).
                tracing::debug!(%address, error = %e, "directory entry not usable: not served");
                self.apply_gone(&alias);
                Known::NotAUser
            }
        })
    }

    /// Whether anything of `alias` was applied here (a user found before, or one of the
    /// start-up listing).
    fn knows(&self, alias: &str) -> bool {
        let applied = self.applied();
        applied.digest.contains_key(alias)
            || applied.registered.contains_key(alias)
            || self.router.knows(alias)
    }

    /// Applies an enabled user's entry: its credentials in the Digest table, its home in
    /// the router. Whether it must be registered in the engine (homed here, not yet
    /// registered with these properties).
    fn apply_user(&self, alias: &str, e: &DirectoryEntry) -> bool {
        let mut applied = self.applied();
        if !applied
            .digest
            .get(alias)
            .is_some_and(|d| same_credentials(d, e))
        {
            let mut verifiable = e.clone();
            verifiable.home = None;
            // One user's credentials are checked alone first, so that a broken one never
            // keeps the others' table from being rebuilt.
            let alone = crate::directory::user_directory(
                &self.domain,
                &self.realm,
                &self.host_name,
                [&verifiable],
            );
            match alone {
                Ok(_) => {
                    let added = applied
                        .digest
                        .insert(alias.to_owned(), verifiable)
                        .is_none();
                    self.rebuild_digest(&applied);
                    tracing::info!(
                        address = %e.address,
                        origin = %e.origin,
                        "directory: {} user's credentials applied",
                        if added { "new" } else { "changed" }
                    );
                }
                Err(err) => {
                    tracing::warn!(address = %e.address, "directory entry not usable: {err}");
                    if applied.digest.remove(alias).is_some() {
                        self.rebuild_digest(&applied);
                    }
                }
            }
        }
        let elsewhere = e.home.clone().filter(|_| !e.is_homed_on(&self.host_name));
        let here = elsewhere.is_none();
        self.router.set_user(alias, elsewhere);
        here && !applied
            .registered
            .get(alias)
            .is_some_and(|(name, email)| *name == e.display_name && *email == e.email)
    }

    /// Takes a user who is no longer one (not found, disabled, unusable) out of the
    /// Digest table and the router.
    fn apply_gone(&self, alias: &str) {
        let mut applied = self.applied();
        if let Some(e) = applied.digest.remove(alias) {
            self.rebuild_digest(&applied);
            tracing::info!(
                address = %e.address,
                "directory: user no longer enabled; it cannot authenticate and is answered as unknown"
            );
        }
        self.router.remove_user(alias);
    }

    /// The Digest table from what was applied, replacing the one in force.
    fn rebuild_digest(&self, applied: &Applied) {
        match crate::directory::user_directory(
            &self.domain,
            &self.realm,
            &self.host_name,
            applied.digest.values(),
        ) {
            Ok(users) => {
                self.auth.replace_users(users);
            }
            Err(e) => tracing::warn!("directory: Digest table not rebuilt: {e}"),
        }
    }

    /// Registers a user homed here in the engine (or updates its properties).
    async fn register(&self, alias: &str, e: &DirectoryEntry) {
        let Some(key) = e.node_key() else {
            tracing::warn!(address = %e.address, "directory: invalid alias, not registered");
            return;
        };
        let given = e.directory_properties();
        let done = self
            .engine
            .with_core(move |core: &mut PresenceCore, _now| {
                let engine = core.engine_mut();
                match engine.directory().lookup(&key) {
                    Some(id) => {
                        engine.set_directory_properties(id, given);
                        Ok(false)
                    }
                    None => engine.register_principal(key, given).map(|_| true),
                }
            })
            .await;
        match done {
            Ok(Ok(new)) => {
                self.applied().registered.insert(alias.to_owned(), shown(e));
                if new {
                    tracing::info!(address = %e.address, "directory: user registered");
                }
            }
            Ok(Err(err)) => {
                tracing::warn!(address = %e.address, "directory: user not registered: {err}");
            }
            Err(_) => tracing::debug!("engine stopped: user not registered"),
        }
    }
}

/// The address `target` names in IM domain `domain` (lower case), if it names a user of
/// it: an alias path (under this domain, this server `host_name`, an address, or — on a
/// home server — any host, as the engine resolves it), or a physical path of this domain.
fn target_address(
    target: &RequestTarget,
    domain: &str,
    host_name: &str,
    role: Role,
) -> Option<Address> {
    let alias = match &target.path {
        NodePath::Alias(alias) => {
            let ours = target.authority.as_deref().is_none_or(|a| {
                let host = a.rsplit_once(':').map_or(a, |(h, _)| h);
                role != Role::Router
                    || host.eq_ignore_ascii_case(domain)
                    || host.eq_ignore_ascii_case(host_name)
                    || a.parse::<std::net::SocketAddr>().is_ok()
                    || host.parse::<std::net::IpAddr>().is_ok()
            });
            ours.then_some(alias.as_str())?
        }
        NodePath::Local(logical) if logical.host().eq_ignore_ascii_case(domain) => logical.alias(),
        _ => return None,
    };
    Address::new(alias, domain).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn named(path: &str, host: Option<&str>, role: Role) -> Option<String> {
        let target = rvp_proto::url::parse_target(path, host).unwrap();
        target_address(&target, "im.example.org", "im0.example.org", role).map(|a| a.to_string())
    }

    #[test]
    fn the_users_a_request_target_names() {
        let alice = Some("alice@im.example.org".to_owned());
        for role in [Role::Home, Role::Router, Role::Both] {
            // Alias paths under the domain, this server, an address; physical paths.
            assert_eq!(
                named("/instmsg/aliases/Alice", Some("im.example.org"), role),
                alice
            );
            assert_eq!(
                named("/instmsg/aliases/alice", Some("im0.example.org:80"), role),
                alice
            );
            assert_eq!(
                named("/instmsg/aliases/alice", Some("127.0.0.1:8080"), role),
                alice
            );
            assert_eq!(named("/instmsg/aliases/alice", None, role), alice);
            assert_eq!(
                named(
                    "/instmsg/local/im.example.org/instmsg/aliases/alice",
                    Some("im1.example.org"),
                    role
                ),
                alice
            );
            // Another domain's physical path, the root, other paths: nobody of ours.
            assert_eq!(
                named(
                    "/instmsg/local/other.example/instmsg/aliases/alice",
                    Some("im0.example.org"),
                    role
                ),
                None
            );
            assert_eq!(named("/", Some("im.example.org"), role), None);
        }
        // A logical URL of another domain: a router does not answer for it; a home server
        // resolves alias paths whatever the host (as the engine does).
        let other = "http://other.example/instmsg/aliases/alice";
        assert_eq!(named(other, None, Role::Router), None);
        assert_eq!(named(other, None, Role::Home), alice);
    }
}
