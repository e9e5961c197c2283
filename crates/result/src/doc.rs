//! The document's types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{GeneratorWarning, Percentiles, ThresholdOutcome};

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
    /// Server-side series on the run's time axis (`--server-metrics`, `--prometheus`
    /// with `--query`), one value per second of the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_metrics: Vec<ServerMetricDoc>,
    /// Each endpoint or query the server series came from, with its attempts and
    /// failures (present even when a source gave no series at all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_metric_sources: Vec<MetricSourceDoc>,
    /// The shards of a sharded run (`--shard I/N`) this document holds: one for a
    /// shard's own result, all of them for a complete merge. Absent for a run that was
    /// not sharded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardDoc>,
    /// The planned start of a run told to start at a wall-clock instant (`--start-at`),
    /// and how far from it the run really started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<StartDoc>,
    /// Written by a live coordinator (`stampede coordinator`): its workers, their clock
    /// offsets and start errors, and whether the result is partial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinator: Option<crate::CoordinatorDoc>,
    /// `stampede replay`: the file, what could not be replayed as recorded, and the
    /// recorded response times per route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayDoc>,
    /// The faults switched on and off during the run (`--fault`), in start order, with
    /// the times they actually took effect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultDoc>,
}

/// Which shards of a run a document holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardDoc {
    /// How many shards the run was split into (the `N` of `--shard I/N`).
    pub count: usize,
    /// The shards included, ascending (the `I`s).
    pub indexes: Vec<usize>,
}

/// A start at a planned wall-clock instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartDoc {
    /// The instant asked for (RFC 3339, UTC, with fractional seconds).
    pub planned_at: String,
    /// The generator's wall clock when the run's time zero came, minus `planned_at`, in
    /// milliseconds (positive: late). In a merge, the shard furthest from the plan.
    pub error_ms: f64,
}

/// One fault of the run's timeline: what was injected where, and when it was on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultDoc {
    /// What kind of fault: a toxic's type (`latency`, `bandwidth`, `timeout`,
    /// `reset_peer`, ...) or `down` (the target refused connections).
    pub kind: String,
    /// The fault as given, e.g. `at 20s for 10s: latency 200ms`.
    pub spec: String,
    /// What it was applied to, e.g. `proxy 127.0.0.1:41234 -> 127.0.0.1:8080`.
    pub target: String,
    /// Seconds from the run's start to when the fault took effect.
    pub start_s: f64,
    /// Seconds from the run's start to when it was removed; null when it was still on
    /// when the run ended.
    pub end_s: Option<f64>,
}

/// What a replay read (`stampede replay`; docs/replay.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayDoc {
    /// The file replayed.
    pub file: String,
    /// Records replayed (one pass of the file).
    pub records: u64,
    /// One line per kind of record that could not be replayed as recorded, with its
    /// count (malformed lines, bodies access logs lack, other hosts, ...).
    pub warnings: Vec<String>,
    /// The recorded response times per route (`--group-by route` rows), when the file has
    /// them (`$request_time`, `%D`, HAR `time`).
    pub routes: Vec<RecordedRoute>,
}

/// One route's recorded response times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRoute {
    /// `METHOD /pattern`, as the route's row key.
    pub route: String,
    /// Records with a recorded time.
    pub recorded: u64,
    /// Recorded median, in milliseconds.
    pub p50_ms: f64,
    /// Recorded 99th percentile, in milliseconds.
    pub p99_ms: f64,
}

/// One server-side series: one value per second of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerMetricDoc {
    /// The series' name: a metric name (`node_sockstat_TCP_inuse`), a default's name
    /// (`cpu_busy`) or the query's `__name__` (else the query itself).
    pub name: String,
    /// The series' labels (without `__name__`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Where it came from: the scraped URL, or `PROMETHEUS_URL query EXPR`.
    pub source: String,
    /// How each value is derived from what the source exposes: `value` (a gauge as
    /// read), `rate(NAME)` (a counter's increase per second), or a default's formula.
    pub derived: String,
    /// Unit, when known (`ratio`, `bytes`, `bytes/s`, `sockets`, `segments/s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// What a value of second `t` is: a reading at its end, `t + 1` s (`end_of_second`:
    /// gauges, `query_range` samples) or a rate or share over the whole second
    /// (`over_second`: counters, CPU busy). Absent in documents written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampled: Option<Sampled>,
    /// Value of second `t` at index `t` (the end of the interval [t, t+1)); null where a
    /// scrape failed or the source had no value.
    pub values: Vec<Option<f64>>,
}

/// When a server series' value of second `t` was measured: where a chart places it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampled {
    /// Read at the end of the second, `t + 1` s after the run's start.
    EndOfSecond,
    /// Over the whole second `[t, t + 1)`, from the readings at its start and end.
    OverSecond,
}

/// One source of server series and how reading it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSourceDoc {
    /// The scraped URL, or `PROMETHEUS_URL query EXPR`.
    pub source: String,
    /// `scrape` (read every second during the run) or `prometheus` (`query_range` after
    /// it).
    pub kind: String,
    /// Requests made to it.
    pub attempts: u64,
    /// Requests that failed (refused, timeout, HTTP error, unparsable answer).
    pub failures: u64,
    /// The first failure, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// Series it gave.
    pub series: u64,
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
    /// `open`, `closed`, `fleet` or `replay`.
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
    /// Open model: arrivals the schedule asked for over the measured span (the target
    /// rate times `elapsed_s`, rounded down), so that merged target rates stay exact;
    /// null in the closed model and in version-1 documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled: Option<u64>,
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
    /// The group's full histograms (version 2; absent in version-1 documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histograms: Option<Histograms>,
    /// Scenario runs: how this row's latency is measured, `corrected` (the first step of
    /// an open-model scenario, from its intended time) or `service_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_model: Option<String>,
    /// This row's own wait in milliseconds (a `ws_expect` step's timeout), when it is not
    /// the run's timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<f64>,
}

/// Percentiles of one second.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
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
    /// This second's full histograms (version 2; absent in version-1 documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histograms: Option<PointHistograms>,
}

/// The full histograms of one second, HdrHistogram V2 compressed base64 (microseconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointHistograms {
    /// Latency (see `latency_model`).
    pub latency: String,
    /// Service time.
    pub service_time: String,
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
    /// WebSocket upgrade time (version 2; empty in version-1 documents).
    #[serde(default)]
    pub upgrade: String,
    /// Open model: actual minus intended send time (version 2; absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_lag: Option<String>,
}
