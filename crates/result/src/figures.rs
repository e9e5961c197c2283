//! Figures shared by the document and the analysis that fills it: latency percentiles,
//! threshold verdicts and generator warnings.

use std::fmt::Write;

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
    /// The threshold as written, e.g. `p99 < 200ms` or `error_rate < 1% over 10s`.
    pub threshold: String,
    /// The measured value, in the threshold's unit (ms, fraction, count or per second);
    /// for a windowed criterion, the worst window's. `None`: no data to judge (fails).
    pub observed: Option<f64>,
    /// Whether it held.
    pub passed: bool,
    /// For a windowed criterion: the window length in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_s: Option<u64>,
    /// For a windowed criterion: the worst window judged (the first failing one when it
    /// failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worst_window: Option<WindowValue>,
}

impl ThresholdOutcome {
    /// The criterion with its scope, e.g. `[login] p99 < 200ms`.
    pub fn label(&self) -> String {
        match &self.scope {
            Some(s) => format!("[{s}] {}", self.threshold),
            None => self.threshold.clone(),
        }
    }
}

/// One window's measurement.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WindowValue {
    /// The window's first second (0-based from the run's start).
    pub start_s: u64,
    /// The second after the window's last one.
    pub end_s: u64,
    /// The measured value in the threshold's unit.
    pub observed: f64,
}

/// A send lag p99 below this share of the latency p99 does not matter to the result.
pub const NEGLIGIBLE_LAG: f64 = 0.05;

/// What a warning is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum WarningKind {
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

/// Why the generator fell behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningCause {
    /// Its own work: busy workers, drops, no free connection.
    #[default]
    GeneratorSaturated,
    /// Runnable but not running: other processes had the CPU (run-queue wait, steal).
    CpuContention,
}

/// How much of the reported latency the send lag can account for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LagEffect {
    /// The send lag's p99 (ms).
    pub send_lag_p99_ms: f64,
    /// The latency p99 (ms).
    pub latency_p99_ms: f64,
    /// send lag p99 / latency p99 (can exceed 1 when the lag is all there is).
    pub share_of_p99: f64,
}

impl LagEffect {
    /// The effect of `lag` on `latency` (both p99, ms); `None` without a latency.
    pub fn new(lag: f64, latency: f64) -> Option<LagEffect> {
        (latency > 0.0).then(|| LagEffect {
            send_lag_p99_ms: lag,
            latency_p99_ms: latency,
            share_of_p99: lag / latency,
        })
    }

    /// True when the lag is too small against the latency to matter.
    pub fn is_negligible(&self) -> bool {
        self.share_of_p99 < NEGLIGIBLE_LAG
    }
}

/// One reason to distrust the result: what, why, and what it did to the numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorWarning {
    /// What was seen.
    #[serde(flatten)]
    pub kind: WarningKind,
    /// Why (documents before schema version 2 have none: read as `generator_saturated`).
    #[serde(default)]
    pub cause: WarningCause,
    /// For late sends: how much of the latency p99 the send lag accounts for.
    #[serde(default)]
    pub effect: Option<LagEffect>,
}

impl GeneratorWarning {
    /// A short human explanation: what, its effect, and its cause with the remedy.
    pub fn explain(&self) -> String {
        let mut out = match self.kind {
            WarningKind::CpuSaturated { busiest } => format!(
                "a worker thread was on the CPU {:.0}% of the time",
                busiest * 100.0
            ),
            WarningKind::LateSends { fraction } => format!(
                "{:.1}% of sends left late (the schedule was not kept)",
                fraction * 100.0
            ),
            WarningKind::Dropped { count } => {
                format!("{count} scheduled requests were dropped for want of a free connection")
            }
        };
        if let Some(e) = self.effect {
            let _ = write!(
                out,
                ", send lag p99 {:.2} ms = {:.0}% of latency p99 {:.2} ms",
                e.send_lag_p99_ms,
                e.share_of_p99 * 100.0,
                e.latency_p99_ms
            );
        }
        let remedy = match (self.cause, &self.kind) {
            (WarningCause::CpuContention, _) => {
                "cause: CPU contention, other processes had the generator's CPU (use a quieter machine)"
            }
            (_, WarningKind::Dropped { .. }) => {
                "cause: generator saturated (raise --max-connections)"
            }
            _ => "cause: generator saturated (add --threads or cores, or run more generators)",
        };
        let _ = write!(out, "; {remedy}");
        out
    }
}
