//! A stampede run as a library call: [`start`] a plan, let [`Observer`]s see every
//! second, steer it through its [`Control`] while it goes on, and [`RunHandle::wait`] for
//! the result document and a typed [`Verdict`].
//!
//! ```
//! use std::num::NonZeroUsize;
//! use std::time::Duration;
//! use stampede_experiment::{start, Progress, Verdict};
//! use stampede_plan::{Arrival, Load, RateProfile, RunPlan, ScopedThreshold, Threshold};
//! # let server = stampede_testserver::TargetHandle::start(
//! #     stampede_testserver::TargetConfig::new("127.0.0.1:0".parse().unwrap()),
//! # ).unwrap();
//! # let url = format!("http://{}/", server.addrs()[0]);
//!
//! let plan = RunPlan::builder(url.as_str())
//!     .load(Load::Open {
//!         profile: RateProfile { start_rate: 100.0, stages: Vec::new() },
//!         arrival: Arrival::Uniform,
//!         max_connections: NonZeroUsize::new(50).unwrap(),
//!     })
//!     .duration(Duration::from_secs(2))
//!     .threshold(ScopedThreshold::total(Threshold::parse("error_rate < 1% over 1s").unwrap()))
//!     .build()
//!     .unwrap();
//! let run = start(plan, vec![Box::new(Progress::every(1))]);
//! std::thread::sleep(Duration::from_secs(1));
//! run.control().set_rate(300.0); // from now on, 300 requests per second
//! let finished = run.wait().unwrap();
//! assert!(finished.result.summary.core.requests > 200);
//! match finished.verdict {
//!     Verdict::Passed => println!("all criteria met"),
//!     Verdict::ThresholdsFailed { failed, .. } => panic!("failed: {}", failed[0].label()),
//!     Verdict::Aborted { reason } => panic!("aborted: {reason}"),
//!     _ => unreachable!(),
//! }
//! ```
//!
//! The engine runs on its own thread. Observers run on that thread too, once per second
//! of the run, in the order given; they must return quickly (the dashboard draws from its
//! own thread). The threshold check is always installed: it judges windowed criteria
//! (`error_rate < 1% over 10s`) every second, records their verdicts in the result, and
//! with the plan's `abort_on_fail` stops the run at the first failing criterion.
#![deny(missing_docs)]

mod clock;
mod contention;
mod dashboard;
pub mod distributed;
mod exporter;
pub mod faults;
mod observer;
mod progress;
mod scrape;
mod server_probe;
mod thresholds;
mod window;

use std::sync::Arc;
use std::thread::JoinHandle;

pub use contention::Contention;

pub use dashboard::{Dashboard, DashboardError};
pub use exporter::{Exporter, ExporterError, ExporterFeed};
pub use faults::{FaultError, FaultInjector, FaultSpec, OutageImport};
pub use observer::{Finish, Flow, Observer};
pub use progress::Progress;
pub use scrape::{
    Selector, ServerMetrics, ServerMetricsConfig, ServerMetricsError, QUERY_TIMEOUT, SCRAPE_TIMEOUT,
};
pub use server_probe::{ProbeError, ServerProbe};
pub use stampede_analysis::{ContentionFacts, ThresholdOutcome};
pub use stampede_engine::{Control, EngineError, LiveSecond, RunOutcome};
/// The result document a run produces.
pub use stampede_result::RunResult;
pub use window::{WarmupRecorder, Window};

use stampede_plan::RunPlan;

/// How a run ended, for a caller that must decide (the CLI maps it to exit codes
/// 0 / 1 / 3).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Verdict {
    /// The run completed and every criterion held (also when there were none).
    Passed,
    /// At least one criterion failed (or had no data to judge).
    ThresholdsFailed {
        /// The failed criteria.
        failed: Vec<ThresholdOutcome>,
        /// The criterion the run was stopped early for (`abort_on_fail`), as judged
        /// then.
        stopped_by: Option<ThresholdOutcome>,
    },
    /// The run was stopped before its end for another reason.
    Aborted {
        /// Why, e.g. "stopped by the user".
        reason: String,
    },
}

/// Why a run could not produce a result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The engine could not start (resolution, TLS setup, threads).
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// What a finished run gives back.
#[derive(Debug)]
pub struct Finished {
    /// The result document (what `--out` writes).
    pub result: RunResult,
    /// The engine's raw measurements the document was assembled from.
    pub outcome: RunOutcome,
    /// How it ended.
    pub verdict: Verdict,
    /// How much CPU other processes took from the workers (`None` where `/proc` does
    /// not say); the generator warnings' causes are judged from it.
    pub contention: Option<ContentionFacts>,
}

/// A run going on: control it, then wait for its end.
#[derive(Debug)]
pub struct RunHandle {
    control: Arc<Control>,
    thread: JoinHandle<Result<Finished, RunError>>,
}

impl RunHandle {
    /// The run's control: change the open model's target rate, or stop the run.
    pub fn control(&self) -> &Arc<Control> {
        &self.control
    }

    /// Waits for the end of the run. A panic on the run's thread is resumed here.
    pub fn wait(self) -> Result<Finished, RunError> {
        match self.thread.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// Starts `plan` on its own thread with a new control; see [`start_with`].
pub fn start(plan: RunPlan, observers: Vec<Box<dyn Observer>>) -> RunHandle {
    start_with(plan, observers, Control::new())
}

/// Starts `plan` on its own thread, steered by `control` (for example one whose stop
/// flag a signal handler sets). Each observer's [`Observer::on_start`] runs first, on the
/// calling thread.
pub fn start_with(
    plan: RunPlan,
    mut observers: Vec<Box<dyn Observer>>,
    control: Arc<Control>,
) -> RunHandle {
    for o in &mut observers {
        o.on_start(&control);
    }
    let thread = {
        let control = control.clone();
        std::thread::Builder::new()
            .name("stampede-run".into())
            .spawn(move || run(&plan, observers, &control))
            .expect("spawning the run thread")
    };
    RunHandle { control, thread }
}

/// Runs `plan` on the calling thread: [`start_with`] without the thread.
pub fn run(
    plan: &RunPlan,
    mut observers: Vec<Box<dyn Observer>>,
    control: &Arc<Control>,
) -> Result<Finished, RunError> {
    let mut thresholds = thresholds::ThresholdWatch::new(plan);
    let mut contention = Contention::start();
    let mut stopped_by: Option<Flow> = None;
    let outcome = stampede_engine::run(plan, control.clone(), |live| {
        contention.sample();
        let flows = std::iter::once(thresholds.on_second(live))
            .chain(observers.iter_mut().map(|o| o.on_second(live)));
        for flow in flows {
            if let Flow::Stop { .. } = &flow {
                if stopped_by.is_none() {
                    stopped_by = Some(flow);
                    control.stop();
                }
            }
        }
    });
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            for o in &mut observers {
                o.on_abandon();
            }
            return Err(e.into());
        }
    };
    let contention = contention.finish();
    let mut result = assemble(plan, &outcome, &contention);
    thresholds.finish(&mut result);
    let mut finish = Finish {
        plan,
        outcome: &outcome,
        result: &mut result,
    };
    for o in &mut observers {
        o.on_finish(&mut finish);
    }
    let verdict = verdict(&result, &outcome, stopped_by);
    Ok(Finished {
        result,
        outcome,
        verdict,
        contention,
    })
}

/// The one place where the result document is assembled from what the engine measured.
fn assemble(plan: &RunPlan, outcome: &RunOutcome, contention: &contention::Facts) -> RunResult {
    let mut result = stampede_analysis::assemble(plan, outcome);
    contention::classify(&mut result, contention);
    result
}

fn verdict(result: &RunResult, outcome: &RunOutcome, stopped_by: Option<Flow>) -> Verdict {
    let mut failed: Vec<ThresholdOutcome> = result
        .thresholds
        .iter()
        .filter(|t| !t.passed)
        .cloned()
        .collect();
    let mut reason = None;
    let mut stopped_for = None;
    if let Some(Flow::Stop {
        reason: why,
        failed: f,
    }) = stopped_by
    {
        match f {
            Some(t) => {
                if !failed.iter().any(|x| x.label() == t.label()) {
                    failed.push(t.clone());
                }
                stopped_for = Some(t);
            }
            None => reason = Some(why),
        }
    }
    if !failed.is_empty() {
        return Verdict::ThresholdsFailed {
            failed,
            stopped_by: stopped_for,
        };
    }
    if outcome.aborted {
        return Verdict::Aborted {
            reason: reason.unwrap_or_else(|| "stopped by the user".to_string()),
        };
    }
    Verdict::Passed
}
