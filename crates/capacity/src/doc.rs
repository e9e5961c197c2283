//! The capacity document (`stampede capacity --out`): the search's settings, its result
//! as an interval, and every step with its full result document. Described by
//! `schema/capacity.schema.json`.

use serde::{Deserialize, Serialize};
use stampede_result::{RunResult, ThresholdOutcome};

use crate::controller::{Phase, Verdict};

/// The version of the document's shape that this build writes.
pub const CAPACITY_SCHEMA_VERSION: u32 = 1;

/// The JSON Schema of [`CapacityDoc`].
pub const CAPACITY_SCHEMA: &str = include_str!("../schema/capacity.schema.json");

/// A capacity search, as written by `--out`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityDoc {
    /// [`CAPACITY_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Always `capacity`.
    pub kind: String,
    /// The stampede version that searched.
    pub stampede_version: String,
    /// When the search started (RFC 3339, UTC).
    pub started_at: String,
    /// What was tested: the URL or the scenario file.
    pub subject: String,
    /// What a rate counts: `requests/s`, or `journeys/s` for a scenario file.
    pub unit: String,
    /// The SLOs every step was judged against, as written.
    pub slos: Vec<String>,
    /// How the search was told to run.
    pub settings: SettingsDoc,
    /// Where it ended.
    pub result: OutcomeDoc,
    /// Every step, in the order run.
    pub steps: Vec<StepDoc>,
}

/// The search's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingsDoc {
    /// The first rate offered.
    pub start_rate: f64,
    /// The highest rate it may offer (`null`: no limit).
    pub max_rate: Option<f64>,
    /// The lowest rate it may offer when descending.
    pub min_rate: f64,
    /// The interval's target width, relative to its lower end (0.05 = 5%).
    pub precision: f64,
    /// A step's nominal length (warm-up and window), seconds.
    pub step_s: f64,
    /// The warm-up discarded at the start of every step, seconds.
    pub warmup_s: f64,
    /// How long a step's window may be extended while it is unstable, seconds.
    pub max_window_s: f64,
    /// The step budget.
    pub max_steps: usize,
}

/// The search's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeDoc {
    /// How it ended.
    pub verdict: Verdict,
    /// The highest passing rate below the first failing one (`null`: none passed).
    pub last_pass_rate: Option<f64>,
    /// The lowest failing rate (`null`: none failed).
    pub first_fail_rate: Option<f64>,
    /// (first fail − last pass) / last pass, when both exist.
    pub width: Option<f64>,
    /// The latency knee: the highest offered rate up to which the median latency stayed
    /// within twice its value at the lowest rate tried (`null` when it never doubled).
    pub knee_rate: Option<f64>,
    /// Why the search ended as it did, in words (the generator's limit, the failure).
    pub reason: Option<String>,
    /// How long the search took, seconds.
    pub elapsed_s: f64,
}

/// How one step was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepVerdict {
    /// Every SLO held and the offered rate was achieved.
    Pass,
    /// An SLO failed or the service did not keep up.
    Fail,
    /// The generator could not send what was offered.
    GeneratorLimited,
}

/// One step of the search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepDoc {
    /// 1-based.
    pub index: usize,
    /// Why this rate was tried.
    pub phase: Phase,
    /// The rate offered.
    pub offered_rate: f64,
    /// The rate achieved in the window (responses, or journeys started, per second).
    pub achieved_rate: f64,
    /// The run's second at which the step's window started.
    pub window_start_s: u64,
    /// The window's length, seconds (after the warm-up).
    pub window_s: u64,
    /// The coefficient of variation of the window's per-second throughput.
    pub cv: Option<f64>,
    /// Whether the window met the stability rule (else it was judged at its longest).
    pub stable: bool,
    /// How the step was judged.
    pub verdict: StepVerdict,
    /// Why it failed or was not driven.
    pub reason: Option<String>,
    /// Every SLO as judged over the window.
    pub slos: Vec<ThresholdOutcome>,
    /// Seconds the search paused sending after this (failing) step, until every request
    /// in flight had finished (at most the request timeout and a second).
    pub recovery_s: u64,
    /// The window's full result document.
    pub result: RunResult,
}

impl CapacityDoc {
    /// The document as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a capacity document serializes")
    }
}

/// The latency knee: the highest offered rate up to which the median latency stayed within
/// twice its value at the lowest rate tried; `None` when it never doubled. The median, not
/// p99: queueing moves the median too, while a p99 of a few milliseconds doubles on
/// scheduling jitter alone.
pub fn knee(steps: &[StepDoc]) -> Option<f64> {
    let mut points: Vec<(f64, f64)> = steps
        .iter()
        .filter(|s| s.result.summary.core.requests > 0)
        .map(|s| (s.offered_rate, s.result.summary.core.latency_ms.p50))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let base = points.first()?.1;
    let over = points.iter().position(|p| p.1 > 2.0 * base.max(0.001))?;
    (over > 0).then(|| points[over - 1].0)
}
