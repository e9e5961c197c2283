//! Summaries: the numbers a results table and the JSON summary show.

use std::time::Duration;

use stampede_metrics::Stats;
pub use stampede_result::Percentiles;

/// The headline numbers of a run or of one group.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Requests finished (successes, errors and timeouts).
    pub requests: u64,
    /// Errors (transport failures and statuses >= 400).
    pub errors: u64,
    /// Timeouts.
    pub timeouts: u64,
    /// (errors + timeouts) / requests.
    pub error_rate: f64,
    /// Requests finished per second of the measured span.
    pub achieved_rate: f64,
    /// The schedule's average rate over the same span; `None` in the closed model.
    pub target_rate: Option<f64>,
    /// Latency: corrected from intended send time in the open model, service time in
    /// the closed model.
    pub latency: Percentiles,
    /// Service time: actual send to last byte.
    pub service_time: Percentiles,
    /// Connect time of new connections.
    pub connect: Percentiles,
    /// Time to first byte.
    pub ttfb: Percentiles,
}

impl Summary {
    /// Summarizes `stats` measured over `elapsed`; `target_rate` is the schedule's
    /// average rate (open model) or `None`.
    pub fn new(stats: &Stats, elapsed: Duration, target_rate: Option<f64>) -> Self {
        let secs = elapsed.as_secs_f64();
        Summary {
            requests: stats.requests,
            errors: stats.errors,
            timeouts: stats.timeouts,
            error_rate: stats.failure_rate(),
            achieved_rate: if secs > 0.0 {
                stats.requests as f64 / secs
            } else {
                0.0
            },
            target_rate,
            latency: Percentiles::of(&stats.latency),
            service_time: Percentiles::of(&stats.service_time),
            connect: Percentiles::of(&stats.connect),
            ttfb: Percentiles::of(&stats.ttfb),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stampede_metrics::ErrorClass;

    #[test]
    fn summary_counts_and_rates() {
        let mut s = Stats::new();
        for i in 0..98 {
            s.record_response(200, Duration::from_millis(10 + i), Duration::from_millis(5));
        }
        s.record_error(ErrorClass::Reset);
        s.record_timeout();
        let sum = Summary::new(&s, Duration::from_secs(2), Some(50.0));
        assert_eq!(sum.requests, 100);
        assert_eq!(sum.achieved_rate, 50.0);
        assert!((sum.error_rate - 0.02).abs() < 1e-12);
        assert!((sum.latency.p50 - 58.0).abs() < 0.1, "{:?}", sum.latency);
        assert!((sum.service_time.max - 5.0).abs() < 0.01);
    }

    #[test]
    fn empty_stats_summarize_to_zeroes() {
        let sum = Summary::new(&Stats::new(), Duration::ZERO, None);
        assert_eq!(sum.achieved_rate, 0.0);
        assert_eq!(sum.latency, Percentiles::default());
    }
}
