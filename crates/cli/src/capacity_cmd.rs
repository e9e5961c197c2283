//! `stampede capacity`: flags -> a search spec -> the steered run -> table, JSON, HTML.
//!
//! Exit codes: 0 when a rate was named (a capacity, or no failure up to --max-rate), 1
//! when the SLOs failed even at the minimum rate, 2 for bad usage, 3 when no answer can
//! be given (generator-limited, stopped, or the step budget spent).

use std::time::Duration;

use anyhow::Context;
use stampede_capacity::{render_html, render_text, search, validate, SearchSpec, StepDoc, Verdict};
use stampede_experiment::Control;

use crate::args::CapacityArgs;
use crate::outputs::write_atomically;
use crate::{UsageError, EXIT_ABORTED, EXIT_OK, EXIT_THRESHOLD};

fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// Refuses run flags that the search sets itself, or that have no meaning in it.
fn refuse_run_flags(a: &CapacityArgs) -> anyhow::Result<()> {
    let r = &a.run;
    let set_by_search = [
        ("--rate", r.rate.is_some()),
        ("--stage", !r.stages.is_empty()),
        ("--connections", r.connections.is_some()),
        ("--clients", r.clients.is_some()),
        ("--duration", r.duration.is_some()),
        ("--requests", r.requests.is_some()),
        ("--threshold", !r.thresholds.is_empty()),
        ("--abort-on-fail", r.abort_on_fail),
        ("--prometheus-listen", r.output.prometheus_listen.is_some()),
        ("--watch-pid", !r.output.watch_pid.is_empty()),
        // A step's document holds the window's totals, not rows per group.
        ("--group-by", r.group_by.is_some()),
        ("--fault", !r.faults.is_empty()),
        ("--outage-log", r.outage_log.is_some()),
    ];
    if let Some((flag, _)) = set_by_search.iter().find(|(_, given)| *given) {
        return Err(usage(format!(
            "{flag} does not apply to a capacity search: it sets the rate step by step and judges each step on --slo"
        )));
    }
    Ok(())
}

/// The search's spec from the flags.
fn spec_from_args(a: &CapacityArgs) -> anyhow::Result<SearchSpec> {
    refuse_run_flags(a)?;
    let whole = |d: Duration| Duration::from_secs(d.as_secs_f64().round() as u64);
    let step = whole(a.step);
    let warmup = whole(a.warmup.unwrap_or(step / 5).max(Duration::from_secs(1)));
    if warmup >= step {
        return Err(usage("--warmup must be shorter than --step"));
    }
    let window = step - warmup;
    let plan = if crate::scenario_cmd::is_scenario(&a.run.url) {
        // Journeys per second over the file's open lanes, split as the file splits them.
        crate::scenario_cmd::plan_from_file(&a.run)?
    } else {
        if a.run.request.base_url.is_some() {
            return Err(usage("--base-url applies to scenario files only"));
        }
        let mut run = a.run.clone();
        run.rate = Some(a.search.start);
        crate::run_cmd::plan_from_args(&run)?
    };
    let spec = SearchSpec {
        plan,
        slos: a.slos.clone(),
        settings: a.search.settings(30),
        warmup,
        window,
        // An unstable window may grow to twice its length.
        max_window: window * 2,
    };
    validate(&spec).map_err(|e| usage(e.to_string()))?;
    Ok(spec)
}

/// One progress line per step (stderr).
fn progress(step: &StepDoc) {
    let cells = stampede_capacity::step_cells(step);
    eprintln!(
        "capacity: step {} ({}) offered {} achieved {} p99 {} ms: {}{}",
        cells[0],
        cells[1],
        cells[2],
        cells[3],
        cells[5],
        cells[8],
        step.reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
}

pub(crate) fn run(a: CapacityArgs) -> anyhow::Result<u8> {
    crate::outputs::check_run_outputs(a.run.out.as_deref(), &a.run.output)?;
    let spec = spec_from_args(&a)?;
    let quiet = a.run.quiet;
    if !quiet {
        eprintln!(
            "stampede: capacity of {} at {}: from {} per second, steps of {} s ({} s warm-up)",
            spec.plan.subject(),
            a.slos
                .iter()
                .map(|t| t.text.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            a.search.start,
            (spec.warmup + spec.window).as_secs(),
            spec.warmup.as_secs()
        );
    }
    let control = Control::new();
    crate::outputs::stop_on_signals(control.stop_flag())?;
    let on_step: stampede_capacity::OnStep = if quiet {
        Box::new(|_| {})
    } else {
        Box::new(progress)
    };
    // The server series are read over the whole search; each step keeps its window's.
    let observers = crate::run_cmd::server_metrics(&a.run.output)?
        .into_iter()
        .collect();
    let doc = search(spec, observers, control, on_step).map_err(crate::run_cmd::run_error)?;
    print!("{}", render_text(&doc));
    if let Some(path) = &a.run.out {
        write_atomically(path, &doc.to_json())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &a.run.output.html {
        write_atomically(path, &render_html(&doc))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(match doc.result.verdict {
        Verdict::Capacity | Verdict::NoFailureUpToMax => EXIT_OK,
        Verdict::FailsAtMinimum => EXIT_THRESHOLD,
        _ => EXIT_ABORTED,
    })
}
