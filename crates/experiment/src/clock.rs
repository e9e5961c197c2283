//! The wall clock of the run's time zero.

use std::time::{Instant, SystemTime};

/// The wall-clock time of `at` (an instant of this process, past or future), read now.
pub(crate) fn wall_clock(at: Instant) -> SystemTime {
    let (now, wall) = (Instant::now(), SystemTime::now());
    match at.checked_duration_since(now) {
        Some(ahead) => wall + ahead,
        None => wall - now.duration_since(at),
    }
}
