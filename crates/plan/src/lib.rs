//! The validated description of one run: a [`RunPlan`].
//!
//! Flags (and, later, scenario files) are parsed at the edge into real types and checked
//! here once, so the engine never sees a sentinel string or an impossible combination.
//! This crate is pure: no sockets, no runtime.
//!
//! The building blocks of scenario files live in their own modules: [`template`] (request
//! templates compiled once, rendered per request), [`feeder`] (CSV data), [`extract`]
//! (values taken from responses) and [`check`] (assertions on responses).
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

pub mod check;
pub mod cumulative;
pub mod extract;
pub mod feeder;
mod parse;
mod redact;
mod run_plan;
pub mod scenario;
pub mod template;
pub mod threshold;

pub use check::{Check, StatusMatch};
pub use cumulative::Cumulative;
pub use extract::{Extractor, ResponseView};
pub use feeder::{Feeder, FeederError, FeederMode};

pub use parse::{parse_duration, parse_header, parse_stage};
pub use redact::redact_url;
pub use run_plan::{
    Arrival, GroupBy, HttpVersion, Load, PlanError, RateProfile, RequestSpec, RunPlan, Scheme,
    Stage, StopCondition, Target, TlsOptions, DEFAULT_DURATION, DEFAULT_TIMER_SLACK,
};
pub use template::{RenderContext, Template, TemplateError, VarId, VarTable};
pub use threshold::{Comparison, ScopedThreshold, Threshold, ThresholdMetric, ThresholdScope};
