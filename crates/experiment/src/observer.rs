//! What watches a run: the [`Observer`] trait.

use std::sync::Arc;

use stampede_engine::{LiveSecond, RunOutcome};
use stampede_plan::RunPlan;

use crate::{Control, RunResult, ThresholdOutcome};

/// What an observer wants after a second.
#[derive(Debug, Clone, PartialEq)]
pub enum Flow {
    /// Go on.
    Continue,
    /// Stop the run now.
    Stop {
        /// Why, in words.
        reason: String,
        /// The criterion that failed, when that is the reason.
        failed: Option<ThresholdOutcome>,
    },
}

/// The end of a run as observers see it: they may add to the result document (a server
/// probe adds its figures) before it is returned.
#[derive(Debug)]
pub struct Finish<'a> {
    /// The plan that ran.
    pub plan: &'a RunPlan,
    /// What the engine measured.
    pub outcome: &'a RunOutcome,
    /// The assembled result document.
    pub result: &'a mut RunResult,
}

/// Watches a run second by second: a live view, progress lines, an exporter, a probe.
///
/// Every method runs on the run's thread except [`Observer::on_start`]; all must return
/// quickly, since the engine's collector waits for them.
pub trait Observer: Send {
    /// The run is about to start, steered by `control`.
    fn on_start(&mut self, control: &Arc<Control>) {
        let _ = control;
    }

    /// One second of the run completed (all workers merged).
    fn on_second(&mut self, live: &LiveSecond<'_>) -> Flow;

    /// The run ended; `finish` holds its result document.
    fn on_finish(&mut self, finish: &mut Finish<'_>) {
        let _ = finish;
    }

    /// The run could not start or failed; release what the observer holds (a terminal).
    fn on_abandon(&mut self) {}
}
