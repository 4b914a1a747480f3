//! The engine's policy: every limit and timer, with the reference's defaults (§5, §7.5, §9.6).

use std::time::Duration;

use http::StatusCode;
use rvp_proto::xml::XmlLimits;

/// Limits and timers of the presence engine.
///
/// `Policy::default()` gives the values of the protocol reference (§9.6) plus the
/// interoperability allowances of `interop/README.md` point 13. Build a custom policy by
/// starting from the default and changing fields, then call [`Policy::validate`] (the
/// engine validates on construction).
///
/// **Grace periods.** librvp renews subscriptions when about 10 s are left, on a 30 s tick,
/// so a renewal may arrive up to ~20 s after the granted lifetime ended. The engine
/// therefore keeps a subscription alive for [`Policy::subscription_grace`] after the
/// lifetime it announced: the client is told the granted lifetime, the engine forgets the
/// subscription only at `granted + grace`. Leases get a smaller grace
/// ([`Policy::lease_grace`]) so a slightly late refresh does not flap the published state;
/// a refresh arriving after the grace still produces the two notifications of §5.5.2.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// Smallest subscription lifetime granted; shorter requests are raised to it
    /// (PROTOCOL.md §5.6: 60 s).
    pub subscription_lifetime_min: Duration,
    /// Largest subscription lifetime granted; longer requests are lowered to it
    /// (PROTOCOL.md §5.6: 14 400 s).
    pub subscription_lifetime_max: Duration,
    /// How long a subscription survives past its announced lifetime (default 30 s).
    pub subscription_grace: Duration,
    /// Smallest lease (`r:timeout`) granted; shorter requests are raised to it (default 60 s).
    pub lease_min: Duration,
    /// Largest lease granted; longer requests are lowered to it (PROTOCOL.md §9.6: 3600 s).
    pub lease_max: Duration,
    /// How long a lease survives past its announced timeout (default 10 s).
    pub lease_grace: Duration,
    /// Lease applied to a state set without a lease (the bare `<r:state><r:online/></r:state>`
    /// form): default 1200 s, the Exchange client's lease.
    pub unleased_timeout: Duration,
    /// A NOTIFY whose incoming `RVP-Hop-Count` is at least this is refused with `500`
    /// (PROTOCOL.md §7.5: 8).
    pub max_hops: u32,
    /// How long the engine waits for the embedder to report a tracked delivery's outcome
    /// before counting it as failed (PROTOCOL.md §9.6: 30 s).
    pub delivery_timeout: Duration,
    /// Consecutive delivery failures after which a subscription is discarded (§5.7: 3).
    pub callback_failure_threshold: u32,
    /// A subscription whose callback keeps failing for longer than this is discarded
    /// (§5.7: 5 minutes).
    pub callback_failure_window: Duration,
    /// Bind a PROPPATCH without `r:view-id` to the live view created by the same
    /// (authenticated principal, source IP) (§5.3). Default on.
    pub bind_viewless_proppatch: bool,
    /// Most live views one principal may hold; a further new view replaces the one that
    /// expires soonest (default 16).
    pub max_views_per_principal: usize,
    /// Most live subscriptions on one node (default 100 000); more → `503`. The node
    /// owner's own proven subscriptions are never refused by this cap (others cannot fill
    /// a node to lock its owner out); they count against [`Policy::subscriber_quota_per_node`].
    pub max_subscriptions_per_node: usize,
    /// Most live subscriptions one subscriber may hold on one node (default 16); more →
    /// `503`. Identical subscriptions are distinct subscriptions (PROTOCOL.md §2.1), so
    /// without this one caller could fill a node with copies. The subscriber is the
    /// proven or asserted principal, or the call-back for an anonymous subscription. The
    /// proven owner of the node is bounded by [`Policy::subscriber_quota`] only.
    pub subscriber_quota_per_node: usize,
    /// Most live subscriptions one subscriber may hold on all nodes together (default
    /// 2 048: a contact list of that size); more → `503`.
    pub subscriber_quota: usize,
    /// Most NOTIFYs one property change may cause (default 100 000): a watch whose
    /// call-back is a local principal's URL is delivered to each of that principal's login
    /// subscriptions, so one change costs (watches × logins). Beyond the bound the rest of
    /// that change's deliveries are dropped (counted in [`crate::Engine::dropped_deliveries`]).
    pub max_deliveries_per_change: usize,
    /// Most entries in one ACL (default 1 000); a write that would exceed it → `400`.
    pub max_acl_entries: usize,
    /// Limits on the XML bodies the method layer parses (PROPFIND, PROPPATCH, ACL);
    /// default [`XmlLimits::DEFAULT`] (256 KiB, depth 32, ...). A body beyond them → `400`.
    pub xml_limits: XmlLimits,
    /// How a NOTIFY whose sender is denied `send-to` is answered, with or without
    /// credentials (default `412`; `403` and `404` are also accepted).
    ///
    /// `412` (default) means "exactly as if the recipient were offline": the answer an
    /// offline recipient gives for the same ack type — `412` for a deep acknowledgement
    /// (what librvp sends), `200` for a single hop — and nothing relayed.
    ///
    /// **Deviation from the reference** (§8.4 says `403`): a denied sender should see
    /// something indistinguishable from an offline recipient (§8.4 again). The real
    /// librvp client also reports "message could not be delivered" only for `404` and
    /// `412` and silently drops a `403`. Set `403` for the reference's literal behaviour.
    pub send_to_denied_status: StatusCode,
    /// Whether the owner entry of the default ACL (§8.3) accepts the asserted identity
    /// (`RVP-From-Principal`) as well as NTLM and Digest. Default `false`: operations only
    /// the owner may do (login subscription, PROPPATCH of its own state, ACL writes)
    /// require authentication. `true` is the assertion-only mode of closed test networks.
    pub owner_accepts_assertion: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            subscription_lifetime_min: Duration::from_secs(60),
            subscription_lifetime_max: Duration::from_secs(14_400),
            subscription_grace: Duration::from_secs(30),
            lease_min: Duration::from_secs(60),
            lease_max: Duration::from_secs(3_600),
            lease_grace: Duration::from_secs(10),
            unleased_timeout: Duration::from_secs(1_200),
            max_hops: 8,
            delivery_timeout: Duration::from_secs(30),
            callback_failure_threshold: 3,
            callback_failure_window: Duration::from_secs(300),
            bind_viewless_proppatch: true,
            max_views_per_principal: 16,
            max_subscriptions_per_node: 100_000,
            subscriber_quota_per_node: 16,
            subscriber_quota: 2_048,
            max_deliveries_per_change: 100_000,
            max_acl_entries: 1_000,
            xml_limits: XmlLimits::default(),
            send_to_denied_status: StatusCode::PRECONDITION_FAILED,
            owner_accepts_assertion: false,
        }
    }
}

/// What is wrong with a [`Policy`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A minimum is larger than its maximum.
    #[error("policy: {name}_min ({min:?}) is larger than {name}_max ({max:?})")]
    MinAboveMax {
        /// Which pair (`subscription_lifetime`, `lease`).
        name: &'static str,
        /// The minimum.
        min: Duration,
        /// The maximum.
        max: Duration,
    },
    /// A duration or count that must be positive is zero.
    #[error("policy: {0} must not be zero")]
    Zero(&'static str),
    /// `send_to_denied_status` is not one of `403`, `404`, `412`.
    #[error("policy: send_to_denied_status must be 403, 404 or 412, not {0}")]
    SendToDeniedStatus(u16),
    /// A lifetime does not fit in the 32-bit seconds of `Subscription-Lifetime`.
    #[error("policy: {0} exceeds u32::MAX seconds")]
    TooLong(&'static str),
}

impl PolicyError {
    /// The field at fault (`lease_min`, `send_to_denied_status`): for a configuration
    /// layer that names the key its user wrote.
    pub fn field(&self) -> &'static str {
        match self {
            PolicyError::MinAboveMax { name, .. } => match *name {
                "lease" => "lease_min",
                _ => "subscription_lifetime_min",
            },
            PolicyError::Zero(f) | PolicyError::TooLong(f) => f,
            PolicyError::SendToDeniedStatus(_) => "send_to_denied_status",
        }
    }
}

impl Policy {
    /// Checks that the policy is coherent: minima ≤ maxima, no zero limit.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.subscription_lifetime_min > self.subscription_lifetime_max {
            return Err(PolicyError::MinAboveMax {
                name: "subscription_lifetime",
                min: self.subscription_lifetime_min,
                max: self.subscription_lifetime_max,
            });
        }
        if self.lease_min > self.lease_max {
            return Err(PolicyError::MinAboveMax {
                name: "lease",
                min: self.lease_min,
                max: self.lease_max,
            });
        }
        let positive: [(&'static str, bool); 12] = [
            (
                "subscription_lifetime_min",
                self.subscription_lifetime_min.is_zero(),
            ),
            ("lease_min", self.lease_min.is_zero()),
            ("unleased_timeout", self.unleased_timeout.is_zero()),
            ("max_hops", self.max_hops == 0),
            ("delivery_timeout", self.delivery_timeout.is_zero()),
            (
                "callback_failure_threshold",
                self.callback_failure_threshold == 0,
            ),
            ("max_views_per_principal", self.max_views_per_principal == 0),
            (
                "max_subscriptions_per_node",
                self.max_subscriptions_per_node == 0,
            ),
            ("max_acl_entries", self.max_acl_entries == 0),
            (
                "subscriber_quota_per_node",
                self.subscriber_quota_per_node == 0,
            ),
            ("subscriber_quota", self.subscriber_quota == 0),
            (
                "max_deliveries_per_change",
                self.max_deliveries_per_change == 0,
            ),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, zero)| *zero) {
            return Err(PolicyError::Zero(name));
        }
        let secs = u64::from(u32::MAX);
        if self.subscription_lifetime_max.as_secs() > secs {
            return Err(PolicyError::TooLong("subscription_lifetime_max"));
        }
        if self.lease_max.as_secs() > secs {
            return Err(PolicyError::TooLong("lease_max"));
        }
        if ![
            StatusCode::FORBIDDEN,
            StatusCode::NOT_FOUND,
            StatusCode::PRECONDITION_FAILED,
        ]
        .contains(&self.send_to_denied_status)
        {
            return Err(PolicyError::SendToDeniedStatus(
                self.send_to_denied_status.as_u16(),
            ));
        }
        Ok(())
    }

    /// The lifetime granted for a requested one, in whole seconds (clamped to
    /// `[subscription_lifetime_min, subscription_lifetime_max]`).
    pub fn grant_lifetime(&self, requested_secs: u32) -> u32 {
        clamp_secs(
            requested_secs,
            self.subscription_lifetime_min,
            self.subscription_lifetime_max,
        )
    }

    /// The lease granted for a requested timeout, in whole seconds (clamped to
    /// `[lease_min, lease_max]`).
    pub fn grant_lease(&self, requested_secs: u32) -> u32 {
        clamp_secs(requested_secs, self.lease_min, self.lease_max)
    }
}

fn clamp_secs(requested: u32, min: Duration, max: Duration) -> u32 {
    let min = u32::try_from(min.as_secs()).unwrap_or(u32::MAX);
    let max = u32::try_from(max.as_secs()).unwrap_or(u32::MAX);
    requested.clamp(min, max.max(min))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Breaker = fn(&mut Policy);

    #[test]
    fn errors_name_the_field_at_fault() {
        let cases: [(Breaker, &str); 5] = [
            (|p| p.lease_min = p.lease_max * 2, "lease_min"),
            (
                |p| p.subscription_lifetime_min = p.subscription_lifetime_max * 2,
                "subscription_lifetime_min",
            ),
            (|p| p.max_hops = 0, "max_hops"),
            (|p| p.lease_max = Duration::from_secs(1 << 33), "lease_max"),
            (
                |p| p.send_to_denied_status = StatusCode::OK,
                "send_to_denied_status",
            ),
        ];
        for (break_it, field) in cases {
            let mut p = Policy::default();
            break_it(&mut p);
            assert_eq!(p.validate().map_err(|e| e.field()), Err(field));
        }
    }

    #[test]
    fn defaults_are_the_reference_values() {
        let p = Policy::default();
        assert_eq!(p.subscription_lifetime_min, Duration::from_secs(60));
        assert_eq!(p.subscription_lifetime_max, Duration::from_secs(14_400));
        assert_eq!(p.lease_max, Duration::from_secs(3_600));
        assert_eq!(p.max_hops, 8);
        assert_eq!(p.callback_failure_threshold, 3);
        assert_eq!(p.callback_failure_window, Duration::from_secs(300));
        assert_eq!(p.delivery_timeout, Duration::from_secs(30));
        assert!(p.bind_viewless_proppatch);
        assert_eq!(p.send_to_denied_status, StatusCode::PRECONDITION_FAILED);
        assert!(!p.owner_accepts_assertion);
        assert_eq!(p.validate(), Ok(()));
        let bad = Policy {
            send_to_denied_status: StatusCode::OK,
            ..Policy::default()
        };
        assert_eq!(bad.validate(), Err(PolicyError::SendToDeniedStatus(200)));
        let forbidden = Policy {
            send_to_denied_status: StatusCode::FORBIDDEN,
            ..Policy::default()
        };
        assert_eq!(forbidden.validate(), Ok(()));
    }

    #[test]
    fn clamping() {
        let p = Policy::default();
        assert_eq!(p.grant_lifetime(14_400), 14_400);
        assert_eq!(p.grant_lifetime(99_999), 14_400);
        assert_eq!(p.grant_lifetime(0), 60);
        assert_eq!(p.grant_lease(1_200), 1_200);
        assert_eq!(p.grant_lease(14_400), 3_600);
        assert_eq!(p.grant_lease(5), 60);
    }

    #[test]
    fn validation_errors_name_the_field() {
        let p = Policy {
            lease_min: Duration::from_secs(7_200),
            ..Policy::default()
        };
        let e = p.validate().expect_err("min above max");
        assert!(e.to_string().contains("lease_min"), "{e}");
        let p = Policy {
            max_hops: 0,
            ..Policy::default()
        };
        assert_eq!(p.validate(), Err(PolicyError::Zero("max_hops")));
        let p = Policy {
            subscription_lifetime_max: Duration::from_secs(u64::from(u32::MAX) + 1),
            ..Policy::default()
        };
        assert_eq!(
            p.validate(),
            Err(PolicyError::TooLong("subscription_lifetime_max"))
        );
    }
}
