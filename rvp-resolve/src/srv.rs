//! SRV records and the RFC 2782 target order, sans-IO.
//!
//! [`order`] turns the records of one SRV answer into the order in which a client
//! should try the targets: priorities ascending; inside one priority, a weighted
//! random permutation where a record of weight `w` comes first with probability
//! exactly `w / Σw`. The randomness comes from a caller-supplied [`RandomSource`], so
//! tests are deterministic.
//!
//! One deliberate reading of RFC 2782 (I): the RFC draws the running-sum pick in
//! `0..=Σw`, which gives the first record of a group one extra chance in `Σw + 1` and
//! skews the shares for small weights. We draw in `1..=Σw`, so the shares are exact,
//! and weight-0 records ("very small chance") are tried after every weighted record
//! of their priority, in uniform random order among themselves.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// One SRV resource record (RFC 2782), as returned for `_rvp._tcp.<domain>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SrvRecord {
    /// Lower is tried first.
    pub priority: u16,
    /// Relative share among records of equal priority.
    pub weight: u16,
    /// TCP port of the service on the target.
    pub port: u16,
    /// Target host name, without a trailing dot; `"."` (stored as `""` or `"."`) means
    /// "the service is decidedly not available at this domain".
    pub target: Box<str>,
}

impl SrvRecord {
    /// Builds a record; a trailing dot on `target` is removed (except for the bare `"."`).
    pub fn new(priority: u16, weight: u16, port: u16, target: &str) -> Self {
        let t = if target == "." {
            "."
        } else {
            target.strip_suffix('.').unwrap_or(target)
        };
        Self {
            priority,
            weight,
            port,
            target: t.to_ascii_lowercase().into(),
        }
    }

    /// Whether this record is the RFC 2782 "no service" marker (target `.`).
    pub fn is_no_service(&self) -> bool {
        self.target.is_empty() || &*self.target == "."
    }
}

/// A source of uniformly distributed `u32` values for the weighted selection.
pub trait RandomSource {
    /// The next random value.
    fn next_u32(&mut self) -> u32;

    /// A value uniformly distributed in `0..=max` (rejection sampling, no modulo bias).
    fn below_inclusive(&mut self, max: u32) -> u32 {
        if max == u32::MAX {
            return self.next_u32();
        }
        let range = max + 1;
        let zone = u32::MAX - (u32::MAX % range + 1) % range;
        // Bounded: each draw is accepted with probability > 1/2.
        for _ in 0..64 {
            let v = self.next_u32();
            if v <= zone {
                return v % range;
            }
        }
        self.next_u32() % range
    }
}

impl<F: FnMut() -> u32> RandomSource for F {
    fn next_u32(&mut self) -> u32 {
        self()
    }
}

/// A small xorshift generator seeded from std's per-process random hash keys.
///
/// Not cryptographic; good enough for load balancing, and free of dependencies.
#[derive(Debug, Clone)]
pub struct XorShift {
    state: u64,
}

impl XorShift {
    /// A generator with a fixed seed (tests, reproducible runs). A zero seed is replaced.
    pub fn with_seed(seed: u64) -> Self {
        Self {
            state: if seed == 0 {
                0x9E37_79B9_7F4A_7C15
            } else {
                seed
            },
        }
    }

    /// A generator seeded from [`RandomState`], which the standard library seeds from
    /// the operating system.
    pub fn from_entropy() -> Self {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(0x5256_5020_5253_4c56);
        Self::with_seed(h.finish())
    }
}

impl Default for XorShift {
    fn default() -> Self {
        Self::from_entropy()
    }
}

impl RandomSource for XorShift {
    fn next_u32(&mut self) -> u32 {
        // xorshift64*
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        let out = x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32;
        u32::try_from(out).unwrap_or(u32::MAX)
    }
}

/// What an SRV answer says about a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SrvVerdict {
    /// Targets to try, in order.
    Targets(Vec<SrvRecord>),
    /// The answer holds only the `.` target: the domain has no RVP service and the
    /// client must not fall back to address records (RFC 2782).
    NoService,
}

/// Orders an SRV answer per RFC 2782 (see the module docs).
///
/// Records with target `.` are dropped; if that leaves nothing but the answer had
/// records, the verdict is [`SrvVerdict::NoService`]. An empty input gives
/// `Targets(vec![])`.
pub fn order(records: &[SrvRecord], rng: &mut impl RandomSource) -> SrvVerdict {
    let mut usable: Vec<SrvRecord> = records
        .iter()
        .filter(|r| !r.is_no_service())
        .cloned()
        .collect();
    if usable.is_empty() && !records.is_empty() {
        return SrvVerdict::NoService;
    }
    usable.sort_by_key(|r| r.priority);
    let mut out = Vec::with_capacity(usable.len());
    let mut start = 0;
    while start < usable.len() {
        let prio = usable[start].priority;
        let end = usable[start..]
            .iter()
            .position(|r| r.priority != prio)
            .map_or(usable.len(), |p| start + p);
        let mut group: Vec<SrvRecord> = usable[start..end].to_vec();
        while !group.is_empty() {
            let total: u64 = group.iter().map(|r| u64::from(r.weight)).sum();
            let chosen = if total == 0 {
                // Only weight-0 records left: uniform among them.
                let last = u32::try_from(group.len() - 1).unwrap_or(u32::MAX);
                usize::try_from(rng.below_inclusive(last)).unwrap_or(0)
            } else {
                // total ≤ 65535 × 65535 < 2^32 for any real answer; clamp anyway.
                let max = u32::try_from(total - 1).unwrap_or(u32::MAX);
                let pick = u64::from(rng.below_inclusive(max)) + 1;
                let mut running = 0u64;
                group
                    .iter()
                    .position(|r| {
                        running += u64::from(r.weight);
                        running >= pick
                    })
                    .unwrap_or(group.len() - 1)
            };
            out.push(group.remove(chosen));
        }
        start = end;
    }
    SrvVerdict::Targets(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec(p: u16, w: u16, t: &str) -> SrvRecord {
        SrvRecord::new(p, w, 80, t)
    }

    #[test]
    fn dot_alone_means_no_service() {
        let mut rng = XorShift::with_seed(1);
        assert_eq!(order(&[rec(0, 0, ".")], &mut rng), SrvVerdict::NoService);
        assert_eq!(order(&[], &mut rng), SrvVerdict::Targets(vec![]));
        // A dot next to real targets is ignored.
        let v = order(&[rec(0, 0, "."), rec(1, 0, "a.test")], &mut rng);
        assert_eq!(v, SrvVerdict::Targets(vec![rec(1, 0, "a.test")]));
    }

    #[test]
    fn trailing_dot_and_case_are_normalised() {
        assert_eq!(
            &*SrvRecord::new(0, 0, 80, "IM.Acme.test.").target,
            "im.acme.test"
        );
        assert!(SrvRecord::new(0, 0, 0, ".").is_no_service());
    }

    #[test]
    fn lower_priority_first() {
        let mut rng = XorShift::with_seed(7);
        let v = order(
            &[
                rec(20, 5, "c"),
                rec(10, 1, "a"),
                rec(10, 100, "b"),
                rec(30, 0, "d"),
            ],
            &mut rng,
        );
        let SrvVerdict::Targets(t) = v else {
            panic!("expected targets")
        };
        let prios: Vec<u16> = t.iter().map(|r| r.priority).collect();
        assert_eq!(prios, vec![10, 10, 20, 30]);
    }

    #[test]
    fn weighted_selection_converges_to_the_weights() {
        // Weights 1:3:6 → first place ≈ 10% / 30% / 60%.
        let records = [rec(0, 1, "a"), rec(0, 3, "b"), rec(0, 6, "c")];
        let mut rng = XorShift::with_seed(42);
        let mut first = [0u32; 3];
        let draws = 20_000;
        for _ in 0..draws {
            let SrvVerdict::Targets(t) = order(&records, &mut rng) else {
                panic!("expected targets")
            };
            let i = match &*t[0].target {
                "a" => 0,
                "b" => 1,
                _ => 2,
            };
            first[i] += 1;
        }
        let share = |n: u32| f64::from(n) / f64::from(draws);
        // Tolerance: 2 points (σ ≈ 0.35 point at 20 000 draws).
        assert!((share(first[0]) - 0.1).abs() < 0.02, "{first:?}");
        assert!((share(first[1]) - 0.3).abs() < 0.02, "{first:?}");
        assert!((share(first[2]) - 0.6).abs() < 0.02, "{first:?}");
    }

    #[test]
    fn zero_weight_records_come_after_weighted_ones_in_random_order() {
        let records = [rec(0, 0, "z"), rec(0, 0, "y"), rec(0, 1, "b")];
        let mut rng = XorShift::with_seed(3);
        let mut z_second = 0;
        for _ in 0..2_000 {
            let SrvVerdict::Targets(t) = order(&records, &mut rng) else {
                panic!("expected targets")
            };
            assert_eq!(&*t[0].target, "b");
            if &*t[1].target == "z" {
                z_second += 1;
            }
        }
        assert!((800..1200).contains(&z_second), "{z_second}");
    }

    #[test]
    fn below_inclusive_stays_in_range() {
        let mut rng = XorShift::with_seed(9);
        for max in [0u32, 1, 2, 7, 1000, u32::MAX - 1, u32::MAX] {
            for _ in 0..100 {
                assert!(rng.below_inclusive(max) <= max);
            }
        }
        let mut always_max = || u32::MAX;
        assert!(always_max.below_inclusive(2) <= 2);
    }

    proptest! {
        #[test]
        fn priority_order_is_never_violated_and_nothing_is_lost(
            recs in proptest::collection::vec((0u16..5, any::<u16>(), "[a-e]"), 0..20),
            seed in any::<u64>(),
        ) {
            let records: Vec<SrvRecord> = recs.iter().map(|(p, w, t)| rec(*p, *w, t)).collect();
            let mut rng = XorShift::with_seed(seed);
            match order(&records, &mut rng) {
                SrvVerdict::Targets(t) => {
                    prop_assert_eq!(t.len(), records.len());
                    prop_assert!(t.windows(2).all(|w| w[0].priority <= w[1].priority));
                    let mut a = t.clone();
                    let mut b = records.clone();
                    a.sort_by(|x, y| (x.priority, x.weight, &x.target).cmp(&(y.priority, y.weight, &y.target)));
                    b.sort_by(|x, y| (x.priority, x.weight, &x.target).cmp(&(y.priority, y.weight, &y.target)));
                    prop_assert_eq!(a, b);
                }
                SrvVerdict::NoService => prop_assert!(false, "no dot in input"),
            }
        }
    }
}
