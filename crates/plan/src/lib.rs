//! The validated description of one run: a [`RunPlan`], made with [`RunPlan::builder`]
//! (one request, repeated) or [`RunPlan::scenario_builder`] (a scenario file's journeys).
//! Its [`Workload`] says exactly what runs; nothing in it is there only for reports.
//!
//! Flags and scenario files are parsed at the edge into real types and checked here
//! once, so the engine never sees a sentinel string or an impossible combination.
//! This crate is pure: no sockets, no runtime.
//!
//! The building blocks of scenario steps live in the `stampede-script` crate and are
//! re-exported here: [`template`] (request templates compiled once, rendered per
//! request), [`feeder`] (CSV data), [`extract`] (values taken from responses) and
//! [`check`] (assertions on responses).
//!
//! ```
//! use stampede_plan::{parse_stage, Target};
//! let target = Target::parse("http://127.0.0.1:8080/hello?x=1").unwrap();
//! assert_eq!(target.port, 8080);
//! assert_eq!(target.path_and_query, "/hello?x=1");
//! let stage = parse_stage("10s:2000").unwrap();
//! assert_eq!(stage.target_rate, 2000.0);
//! ```
#![deny(missing_docs)]

mod builder;
pub mod cumulative;
mod load;
mod parse;
mod redact;
mod replay;
mod run_plan;
pub mod scenario;
pub mod schedule;
mod shard;
mod start_at;
mod target;
pub mod threshold;

pub use cumulative::Cumulative;
pub use stampede_script::{check, extract, feeder, template};
pub use stampede_script::{
    Check, Extractor, Feeder, FeederError, FeederMode, RenderContext, ResponseView, StatusMatch,
    Template, TemplateError, VarId, VarTable,
};

pub use builder::{RequestsDraft, RunPlanBuilder};
pub use load::{Arrival, Load, RateProfile, Stage};
pub use parse::{parse_duration, parse_header, parse_stage};
pub use redact::redact_url;
pub use replay::{ReplayArrival, ReplayFeed, ReplaySource};
pub use run_plan::{
    GroupBy, HttpVersion, PlanError, RequestSpec, RequestWorkload, RunPlan, StopCondition,
    TlsOptions, Workload, DEFAULT_CONNECTIONS, DEFAULT_DURATION, DEFAULT_TIMEOUT,
    DEFAULT_TIMER_SLACK,
};
pub use shard::{Shard, MAX_SHARDS};
pub use start_at::{parse_start_at, START_AT_TOLERANCE};
pub use target::{Scheme, Target};
pub use threshold::{Comparison, ScopedThreshold, Threshold, ThresholdMetric, ThresholdScope};
