//! Pure functions over measurements: the result document of a run ([`assemble`]),
//! summaries of a run or a group, the checks that tell whether the load generator itself
//! limited the result, thresholds, run comparison ([`compare`]) and which axis of a
//! matrix explains a metric ([`variance`]), and what each fault of a run did to it
//! ([`faults`]: before, during, after and the recovery time). No I/O, and no
//! dependency on the engine: the engine's measurements arrive as plain data
//! ([`stampede_metrics::RunOutcome`]).
//!
//! ```
//! use std::time::Duration;
//! use stampede_analysis::Summary;
//! use stampede_metrics::Stats;
//!
//! let mut s = Stats::new();
//! s.record_response(200, Duration::from_millis(4), Duration::from_millis(3));
//! let sum = Summary::new(&s, Duration::from_secs(1), None);
//! assert_eq!(sum.requests, 1);
//! assert_eq!(sum.achieved_rate, 1.0);
//! ```
#![deny(missing_docs)]

mod assemble;
pub mod bottleneck;
pub mod compare;
pub mod faults;
pub mod figures;
mod generator;
pub mod per_day;
mod summary;
pub mod thresholds;
pub mod variance;

pub use assemble::assemble;
pub use generator::{
    check_generator, needed_share, ContentionFacts, GeneratorFacts, GeneratorWarning, LagEffect,
    WarningCause, WarningKind, BUSY_LIMIT, CONTENTION_LIMIT, LATE_LIMIT, NEGLIGIBLE_LAG,
};
pub use summary::{Percentiles, Summary};
pub use thresholds::ThresholdOutcome;
