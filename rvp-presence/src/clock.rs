//! Time inside the engine: milliseconds since the engine's epoch (the `now` given to
//! `Engine::new`). Records store 8-byte deadlines instead of 16-byte `Instant`s.

use std::time::{Duration, Instant};

/// Milliseconds since the engine epoch.
pub(crate) type Millis = u64;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    epoch: Instant,
}

impl Clock {
    pub(crate) fn new(epoch: Instant) -> Clock {
        Clock { epoch }
    }

    /// `now` as milliseconds since the epoch (instants before the epoch count as 0).
    pub(crate) fn millis(&self, now: Instant) -> Millis {
        duration_millis(now.saturating_duration_since(self.epoch))
    }

    /// The instant `ms` milliseconds after the epoch (saturating far in the future).
    pub(crate) fn instant(&self, ms: Millis) -> Instant {
        self.epoch
            .checked_add(Duration::from_millis(ms))
            .unwrap_or(self.epoch + Duration::from_secs(u64::from(u32::MAX)))
    }
}

pub(crate) fn duration_millis(d: Duration) -> Millis {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn secs_millis(secs: u32) -> Millis {
    u64::from(secs) * 1000
}

/// Whole seconds left from `now` to `deadline`, rounded up, 0 if passed.
pub(crate) fn remaining_secs(now: Millis, deadline: Millis) -> u32 {
    let ms = deadline.saturating_sub(now);
    u32::try_from(ms.div_ceil(1000)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        let t0 = Instant::now();
        let c = Clock::new(t0);
        assert_eq!(c.millis(t0 + Duration::from_secs(3)), 3000);
        assert_eq!(c.millis(t0), 0);
        assert_eq!(c.instant(1500), t0 + Duration::from_millis(1500));
        assert_eq!(remaining_secs(1000, 2001), 2);
        assert_eq!(remaining_secs(5000, 2000), 0);
        assert_eq!(secs_millis(14_400), 14_400_000);
    }
}
