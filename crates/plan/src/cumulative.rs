//! The cumulative arrival function of an open-model rate profile, as pure arithmetic.
//!
//! Λ(t) = ∫₀ᵗ rate(s) ds maps time to "expected number of arrivals so far"; ramps are
//! linear in rate, so Λ is piecewise quadratic and Λ⁻¹ has a closed form. The engine's
//! schedules place arrivals at Λ⁻¹ of a sequence; reports read the target rate off Λ.

use std::time::Duration;

use crate::RateProfile;

/// One linear piece of the rate profile: rate(s) = `rate0 + slope * s` for `s` in
/// `[0, len)` seconds after `start`, with `cum0` arrivals expected before it.
#[derive(Debug, Clone, Copy)]
struct Segment {
    start: f64,
    len: f64,
    rate0: f64,
    slope: f64,
    cum0: f64,
}

impl Segment {
    fn arrivals(&self) -> f64 {
        self.rate0 * self.len + 0.5 * self.slope * self.len * self.len
    }

    /// Seconds into this segment at which `x` arrivals (counted from its start) are due.
    fn solve(&self, x: f64) -> f64 {
        if x <= 0.0 {
            return 0.0;
        }
        if self.slope.abs() < 1e-12 {
            return x / self.rate0;
        }
        let disc = (self.rate0 * self.rate0 + 2.0 * self.slope * x).max(0.0);
        // Numerically stable form of (-a + sqrt(a^2 + 2bx)) / b.
        2.0 * x / (self.rate0 + disc.sqrt())
    }
}

/// The cumulative arrival function of a [`RateProfile`] and its inverse.
#[derive(Debug, Clone)]
pub struct Cumulative {
    segments: Vec<Segment>,
    tail: Segment,
}

impl Cumulative {
    /// Builds Λ for `profile`.
    pub fn new(profile: &RateProfile) -> Self {
        let mut segments = Vec::with_capacity(profile.stages.len());
        let (mut start, mut cum, mut from) = (0.0, 0.0, profile.start_rate);
        for stage in &profile.stages {
            let len = stage.duration.as_secs_f64();
            let seg = Segment {
                start,
                len,
                rate0: from,
                slope: (stage.target_rate - from) / len,
                cum0: cum,
            };
            cum += seg.arrivals();
            start += len;
            from = stage.target_rate;
            segments.push(seg);
        }
        let tail = Segment {
            start,
            len: f64::INFINITY,
            rate0: from,
            slope: 0.0,
            cum0: cum,
        };
        Cumulative { segments, tail }
    }

    /// Expected arrivals in `[0, t)`.
    pub fn at(&self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        for seg in self.segments.iter().chain(std::iter::once(&self.tail)) {
            if t < seg.start + seg.len {
                let s = t - seg.start;
                return seg.cum0 + seg.rate0 * s + 0.5 * seg.slope * s * s;
            }
        }
        unreachable!("the tail segment is unbounded")
    }

    /// The time at which `x` arrivals are expected, or `None` if never (the rate
    /// drops to zero for good before that).
    pub fn inverse(&self, x: f64) -> Option<Duration> {
        self.inverse_from(x, &mut 0)
    }

    /// [`Cumulative::inverse`] with a cursor that remembers the segment of the last
    /// answer, for monotone queries in O(1) amortized time.
    pub fn inverse_from(&self, x: f64, cursor: &mut usize) -> Option<Duration> {
        while *cursor < self.segments.len() {
            let seg = &self.segments[*cursor];
            if x < seg.cum0 + seg.arrivals() {
                return Some(secs(seg.start + seg.solve(x - seg.cum0)));
            }
            *cursor += 1;
        }
        if self.tail.rate0 <= 0.0 {
            return None;
        }
        Some(secs(self.tail.start + self.tail.solve(x - self.tail.cum0)))
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.0, 1e9))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Stage;

    #[test]
    fn ramp_then_hold_integrates_and_inverts() {
        // 0 -> 100/s over 10 s (500 arrivals), then 100/s.
        let c = Cumulative::new(&RateProfile {
            start_rate: 0.0,
            stages: vec![Stage {
                duration: Duration::from_secs(10),
                target_rate: 100.0,
            }],
        });
        assert!((c.at(Duration::from_secs(5)) - 125.0).abs() < 1e-9);
        assert!((c.at(Duration::from_secs(12)) - 700.0).abs() < 1e-9);
        let mut cursor = 0;
        for x in [1.0, 125.0, 499.0, 650.0] {
            let t = c.inverse_from(x, &mut cursor).unwrap();
            assert!((c.at(t) - x).abs() < 1e-6, "x={x}");
            assert_eq!(c.inverse(x), Some(t));
        }
    }
}
