//! `stampede coordinator` (a distributed run merged live) and the worker's side of it,
//! `stampede run --report-to URL`.

use stampede_experiment::distributed::wire::Hello;
use stampede_experiment::distributed::{
    Coordinated, Coordinator, CoordinatorConfig, CoordinatorError, Reporter,
};
use stampede_experiment::Observer;
use stampede_plan::{RunPlan, ScopedThreshold, ThresholdScope};

use crate::args::{CoordinatorArgs, RunArgs};
use crate::{UsageError, EXIT_ABORTED};

/// The reporter `--report-to` asks for (none without it).
pub(crate) fn reporter(a: &RunArgs, plan: &RunPlan) -> anyhow::Result<Vec<Box<dyn Observer>>> {
    let Some(url) = &a.report_to else {
        return Ok(Vec::new());
    };
    let hello = Hello::for_plan(plan, workload_hash(a)?, None, None);
    let r = Reporter::new(url, hello).map_err(|e| UsageError(e.to_string()))?;
    Ok(vec![Box::new(r)])
}

/// Identifies the workload every worker must share: the scenario file's bytes, or the
/// request flags (method, URL, headers, body); not the load, which differs by shard.
fn workload_hash(a: &RunArgs) -> anyhow::Result<String> {
    let mut text: Vec<u8> = Vec::new();
    if crate::scenario_cmd::is_scenario(&a.url) {
        text = std::fs::read(&a.url)
            .map_err(|e| UsageError(format!("cannot read {}: {e}", a.url)))?;
    } else {
        text.extend(a.method.to_ascii_uppercase().bytes());
        text.push(0);
        text.extend(a.url.bytes());
        for (k, v) in &a.headers {
            text.push(0);
            text.extend(k.bytes());
            text.push(b':');
            text.extend(v.bytes());
        }
        text.push(0);
        text.extend(a.body.as_deref().unwrap_or_default().bytes());
    }
    if let Some(base) = &a.base_url {
        text.push(0);
        text.extend(base.bytes());
    }
    // FNV-1a, 64 bits: a fingerprint, not a security measure.
    let hash = text.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    Ok(format!("{hash:016x}"))
}

pub(crate) fn run(a: CoordinatorArgs) -> anyhow::Result<u8> {
    crate::outputs::check_run_outputs(a.out.as_deref(), &a.output)?;
    let coordinator = Coordinator::bind(CoordinatorConfig {
        listen: a.listen,
        workers: a.workers,
        wait: a.wait,
        lost_after: a.lost_after,
        thresholds: a
            .thresholds
            .iter()
            .map(|t| ScopedThreshold {
                scope: ThresholdScope::Total,
                threshold: t.clone(),
            })
            .collect(),
        abort_on_fail: a.abort_on_fail,
        group_by_worker: a.group_by.is_some(),
    })
    .map_err(|e| UsageError(format!("--listen: {e}")))?;
    let control = coordinator.control().clone();
    crate::outputs::stop_on_signals(control.stop_flag())?;
    // Announced even with --quiet: with port 0 this is the only way to learn the port.
    eprintln!(
        "stampede: coordinator on http://{}/ waiting for {} worker{} (up to {} s)",
        coordinator.addr(),
        a.workers,
        if a.workers == 1 { "" } else { "s" },
        a.wait.as_secs()
    );
    let plan = match coordinator.wait_for_workers() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("stampede: {e}");
            return Ok(EXIT_ABORTED);
        }
    };
    if !a.quiet {
        eprintln!(
            "stampede: all {} workers are here: {}",
            a.workers,
            plan.subject()
        );
    }
    let (mut observers, exporter) = crate::run_cmd::output_observers(&plan, &a.output)?;
    observers.extend(crate::run_cmd::watcher(&plan, a.quiet, a.output.no_dashboard));
    let Coordinated {
        result, verdict, ..
    } = match coordinator.run(&plan, observers) {
        Ok(c) => c,
        Err(e @ (CoordinatorError::NoResult | CoordinatorError::Merge(_))) => {
            eprintln!("stampede: {e}");
            return Ok(EXIT_ABORTED);
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(c) = &result.coordinator {
        if c.partial {
            let missing: Vec<String> = c
                .workers
                .iter()
                .filter(|w| w.status != "finished")
                .map(|w| format!("worker {}", w.index))
                .collect();
            eprintln!(
                "stampede: warning: the result is partial: {} of {} workers finished \
                 ({} missing: lost)",
                c.workers.len() - missing.len(),
                c.workers_expected,
                missing.join(", ")
            );
        }
    }
    crate::run_cmd::report(
        &result,
        &verdict,
        a.out.as_deref(),
        a.quiet,
        &a.output,
        exporter,
        &control,
    )
}
