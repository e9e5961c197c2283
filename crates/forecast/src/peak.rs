//! Peaks: the burst of an aligned fleet and the busiest window of a jittered one.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::fleet::{Jitter, DAY_S};

/// The busiest short window of a day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Peak {
    /// Which placement of check-ins this peak is for.
    pub jitter: Jitter,
    /// The window the rate is stated over, seconds.
    pub window_s: f64,
    /// Check-ins arriving in that window: aligned, the whole fleet at one instant
    /// (times the bursts the window holds); jittered, the busiest window of a day.
    pub in_window: f64,
    /// `in_window / window_s`.
    pub rate: f64,
    /// Jittered: the quantile of the per-window count used (1 − window / day: the
    /// busiest of a day's windows); aligned: `None`.
    pub quantile: Option<f64>,
}

/// Aligned check-ins: every device at the same instant, once per `every`. The peak is
/// a burst of all of them; over `window` that is `devices × bursts / window`, with
/// `bursts = ceil(window / every)` in a half-open window.
pub fn aligned_burst(devices: u64, every: Duration, window: Duration) -> Peak {
    let bursts = (window.as_secs_f64() / every.as_secs_f64()).ceil().max(1.0);
    let in_window = devices as f64 * bursts;
    Peak {
        jitter: Jitter::None,
        window_s: window.as_secs_f64(),
        in_window,
        rate: in_window / window.as_secs_f64(),
        quantile: None,
    }
}

/// Fully jittered check-ins: each device once per `every`, at a uniformly random point.
/// A window shorter than the interval catches each device with probability
/// `p = window / every`, so its count is Binomial(devices, p); the peak is that count's
/// quantile `1 − window / day` (the busiest of a day's windows). A window as long as
/// the interval or longer holds `devices × window / every` check-ins.
pub fn jittered_peak(devices: u64, every: Duration, window: Duration) -> Peak {
    let w = window.as_secs_f64();
    let p = w / every.as_secs_f64();
    let (in_window, quantile) = if p >= 1.0 {
        (devices as f64 * p, None)
    } else {
        let q = 1.0 - w / DAY_S;
        (binomial_quantile(devices, p, q) as f64, Some(q))
    };
    Peak {
        jitter: Jitter::Full,
        window_s: w,
        in_window,
        rate: in_window / w,
        quantile,
    }
}

/// The smallest `k` with `P(X ≤ k) ≥ q` for `X ~ Binomial(n, p)`, `0 < p < 1`.
///
/// The probabilities are summed exactly (up to rounding) over the mode ± 12 standard
/// deviations (the rest weighs under 1e-30), relative to the mode's so that nothing
/// underflows for large `n`, in constant memory.
pub fn binomial_quantile(n: u64, p: f64, q: f64) -> u64 {
    if n == 0 || p <= 0.0 {
        return 0;
    }
    let nf = n as f64;
    let mode = (((nf + 1.0) * p).floor() as u64).min(n);
    let sd = (nf * p * (1.0 - p)).sqrt();
    let span = (12.0 * sd).ceil() as u64 + 40;
    let lo = mode.saturating_sub(span);
    let hi = mode.saturating_add(span).min(n);
    // pmf(k + 1) / pmf(k) = (n − k) / (k + 1) · p / (1 − p).
    let odds = p / (1.0 - p);
    let up = |k: u64, w: f64| w * (nf - k as f64) / (k as f64 + 1.0) * odds;
    // Weights relative to the mode's: down to `lo`, then up to `hi`.
    let (mut w, mut total) = (1.0f64, 1.0f64);
    for k in (lo..mode).rev() {
        w = w * (k as f64 + 1.0) / (nf - k as f64) / odds;
        total += w;
    }
    let w_lo = w;
    w = 1.0;
    for k in mode..hi {
        w = up(k, w);
        total += w;
    }
    let (mut w, mut cumulative) = (w_lo, 0.0);
    for k in lo..=hi {
        cumulative += w / total;
        if cumulative >= q {
            return k;
        }
        w = up(k, w);
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    /// P(X ≤ k) the plain way, for small n.
    fn cdf(n: u64, p: f64, k: u64) -> f64 {
        let mut pmf = (1.0 - p).powi(n as i32);
        let mut sum = pmf;
        for j in 0..k {
            pmf *= (n - j) as f64 / (j + 1) as f64 * p / (1.0 - p);
            sum += pmf;
        }
        sum
    }

    #[test]
    fn aligned_is_the_whole_fleet_at_once() {
        let a = aligned_burst(100, Duration::from_secs(10), Duration::from_secs(1));
        assert_eq!(a.in_window, 100.0);
        assert_eq!(a.rate, 100.0);
        // Over 100 ms the same burst is 1,000 req/s.
        let a = aligned_burst(100, Duration::from_secs(10), Duration::from_millis(100));
        assert!((a.rate - 1000.0).abs() < 1e-9);
        // A window longer than the interval holds several bursts.
        let a = aligned_burst(100, Duration::from_secs(10), Duration::from_secs(25));
        assert_eq!(a.in_window, 300.0);
    }

    #[test]
    fn jittered_peak_is_the_busiest_window_of_a_day() {
        let j = jittered_peak(100, Duration::from_secs(10), Duration::from_secs(1));
        let q = 1.0 - 1.0 / 86_400.0;
        assert_eq!(j.quantile, Some(q));
        let k = j.in_window as u64;
        assert!(cdf(100, 0.1, k) >= q && cdf(100, 0.1, k - 1) < q, "{k}");
        // Above the average (10 a second), far below the aligned burst (100).
        assert!(j.rate > 10.0 && j.rate < 30.0, "{}", j.rate);
        let aligned = aligned_burst(100, Duration::from_secs(10), Duration::from_secs(1));
        assert!(j.rate < aligned.rate / 3.0);
        // A window as long as the interval just holds every device once.
        let j = jittered_peak(100, Duration::from_secs(10), Duration::from_secs(10));
        assert_eq!(j.in_window, 100.0);
    }

    #[test]
    fn binomial_quantile_matches_the_plain_sum_and_scales() {
        for (n, p, q) in [
            (100, 0.1, 0.5),
            (100, 0.1, 0.999),
            (37, 0.5, 0.9),
            (1, 0.3, 0.8),
        ] {
            let k = binomial_quantile(n, p, q);
            assert!(cdf(n, p, k) >= q, "{n} {p} {q}: {k}");
            assert!(k == 0 || cdf(n, p, k - 1) < q, "{n} {p} {q}: {k}");
        }
        // A million devices every 10 s, 1 s window: mean 100,000, sd 300; the busiest
        // second of a day is about 4.3 sd above the mean, and nothing underflows.
        let k = binomial_quantile(1_000_000, 0.1, 1.0 - 1.0 / 86_400.0) as f64;
        assert!(
            (k - 100_000.0) / 300.0 > 4.0 && (k - 100_000.0) / 300.0 < 4.7,
            "{k}"
        );
    }
}
