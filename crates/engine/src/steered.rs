//! A steered schedule: the arrivals of an open lane (the plain open model, or an open
//! scenario lane), following the plan's rate until the experiment layer steers it
//! through [`Control::set_rate`](crate::Control::set_rate); from the moment a change is
//! seen, a constant-rate schedule at the lane's share of the new rate replaces it.

use std::time::{Duration, Instant};

use stampede_plan::schedule::Schedule;
use stampede_plan::{Arrival, RateProfile};

use crate::state::Shared;
use crate::timer::PreciseTimer;

/// How long a lane with nothing scheduled waits before it looks at the clock again.
pub(crate) const IDLE_DISPATCH: Duration = Duration::from_millis(100);
/// Waits for a send longer than this also watch for rate changes.
const WATCH_CONTROL_AFTER: Duration = Duration::from_millis(5);

/// One worker's part of an open lane's arrivals, steerable while the run goes on.
pub(crate) struct SteeredSchedule {
    schedule: Schedule,
    arrival: Arrival,
    /// Offsets of the current schedule count from here.
    base: Instant,
    /// The last rate change followed (0: the plan's rate).
    epoch: u64,
    /// The lane's share of a steered rate (1 for the plain open model).
    share: f64,
    /// Added to the run's seed (with the epoch) for a steered schedule.
    seed_offset: u64,
    /// This worker's stream among the run's: `(stream, streams)`.
    stream: (usize, usize),
    /// The next send's offset from `base`; `None` when nothing is scheduled.
    next: Option<Duration>,
}

impl SteeredSchedule {
    /// Worker `worker`'s part of a lane: `schedule` until the rate is steered, then
    /// `share` of the steered rate with `arrival`'s process.
    pub(crate) fn new(
        shared: &Shared,
        mut schedule: Schedule,
        arrival: Arrival,
        worker: usize,
        share: f64,
        seed_offset: u64,
    ) -> Self {
        let next = schedule.next();
        SteeredSchedule {
            schedule,
            arrival,
            base: shared.start,
            epoch: 0,
            share,
            seed_offset,
            stream: shared.stream(worker),
            next,
        }
    }

    /// Replaces the schedule by a constant-rate one starting now when the rate was
    /// changed since the last call (one atomic load when it was not).
    fn follow(&mut self, shared: &Shared) {
        if shared.control.rate_epoch() == self.epoch {
            return;
        }
        let change = shared.control.rate_change();
        self.epoch = change.epoch;
        self.base = Instant::now();
        let profile = RateProfile {
            start_rate: change.per_second * self.share,
            stages: Vec::new(),
        };
        let seed = shared
            .seed
            .wrapping_add(self.epoch)
            .wrapping_add(self.seed_offset);
        let (stream, streams) = self.stream;
        self.schedule = Schedule::new(&profile, self.arrival, stream, streams, seed);
        self.next = self.schedule.next();
    }

    /// Waits until the next send is due and returns its intended time (without taking
    /// it: see [`SteeredSchedule::advance`]); `None` when the lane ends: the run is
    /// aborted, its end comes before the next send, or `give_up` says so (asked before
    /// each wait). A rate change during a wait longer than a few milliseconds is
    /// followed at once; a shorter wait is followed by it (at no cost per send).
    pub(crate) async fn next_due(
        &mut self,
        shared: &Shared,
        timer: &mut PreciseTimer,
        give_up: impl Fn() -> bool,
    ) -> Option<Instant> {
        loop {
            self.follow(shared);
            if shared.abort.load(std::sync::atomic::Ordering::Relaxed) {
                return None;
            }
            let Some(offset) = self.next else {
                // Nothing scheduled (a rate of 0): wait for a change or the end.
                if shared.stopping(Instant::now()) {
                    return None;
                }
                let _ = tokio::time::timeout(IDLE_DISPATCH, shared.control.changed()).await;
                continue;
            };
            if give_up() {
                return None;
            }
            let intended = self.base + offset;
            if let Some(until) = shared.send_until.filter(|&t| intended >= t) {
                if shared.stopping(Instant::now()) {
                    return None;
                }
                // The end comes before this send; a rate change may still come before it.
                tokio::select! {
                    _ = tokio::time::sleep_until(until.into()) => return None,
                    _ = shared.control.changed() => continue,
                }
            }
            let now = Instant::now();
            if intended > now + WATCH_CONTROL_AFTER {
                // A long wait (a low rate): a rate change must not wait for it to end.
                tokio::select! {
                    _ = timer.sleep_until(intended) => {}
                    _ = shared.control.changed() => continue,
                }
            } else if intended > now {
                // A short one: a change is seen right after it, at no cost per send.
                timer.sleep_until(intended).await;
            }
            return Some(intended);
        }
    }

    /// Takes the send [`SteeredSchedule::next_due`] returned: the one after it is next.
    pub(crate) fn advance(&mut self) {
        self.next = self.schedule.next();
    }
}
