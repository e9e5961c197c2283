//! Arrival schedules for the open model, as pure arithmetic over time offsets.
//!
//! The cumulative arrival function Λ(t) = ∫₀ᵗ rate(s) ds maps time to "expected number
//! of arrivals so far". Uniform arrivals sit at Λ⁻¹(0), Λ⁻¹(1), Λ⁻¹(2), ...; Poisson
//! arrivals at Λ⁻¹ of the partial sums of unit exponential gaps (the time-change
//! construction of a non-homogeneous Poisson process). Ramps are linear in rate, so
//! Λ is piecewise quadratic and Λ⁻¹ has a closed form.
//!
//! With `T` worker threads, worker `w` takes uniform points `w, w+T, w+2T, ...`, so the
//! workers partition one global schedule exactly; for Poisson each worker runs an
//! independent process at 1/T of the rate, whose superposition is the full process.

use std::time::Duration;

use crate::{Arrival, RateProfile};

pub use crate::Cumulative;

/// The send times of one worker's share of an open-model schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    cumulative: Cumulative,
    arrival: Arrival,
    workers: u64,
    next_x: f64,
    cursor: usize,
    rng: fastrand::Rng,
}

impl Schedule {
    /// The schedule of worker `worker` out of `workers`. `seed` makes Poisson gaps
    /// reproducible.
    pub fn new(
        profile: &RateProfile,
        arrival: Arrival,
        worker: usize,
        workers: usize,
        seed: u64,
    ) -> Self {
        let workers = workers.max(1) as u64;
        let mut rng =
            fastrand::Rng::with_seed(seed ^ (worker as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let next_x = match arrival {
            Arrival::Uniform => worker as f64,
            Arrival::Poisson => exp_gap(&mut rng) * workers as f64,
        };
        Schedule {
            cumulative: Cumulative::new(profile),
            arrival,
            workers,
            next_x,
            cursor: 0,
            rng,
        }
    }

    /// The global index of the next arrival (uniform arrivals only: the k-th request
    /// of the whole run), useful for request limits.
    pub fn next_global_index(&self) -> Option<u64> {
        match self.arrival {
            Arrival::Uniform => Some(self.next_x as u64),
            Arrival::Poisson => None,
        }
    }
}

impl Iterator for Schedule {
    type Item = Duration;

    /// The offset from the run's start of the next send.
    fn next(&mut self) -> Option<Duration> {
        let t = self
            .cumulative
            .inverse_from(self.next_x, &mut self.cursor)?;
        self.next_x += match self.arrival {
            Arrival::Uniform => self.workers as f64,
            Arrival::Poisson => exp_gap(&mut self.rng) * self.workers as f64,
        };
        Some(t)
    }
}

/// A unit-mean exponential variate.
fn exp_gap(rng: &mut fastrand::Rng) -> f64 {
    // 1 - f64() lies in (0, 1], so the logarithm is finite.
    -(1.0 - rng.f64()).ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Stage;

    fn stage(secs: u64, rate: f64) -> Stage {
        Stage {
            duration: Duration::from_secs(secs),
            target_rate: rate,
        }
    }

    fn count_before(s: Schedule, limit: Duration) -> usize {
        s.take_while(|t| *t < limit).count()
    }

    #[test]
    fn constant_uniform_rate_is_exact() {
        let p = RateProfile::constant(20_000.0);
        let s = Schedule::new(&p, Arrival::Uniform, 0, 1, 1);
        let times: Vec<_> = s.take(3).collect();
        assert_eq!(times[0], Duration::ZERO);
        assert_eq!(times[1], Duration::from_micros(50));
        assert_eq!(times[2], Duration::from_micros(100));
        let s = Schedule::new(&p, Arrival::Uniform, 0, 1, 1);
        assert_eq!(count_before(s, Duration::from_secs(5)), 100_000);
    }

    #[test]
    fn workers_partition_the_global_schedule() {
        let p = RateProfile::constant(1_000.0);
        let mut all: Vec<Duration> = (0..3)
            .flat_map(|w| {
                Schedule::new(&p, Arrival::Uniform, w, 3, 1)
                    .take_while(|t| *t < Duration::from_secs(1))
                    .collect::<Vec<_>>()
            })
            .collect();
        all.sort();
        assert_eq!(all.len(), 1_000);
        for (k, t) in all.iter().enumerate() {
            let want = k as f64 / 1000.0;
            assert!((t.as_secs_f64() - want).abs() < 1e-9, "{k}: {t:?}");
        }
    }

    #[test]
    fn linear_ramp_follows_the_integral() {
        // 0 -> 100/s over 10 s: 500 arrivals in total, 125 in the first 5 s.
        let p = RateProfile {
            start_rate: 0.0,
            stages: vec![stage(10, 100.0)],
        };
        let c = Cumulative::new(&p);
        assert!((c.at(Duration::from_secs(5)) - 125.0).abs() < 1e-9);
        assert!((c.at(Duration::from_secs(10)) - 500.0).abs() < 1e-9);
        let s = Schedule::new(&p, Arrival::Uniform, 0, 1, 1);
        assert_eq!(count_before(s.clone(), Duration::from_secs(5)), 125);
        // After the ramp the rate holds at 100/s.
        assert_eq!(count_before(s, Duration::from_secs(12)), 700);
        // Inverse and forward agree.
        for x in [1.0, 50.0, 499.0, 650.0] {
            let t = c.inverse(x).unwrap();
            assert!((c.at(t) - x).abs() < 1e-6, "x={x}");
        }
    }

    #[test]
    fn stages_chain_and_ramp_down() {
        let p = RateProfile {
            start_rate: 100.0,
            stages: vec![stage(10, 100.0), stage(10, 2_000.0), stage(5, 0.0)],
        };
        let c = Cumulative::new(&p);
        // 1000 + (100+2000)/2*10 + 2000/2*5
        let total = 1_000.0 + 10_500.0 + 5_000.0;
        assert!((c.at(Duration::from_secs(25)) - total).abs() < 1e-6);
        // The rate ends at zero: arrivals stop.
        assert!(c.inverse(total + 1.0).is_none());
        let s = Schedule::new(&p, Arrival::Uniform, 0, 1, 1);
        assert_eq!(s.count(), total as usize);
    }

    #[test]
    fn poisson_has_the_right_mean_and_dispersion() {
        let p = RateProfile::constant(1_000.0);
        // Count arrivals per 100 ms window over 200 s, for two workers combined.
        let mut windows = vec![0u32; 2_000];
        for w in 0..2 {
            for t in Schedule::new(&p, Arrival::Poisson, w, 2, 42)
                .take_while(|t| *t < Duration::from_secs(200))
            {
                windows[(t.as_millis() / 100) as usize] += 1;
            }
        }
        let n = windows.len() as f64;
        let mean = windows.iter().map(|c| f64::from(*c)).sum::<f64>() / n;
        let var = windows
            .iter()
            .map(|c| (f64::from(*c) - mean).powi(2))
            .sum::<f64>()
            / n;
        // Poisson: mean = variance = 100 per window.
        assert!((mean - 100.0).abs() < 1.0, "mean {mean}");
        assert!((var / mean - 1.0).abs() < 0.15, "dispersion {}", var / mean);
    }

    #[test]
    fn poisson_follows_a_ramp() {
        let p = RateProfile {
            start_rate: 0.0,
            stages: vec![stage(100, 1_000.0)],
        };
        let n = count_before(
            Schedule::new(&p, Arrival::Poisson, 0, 1, 3),
            Duration::from_secs(50),
        );
        // Expected 12,500 with standard deviation ~112.
        assert!((n as f64 - 12_500.0).abs() < 500.0, "{n}");
    }
}
