//! HTTP Digest verification (RFC 7616 with MD5 and `qop=auth`), sans-IO: the caller passes
//! `now`, the verifier never reads a clock or a socket. The headers and the request-digest
//! are [`rvp_proto::digest`]'s (re-exported here where this module's API uses them); this
//! module keeps what only a server does: nonces, replay protection, accounts, the decision.
//!
//! ```text
//!  request without Authorization ──► 401 + DigestVerifier::challenge(now)
//!                                        WWW-Authenticate: Digest qop="auth", realm="…", nonce="…"
//!  request with Authorization ─────► Authorization::parse(value) (rvp_proto, borrowed)
//!                                        │
//!                                        └─► DigestVerifier::verify(now, users, method, target, params)
//!                                               nonce MAC and age ─► credentials lookup ─► response
//!                                               ─► replay table (nonce, nc) ─► Verified { principal }
//! ```
//!
//! # Nonces
//!
//! A nonce is 64 hex digits: the issue time (milliseconds since the verifier was created)
//! and a per-verifier counter, followed by a 128-bit HMAC-SHA256 tag over both keyed with a
//! [`NonceSecret`]. The server keeps no state per issued nonce: a nonce whose tag does not
//! verify is forged ([`VerifyError::ForgedNonce`]), one older than
//! [`DigestConfig::nonce_lifetime`] is stale ([`VerifyError::StaleNonce`]). A new secret
//! (a restart) makes every earlier nonce forged.
//!
//! # Replay protection
//!
//! Every accepted (nonce, `nc`) pair is remembered until the nonce expires; a nonce is
//! accepted again only with a strictly greater `nc` (RFC 7616 §3.3). librvp never reuses a
//! nonce and always sends `nc=00000001`, so for it every nonce works exactly once. The
//! table holds at most
//! [`DigestConfig::max_tracked_nonces`] nonces: when full, the oldest is dropped and every
//! nonce issued up to it is refused as stale from then on, so a full table never re-opens a
//! replay.
//!
//! # What librvp needs (interop README, "Authentication and redirects")
//!
//! Exactly one challenge header, `qop="auth"` only (it crashes on `auth,auth-int`), no
//! `MD5-sess`; it sends `algorithm="MD5"` and never echoes `opaque`, so no `opaque` is
//! issued or required. HA1 is computed over the username exactly as sent.
//!
//! # `qop` is required
//!
//! Every challenge asks for `qop="auth"`, so an answer without `qop` (RFC 2069 style, no
//! client nonce, no nonce count) is refused with
//! [`DigestHeaderError::Missing`]`("qop")`. librvp answers RFC 2069 style only to
//! challenges *without* `qop`, which this server never sends; no client we know of needs
//! the weaker form, so there is no option to accept it.
//!
//! # librvp's truncated HA1
//!
//! librvp hexes HA1 as a C string, stopping at its first zero byte (interop README item 15;
//! [`rvp_proto::digest`] has the details). The verifier also accepts that truncated form,
//! but only when at least [`LIBRVP_MIN_PREFIX`] bytes precede the zero
//! ([`LibrvpCompat::Truncated`], from [`Ha1::librvp_compatible`]); both forms are compared
//! in constant time.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use rvp_proto::digest::lhex::{decode_into as decode_hex, encode as hex_string};
use rvp_proto::digest::{HA1_LEN, Ha2, QopAuth, parse_nonce_count};
use rvp_proto::url::LogicalUrl;
use sha2::Sha256;

pub use rvp_proto::digest::{
    Authorization, Challenge, DigestHeaderError, Ha1, LIBRVP_MIN_PREFIX, LibrvpCompat,
};

/// Length of a nonce issued by [`DigestVerifier::challenge`], in characters.
pub const NONCE_LEN: usize = 64;

/// Why a Digest answer was refused. Every variant means "answer 401 with a fresh
/// challenge"; [`VerifyError::is_stale`] says whether `stale=true` fits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The `Authorization` header cannot be read (malformed, longer than
    /// [`DigestConfig::max_header_bytes`], a repeated parameter), lacks a required
    /// parameter (`qop` included: module docs), or asks for what is not supported
    /// (another algorithm or `qop`, `userhash`, an invalid `nc`).
    #[error(transparent)]
    Header(#[from] DigestHeaderError),
    /// The `realm` is not ours.
    #[error("Digest realm {0:?} is not this server's realm")]
    RealmMismatch(String),
    /// The `uri` does not name the request-target.
    #[error("Digest uri {uri:?} does not match the request-target {target:?}")]
    UriMismatch {
        /// The `uri` parameter.
        uri: String,
        /// The request-target.
        target: String,
    },
    /// The nonce was not issued by this server (bad format or tag).
    #[error("Digest nonce was not issued by this server")]
    ForgedNonce,
    /// The nonce is older than the nonce lifetime (or fell out of a full replay table).
    #[error("Digest nonce is stale")]
    StaleNonce,
    /// This (nonce, nc) pair, or a later one, was already accepted.
    #[error("Digest nonce count {nc} replayed")]
    Replay {
        /// The replayed count.
        nc: u32,
    },
    /// No account for this username.
    #[error("no Digest account for user {0:?}")]
    UnknownUser(String),
    /// The response does not match (wrong password).
    #[error("wrong Digest response for user {0:?}")]
    WrongResponse(String),
}

impl VerifyError {
    /// Whether the credentials were right but the nonce too old (RFC 7616 `stale=true`).
    pub fn is_stale(&self) -> bool {
        matches!(self, VerifyError::StaleNonce)
    }
}

/// Digest settings. Limits and times are explicit, each with a default.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DigestConfig {
    /// The realm: the IM domain (reference §8.1, `realm="<IM domain>"`).
    pub realm: String,
    /// How long a nonce is accepted after it was issued. Default 300 s. librvp answers a
    /// 401 at once, so this only needs to cover a slow round trip.
    pub nonce_lifetime: Duration,
    /// Most nonces remembered for replay protection. Default 65 536 (about 5 MiB).
    pub max_tracked_nonces: usize,
    /// Add `stale=true` to the challenge that follows a stale nonce. Default `false`: the
    /// parameter is not known to be safe with librvp, which sees only fresh nonces anyway.
    pub send_stale: bool,
    /// Longest `Authorization` header accepted, in bytes. Default 4 096 (librvp's are about
    /// 300).
    pub max_header_bytes: usize,
}

impl DigestConfig {
    /// Default nonce lifetime.
    pub const DEFAULT_NONCE_LIFETIME: Duration = Duration::from_secs(300);
    /// Default replay-table capacity.
    pub const DEFAULT_MAX_TRACKED_NONCES: usize = 65_536;
    /// Default header limit.
    pub const DEFAULT_MAX_HEADER_BYTES: usize = 4096;

    /// The defaults for `realm`.
    pub fn new(realm: impl Into<String>) -> DigestConfig {
        DigestConfig {
            realm: realm.into(),
            nonce_lifetime: Self::DEFAULT_NONCE_LIFETIME,
            max_tracked_nonces: Self::DEFAULT_MAX_TRACKED_NONCES,
            send_stale: false,
            max_header_bytes: Self::DEFAULT_MAX_HEADER_BYTES,
        }
    }
}

/// The key that makes nonces unforgeable: 32 bytes, from the OS random generator in
/// production. Its `Debug` output hides the bytes.
#[derive(Clone)]
pub struct NonceSecret([u8; 32]);

impl NonceSecret {
    /// A fresh secret from the operating system's CSPRNG.
    pub fn generate() -> Result<NonceSecret, getrandom::Error> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)?;
        Ok(NonceSecret(key))
    }

    /// A fixed secret (tests, or a secret shared by several server processes).
    pub fn from_bytes(key: [u8; 32]) -> NonceSecret {
        NonceSecret(key)
    }
}

impl fmt::Debug for NonceSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NonceSecret(..)")
    }
}

/// What a credentials store returns for a username: whose account it is and its HA1 for
/// that exact username in the realm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestAccount {
    /// The principal the username maps to.
    pub principal: LogicalUrl,
    /// HA1 over the username exactly as sent.
    pub ha1: Ha1,
}

/// A source of Digest accounts: [`UserDirectory`](super::UserDirectory) is the server's.
pub trait DigestUsers {
    /// The account for `username` exactly as the client sent it, in `realm`.
    fn lookup(&self, username: &str, realm: &str) -> Option<DigestAccount>;
}

/// A successfully verified Digest answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// The principal the account belongs to.
    pub principal: LogicalUrl,
    /// The username exactly as sent (`alice`, `CORP\alice`, `CORP/alice`): shared, so
    /// that the request log and the identity hold it without a copy each.
    pub username: Arc<str>,
    /// The answer was librvp's truncated-HA1 form ([`LibrvpCompat::Truncated`]), not the
    /// standard one.
    pub librvp_truncated: bool,
}

#[derive(Debug, Clone, Copy)]
struct Used {
    issued_ms: u64,
    highest_nc: u32,
}

/// Accepted nonces, ordered by counter (which is also issue order).
#[derive(Debug, Default)]
struct ReplayTable {
    used: BTreeMap<u64, Used>,
    /// Every counter up to this one is refused (dropped from a full table).
    floor: Option<u64>,
}

impl ReplayTable {
    fn evict_expired(&mut self, now_ms: u64, lifetime_ms: u64) {
        while let Some((_, u)) = self.used.first_key_value() {
            if now_ms.saturating_sub(u.issued_ms) > lifetime_ms {
                self.used.pop_first();
            } else {
                break;
            }
        }
    }

    fn check_and_record(
        &mut self,
        counter: u64,
        issued_ms: u64,
        nc: u32,
        capacity: usize,
    ) -> Result<(), VerifyError> {
        if self.floor.is_some_and(|f| counter <= f) {
            return Err(VerifyError::StaleNonce);
        }
        if let Some(u) = self.used.get_mut(&counter) {
            if nc <= u.highest_nc {
                return Err(VerifyError::Replay { nc });
            }
            u.highest_nc = nc;
            return Ok(());
        }
        while self.used.len() >= capacity.max(1) {
            if let Some((c, _)) = self.used.pop_first() {
                self.floor = Some(self.floor.map_or(c, |f| f.max(c)));
            }
        }
        if self.floor.is_some_and(|f| counter <= f) {
            return Err(VerifyError::StaleNonce);
        }
        self.used.insert(
            counter,
            Used {
                issued_ms,
                highest_nc: nc,
            },
        );
        Ok(())
    }
}

/// Issues challenges and verifies answers. Shared by all connections (`&self`; the
/// replay table sits behind a mutex held for a map lookup, never across I/O).
#[derive(Debug)]
pub struct DigestVerifier {
    config: DigestConfig,
    /// HMAC-SHA256 keyed with the [`NonceSecret`], the domain label already fed: cloned
    /// for each tag (keying costs two SHA-256 blocks, a tag then two more).
    mac: NonceMac,
    origin: Instant,
    counter: AtomicU64,
    replay: Mutex<ReplayTable>,
}

type HmacSha256 = Hmac<Sha256>;

const NONCE_DOMAIN: &[u8] = b"rvp-server digest nonce v1";

/// The keyed nonce MAC; its `Debug` output shows nothing of the key.
#[derive(Clone)]
struct NonceMac(HmacSha256);

impl NonceMac {
    fn new(secret: &NonceSecret) -> NonceMac {
        // HMAC accepts keys of any length: `new_from_slice` cannot fail.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&secret.0)
            .unwrap_or_else(|_| <HmacSha256 as Mac>::new(&Default::default()));
        mac.update(NONCE_DOMAIN);
        NonceMac(mac)
    }
}

impl fmt::Debug for NonceMac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NonceMac(..)")
    }
}

impl DigestVerifier {
    /// A verifier whose nonce clock starts at `now`.
    pub fn new(config: DigestConfig, secret: NonceSecret, now: Instant) -> DigestVerifier {
        DigestVerifier {
            config,
            mac: NonceMac::new(&secret),
            origin: now,
            counter: AtomicU64::new(1),
            replay: Mutex::new(ReplayTable::default()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &DigestConfig {
        &self.config
    }

    fn millis(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
    }

    fn tag(&self, payload: &[u8; 16]) -> [u8; 16] {
        let mut mac = self.mac.0.clone();
        mac.update(payload);
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&full[..16]);
        tag
    }

    /// A fresh challenge. `stale` asks for `stale=true` (only honoured when
    /// [`DigestConfig::send_stale`] is set); pass [`VerifyError::is_stale`] of the refusal.
    pub fn challenge(&self, now: Instant, stale: bool) -> Challenge {
        let counter = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut payload = [0u8; 16];
        payload[..8].copy_from_slice(&self.millis(now).to_be_bytes());
        payload[8..].copy_from_slice(&counter.to_be_bytes());
        let tag = self.tag(&payload);
        let mut nonce = hex_string(&payload);
        nonce.push_str(&hex_string(&tag));
        Challenge::new(self.config.realm.clone(), nonce).with_stale(stale && self.config.send_stale)
    }

    /// Checks a nonce's tag; returns (issued_ms, counter).
    fn open_nonce(&self, nonce: &str) -> Result<(u64, u64), VerifyError> {
        let mut raw = [0u8; 32];
        if nonce.len() != NONCE_LEN || !decode_hex(nonce.as_bytes(), &mut raw) {
            return Err(VerifyError::ForgedNonce);
        }
        let mut payload = [0u8; 16];
        payload.copy_from_slice(&raw[..16]);
        if !ct_eq(&self.tag(&payload), &raw[16..]) {
            return Err(VerifyError::ForgedNonce);
        }
        let mut issued = [0u8; 8];
        issued.copy_from_slice(&payload[..8]);
        let mut counter = [0u8; 8];
        counter.copy_from_slice(&payload[8..]);
        Ok((u64::from_be_bytes(issued), u64::from_be_bytes(counter)))
    }

    /// Parses and verifies an `Authorization: Digest ...` header value for a request with
    /// this method and request-target (as on the request line).
    pub fn verify_header<U: DigestUsers + ?Sized>(
        &self,
        now: Instant,
        users: &U,
        method: &str,
        target: &str,
        authorization: &[u8],
    ) -> Result<Verified, VerifyError> {
        if authorization.len() > self.config.max_header_bytes {
            return Err(DigestHeaderError::TooLong {
                length: authorization.len(),
                limit: self.config.max_header_bytes,
            }
            .into());
        }
        let params = Authorization::parse(authorization)?;
        self.verify(now, users, method, target, &params)
    }

    /// Verifies parsed Digest parameters. On success the (nonce, nc) pair is consumed.
    pub fn verify<U: DigestUsers + ?Sized>(
        &self,
        now: Instant,
        users: &U,
        method: &str,
        target: &str,
        params: &Authorization<'_>,
    ) -> Result<Verified, VerifyError> {
        let username = params
            .username
            .as_deref()
            .ok_or(DigestHeaderError::Missing("username"))?;
        let realm = params
            .realm
            .as_deref()
            .ok_or(DigestHeaderError::Missing("realm"))?;
        let nonce = params
            .nonce
            .as_deref()
            .ok_or(DigestHeaderError::Missing("nonce"))?;
        let uri = params
            .uri
            .as_deref()
            .ok_or(DigestHeaderError::Missing("uri"))?;
        let response = params
            .response
            .as_deref()
            .ok_or(DigestHeaderError::Missing("response"))?;
        if let Some(alg) = params.algorithm.as_deref()
            && !alg.eq_ignore_ascii_case("MD5")
        {
            return Err(DigestHeaderError::UnsupportedAlgorithm(alg.to_owned()).into());
        }
        if params
            .userhash
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case("true"))
        {
            return Err(DigestHeaderError::UserHash.into());
        }
        let (qop, nc) = match params.qop.as_deref() {
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let nc_text = params
                    .nc
                    .as_deref()
                    .ok_or(DigestHeaderError::Missing("nc"))?;
                let cnonce = params
                    .cnonce
                    .as_deref()
                    .ok_or(DigestHeaderError::Missing("cnonce"))?;
                let nc = parse_nonce_count(nc_text)?;
                (
                    Some(QopAuth {
                        nc: nc_text,
                        cnonce,
                    }),
                    nc,
                )
            }
            Some(q) => return Err(DigestHeaderError::UnsupportedQop(q.to_owned()).into()),
            // Every challenge asks for qop=auth: no RFC 2069 answers (module docs).
            None => return Err(DigestHeaderError::Missing("qop").into()),
        };
        if realm != self.config.realm {
            return Err(VerifyError::RealmMismatch(realm.to_owned()));
        }
        if !uri_matches(uri, target) {
            return Err(VerifyError::UriMismatch {
                uri: uri.to_owned(),
                target: target.to_owned(),
            });
        }
        let (issued_ms, counter) = self.open_nonce(nonce)?;
        let now_ms = self.millis(now);
        let lifetime_ms = u64::try_from(self.config.nonce_lifetime.as_millis()).unwrap_or(u64::MAX);
        if now_ms.saturating_sub(issued_ms) > lifetime_ms {
            return Err(VerifyError::StaleNonce);
        }
        let account = users.lookup(username, realm);
        // An unknown user costs the same hashing as a known one (a stand-in HA1 over an
        // empty password), so timing does not tell which users exist.
        let ha1 = match &account {
            Some(a) => a.ha1.clone(),
            None => Ha1::from_password(username, realm, ""),
        };
        let (standard, truncated) = check_response(&ha1, method, uri, nonce, qop, response);
        let Some(account) = account else {
            return Err(VerifyError::UnknownUser(username.to_owned()));
        };
        if !(standard | truncated) {
            return Err(VerifyError::WrongResponse(username.to_owned()));
        }
        {
            let mut table = self
                .replay
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            table.evict_expired(now_ms, lifetime_ms);
            table.check_and_record(counter, issued_ms, nc, self.config.max_tracked_nonces)?;
        }
        Ok(Verified {
            principal: account.principal,
            username: Arc::from(username),
            librvp_truncated: truncated && !standard,
        })
    }

    /// How many nonces the replay table holds (for tests and metrics).
    pub fn tracked_nonces(&self) -> usize {
        self.replay
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .used
            .len()
    }
}

/// Compares `response` (either case) with the standard answer and, when that does not
/// match, with librvp's truncated form, each in constant time: `(standard matches,
/// truncated form matches and is allowed)`.
///
/// The truncated form counts only for [`LibrvpCompat::Truncated`] HA1s. A second answer is
/// computed whenever the standard one does not match, for every HA1 (over the whole HA1
/// when the truncated form does not apply): the time of a wrong answer is the same
/// whichever case the user's HA1 is in, so a caller without the password cannot learn
/// from it whether the HA1 has a zero byte. Only a right standard answer skips the second
/// computation, and the status already tells its sender that it was right.
fn check_response(
    ha1: &Ha1,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<QopAuth<'_>>,
    response: &str,
) -> (bool, bool) {
    // The answer in lower case (hex digits; anything else cannot match).
    let mut got = [0u8; 32];
    let well_formed = response.len() == got.len();
    if well_formed {
        got.copy_from_slice(response.as_bytes());
        got.make_ascii_lowercase();
    }
    let ha2 = Ha2::new(method, uri);
    let standard = ha1.response_digits(HA1_LEN, &ha2, nonce, qop);
    if ct_eq(&standard, &got) & well_formed {
        return (true, false);
    }
    let (prefix, allowed) = match ha1.librvp_compatible() {
        LibrvpCompat::Truncated { zero_at } => (zero_at, true),
        _ => (HA1_LEN, false),
    };
    let short = ha1.response_digits(prefix, &ha2, nonce, qop);
    let short_ok = ct_eq(&short, &got) & well_formed;
    (false, short_ok & allowed)
}

/// The path part of an absolute-form `http://host/path` target, or the target itself.
fn path_of(target: &str) -> &str {
    let lower_scheme = target
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("http://"));
    if !lower_scheme {
        return target;
    }
    let rest = &target[7..];
    match rest.find('/') {
        Some(i) => &rest[i..],
        None => "/",
    }
}

/// Whether the digest-uri names the request-target: the same string, or the same path
/// when one of them is in absolute form.
fn uri_matches(uri: &str, target: &str) -> bool {
    uri == target || path_of(uri) == path_of(target)
}

/// Comparison whose time does not depend on where the inputs differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rvp_proto::digest::{compute_librvp_response, compute_response};

    #[test]
    fn uri_forms() {
        assert!(uri_matches("/a/b", "/a/b"));
        assert!(uri_matches("/a/b", "http://h/a/b"));
        assert!(uri_matches("HTTP://x/a/b", "/a/b"));
        assert!(uri_matches("http://h", "/"));
        assert!(!uri_matches("/a/b", "/a/c"));
        assert!(!uri_matches("/a/b?x", "/a/b"));
    }

    /// The index of the first zero byte of an HA1, if any.
    fn first_zero(ha1: &Ha1) -> Option<usize> {
        match ha1.librvp_compatible() {
            LibrvpCompat::Truncated { zero_at } | LibrvpCompat::Incompatible { zero_at } => {
                Some(zero_at)
            }
            _ => None,
        }
    }

    /// A password for `user` in realm `localhost` whose HA1's first zero byte is at an
    /// index in `range` (searched: `pw-0`, `pw-1`, ...).
    fn password_with_zero_in(user: &str, range: std::ops::Range<usize>) -> (String, Ha1) {
        (0..100_000)
            .map(|i| format!("pw-{i}"))
            .find_map(|pw| {
                let ha1 = Ha1::from_password(user, "localhost", &pw);
                first_zero(&ha1)
                    .is_some_and(|z| range.contains(&z))
                    .then_some((pw, ha1))
            })
            .unwrap()
    }

    struct OneUser(Ha1);

    impl DigestUsers for OneUser {
        fn lookup(&self, username: &str, _realm: &str) -> Option<DigestAccount> {
            (username == "alice").then(|| DigestAccount {
                principal: LogicalUrl::new("localhost", "alice").unwrap(),
                ha1: self.0.clone(),
            })
        }
    }

    /// Verifies, with a fresh nonce, the answer `respond` computes from (ha1, method, uri,
    /// nonce, qop) for user alice whose HA1 is `ha1`.
    fn answer(
        ha1: &Ha1,
        respond: impl Fn(&Ha1, &str, &str, &str, Option<QopAuth<'_>>) -> String,
    ) -> Result<Verified, VerifyError> {
        let t0 = Instant::now();
        let v = DigestVerifier::new(
            DigestConfig::new("localhost"),
            NonceSecret::from_bytes([3; 32]),
            t0,
        );
        let nonce = v.challenge(t0, false).nonce().to_owned();
        let qop = QopAuth {
            nc: "00000001",
            cnonce: "abcdef01",
        };
        let mut params = Authorization::default();
        params.username = Some("alice".into());
        params.realm = Some("localhost".into());
        params.nonce = Some(nonce.as_str().into());
        params.uri = Some("/x".into());
        params.response = Some(respond(ha1, "ACL", "/x", &nonce, Some(qop)).into());
        params.qop = Some("auth".into());
        params.nc = Some("00000001".into());
        params.cnonce = Some("abcdef01".into());
        v.verify(t0, &OneUser(ha1.clone()), "ACL", "/x", &params)
    }

    /// The answer over the first `k` bytes of HA1.
    fn truncated_at(k: usize) -> impl Fn(&Ha1, &str, &str, &str, Option<QopAuth<'_>>) -> String {
        move |ha1, m, u, n, q| {
            let digits = ha1.response_digits(k, &Ha2::new(m, u), n, q);
            digits.iter().map(|&b| char::from(b)).collect()
        }
    }

    #[test]
    fn the_librvp_example_of_the_interop_readme() {
        // alice / secret / localhost: HA1 c4bd012dfa61b3 00 07..., librvp hashes the 14 hex
        // digits before the zero: 7 bytes, fewer than LIBRVP_MIN_PREFIX, so refused.
        let ha1 = Ha1::from_password("alice", "localhost", "secret");
        assert_eq!(ha1.to_hex(), "c4bd012dfa61b3000723c206d202a63c");
        assert_eq!(
            ha1.librvp_compatible(),
            LibrvpCompat::Incompatible { zero_at: 7 }
        );
        assert!(!ha1.librvp_compatible().can_sign_on());
        // (rvp-proto checks librvp's answer against the formula by hand.)
        assert!(answer(&ha1, compute_response).is_ok());
        assert_eq!(
            answer(&ha1, compute_librvp_response),
            Err(VerifyError::WrongResponse("alice".into()))
        );
    }

    #[test]
    fn truncated_answer_accepted_when_the_zero_is_late_enough() {
        let (pw, ha1) = password_with_zero_in("alice", LIBRVP_MIN_PREFIX..15);
        let zero_at = first_zero(&ha1).unwrap();
        assert_eq!(
            ha1.librvp_compatible(),
            LibrvpCompat::Truncated { zero_at },
            "{pw}"
        );
        assert!(ha1.librvp_compatible().can_sign_on());
        let v = answer(&ha1, compute_response).unwrap();
        assert!(!v.librvp_truncated);
        let v = answer(&ha1, compute_librvp_response).unwrap();
        assert!(v.librvp_truncated);
        // Only the cut at the first zero byte: not one byte shorter or longer (the zero is
        // before the last byte, so one longer is not the whole HA1).
        assert!(answer(&ha1, truncated_at(zero_at - 1)).is_err());
        assert!(answer(&ha1, truncated_at(zero_at + 1)).is_err());
    }

    #[test]
    fn early_zero_accepts_only_the_standard_answer() {
        let (pw, ha1) = password_with_zero_in("alice", 0..LIBRVP_MIN_PREFIX);
        let zero_at = first_zero(&ha1).unwrap();
        assert_eq!(
            ha1.librvp_compatible(),
            LibrvpCompat::Incompatible { zero_at },
            "{pw}"
        );
        assert!(answer(&ha1, compute_response).is_ok());
        assert!(answer(&ha1, compute_librvp_response).is_err());
        // A zero first byte would otherwise make librvp's answer a hash of an empty HA1.
        let zero_first = Ha1::from_hex(&"0".repeat(32)).unwrap();
        assert_eq!(
            zero_first.librvp_compatible(),
            LibrvpCompat::Incompatible { zero_at: 0 }
        );
        assert!(answer(&zero_first, compute_response).is_ok());
        assert!(answer(&zero_first, truncated_at(0)).is_err());
    }

    #[test]
    fn no_zero_byte_never_accepts_a_truncated_form() {
        let ha1 = Ha1::from_password("alice", "localhost", "wonderland");
        assert_eq!(first_zero(&ha1), None);
        assert_eq!(ha1.librvp_compatible(), LibrvpCompat::Compatible);
        assert!(!answer(&ha1, compute_response).unwrap().librvp_truncated);
        for k in 0..16 {
            assert_eq!(
                answer(&ha1, truncated_at(k)),
                Err(VerifyError::WrongResponse("alice".into())),
                "{k}"
            );
        }
    }

    #[test]
    fn replay_table_floor() {
        let mut t = ReplayTable::default();
        t.check_and_record(1, 0, 1, 2).unwrap();
        t.check_and_record(2, 0, 1, 2).unwrap();
        assert_eq!(
            t.check_and_record(2, 0, 1, 2),
            Err(VerifyError::Replay { nc: 1 })
        );
        t.check_and_record(2, 0, 2, 2).unwrap();
        // Full: the oldest (1) is dropped and becomes the floor.
        t.check_and_record(3, 0, 1, 2).unwrap();
        assert_eq!(t.used.len(), 2);
        assert_eq!(t.check_and_record(1, 0, 2, 2), Err(VerifyError::StaleNonce));
        t.evict_expired(1000, 10);
        assert!(t.used.is_empty());
    }
}
