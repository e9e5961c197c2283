//! Recorded traffic for `stampede replay`: nginx and Apache access logs (the combined
//! format, plus `$request_time`, `$msec` or Apache `%D`) and HAR 1.2 files, gzip or not,
//! read as a stream of [`ReplayArrival`](stampede_plan::ReplayArrival)s for the engine.
//!
//! * [`access`] and [`har`] parse; [`route`] folds paths into patterns;
//! * [`schedule`] is the timing, pure: a bounded reorder window, requests of one log
//!   second spread evenly over it, recorded offsets divided by the speed (long gaps
//!   shortened) or a fixed rate, and loops;
//! * [`Replay`] ties them to a file, read ahead on its own thread so that the engine's
//!   workers never wait on the disk or on gunzip, and counts what could not be replayed
//!   as recorded ([`Notes`]), each said as one warning line.
//!
//! ```
//! use stampede_replay::route_of;
//! assert_eq!(route_of("GET", "/users/123?tab=2"), "GET /users/:id");
//! ```
#![deny(missing_docs)]

pub mod access;
mod feed;
mod filter;
pub mod har;
mod input;
mod notes;
mod record;
pub mod route;
pub mod schedule;
mod source;

pub use feed::{Replay, READ_AHEAD};
pub use filter::{Filter, StatusPattern};
pub use notes::Notes;
pub use record::{Record, Stamp};
pub use route::route_of;
pub use schedule::Pace;
pub use source::{OriginalTimes, ReplayOptions};

/// The default reorder window, in records.
pub const DEFAULT_WINDOW: usize = 10_000;

/// A file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A HAR when the file starts with `{`, else an nginx access log.
    Auto,
    /// nginx access log.
    Nginx,
    /// Apache access log.
    Apache,
    /// HAR 1.2.
    Har,
}

/// Why a replay cannot start.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The file cannot be opened or read.
    #[error("cannot read {0}: {1}")]
    Open(String, String),
    /// The HAR is not valid JSON of the HAR shape.
    #[error("{0} is not a HAR file: {1}")]
    Har(String, String),
}
