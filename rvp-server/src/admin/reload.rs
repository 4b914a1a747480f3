//! Configuration reload while serving (the `rvp-server` binary does it on SIGHUP).
//!
//! ```text
//!  new Config ──► checked first: user directory built, [policy] validated
//!      │            (any error: nothing changes, the configuration in force is kept)
//!      ▼
//!  engine task ◄── with_core: set_policy, register new users, update names and e-mails
//!      ▼
//!  Authenticator::replace_users (new passwords, new users, removed users)
//!      ▼
//!  ReloadReport: added / removed / updated users, policy changed, keys needing a restart
//! ```
//!
//! What a reload applies, without dropping a connection or a subscription:
//!
//! * **`[[users]]`**: a new user can sign in at once (registered in the engine, its
//!   credentials in the directory); a changed password or HA1 is needed from the next
//!   Digest answer on (clients signed on keep their subscriptions: they authenticate per
//!   request); a changed display name or e-mail shows in the next PROPFIND. A **removed**
//!   user can no longer authenticate; its node stays until the next restart (watchers
//!   keep their subscriptions on it, its leases run out as usual), and the restart then
//!   deletes its stored state.
//! * **`[policy]`**: lifetimes, leases, quotas, limits, `send_to_denied_status` govern
//!   what happens from then on; granted lifetimes and leases are kept
//!   ([`rvp_presence::Engine::set_policy`]).
//!
//! What needs a restart and is reported (and logged) as ignored: `[server]` (listen
//! addresses, domain, storage), `[auth]` (realm, `require_auth`: baked into the
//! registered ACLs and every client's HA1), `[limits]`, `[resolve]`, `[log]`, `[admin]`,
//! `[tls]` (its files are read at start-up), and `policy.delivery_timeout` /
//! `policy.delivery_connect_timeout` (the outbound client's settings; the engine keeps the
//! running values so the two never disagree).

use std::path::Path;
use std::sync::Arc;

use rvp_presence::{NodeKey, PolicyError};
use tokio::sync::Mutex;

use crate::auth::Authenticator;
use crate::config::{Config, ConfigError, UserConfig};
use crate::engine::WeakEngineHandle;
use crate::metrics::Metrics;
use crate::presence::PresenceCore;
use crate::setup::{ServerError, user_directory, user_properties};

/// Why a reload was refused. Nothing of it was applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The file could not be read or is not a valid configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The users cannot be loaded (an HA1 that is not one, an invalid alias).
    #[error("users: {0}")]
    Users(String),
    /// The engine refused the `[policy]`.
    #[error("[policy]: {0}")]
    Policy(#[from] PolicyError),
    /// The engine task is not running (the server is stopping).
    #[error("the engine is not running: {0}")]
    Engine(String),
}

/// What a reload applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReloadReport {
    /// Users who can now sign in.
    pub added: Vec<String>,
    /// Users who can no longer authenticate.
    pub removed: Vec<String>,
    /// Users whose credentials, display name or e-mail changed.
    pub updated: Vec<String>,
    /// Whether the engine's policy changed.
    pub policy_changed: bool,
    /// Dotted keys that changed but need a restart: ignored, their running values stay.
    pub needs_restart: Vec<String>,
}

impl ReloadReport {
    /// Whether anything was applied.
    pub fn changed_anything(&self) -> bool {
        !(self.added.is_empty()
            && self.removed.is_empty()
            && self.updated.is_empty()
            && !self.policy_changed)
    }
}

/// Applies new configurations to a running [`HomeServer`](crate::home::HomeServer)
/// ([`HomeServer::reloader`](crate::home::HomeServer::reloader)). Cheap to clone; reloads
/// run one at a time.
#[derive(Debug, Clone)]
pub struct Reloader {
    engine: WeakEngineHandle<PresenceCore>,
    auth: Arc<Authenticator>,
    metrics: Arc<Metrics>,
    /// The configuration in force.
    running: Arc<Mutex<Config>>,
}

impl Reloader {
    pub(crate) fn new(
        engine: WeakEngineHandle<PresenceCore>,
        auth: Arc<Authenticator>,
        metrics: Arc<Metrics>,
        running: Config,
    ) -> Reloader {
        Reloader {
            engine,
            auth,
            metrics,
            running: Arc::new(Mutex::new(running)),
        }
    }

    /// The configuration in force (the one started with, plus what reloads applied).
    pub async fn running(&self) -> Config {
        self.running.lock().await.clone()
    }

    /// Reads `path`, lets `adjust` apply what the command line overrides (`--listen`,
    /// `--storage`), and applies it ([`Reloader::reload`]). A file that cannot be read
    /// or is invalid changes nothing.
    pub async fn reload_file(
        &self,
        path: &Path,
        adjust: impl FnOnce(&mut Config),
    ) -> Result<ReloadReport, ReloadError> {
        match Config::from_file(path) {
            Ok(mut c) => {
                adjust(&mut c);
                self.reload(c).await
            }
            Err(e) => Err(self.refused(e.into())),
        }
    }

    /// Applies the users and `[policy]` of `new` (see the [module docs](self)); reports
    /// the keys that need a restart. On an error nothing is applied and the
    /// configuration in force stays. Logs what it did, or why not.
    pub async fn reload(&self, new: Config) -> Result<ReloadReport, ReloadError> {
        let mut running = self.running.lock().await;
        match self.apply(&running, &new).await {
            Ok((report, applied)) => {
                *running = applied;
                self.metrics.reload(true);
                tracing::info!(
                    added = ?report.added,
                    removed = ?report.removed,
                    updated = ?report.updated,
                    policy_changed = report.policy_changed,
                    "configuration reloaded"
                );
                if !report.needs_restart.is_empty() {
                    tracing::warn!(
                        keys = ?report.needs_restart,
                        "configuration reload: these keys changed but only take effect after a \
                         restart; their running values are kept"
                    );
                }
                Ok(report)
            }
            Err(e) => Err(self.refused(e)),
        }
    }

    fn refused(&self, e: ReloadError) -> ReloadError {
        self.metrics.reload(false);
        tracing::error!("configuration reload refused, the configuration in force is kept: {e}");
        e
    }

    async fn apply(
        &self,
        old: &Config,
        new: &Config,
    ) -> Result<(ReloadReport, Config), ReloadError> {
        let mut report = ReloadReport {
            needs_restart: restart_only_changes(old, new),
            ..ReloadReport::default()
        };
        // The configuration that will be in force: the new users and policy, everything
        // else as running.
        let mut applied = old.clone();
        // Users from the [[users]] file are reloaded; an LDAP directory's are not (its
        // listing is read at start-up; the server keeps them).
        let users_from_file = old.directory.backend == crate::directory::Backend::File;
        if users_from_file {
            applied.users.clone_from(&new.users);
        }
        applied.policy = new.policy.clone();
        applied.policy.delivery_timeout = old.policy.delivery_timeout;
        applied.policy.delivery_connect_timeout = old.policy.delivery_connect_timeout;

        // Everything that can fail is checked before anything changes.
        let directory = user_directory(&applied).map_err(|e| match e {
            ServerError::Auth(m) | ServerError::User(m) => ReloadError::Users(m),
            other => ReloadError::Users(other.to_string()),
        })?;
        let policy = applied.policy.engine_policy(old.auth.require_auth);
        policy.validate()?;
        let domain = &applied.server.domain;
        let find = |users: &[UserConfig], alias: &str| {
            users
                .iter()
                .find(|u| u.alias.eq_ignore_ascii_case(alias))
                .cloned()
        };
        let mut principals = Vec::new();
        for u in &applied.users {
            let key = NodeKey::new(domain, &u.alias)
                .ok_or_else(|| ReloadError::Users(format!("invalid alias {:?}", u.alias)))?;
            match find(&old.users, &u.alias) {
                None => report.added.push(u.alias.clone()),
                Some(o) if &o != u => report.updated.push(u.alias.clone()),
                Some(_) => continue,
            }
            // A user kept in the file but out of service is no principal (as at start-up):
            // nobody can watch or message it.
            if u.enabled == Some(false) {
                continue;
            }
            principals.push((key, user_properties(domain, u)));
        }
        for o in &old.users {
            if find(&applied.users, &o.alias).is_none() {
                report.removed.push(o.alias.clone());
            }
        }

        // The engine first, so that a new user is known when its first answer arrives.
        let handle = self
            .engine
            .upgrade()
            .ok_or_else(|| ReloadError::Engine("stopped".into()))?;
        let changed = handle
            .with_core(move |core: &mut PresenceCore, _now| {
                let engine = core.engine_mut();
                let changed = engine.policy() != &policy;
                engine.set_policy(policy).map_err(ReloadError::Policy)?;
                for (key, properties) in principals {
                    match engine.directory().lookup(&key) {
                        Some(id) => {
                            engine.set_directory_properties(id, properties);
                        }
                        None => {
                            engine
                                .register_principal(key, properties)
                                .map_err(|e| ReloadError::Users(e.to_string()))?;
                        }
                    }
                }
                Ok::<bool, ReloadError>(changed)
            })
            .await
            .map_err(|e| ReloadError::Engine(e.to_string()))??;
        report.policy_changed = changed;
        if users_from_file {
            self.auth.replace_users(directory);
        }
        Ok((report, applied))
    }
}

/// Dotted keys whose change needs a restart (see the [module docs](self)).
fn restart_only_changes(old: &Config, new: &Config) -> Vec<String> {
    let (Ok(a), Ok(b)) = (toml::Value::try_from(old), toml::Value::try_from(new)) else {
        return vec!["(configuration not comparable)".into()];
    };
    let mut out = Vec::new();
    for table in [
        "server",
        "auth",
        "limits",
        "resolve",
        "log",
        "admin",
        "router",
        "directory",
        "tls",
    ] {
        match (a.get(table), b.get(table)) {
            (Some(toml::Value::Table(x)), Some(toml::Value::Table(y))) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    if x.get(k) != y.get(k) {
                        out.push(format!("{table}.{k}"));
                    }
                }
            }
            (x, y) if x != y => out.push(table.to_owned()),
            _ => {}
        }
    }
    for key in ["delivery_timeout", "delivery_connect_timeout"] {
        let get = |v: &toml::Value| v.get("policy").and_then(|p| p.get(key)).cloned();
        if get(&a) != get(&b) {
            out.push(format!("policy.{key}"));
        }
    }
    // Where users live elsewhere is read by the router at start-up.
    fn homes(c: &Config) -> Vec<(String, &str)> {
        let mut h: Vec<(String, &str)> = c
            .users
            .iter()
            .filter_map(|u| Some((u.alias.to_ascii_lowercase(), u.home.as_deref()?)))
            .collect();
        h.sort();
        h
    }
    if homes(old) != homes(new) {
        out.push("users[].home".into());
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn restart_only_keys_are_named() {
        let old = Config::default();
        let new = Config::from_toml_str(
            "[server]\nlisten = [\"127.0.0.1:9999\"]\n[auth]\nrealm = \"x\"\n\
             [policy]\nmax_hops = 3\ndelivery_timeout = \"9s\"\n\
             [admin]\nlisten = \"127.0.0.1:9180\"\n[[users]]\nalias = \"zed\"\npassword = \"p\"\n",
            "x",
        )
        .unwrap();
        assert_eq!(
            restart_only_changes(&old, &new),
            [
                "server.listen",
                "auth.realm",
                "admin.listen",
                "policy.delivery_timeout"
            ]
        );
        // A user who moves to another home server needs a restart of the router part.
        let mut moved = new.clone();
        moved.users[0].home = Some("im1.example.org".into());
        assert_eq!(restart_only_changes(&new, &moved), ["users[].home"]);
        assert!(restart_only_changes(&old, &old).is_empty());
        // TLS files and settings are read at start-up.
        let tls = Config::from_toml_str("[tls]\noutbound = \"never\"\n", "x").unwrap();
        assert_eq!(restart_only_changes(&old, &tls), ["tls.outbound"]);
    }
}
