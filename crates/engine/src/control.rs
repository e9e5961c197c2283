//! Steering a run while it goes on: stop it, or change the open model's rate.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tokio::sync::Notify;

/// Control messages for a running [`run`](crate::run), shared between the caller and the
/// workers. Setting a rate or stopping takes effect within the workers' next wake-up
/// (at most a few milliseconds): dispatchers waiting for their next send are woken.
#[derive(Debug)]
pub struct Control {
    stop: Arc<AtomicBool>,
    /// The rate asked for last, as `f64` bits, and how many times it was set.
    rate: AtomicU64,
    epoch: AtomicU64,
    changed: Notify,
    /// When the run's clock started: its second 0 begins here.
    started: OnceLock<Instant>,
}

/// One change of the open model's rate, as the workers see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RateChange {
    /// Counts the changes; 0 before the first.
    pub epoch: u64,
    /// Requests per second over all workers.
    pub per_second: f64,
}

impl Control {
    /// A control for a run that has not been stopped and follows its plan's rate.
    pub fn new() -> Arc<Control> {
        Control::with_stop_flag(Arc::new(AtomicBool::new(false)))
    }

    /// A control whose stop flag is `stop`, shared with others: one flag (set by a
    /// signal handler) stops whichever of several runs in turn is going on. A flag that
    /// is already set stops the run at once.
    pub fn with_stop_flag(stop: Arc<AtomicBool>) -> Arc<Control> {
        Arc::new(Control {
            stop,
            rate: AtomicU64::new(0f64.to_bits()),
            epoch: AtomicU64::new(0),
            changed: Notify::new(),
            started: OnceLock::new(),
        })
    }

    /// Stops the run: sending ends now, and the result holds what was measured so far
    /// (it is marked aborted).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// True once [`Control::stop`] was called (or the stop flag was set).
    pub fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// When the run's clock started (second 0 of its series begins here; set by the
    /// engine once its threads are about to send), or `None` before that. With one control
    /// steering several runs in turn, the first run's start.
    pub fn started(&self) -> Option<Instant> {
        self.started.get().copied()
    }

    /// Records the start of the run's clock (the first call wins).
    pub(crate) fn mark_started(&self, at: Instant) {
        let _ = self.started.set(at);
    }

    /// The stop flag itself, for signal handlers (`signal_hook::flag::register`).
    pub fn stop_flag(&self) -> &Arc<AtomicBool> {
        &self.stop
    }

    /// Open model: from now on, send `per_second` requests per second in total over all
    /// workers, at a constant rate, replacing the plan's rate and stages. In a scenario
    /// run, start `per_second` journeys per second over all open lanes, split by their
    /// shares of the file's open rates (`Journeys::open_shares`). Has no effect on
    /// closed-model and fleet runs, nor on closed scenario lanes. A negative or non-finite rate counts as 0
    /// (nothing is sent until the next change).
    pub fn set_rate(&self, per_second: f64) {
        let r = if per_second.is_finite() && per_second > 0.0 {
            per_second
        } else {
            0.0
        };
        self.rate.store(r.to_bits(), Ordering::SeqCst);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// How many times the rate was set: cheap to read on every send.
    pub(crate) fn rate_epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// The last rate change, if any.
    pub(crate) fn rate_change(&self) -> RateChange {
        let epoch = self.epoch.load(Ordering::SeqCst);
        RateChange {
            epoch,
            per_second: f64::from_bits(self.rate.load(Ordering::SeqCst)),
        }
    }

    /// Waits until the rate changes or the run is stopped.
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_kept_and_counted() {
        let c = Control::new();
        assert_eq!(c.rate_change().epoch, 0);
        c.set_rate(3000.0);
        assert_eq!(
            c.rate_change(),
            RateChange {
                epoch: 1,
                per_second: 3000.0
            }
        );
        c.set_rate(f64::NAN);
        assert_eq!(c.rate_change().per_second, 0.0);
        assert!(!c.is_stopped());
        c.stop();
        assert!(c.is_stopped());
    }

    #[test]
    fn a_shared_stop_flag_stops_every_control_made_with_it() {
        let flag = Arc::new(AtomicBool::new(false));
        let (a, b) = (
            Control::with_stop_flag(flag.clone()),
            Control::with_stop_flag(flag.clone()),
        );
        assert!(!a.is_stopped() && !b.is_stopped());
        flag.store(true, Ordering::SeqCst); // what a signal handler does
        assert!(a.is_stopped() && b.is_stopped());
        assert!(
            Control::with_stop_flag(flag).is_stopped(),
            "already set: stopped at once"
        );
    }
}
