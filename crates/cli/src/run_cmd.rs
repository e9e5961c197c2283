//! `stampede run`: flags -> RunPlan -> engine -> table and JSON.

use std::io::IsTerminal;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use stampede_metrics::{GeneratorStats, Stats};
use stampede_plan::{
    Arrival, HttpVersion, Load, RateProfile, RequestSpec, RunPlan, ThresholdScope, TlsOptions,
};
use stampede_report::{render_table, RunResult};

use crate::args::{ArrivalArg, OnOff, OutputArgs, RunArgs};
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
    let body = match (&a.body, &a.body_file) {
        (Some(b), _) => b.clone().into_bytes(),
        (None, Some(path)) => std::fs::read(path)
            .map_err(|e| usage(format!("cannot read --body-file {}: {e}", path.display())))?,
        (None, None) => Vec::new(),
    };
    let plan = RunPlan::builder(a.url.as_str())
        .request(RequestSpec {
            method: a.method.to_ascii_uppercase(),
            headers: a.headers.clone(),
            body,
        })
        .load(load)
        .group_by(a.group_by.clone())
        .connect_to(a.connect_to.clone())
        .tls(TlsOptions {
            insecure: a.insecure,
            ca_file: a.cacert.clone(),
            client_cert: a.cert.clone().zip(a.key.clone()),
            no_resume: a.tls_resume == OnOff::Off,
        })
        .http(if a.http2 {
            HttpVersion::Http2 {
                streams: non_zero(a.streams, "--streams")?,
            }
        } else {
            HttpVersion::Http1
        });
    crate::run_flags::with_run_flags(plan, a)
        .timeout(a.timeout)
        .build()
        .map_err(|e| usage(e.to_string()))
}

/// Installs Ctrl-C handling: the first SIGINT/SIGTERM sets the returned flag (the run
/// stops and reports what it measured), a second one exits at once.
pub(crate) fn abort_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let abort = Arc::new(AtomicBool::new(false));
    on_signal_set(&abort)?;
    Ok(abort)
}

/// Makes SIGINT/SIGTERM set `flag` (a second signal exits at once).
pub(crate) fn on_signal_set(flag: &Arc<AtomicBool>) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::flag as sig_flag;
    for sig in [SIGINT, SIGTERM] {
        sig_flag::register_conditional_shutdown(sig, 130, flag.clone())
            .context("installing the signal handler")?;
        sig_flag::register(sig, flag.clone()).context("installing the signal handler")?;
    }
    Ok(())
}

/// Prints one progress line to stderr every few seconds (every second on a terminal).
pub(crate) struct Progress {
    every: u64,
    quiet: bool,
    window: Stats,
    window_sends: u64,
}

impl Progress {
    pub(crate) fn new(quiet: bool) -> Self {
        let every = if std::io::stderr().is_terminal() {
            1
        } else {
            5
        };
        Progress {
            every,
            quiet,
            window: Stats::new(),
            window_sends: 0,
        }
    }

    pub(crate) fn second(&mut self, second: u64, stats: &Stats, generator: &GeneratorStats) {
        if self.quiet {
            return;
        }
        self.window.merge(stats);
        self.window_sends += generator.sends;
        if (second + 1) % self.every != 0 {
            return;
        }
        let w = &self.window;
        eprintln!(
            "[{:>4}s] {:>8.0} req/s  sent {:>8}  errors {:>6}  timeouts {:>6}  p50 {:>8.2} ms  p99 {:>8.2} ms",
            second + 1,
            w.requests as f64 / self.every as f64,
            self.window_sends,
            w.errors,
            w.timeouts,
            w.latency.quantile_ms(0.5),
            w.latency.quantile_ms(0.99),
        );
        self.window = Stats::new();
        self.window_sends = 0;
    }
}

/// Runs a plan and reports; shared by `run` and `demo`.
pub(crate) fn execute(
    plan: &RunPlan,
    out: Option<&Path>,
    quiet: bool,
    output: &OutputArgs,
) -> anyhow::Result<u8> {
    let control = stampede_engine::Control::new();
    on_signal_set(control.stop_flag())?;
    let abort = control.stop_flag().clone();
    let exporter = match output.prometheus_listen {
        Some(addr) => Some(crate::prometheus::Exporter::start(addr, plan)?),
        None => None,
    };
    // Announced even with --quiet: with port 0 this is the only way to learn the port.
    if let Some(e) = &exporter {
        eprintln!("prometheus: live metrics on http://{}/metrics", e.addr());
    }
    let mut servers = crate::server_watch::ServerWatch::start(&output.watch_pid)?;
    let mut watch = crate::live::Watch::start(plan, quiet, output.no_dashboard, abort.clone());
    let mut threshold_failed = None;
    let outcome = stampede_engine::run(plan, control.clone(), |live| {
        watch.second(live);
        if plan.abort_on_fail && threshold_failed.is_none() {
            threshold_failed = first_failed_threshold(plan, live);
            if threshold_failed.is_some() {
                control.stop();
            }
        }
        servers.sample();
        if let Some(e) = &exporter {
            e.update(live);
        }
    });
    watch.finish();
    let outcome = outcome.map_err(|e| match e {
        stampede_engine::EngineError::Resolve { .. } | stampede_engine::EngineError::Tls(_) => {
            usage(e.to_string())
        }
        other => anyhow::Error::new(other),
    })?;
    let mut result = RunResult::new(plan, &outcome);
    result.servers = servers.finish(outcome.total.requests);
    if let Some(e) = &exporter {
        e.publish_final(&outcome);
    }
    print!("{}", render_table(&result));
    if let Some(path) = out {
        write_atomically(path, &result.to_json())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &output.html {
        crate::report_cmd::write_html(path, &result)?;
    }
    if let Some(e) = exporter {
        e.hold(output.prometheus_hold.unwrap_or_default(), &abort, quiet);
    }
    if let Some(t) = &threshold_failed {
        eprintln!("stampede: stopped early (--abort-on-fail): threshold '{t}' failed");
    }
    Ok(
        if !result.thresholds_passed() || threshold_failed.is_some() {
            EXIT_THRESHOLD
        } else if outcome.aborted {
            EXIT_ABORTED
        } else {
            EXIT_OK
        },
    )
}

/// The first threshold that fails on the results so far, if any.
fn first_failed_threshold(
    plan: &RunPlan,
    live: &stampede_engine::LiveSecond<'_>,
) -> Option<String> {
    let elapsed = Duration::from_secs(live.second + 1);
    let outcomes = stampede_analysis::thresholds::evaluate(
        plan.thresholds.iter().map(|t| {
            let scope = match &t.scope {
                ThresholdScope::Total => None,
                ThresholdScope::Group(key) => Some(key.as_str()),
            };
            (scope, &t.threshold)
        }),
        live.total,
        |key| live.groups.get(key),
        elapsed,
    );
    outcomes
        .into_iter()
        .find(|o| !o.passed)
        .map(|o| match o.scope {
            Some(s) => format!("[{s}] {}", o.threshold),
            None => o.threshold,
        })
}

/// Writes `text` to a temporary file beside `path`, then renames it into place.
pub(crate) fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

pub(crate) fn run(a: RunArgs) -> anyhow::Result<u8> {
    crate::outputs::check_run_outputs(a.out.as_deref(), &a.output)?;
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
                describe_stop(&plan)
            );
        }
        return execute(&plan, a.out.as_deref(), a.quiet, &a.output);
    }
    if a.base_url.is_some() {
        return Err(usage("--base-url applies to scenario files only"));
    }
    let plan = plan_from_args(&a)?;
    if !a.quiet {
        eprintln!("stampede: {} for {}", plan.subject(), describe_stop(&plan));
    }
    execute(&plan, a.out.as_deref(), a.quiet, &a.output)
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
