//! A run that starts at a wall-clock instant (`--start-at`), so that the shards of one
//! run on several machines share their time zero.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use stampede_metrics::StartTiming;

/// How long before the instant the wait stops sleeping, so that the worker threads are
/// up when time zero comes.
const LEAD: Duration = Duration::from_millis(20);

/// The longest single sleep, so that Ctrl-C ends a long wait promptly.
const NAP: Duration = Duration::from_millis(100);

/// Sleeps until shortly before `at` (or until `abort` is set) and returns the engine's
/// time zero as an [`Instant`] matching `at` on this machine's clock, and `at` itself.
/// An instant already past gives time zero now.
pub(crate) fn wait_for(at: SystemTime, abort: &AtomicBool) -> (Instant, SystemTime) {
    loop {
        let left = at.duration_since(SystemTime::now()).unwrap_or_default();
        if left <= LEAD || abort.load(Ordering::Relaxed) {
            return (Instant::now() + left, at);
        }
        std::thread::sleep((left - LEAD).min(NAP));
    }
}

/// Waits for time zero `start` and reads the wall clock then: how far it is from the
/// planned instant `at` (positive: late).
pub(crate) fn measure(at: SystemTime, start: Instant) -> StartTiming {
    if let Some(left) = start.checked_duration_since(Instant::now()) {
        std::thread::sleep(left);
    }
    let now = SystemTime::now();
    let error_s = match now.duration_since(at) {
        Ok(late) => late.as_secs_f64(),
        Err(early) => -early.duration().as_secs_f64(),
    };
    StartTiming {
        planned: at,
        error_s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_the_instant() {
        let at = SystemTime::now() + Duration::from_millis(150);
        let (start, started_at) = wait_for(at, &AtomicBool::new(false));
        assert_eq!(started_at, at);
        let t = measure(at, start);
        assert!(t.error_s.abs() < 0.02, "{}", t.error_s);
        assert!(SystemTime::now() >= at);
    }

    #[test]
    fn a_past_instant_starts_now_and_says_how_late() {
        let at = SystemTime::now() - Duration::from_millis(300);
        let (start, _) = wait_for(at, &AtomicBool::new(false));
        assert!(start <= Instant::now() + Duration::from_millis(1));
        let t = measure(at, start);
        assert!(t.error_s >= 0.3, "{}", t.error_s);
    }
}
