//! The flags that shape every run, a URL's or a scenario file's.

use stampede_plan::{RunPlanBuilder, ScopedThreshold, ThresholdScope};

use crate::args::{RunArgs, SHARD_INDEX_VAR};
use crate::UsageError;

/// The flags every run takes, scenario files included: stop, threads, connection reuse,
/// thresholds (after the file's), abort, timer slack, shard and start time. A usage
/// error when `--shard auto/N` finds no usable `JOB_COMPLETION_INDEX`.
pub(crate) fn with_run_flags<W>(
    mut plan: RunPlanBuilder<W>,
    a: &RunArgs,
) -> anyhow::Result<RunPlanBuilder<W>> {
    if let Some(shard) = a.shard {
        let index = std::env::var(SHARD_INDEX_VAR).ok();
        let shard = shard
            .resolve(index.as_deref())
            .map_err(|e| anyhow::Error::new(UsageError(e)))?;
        plan = plan.shard(shard);
    }
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
    Ok(plan
        .keep_alive(!a.request.no_keep_alive)
        .abort_on_fail(a.abort_on_fail)
        .start_at(a.start_at))
}
