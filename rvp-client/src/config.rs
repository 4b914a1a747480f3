//! [`SessionConfig`]: who signs on, what it asks the server for, and every limit.

use std::time::Duration;

use rvp_proto::PresenceState;
use rvp_proto::payload::PayloadLimits;
use rvp_proto::url::LogicalUrl;
use rvp_proto::xml::XmlLimits;

/// How the text of outgoing instant messages is put into `r:mime-data` (PROTOCOL.md §6.1).
///
/// Incoming text is always read both ways: "double UTF-8" is recognised and repaired
/// ([`rvp_proto::payload::decode_double_utf8`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TextEncoding {
    /// Each UTF-8 byte of the text written as the Latin-1 character of the same value,
    /// the way librvp and Miranda send and expect it: librvp shows plain UTF-8 from others
    /// garbled. rvp-client reads it back correctly. The default.
    #[default]
    DoubleUtf8,
    /// Plain UTF-8, as Net::RVP sends and expects it.
    Utf8,
}

/// What a [`Session`](crate::Session) is configured with. Build with [`SessionConfig::new`]
/// and change fields; [`Session::new`](crate::Session::new) checks them.
///
/// Lifetimes are what is *asked for*: the server grants its own values (rvp-server clamps
/// subscriptions into [60 s, 4 h] and leases into [60 s, 1 h]) and renewals are timed from
/// the granted values.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionConfig {
    /// The principal signing on: its logical URL (`http://<domain>/instmsg/aliases/<alias>`,
    /// PROTOCOL.md §1.3). Every request names it in `RVP-From-Principal`.
    pub me: LogicalUrl,
    /// The sign-in address, `alias@domain`: the `TypingUser` of typing notifications.
    /// Default: the alias and the URL's host without a port.
    pub address: String,
    /// The display name written in `r:notification-from` of outgoing messages. Default
    /// `None`: the `d:displayname` the server reports at sign-on, else nothing.
    pub display_name: Option<String>,
    /// The presence state set at sign-on. Default [`PresenceState::Online`].
    pub initial_state: PresenceState,
    /// Principals to watch from sign-on on (more can be added with
    /// [`Session::watch`](crate::Session::watch)). Default empty.
    pub watch_list: Vec<LogicalUrl>,
    /// `Subscription-Lifetime` asked for the login subscription, seconds. Default 14 400
    /// (Exchange clients; PROTOCOL.md §9.6).
    pub login_lifetime: u32,
    /// `Subscription-Lifetime` asked for watches (`update/propchange`), seconds. Default
    /// 14 400.
    pub watch_lifetime: u32,
    /// State lease asked for (`d:timeout` of the PROPPATCH), seconds. Default 1 200
    /// (Exchange clients, Miranda).
    pub lease: u32,
    /// A subscription is renewed this long before its granted lifetime ends, but at least
    /// a quarter of the lifetime before. Default 300 s (Exchange clients: "about five
    /// minutes before the end").
    pub subscription_renew_margin: Duration,
    /// The state lease is refreshed this long before it ends, but at least a quarter of
    /// the lease before. Default 60 s ("about a minute before", PROTOCOL.md §5.1).
    pub lease_renew_margin: Duration,
    /// First delay before a renewal that failed in transport is tried again; doubled at
    /// each failure up to [`SessionConfig::max_retry_delay`]. Default 5 s; at most
    /// [`MAX_DELAY`].
    pub retry_delay: Duration,
    /// Longest delay between two renewal attempts. Default 60 s; at most [`MAX_DELAY`].
    pub max_retry_delay: Duration,
    /// How outgoing message text is encoded. Default [`TextEncoding::DoubleUtf8`].
    pub text_encoding: TextEncoding,
    /// Most principals on the watch list (the own node not counted). Default 1 000;
    /// [`Session::watch`](crate::Session::watch) refuses more.
    pub max_watches: usize,
    /// Most requests emitted and not yet answered. Default 1 024; actions beyond it are
    /// refused with [`SessionError::TooManyPending`](crate::SessionError::TooManyPending)
    /// (renewals and sign-off are never refused).
    pub max_pending: usize,
    /// Most conversations (peer → `Session-Id`) remembered; the least recently used is
    /// forgotten beyond it. Default 256.
    pub max_conversations: usize,
    /// Most conversations left (their NOTIFYs answered `500`) remembered. Default 256.
    pub max_left_conversations: usize,
    /// Most events queued and not yet polled; beyond it the oldest are dropped and one
    /// [`Event::EventsDropped`](crate::Event::EventsDropped) says how many. Default 4 096.
    pub max_queued_events: usize,
    /// Limits for the XML bodies of NOTIFYs and answers. Default [`XmlLimits::default`].
    pub xml_limits: XmlLimits,
    /// Limits for the MIME payloads of messages. Default [`PayloadLimits::default`].
    pub payload_limits: PayloadLimits,
    /// Seed of the generator of conversation GUIDs and cnonces (the core reads no random
    /// source). Default 0; a driver seeds it from the operating system.
    pub seed: u64,
}

impl SessionConfig {
    /// The defaults for `me` (see each field).
    pub fn new(me: LogicalUrl) -> SessionConfig {
        let host = me.host();
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        let address = format!("{}@{}", me.alias(), host);
        SessionConfig {
            me,
            address,
            display_name: None,
            initial_state: PresenceState::Online,
            watch_list: Vec::new(),
            login_lifetime: 14_400,
            watch_lifetime: 14_400,
            lease: 1_200,
            subscription_renew_margin: Duration::from_secs(300),
            lease_renew_margin: Duration::from_secs(60),
            retry_delay: Duration::from_secs(5),
            max_retry_delay: Duration::from_secs(60),
            text_encoding: TextEncoding::default(),
            max_watches: 1_000,
            max_pending: 1_024,
            max_conversations: 256,
            max_left_conversations: 256,
            max_queued_events: 4_096,
            xml_limits: XmlLimits::default(),
            payload_limits: PayloadLimits::default(),
            seed: 0,
        }
    }

    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if self.address.is_empty() || self.address.chars().any(|c| c.is_control()) {
            return Err(ConfigError::Address);
        }
        for (name, v) in [
            ("login_lifetime", self.login_lifetime),
            ("watch_lifetime", self.watch_lifetime),
            ("lease", self.lease),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        for (name, v) in [
            ("max_pending", self.max_pending),
            ("max_conversations", self.max_conversations),
            ("max_left_conversations", self.max_left_conversations),
            ("max_queued_events", self.max_queued_events),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        if self.retry_delay.is_zero() {
            return Err(ConfigError::Zero("retry_delay"));
        }
        for (name, d) in [
            ("retry_delay", self.retry_delay),
            ("max_retry_delay", self.max_retry_delay),
        ] {
            if d > MAX_DELAY {
                return Err(ConfigError::TooLong(name));
            }
        }
        if self.watch_list.len() > self.max_watches {
            return Err(ConfigError::TooManyWatches {
                limit: self.max_watches,
            });
        }
        Ok(())
    }
}

/// The longest delay a configuration may name (one day): deadlines stay far from the
/// limits of [`std::time::Instant`].
pub const MAX_DELAY: Duration = Duration::from_secs(86_400);

/// A [`SessionConfig`] that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The address is empty or contains a control character.
    #[error("the sign-in address is empty or contains a control character")]
    Address,
    /// A lifetime, limit or delay that must be positive is zero.
    #[error("{0} must not be zero")]
    Zero(&'static str),
    /// A delay longer than [`MAX_DELAY`].
    #[error("{0} is longer than a day")]
    TooLong(&'static str),
    /// The watch list is longer than `max_watches`.
    #[error("the watch list is longer than max_watches ({limit})")]
    TooManyWatches {
        /// The limit.
        limit: usize,
    },
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn checks() {
        let me: LogicalUrl = "http://localhost:8080/instmsg/aliases/alice"
            .parse()
            .unwrap();
        let c = SessionConfig::new(me);
        assert_eq!(c.address, "alice@localhost");
        assert_eq!(c.check(), Ok(()));
        let mut bad = c.clone();
        bad.lease = 0;
        assert_eq!(bad.check(), Err(ConfigError::Zero("lease")));
        let mut bad = c.clone();
        bad.max_retry_delay = Duration::MAX;
        assert_eq!(bad.check(), Err(ConfigError::TooLong("max_retry_delay")));
        let mut bad = c.clone();
        bad.address = "a\r\nb".into();
        assert_eq!(bad.check(), Err(ConfigError::Address));
        let mut bad = c;
        bad.max_queued_events = 0;
        assert_eq!(bad.check(), Err(ConfigError::Zero("max_queued_events")));
    }
}
