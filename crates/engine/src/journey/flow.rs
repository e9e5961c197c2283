//! What a step leaves: the flow after it, and the failures of steps that are the
//! journey's own (a variable not set, a check or extraction that failed).

use stampede_metrics::ErrorClass;
use stampede_plan::VarId;

use super::JourneyRuntime;
use crate::state::LocalRef;

/// What to do after a step.
#[derive(PartialEq)]
pub(super) enum Flow {
    Next,
    /// End this iteration: the run is stopping.
    Stop,
    /// End this iteration: a step failed in a way that makes the rest pointless (a
    /// needed value is missing, the WebSocket is gone).
    Abandon,
}

/// Counts a step that needs a variable no extraction set: the iteration ends.
pub(super) fn missing(local: &LocalRef, rt: &JourneyRuntime, group: usize, var: VarId) -> Flow {
    let mut l = local.borrow_mut();
    l.record(Some(group), |s| s.record_error(ErrorClass::ExtractFailed));
    let name = rt.journeys.vars.name(var).to_string();
    l.sample(
        ErrorClass::ExtractFailed,
        Some(format!(
            "{}: variable '{name}' is not set (an earlier extraction found nothing)",
            rt.keys[group]
        )),
    );
    Flow::Abandon
}

/// Counts a failed check or extraction for a step whose response was already recorded:
/// one more error of `class`, unless the response already counted as an error of class
/// `counted` (a 4xx or 5xx status, or an earlier failure of the same response). The
/// message is sampled under the class that was counted, so that every sample's class has
/// a count.
pub(super) fn fail_step(
    local: &LocalRef,
    group: usize,
    class: ErrorClass,
    counted: Option<ErrorClass>,
    message: impl FnOnce() -> String,
) {
    let mut l = local.borrow_mut();
    if counted.is_none() {
        l.record(Some(group), |s| {
            s.errors += 1;
            s.errors_by_class.add(class);
        });
    }
    l.sample(counted.unwrap_or(class), Some(message()));
}
