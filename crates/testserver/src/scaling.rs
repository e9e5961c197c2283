//! The two scalability knobs, shared by every instance of one target: a **serial section**
//! (contention) and a **coherency delay** (crosstalk). With them a sweep of concurrency
//! (or instances) shows each shape of the Universal Scalability Law on any machine, because
//! both knobs *wait* rather than burn CPU.
//!
//! # The model they reproduce
//!
//! The USL gives the throughput of `N` concurrent clients as
//! `X(N) = λN / (1 + σ(N−1) + κN(N−1))`, so the time one request takes, `R(N) = N / X(N)`
//! in a closed loop without think time, is `R(N) = (1 + σ(N−1) + κN(N−1)) / λ`: a constant,
//! plus a term linear in the other clients (σ, contention), plus a term quadratic in the
//! clients (κ, coherency).
//!
//! * **Serial section `S`** ([`TargetConfig::serial_section`](crate::TargetConfig)): every
//!   request holds one lock, shared by all instances (a fair, first-come-first-served async
//!   mutex, like one database connection behind a fleet), for `S`. With a parallel part `D`
//!   (the `delay` knobs) and `N` clients, a request queues behind the others' sections, so
//!   `R(N) ≈ D + S + S(N−1)` once the lock is busy (Amdahl): `λ = 1/(D+S)`,
//!   `σ = S/(D+S)`, `κ = 0`, and throughput flattens at `λ/σ = 1/S`. (The exact queueing
//!   curve has a sharper knee than Amdahl's, so a fit recovers σ approximately; see the
//!   tolerance documented with `stampede scale`.)
//! * **Coherency delay `d`** ([`TargetConfig::coherency_delay`](crate::TargetConfig)): a
//!   request that arrives while `n` requests are in flight on the target (itself included)
//!   waits `d·n(n−1)` in parallel with the others: it must agree with each of the `n−1`
//!   others, and each of those agreements costs `d` per participant, as when every node of
//!   a cluster exchanges state with every other. In a closed loop of `N` clients every
//!   request finds the `N−1` others in flight (they return at once), so `n = N` and
//!   `R(N) = D + d·N(N−1)`, that is `X(N) = N/R(N) = λN / (1 + κN(N−1))` with `λ = 1/D`,
//!   `σ = 0` and `κ = d/D`: throughput peaks at `N* = sqrt(1/κ)` and falls beyond. (A wait
//!   of `d·(n−1)` would only be linear in `N`: that is Amdahl's σ, not coherency.)
//!
//! `n` is counted when the request's knobs are applied (after its body was read), and the
//! request leaves the count when its waits and CPU burn are over. Both knobs apply to every
//! request that the `delay` knob applies to (every path but `/ws` and `/poll`). In the first round of a sweep step the
//! clients arrive one after the other and see fewer than `N` in flight; a warm-up drops it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::knobs::MAX_DELAY;

/// The scalability knobs and their shared state (one per target).
#[derive(Debug, Default)]
pub(crate) struct Scaling {
    /// Time each request holds the shared lock; zero: no serial section.
    serial_section: Duration,
    /// Coherency cost per pair of in-flight requests; zero: off.
    coherency_delay: Duration,
    /// The lock of the serial section (tokio's mutex is fair: first come, first served).
    lock: tokio::sync::Mutex<()>,
    /// Requests between [`Scaling::enter`] and the drop of their [`InFlight`].
    in_flight: AtomicU64,
}

/// A request counted in flight; it leaves the count when dropped.
#[derive(Debug)]
pub(crate) struct InFlight<'a> {
    scaling: &'a Scaling,
    /// Requests in flight when this one entered, itself included.
    pub(crate) seen: u64,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.scaling.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Scaling {
    /// Knobs with a serial section of `serial_section` and a coherency delay of
    /// `coherency_delay` (zero turns either off).
    pub(crate) fn new(serial_section: Duration, coherency_delay: Duration) -> Self {
        Scaling {
            serial_section,
            coherency_delay,
            ..Scaling::default()
        }
    }

    /// Counts a request in flight until the returned guard is dropped.
    pub(crate) fn enter(&self) -> InFlight<'_> {
        let seen = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        InFlight {
            scaling: self,
            seen,
        }
    }

    /// The coherency wait of a request that saw `seen` requests in flight (itself included).
    pub(crate) fn coherency_wait(&self, seen: u64) -> Duration {
        coherency_wait(self.coherency_delay, seen)
    }

    /// Holds the shared lock for the serial section (waiting first for those ahead).
    pub(crate) async fn serial_section(&self) {
        if self.serial_section.is_zero() {
            return;
        }
        let _held = self.lock.lock().await;
        let until = Instant::now() + self.serial_section;
        crate::clock::sleep_until(until).await;
    }
}

/// `d·n(n−1)`, capped at an hour (the longest delay knob): the coherency wait of a request
/// that saw `n` requests in flight, itself included.
pub(crate) fn coherency_wait(d: Duration, n: u64) -> Duration {
    if d.is_zero() || n < 2 {
        return Duration::ZERO;
    }
    let pairs = u32::try_from(n.saturating_mul(n - 1)).unwrap_or(u32::MAX);
    d.checked_mul(pairs).map_or(MAX_DELAY, |w| w.min(MAX_DELAY))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn coherency_wait_is_quadratic_in_the_requests_in_flight() {
        let d = us(100);
        assert_eq!(coherency_wait(d, 0), Duration::ZERO);
        assert_eq!(coherency_wait(d, 1), Duration::ZERO);
        assert_eq!(coherency_wait(d, 2), us(200));
        assert_eq!(coherency_wait(d, 4), us(1_200));
        assert_eq!(coherency_wait(d, 10), us(9_000));
        assert_eq!(coherency_wait(Duration::ZERO, 10), Duration::ZERO);
        assert_eq!(coherency_wait(Duration::from_secs(1), u64::MAX), MAX_DELAY);
    }

    /// The closed-loop response time `D + d·N(N−1)` is the USL's with `κ = d/D`, `σ = 0`.
    #[test]
    fn closed_loop_throughput_is_the_usl_curve() {
        let (base, d) = (0.010, 0.0001); // D = 10 ms, d = 100 µs: κ = 0.01
        let kappa = d / base;
        for n in 1..=64u64 {
            let r = base + coherency_wait(Duration::from_secs_f64(d), n).as_secs_f64();
            let x = n as f64 / r;
            let nf = n as f64;
            let usl = (1.0 / base) * nf / (1.0 + kappa * nf * (nf - 1.0));
            assert!((x - usl).abs() < 1e-6 * usl, "N={n}: {x} vs {usl}");
        }
    }

    #[test]
    fn the_count_follows_the_guards() {
        let s = Scaling::new(Duration::ZERO, us(10));
        let a = s.enter();
        let b = s.enter();
        assert_eq!((a.seen, b.seen), (1, 2));
        drop(a);
        let c = s.enter();
        assert_eq!(c.seen, 2);
        assert_eq!(s.coherency_wait(c.seen), us(20));
        drop((b, c));
        assert_eq!(s.enter().seen, 1);
    }

    #[tokio::test]
    async fn serial_sections_do_not_overlap() {
        let s = std::sync::Arc::new(Scaling::new(Duration::from_millis(5), Duration::ZERO));
        let start = Instant::now();
        let all = (0..6).map(|_| {
            let s = s.clone();
            async move { s.serial_section().await }
        });
        futures_util::future::join_all(all).await;
        assert!(
            start.elapsed() >= Duration::from_millis(30),
            "{:?}",
            start.elapsed()
        );
    }
}
