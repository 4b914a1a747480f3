//! The server's configuration: one TOML file.
//!
//! The documented reference is the embedded default, [`DEFAULT_TOML`] (shipped as
//! `src/default.toml`): every key, its default and what it does. In short:
//!
//! | table | keys |
//! |---|---|
//! | `[server]` | `listen`, `domain`, `host_name`, `storage`, `storage_sync`, `storage_checkpoint_interval` |
//! | `[auth]` | `require_auth`, `realm`, `nonce_lifetime` |
//! | `[policy]` | subscription lifetimes, leases, `max_hops`, delivery time-outs, table sizes |
//! | `[limits]` | connection time-outs, sizes and counts, in total and per source address (see [`crate::conn::ConnLimits`]) |
//! | `[resolve]` | `nameserver` for call-backs on other servers (none: not delivered) |
//! | `[log]` | `protocol_log`, `filter`, `format` (`text` or `json`) |
//! | `[admin]` | `listen` (metrics and health checks; none by default), `max_connections`, `timeout` |
//! | `[archive]` | `path` (the compliance archive of relayed NOTIFYs; off by default), `retention` |
//! | `[tls]` | `listen` (a TLS listener; none by default), `certificate`, `private_key`, `peer_ca`, `outbound`, `handshake_timeout` ([`crate::tls`]) |
//! | `[[users]]` | `alias`, `display_name`, `email`, `password` or `ha1`, `home`, `enabled` |
//!
//! Rules:
//! * Every key has a default ([`Config::default`]); a file may leave any key out.
//! * Unknown keys are refused, so a misspelt key is an error, not a silently ignored line.
//! * Errors name the file, the line and the dotted key (`limits.max_body_bytes`,
//!   `users[2].alias`): [`ConfigError`].
//! * Durations are strings with a unit, `"250ms"`, `"10s"`, `"5m"`, `"4h"`, `"90d"`, or a
//!   bare integer number of seconds ([`parse_duration`]).
//!
//! ```
//! use rvp_server::config::Config;
//!
//! let config = Config::from_toml_str(
//!     "[limits]\nmax_connections = 8\nmax_connections_per_ip = 4\n",
//!     "example.toml",
//! )?;
//! assert_eq!(config.limits.max_connections, 8);
//! assert_eq!(config.server.domain, "localhost"); // default
//!
//! let err = Config::from_toml_str("[limits]\nmax_conections = 8\n", "example.toml").unwrap_err();
//! assert!(err.to_string().contains("example.toml:2"), "{err}");
//! assert!(err.to_string().contains("limits.max_conections"), "{err}");
//! # Ok::<(), rvp_server::config::ConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::de::{DeTable, DeValue};

use crate::directory::{Backend, Directory, DirectoryError, FileDirectory};
#[cfg(feature = "ldap")]
use crate::directory::{CacheConfig, CachedDirectory, LdapDirectory};

/// One `[[users]]` entry (the file directory's entry format).
pub use crate::directory::UserConfig;

use crate::conn::ConnLimits;
use crate::store::SyncMode;

/// The embedded default configuration (the demo domain `localhost` with users alice, bob
/// and carol on `127.0.0.1:8080`), also the commented reference of every key.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// Shortest `server.storage_checkpoint_interval` accepted: 10 ms.
pub const MIN_CHECKPOINT_INTERVAL: Duration = Duration::from_millis(10);
/// Longest `server.storage_checkpoint_interval` accepted: 10 minutes (the write-ahead
/// log grows for that long between checkpoints).
pub const MAX_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(600);

/// Name used in error messages for the embedded default.
pub const DEFAULT_ORIGIN: &str = "<embedded default config>";

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// `[server]`: addresses and names.
    pub server: ServerConfig,
    /// `[auth]`: authentication.
    pub auth: AuthConfig,
    /// `[policy]`: protocol policy handed to the presence engine.
    pub policy: PolicyConfig,
    /// `[limits]`: connection limits.
    pub limits: LimitsConfig,
    /// `[resolve]`: finding other servers (for call-backs that live there).
    pub resolve: ResolveConfig,
    /// `[log]`: protocol log and diagnostics.
    pub log: LogConfig,
    /// `[router]`: how requests for users of other home servers are routed.
    pub router: crate::router::RouterConfig,
    /// `[admin]`: the admin listener (metrics, health checks); off by default.
    pub admin: AdminConfig,
    /// `[archive]`: the compliance archive of relayed NOTIFYs; off by default.
    pub archive: ArchiveConfig,
    /// `[directory]`: where the users come from (`[[users]]` or LDAP) and the cache in
    /// front of a remote directory ([`crate::directory`]).
    pub directory: crate::directory::DirectoryConfig,
    /// `[tls]`: TLS towards servers that publish `_rvps._tcp`, and a TLS listener (off
    /// by default) ([`crate::tls`]).
    pub tls: crate::tls::TlsConfig,
    /// `[[users]]`: the directory of the IM domain.
    pub users: Vec<UserConfig>,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Addresses to listen on. Default `["127.0.0.1:8080"]`.
    pub listen: Vec<SocketAddr>,
    /// The IM domain: logical host of the principals' URLs. Default `localhost`.
    pub domain: String,
    /// This server's host name. Default `localhost`.
    pub host_name: String,
    /// Path of the durable store. Default `rvp-server.redb`; its write-ahead log is the
    /// directory beside it with `.wal` appended.
    pub storage: PathBuf,
    /// When the write-ahead log reaches the disk ([`SyncMode`]). Default `interval`.
    pub storage_sync: SyncMode,
    /// How often the log is folded into the store (with `interval`: the most a power loss
    /// can lose). Default 1 s.
    #[serde(with = "crate::duration")]
    pub storage_checkpoint_interval: Duration,
    /// `home` (hosts users), `router` (hosts none: routes every request to the user's
    /// home server) or `both` (the default). See [`crate::router`].
    pub role: crate::router::Role,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 8080))],
            domain: "localhost".into(),
            host_name: "localhost".into(),
            storage: PathBuf::from("rvp-server.redb"),
            storage_sync: SyncMode::Interval,
            storage_checkpoint_interval: Duration::from_secs(1),
            role: crate::router::Role::default(),
        }
    }
}

/// `[auth]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AuthConfig {
    /// Owner-only operations require authentication. Default `true`; `false` is the
    /// assertion-only mode for closed test networks.
    pub require_auth: bool,
    /// Digest realm; empty means the IM domain. Default empty.
    pub realm: String,
    /// Lifetime of a Digest nonce. Default 5 minutes.
    #[serde(with = "crate::duration")]
    pub nonce_lifetime: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            require_auth: true,
            realm: String::new(),
            nonce_lifetime: Duration::from_secs(300),
        }
    }
}

/// `[policy]`: mirrors `rvp_presence::Policy` key for key (plus the delivery connect
/// time-out, which belongs to the server's outbound client).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
#[allow(missing_docs)] // each key is documented in default.toml and on the engine's Policy
pub struct PolicyConfig {
    #[serde(with = "crate::duration")]
    pub subscription_lifetime_min: Duration,
    #[serde(with = "crate::duration")]
    pub subscription_lifetime_max: Duration,
    #[serde(with = "crate::duration")]
    pub subscription_grace: Duration,
    #[serde(with = "crate::duration")]
    pub lease_min: Duration,
    #[serde(with = "crate::duration")]
    pub lease_max: Duration,
    #[serde(with = "crate::duration")]
    pub lease_grace: Duration,
    #[serde(with = "crate::duration")]
    pub unleased_timeout: Duration,
    pub max_hops: u32,
    #[serde(with = "crate::duration")]
    pub delivery_timeout: Duration,
    #[serde(with = "crate::duration")]
    pub delivery_connect_timeout: Duration,
    pub callback_failure_threshold: u32,
    #[serde(with = "crate::duration")]
    pub callback_failure_window: Duration,
    pub bind_viewless_proppatch: bool,
    pub max_views_per_principal: usize,
    pub max_subscriptions_per_node: usize,
    pub subscriber_quota_per_node: usize,
    pub subscriber_quota: usize,
    pub max_deliveries_per_change: usize,
    pub max_acl_entries: usize,
    pub send_to_denied_status: u16,
}

impl PolicyConfig {
    /// The presence engine's policy these keys describe (`require_auth = false` lets the
    /// owner entry of the default ACL accept the asserted identity).
    pub fn engine_policy(&self, require_auth: bool) -> rvp_presence::Policy {
        let mut p = rvp_presence::Policy::default();
        p.subscription_lifetime_min = self.subscription_lifetime_min;
        p.subscription_lifetime_max = self.subscription_lifetime_max;
        p.subscription_grace = self.subscription_grace;
        p.lease_min = self.lease_min;
        p.lease_max = self.lease_max;
        p.lease_grace = self.lease_grace;
        p.unleased_timeout = self.unleased_timeout;
        p.max_hops = self.max_hops;
        p.delivery_timeout = self.delivery_timeout;
        p.callback_failure_threshold = self.callback_failure_threshold;
        p.callback_failure_window = self.callback_failure_window;
        p.bind_viewless_proppatch = self.bind_viewless_proppatch;
        p.max_views_per_principal = self.max_views_per_principal;
        p.max_subscriptions_per_node = self.max_subscriptions_per_node;
        p.subscriber_quota_per_node = self.subscriber_quota_per_node;
        p.subscriber_quota = self.subscriber_quota;
        p.max_deliveries_per_change = self.max_deliveries_per_change;
        p.max_acl_entries = self.max_acl_entries;
        p.send_to_denied_status = http::StatusCode::from_u16(self.send_to_denied_status)
            .unwrap_or(http::StatusCode::PRECONDITION_FAILED);
        p.owner_accepts_assertion = !require_auth;
        p
    }
}

/// `[resolve]`: how the server finds other RVP servers, for call-backs that are logical
/// URLs of principals elsewhere (`http://im.other.example/instmsg/aliases/bob`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ResolveConfig {
    /// DNS server (`ip:port`) asked for the addresses of other servers' host names. Needs
    /// the `dns` feature (on by default): without it, setting this is an error.
    /// Default: none — a NOTIFY to a call-back on another server then counts as a
    /// delivery failure (the single-server setup needs no DNS). The system resolver
    /// configuration is never read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nameserver: Option<SocketAddr>,
    /// Other RVP servers believed when they speak as themselves (`RVP-From-Principal:
    /// <host>`) from these addresses, besides what DNS says: host → addresses.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub peers: BTreeMap<String, Vec<std::net::IpAddr>>,
    /// Deliver to call-backs of other domains even when DNS points them at a loopback,
    /// link-local or unspecified address (default `false`: such answers are refused, so a
    /// zone cannot aim this server at its own host). For test set-ups on one machine.
    #[serde(default)]
    pub allow_loopback: bool,
}

impl Default for PolicyConfig {
    /// The engine's own defaults ([`rvp_presence::Policy::default`]), so the two never
    /// drift, plus the delivery connect timeout, which only the server has.
    fn default() -> Self {
        let p = rvp_presence::Policy::default();
        PolicyConfig {
            subscription_lifetime_min: p.subscription_lifetime_min,
            subscription_lifetime_max: p.subscription_lifetime_max,
            subscription_grace: p.subscription_grace,
            lease_min: p.lease_min,
            lease_max: p.lease_max,
            lease_grace: p.lease_grace,
            unleased_timeout: p.unleased_timeout,
            max_hops: p.max_hops,
            delivery_timeout: p.delivery_timeout,
            delivery_connect_timeout: Duration::from_secs(5),
            callback_failure_threshold: p.callback_failure_threshold,
            callback_failure_window: p.callback_failure_window,
            bind_viewless_proppatch: p.bind_viewless_proppatch,
            max_views_per_principal: p.max_views_per_principal,
            max_subscriptions_per_node: p.max_subscriptions_per_node,
            subscriber_quota_per_node: p.subscriber_quota_per_node,
            subscriber_quota: p.subscriber_quota,
            max_deliveries_per_change: p.max_deliveries_per_change,
            max_acl_entries: p.max_acl_entries,
            send_to_denied_status: p.send_to_denied_status.as_u16(),
        }
    }
}

/// `[limits]`: see [`ConnLimits`] for what each does; the defaults are
/// [`ConnLimits::default`]'s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
#[allow(missing_docs)] // documented on ConnLimits and in default.toml
pub struct LimitsConfig {
    #[serde(with = "crate::duration")]
    pub header_read_timeout: Duration,
    #[serde(with = "crate::duration")]
    pub body_read_timeout: Duration,
    #[serde(with = "crate::duration")]
    pub idle_timeout: Duration,
    #[serde(with = "crate::duration")]
    pub write_timeout: Duration,
    #[serde(with = "crate::duration")]
    pub handler_timeout: Duration,
    #[serde(with = "crate::duration")]
    pub drain_timeout: Duration,
    pub max_head_bytes: usize,
    pub max_headers: usize,
    pub max_body_bytes: usize,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub max_pipelined: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig::from(&ConnLimits::default())
    }
}

impl From<&ConnLimits> for LimitsConfig {
    fn from(l: &ConnLimits) -> Self {
        LimitsConfig {
            header_read_timeout: l.header_read_timeout,
            body_read_timeout: l.body_read_timeout,
            idle_timeout: l.idle_timeout,
            write_timeout: l.write_timeout,
            handler_timeout: l.handler_timeout,
            drain_timeout: l.drain_timeout,
            max_head_bytes: l.codec.max_head_bytes,
            max_headers: l.codec.max_headers,
            max_body_bytes: l.codec.max_body_bytes,
            max_connections: l.max_connections,
            max_connections_per_ip: l.max_connections_per_ip,
            max_pipelined: l.max_pipelined,
        }
    }
}

impl LimitsConfig {
    /// The connection limits these keys describe.
    pub fn conn_limits(&self) -> ConnLimits {
        ConnLimits {
            header_read_timeout: self.header_read_timeout,
            body_read_timeout: self.body_read_timeout,
            idle_timeout: self.idle_timeout,
            write_timeout: self.write_timeout,
            handler_timeout: self.handler_timeout,
            drain_timeout: self.drain_timeout,
            codec: rvp_proto::codec::Limits::default()
                .with_max_head_bytes(self.max_head_bytes)
                .with_max_headers(self.max_headers)
                .with_max_body_bytes(self.max_body_bytes),
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            max_pipelined: self.max_pipelined,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct LogConfig {
    /// Protocol log: `"-"` standard error (default), `""` off, else a file path.
    pub protocol_log: String,
    /// Diagnostics filter (`RUST_LOG` overrides). Default `info`.
    pub filter: String,
    /// How the `rvp-server` binary writes diagnostics on standard error. Default `text`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            protocol_log: "-".into(),
            filter: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// `log.format`: how diagnostics are written (the protocol log has its own format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LogFormat {
    /// One human-readable line per event; colours only on a terminal, never with
    /// `NO_COLOR` set.
    #[default]
    Text,
    /// One JSON object per line (time, level, target, fields): for log collectors.
    Json,
}

/// Most connections `admin.max_connections` may allow.
pub const MAX_ADMIN_CONNECTIONS: usize = 1024;

/// `[admin]`: the admin listener, serving `/metrics` (Prometheus text), `/healthz` and
/// `/readyz` ([`crate::admin`]). Off unless `listen` is set. It has no authentication:
/// keep it on a loopback or otherwise private address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AdminConfig {
    /// Address of the admin listener. Default none: no listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// Admin connections served at once (1 to [`MAX_ADMIN_CONNECTIONS`]); one more is
    /// answered `503` and closed. Default 8.
    pub max_connections: usize,
    /// An admin connection must send its request and take its answer within this.
    /// Default 5 s.
    #[serde(with = "crate::duration")]
    pub timeout: Duration,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: None,
            max_connections: 8,
            timeout: Duration::from_secs(5),
        }
    }
}

impl LogConfig {
    /// Where the protocol log goes.
    pub fn protocol_log_target(&self) -> crate::log::LogTarget {
        match self.protocol_log.as_str() {
            "" => crate::log::LogTarget::Off,
            "-" => crate::log::LogTarget::Stderr,
            path => crate::log::LogTarget::File(PathBuf::from(path)),
        }
    }
}

/// `[archive]`: the compliance archive ([`crate::archive`]): every NOTIFY the server
/// relays, appended to hash-chained segment files before it is released. It is written
/// and synced as `[server] storage_sync` says for the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ArchiveConfig {
    /// The archive's directory (created if missing). Default empty: no archive.
    pub path: PathBuf,
    /// Whole segments whose records are all older than this are deleted (at start-up and
    /// hourly). Zero (the default): kept for ever. Else at least
    /// [`crate::archive::MIN_RETENTION`] (one day).
    #[serde(with = "crate::duration")]
    pub retention: Duration,
}

impl ArchiveConfig {
    /// Whether the archive is on.
    pub fn enabled(&self) -> bool {
        !self.path.as_os_str().is_empty()
    }
}

/// A configuration that cannot be used. The message names the file, the line and the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key or a value of the wrong type.
    #[error("{origin}:{line}:{column}: {}{message}", key_prefix(key))]
    Syntax {
        /// The file (or [`DEFAULT_ORIGIN`]).
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The dotted key at fault, when known (`limits.max_body_bytes`).
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A value is well-typed but not acceptable (empty domain, duplicate alias...).
    #[error("{origin}{}: key `{key}`: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The file (or [`DEFAULT_ORIGIN`]).
        origin: String,
        /// 1-based line of the key, when it appears in the file.
        line: Option<usize>,
        /// The dotted key at fault.
        key: String,
        /// What is wrong.
        message: String,
    },
}

fn key_prefix(key: &Option<String>) -> String {
    key.as_ref()
        .map(|k| format!("key `{k}`: "))
        .unwrap_or_default()
}

impl ConfigError {
    /// The 1-based line of the error, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Io { .. } => None,
            ConfigError::Syntax { line, .. } => Some(*line),
            ConfigError::Invalid { line, .. } => *line,
        }
    }

    /// The dotted key at fault, when known.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Io { .. } => None,
            ConfigError::Syntax { key, .. } => key.as_deref(),
            ConfigError::Invalid { key, .. } => Some(key),
        }
    }
}

impl Default for Config {
    /// Every key at its default, and no users.
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            auth: AuthConfig::default(),
            policy: PolicyConfig::default(),
            limits: LimitsConfig::default(),
            resolve: ResolveConfig::default(),
            log: LogConfig::default(),
            router: crate::router::RouterConfig::default(),
            admin: AdminConfig::default(),
            archive: ArchiveConfig::default(),
            directory: crate::directory::DirectoryConfig::default(),
            tls: crate::tls::TlsConfig::default(),
            users: Vec::new(),
        }
    }
}

impl Config {
    /// One line per user whose credentials librvp (Pidgin) cannot sign on with, and why:
    /// its HA1 has a zero byte too early ([`crate::auth::Ha1::librvp_compatible`]).
    /// Checked for the username librvp sends without an Auth Domain (the alias); from the
    /// password, else from the HA1. Used by `--check-config`, the start-up banner, a reload
    /// and `rvp-admin config check`.
    pub fn librvp_warnings(&self) -> Vec<String> {
        use crate::auth::{Ha1, LibrvpCompat};
        let realm = self.realm();
        self.users
            .iter()
            .enumerate()
            .filter_map(|(i, u)| {
                let ha1 = match (&u.password, &u.ha1) {
                    (Some(p), _) => Ha1::from_password(&u.alias, realm, p),
                    (None, Some(h)) => Ha1::from_hex(h)?,
                    (None, None) => return None,
                };
                let from = if u.password.is_some() {
                    "password"
                } else {
                    "ha1"
                };
                match ha1.librvp_compatible() {
                    c @ LibrvpCompat::Incompatible { .. } => Some(format!(
                        "user {alias} (users[{i}].{from}): {c} (realm {realm:?}, username {alias:?})",
                        alias = u.alias
                    )),
                    _ => None,
                }
            })
            .collect()
    }

    /// The embedded default ([`DEFAULT_TOML`]).
    pub fn embedded_default() -> Result<Config, ConfigError> {
        Config::from_toml_str(DEFAULT_TOML, DEFAULT_ORIGIN)
    }

    /// Reads and validates a file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml_str(&text, &path.display().to_string())
    }

    /// Parses and validates TOML text; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let (line, column) = line_col(text, offset);
            ConfigError::Syntax {
                origin: origin.to_owned(),
                line,
                column,
                key: key_at(text, offset),
                message: e.message().trim_end().to_owned(),
            }
        })?;
        config
            .validate()
            .map_err(|(key, message)| ConfigError::Invalid {
                origin: origin.to_owned(),
                line: locate_key(text, &key),
                key,
                message,
            })?;
        Ok(config)
    }

    /// The effective configuration as TOML, with passwords and HA1s redacted.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        for u in &mut shown.users {
            if u.password.is_some() {
                u.password = Some("<redacted>".into());
            }
            if u.ha1.is_some() {
                u.ha1 = Some("<redacted>".into());
            }
        }
        toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot print the config: {e}\n"))
    }

    /// The users of the `[[users]]` file directory (`server.domain`, `server.host_name`).
    pub fn file_directory(&self) -> Result<FileDirectory, DirectoryError> {
        FileDirectory::from_users(&self.server.domain, &self.server.host_name, &self.users)
    }

    /// The directory this configuration describes: the `[[users]]` for `backend = "file"`; an LDAP
    /// server behind a [`directory::CachedDirectory`](crate::directory::CachedDirectory) for `backend = "ldap"`. Opening connects to
    /// nothing (the first lookup or listing does); it reads the bind password file.
    pub fn open_directory(&self) -> Result<Arc<dyn Directory>, DirectoryError> {
        let config = self;
        match config.directory.backend {
            Backend::File => Ok(Arc::new(config.file_directory()?)),
            #[cfg(feature = "ldap")]
            Backend::Ldap => {
                let ldap = config.directory.ldap.as_ref().ok_or_else(|| {
                    DirectoryError::Config("backend \"ldap\" without [directory.ldap]".into())
                })?;
                Ok(Arc::new(CachedDirectory::new(
                    LdapDirectory::new(ldap)?,
                    CacheConfig::from(&config.directory),
                )))
            }
            #[cfg(not(feature = "ldap"))]
            Backend::Ldap => Err(DirectoryError::Config(
                "backend \"ldap\": this rvp-server was built without the `ldap` feature".into(),
            )),
        }
    }

    /// The Digest realm in force (`auth.realm`, or the domain when empty).
    pub fn realm(&self) -> &str {
        if self.auth.realm.is_empty() {
            &self.server.domain
        } else {
            &self.auth.realm
        }
    }

    /// Checks what types cannot: `Err((dotted key, message))`.
    fn validate(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, msg: String| Err((key.to_owned(), msg));
        if self.server.listen.is_empty() {
            return bad("server.listen", "at least one address is needed".into());
        }
        for (key, name) in [
            ("server.domain", &self.server.domain),
            ("server.host_name", &self.server.host_name),
        ] {
            if !is_host_name(name) {
                return bad(
                    key,
                    format!("{name:?} is not a host name (letters, digits, '-', '.')"),
                );
            }
        }
        if self.server.storage.as_os_str().is_empty() {
            return bad("server.storage", "must not be empty".into());
        }
        let ci = self.server.storage_checkpoint_interval;
        if ci < MIN_CHECKPOINT_INTERVAL || ci > MAX_CHECKPOINT_INTERVAL {
            return bad(
                "server.storage_checkpoint_interval",
                format!(
                    "must be between {MIN_CHECKPOINT_INTERVAL:?} and {MAX_CHECKPOINT_INTERVAL:?}"
                ),
            );
        }
        if self.auth.nonce_lifetime.is_zero() {
            return bad("auth.nonce_lifetime", "must not be zero".into());
        }
        // The engine's own rules (minima <= maxima, no zero limit, lifetimes that fit the
        // header, the denied-sender status), reported under the key the file uses.
        let p = &self.policy;
        if ![403, 404, 412].contains(&p.send_to_denied_status) {
            return bad(
                "policy.send_to_denied_status",
                format!("must be 403, 404 or 412, not {}", p.send_to_denied_status),
            );
        }
        if let Err(e) = p.engine_policy(self.auth.require_auth).validate() {
            return bad(&format!("policy.{}", e.field()), e.to_string());
        }
        if p.delivery_connect_timeout.is_zero() {
            return bad("policy.delivery_connect_timeout", "must not be zero".into());
        }
        #[cfg(not(feature = "dns"))]
        if let Some(ns) = self.resolve.nameserver {
            return bad(
                "resolve.nameserver",
                format!(
                    "{ns}: this rvp-server was built without the `dns` feature, so it asks no \
                     DNS server (remove the key, or list other servers in [resolve.peers])"
                ),
            );
        }
        let l = &self.limits;
        for (key, zero) in [
            (
                "limits.header_read_timeout",
                l.header_read_timeout.is_zero(),
            ),
            ("limits.body_read_timeout", l.body_read_timeout.is_zero()),
            ("limits.idle_timeout", l.idle_timeout.is_zero()),
            ("limits.write_timeout", l.write_timeout.is_zero()),
            ("limits.handler_timeout", l.handler_timeout.is_zero()),
            ("limits.max_head_bytes", l.max_head_bytes < 64),
            ("limits.max_headers", l.max_headers == 0),
            ("limits.max_connections", l.max_connections == 0),
            (
                "limits.max_connections_per_ip",
                l.max_connections_per_ip == 0,
            ),
            ("limits.max_pipelined", l.max_pipelined == 0),
        ] {
            if zero {
                return bad(
                    key,
                    if key == "limits.max_head_bytes" {
                        "must be at least 64".into()
                    } else {
                        "must not be zero".into()
                    },
                );
            }
        }
        if l.max_connections_per_ip > l.max_connections {
            return bad(
                "limits.max_connections_per_ip",
                format!(
                    "{} is larger than limits.max_connections ({}); lower it to at most that",
                    l.max_connections_per_ip, l.max_connections
                ),
            );
        }
        let ar = &self.archive;
        if !ar.retention.is_zero() && ar.retention < crate::archive::MIN_RETENTION {
            return bad(
                "archive.retention",
                "must be zero (keep for ever) or at least \"1d\" (segments live up to a day)"
                    .into(),
            );
        }
        if ar.enabled() {
            let most = l
                .max_body_bytes
                .saturating_add(l.max_head_bytes.saturating_mul(2))
                .saturating_add(crate::archive::RECORD_OVERHEAD);
            if most > crate::archive::MAX_RECORD_BYTES {
                return bad(
                    "limits.max_body_bytes",
                    format!(
                        "{} (plus twice limits.max_head_bytes for the sender and the recipient) \
                         does not fit an archive record of at most {} bytes: lower it, or turn \
                         the [archive] off",
                        l.max_body_bytes,
                        crate::archive::MAX_RECORD_BYTES
                    ),
                );
            }
        }
        let a = &self.admin;
        if a.max_connections == 0 || a.max_connections > MAX_ADMIN_CONNECTIONS {
            return bad(
                "admin.max_connections",
                format!("must be between 1 and {MAX_ADMIN_CONNECTIONS}"),
            );
        }
        if a.timeout.is_zero() {
            return bad("admin.timeout", "must not be zero".into());
        }
        if let Some(addr) = a.listen
            && addr.port() != 0
            && self.server.listen.contains(&addr)
        {
            return bad(
                "admin.listen",
                format!("{addr} is also in server.listen: give the admin listener its own port"),
            );
        }
        self.tls.validate(&self.server.listen, a.listen)?;
        if l.max_headers > rvp_proto::codec::MAX_HEADERS_CAP {
            return bad(
                "limits.max_headers",
                format!("must be at most {}", rvp_proto::codec::MAX_HEADERS_CAP),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (i, u) in self.users.iter().enumerate() {
            let key = |k: &str| format!("users[{i}].{k}");
            if !is_alias(&u.alias) {
                return bad(
                    &key("alias"),
                    format!(
                        "{:?} is not an alias (1 to 64 letters, digits, '.', '_', '-')",
                        u.alias
                    ),
                );
            }
            if !seen.insert(u.alias.to_ascii_lowercase()) {
                return bad(
                    &key("alias"),
                    format!("alias {:?} is defined twice", u.alias),
                );
            }
            if u.password.is_some() && u.ha1.is_some() {
                return bad(
                    &key("ha1"),
                    "give either `password` or `ha1`, not both".into(),
                );
            }
            if let Some(h) = &u.ha1
                && (h.len() != 32 || !h.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return bad(&key("ha1"), "must be 32 hexadecimal digits".into());
            }
        }
        Ok(())
    }
}

fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !s.starts_with(['.', '-'])
}

fn is_alias(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |n| before.len() - n - 1)
        + 1;
    (line, col)
}

/// The dotted key (`limits.max_body_bytes`, `users[1].alias`) whose key or value holds
/// `offset`, read from the spans of toml's own parser (the deepest one; a table header's
/// own key for an offset in a header). `None` when the text does not parse as TOML or the
/// offset is outside every key.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let (doc, _) = DeTable::parse_recoverable(text);
    let mut path = String::new();
    key_in_table(doc.get_ref(), offset, &mut path).then_some(path)
}

fn key_in_table(table: &DeTable<'_>, offset: usize, path: &mut String) -> bool {
    // A table's span may cover only its header (`[limits]`), so every table is searched,
    // not only those whose span holds the offset.
    for (key, value) in table {
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key.get_ref());
        if key.span().contains(&offset)
            || key_in_value(value.get_ref(), offset, path)
            || value.span().contains(&offset)
        {
            return true;
        }
        path.truncate(len);
    }
    false
}

fn key_in_value(value: &DeValue<'_>, offset: usize, path: &mut String) -> bool {
    match value {
        DeValue::Table(t) => key_in_table(t, offset, path),
        DeValue::Array(items) => items.iter().enumerate().any(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            if key_in_value(item.get_ref(), offset, path) || item.span().contains(&offset) {
                return true;
            }
            path.truncate(len);
            false
        }),
        _ => false,
    }
}

/// The 1-based line where the dotted `key` (`server.domain`, `users[1].alias`) is set,
/// from the spans of toml's own parser; `None` when the file does not set it.
fn locate_key(text: &str, key: &str) -> Option<usize> {
    let (doc, _) = DeTable::parse_recoverable(text);
    let mut table = doc.get_ref();
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let (name, index) = match part.split_once('[') {
            Some((name, rest)) => (name, rest.strip_suffix(']')?.parse::<usize>().ok()),
            None => (part, None),
        };
        let (k, v) = table.get_key_value(name)?;
        let v = match (index, v.get_ref()) {
            (Some(i), DeValue::Array(items)) => items.get(i)?,
            (Some(_), _) => return None,
            (None, _) => v,
        };
        if parts.peek().is_none() {
            // The key's own line (a table's header line for a table).
            let at = if index.is_some() {
                v.span().start
            } else {
                k.span().start
            };
            return Some(line_col(text, at).0);
        }
        match v.get_ref() {
            DeValue::Table(t) => table = t,
            _ => return None,
        }
    }
    None
}

/// A duration as the configuration writes it: `"250ms"`, `"10s"`, `"5m"`, `"4h"`, `"90d"`
/// (an integer and a unit `ms`, `s`, `m` or `min`, `h`, `d`). `None` for anything else.
pub fn parse_duration(text: &str) -> Option<Duration> {
    crate::duration::parse(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_the_defaults_plus_demo_users() {
        let c = Config::embedded_default().unwrap();
        let mut without_users = c.clone();
        without_users.users.clear();
        assert_eq!(without_users, Config::default());
        let aliases: Vec<_> = c.users.iter().map(|u| u.alias.as_str()).collect();
        assert_eq!(aliases, ["alice", "bob", "carol"]);
        assert!(c.users.iter().all(|u| u.password.is_some()));
        assert_eq!(c.realm(), "localhost");
    }

    #[test]
    fn empty_file_is_all_defaults() {
        assert_eq!(Config::from_toml_str("", "x").unwrap(), Config::default());
    }

    #[test]
    fn printed_config_parses_back() {
        let c = Config::embedded_default().unwrap();
        let text = c.to_redacted_toml();
        assert!(!text.contains("alice-demo"), "{text}");
        let mut back = Config::from_toml_str(&text, "printed").unwrap();
        for (b, o) in back.users.iter_mut().zip(&c.users) {
            b.password.clone_from(&o.password);
        }
        assert_eq!(back, c);
    }

    #[test]
    fn durations() {
        for (t, d) in [
            ("250ms", Duration::from_millis(250)),
            ("10s", Duration::from_secs(10)),
            ("5m", Duration::from_secs(300)),
            ("4h", Duration::from_secs(14_400)),
        ] {
            assert_eq!(crate::duration::parse(t), Some(d), "{t}");
            assert_eq!(crate::duration::parse(&crate::duration::format(d)), Some(d));
        }
        for t in ["", "s", "10", "10 parsecs", "-1s", "1.5s"] {
            assert_eq!(crate::duration::parse(t), None, "{t}");
        }
        let c = Config::from_toml_str("[limits]\nidle_timeout = 7\n", "x").unwrap();
        assert_eq!(c.limits.idle_timeout, Duration::from_secs(7));
    }

    fn err(text: &str) -> ConfigError {
        Config::from_toml_str(text, "test.toml").unwrap_err()
    }

    #[test]
    fn storage_sync_modes_and_checkpoint_bounds() {
        let c = Config::from_toml_str("[server]\nstorage_sync = \"always\"\n", "x").unwrap();
        assert_eq!(c.server.storage_sync, SyncMode::Always);
        assert_eq!(Config::default().server.storage_sync, SyncMode::Interval);
        let e = err("[server]\nstorage_sync = \"sometimes\"\n");
        assert_eq!(
            (e.line(), e.key()),
            (Some(2), Some("server.storage_sync")),
            "{e}"
        );
        assert!(e.to_string().contains("always"), "{e}");
        for (value, ok) in [
            ("\"9ms\"", false),
            ("\"10ms\"", true),
            ("\"10m\"", true),
            ("601", false),
        ] {
            let text = format!("[server]\nstorage_checkpoint_interval = {value}\n");
            match Config::from_toml_str(&text, "test.toml") {
                Ok(c) => assert!(ok, "{value} accepted: {c:?}"),
                Err(e) => {
                    assert!(!ok, "{value} refused: {e}");
                    assert_eq!(
                        (e.line(), e.key()),
                        (Some(2), Some("server.storage_checkpoint_interval")),
                        "{e}"
                    );
                }
            }
        }
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = err("[server]\ndomain = \"example.com\"\n\n[limits]\nmax_body = 5\n");
        assert_eq!(e.line(), Some(5), "{e}");
        assert_eq!(e.key(), Some("limits.max_body"), "{e}");
        let s = e.to_string();
        assert!(s.starts_with("test.toml:5:"), "{s}");
        assert!(s.contains("unknown field"), "{s}");
        let e = err("colour = 1\n");
        assert_eq!((e.line(), e.key()), (Some(1), Some("colour")), "{e}");
        let e = err("[sever]\n");
        assert_eq!(e.line(), Some(1), "{e}");
    }

    #[test]
    fn wrong_type_names_key_and_line() {
        let e = err("[limits]\n# comment\nmax_connections = \"many\"\n");
        assert_eq!(
            (e.line(), e.key()),
            (Some(3), Some("limits.max_connections"))
        );
        let e = err("[limits]\nidle_timeout = \"10 parsecs\"\n");
        assert_eq!((e.line(), e.key()), (Some(2), Some("limits.idle_timeout")));
        assert!(e.to_string().contains("invalid duration"), "{e}");
        let e = err("[server]\nlisten = [\"127.0.0.1\"]\n");
        assert_eq!(
            (e.line(), e.key()),
            (Some(2), Some("server.listen[0]")),
            "{e}"
        );
        let e = err("[[users]]\nalias = \"a\"\n[[users]]\nalias = \"b\"\npasword = \"x\"\n");
        assert_eq!(
            (e.line(), e.key()),
            (Some(5), Some("users[1].pasword")),
            "{e}"
        );
        let e = err("[server\n");
        assert_eq!(e.line(), Some(1), "{e}");
    }

    #[test]
    fn invalid_values_name_key_and_line() {
        let e = err("[[users]]\nalias = \"a\"\n\n[[users]]\nalias = \"A\"\n");
        assert_eq!(
            (e.line(), e.key()),
            (Some(5), Some("users[1].alias")),
            "{e}"
        );
        assert!(e.to_string().contains("twice"), "{e}");
        let e = err("[[users]]\nalias = \"a\"\nha1 = \"xyz\"\n");
        assert_eq!((e.line(), e.key()), (Some(3), Some("users[0].ha1")), "{e}");
        let e = err("[server]\nlisten = []\n");
        assert_eq!((e.line(), e.key()), (Some(2), Some("server.listen")), "{e}");
        let e = err("[server]\ndomain = \"bad domain\"\n");
        assert_eq!(e.key(), Some("server.domain"));
        let e = err("[limits]\nmax_headers = 1000\n");
        assert_eq!((e.line(), e.key()), (Some(2), Some("limits.max_headers")));
        let e = err("[policy]\nlease_min = \"2h\"\n");
        assert_eq!((e.line(), e.key()), (Some(2), Some("policy.lease_min")));
        // The engine's own rules, reported under the file's key and line: a lifetime that
        // does not fit Subscription-Lifetime's 32-bit seconds, a zero limit.
        let e = err(
            "[server]\ndomain = \"example.com\"\n[policy]\n# long\nsubscription_lifetime_max = \"60000d\"\n",
        );
        assert_eq!(
            (e.line(), e.key()),
            (Some(5), Some("policy.subscription_lifetime_max")),
            "{e}"
        );
        assert!(e.to_string().contains("u32::MAX seconds"), "{e}");
        let e = err("[policy]\nmax_hops = 0\n");
        assert_eq!(
            (e.line(), e.key()),
            (Some(2), Some("policy.max_hops")),
            "{e}"
        );
        let e = err("[policy]\nsend_to_denied_status = 200\n");
        assert_eq!(
            (e.line(), e.key()),
            (Some(2), Some("policy.send_to_denied_status")),
            "{e}"
        );
        let e = err("[limits]\nmax_connections = 0\n");
        assert_eq!(
            e.to_string(),
            "test.toml:2: key `limits.max_connections`: must not be zero"
        );
        let e = err("[limits]\nmax_connections_per_ip = 0\n");
        assert_eq!(
            (e.line(), e.key()),
            (Some(2), Some("limits.max_connections_per_ip"))
        );
        let e = err("[limits]\nmax_connections = 10\nmax_connections_per_ip = 11\n");
        assert_eq!(
            e.to_string(),
            "test.toml:3: key `limits.max_connections_per_ip`: 11 is larger than \
             limits.max_connections (10); lower it to at most that"
        );
        // Lowering max_connections below the per-address default names the default.
        let e = err("[limits]\nmax_connections = 10\n");
        assert_eq!(
            (e.line(), e.key()),
            (None, Some("limits.max_connections_per_ip")),
            "{e}"
        );
        let c = Config::from_toml_str(
            "[limits]\nmax_connections = 10\nmax_connections_per_ip = 10\n",
            "x",
        )
        .unwrap();
        assert_eq!(c.limits.conn_limits().max_connections_per_ip, 10);
        assert_eq!(Config::default().limits.max_connections_per_ip, 64);
        // A key left at its default that fails validation has no line.
        let e = err("[policy]\nlease_max = \"10s\"\n");
        assert_eq!((e.line(), e.key()), (None, Some("policy.lease_min")), "{e}");
    }

    #[test]
    fn admin_listener_and_log_format() {
        let d = Config::default();
        assert_eq!(d.admin.listen, None, "no admin listener by default");
        assert_eq!(d.log.format, LogFormat::Text);
        let c = Config::from_toml_str(
            "[admin]\nlisten = \"127.0.0.1:9180\"\nmax_connections = 2\ntimeout = \"1s\"\n\
             [log]\nformat = \"json\"\n",
            "x",
        )
        .unwrap();
        assert_eq!(c.admin.listen, Some("127.0.0.1:9180".parse().unwrap()));
        assert_eq!(c.admin.max_connections, 2);
        assert_eq!(c.admin.timeout, Duration::from_secs(1));
        assert_eq!(c.log.format, LogFormat::Json);
        assert!(c.to_redacted_toml().contains("listen = \"127.0.0.1:9180\""));
        let e = err("[admin]\nmax_connections = 0\n");
        assert_eq!(
            (e.line(), e.key()),
            (Some(2), Some("admin.max_connections"))
        );
        let e = err("[admin]\nmax_connections = 1025\n");
        assert_eq!(e.key(), Some("admin.max_connections"));
        let e = err("[admin]\ntimeout = 0\n");
        assert_eq!((e.line(), e.key()), (Some(2), Some("admin.timeout")));
        let e =
            err("[server]\nlisten = [\"127.0.0.1:8080\"]\n[admin]\nlisten = \"127.0.0.1:8080\"\n");
        assert_eq!((e.line(), e.key()), (Some(4), Some("admin.listen")), "{e}");
        let e = err("[log]\nformat = \"xml\"\n");
        assert_eq!((e.line(), e.key()), (Some(2), Some("log.format")), "{e}");
    }

    #[test]
    fn policy_maps_onto_the_engine() {
        let c = Config::from_toml_str(
            "[auth]\nrequire_auth = false\n[policy]\nmax_hops = 5\nsend_to_denied_status = 403\n\
             subscription_grace = \"7s\"\n",
            "x",
        )
        .unwrap();
        let p = c.policy.engine_policy(c.auth.require_auth);
        assert_eq!(p.max_hops, 5);
        assert_eq!(p.send_to_denied_status, http::StatusCode::FORBIDDEN);
        assert_eq!(p.subscription_grace, Duration::from_secs(7));
        assert!(p.owner_accepts_assertion);
        assert_eq!(p.validate(), Ok(()));
        let d = Config::default();
        let p = d.policy.engine_policy(d.auth.require_auth);
        assert_eq!(
            p.send_to_denied_status,
            http::StatusCode::PRECONDITION_FAILED
        );
        assert!(!p.owner_accepts_assertion);
        // The defaults are the engine's: nothing is lost or changed on the way.
        assert_eq!(p, rvp_presence::Policy::default());
        assert_eq!(d.resolve.nameserver, None);
        let e = err("[policy]\nsend_to_denied_status = 200\n");
        assert_eq!(
            (e.line(), e.key()),
            (Some(2), Some("policy.send_to_denied_status"))
        );
        let e = err("[resolve]\nnameserver = \"dns.example\"\n");
        assert_eq!(e.key(), Some("resolve.nameserver"), "{e}");
    }

    #[test]
    fn a_nameserver_needs_the_dns_feature() {
        let r = Config::from_toml_str("[resolve]\nnameserver = \"127.0.0.1:5353\"\n", "x");
        #[cfg(feature = "dns")]
        assert_eq!(
            r.unwrap().resolve.nameserver,
            Some("127.0.0.1:5353".parse().unwrap())
        );
        #[cfg(not(feature = "dns"))]
        {
            let e = r.unwrap_err();
            assert_eq!(
                (e.line(), e.key()),
                (Some(2), Some("resolve.nameserver")),
                "{e}"
            );
            assert!(e.to_string().contains("`dns` feature"), "{e}");
        }
    }

    #[test]
    fn the_archive_is_off_by_default_and_its_keys_are_checked() {
        let d = Config::default();
        assert!(!d.archive.enabled());
        assert_eq!(d.archive.retention, Duration::ZERO);
        let c = Config::from_toml_str(
            "[archive]\npath = \"/var/lib/rvp/archive\"\nretention = \"90d\"\n",
            "x",
        )
        .unwrap();
        assert!(c.archive.enabled());
        assert_eq!(c.archive.retention, Duration::from_secs(90 * 86_400));
        let back = Config::from_toml_str(&c.to_redacted_toml(), "printed").unwrap();
        assert_eq!(back.archive, c.archive);
        assert!(c.to_redacted_toml().contains("retention = \"90d\""));
        // Shorter than a day (a segment lives up to a day): refused, naming key and line.
        let e = err("[archive]\npath = \"a\"\nretention = \"23h\"\n");
        assert_eq!(
            (e.line(), e.key()),
            (Some(3), Some("archive.retention")),
            "{e}"
        );
        assert!(
            Config::from_toml_str("[archive]\nretention = \"1d\"\n", "x").is_ok(),
            "the minimum"
        );
        // A body limit whose records would not fit the archive's record limit.
        let e = err("[archive]\npath = \"a\"\n[limits]\nmax_body_bytes = 67108864\n");
        assert_eq!(
            (e.line(), e.key()),
            (Some(4), Some("limits.max_body_bytes")),
            "{e}"
        );
        assert!(e.to_string().contains("archive"), "{e}");
        // The same limit without the archive is fine.
        assert!(Config::from_toml_str("[limits]\nmax_body_bytes = 67108864\n", "x").is_ok());
        let e = err("[archive]\npaht = \"a\"\n");
        assert_eq!((e.line(), e.key()), (Some(2), Some("archive.paht")), "{e}");
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(172_800)));
    }

    #[test]
    fn passwords_are_not_debug_printed() {
        let c = Config::embedded_default().unwrap();
        assert!(!format!("{c:?}").contains("alice-demo"));
    }

    proptest::proptest! {
        #[test]
        fn durations_print_and_parse_back(ms in 0u64..10_000_000_000) {
            let d = Duration::from_millis(ms);
            proptest::prop_assert_eq!(crate::duration::parse(&crate::duration::format(d)), Some(d));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "(\\PC|\n|\\[|\\]|=|\"){0,200}") {
            if let Err(e) = Config::from_toml_str(&text, "fuzz.toml") {
                let _ = e.to_string();
            }
        }

        #[test]
        fn any_valid_limit_survives_print_and_parse(
            conns in 1usize..100_000,
            per_ip_permille in 1usize..=1000,
            pipelined in 1usize..1000,
            idle_ms in 1u64..100_000_000,
        ) {
            let mut c = Config::default();
            c.limits.max_connections = conns;
            c.limits.max_connections_per_ip = (conns * per_ip_permille / 1000).max(1);
            c.limits.max_pipelined = pipelined;
            c.limits.idle_timeout = Duration::from_millis(idle_ms);
            let back = Config::from_toml_str(&c.to_redacted_toml(), "printed").unwrap();
            proptest::prop_assert_eq!(back, c);
        }
    }
}
