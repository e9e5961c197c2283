//! Figures shared by the document and the analysis that fills it: latency percentiles,
//! threshold verdicts and generator warnings.

use serde::{Deserialize, Serialize};
use stampede_metrics::LatencyHistogram;

/// Latency statistics in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Percentiles {
    /// Arithmetic mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest value.
    pub max: f64,
}

impl Percentiles {
    /// Reads the statistics off a histogram (all zero when it is empty).
    pub fn of(h: &LatencyHistogram) -> Self {
        Percentiles {
            mean: round3(h.mean_ms()),
            p50: h.quantile_ms(0.5),
            p90: h.quantile_ms(0.9),
            p99: h.quantile_ms(0.99),
            p999: h.quantile_ms(0.999),
            max: h.max_ms(),
        }
    }
}

/// `x` rounded to three decimals.
pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `x` rounded to two decimals.
pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The verdict on one threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdOutcome {
    /// The group key it applies to; `None` for the whole run.
    pub scope: Option<String>,
    /// The threshold as written, e.g. `p99 < 200ms`.
    pub threshold: String,
    /// The measured value, in the threshold's unit (ms, fraction, count or per second).
    pub observed: f64,
    /// Whether it held.
    pub passed: bool,
}

/// One reason to distrust the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum GeneratorWarning {
    /// A worker thread was (nearly) always on the CPU.
    CpuSaturated {
        /// The busiest worker's CPU share (0..1).
        busiest: f64,
    },
    /// Too many sends left late.
    LateSends {
        /// Late sends / sends.
        fraction: f64,
    },
    /// Scheduled requests were never sent for want of a free connection.
    Dropped {
        /// How many.
        count: u64,
    },
}

impl GeneratorWarning {
    /// A short human explanation.
    pub fn explain(&self) -> String {
        match self {
            GeneratorWarning::CpuSaturated { busiest } => format!(
                "a worker thread was on the CPU {:.0}% of the time (add --threads or cores, or run more generators)",
                busiest * 100.0
            ),
            GeneratorWarning::LateSends { fraction } => format!(
                "{:.1}% of sends left late (the schedule was not kept)",
                fraction * 100.0
            ),
            GeneratorWarning::Dropped { count } => format!(
                "{count} scheduled requests were dropped for want of a free connection (raise --max-connections)"
            ),
        }
    }
}
