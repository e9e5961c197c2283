//! `stampede scale`: flags -> a base plan -> one closed-model step per N (or one capacity
//! search per instance count) -> the fit, the table, JSON and HTML.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use stampede_experiment::{EngineError, RunError};
use stampede_plan::{
    Arrival, HttpVersion, Load, RateProfile, RequestSpec, RunPlan, Target, TlsOptions,
};
use stampede_scale::{
    render_scale, render_scale_html, sweep, ClosedSteps, InstanceSteps, ScaleDoc, ScaleError,
    StepDoc, StepRunner, SweepKind,
};

use crate::args::ScaleArgs;
use crate::outputs::{check_writable, write_atomically};
use crate::{UsageError, EXIT_ABORTED, EXIT_OK};

/// Open-model connection cap of an instance sweep's capacity searches.
const DEFAULT_MAX_CONNECTIONS: usize = 1000;

fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// The plan every step copies (its load is replaced by each step's N, or its rate by the
/// capacity search): closed-model, or open-model for an instance sweep.
fn base_plan(a: &ScaleArgs) -> anyhow::Result<RunPlan> {
    let one = if a.instances.is_some() {
        Load::Open {
            profile: RateProfile::constant(a.search.start),
            arrival: Arrival::Uniform,
            max_connections: NonZeroUsize::new(DEFAULT_MAX_CONNECTIONS).expect("non-zero"),
        }
    } else {
        Load::Closed {
            connections: NonZeroUsize::MIN,
        }
    };
    if crate::scenario_cmd::is_scenario(&a.url) {
        if a.instances.is_some() {
            return Err(usage(
                "--instances searches the capacity of a URL; a scenario file is not supported yet",
            ));
        }
        let set = [
            ("--method", a.method != "GET"),
            ("--header", !a.headers.is_empty()),
            ("--body", a.body.is_some()),
            ("--http2", a.http2),
            ("--insecure", a.insecure),
            ("--cacert", a.cacert.is_some()),
            ("--connect-to", !a.connect_to.is_empty()),
        ];
        if let Some((flag, _)) = set.iter().find(|(_, set)| *set) {
            return Err(usage(format!(
                "{flag} does not apply to a scenario file: set it in {} (see docs/scenarios.md)",
                a.url
            )));
        }
        let mut journeys =
            stampede_scenario::load_file(Path::new(&a.url)).map_err(|e| usage(e.to_string()))?;
        if let Some(url) = &a.base_url {
            let base = Target::parse(url).map_err(|e| usage(format!("--base-url: {e}")))?;
            journeys.targets[0].base = base;
        }
        let mut plan = RunPlan::scenario_builder(Arc::new(journeys)).timeout(a.timeout);
        if let Some(n) = a.threads {
            plan = plan.threads(n);
        }
        return plan.build().map_err(|e| usage(e.to_string()));
    }
    if a.base_url.is_some() {
        return Err(usage("--base-url applies to scenario files only"));
    }
    let mut plan = RunPlan::builder(a.url.as_str())
        .request(RequestSpec {
            method: a.method.to_ascii_uppercase(),
            headers: a.headers.clone(),
            body: a.body.clone().unwrap_or_default().into_bytes(),
        })
        .load(one)
        .connect_to(a.connect_to.clone())
        .tls(TlsOptions {
            insecure: a.insecure,
            ca_file: a.cacert.clone(),
            ..TlsOptions::default()
        })
        .http(if a.http2 {
            HttpVersion::Http2 {
                streams: NonZeroUsize::MIN,
            }
        } else {
            HttpVersion::Http1
        })
        .timeout(a.timeout);
    if let Some(n) = a.threads {
        plan = plan.threads(n);
    }
    plan.build().map_err(|e| usage(e.to_string()))
}

/// A progress line for a measured step.
fn step_line(kind: SweepKind, s: &StepDoc) -> String {
    let (n, what) = match kind {
        SweepKind::Concurrency => (format!("N={}", s.n), "req/s"),
        SweepKind::Instances => (format!("{} instance(s)", s.n), "req/s at the SLO"),
    };
    let mut line = format!(
        "stampede: {n}: {:.1} {what}, p50 {:.2} ms, p99 {:.2} ms, {} errors",
        s.throughput, s.p50_ms, s.p99_ms, s.errors
    );
    if let Some(why) = &s.excluded {
        line.push_str(&format!(" (left out: {why})"));
    }
    line
}

pub(crate) fn run(a: ScaleArgs) -> anyhow::Result<u8> {
    for (flag, path) in [("--out", &a.out), ("--html", &a.html)] {
        if let Some(path) = path {
            check_writable(flag, path)?;
        }
    }
    if a.duration.is_zero() {
        return Err(usage("--duration must be positive"));
    }
    let base = base_plan(&a)?;
    let subject = base.subject();
    let control = stampede_experiment::Control::new();
    crate::outputs::stop_on_signals(control.stop_flag())?;
    let stop = control.stop_flag().clone();
    let quiet = a.quiet;
    let (kind, list, mut runner, warmup, measured): (_, _, Box<dyn StepRunner>, _, _) = match (
        &a.concurrency,
        &a.instances,
    ) {
        (_, Some(list)) => {
            if let Some(&k) = list.0.iter().find(|k| k.get() > a.connect_to.len()) {
                return Err(usage(format!(
                        "--instances {k}: only {} instance addresses were given (--connect-to, repeated)",
                        a.connect_to.len()
                    )));
            }
            let settings = a.search.settings(12);
            let on_step = Box::new(move |k: usize, s: &stampede_capacity::StepDoc| {
                if !quiet {
                    eprintln!(
                            "stampede: {k} instance(s): step {} ({:?}) {:.1} req/s offered, {:.1} achieved: {:?}",
                            s.index, s.phase, s.offered_rate, s.achieved_rate, s.verdict
                        );
                }
            });
            let search = stampede_capacity::SearchSpec {
                plan: base,
                slos: a.slos.clone(),
                settings,
                warmup: a.warmup,
                window: a.duration,
                // An unstable window may grow to twice its length.
                max_window: a.duration * 2,
            };
            let steps = InstanceSteps::new(search, a.connect_to.clone(), stop, on_step)
                .map_err(|e| usage(e.to_string()))?;
            (
                SweepKind::Instances,
                list,
                Box::new(steps),
                a.warmup,
                a.duration,
            )
        }
        (Some(list), None) => {
            let steps = ClosedSteps::new(base, a.warmup, a.duration, stop)
                .map_err(|e| usage(e.to_string()))?;
            let (w, d) = (steps.warmup(), steps.duration());
            (SweepKind::Concurrency, list, Box::new(steps), w, d)
        }
        (None, None) => return Err(usage("--concurrency or --instances is required")),
    };
    if !quiet {
        let what = match kind {
            SweepKind::Concurrency => "N",
            SweepKind::Instances => "instances",
        };
        eprintln!(
            "stampede: scale {subject}: {} steps ({what}={}), each {}s warm-up + {}s measured",
            list.0.len(),
            list.0
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(","),
            warmup.as_secs(),
            measured.as_secs()
        );
    }
    let measured_steps = sweep(&list.0, runner.as_mut(), &mut |s| {
        if !quiet {
            eprintln!("{}", step_line(kind, s));
        }
    })
    .map_err(|e| match e {
        ScaleError::Run(RunError::Engine(
            e @ (EngineError::Resolve { .. } | EngineError::Tls(_)),
        )) => usage(e.to_string()),
        other => anyhow::Error::new(other),
    })?;
    let aborted =
        measured_steps.len() < list.0.len() || measured_steps.iter().any(StepDoc::stopped);
    let doc = ScaleDoc::new(
        kind,
        subject,
        warmup.as_secs_f64(),
        measured.as_secs_f64(),
        measured_steps,
    );
    print!("{}", render_scale(&doc));
    if let Some(path) = &a.out {
        write_atomically(path, &doc.to_json())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &a.html {
        let from = a
            .out
            .as_ref()
            .map_or_else(|| "stampede scale".to_string(), |p| p.display().to_string());
        write_atomically(path, &render_scale_html(&doc, &from))
            .with_context(|| format!("writing the HTML page {}", path.display()))?;
    }
    if aborted {
        eprintln!("stampede: the sweep was stopped before its last step");
        return Ok(EXIT_ABORTED);
    }
    Ok(EXIT_OK)
}
