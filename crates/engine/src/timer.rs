//! A sub-millisecond timer for the open-model dispatcher.
//!
//! tokio's timer wheel has millisecond ticks and its driver parks in `epoll_wait` with a
//! millisecond timeout, so a send scheduled for t wakes up anywhere in (t, t + ~1 ms].
//! That lag lands in the corrected latency of every open-model request. A `timerfd`
//! registered with the runtime's reactor wakes the dispatcher within microseconds of the
//! intended time instead. Consecutive wakes are at least [`MIN_WAKE_GAP`] apart, so at high
//! rates one wake dispatches a small batch rather than costing syscalls per request.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::unix::AsyncFd;

/// The default shortest time between two dispatcher wake-ups (`--timer-slack`).
pub const MIN_WAKE_GAP: Duration = stampede_plan::DEFAULT_TIMER_SLACK;

struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// Sleeps until an instant with microsecond precision, falling back to tokio's timer
/// where `timerfd` is unavailable.
pub(crate) struct PreciseTimer {
    fd: Option<AsyncFd<Fd>>,
    last_wake: Option<Instant>,
    /// The shortest time between two wakes.
    gap: Duration,
}

impl PreciseTimer {
    /// A timer on this thread's runtime whose wakes are at least `gap` apart.
    pub(crate) fn new(gap: Duration) -> Self {
        let fd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .ok()
        .and_then(register);
        PreciseTimer {
            fd,
            last_wake: None,
            gap,
        }
    }

    /// Waits until `at`, or a little later if the previous wake was less than the gap
    /// ago. Returns at once if `at` has passed.
    pub(crate) async fn sleep_until(&mut self, at: Instant) {
        let at = match self.last_wake {
            Some(last) => at.max(last + self.gap),
            None => at,
        };
        let now = Instant::now();
        if at > now {
            if let Some(fd) = &self.fd {
                if wait(fd, at - now).await.is_err() {
                    tokio::time::sleep_until(at.into()).await;
                }
            } else {
                tokio::time::sleep_until(at.into()).await;
            }
        }
        self.last_wake = Some(Instant::now());
    }
}

/// Registers the timer with this thread's reactor.
#[allow(unsafe_code)]
fn register(timer: TimerFd) -> Option<AsyncFd<Fd>> {
    // SAFETY: `AsyncFd::register` requires that the raw fd stays open and the same for
    // the AsyncFd's lifetime. `Fd` owns the `TimerFd` (an `OwnedFd`) and never replaces
    // it, so `as_raw_fd` returns the same open descriptor until the AsyncFd drops it.
    // There is no safe constructor in tokio for this (the safe `AsyncFd::new` is
    // deprecated as unsound for arbitrary `T`; ours upholds the contract).
    unsafe { AsyncFd::register(Fd(timer)) }.ok()
}

async fn wait(fd: &AsyncFd<Fd>, after: Duration) -> io::Result<()> {
    fd.get_ref()
        .0
        .set(
            Expiration::OneShot(TimeSpec::from_duration(after)),
            TimerSetTimeFlags::empty(),
        )
        .map_err(io::Error::from)?;
    loop {
        let mut guard = fd.readable().await?;
        // Reading the expiration count clears readiness; EAGAIN means not yet expired.
        match guard.try_io(|inner| inner.get_ref().0.wait().map_err(io::Error::from)) {
            Ok(result) => return result,
            Err(_would_block) => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_close_to_the_deadline() {
        let mut t = PreciseTimer::new(MIN_WAKE_GAP);
        assert!(t.fd.is_some(), "timerfd available on Linux");
        let mut worst = Duration::ZERO;
        for _ in 0..20 {
            let at = Instant::now() + Duration::from_micros(700);
            t.sleep_until(at).await;
            let late = Instant::now().saturating_duration_since(at);
            assert!(Instant::now() >= at);
            worst = worst.max(late);
        }
        // Generous for a busy CI machine; tokio's timer alone is often ~1 ms late.
        assert!(
            worst < Duration::from_millis(20),
            "worst lateness {worst:?}"
        );
    }

    #[tokio::test]
    async fn consecutive_wakes_are_spaced() {
        let mut t = PreciseTimer::new(MIN_WAKE_GAP);
        let t0 = Instant::now();
        t.sleep_until(t0).await;
        let first = Instant::now();
        t.sleep_until(t0).await;
        assert!(Instant::now() >= first + MIN_WAKE_GAP);
    }
}
