//! `stampede scale`: flags -> a base plan -> one closed-model step per N (or one capacity
//! search per instance count) -> the fit, the table, JSON and HTML.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use stampede_experiment::{EngineError, RunError};
use stampede_plan::{Arrival, Load, RateProfile, RunPlan, Target};
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
        a.request.refuse_for_scenario(&a.url)?;
        let mut journeys =
            stampede_scenario::load_file(Path::new(&a.url)).map_err(|e| usage(e.to_string()))?;
        if let Some(url) = &a.request.base_url {
            let base = Target::parse(url).map_err(|e| usage(format!("--base-url: {e}")))?;
            journeys.targets[0].base = base;
        }
        let mut plan = RunPlan::scenario_builder(Arc::new(journeys))
            .timeout(a.request.timeout)
            .keep_alive(!a.request.no_keep_alive);
        if let Some(n) = a.threads {
            plan = plan.threads(n);
        }
        return plan.build().map_err(|e| usage(e.to_string()));
    }
    a.request.refuse_base_url()?;
    if a.request.streams > 1 && a.instances.is_none() {
        return Err(usage(
            "--streams: each step's N is the requests in flight, one stream per connection; \
             give --http2 without --streams",
        ));
    }
    let mut plan = a
        .request
        .apply(RunPlan::builder(a.url.as_str()).load(one))?
        .keep_alive(!a.request.no_keep_alive);
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
    let connect_to = a.request.connect_addrs()?;
    let (kind, list, mut runner, warmup, measured): (_, _, Box<dyn StepRunner>, _, _) = match (
        &a.concurrency,
        &a.instances,
    ) {
        (_, Some(list)) => {
            if let Some(&k) = list.0.iter().find(|k| k.get() > connect_to.len()) {
                return Err(usage(format!(
                        "--instances {k}: only {} instance addresses were given (--connect-to, repeated)",
                        connect_to.len()
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
            let steps = InstanceSteps::new(search, connect_to, stop, on_step)
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;
    use stampede_plan::HttpVersion;

    use super::*;

    fn parse(args: &[&str]) -> ScaleArgs {
        let mut all = vec!["stampede", "scale", "http://127.0.0.1:9/"];
        all.extend_from_slice(args);
        match crate::Cli::try_parse_from(all).unwrap().command {
            crate::Command::Scale(s) => *s,
            other => panic!("{other:?}"),
        }
    }

    /// The request flags are `stampede run`'s, and a sweep's steps get them all.
    #[test]
    fn the_shared_request_flags_reach_every_step() {
        let body = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(body.path(), "{\"n\": 1}").unwrap();
        let a = parse(&[
            "--concurrency",
            "1,2",
            "-m",
            "post",
            "-H",
            "X-A: 1",
            "--body-file",
            body.path().to_str().unwrap(),
            "--no-keep-alive",
            "--http2",
            "--tls-resume",
            "off",
            "--connect-to",
            "127.0.0.1:8081",
            "-t",
            "3s",
        ]);
        let plan = base_plan(&a).unwrap();
        let r = plan.requests().unwrap();
        assert_eq!(r.request.method, "POST");
        assert_eq!(r.request.headers, [("X-A".to_string(), "1".to_string())]);
        assert_eq!(r.request.body, b"{\"n\": 1}");
        assert_eq!(r.connect_to, ["127.0.0.1:8081".parse().unwrap()]);
        assert!(r.tls.no_resume);
        assert_eq!(
            r.http,
            HttpVersion::Http2 {
                streams: NonZeroUsize::MIN
            }
        );
        assert!(!plan.keep_alive);
        assert_eq!(plan.timeout, Duration::from_secs(3));
    }

    #[test]
    fn streams_and_bad_addresses_are_usage_errors_naming_the_flag() {
        for (args, flag) in [
            (
                &["--concurrency", "1", "--http2", "--streams", "4"][..],
                "--streams",
            ),
            (
                &["--concurrency", "1", "--connect-to", "nowhere"],
                "--connect-to 'nowhere'",
            ),
            (
                &["--concurrency", "1", "--base-url", "http://a/"],
                "--base-url",
            ),
        ] {
            let err = base_plan(&parse(args)).unwrap_err();
            assert!(err.downcast_ref::<UsageError>().is_some(), "{err:#}");
            assert!(err.to_string().contains(flag), "{args:?}: {err}");
        }
    }
}
