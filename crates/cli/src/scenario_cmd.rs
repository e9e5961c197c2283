//! `stampede run FILE.toml`: a scenario file -> RunPlan.

use std::num::{NonZeroU64, NonZeroUsize};
use std::path::Path;
use std::sync::Arc;

use stampede_plan::scenario::{load_file, JourneyLoad, Journeys};
use stampede_plan::{
    GroupBy, Load, RequestSpec, RunPlan, ScopedThreshold, StopCondition, Target, ThresholdScope,
};

use crate::args::RunArgs;
use crate::UsageError;

/// True when `arg` names a scenario file rather than a URL.
pub(crate) fn is_scenario(arg: &str) -> bool {
    !arg.contains("://") && (arg.ends_with(".toml") || Path::new(arg).is_file())
}

/// Reads and validates the file, then builds the plan; flags that the file decides are
/// refused.
pub(crate) fn plan_from_file(a: &RunArgs) -> anyhow::Result<RunPlan> {
    let usage = |m: String| anyhow::Error::new(UsageError(m));
    let set_in_file = [
        ("--rate", a.rate.is_some()),
        ("--stage", !a.stages.is_empty()),
        ("--connections", a.connections.is_some()),
        ("--clients", a.clients.is_some()),
        ("--method", a.method != "GET"),
        ("--header", !a.headers.is_empty()),
        ("--body", a.body.is_some() || a.body_file.is_some()),
        ("--http2", a.http2),
        ("--insecure", a.insecure),
        ("--cacert", a.cacert.is_some()),
        ("--cert", a.cert.is_some()),
        ("--group-by", a.group_by.is_some()),
        ("--connect-to", !a.connect_to.is_empty()),
    ];
    if let Some((flag, _)) = set_in_file.iter().find(|(_, set)| *set) {
        return Err(usage(format!(
            "{flag} does not apply to a scenario file: set it in {} (see docs/scenarios.md)",
            a.url
        )));
    }
    let mut journeys = load_file(Path::new(&a.url)).map_err(|e| usage(e.to_string()))?;
    if let Some(url) = &a.base_url {
        let base = Target::parse(url).map_err(|e| usage(format!("--base-url: {e}")))?;
        journeys.targets[0].base = base;
    }
    Ok(plan_for(Arc::new(journeys), a))
}

fn plan_for(journeys: Arc<Journeys>, a: &RunArgs) -> RunPlan {
    let first = &journeys.targets[0];
    // The load the report describes: the file's, unless every scenario has its own (then
    // the first scenario's). An open lane anywhere makes the run scheduled.
    let shown = match journeys.scenarios.iter().all(|s| s.load.is_some()) {
        true => journeys.scenarios[0]
            .load
            .as_ref()
            .unwrap_or(&journeys.load),
        false => &journeys.load,
    };
    let open_somewhere = journeys
        .scenarios
        .iter()
        .any(|s| matches!(s.load.as_ref().unwrap_or(shown), JourneyLoad::Open { .. }));
    let shown = match (shown, open_somewhere) {
        (JourneyLoad::Closed { .. }, true) => journeys
            .scenarios
            .iter()
            .filter_map(|s| s.load.as_ref())
            .find(|l| matches!(l, JourneyLoad::Open { .. }))
            .unwrap_or(shown),
        _ => shown,
    };
    let load = match shown {
        JourneyLoad::Open {
            profile,
            arrival,
            max_vus,
        } => Load::Open {
            profile: profile.clone(),
            arrival: *arrival,
            max_connections: NonZeroUsize::new(*max_vus).unwrap_or(NonZeroUsize::MIN),
        },
        JourneyLoad::Closed { profile } => Load::Closed {
            connections: NonZeroUsize::new(profile.peak_rate().round() as usize)
                .unwrap_or(NonZeroUsize::MIN),
        },
    };
    let mut thresholds = journeys.thresholds.clone();
    thresholds.extend(a.thresholds.iter().map(|t| ScopedThreshold {
        scope: ThresholdScope::Total,
        threshold: t.clone(),
    }));
    RunPlan {
        target: first.base.clone(),
        request: RequestSpec::default(),
        load,
        stop: StopCondition {
            duration: Some(a.duration.unwrap_or(journeys.duration)),
            requests: a.requests.and_then(NonZeroU64::new),
        },
        timeout: journeys.timeout,
        threads: a
            .threads
            .and_then(NonZeroUsize::new)
            .unwrap_or_else(crate::args::default_threads),
        keep_alive: !a.no_keep_alive,
        group_by: Some(GroupBy::Step),
        connect_to: Vec::new(),
        tls: first.tls.clone(),
        http: first.http,
        thresholds,
        abort_on_fail: a.abort_on_fail,
        timer_slack: a.timer_slack,
        journeys: Some(journeys),
    }
}
