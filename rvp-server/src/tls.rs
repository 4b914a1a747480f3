//! TLS, which Exchange 2000 IM never had (issue 11): NOTIFYs to the servers of other
//! domains that publish `_rvps._tcp`, and a listener for clients that can use it.
//!
//! ```text
//!  outbound (delivery/conn.rs)                       inbound (listener.rs)
//!  call-back http://D/instmsg/aliases/x               [tls] listen ──accept──► permit,
//!    │ resolve.rs: _rvps._tcp.D SRV?                  per-IP slot (the same limits as
//!    ├─ yes ─► TCP to its target ─► TlsClient:         the plain listener) ──► TlsAcceptor:
//!    │         handshake, certificate checked          handshake within
//!    │         against D ([tls] peer_ca or the         [tls] handshake_timeout ──► conn.rs,
//!    │         system's roots); any failure = the      the same Handler, Peer = the TCP
//!    │         NOTIFY fails (never plain HTTP)         source address
//!    └─ no (no record, ".", a failed query) ─► plain HTTP, as before
//! ```
//!
//! * **When TLS is used towards a server** (PROTOCOL.md §7.6, our convention (R)): the
//!   call-back's host `D` (the IM domain in its logical URL) publishes `_rvps._tcp.D` SRV
//!   records. Their targets and ports (443 is the conventional port) are where to connect,
//!   in RFC 2782 order; the certificate must be valid for `D` itself — not for the SRV
//!   target, so whoever can change the SRV record still cannot point us at a server that
//!   does not hold a certificate for the domain. A TLS failure (handshake, unknown CA,
//!   wrong name, time-out) fails the NOTIFY, is logged at `warn` and counted; it is never
//!   retried over plain HTTP, which would hand a downgrade to anyone on the path.
//! * **What it does not change.** Without DNSSEC, whoever controls DNS answers can still
//!   remove the `_rvps._tcp` record (TLS is as strong as the DNS answer that asks for it),
//!   and the trust model stays Digest for users and DNS/IP for servers: a NOTIFY arriving
//!   over TLS is believed exactly as one over plain HTTP (PROTOCOL.md §8.1). Client
//!   certificates are neither sent nor asked for.
//! * **Inbound**: one more set of listen addresses, served by the same accept loop with the
//!   same connection limits; the handshake must finish within `handshake_timeout` while
//!   the connection holds its permit. A connection refused for load is closed without an
//!   answer (a plain `503` would mean nothing to a TLS client). Handshake failures are
//!   counted and logged at `debug` (a scanner would otherwise fill the log).
//! * **Trust roots** for other servers: `peer_ca` (a PEM bundle), or, when it is empty,
//!   the system's store (rustls-native-certs, read at the first TLS delivery, so a server
//!   that never meets `_rvps._tcp` never reads it).
//!
//! rustls runs on the ring provider (TLS 1.2 and 1.3, its safe defaults); ALPN offers
//! `http/1.1`. The configuration types are always built; the handshakes need the `tls`
//! feature (on by default).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The port of a `[tls] listen` address written without one, and the conventional port of
/// `_rvps._tcp` SRV records.
pub const DEFAULT_TLS_PORT: u16 = 443;

/// Default `[tls] handshake_timeout`.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `[tls]`: TLS towards other servers and a TLS listener. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct TlsConfig {
    /// Addresses of the TLS listener (`"ip:port"`, or `"ip"` for port 443). Default none:
    /// no TLS listener. Needs `certificate` and `private_key`.
    #[serde(with = "listen_addrs", skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<SocketAddr>,
    /// PEM file of this server's certificate chain, leaf first (for the listener). It
    /// should name the IM domain (`[server] domain`): that is the name other servers check.
    #[serde(skip_serializing_if = "is_empty_path")]
    pub certificate: PathBuf,
    /// PEM file of the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    #[serde(skip_serializing_if = "is_empty_path")]
    pub private_key: PathBuf,
    /// PEM bundle of the certificate authorities trusted for other servers' certificates.
    /// Default empty: the system's trust store.
    #[serde(skip_serializing_if = "is_empty_path")]
    pub peer_ca: PathBuf,
    /// When NOTIFYs to other servers use TLS. Default `when-published`.
    pub outbound: Outbound,
    /// A client of the TLS listener must finish its handshake within this. Default 10 s.
    #[serde(with = "crate::duration")]
    pub handshake_timeout: Duration,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            listen: Vec::new(),
            certificate: PathBuf::new(),
            private_key: PathBuf::new(),
            peer_ca: PathBuf::new(),
            outbound: Outbound::WhenPublished,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

fn is_empty_path(p: &std::path::Path) -> bool {
    p.as_os_str().is_empty()
}

/// `[tls] outbound`: when NOTIFYs to other servers go over TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Outbound {
    /// Over TLS to every domain that publishes `_rvps._tcp`, plain HTTP to the others
    /// (the default; with a server built without the `tls` feature: never).
    #[default]
    WhenPublished,
    /// Never: `_rvps._tcp` is not asked, every NOTIFY goes over plain HTTP.
    Never,
}

impl TlsConfig {
    /// Whether NOTIFYs to domains that publish `_rvps._tcp` go over TLS in this build.
    pub fn outbound_enabled(&self) -> bool {
        cfg!(feature = "tls") && self.outbound == Outbound::WhenPublished
    }

    /// Checks what types cannot: `Err((dotted key, message))`. `server_listen` and `admin`
    /// are the other listeners' addresses (a TLS address must not be one of them).
    pub(crate) fn validate(
        &self,
        server_listen: &[SocketAddr],
        admin: Option<SocketAddr>,
    ) -> Result<(), (String, String)> {
        let bad = |key: &str, msg: String| Err((format!("tls.{key}"), msg));
        if !cfg!(feature = "tls") {
            for (key, set) in [
                ("listen", !self.listen.is_empty()),
                ("certificate", !is_empty_path(&self.certificate)),
                ("private_key", !is_empty_path(&self.private_key)),
                ("peer_ca", !is_empty_path(&self.peer_ca)),
            ] {
                if set {
                    return bad(
                        key,
                        "this rvp-server was built without the `tls` feature: remove the key \
                         (every NOTIFY then goes over plain HTTP)"
                            .into(),
                    );
                }
            }
        }
        if self.handshake_timeout.is_zero() {
            return bad("handshake_timeout", "must not be zero".into());
        }
        match (
            is_empty_path(&self.certificate),
            is_empty_path(&self.private_key),
        ) {
            (false, true) => {
                return bad(
                    "private_key",
                    "is needed with tls.certificate (the PEM file of its key)".into(),
                );
            }
            (true, false) => {
                return bad(
                    "certificate",
                    "is needed with tls.private_key (the PEM file of the certificate chain)".into(),
                );
            }
            (true, true) if !self.listen.is_empty() => {
                return bad(
                    "certificate",
                    "is needed by tls.listen (with tls.private_key): the TLS listener has no \
                     certificate"
                        .into(),
                );
            }
            _ => {}
        }
        for (i, addr) in self.listen.iter().enumerate() {
            if addr.port() == 0 {
                continue;
            }
            if server_listen.contains(addr) {
                return bad(
                    "listen",
                    format!("{addr} is also in server.listen: give TLS its own port"),
                );
            }
            if admin == Some(*addr) {
                return bad(
                    "listen",
                    format!("{addr} is also admin.listen: give TLS its own port"),
                );
            }
            if self.listen[..i].contains(addr) {
                return bad("listen", format!("{addr} is listed twice"));
            }
        }
        Ok(())
    }
}

/// `listen`: socket addresses, the port defaulting to [`DEFAULT_TLS_PORT`].
mod listen_addrs {
    use std::net::{IpAddr, SocketAddr};

    use serde::{Deserialize, Deserializer, Serializer, de};

    pub(super) fn serialize<S: Serializer>(addrs: &[SocketAddr], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(addrs.iter().map(ToString::to_string))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<SocketAddr>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|text| {
                parse(text).ok_or_else(|| {
                    de::Error::custom(format!(
                        "invalid address {text:?}: expected \"ip:port\", \"[ipv6]:port\" or an \
                         IP address alone (port {})",
                        super::DEFAULT_TLS_PORT
                    ))
                })
            })
            .collect()
    }

    pub(super) fn parse(text: &str) -> Option<SocketAddr> {
        let t = text.trim();
        if let Ok(a) = t.parse::<SocketAddr>() {
            return Some(a);
        }
        let bare = t
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(t);
        let ip: IpAddr = bare.parse().ok()?;
        Some(SocketAddr::new(ip, super::DEFAULT_TLS_PORT))
    }
}

/// A TLS set-up that cannot be used: the message names the `[tls]` key at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("tls.{key} ({}): {message}", path.display())]
    File {
        /// The key naming the file (`certificate`, `private_key`, `peer_ca`).
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the certificate, the key or the roots.
    #[error("tls.{key}: {message}")]
    Refused {
        /// The key at fault.
        key: &'static str,
        /// rustls' reason.
        message: String,
    },
}

/// Why a NOTIFY to a TLS destination failed before any byte of it was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The server's certificate was refused: not signed by a trusted CA, not valid for
    /// the domain, expired...
    #[error("the server's certificate was refused: {0}")]
    Certificate(String),
    /// The handshake failed otherwise (protocol error, the server closed).
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
    /// The handshake did not finish within [`DeliveryConfig::connect_timeout`](crate::delivery::DeliveryConfig::connect_timeout).
    #[error("the TLS handshake timed out")]
    Timeout,
    /// The TLS name is not a DNS name a certificate can be checked against.
    #[error("{0:?} is not a name a certificate can be checked against")]
    InvalidName(String),
    /// This deliverer has no TLS client: built without the `tls` feature, or
    /// [`Deliverer::with_tls`](crate::delivery::Deliverer::with_tls) was not called.
    #[error("this server cannot speak TLS")]
    Unavailable,
}

/// A TLS handshake direction (defined with the metrics that count it).
pub use crate::metrics::Direction;

#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use imp::{TlsAcceptor, TlsClient, load_certificates, load_private_key};

/// The TLS parts of a server that `[tls]` describes, built at start-up (files read,
/// errors naming the key): the client that delivers to domains publishing `_rvps._tcp`,
/// and the listener's acceptor and addresses. Without the `tls` feature: nothing (the
/// configuration refuses the keys that would need it).
#[derive(Debug, Default)]
pub struct ServerTls {
    #[cfg(feature = "tls")]
    client: Option<std::sync::Arc<TlsClient>>,
    #[cfg(feature = "tls")]
    listener: Option<(Vec<SocketAddr>, TlsAcceptor)>,
}

impl ServerTls {
    /// Reads the certificate, key and CA files `config` names; handshakes are counted in
    /// `metrics`.
    pub fn from_config(
        config: &TlsConfig,
        metrics: &std::sync::Arc<crate::metrics::Metrics>,
    ) -> Result<ServerTls, TlsError> {
        #[cfg(feature = "tls")]
        {
            let client = TlsClient::from_config(config)?
                .map(|c| std::sync::Arc::new(c.with_metrics(std::sync::Arc::clone(metrics))));
            let listener = match TlsAcceptor::from_config(config)? {
                Some(acceptor) if !config.listen.is_empty() => {
                    Some((config.listen.clone(), acceptor))
                }
                _ => None,
            };
            Ok(ServerTls { client, listener })
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = (config, metrics);
            Ok(ServerTls::default())
        }
    }

    /// Whether NOTIFYs to domains that publish `_rvps._tcp` go over TLS
    /// ([`crate::resolve::ForeignResolver::tls_when_published`]).
    pub fn outbound(&self) -> bool {
        #[cfg(feature = "tls")]
        {
            self.client.is_some()
        }
        #[cfg(not(feature = "tls"))]
        {
            false
        }
    }

    /// The client for TLS deliveries, when there is one
    /// ([`Deliverer::with_server_tls`](crate::delivery::Deliverer::with_server_tls)).
    #[cfg(feature = "tls")]
    pub(crate) fn client(&self) -> Option<&std::sync::Arc<TlsClient>> {
        self.client.as_ref()
    }

    /// The TLS listener's addresses and acceptor, when `[tls] listen` has addresses
    /// ([`Server::bind_server_tls`](crate::listener::Server::bind_server_tls)).
    #[cfg(feature = "tls")]
    pub(crate) fn listener(&self) -> Option<&(Vec<SocketAddr>, TlsAcceptor)> {
        self.listener.as_ref()
    }
}

#[cfg(feature = "tls")]
mod imp {
    use std::fmt;
    use std::io;
    use std::path::Path;
    use std::sync::{Arc, OnceLock};
    use std::time::Duration;

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use rustls::{ClientConfig, RootCertStore, ServerConfig};
    use tokio::net::TcpStream;

    use super::TlsFailure;
    use super::{Direction, TlsConfig, TlsError, is_empty_path};
    use crate::metrics::Metrics;

    const ALPN_HTTP11: &[u8] = b"http/1.1";

    /// rustls on ring: its safe defaults (TLS 1.2 and 1.3). rustls 0.23.48 deprecates
    /// ring's provider for lacking post-quantum key exchange, which only its aws-lc-rs
    /// provider has; that one needs cmake and a C toolchain to build, which we do not
    /// assume (issue 11).
    #[allow(deprecated)]
    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// The certificates of a PEM file (`key` names the `[tls]` key in errors); at least
    /// one, or an error.
    pub fn load_certificates(
        key: &'static str,
        path: &Path,
    ) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let file_error = |message: String| TlsError::File {
            key,
            path: path.to_path_buf(),
            message,
        };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| file_error(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| file_error(e.to_string()))?;
        if certs.is_empty() {
            return Err(file_error("no PEM certificate in the file".into()));
        }
        Ok(certs)
    }

    /// The first private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
    pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
        PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File {
            key: "private_key",
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// The TLS side of the listener: rustls' server configuration and the handshake
    /// time-out. Cheap to clone.
    #[derive(Clone)]
    pub struct TlsAcceptor {
        inner: tokio_rustls::TlsAcceptor,
        handshake_timeout: Duration,
    }

    impl fmt::Debug for TlsAcceptor {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("TlsAcceptor")
                .field("handshake_timeout", &self.handshake_timeout)
                .finish_non_exhaustive()
        }
    }

    impl TlsAcceptor {
        /// An acceptor presenting `chain` (leaf first) with `key`.
        pub fn new(
            chain: Vec<CertificateDer<'static>>,
            key: PrivateKeyDer<'static>,
            handshake_timeout: Duration,
        ) -> Result<TlsAcceptor, TlsError> {
            let refused = |e: rustls::Error| TlsError::Refused {
                key: "certificate",
                message: e.to_string(),
            };
            let mut config = ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map_err(refused)?
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .map_err(refused)?;
            config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
            Ok(TlsAcceptor {
                inner: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
                handshake_timeout,
            })
        }

        /// The acceptor `[tls]` describes; `None` without a certificate.
        pub fn from_config(config: &TlsConfig) -> Result<Option<TlsAcceptor>, TlsError> {
            if is_empty_path(&config.certificate) {
                return Ok(None);
            }
            let chain = load_certificates("certificate", &config.certificate)?;
            let key = load_private_key(&config.private_key)?;
            TlsAcceptor::new(chain, key, config.handshake_timeout).map(Some)
        }

        /// How long a client has for its handshake.
        pub fn handshake_timeout(&self) -> Duration {
            self.handshake_timeout
        }

        /// The handshake on an accepted connection, within the time-out; counted in
        /// `metrics`. The error says why (for a `debug` line).
        pub(crate) async fn accept(
            &self,
            tcp: TcpStream,
            metrics: &Metrics,
        ) -> Result<tokio_rustls::server::TlsStream<TcpStream>, String> {
            let done = tokio::time::timeout(self.handshake_timeout, self.inner.accept(tcp)).await;
            let result = match done {
                Err(_) => Err(format!(
                    "no TLS handshake within {:?}",
                    self.handshake_timeout
                )),
                Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
                Ok(Ok(s)) => Ok(s),
            };
            metrics.tls_handshake(Direction::Inbound, result.is_ok());
            result
        }
    }

    /// Where a [`TlsClient`]'s trust roots come from.
    enum Roots {
        /// Given (the `peer_ca` bundle, or by the embedder).
        Given(Arc<ClientConfig>),
        /// The system's store, read at the first use.
        /// The system's store, read at the first use (`None`: no client could be built).
        System(OnceLock<Option<Arc<ClientConfig>>>),
    }

    /// The TLS side of NOTIFY delivery: the roots that other servers' certificates must
    /// chain to, and the handshake. Cheap to share (`Arc` it).
    pub struct TlsClient {
        roots: Roots,
        metrics: Option<Arc<Metrics>>,
    }

    impl fmt::Debug for TlsClient {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let roots = match &self.roots {
                Roots::Given(_) => "given",
                Roots::System(_) => "system",
            };
            f.debug_struct("TlsClient")
                .field("roots", &roots)
                .finish_non_exhaustive()
        }
    }

    fn client_config(roots: RootCertStore) -> Result<Arc<ClientConfig>, rustls::Error> {
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        Ok(Arc::new(config))
    }

    impl TlsClient {
        /// A client trusting exactly `roots` (CA certificates).
        pub fn with_roots(roots: Vec<CertificateDer<'static>>) -> Result<TlsClient, TlsError> {
            let mut store = RootCertStore::empty();
            let (_, unusable) = store.add_parsable_certificates(roots);
            if store.is_empty() {
                return Err(TlsError::Refused {
                    key: "peer_ca",
                    message: format!(
                        "no usable CA certificate ({unusable} could not be used as trust roots)"
                    ),
                });
            }
            let config = client_config(store).map_err(|e| TlsError::Refused {
                key: "peer_ca",
                message: e.to_string(),
            })?;
            Ok(TlsClient {
                roots: Roots::Given(config),
                metrics: None,
            })
        }

        /// A client trusting the system's store (rustls-native-certs), read at the first
        /// handshake. A system without one refuses every certificate (logged at `warn`).
        pub fn system_roots() -> TlsClient {
            TlsClient {
                roots: Roots::System(OnceLock::new()),
                metrics: None,
            }
        }

        /// The client `[tls]` describes: `None` with `outbound = "never"`; the `peer_ca`
        /// bundle, or the system's store when it is empty.
        pub fn from_config(config: &TlsConfig) -> Result<Option<TlsClient>, TlsError> {
            if !config.outbound_enabled() {
                return Ok(None);
            }
            if is_empty_path(&config.peer_ca) {
                return Ok(Some(TlsClient::system_roots()));
            }
            let roots = load_certificates("peer_ca", &config.peer_ca)?;
            TlsClient::with_roots(roots).map(Some)
        }

        /// Counts handshakes into `metrics`.
        pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> TlsClient {
            self.metrics = Some(metrics);
            self
        }

        fn config(&self) -> Option<Arc<ClientConfig>> {
            match &self.roots {
                Roots::Given(c) => Some(Arc::clone(c)),
                Roots::System(once) => once.get_or_init(system_config).clone(),
            }
        }

        /// The handshake on `tcp`, the certificate checked against `name` (the peer's IM
        /// domain); counted. Never falls back to anything.
        pub(crate) async fn connect(
            &self,
            tcp: TcpStream,
            name: &str,
        ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, TlsFailure> {
            let result = match (ServerName::try_from(name.to_owned()), self.config()) {
                (Err(_), _) => Err(TlsFailure::InvalidName(name.to_owned())),
                (_, None) => Err(TlsFailure::Unavailable),
                (Ok(server_name), Some(config)) => tokio_rustls::TlsConnector::from(config)
                    .connect(server_name, tcp)
                    .await
                    .map_err(|e| failure_of(&e)),
            };
            if let Some(m) = &self.metrics {
                m.tls_handshake(Direction::Outbound, result.is_ok());
            }
            result
        }
    }

    /// The system's trust store as a client configuration (empty, with a warning, when
    /// there is none; `None` when rustls refuses to build one, which its ring provider's
    /// safe defaults never give).
    fn system_config() -> Option<Arc<ClientConfig>> {
        let found = rustls_native_certs::load_native_certs();
        for e in found.errors.iter().take(4) {
            tracing::warn!("[tls] reading the system's trust store: {e}");
        }
        let mut store = RootCertStore::empty();
        let (added, _) = store.add_parsable_certificates(found.certs);
        if added == 0 {
            tracing::warn!(
                "[tls] the system's trust store has no certificate: every TLS delivery will \
                 fail (set [tls] peer_ca)"
            );
        } else {
            tracing::debug!(roots = added, "[tls] the system's trust store read");
        }
        client_config(store)
            .inspect_err(|e| tracing::warn!("[tls] cannot build the TLS client: {e}"))
            .ok()
    }

    /// What a failed client handshake says.
    fn failure_of(e: &io::Error) -> TlsFailure {
        match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(
                r @ (rustls::Error::InvalidCertificate(_)
                | rustls::Error::NoCertificatesPresented
                | rustls::Error::AlertReceived(rustls::AlertDescription::UnknownCA)),
            ) => TlsFailure::Certificate(r.to_string()),
            Some(r) => TlsFailure::Handshake(r.to_string()),
            None => TlsFailure::Handshake(e.to_string()),
        }
    }
}

/// A throw-away CA and a TLS acceptor whose certificate it signed for `name`: the unit
/// tests' TLS peer (the integration tests make their own with the same crate, rcgen).
#[cfg(all(test, feature = "tls"))]
pub(crate) fn test_acceptor(
    name: &str,
    handshake_timeout: Duration,
) -> (TlsAcceptor, rustls::pki_types::CertificateDer<'static>) {
    #![allow(clippy::unwrap_used)]
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let key = rustls_pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap();
    let acceptor = TlsAcceptor::new(vec![leaf.der().clone()], key, handshake_timeout).unwrap();
    (acceptor, ca.der().clone())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn validate(c: &TlsConfig) -> Result<(), (String, String)> {
        c.validate(&["127.0.0.1:8080".parse().unwrap()], None)
    }

    #[test]
    fn listen_addresses_default_to_port_443() {
        assert_eq!(
            listen_addrs::parse("192.0.2.1"),
            Some("192.0.2.1:443".parse().unwrap())
        );
        assert_eq!(
            listen_addrs::parse("[::1]"),
            Some("[::1]:443".parse().unwrap())
        );
        assert_eq!(
            listen_addrs::parse("::1"),
            Some("[::1]:443".parse().unwrap())
        );
        assert_eq!(
            listen_addrs::parse(" 127.0.0.1:8443 "),
            Some("127.0.0.1:8443".parse().unwrap())
        );
        assert_eq!(listen_addrs::parse("localhost:443"), None);
        assert_eq!(listen_addrs::parse(""), None);
    }

    #[test]
    fn defaults_are_valid_and_keep_the_listener_off() {
        let c = TlsConfig::default();
        assert!(c.listen.is_empty());
        assert_eq!(c.outbound, Outbound::WhenPublished);
        assert_eq!(c.outbound_enabled(), cfg!(feature = "tls"));
        assert_eq!(validate(&c), Ok(()));
        let never = TlsConfig {
            outbound: Outbound::Never,
            ..TlsConfig::default()
        };
        assert!(!never.outbound_enabled());
    }

    #[cfg(feature = "tls")]
    #[test]
    fn validation_names_the_key() {
        let key = |c: &TlsConfig| validate(c).unwrap_err().0;
        let listener = TlsConfig {
            listen: vec!["127.0.0.1:8443".parse().unwrap()],
            ..TlsConfig::default()
        };
        assert_eq!(key(&listener), "tls.certificate");
        let with_cert = TlsConfig {
            certificate: "cert.pem".into(),
            ..listener.clone()
        };
        assert_eq!(key(&with_cert), "tls.private_key");
        let key_only = TlsConfig {
            private_key: "key.pem".into(),
            ..TlsConfig::default()
        };
        assert_eq!(key(&key_only), "tls.certificate");
        let complete = TlsConfig {
            private_key: "key.pem".into(),
            ..with_cert
        };
        assert_eq!(validate(&complete), Ok(()));
        let clash = TlsConfig {
            listen: vec!["127.0.0.1:8080".parse().unwrap()],
            ..complete.clone()
        };
        assert_eq!(key(&clash), "tls.listen");
        let admin = complete
            .validate(&[], Some("127.0.0.1:8443".parse().unwrap()))
            .unwrap_err();
        assert_eq!(admin.0, "tls.listen");
        let twice = TlsConfig {
            listen: vec![
                "127.0.0.1:8443".parse().unwrap(),
                "127.0.0.1:8443".parse().unwrap(),
            ],
            ..complete.clone()
        };
        assert_eq!(key(&twice), "tls.listen");
        // Port 0 (tests) never clashes.
        let any = TlsConfig {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            ..complete.clone()
        };
        assert_eq!(
            any.validate(&["127.0.0.1:0".parse().unwrap()], None),
            Ok(())
        );
        let instant = TlsConfig {
            handshake_timeout: Duration::ZERO,
            ..complete
        };
        assert_eq!(key(&instant), "tls.handshake_timeout");
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn without_the_feature_tls_keys_are_refused() {
        let c = TlsConfig {
            peer_ca: "ca.pem".into(),
            ..TlsConfig::default()
        };
        let (key, msg) = validate(&c).unwrap_err();
        assert_eq!(key, "tls.peer_ca");
        assert!(msg.contains("`tls` feature"), "{msg}");
    }
}
