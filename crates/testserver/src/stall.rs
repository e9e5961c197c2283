//! Stop-the-world stall windows.
//!
//! With `stall = s` and `every = p`, the windows are `[k*p, k*p + s)` for `k = 1, 2, ...`,
//! measured from server start. A response that becomes ready inside a window is held until the
//! window ends.

use std::time::Duration;

/// A stall schedule: pauses of `stall` every `every`, with `stall < every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StallSchedule {
    stall: Duration,
    every: Duration,
}

impl StallSchedule {
    /// The schedule of a profile, or `None` when it has no (non-zero) stall.
    pub(crate) fn new(stall: Option<Duration>, every: Duration) -> Option<Self> {
        let stall = stall.filter(|s| !s.is_zero())?;
        (stall < every).then_some(StallSchedule { stall, every })
    }

    /// How long a response ready at `elapsed` since server start must still wait, or `None`
    /// when `elapsed` is outside every window.
    pub(crate) fn remaining(&self, elapsed: Duration) -> Option<Duration> {
        if elapsed < self.every {
            return None;
        }
        let every = self.every.as_nanos();
        let offset = elapsed.as_nanos() % every;
        let stall = self.stall.as_nanos();
        // `offset < stall <= u64::MAX nanoseconds`, so the difference fits.
        (offset < stall).then(|| Duration::from_nanos((stall - offset) as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn no_schedule_without_stall() {
        assert_eq!(StallSchedule::new(None, ms(100)), None);
        assert_eq!(StallSchedule::new(Some(Duration::ZERO), ms(100)), None);
        assert_eq!(StallSchedule::new(Some(ms(100)), ms(100)), None);
    }

    #[test]
    fn first_window_starts_after_one_period() {
        let s = StallSchedule::new(Some(ms(30)), ms(100)).unwrap();
        assert_eq!(s.remaining(ms(0)), None);
        assert_eq!(s.remaining(ms(10)), None);
        assert_eq!(s.remaining(ms(99)), None);
        assert_eq!(s.remaining(ms(100)), Some(ms(30)));
        assert_eq!(s.remaining(ms(110)), Some(ms(20)));
        assert_eq!(s.remaining(ms(129)), Some(ms(1)));
        assert_eq!(s.remaining(ms(130)), None);
        assert_eq!(s.remaining(ms(199)), None);
    }

    #[test]
    fn later_windows_repeat() {
        let s = StallSchedule::new(Some(ms(30)), ms(100)).unwrap();
        assert_eq!(s.remaining(ms(200)), Some(ms(30)));
        assert_eq!(s.remaining(ms(225)), Some(ms(5)));
        assert_eq!(s.remaining(ms(230)), None);
        assert_eq!(s.remaining(ms(100_015)), Some(ms(15)));
        let sub = Duration::from_nanos(100_000_001);
        assert_eq!(s.remaining(sub), Some(Duration::from_nanos(29_999_999)));
    }
}
