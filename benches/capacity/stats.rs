//! Latency samples, quantiles and the bench's random numbers.

use std::time::Duration;

/// Latencies in microseconds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Samples(Vec<u32>);

impl Samples {
    pub(crate) fn push(&mut self, d: Duration) {
        self.0
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
    }

    pub(crate) fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The `per_mille`/1000 quantile (nearest rank), `None` when empty.
    pub(crate) fn quantile(&mut self, per_mille: usize) -> Option<Duration> {
        if self.0.is_empty() {
            return None;
        }
        self.0.sort_unstable();
        let rank = (self.0.len() * per_mille).div_ceil(1000).max(1);
        let v = self.0[(rank - 1).min(self.0.len() - 1)];
        Some(Duration::from_micros(u64::from(v)))
    }

    /// `p50 x  p99 y  max z` in milliseconds.
    pub(crate) fn summary(&mut self) -> String {
        let ms = |d: Option<Duration>| {
            d.map_or_else(
                || "-".into(),
                |d| format!("{:.1} ms", d.as_secs_f64() * 1e3),
            )
        };
        format!(
            "p50 {}  p99 {}  max {}",
            ms(self.quantile(500)),
            ms(self.quantile(990)),
            ms(self.quantile(1000))
        )
    }
}

/// A small deterministic generator (SplitMix64 steps) for the load's timing and choices.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An exponentially distributed wait with this mean (a Poisson process of events),
    /// capped at 20 means.
    pub(crate) fn exp(&mut self, mean: Duration) -> Duration {
        let x = -(1.0 - self.unit()).ln();
        mean.mul_f64(x.min(20.0))
    }

    /// Uniform in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % u64::try_from(n).unwrap_or(u64::MAX)).unwrap_or(0)
    }
}

/// Checks the quantile rule and the generator (run at start-up: a `harness = false` bench
/// has no test runner).
pub(crate) fn self_check() {
    let mut s = Samples::default();
    for ms in 1..=100 {
        s.push(Duration::from_millis(ms));
    }
    assert_eq!(s.quantile(500), Some(Duration::from_millis(50)));
    assert_eq!(s.quantile(990), Some(Duration::from_millis(99)));
    assert_eq!(s.quantile(1000), Some(Duration::from_millis(100)));
    let mut r = Rng::new(7);
    let mean = Duration::from_secs(10);
    let total: Duration = (0..20_000).map(|_| r.exp(mean)).sum();
    let avg = total / 20_000;
    assert!(
        avg > Duration::from_millis(9_500) && avg < Duration::from_millis(10_500),
        "{avg:?}"
    );
}
