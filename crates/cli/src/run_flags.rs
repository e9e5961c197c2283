//! The flags that shape every run, a URL's or a scenario file's.

use stampede_plan::{RunPlanBuilder, ScopedThreshold, ThresholdScope};

use crate::args::RunArgs;

/// The flags every run takes, scenario files included: stop, threads, connection reuse,
/// thresholds (after the file's), abort and timer slack.
pub(crate) fn with_run_flags<W>(mut plan: RunPlanBuilder<W>, a: &RunArgs) -> RunPlanBuilder<W> {
    if let Some(d) = a.duration {
        plan = plan.duration(d);
    }
    if let Some(n) = a.requests {
        plan = plan.requests(n);
    }
    if let Some(n) = a.threads {
        plan = plan.threads(n);
    }
    for t in &a.thresholds {
        plan = plan.threshold(ScopedThreshold {
            scope: ThresholdScope::Total,
            threshold: t.clone(),
        });
    }
    if let Some(slack) = a.timer_slack {
        plan = plan.timer_slack(slack);
    }
    plan.keep_alive(!a.no_keep_alive)
        .abort_on_fail(a.abort_on_fail)
}
