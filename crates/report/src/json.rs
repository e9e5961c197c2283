//! The result document written by `--out FILE`.
//!
//! ## Wire format
//!
//! One JSON object, `schema_version` 1, described by `schema/result.schema.json`.
//! Durations are milliseconds (`*_ms`) or seconds (`*_s`), rates are per second, and
//! names are snake_case throughout. Latency percentiles are HdrHistogram values with
//! three significant digits. `summary.latency_ms` is measured from each request's
//! intended send time in the open model (coordinated-omission corrected) and equals
//! service time in the closed model; `latency_model` says which. The full histograms
//! are in `histograms` as HdrHistogram V2 compressed base64 (values in microseconds),
//! readable by any HdrHistogram implementation. New fields may be added within a
//! schema version; removing or renaming one bumps it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use stampede_analysis::{
    check_generator, GeneratorFacts, GeneratorWarning, Percentiles, Summary, ThresholdOutcome,
};
use stampede_engine::schedule::Cumulative;
use stampede_engine::RunOutcome;
use stampede_metrics::{IntervalPoint, Stats};
use stampede_plan::scenario::JourneyLoad;
use stampede_plan::{Arrival, HttpVersion, Load, RateProfile, RunPlan, Workload};

/// The version of this document's shape.
pub const SCHEMA_VERSION: u32 = 1;

impl RunConfig {
    /// What was loaded, in a few words: `GET http://...` or `scenario FILE against URL`.
    pub fn subject(&self) -> String {
        match &self.scenario_file {
            Some(file) => format!("scenario {file} against {}", self.url),
            None => format!("{} {}", self.method, self.url),
        }
    }
}

/// A whole run's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Shape version of this document.
    pub schema_version: u32,
    /// Version of stampede that wrote it.
    pub stampede_version: String,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// True when the run was interrupted (Ctrl-C) and holds partial results.
    pub aborted: bool,
    /// What was run.
    pub config: RunConfig,
    /// `corrected` (from intended send time, open model) or `service_time` (closed).
    pub latency_model: String,
    /// Headline numbers.
    pub summary: SummaryDoc,
    /// Timing phases.
    pub phases_ms: Phases,
    /// Errors by class name.
    pub errors_by_class: BTreeMap<String, u64>,
    /// The first failure message of a class, where the failing layer said more than
    /// the class name (the OS's connect error, the TLS alert, the HTTP/2 reason).
    #[serde(default)]
    pub error_samples: BTreeMap<String, String>,
    /// Responses by HTTP status code.
    pub status_codes: BTreeMap<String, u64>,
    /// Label of the grouping (`X-Served-By`, `peer`), if any.
    pub group_by: Option<String>,
    /// One entry per group, in key order.
    pub groups: Vec<GroupDoc>,
    /// One entry per second.
    pub series: Vec<SeriesPoint>,
    /// The generator's view of itself.
    pub generator: GeneratorDoc,
    /// Full histograms, HdrHistogram V2 compressed base64.
    pub histograms: Histograms,
    /// Server processes watched with `--watch-pid`.
    #[serde(default)]
    pub servers: Vec<ServerDoc>,
    /// Pass/fail criteria and how the run did against them (`--threshold`, scenario
    /// `thresholds`).
    #[serde(default)]
    pub thresholds: Vec<ThresholdOutcome>,
}

/// What a watched server process spent during the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerDoc {
    /// Process id.
    pub pid: u32,
    /// Command name.
    pub command: String,
    /// CPU seconds (user + system) during the run.
    pub cpu_s: f64,
    /// CPU seconds per wall second (1.0 = one core busy).
    pub cpu_share: f64,
    /// CPU microseconds per request of the run.
    pub cpu_per_request_us: Option<f64>,
    /// Peak resident memory seen (sampled once per second).
    pub peak_rss_bytes: u64,
}

/// The run's configuration, as the engine understood it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// The scenario file of a scenario run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_file: Option<String>,
    /// Target URL.
    pub url: String,
    /// HTTP method.
    pub method: String,
    /// `open`, `closed` or `fleet`.
    pub model: String,
    /// Open model: starting (or constant) arrival rate.
    pub rate: Option<f64>,
    /// Open model: ramp stages.
    pub stages: Vec<StageDoc>,
    /// Open model: `uniform` or `poisson`.
    pub arrival: Option<String>,
    /// Closed model: connections; fleet: clients.
    pub connections: Option<usize>,
    /// Fleet: seconds between one client's requests or messages.
    #[serde(default)]
    pub every_s: Option<f64>,
    /// Fleet: seconds a connection is held before reconnecting.
    #[serde(default)]
    pub hold_s: Option<f64>,
    /// Open model: connection pool cap.
    pub max_connections: Option<usize>,
    /// Duration limit in seconds.
    pub duration_s: Option<f64>,
    /// Request limit.
    pub requests: Option<u64>,
    /// Per-request timeout in milliseconds.
    pub timeout_ms: f64,
    /// Worker threads.
    pub threads: usize,
    /// Whether connections were reused.
    pub keep_alive: bool,
    /// `http1` or `http2`.
    #[serde(default)]
    pub http: String,
    /// HTTP/2 streams per connection.
    #[serde(default)]
    pub streams: Option<usize>,
}

/// One ramp stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageDoc {
    /// Stage length in seconds.
    pub duration_s: f64,
    /// Rate at the end of the stage.
    pub rate: f64,
}

/// Counts, rates and latencies shared by the summary and each group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Core {
    /// Requests finished (successes + errors + timeouts).
    pub requests: u64,
    /// Errors (transport failures and HTTP statuses >= 400).
    pub errors: u64,
    /// Timeouts (no complete response within the timeout).
    pub timeouts: u64,
    /// (errors + timeouts) / requests.
    pub error_rate: f64,
    /// Requests finished per second.
    pub achieved_rate: f64,
    /// The schedule's average rate over the run; null in the closed model and in groups.
    pub target_rate: Option<f64>,
    /// Latency (see `latency_model`).
    pub latency_ms: Percentiles,
    /// Service time: actual send to last byte.
    pub service_time_ms: Percentiles,
    /// Response bytes received.
    pub bytes_received: u64,
    /// Request bytes sent.
    pub bytes_sent: u64,
    /// Connections opened.
    pub connections_opened: u64,
    /// Connections opened by negotiated protocol (`http/1.1`, `h2`, `websocket`).
    #[serde(default)]
    pub protocols: BTreeMap<String, u64>,
}

impl Core {
    fn new(stats: &Stats, elapsed: Duration, target_rate: Option<f64>) -> Self {
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
}

/// The run's headline numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryDoc {
    /// Counts, rates, latencies.
    #[serde(flatten)]
    pub core: Core,
    /// The measured span in seconds.
    pub elapsed_s: f64,
    /// Open model: sends that left more than 1 ms after their intended time.
    pub late_sends: u64,
    /// Open model: scheduled requests never sent for want of a free connection.
    pub dropped: u64,
    /// Requests still in flight when the run ended.
    pub unfinished: u64,
}

/// Timing phases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phases {
    /// TCP connect time of each new connection.
    pub connect: Percentiles,
    /// TLS handshake time of each new TLS connection.
    #[serde(default)]
    pub tls_handshake: Percentiles,
    /// WebSocket upgrade time (upgrade request to 101).
    #[serde(default)]
    pub upgrade: Percentiles,
    /// Actual send to first response byte.
    pub ttfb: Percentiles,
    /// Actual send to last response byte (service time).
    pub total: Percentiles,
}

/// One group's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupDoc {
    /// The group key (header value or peer address).
    pub key: String,
    /// Counts, rates, latencies.
    #[serde(flatten)]
    pub core: Core,
    /// Errors by class name.
    pub errors_by_class: BTreeMap<String, u64>,
    /// Responses by HTTP status code.
    pub status_codes: BTreeMap<String, u64>,
}

/// Percentiles of one second.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PointPercentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest value.
    pub max: f64,
}

impl From<[f64; 4]> for PointPercentiles {
    fn from(v: [f64; 4]) -> Self {
        PointPercentiles {
            p50: v[0],
            p90: v[1],
            p99: v[2],
            max: v[3],
        }
    }
}

/// One second of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// Seconds since the start (the interval [t, t+1)).
    pub t: u64,
    /// Requests finished.
    pub requests: u64,
    /// Errors.
    pub errors: u64,
    /// Timeouts.
    pub timeouts: u64,
    /// Requests sent.
    pub sends: u64,
    /// Open model: arrivals the schedule asked for in this second; null in the closed model.
    #[serde(default)]
    pub target_rate: Option<f64>,
    /// Late sends.
    pub late_sends: u64,
    /// Dropped requests.
    pub dropped: u64,
    /// Latency percentiles (see `latency_model`).
    pub latency_ms: PointPercentiles,
    /// Service-time percentiles.
    pub service_time_ms: PointPercentiles,
}

impl SeriesPoint {
    fn new(p: &IntervalPoint, schedule: Option<&Cumulative>) -> Self {
        let target_rate = schedule.map(|c| {
            let at = |s: u64| c.at(Duration::from_secs(s));
            round2(at(p.second + 1) - at(p.second))
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
        }
    }
}

/// The generator's self-observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorDoc {
    /// Worker threads.
    pub threads: usize,
    /// CPU seconds (user + system) of the whole process.
    pub cpu_s: f64,
    /// CPU seconds of each worker thread.
    pub worker_cpu_s: Vec<f64>,
    /// Each worker's CPU seconds / wall seconds.
    pub worker_busy: Vec<f64>,
    /// Requests sent.
    pub sends: u64,
    /// Open model: actual minus intended send time.
    pub schedule_lag_ms: Option<Percentiles>,
    /// Peak resident memory of the process.
    pub peak_rss_bytes: Option<u64>,
    /// Reasons to distrust the result because of the generator itself.
    pub warnings: Vec<GeneratorWarning>,
}

/// Full histograms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histograms {
    /// Unit of the recorded values (`us`).
    pub unit: String,
    /// Latency (see `latency_model`).
    pub latency: String,
    /// Service time.
    pub service_time: String,
    /// Connect time.
    pub connect: String,
    /// TLS handshake time.
    #[serde(default)]
    pub tls_handshake: String,
    /// Time to first byte.
    pub ttfb: String,
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
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

impl RunResult {
    /// Builds the document from a plan and what the engine measured.
    pub fn new(plan: &RunPlan, outcome: &RunOutcome) -> Self {
        let open = plan.is_scheduled();
        let elapsed = outcome.elapsed;
        // A scenario's schedule counts journeys, not requests: no request target rate.
        let schedule = plan.schedule_profile().map(|p| Cumulative::new(&p));
        let target_rate = match &schedule {
            Some(c) if !elapsed.is_zero() => Some(c.at(elapsed) / elapsed.as_secs_f64()),
            _ => None,
        };
        let total = &outcome.total;
        let wall = elapsed.as_secs_f64().max(1e-9);
        let worker_busy: Vec<f64> = outcome
            .worker_cpu
            .iter()
            .map(|c| round2(c.as_secs_f64() / wall))
            .collect();
        let g = &outcome.generator;
        let warnings = check_generator(&GeneratorFacts {
            open_model: open,
            sends: g.sends,
            late_sends: g.late_sends,
            dropped: g.dropped,
            worker_busy: worker_busy.clone(),
            send_lag_p99_ms: open.then(|| g.schedule_lag.quantile_ms(0.99)),
            latency_p99_ms: (!total.latency.is_empty()).then(|| total.latency.quantile_ms(0.99)),
            contention: None,
        });
        RunResult {
            schema_version: SCHEMA_VERSION,
            stampede_version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: humantime::format_rfc3339_seconds(outcome.started_at).to_string(),
            aborted: outcome.aborted,
            config: config_of(plan),
            latency_model: if open { "corrected" } else { "service_time" }.to_string(),
            summary: SummaryDoc {
                core: Core::new(total, elapsed, target_rate),
                elapsed_s: round3(elapsed.as_secs_f64()),
                late_sends: g.late_sends,
                dropped: g.dropped,
                unfinished: g.unfinished,
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
                .map(|(c, t)| (c.as_str().to_string(), t.clone()))
                .collect(),
            status_codes: status_map(total),
            group_by: plan.group_by().map(|g| g.label().to_string()),
            groups: outcome
                .groups
                .iter()
                .map(|(key, s)| GroupDoc {
                    key: key.clone(),
                    core: Core::new(s, elapsed, None),
                    errors_by_class: class_map(s),
                    status_codes: status_map(s),
                })
                .collect(),
            series: outcome
                .series
                .iter()
                .map(|p| SeriesPoint::new(p, schedule.as_ref()))
                .collect(),
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
            histograms: Histograms {
                unit: "us".to_string(),
                latency: total.latency.to_v2_base64(),
                service_time: total.service_time.to_v2_base64(),
                connect: total.connect.to_v2_base64(),
                tls_handshake: total.tls_handshake.to_v2_base64(),
                ttfb: total.ttfb.to_v2_base64(),
            },
            servers: Vec::new(),
            thresholds: thresholds_of(plan, outcome, elapsed),
        }
    }

    /// True when every threshold held (also when there are none).
    pub fn thresholds_passed(&self) -> bool {
        self.thresholds.iter().all(|t| t.passed)
    }

    /// Pretty JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the result document always serializes")
    }

    /// Reads a document written by [`RunResult::to_json`] (for example a saved `--out` file).
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

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
    RunConfig {
        scenario_file: plan.journeys().map(|j| j.path.display().to_string()),
        every_s,
        hold_s,
        url: plan.url().to_string(),
        method: method.to_string(),
        model: model.to_string(),
        rate,
        stages,
        arrival: arrival.map(str::to_string),
        connections,
        max_connections,
        duration_s: plan.stop.duration.map(|d| d.as_secs_f64()),
        requests: plan.stop.requests.map(|n| n.get()),
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

/// Evaluates the plan's whole-run thresholds over the run's totals and groups (windowed
/// ones are judged live, second by second, and added by the caller).
fn thresholds_of(plan: &RunPlan, outcome: &RunOutcome, elapsed: Duration) -> Vec<ThresholdOutcome> {
    stampede_analysis::thresholds::evaluate(
        stampede_analysis::thresholds::scoped(&plan.thresholds),
        &outcome.total,
        |key| {
            outcome
                .groups
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, s)| s)
        },
        elapsed,
        outcome.generator.unfinished,
    )
}
