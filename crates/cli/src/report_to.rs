//! `stampede run --report-to URL`: the worker's side of a coordinated run.

use stampede_experiment::distributed::wire::Hello;
use stampede_experiment::distributed::Reporter;
use stampede_experiment::Observer;
use stampede_plan::RunPlan;

use crate::args::RunArgs;
use crate::UsageError;

/// The worker's side of `--report-to`: the plan it runs and its reporter. The plan's
/// pass/fail criteria and `--abort-on-fail` travel in the hello and are judged by the
/// coordinator on the merged run, so the worker runs without them: a quarter of the
/// load judged alone would pass or fail for the wrong reason. Without `--report-to`,
/// the plan as it is and no reporter.
pub(crate) fn worker(
    a: &RunArgs,
    mut plan: RunPlan,
) -> anyhow::Result<(RunPlan, Vec<Box<dyn Observer>>)> {
    let Some(url) = &a.report_to else {
        return Ok((plan, Vec::new()));
    };
    let hello = Hello::for_plan(&plan, workload_hash(a)?);
    let r = Reporter::new(url, hello).map_err(|e| UsageError(e.to_string()))?;
    if !plan.thresholds.is_empty() && !a.quiet {
        let n = plan.thresholds.len();
        eprintln!(
            "stampede: {n} criteri{} judged by the coordinator on the merged run, not on this worker's share",
            if n == 1 { "on is" } else { "a are" }
        );
    }
    plan.thresholds.clear();
    plan.abort_on_fail = false;
    Ok((plan, vec![Box::new(r)]))
}

/// Identifies the workload every worker must share: the scenario file's bytes, or the
/// request flags (method, URL, headers, body); not the load, which differs by shard.
fn workload_hash(a: &RunArgs) -> anyhow::Result<String> {
    let mut text: Vec<u8> = Vec::new();
    if crate::scenario_cmd::is_scenario(&a.url) {
        text =
            std::fs::read(&a.url).map_err(|e| UsageError(format!("cannot read {}: {e}", a.url)))?;
    } else {
        text.extend(a.request.method.to_ascii_uppercase().bytes());
        text.push(0);
        text.extend(a.url.bytes());
        for (k, v) in &a.request.headers {
            text.push(0);
            text.extend(k.bytes());
            text.push(b':');
            text.extend(v.bytes());
        }
        text.push(0);
        text.extend(a.request.body.as_deref().unwrap_or_default().bytes());
    }
    if let Some(base) = &a.request.base_url {
        text.push(0);
        text.extend(base.bytes());
    }
    // FNV-1a, 64 bits: a fingerprint, not a security measure.
    let hash = text.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    Ok(format!("{hash:016x}"))
}
