//! One step of a sweep: its measured window judged into the figures the fit uses.

use serde::{Deserialize, Serialize};
use stampede_capacity::CapacityDoc;
use stampede_result::RunResult;

/// One step of a sweep, as written in `steps[]` of the scale document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDoc {
    /// Concurrency of the step (connections or virtual users), or instances.
    pub n: u64,
    /// Successful responses per second over the step's measured window (errors and
    /// timeouts are not throughput).
    pub throughput: f64,
    /// Latency p50 over the window (ms; service time in the closed model).
    pub p50_ms: f64,
    /// Latency p99 over the window (ms).
    pub p99_ms: f64,
    /// Errors and timeouts in the window.
    pub errors: u64,
    /// (errors + timeouts) / requests in the window.
    pub error_rate: f64,
    /// Why the step is left out of the fit (the generator could not drive it, it was
    /// stopped, or nothing succeeded); `null` when the fit uses it.
    pub excluded: Option<String>,
    /// The fitted model's throughput at `n`; `null` without a fit.
    pub predicted: Option<f64>,
    /// `throughput − predicted` (req/s); `null` without a fit.
    pub residual: Option<f64>,
    /// The step's full result document, of its measured window (warm-up dropped); for an
    /// instance step, the window of the last passing step of its capacity search. `null`
    /// only when a search was stopped before its first step.
    pub result: Option<RunResult>,
    /// Instance steps: the whole capacity search (`stampede capacity --out`'s document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacityDoc>,
}

impl StepDoc {
    /// Judges the measured window of a step of size `n`.
    pub fn judge(n: u64, result: RunResult) -> StepDoc {
        let core = &result.summary.core;
        let failed = core.errors + core.timeouts;
        let ok = core.requests.saturating_sub(failed);
        let elapsed = result.summary.elapsed_s;
        let throughput = if elapsed > 0.0 {
            ok as f64 / elapsed
        } else {
            0.0
        };
        let excluded = exclusion(&result, ok);
        StepDoc {
            n,
            throughput,
            p50_ms: core.latency_ms.p50,
            p99_ms: core.latency_ms.p99,
            errors: failed,
            error_rate: core.error_rate,
            excluded,
            predicted: None,
            residual: None,
            result: Some(result),
            capacity: None,
        }
    }

    /// True when the step was stopped (Ctrl-C): a sweep ends after it.
    pub fn stopped(&self) -> bool {
        self.result.as_ref().is_none_or(|r| r.aborted)
    }

    /// True when the fit uses this step.
    pub fn included(&self) -> bool {
        self.excluded.is_none()
    }
}

/// Why a step cannot be trusted as a point of the curve, if it cannot.
fn exclusion(result: &RunResult, ok: u64) -> Option<String> {
    if result.aborted {
        return Some("the step was stopped before its end".into());
    }
    let warnings = &result.generator.warnings;
    if !warnings.is_empty() {
        let why: Vec<String> = warnings.iter().map(|w| w.explain()).collect();
        return Some(format!(
            "the generator could not drive this step: {}",
            why.join("; ")
        ));
    }
    if result.summary.elapsed_s <= 0.0 {
        return Some("no measured window".into());
    }
    if ok == 0 {
        return Some("no successful responses".into());
    }
    None
}
