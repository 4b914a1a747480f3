//! The home server assembled: configuration → store → engine task → delivery → listener.
//!
//! ```text
//!   client ──TCP──► listener / conn.rs ──► RvpService::handle(peer, request, now)
//!                                            │ 1. Digest: Authenticator::authenticate
//!                                            │    (a refused answer → 401 + one challenge)
//!                                            │ 2. Caller::from_rvp_headers(asserted, proven, ip)
//!                                            ▼
//!                            EngineHandle::call ──► engine task (owns PresenceCore:
//!                                                    rvp_presence::Engine + DurableStore)
//!                                                     handle every ready input, then ONE
//!                                                     log write for all (group commit),
//!                                                     then release exactly the covered
//!                                                     outputs:
//!            answer ◄──────────────────────────────── Respond(answer)
//!            (401 after a verified Digest → 403;      Deliver(delivery) ──► Dispatch
//!             401 without credentials → challenge)                          │
//!                                                                           ▼
//!          Deliverer (per-callback queues) ◄── local node http://ip:port, or a logical
//!                │                              URL on another server resolved by DNS
//!                ▼                              ([resolve] nameserver; none = failure)
//!          DeliveryReport ──► forwarder task ──► EngineHandle::event
//!                                                 → Engine::handle_delivery_result
//! ```
//!
//! Durability follows the journal contract of `rvp-presence` ([`rvp_presence::journal`]):
//! no answer and no NOTIFY leaves before the changes that produced it are on disk
//! ([`crate::store`]). A commit failure stops the engine (nothing more is answered) and
//! the server shuts down.
//!
//! Start-up: [`DurableStore::open`] (replays the write-ahead log) → [`Engine::new`](rvp_presence::Engine::new) → the configured users registered →
//! [`DurableStore::restore_engine`] → the outputs the restore queued (lapsed leases) are sent.
//! Shutdown: stop accepting, drain connections, stop the engine (final commit), give
//! queued NOTIFYs a moment ([`NOTIFY_FLUSH_GRACE`]), close the deliverer.

mod effects;
pub mod live;
mod service;

pub use crate::delivery::outbound_notify_for;
pub use crate::presence::{PresenceCore, PresenceRequest};
pub use crate::setup::{
    ServerError, archive_options, delivery_config, directory_entries, durable_options, engine_for,
    engine_with_users, entries_of, fellow_servers, user_directory, user_properties,
};
pub use service::RvpService;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rvp_presence::DeliveryId;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::archive::ArchiveWriter;
use crate::auth::{Authenticator, DigestConfig, NonceSecret};
use crate::config::Config;
use crate::delivery::Deliverer;
use crate::engine::{self, EngineHandle};
use crate::listener::{ServeReport, Server};
use crate::log::ProtocolLog;
use crate::metrics::Metrics;
use crate::store::DurableStore;
use crate::trust::ServerTrust;

/// After the engine stopped, queued NOTIFYs get at most this long to go out before the
/// deliverer is closed.
pub const NOTIFY_FLUSH_GRACE: Duration = Duration::from_secs(2);
use effects::{Dispatch, forward_reports};

/// A started home server: listening, engine running, not yet serving connections.
#[derive(Debug)]
pub struct HomeServer {
    server: Server<RvpService>,
    engine: EngineHandle<PresenceCore>,
    task: JoinHandle<PresenceCore>,
    deliverer: Deliverer<DeliveryId>,
    fatal: oneshot::Receiver<String>,
    metrics: Arc<Metrics>,
    admin: Option<crate::admin::AdminServer>,
    reloader: crate::admin::Reloader,
}

impl HomeServer {
    /// Opens the store, restores the engine, binds the listen addresses
    /// (`config.server.listen`, and `admin.listen` when set) and starts the engine task.
    /// Call [`HomeServer::run`] to serve.
    ///
    /// The users: the directory's listing at start-up (every user registered before the
    /// store is restored, so that each keeps its stored state), then, for an LDAP
    /// directory, the directory read per request ([`live`]). The `[[users]]` of the file
    /// are read at start-up and on a reload.
    pub async fn start(config: &Config, log: ProtocolLog) -> Result<HomeServer, ServerError> {
        let directory = config
            .open_directory()
            .map_err(|e| ServerError::User(format!("[directory]: {e}")))?;
        let live = (config.directory.backend != crate::directory::Backend::File)
            .then(|| Arc::clone(&directory));
        HomeServer::start_inner(config, log, &*directory, live).await
    }

    /// [`HomeServer::start`] with the users of `directory` (an embedder's own
    /// [`Directory`](crate::directory::Directory), e.g. its account database) instead of
    /// the one `[directory]` configures. Read once, at start-up
    /// ([`HomeServer::start_with_live_directory`] reads it per request as well).
    pub async fn start_with_directory(
        config: &Config,
        log: ProtocolLog,
        directory: &dyn crate::directory::Directory,
    ) -> Result<HomeServer, ServerError> {
        HomeServer::start_inner(config, log, directory, None).await
    }

    /// [`HomeServer::start_with_directory`], and `directory` read per request as well
    /// ([`live`]): users added, changed or disabled in it take effect while the server
    /// runs, within the cache's TTLs. A directory without a cache
    /// ([`Directory::cache_stats`](crate::directory::Directory::cache_stats) `None`) is
    /// put behind a [`CachedDirectory`](crate::directory::CachedDirectory) with the
    /// `[directory]` cache settings. Its users are not `[[users]]`: a configuration reload
    /// must not be given `[[users]]` for them.
    pub async fn start_with_live_directory(
        config: &Config,
        log: ProtocolLog,
        directory: Arc<dyn crate::directory::Directory>,
    ) -> Result<HomeServer, ServerError> {
        let directory: Arc<dyn crate::directory::Directory> = if directory.cache_stats().is_some() {
            directory
        } else {
            Arc::new(crate::directory::CachedDirectory::new(
                directory,
                crate::directory::CacheConfig::from(&config.directory),
            ))
        };
        HomeServer::start_inner(config, log, &*directory, Some(Arc::clone(&directory))).await
    }

    async fn start_inner(
        config: &Config,
        log: ProtocolLog,
        directory: &dyn crate::directory::Directory,
        live: Option<Arc<dyn crate::directory::Directory>>,
    ) -> Result<HomeServer, ServerError> {
        let now = Instant::now();
        let mut store = DurableStore::open(&config.server.storage, durable_options(config))?;
        // The users: from the directory (the [[users]] of the file, LDAP, or the embedder's).
        let entries = entries_of(directory).await?;
        let mut engine = engine_with_users(config, &entries, now)?;
        let report = store.restore_engine(&mut engine, Instant::now())?;
        tracing::info!(?report, store = %store.path().display(), "state restored");
        // Every server of the domain verifies every user of it (they share the directory,
        // as Exchange's home servers share Active Directory): a user of another home server
        // watching someone here proves itself here.
        let verifiable: Vec<_> = entries
            .iter()
            .cloned()
            .map(|mut e| {
                e.home = None;
                e
            })
            .collect();
        let users = crate::directory::user_directory(
            &config.server.domain,
            config.realm(),
            &config.server.host_name,
            &verifiable,
        )
        .map_err(|e| ServerError::Auth(e.to_string()))?;
        let mut digest = DigestConfig::new(config.realm());
        digest.nonce_lifetime = config.auth.nonce_lifetime;
        let secret = NonceSecret::generate().map_err(|e| ServerError::Auth(e.to_string()))?;
        let auth = Arc::new(Authenticator::new(digest, secret, users, now));

        let (reports_tx, reports_rx) = mpsc::unbounded_channel();
        let (failures_tx, failures_rx) = mpsc::unbounded_channel();
        let metrics = Arc::new(Metrics::new());
        let tls = crate::tls::ServerTls::from_config(&config.tls, &metrics)?;
        let deliverer = Deliverer::new(delivery_config(config), reports_tx).with_server_tls(&tls);
        let resolver = match config.resolve.nameserver {
            Some(ns) => Some(Arc::new(
                crate::resolve::ForeignResolver::new(ns)
                    .map_err(|e| ServerError::Auth(format!("[resolve] nameserver: {e}")))?
                    .allow_loopback(config.resolve.allow_loopback)
                    .tls_when_published(tls.outbound()),
            )),
            None => None,
        };
        let dispatch = Dispatch {
            deliverer: deliverer.clone(),
            failures: failures_tx,
            resolver: resolver.clone(),
        };
        let (fatal_tx, fatal) = oneshot::channel();
        let mut core = PresenceCore::new(engine, Some(store), Some(fatal_tx));
        if config.archive.enabled() {
            let archive = ArchiveWriter::open(&config.archive.path, archive_options(config))?;
            core = core.with_archive(archive);
        }
        let (handle, task) = engine::spawn(core, dispatch, engine::DEFAULT_QUEUE);
        tokio::spawn(forward_reports(
            reports_rx,
            failures_rx,
            handle.downgrade(),
            resolver.clone(),
            Arc::clone(&metrics),
        ));
        let admin = match config.admin.listen {
            Some(addr) => {
                let sources = crate::admin::Sources {
                    metrics: Arc::clone(&metrics),
                    engine: handle.downgrade(),
                    auth: Arc::clone(&auth),
                    deliverer: deliverer.clone(),
                    resolver: resolver.clone(),
                    log: log.clone(),
                    directory: live.clone(),
                };
                Some(
                    crate::admin::AdminServer::bind(addr, sources, config.admin.clone())
                        .await
                        .map_err(ServerError::Bind)?,
                )
            }
            None => None,
        };
        let reloader = crate::admin::Reloader::new(
            handle.downgrade(),
            Arc::clone(&auth),
            Arc::clone(&metrics),
            config.clone(),
        );
        let trust = ServerTrust::new(
            &config.server.domain,
            &config.resolve.peers,
            resolver.clone(),
        );
        // A home server named in the directory but not in [router] homes is found in DNS
        // (its A/AAAA records, through [resolve] nameserver).
        let router = crate::setup::router_for(config, &entries).with_resolver(resolver);
        let mut service = RvpService::new(handle.clone(), Arc::clone(&auth))
            .with_trust(trust)
            .with_metrics(Arc::clone(&metrics))
            .with_trusted_proxies(&config.router.trusted_proxies)
            .with_fellow_servers(&config.server.domain, &fellow_servers(config));
        service = match live {
            Some(directory) => service.with_live_users(Arc::new(live::LiveUsers::new(
                config,
                directory,
                &entries,
                handle.clone(),
                auth,
                Arc::new(router),
            ))),
            None => service.with_router(router),
        };
        let server = Server::bind(
            &config.server.listen,
            service,
            config.limits.conn_limits(),
            log,
        )
        .await
        .map_err(ServerError::Bind)?
        .with_metrics(Arc::clone(&metrics));
        let server = server
            .bind_server_tls(&tls)
            .await
            .map_err(ServerError::Bind)?;
        Ok(HomeServer {
            server,
            engine: handle,
            task,
            deliverer,
            fatal,
            metrics,
            admin,
            reloader,
        })
    }

    /// The address of the admin listener (`/metrics`, `/healthz`, `/readyz`), when
    /// `admin.listen` is set.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|a| a.local_addr())
    }

    /// The server's counters ([`crate::metrics`]).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Applies new configurations while the server runs (users and `[policy]`;
    /// [`crate::admin::reload`]). Works until [`HomeServer::run`] has stopped the engine.
    pub fn reloader(&self) -> crate::admin::Reloader {
        self.reloader.clone()
    }

    /// The addresses actually bound (useful with port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.server.local_addrs()
    }

    /// The TLS listener's addresses actually bound (`[tls] listen`; empty without).
    pub fn tls_addrs(&self) -> Vec<SocketAddr> {
        self.server.tls_local_addrs()
    }

    /// Serves until `stop` resolves (or the store fails), then shuts down in order:
    /// drain connections, stop the engine (final commit), let queued NOTIFYs go out for
    /// up to [`NOTIFY_FLUSH_GRACE`], close the deliverer.
    pub async fn run(
        self,
        stop: impl Future<Output = ()> + Send,
    ) -> Result<ServeReport, ServerError> {
        let HomeServer {
            server,
            engine,
            task,
            deliverer,
            mut fatal,
            metrics: _,
            admin,
            reloader: _,
        } = self;
        // The admin listener serves through the drain (`/readyz` then says "not
        // accepting") and stops with the listeners.
        let (admin_stop, admin_stopped) = tokio::sync::watch::channel(false);
        let admin_task = admin.map(|a| tokio::spawn(a.serve(admin_stopped)));
        let mut failure = None;
        let report = {
            let stop = async {
                tokio::select! {
                    () = stop => {}
                    r = &mut fatal => {
                        if let Ok(msg) = r {
                            failure = Some(msg);
                        }
                    }
                }
            };
            server.serve(stop).await
        };
        let _ = admin_stop.send(true);
        if let Some(t) = admin_task {
            // Bounded: the admin server gives its connections `admin.timeout`, then aborts.
            let _ = t.await;
        }
        let _ = engine.stop().await;
        drop(engine);
        let joined = task.await;
        let deadline = Instant::now() + NOTIFY_FLUSH_GRACE;
        while deliverer.pending() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        deliverer.close();
        let mut core = joined.map_err(|e| ServerError::EngineTask(e.to_string()))?;
        let archived = core.close_archive();
        let closed = core.close();
        match failure {
            Some(msg) => Err(ServerError::Commit(msg)),
            None => {
                archived?;
                closed.map(|()| report).map_err(ServerError::Store)
            }
        }
    }
}
