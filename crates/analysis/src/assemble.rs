//! Assembly of the result document from a plan and what the engine measured.

use std::collections::BTreeMap;
use std::time::Duration;

use stampede_metrics::{IntervalPoint, RunOutcome, Stats};
use stampede_plan::scenario::JourneyLoad;
use stampede_plan::{
    redact_url, Arrival, Cumulative, HttpVersion, Load, RateProfile, RunPlan, Workload,
};
use stampede_result::{
    Core, GeneratorDoc, GroupDoc, Histograms, Percentiles, Phases, PointHistograms, RunConfig,
    RunResult, SeriesPoint, ShardDoc, StageDoc, StartDoc, SummaryDoc, SCHEMA_VERSION,
};

use crate::{check_generator, GeneratorFacts, Summary};

/// Builds the result document of the run `plan` describes from what it measured.
///
/// A password in the target URL is kept out of the document (`user:****@`), in
/// `config.url` and in the error samples.
pub fn assemble(plan: &RunPlan, outcome: &RunOutcome) -> RunResult {
    let open = plan.is_scheduled();
    let elapsed = outcome.elapsed;
    // A scenario's schedule counts journeys, not requests: no request target rate.
    let schedule = plan.schedule_profile().map(|p| Cumulative::new(&p));
    // A shard's schedule is its striped share of the whole one: the shards' counts sum
    // to the whole's exactly.
    let shard = plan.shard;
    let scheduled = schedule
        .as_ref()
        .map(|c| shard.share_of_u64((c.at(elapsed) + 1e-6).floor() as u64));
    let target_rate = match &schedule {
        Some(c) if !elapsed.is_zero() => {
            Some(c.at(elapsed) / elapsed.as_secs_f64() / shard.count() as f64)
        }
        _ => None,
    };
    let total = &outcome.total;
    // Each worker's CPU over the time its thread ran (the drain after sending included,
    // where its CPU time was spent too), so a share never exceeds 100%.
    let worker_busy: Vec<f64> = outcome
        .worker_cpu
        .iter()
        .zip(
            outcome
                .worker_wall
                .iter()
                .chain(std::iter::repeat(&elapsed)),
        )
        .map(|(c, w)| round2((c.as_secs_f64() / w.as_secs_f64().max(1e-9)).min(1.0)))
        .collect();
    let g = &outcome.generator;
    let warnings = check_generator(&GeneratorFacts {
        open_model: open,
        // Only scheduled sends can be late (in a mixed scenario file, the open lanes'):
        // each of them recorded its lag.
        sends: g.schedule_lag.count(),
        late_sends: g.late_sends,
        dropped: g.dropped,
        worker_busy: worker_busy.clone(),
        send_lag_p99_ms: open.then(|| g.schedule_lag.quantile_ms(0.99)),
        latency_p99_ms: (!total.latency.is_empty()).then(|| total.latency.quantile_ms(0.99)),
        contention: None,
    });
    let password = plan.url().password().filter(|p| !p.is_empty());
    RunResult {
        schema_version: SCHEMA_VERSION,
        stampede_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at: humantime::format_rfc3339_seconds(outcome.started_at).to_string(),
        aborted: outcome.aborted,
        config: config_of(plan),
        latency_model: latency_model(plan, outcome).to_string(),
        summary: SummaryDoc {
            core: core_of(total, elapsed, target_rate),
            elapsed_s: round3(elapsed.as_secs_f64()),
            late_sends: g.late_sends,
            dropped: g.dropped,
            unfinished: g.unfinished,
            scheduled,
        },
        phases_ms: Phases {
            connect: Percentiles::of(&total.connect),
            tls_handshake: Percentiles::of(&total.tls_handshake),
            upgrade: Percentiles::of(&total.upgrade),
            ttfb: Percentiles::of(&total.ttfb),
            total: Percentiles::of(&total.service_time),
        },
        errors_by_class: class_map(total),
        error_samples: outcome
            .error_samples
            .iter()
            .map(|(c, t)| {
                let text = match password {
                    Some(p) => t.replace(&format!(":{p}@"), ":****@"),
                    None => t.clone(),
                };
                (c.as_str().to_string(), text)
            })
            .collect(),
        status_codes: status_map(total),
        group_by: plan.group_by().map(|g| g.label().to_string()),
        groups: outcome
            .groups
            .iter()
            .map(|(key, s)| GroupDoc {
                key: key.clone(),
                core: core_of(s, elapsed, None),
                errors_by_class: class_map(s),
                status_codes: status_map(s),
                histograms: Some(histograms_of(s, None)),
                // Scenario rows each have their own model (open lanes' first steps are
                // corrected; every other row is service time).
                latency_model: plan.journeys().map(|_| {
                    match outcome.scheduled_groups.iter().any(|k| k == key) {
                        true => "corrected",
                        false => "service_time",
                    }
                    .to_string()
                }),
                timeout_ms: outcome
                    .group_timeouts
                    .iter()
                    .find(|(k, t)| k == key && *t != plan.timeout)
                    .map(|(_, t)| round3(t.as_secs_f64() * 1000.0)),
            })
            .collect(),
        series: {
            // Each second's scheduled arrivals: requests of a plain open run, journeys
            // of a scenario file's open lanes (summed over the lanes).
            let schedules: Vec<Cumulative> = match (&schedule, plan.journeys()) {
                (Some(c), _) => vec![c.clone()],
                (None, Some(j)) => j
                    .lane_loads()
                    .iter()
                    .filter_map(|l| match l {
                        JourneyLoad::Open { profile, .. } => Some(Cumulative::new(profile)),
                        JourneyLoad::Closed { .. } => None,
                    })
                    .collect(),
                (None, None) => Vec::new(),
            };
            outcome
                .series
                .iter()
                .map(|p| point_of(p, &schedules))
                .collect()
        },
        generator: GeneratorDoc {
            threads: outcome.threads,
            cpu_s: round3(outcome.process_cpu.as_secs_f64()),
            worker_cpu_s: outcome
                .worker_cpu
                .iter()
                .map(|c| round3(c.as_secs_f64()))
                .collect(),
            worker_busy,
            sends: g.sends,
            schedule_lag_ms: open.then(|| Percentiles::of(&g.schedule_lag)),
            peak_rss_bytes: outcome.peak_rss_bytes,
            warnings,
        },
        histograms: histograms_of(total, open.then_some(&g.schedule_lag)),
        servers: Vec::new(),
        server_metrics: Vec::new(),
        server_metric_sources: Vec::new(),
        coordinator: None,
        shard: (!plan.shard.is_whole()).then(|| ShardDoc {
            count: plan.shard.count(),
            indexes: vec![plan.shard.index()],
        }),
        start: outcome.start.map(|s| StartDoc {
            planned_at: humantime::format_rfc3339_micros(s.planned).to_string(),
            error_ms: round3(s.error_s * 1000.0),
        }),
        replay: None,
        faults: Vec::new(),
        thresholds: crate::thresholds::evaluate(
            crate::thresholds::scoped(&plan.thresholds),
            total,
            |key| {
                outcome
                    .groups
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, s)| s)
            },
            elapsed,
            outcome.generator.unfinished,
        ),
    }
}

/// The counts, rates and latencies of the run or of one group.
fn core_of(stats: &Stats, elapsed: Duration, target_rate: Option<f64>) -> Core {
    let s = Summary::new(stats, elapsed, target_rate);
    Core {
        requests: s.requests,
        errors: s.errors,
        timeouts: s.timeouts,
        error_rate: s.error_rate,
        achieved_rate: round2(s.achieved_rate),
        target_rate: s.target_rate.map(round2),
        latency_ms: s.latency,
        service_time_ms: s.service_time,
        bytes_received: stats.bytes_received,
        bytes_sent: stats.bytes_sent,
        connections_opened: stats.connections_opened,
        protocols: stats
            .protocols
            .non_zero()
            .map(|(p, n)| (p.as_str().to_string(), n))
            .collect(),
    }
}

fn histograms_of(
    s: &Stats,
    schedule_lag: Option<&stampede_metrics::LatencyHistogram>,
) -> Histograms {
    Histograms {
        unit: "us".to_string(),
        latency: s.latency.to_v2_base64(),
        service_time: s.service_time.to_v2_base64(),
        connect: s.connect.to_v2_base64(),
        tls_handshake: s.tls_handshake.to_v2_base64(),
        ttfb: s.ttfb.to_v2_base64(),
        upgrade: s.upgrade.to_v2_base64(),
        schedule_lag: schedule_lag.map(|h| h.to_v2_base64()),
    }
}

fn point_of(p: &IntervalPoint, schedules: &[Cumulative]) -> SeriesPoint {
    let target_rate = (!schedules.is_empty()).then(|| {
        let at = |c: &Cumulative, s: u64| c.at(Duration::from_secs(s));
        round2(
            schedules
                .iter()
                .map(|c| at(c, p.second + 1) - at(c, p.second))
                .sum(),
        )
    });
    SeriesPoint {
        t: p.second,
        requests: p.requests,
        errors: p.errors,
        timeouts: p.timeouts,
        sends: p.sends,
        target_rate,
        late_sends: p.late_sends,
        dropped: p.dropped,
        latency_ms: p.latency_ms.into(),
        service_time_ms: p.service_time_ms.into(),
        histograms: Some(PointHistograms {
            latency: p.latency_histogram.clone(),
            service_time: p.service_time_histogram.clone(),
        }),
    }
}

/// How the run's latency is measured: `corrected` when every row counts from intended send
/// times, `service_time` when none does, `mixed` for a scenario file whose rows differ.
fn latency_model(plan: &RunPlan, outcome: &RunOutcome) -> &'static str {
    if plan.journeys().is_none() {
        return match plan.is_scheduled() {
            true => "corrected",
            false => "service_time",
        };
    }
    let rows = outcome.groups.iter().filter(|(_, s)| s.requests > 0);
    let (mut corrected, mut service) = (false, false);
    for (key, _) in rows {
        match outcome.scheduled_groups.iter().any(|k| k == key) {
            true => corrected = true,
            false => service = true,
        }
    }
    match (corrected, service) {
        (true, true) => "mixed",
        (true, false) => "corrected",
        _ => "service_time",
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn class_map(stats: &Stats) -> BTreeMap<String, u64> {
    stats
        .errors_by_class
        .non_zero()
        .map(|(c, n)| (c.as_str().to_string(), n))
        .collect()
}

fn status_map(stats: &Stats) -> BTreeMap<String, u64> {
    stats
        .status_codes
        .non_zero()
        .map(|(c, n)| (c.to_string(), n))
        .collect()
}

/// The run's configuration as the document records it.
fn config_of(plan: &RunPlan) -> RunConfig {
    let open = |profile: &RateProfile, arrival: Arrival, max_connections: usize| {
        let stages = profile
            .stages
            .iter()
            .map(|s| StageDoc {
                duration_s: s.duration.as_secs_f64(),
                rate: s.target_rate,
            })
            .collect();
        let arrival = match arrival {
            Arrival::Uniform => "uniform",
            Arrival::Poisson => "poisson",
        };
        let rate = Some(profile.start_rate);
        (
            "open",
            rate,
            stages,
            Some(arrival),
            None,
            Some(max_connections),
        )
    };
    let closed = |connections: usize| ("closed", None, Vec::new(), None, Some(connections), None);
    let (model, rate, stages, arrival, connections, max_connections) = match &plan.workload {
        Workload::Requests(w) => match &w.load {
            Load::Open {
                profile,
                arrival,
                max_connections,
            } => open(profile, *arrival, max_connections.get()),
            Load::Closed { connections } => closed(connections.get()),
            Load::Replay {
                rate,
                max_connections,
                ..
            } => (
                "replay",
                *rate,
                Vec::new(),
                None,
                None,
                Some(max_connections.get()),
            ),
            Load::Fleet { clients, .. } => (
                "fleet",
                plan.target_rate(),
                Vec::new(),
                None,
                Some(clients.get()),
                None,
            ),
        },
        // The file's load as the report shows it: journeys per second, or virtual users.
        Workload::Journeys(j) => match j.reported_load() {
            JourneyLoad::Open {
                profile,
                arrival,
                max_vus,
            } => open(profile, *arrival, *max_vus),
            JourneyLoad::Closed { profile } => closed(profile.peak_rate().round() as usize),
        },
    };
    let (every_s, hold_s) = match plan.requests().map(|w| &w.load) {
        Some(Load::Fleet { every, hold, .. }) => (
            every.map(|d| d.as_secs_f64()),
            hold.map(|d| d.as_secs_f64()),
        ),
        _ => (None, None),
    };
    let (method, http) = match &plan.workload {
        Workload::Requests(w) => (w.request.method.as_str(), w.http),
        Workload::Journeys(j) => ("GET", j.targets[0].http),
    };
    // A shard records its own share of the load, so that the shards' configurations
    // sum to the whole run's (see `stampede_result::merge`).
    let shard = plan.shard;
    let part = 1.0 / shard.count() as f64;
    let deal = |n: Option<usize>| n.map(|n| shard.share_of(n));
    RunConfig {
        scenario_file: plan.journeys().map(|j| j.path.display().to_string()),
        every_s,
        hold_s,
        url: redact_url(plan.url()),
        method: method.to_string(),
        model: model.to_string(),
        rate: rate.map(|r| r * part),
        stages: stages
            .into_iter()
            .map(|s: StageDoc| StageDoc {
                rate: s.rate * part,
                ..s
            })
            .collect(),
        arrival: arrival.map(str::to_string),
        connections: deal(connections),
        max_connections: deal(max_connections),
        duration_s: plan.stop.duration.map(|d| d.as_secs_f64()),
        requests: plan.stop.requests.map(|n| shard.share_of_u64(n.get())),
        timeout_ms: plan.timeout.as_secs_f64() * 1000.0,
        threads: plan.threads.get(),
        keep_alive: plan.keep_alive,
        http: match http {
            HttpVersion::Http1 => "http1",
            HttpVersion::Http2 { .. } => "http2",
        }
        .to_string(),
        streams: match http {
            HttpVersion::Http1 => None,
            HttpVersion::Http2 { streams } => Some(streams.get()),
        },
    }
}
