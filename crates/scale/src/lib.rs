//! Scalability sweeps: "1 machine gives 1,000 r/s; do 10 give 10,000?" One closed-model
//! run per step (N connections, N virtual users, or the first N instances), each judged on
//! its own window after a warm-up, then the Universal Scalability Law
//! (`stampede_usl`) fitted to the steps the generator could drive:
//! X(N) = λN / (1 + σ(N−1) + κN(N−1)).
//!
//! [`sweep`] drives any [`StepRunner`]: [`ClosedSteps`] runs real closed-model steps
//! through the experiment layer; [`InstanceSteps`] runs a capacity search
//! (`stampede_capacity`) against the first k instances, whose capacity at the SLO is the
//! step's throughput; tests use simulated systems. [`ScaleDoc::new`] fits the
//! steps and says the verdict; [`render_scale`] and [`render_scale_html`] show it.
//!
//! A step is left out of the fit, and says why, when the generator could not drive it (a
//! generator warning in the step's result: workers saturated, or CPU taken by other
//! processes), when it was stopped, or when nothing succeeded (an instance step: when its
//! search named no capacity).
//!
//! ```
//! use std::num::NonZeroUsize;
//! use stampede_scale::{parse_steps, sweep, ScaleDoc, ScaleError, StepDoc, StepRunner, SweepKind};
//! # use stampede_result::RunResult;
//! # fn a_result_of(n: usize) -> RunResult {
//! #     let mut r = RunResult::from_json(include_str!("../../result/tests/fixtures/v1-result.json")).unwrap();
//! #     r.generator.warnings.clear();
//! #     r.summary.elapsed_s = 1.0;
//! #     r.summary.core.errors = 0;
//! #     r.summary.core.timeouts = 0;
//! #     r.summary.core.requests = (100.0 * n as f64 / (1.0 + 0.05 * (n as f64 - 1.0))) as u64;
//! #     r
//! # }
//!
//! /// A system measured some other way (here: made up).
//! struct Simulated;
//! impl StepRunner for Simulated {
//!     fn run_step(&mut self, n: NonZeroUsize) -> Result<StepDoc, ScaleError> {
//!         Ok(StepDoc::judge(n.get() as u64, a_result_of(n.get())))
//!     }
//! }
//!
//! let steps = parse_steps("1,2,4,8,16,32").unwrap();
//! let measured = sweep(&steps, &mut Simulated, &mut |_| {}).unwrap();
//! let doc = ScaleDoc::new(SweepKind::Concurrency, "made up".into(), 0.0, 1.0, measured);
//! let fit = doc.fit.as_ref().unwrap();
//! assert!((fit.sigma - 0.05).abs() < 0.01, "{}", doc.verdict);
//! assert!(doc.verdict.starts_with("contention-limited"));
//! ```
#![deny(missing_docs)]

mod closed;
mod doc;
mod html;
mod instances;
mod render;
mod step;
mod steps;
mod sweep;
mod verdict;

pub use closed::ClosedSteps;
pub use doc::{ScaleDoc, SweepKind, SCALE_SCHEMA, SCALE_SCHEMA_VERSION};
pub use html::render_scale_html;
pub use instances::{InstanceSteps, OnSearchStep};
pub use render::{render_scale, render_steps};
pub use step::StepDoc;
pub use steps::{parse_steps, MAX_STEPS};
pub use sweep::{sweep, StepRunner};
pub use verdict::DECLINE;

/// Why a sweep could not be run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScaleError {
    /// A bad list of steps (names the entry).
    #[error("bad list of steps: {0}")]
    Steps(String),
    /// A plan that cannot be swept.
    #[error("{0}")]
    Plan(String),
    /// A step's run could not start or failed.
    #[error("a step's run failed: {0}")]
    Run(#[from] stampede_experiment::RunError),
}
