//! Driving a sweep: one measured step after another, through a [`StepRunner`].

use std::num::NonZeroUsize;

use stampede_result::RunResult;

use crate::{ScaleError, StepDoc};

/// Measures one step: runs the system at size `n` and returns the result document of the
/// step's measured window. [`ClosedSteps`](crate::ClosedSteps) does it with closed-model
/// runs; tests use simulated systems.
pub trait StepRunner {
    /// Runs the step of size `n`.
    fn run_step(&mut self, n: NonZeroUsize) -> Result<RunResult, ScaleError>;
}

/// Runs every step of `steps` in order, judging each (see [`StepDoc::judge`]) and handing
/// it to `on_step` as soon as it is measured. A step that was stopped (the user pressed
/// Ctrl-C) ends the sweep: the steps measured so far are returned.
pub fn sweep(
    steps: &[NonZeroUsize],
    runner: &mut dyn StepRunner,
    on_step: &mut dyn FnMut(&StepDoc),
) -> Result<Vec<StepDoc>, ScaleError> {
    let mut out = Vec::with_capacity(steps.len());
    for &n in steps {
        let step = StepDoc::judge(n.get() as u64, runner.run_step(n)?);
        on_step(&step);
        let stopped = step.result.aborted;
        out.push(step);
        if stopped {
            break;
        }
    }
    Ok(out)
}
