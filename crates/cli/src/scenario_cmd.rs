//! `stampede run FILE.toml`: a scenario file -> RunPlan.

use std::path::Path;
use std::sync::Arc;

use stampede_plan::{RunPlan, Target};
use stampede_scenario::{load_file, Journeys};

use crate::args::RunArgs;
use crate::request_args::set_in_file_error;
use crate::UsageError;

/// True when `arg` names a scenario file rather than a URL.
pub(crate) fn is_scenario(arg: &str) -> bool {
    !arg.contains("://") && (arg.ends_with(".toml") || Path::new(arg).is_file())
}

/// Reads and validates the file, then builds the plan; flags that the file decides are
/// refused.
pub(crate) fn plan_from_file(a: &RunArgs) -> anyhow::Result<RunPlan> {
    refuse_flags_set_in_file(a)?;
    let journeys = load_file(Path::new(&a.url)).map_err(|e| UsageError(e.to_string()))?;
    plan_from_journeys(a, journeys)
}

/// Flags that a scenario file decides are usage errors.
pub(crate) fn refuse_flags_set_in_file(a: &RunArgs) -> anyhow::Result<()> {
    let set_in_file = [
        ("--rate", a.rate.is_some()),
        ("--stage", !a.stages.is_empty()),
        ("--connections", a.connections.is_some()),
        ("--clients", a.clients.is_some()),
        ("--group-by", a.group_by.is_some()),
    ];
    if let Some((flag, _)) = set_in_file.iter().find(|(_, set)| *set) {
        return Err(set_in_file_error(flag, &a.url));
    }
    a.request.refuse_for_scenario(&a.url)
}

/// The plan of validated journeys with the run's flags (`--base-url` replaces the
/// default target's).
pub(crate) fn plan_from_journeys(a: &RunArgs, mut journeys: Journeys) -> anyhow::Result<RunPlan> {
    let usage = |m: String| anyhow::Error::new(UsageError(m));
    if let Some(url) = &a.request.base_url {
        let base = Target::parse(url).map_err(|e| usage(format!("--base-url: {e}")))?;
        journeys.targets[0].base = base;
    }
    let plan = RunPlan::scenario_builder(Arc::new(journeys));
    crate::run_flags::with_run_flags(plan, a)?
        .build()
        .map_err(|e| usage(e.to_string()))
}
