//! `stampede replay`: a recorded file (access log or HAR) played against --base-url
//! through the run's own pipeline ([`execute_then`]): the same table, --out JSON,
//! --html and thresholds, plus one warning line per thing that could not be replayed
//! as recorded and, with --group-by route and recorded times, original vs replayed
//! latency per route.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use stampede_plan::{GroupBy, Load, ReplayFeed, RunPlan};
use stampede_replay::{Filter, Format, Pace, Replay, ReplayOptions};
use stampede_report::{render_route_comparison, RouteComparison, RunResult};
use stampede_result::{RecordedRoute, ReplayDoc};

use crate::args::{FormatArg, ReplayArgs, RunArgs};
use crate::run_cmd::execute_then;
use crate::UsageError;

fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// Flags of `run` that a replay does not take: the file says what is sent and when.
fn refuse_run_only_flags(a: &RunArgs) -> anyhow::Result<()> {
    let refused = [
        (a.connections.is_some(), "-c/--connections"),
        (a.clients.is_some(), "--clients"),
        (!a.stages.is_empty(), "--stage"),
        (a.arrival.is_some(), "--arrival"),
        (a.every.is_some() || a.hold.is_some(), "--every/--hold"),
        (a.request.method != "GET", "-m/--method"),
        (
            a.request.body.is_some() || a.request.body_file.is_some(),
            "--body/--body-file",
        ),
    ];
    if let Some((_, flag)) = refused.iter().find(|(given, _)| *given) {
        return Err(usage(format!(
            "{flag} does not apply to a replay: the file says what is sent and when (use --speed or --rate)"
        )));
    }
    if !a.faults.is_empty() || a.outage_log.is_some() {
        return Err(usage(
            "--fault and --outage-log are not supported by replay yet: they would be ignored",
        ));
    }
    Ok(())
}

/// The replay of the flags' file.
fn replay_of(a: &ReplayArgs) -> anyhow::Result<Replay> {
    if a.reorder_window == 0 {
        return Err(usage("--reorder-window must be at least 1"));
    }
    if a.max_gap.is_zero() {
        return Err(usage("--max-gap must be positive"));
    }
    let filters = a
        .filters
        .iter()
        .map(|f| Filter::parse(f).map_err(usage))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let options = ReplayOptions {
        path: PathBuf::from(&a.run.url),
        format: match a.format {
            FormatArg::Auto => Format::Auto,
            FormatArg::Nginx => Format::Nginx,
            FormatArg::Apache => Format::Apache,
            FormatArg::Har => Format::Har,
        },
        pace: match a.run.rate {
            Some(r) => Pace::Rate(r),
            None => Pace::Speed(a.speed.unwrap_or(1.0)),
        },
        max_gap: a.max_gap,
        window: a.reorder_window,
        repeat: a.repeat,
        filters,
        include_hosts: a.include_hosts.clone(),
        extra_headers: a.run.request.headers.clone(),
        routes: matches!(a.run.group_by, Some(GroupBy::Route)),
    };
    Replay::open(options).map_err(|e| usage(e.to_string()))
}

/// The plan: the replay's feed against --base-url, with the run's flags.
fn plan_of(a: &ReplayArgs, replay: Arc<Replay>) -> anyhow::Result<RunPlan> {
    let r = &a.run;
    let base = r.request.base_url.as_deref().ok_or_else(|| {
        usage("stampede replay needs --base-url URL (where to send the requests)")
    })?;
    let max_connections = NonZeroUsize::new(r.max_connections.unwrap_or(1000))
        .ok_or_else(|| usage("--max-connections must be at least 1"))?;
    let plan = RunPlan::builder(base)
        .load(Load::Replay {
            feed: ReplayFeed(replay),
            rate: r.rate,
            max_connections,
        })
        .group_by(r.group_by.clone());
    crate::run_flags::with_run_flags(r.request.transport(plan)?, r)?
        .build()
        .map_err(|e| usage(e.to_string()))
}

/// Recorded vs replayed latency for each route that has recorded times.
fn comparison(replay: &Replay, result: &RunResult) -> Vec<RouteComparison> {
    replay
        .original_times()
        .into_iter()
        .filter_map(|o| {
            let g = result.groups.iter().find(|g| g.key == o.route)?;
            Some(RouteComparison {
                route: o.route,
                recorded: o.count,
                original_ms: (o.p50_ms, o.p99_ms),
                replayed: g.core.requests,
                replayed_ms: (g.core.latency_ms.p50, g.core.latency_ms.p99),
            })
        })
        .collect()
}

pub(crate) fn run(a: ReplayArgs) -> anyhow::Result<u8> {
    crate::outputs::check_run_outputs(a.run.out.as_deref(), &a.run.output)?;
    refuse_run_only_flags(&a.run)?;
    let replay = Arc::new(replay_of(&a)?);
    let plan = plan_of(&a, replay.clone())?;
    if !a.run.quiet {
        let pace = match (a.run.rate, a.speed) {
            (Some(r), _) => format!("paced to {r} req/s"),
            (None, Some(s)) => format!("at {s}x the recorded speed"),
            (None, None) => "at the recorded speed".to_string(),
        };
        eprintln!(
            "stampede: replaying {} against {} {pace}",
            a.run.url,
            plan.url()
        );
    }
    let by_route = matches!(plan.group_by(), Some(GroupBy::Route));
    execute_then(
        &plan,
        a.run.out.as_deref(),
        a.run.quiet,
        &a.run.output,
        Vec::new(),
        |result| {
            let notes = replay.notes();
            let warnings = notes.warnings();
            result.replay = Some(ReplayDoc {
                file: a.run.url.clone(),
                records: notes.records,
                warnings: warnings.clone(),
                routes: replay
                    .original_times()
                    .into_iter()
                    .map(|o| RecordedRoute {
                        route: o.route,
                        recorded: o.count,
                        p50_ms: o.p50_ms,
                        p99_ms: o.p99_ms,
                    })
                    .collect(),
            });
            let routes = match by_route {
                true => render_route_comparison(&comparison(&replay, result)),
                false => String::new(),
            };
            if !routes.is_empty() {
                print!("\nrecorded vs replayed latency (ms) per route\n{routes}");
            }
            eprintln!(
                "replay: {} {} replayed from {}",
                notes.records,
                if notes.records == 1 {
                    "record"
                } else {
                    "records"
                },
                a.run.url
            );
            for w in warnings {
                eprintln!("replay: warning: {w}");
            }
        },
    )
}
