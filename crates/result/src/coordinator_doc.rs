//! What a live coordinator adds to the result it writes (`stampede coordinator`).

use serde::{Deserialize, Serialize};

/// The workers behind a coordinated result, and whether their shares are all in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoordinatorDoc {
    /// The coordinator protocol's version.
    pub protocol: u32,
    /// How many workers the coordinator waited for (`--workers`).
    pub workers_expected: u32,
    /// True when a worker's share is missing (lost, or never came): the figures are
    /// then those of the workers listed as `finished` only.
    pub partial: bool,
    /// One entry per worker that said hello, by index.
    pub workers: Vec<WorkerDoc>,
}

/// One worker of a coordinated run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerDoc {
    /// The worker's index (its shard index when it ran one).
    pub index: u32,
    /// Its shard, `i/n`, when it ran one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// `finished` (its result is merged in) or `lost` (it stopped reporting; its share
    /// is missing).
    pub status: String,
    /// Seconds of the run it reported live.
    pub seconds_reported: u64,
    /// Requests in its own result (finished workers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// Coordinator clock minus worker clock (ms), from the hello exchange's midpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_offset_ms: Option<f64>,
    /// The hello's round trip (ms): the offset is known to within half of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_rtt_ms: Option<f64>,
    /// When its run started, on the coordinator's clock, minus the intended common start
    /// (`--start-at` when the workers had one, else the earliest worker's start), ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_error_ms: Option<f64>,
    /// Why it was lost, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<String>,
}
