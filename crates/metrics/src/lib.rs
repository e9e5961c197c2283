//! Measurement primitives for stampede: HDR latency histograms, request counters,
//! error classes and HTTP status tallies, all mergeable without loss.
//!
//! Workers record into thread-local [`Stats`]; every interval they hand a snapshot to
//! the collector, which merges snapshots from all threads (and, later, all machines).
//! Nothing here keeps individual samples, so memory stays bounded however long a run is.
//!
//! ```
//! use std::time::Duration;
//! use stampede_metrics::{ErrorClass, Stats};
//!
//! let mut a = Stats::new();
//! a.record_response(200, Duration::from_millis(3), Duration::from_millis(2));
//! let mut b = Stats::new();
//! b.record_error(ErrorClass::ConnectRefused);
//! a.merge(&b);
//! assert_eq!(a.requests, 2);
//! assert_eq!(a.errors, 1);
//! ```
#![deny(missing_docs)]

mod error_class;
mod histogram;
mod interval;
mod outcome;
mod protocol;
mod sparse;
mod stats;
mod status;

pub use error_class::{ClassCounts, ErrorClass};
pub use histogram::{HistogramError, LatencyHistogram, MAX_TRACKABLE_US};
pub use interval::IntervalPoint;
pub use outcome::{LiveSecond, RunOutcome, StartTiming};
pub use protocol::{Protocol, ProtocolCounts};
pub use sparse::SparseHistogram;
pub use stats::{GeneratorStats, Stats};
pub use status::StatusCounts;
