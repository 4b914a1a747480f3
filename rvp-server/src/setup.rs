//! What a server is built from, read off its configuration: delivery, archive and store
//! options, the Digest user table, the users of the directory and the engine they are
//! registered in, and [`ServerError`], why a server could not start or had to stop. Used
//! by the home server at start-up ([`crate::home`]) and by reloads ([`crate::admin`]).

use std::net::SocketAddr;
use std::time::Instant;

use rvp_presence::{DirectoryProperties, Engine};

use crate::archive::{ArchiveError, ArchiveOptions};
use crate::auth::UserDirectory;
use crate::config::Config;
use crate::delivery::DeliveryConfig;
use crate::store::{DurableOptions, StoreError};

/// Why the server could not start or had to stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The store could not be opened, read or restored.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The compliance archive could not be opened or closed.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The engine refused the policy built from `[policy]`.
    #[error("[policy]: {0}")]
    Policy(#[from] rvp_presence::PolicyError),
    /// A configured user could not be registered.
    #[error("users: {0}")]
    User(String),
    /// The authentication setup failed (user directory, randomness for nonces).
    #[error("authentication: {0}")]
    Auth(String),
    /// A listen address could not be bound.
    #[error("{0}")]
    Bind(std::io::Error),
    /// `[tls]`: a certificate, key or CA file could not be used.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// A commit failed while serving: the server stopped.
    #[error("the store failed while serving, the server stopped: {0}")]
    Commit(String),
    /// The engine task panicked.
    #[error("the engine task failed: {0}")]
    EngineTask(String),
}

/// The delivery settings for a configuration.
pub fn delivery_config(config: &Config) -> DeliveryConfig {
    DeliveryConfig {
        connect_timeout: config.policy.delivery_connect_timeout,
        response_timeout: config.policy.delivery_timeout,
        message_max_wait: config.policy.delivery_timeout,
        ..DeliveryConfig::default()
    }
}

/// The archive settings of a configuration: `[archive]`, synced as `[server]
/// storage_sync` says (in `interval` mode every `storage_checkpoint_interval`).
pub fn archive_options(config: &Config) -> ArchiveOptions {
    let mut o = ArchiveOptions::with_sync(
        config.server.storage_sync,
        config.server.storage_checkpoint_interval,
    );
    o.retention = Some(config.archive.retention).filter(|r| !r.is_zero());
    o
}

/// The storage settings of a configuration.
pub fn durable_options(config: &Config) -> DurableOptions {
    let mut o = DurableOptions::with_sync(config.server.storage_sync);
    o.checkpoint_interval = config.server.storage_checkpoint_interval;
    o
}

/// The Digest users of a configuration's `[[users]]` that this server holds (see
/// [`crate::directory::user_directory`]: enabled users homed here).
pub fn user_directory(config: &Config) -> Result<UserDirectory, ServerError> {
    let file = config
        .file_directory()
        .map_err(|e| ServerError::User(e.to_string()))?;
    crate::directory::user_directory(
        &config.server.domain,
        config.realm(),
        &config.server.host_name,
        file.entries(),
    )
    .map_err(|e| ServerError::Auth(e.to_string()))
}

/// The directory properties of a configured user: its display name (else its alias) and
/// e-mail (else `alias@domain`).
pub fn user_properties(domain: &str, u: &crate::config::UserConfig) -> DirectoryProperties {
    let email = u
        .email
        .clone()
        .unwrap_or_else(|| format!("{}@{domain}", u.alias));
    let name = u.display_name.as_deref().unwrap_or(&u.alias);
    DirectoryProperties::new(name, &email)
}

/// The addresses of the other servers of this IM domain: its home servers
/// (`[router.homes]`) and `[resolve] peers` listed under the domain's own name.
pub fn fellow_servers(config: &Config) -> Vec<std::net::IpAddr> {
    let mut out: Vec<std::net::IpAddr> = config.router.homes.values().map(SocketAddr::ip).collect();
    for (host, addrs) in &config.resolve.peers {
        if host
            .trim_end_matches('.')
            .eq_ignore_ascii_case(&config.server.domain)
        {
            out.extend(addrs);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The users of a configuration's directory (`[directory] backend`): the `[[users]]` of
/// the file, or every entry the LDAP server lists (bounded by its `max_results`). Read
/// once at start-up; a directory that cannot answer stops the start. An address with more
/// than one entry is left out (logged at warn).
pub async fn directory_entries(
    config: &Config,
) -> Result<Vec<crate::directory::DirectoryEntry>, ServerError> {
    let directory = config
        .open_directory()
        .map_err(|e| ServerError::User(format!("[directory]: {e}")))?;
    entries_of(&*directory).await
}

/// Every entry of `directory`, an address with more than one entry left out (logged).
pub async fn entries_of(
    directory: &dyn crate::directory::Directory,
) -> Result<Vec<crate::directory::DirectoryEntry>, ServerError> {
    let mut entries = directory
        .all()
        .await
        .map_err(|e| ServerError::User(format!("[directory] {}: {e}", directory.describe())))?;
    // An address with two entries is ambiguous: neither is served (which one would a
    // password prove?), and the start goes on for everyone else.
    let mut seen = std::collections::HashMap::new();
    for e in &entries {
        *seen
            .entry(e.address.to_string().to_ascii_lowercase())
            .or_insert(0u32) += 1;
    }
    entries.retain(|e| {
        let twice = seen
            .get(&e.address.to_string().to_ascii_lowercase())
            .is_some_and(|n| *n > 1);
        if twice {
            tracing::warn!(
                address = %e.address,
                origin = %e.origin,
                "the directory has more than one entry for this address: not served"
            );
        }
        !twice
    });
    Ok(entries)
}

/// A presence engine with the directory's users that this server holds registered: the
/// enabled entries of the IM domain whose home is this server (`[server] host_name`, or no
/// `home`). Users homed elsewhere are the router's business.
pub fn engine_with_users(
    config: &Config,
    entries: &[crate::directory::DirectoryEntry],
    now: Instant,
) -> Result<Engine, ServerError> {
    let policy = config.policy.engine_policy(config.auth.require_auth);
    let mut engine = Engine::new(policy, now)?;
    let mut secret = [0u8; 16];
    getrandom::fill(&mut secret)
        .map_err(|e| ServerError::Auth(format!("randomness for subscription ids: {e}")))?;
    engine.set_subscription_id_secret(secret);
    for e in entries.iter().filter(|e| {
        e.enabled
            && e.is_homed_on(&config.server.host_name)
            && e.address
                .domain()
                .eq_ignore_ascii_case(&config.server.domain)
    }) {
        let key = e
            .node_key()
            .ok_or_else(|| ServerError::User(format!("invalid alias {:?}", e.alias())))?;
        engine
            .register_principal(key, e.directory_properties())
            .map_err(|err| ServerError::User(format!("{}: {err}", e.alias())))?;
    }
    Ok(engine)
}

/// A presence engine with the `[[users]]` of the configuration that this server holds
/// registered (no store yet); see [`engine_with_users`].
pub fn engine_for(config: &Config, now: Instant) -> Result<Engine, ServerError> {
    let file = config
        .file_directory()
        .map_err(|e| ServerError::User(e.to_string()))?;
    engine_with_users(config, file.entries(), now)
}

/// The router for a configuration whose users are `entries` (the directory's): each
/// user's `home` unless that is this server (`[server] host_name`).
pub fn router_for(
    config: &Config,
    entries: &[crate::directory::DirectoryEntry],
) -> crate::router::Router {
    crate::router::Router::new(
        config.server.role,
        &config.server.domain,
        entries.iter().filter(|e| e.enabled).map(|e| {
            let home = e
                .home
                .clone()
                .filter(|_| !e.is_homed_on(&config.server.host_name));
            (e.alias().to_owned(), home)
        }),
        config.router.clone(),
    )
    .with_max_hops(config.policy.max_hops)
}
