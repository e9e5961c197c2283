//! `stampede coordinator`: a distributed run merged live (the workers' side is
//! `report_to.rs`).

use stampede_experiment::distributed::{
    Coordinated, Coordinator, CoordinatorConfig, CoordinatorError,
};
use stampede_plan::{ScopedThreshold, ThresholdScope};

use crate::args::CoordinatorArgs;
use crate::{UsageError, EXIT_ABORTED};

/// The shortest `--lost-after`: a healthy worker is silent for about a second between two
/// messages, so anything near one second would declare healthy workers lost.
const MIN_LOST_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

pub(crate) fn run(a: CoordinatorArgs) -> anyhow::Result<u8> {
    crate::outputs::check_run_outputs(a.out.as_deref(), &a.output)?;
    if a.lost_after < MIN_LOST_AFTER {
        return Err(UsageError(format!(
            "--lost-after must be at least {} s: a worker reports once a second, so a shorter silence is normal",
            MIN_LOST_AFTER.as_secs()
        ))
        .into());
    }
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
    observers.extend(crate::run_cmd::watcher(
        &plan,
        a.quiet,
        a.output.no_dashboard,
    ));
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
    print!("{}", stampede_report::render_table(&result));
    let code = crate::run_cmd::report(
        &result,
        &verdict,
        a.out.as_deref(),
        a.quiet,
        &a.output,
        exporter,
        &control,
    )?;
    // A partial result passed its criteria on part of the load only: the run did not
    // complete as planned (a failed criterion keeps its exit code 1).
    let partial = result.coordinator.as_ref().is_some_and(|c| c.partial);
    Ok(if partial && code == crate::EXIT_OK {
        EXIT_ABORTED
    } else {
        code
    })
}
