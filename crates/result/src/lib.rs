//! The versioned result document of a stampede run, and its exact merge.
//!
//! A run becomes one [`RunResult`] (written by `stampede run --out FILE`, read by
//! `stampede report` and `stampede compare`). This crate holds only the document: serde
//! types, the committed JSON Schema ([`RESULT_SCHEMA`]) and [`merge`], which combines
//! the results of shards of one run (or of runs of one experiment) without loss.
//! Assembling a document from a plan and a measurement is `stampede-analysis`' job;
//! rendering it is `stampede-report`'s. No I/O beyond serde.
//!
//! ## Wire format
//!
//! One JSON object described by `schema/result.schema.json`. Durations are milliseconds
//! (`*_ms`) or seconds (`*_s`), rates are per second, and names are snake_case
//! throughout. Latency percentiles are HdrHistogram values with three significant
//! digits. `summary.latency_ms` is measured from each request's intended send time in the
//! open model (coordinated-omission corrected) and equals service time in the closed
//! model; `latency_model` says which. Full histograms are HdrHistogram V2 compressed
//! base64 strings (values in microseconds), readable by any HdrHistogram implementation.
//! New fields may be added within a schema version; removing or renaming one bumps it.
//!
//! ## Versions
//!
//! * **2** (current): every group (`groups[].histograms`: latency, service time and all
//!   the phases) and every second (`series[].histograms`: latency and service time)
//!   carries its full histograms, the run's `histograms` gain `upgrade` and (open model)
//!   `schedule_lag`, and `summary.scheduled` counts the arrivals the schedule asked
//!   for. With these, [`merge`] is exact.
//! * **1**: percentiles only for groups and seconds. Still read (the new fields are then
//!   absent), rendered and compared as before, but not merged: [`merge`] rejects them.
//!
//! ```
//! use stampede_result::{RunResult, SCHEMA_VERSION};
//! let text = include_str!("../tests/fixtures/v1-result.json");
//! let old = RunResult::from_json(text).unwrap();
//! assert_eq!(old.schema_version, 1);
//! assert!(SCHEMA_VERSION > old.schema_version);
//! assert!(stampede_result::merge(&[old]).is_err(), "version 1 keeps no group histograms");
//! ```
#![deny(missing_docs)]

mod coordinator_doc;
mod doc;
mod figures;
mod merge;
mod merge_server;
mod merge_shard;
mod outage_log;

pub use coordinator_doc::{CoordinatorDoc, WorkerDoc};
pub use doc::{
    Core, FaultDoc, GeneratorDoc, GroupDoc, Histograms, MetricSourceDoc, Phases, PointHistograms,
    PointPercentiles, RecordedRoute, ReplayDoc, RunConfig, RunResult, Sampled, SeriesPoint,
    ServerDoc, ServerMetricDoc, ShardDoc, StageDoc, StartDoc, SummaryDoc,
};
pub use figures::{
    GeneratorWarning, LagEffect, Percentiles, ThresholdOutcome, WarningCause, WarningKind,
    WindowValue, NEGLIGIBLE_LAG,
};
pub use merge::{merge, MergeError};
pub use outage_log::{
    parse_outage_log, OutageChange, OutageEventDoc, OutageLogError, OUTAGE_LOG_SCHEMA,
    OUTAGE_LOG_VERSION,
};

/// The version of the document's shape that this build writes.
pub const SCHEMA_VERSION: u32 = 2;

/// The versions this build reads.
pub const READABLE_VERSIONS: std::ops::RangeInclusive<u32> = 1..=SCHEMA_VERSION;

/// The JSON Schema of [`RunResult`] (version [`SCHEMA_VERSION`]), committed beside the
/// code and checked in tests.
pub const RESULT_SCHEMA: &str = include_str!("../schema/result.schema.json");

/// Why a document could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Not JSON, or not the shape of a result document.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A `schema_version` this build does not know.
    #[error(
        "schema_version {found} is not supported (this stampede reads versions {} to {}); \
         it was written by a newer stampede",
        READABLE_VERSIONS.start(),
        READABLE_VERSIONS.end()
    )]
    Version {
        /// The version found in the document.
        found: u32,
    },
}

impl RunConfig {
    /// What was loaded, in a few words: `GET http://...` or `scenario FILE against URL`.
    pub fn subject(&self) -> String {
        match &self.scenario_file {
            Some(file) => format!("scenario {file} against {}", self.url),
            // A replay's requests have their own methods.
            None if self.model == "replay" => format!("replay against {}", self.url),
            None => format!("{} {}", self.method, self.url),
        }
    }
}

impl RunResult {
    /// True when every threshold held (also when there are none).
    pub fn thresholds_passed(&self) -> bool {
        self.thresholds.iter().all(|t| t.passed)
    }

    /// Pretty JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the result document always serializes")
    }

    /// Reads a document written by [`RunResult::to_json`] (for example a saved `--out`
    /// file) of any version in [`READABLE_VERSIONS`].
    pub fn from_json(text: &str) -> Result<Self, ReadError> {
        #[derive(serde::Deserialize)]
        struct Version {
            schema_version: u32,
        }
        // Check the version first: a newer document may not fit today's types.
        if let Ok(Version { schema_version }) = serde_json::from_str::<Version>(text) {
            if !READABLE_VERSIONS.contains(&schema_version) {
                return Err(ReadError::Version {
                    found: schema_version,
                });
            }
        }
        Ok(serde_json::from_str(text)?)
    }
}
