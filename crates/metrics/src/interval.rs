//! One point of the per-second time series.

use crate::{GeneratorStats, Stats};

/// A compact summary of one interval, kept for the whole run: counts, percentiles and
/// the latency and service-time histograms, encoded (HdrHistogram V2 compressed, a few
/// hundred bytes) when the second completes, so that an hour-long run keeps 3,600 small
/// points and no raw histogram.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IntervalPoint {
    /// Seconds since the run started at the start of this interval.
    pub second: u64,
    /// Requests finished in the interval.
    pub requests: u64,
    /// Errors in the interval.
    pub errors: u64,
    /// Timeouts in the interval.
    pub timeouts: u64,
    /// Requests sent in the interval.
    pub sends: u64,
    /// Late sends in the interval.
    pub late_sends: u64,
    /// Dropped requests in the interval.
    pub dropped: u64,
    /// Latency percentiles (ms): p50, p90, p99, max.
    pub latency_ms: [f64; 4],
    /// Service-time percentiles (ms): p50, p90, p99, max.
    pub service_time_ms: [f64; 4],
    /// The latency histogram, HdrHistogram V2 compressed base64 (microseconds).
    pub latency_histogram: String,
    /// The service-time histogram, in the same encoding.
    pub service_time_histogram: String,
}

impl IntervalPoint {
    /// Summarizes merged interval stats.
    pub fn new(second: u64, stats: &Stats, generator: &GeneratorStats) -> Self {
        let pct = |h: &crate::LatencyHistogram| {
            [
                h.quantile_ms(0.5),
                h.quantile_ms(0.9),
                h.quantile_ms(0.99),
                h.max_ms(),
            ]
        };
        IntervalPoint {
            second,
            requests: stats.requests,
            errors: stats.errors,
            timeouts: stats.timeouts,
            sends: generator.sends,
            late_sends: generator.late_sends,
            dropped: generator.dropped,
            latency_ms: pct(&stats.latency),
            service_time_ms: pct(&stats.service_time),
            latency_histogram: stats.latency.to_v2_base64(),
            service_time_histogram: stats.service_time.to_v2_base64(),
        }
    }
}
