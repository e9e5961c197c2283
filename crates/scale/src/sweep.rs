//! Driving a sweep: one measured step after another, through a [`StepRunner`].

use std::num::NonZeroUsize;

use crate::{ScaleError, StepDoc};

/// Measures one step: runs the system at size `n` and judges it.
/// [`ClosedSteps`](crate::ClosedSteps) runs closed-model steps judged on their window
/// ([`StepDoc::judge`]), [`InstanceSteps`](crate::InstanceSteps) searches the capacity of
/// the first `n` instances; tests use simulated systems.
pub trait StepRunner {
    /// Runs the step of size `n`.
    fn run_step(&mut self, n: NonZeroUsize) -> Result<StepDoc, ScaleError>;
}

/// Runs every step of `steps` in order, handing each to `on_step` as soon as it is
/// measured. A step that was stopped (the user pressed
/// Ctrl-C) ends the sweep: the steps measured so far are returned.
pub fn sweep(
    steps: &[NonZeroUsize],
    runner: &mut dyn StepRunner,
    on_step: &mut dyn FnMut(&StepDoc),
) -> Result<Vec<StepDoc>, ScaleError> {
    let mut out = Vec::with_capacity(steps.len());
    for &n in steps {
        let step = runner.run_step(n)?;
        on_step(&step);
        let stopped = step.stopped();
        out.push(step);
        if stopped {
            break;
        }
    }
    Ok(out)
}
