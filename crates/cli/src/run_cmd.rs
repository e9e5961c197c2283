//! `stampede run`: flags -> RunPlan -> engine -> table and JSON.

use std::io::IsTerminal;
use std::num::NonZeroUsize;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use stampede_experiment::{
    Control, Dashboard, EngineError, Exporter, Observer, Progress, RunError, ServerMetrics,
    ServerMetricsConfig, ServerProbe, Verdict,
};
use stampede_plan::{Arrival, Load, RateProfile, RunPlan};
use stampede_report::render_table;

use crate::args::{ArrivalArg, OutputArgs, RunArgs};
use crate::outputs::write_atomically;
use crate::{UsageError, EXIT_ABORTED, EXIT_OK, EXIT_THRESHOLD};

fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

fn non_zero(n: usize, flag: &str) -> anyhow::Result<NonZeroUsize> {
    NonZeroUsize::new(n).ok_or_else(|| usage(format!("{flag} must be at least 1")))
}

/// Default open-model connection cap (`--max-connections`).
const DEFAULT_MAX_CONNECTIONS: usize = 1000;

/// Refuses open-model flags outside the open model (and `--timer-slack` in the closed
/// model): the model they belong to is not running, so they would silently do nothing.
fn refuse_unused_load_flags(a: &RunArgs, open: bool) -> anyhow::Result<()> {
    if open {
        return Ok(());
    }
    let model = if a.clients.is_some() {
        "--clients runs the fleet model"
    } else {
        "without --rate or --stage the run is closed-model (--connections)"
    };
    let unused = [
        ("--arrival", a.arrival.is_some()),
        ("--max-connections", a.max_connections.is_some()),
        (
            "--timer-slack",
            a.timer_slack.is_some() && a.clients.is_none(),
        ),
    ];
    match unused.iter().find(|(_, given)| *given) {
        Some((flag, _)) => Err(usage(format!(
            "{flag} applies to the open model (--rate or --stage{}); {model}, where it would be ignored",
            if *flag == "--timer-slack" { ", and fleets with --every" } else { "" }
        ))),
        None => Ok(()),
    }
}

/// Turns flags into a validated plan.
pub(crate) fn plan_from_args(a: &RunArgs) -> anyhow::Result<RunPlan> {
    let open = a.rate.is_some() || !a.stages.is_empty();
    refuse_unused_load_flags(a, open)?;
    let load = if let Some(clients) = a.clients {
        if open || a.connections.is_some() {
            return Err(usage(
                "--clients selects the fleet model; it does not combine with --rate, --stage or --connections",
            ));
        }
        Load::Fleet {
            clients: non_zero(clients, "--clients")?,
            every: a.every,
            hold: a.hold,
        }
    } else if open {
        if a.connections.is_some() {
            return Err(usage(
                "--connections selects the closed model; with --rate or --stage use --max-connections",
            ));
        }
        Load::Open {
            profile: RateProfile {
                start_rate: a.rate.unwrap_or(0.0),
                stages: a.stages.clone(),
            },
            arrival: match a.arrival.unwrap_or(ArrivalArg::Uniform) {
                ArrivalArg::Uniform => Arrival::Uniform,
                ArrivalArg::Poisson => Arrival::Poisson,
            },
            max_connections: non_zero(
                a.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
                "--max-connections",
            )?,
        }
    } else {
        Load::Closed {
            connections: non_zero(
                a.connections
                    .unwrap_or(stampede_plan::DEFAULT_CONNECTIONS.get()),
                "--connections",
            )?,
        }
    };
    let plan = RunPlan::builder(a.url.as_str())
        .load(load)
        .group_by(a.group_by.clone());
    crate::run_flags::with_run_flags(a.request.apply(plan)?, a)?
        .build()
        .map_err(|e| usage(e.to_string()))
}

/// How a run is watched: the dashboard on a terminal, progress lines elsewhere (CI,
/// pipes), nothing with `--quiet`.
pub(crate) fn watcher(
    plan: &RunPlan,
    quiet: bool,
    no_dashboard: bool,
) -> Option<Box<dyn Observer>> {
    if quiet {
        return None;
    }
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    let terminal = std::io::stderr().is_terminal();
    let lines = || -> Box<dyn Observer> {
        Box::new(Progress::every(if terminal { 1 } else { 5 }).until(plan.stop.duration))
    };
    if no_dashboard || dumb || !terminal {
        return Some(lines());
    }
    match Dashboard::open(plan) {
        Ok(d) => Some(Box::new(d)),
        Err(e) => {
            eprintln!("stampede: no dashboard ({e}); printing progress lines");
            Some(lines())
        }
    }
}

/// A run that could not start: a name that does not resolve or a TLS setup that fails
/// is bad input (exit 2), anything else an aborted run.
pub(crate) fn run_error(e: RunError) -> anyhow::Error {
    match e {
        RunError::Engine(e @ (EngineError::Resolve { .. } | EngineError::Tls(_))) => {
            usage(e.to_string())
        }
        other => anyhow::Error::new(other),
    }
}

/// The `--server-metrics`/`--prometheus` observer, when asked for.
pub(crate) fn server_metrics(output: &OutputArgs) -> anyhow::Result<Option<Box<dyn Observer>>> {
    if output.server_metrics.is_empty() && output.prometheus.is_none() {
        return Ok(None);
    }
    let metrics = ServerMetrics::new(ServerMetricsConfig {
        endpoints: output.server_metrics.clone(),
        picks: output.server_metric.clone(),
        prometheus: output.prometheus.clone(),
        queries: output.query.clone(),
    })
    .map_err(|e| usage(format!("--server-metrics/--prometheus: {e}")))?;
    Ok(Some(Box::new(metrics)))
}

/// Runs a plan and reports; shared by `run` and `demo`. `extra` observers (a
/// coordinator reporter) come before the live view.
pub(crate) fn execute(
    plan: &RunPlan,
    out: Option<&Path>,
    quiet: bool,
    output: &OutputArgs,
    extra: Vec<Box<dyn Observer>>,
) -> anyhow::Result<u8> {
    execute_then(plan, out, quiet, output, extra, |_| {})
}

/// [`execute`], with `after_table` called on the result right after its table is
/// printed and before it is written (a replay's warnings, route comparison and its
/// `replay` section).
pub(crate) fn execute_then(
    plan: &RunPlan,
    out: Option<&Path>,
    quiet: bool,
    output: &OutputArgs,
    extra: Vec<Box<dyn Observer>>,
    after_table: impl FnOnce(&mut stampede_report::RunResult),
) -> anyhow::Result<u8> {
    let control = Control::new();
    crate::outputs::stop_on_signals(control.stop_flag())?;
    let (observers, exporter) = output_observers(plan, output)?;
    // The caller's (a fault injector, a coordinator reporter) first, as given.
    let mut observers: Observers = extra.into_iter().chain(observers).collect();
    // The dashboard last: it takes over the terminal.
    observers.extend(watcher(plan, quiet, output.no_dashboard));
    let mut finished = stampede_experiment::start_with(plan.clone(), observers, control.clone())
        .wait()
        .map_err(run_error)?;
    print!("{}", render_table(&finished.result));
    after_table(&mut finished.result);
    report(
        &finished.result,
        &finished.verdict,
        out,
        quiet,
        output,
        exporter,
        &control,
    )
}

/// Observers of a run, in the order they see each second.
pub(crate) type Observers = Vec<Box<dyn Observer>>;

/// The observers the output flags ask for (exporter, server probe, server metrics),
/// and the exporter to hold after the run.
pub(crate) fn output_observers(
    plan: &RunPlan,
    output: &OutputArgs,
) -> anyhow::Result<(Observers, Option<Exporter>)> {
    let mut observers: Vec<Box<dyn Observer>> = Vec::new();
    let exporter = match output.prometheus_listen {
        Some(addr) => {
            let e = Exporter::start(addr, plan)
                .map_err(|e| usage(format!("--prometheus-listen: {e}")))?;
            // Announced even with --quiet: with port 0 this is the only way to learn the port.
            eprintln!("prometheus: live metrics on http://{}/metrics", e.addr());
            observers.push(Box::new(e.feed()));
            Some(e)
        }
        None => None,
    };
    if !output.watch_pid.is_empty() {
        let probe = ServerProbe::start(&output.watch_pid)
            .map_err(|e| usage(format!("--watch-pid: {e}")))?;
        observers.push(Box::new(probe));
    }
    observers.extend(server_metrics(output)?);
    Ok((observers, exporter))
}

/// Writes the outputs (after the table), holds the exporter; the exit code of the
/// verdict.
pub(crate) fn report(
    result: &stampede_experiment::RunResult,
    verdict: &Verdict,
    out: Option<&Path>,
    quiet: bool,
    output: &OutputArgs,
    exporter: Option<Exporter>,
    control: &Control,
) -> anyhow::Result<u8> {
    if let Some(path) = out {
        write_atomically(path, &result.to_json())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &output.html {
        crate::outputs::write_html(path, result)?;
    }
    if let Some(e) = exporter {
        e.hold(
            output.prometheus_hold.unwrap_or_default(),
            control.stop_flag(),
            quiet,
        );
    }
    Ok(match verdict {
        Verdict::Passed => EXIT_OK,
        Verdict::ThresholdsFailed { stopped_by, .. } => {
            if let Some(t) = stopped_by {
                eprintln!(
                    "stampede: stopped early (--abort-on-fail): threshold '{}' failed",
                    t.label()
                );
            }
            EXIT_THRESHOLD
        }
        Verdict::Aborted { .. } => EXIT_ABORTED,
        _ => EXIT_ABORTED,
    })
}

pub(crate) fn run(a: RunArgs) -> anyhow::Result<u8> {
    crate::outputs::check_run_outputs(a.out.as_deref(), &a.output)?;
    let mut extra = crate::fault_cmd::outage_import(&a)?;
    if crate::scenario_cmd::is_scenario(&a.url) {
        let plan = crate::scenario_cmd::plan_from_file(&a)?;
        if !a.quiet {
            let j = plan.journeys().expect("scenario plan");
            eprintln!(
                "stampede: scenario {} ({}) against {} for {}",
                a.url,
                match j.scenarios.len() {
                    1 => "1 scenario".to_string(),
                    n => format!("{n} scenarios"),
                },
                plan.url(),
                describe_stop(&plan) + &describe_part(&plan)
            );
        }
        if !a.faults.is_empty() {
            return Err(usage(
                "--fault applies to a URL's run; scenario files are not supported yet",
            ));
        }
        let (plan, reporter) = crate::report_to::worker(&a, plan)?;
        extra.extend(reporter);
        return execute(&plan, a.out.as_deref(), a.quiet, &a.output, extra);
    }
    a.request.refuse_base_url()?;
    let plan = plan_from_args(&a)?;
    if a.faults.is_empty() {
        if !a.quiet {
            eprintln!(
                "stampede: {} for {}{}",
                plan.subject(),
                describe_stop(&plan),
                describe_part(&plan)
            );
        }
        let (plan, reporter) = crate::report_to::worker(&a, plan)?;
        extra.extend(reporter);
        return execute(&plan, a.out.as_deref(), a.quiet, &a.output, extra);
    }
    let (proxied, injector) = crate::fault_cmd::through_proxies(&a, &plan)?;
    let plan = plan_from_args(&proxied)?;
    if !a.quiet {
        eprintln!(
            "stampede: {} for {}{}",
            plan.subject(),
            describe_stop(&plan),
            describe_part(&plan)
        );
        eprintln!("stampede: faults through {}", injector.describe());
    }
    let (plan, reporter) = crate::report_to::worker(&a, plan)?;
    let mut all: Observers = vec![Box::new(injector)];
    all.extend(extra);
    all.extend(reporter);
    execute(&plan, a.out.as_deref(), a.quiet, &a.output, all)
}

/// `, shard I/N` and `, starting at TIME (in S s)` when the run has them.
fn describe_part(plan: &RunPlan) -> String {
    let mut s = String::new();
    if !plan.shard.is_whole() {
        s.push_str(&format!(", shard {}", plan.shard));
    }
    if let Some(at) = plan.start_at {
        let wait = at
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        s.push_str(&format!(
            ", starting at {} (in {:.1} s)",
            humantime::format_rfc3339_millis(at),
            wait.as_secs_f64()
        ));
    }
    s
}

fn describe_stop(plan: &RunPlan) -> String {
    match (plan.stop.duration, plan.stop.requests) {
        (Some(d), Some(n)) => format!("{} or {n} requests", fmt_duration(d)),
        (Some(d), None) => fmt_duration(d),
        (None, Some(n)) => format!("{n} requests"),
        (None, None) => "ever".into(),
    }
}

fn fmt_duration(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}
