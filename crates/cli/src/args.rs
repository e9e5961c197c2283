//! Flags. Values are parsed at the edge into real types (durations, stages, headers).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{Args, Parser, Subcommand, ValueEnum};
use stampede_analysis::compare::Threshold;
use stampede_experiment::Selector;
use stampede_plan::{parse_start_at, GroupBy, Shard, Stage};

use crate::request_args::RequestArgs;
use crate::value_parsers::{duration, group_by, rate, stage};

/// stampede: load-test web and mobile back ends with numbers you can trust.
#[derive(Debug, Parser)]
#[command(name = "stampede", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load-test a URL and print the results table.
    Run(Box<RunArgs>),
    /// Start the built-in test server.
    Target(TargetArgs),
    /// Start three built-in targets in-process and run a 15 s showcase against them.
    Demo(DemoArgs),
    /// Print the table of a saved result (--out FILE) and optionally render it as HTML.
    Report(ReportArgs),
    /// Run one test across variables ({NAME} placeholders, --axis NAME=V1,V2): one row
    /// per cell, and the axis that explains each metric.
    Matrix(Box<MatrixArgs>),
    /// Compare two saved results; exit 1 when the second regressed beyond --threshold.
    Compare(CompareArgs),
    /// Merge the results of the shards of one run (--shard I/N) or of runs of one
    /// workload into one exact result: sums and HDR histogram additions; thresholds
    /// judged again on the merged data. Exit 1 when a threshold fails.
    Merge(MergeArgs),
    /// Print Kubernetes manifests for a distributed run: an Indexed Job of N workers
    /// (--shard auto/N, one shared --start-at), a coordinator Job and Service that merge
    /// them, and a ConfigMap with the scenario file and its data.
    Kubernetes(Box<KubernetesArgs>),
    /// Validate scenario files without sending anything (exit 2 when one is invalid).
    Check(CheckArgs),
    /// Write a commented example scenario file to start from.
    Init(InitArgs),
    /// Will it scale? One closed-model run per concurrency step (or a capacity search per
    /// instance count), each judged after a warm-up, and the Universal Scalability Law
    /// fitted to the steps.
    Scale(Box<ScaleArgs>),
    /// Search the highest offered rate that meets the SLOs (ramp, bisect, confirm).
    Capacity(Box<CapacityArgs>),
    /// Forecast what a fleet of devices does to a back end: polling vs held WebSockets.
    Plan(Box<crate::forecast_args::PlanArgs>),
    /// Fit the Universal Scalability Law to measured (N, throughput) points: σ, κ, λ, the
    /// peak N* and a verdict (linear, contention-limited, retrograde).
    Usl(UslArgs),
    /// Merge a distributed run live: wait for N workers (`stampede run ... --report-to
    /// URL`), merge their seconds exactly, judge the criteria on the whole, write one
    /// result.
    Coordinator(Box<CoordinatorArgs>),
    /// Replay recorded traffic (an nginx/Apache access log or a HAR file, gzip or not)
    /// against --base-url, at the recorded times (--speed) or a fixed --rate.
    Replay(Box<ReplayArgs>),
    /// A fault-injecting TCP proxy with Toxiproxy's HTTP API (--api) and/or one standalone
    /// proxy (--listen --upstream --toxic latency=100ms --profile 3g).
    Proxy(Box<crate::proxy_cmd::ProxyArgs>),
}

/// A replay's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// HAR when the file starts with '{', else an nginx access log.
    Auto,
    /// nginx access log (combined, optionally with $request_time and/or $msec).
    Nginx,
    /// Apache access log (combined, optionally with %D microseconds).
    Apache,
    /// HAR 1.2.
    Har,
}

fn speed(s: &str) -> Result<f64, String> {
    match s.trim().trim_end_matches('x').parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("'{s}' must be a positive factor, e.g. 2 or 0.5")),
    }
}

/// `stampede replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The file's format.
    #[arg(long, value_enum, default_value = "auto")]
    pub format: FormatArg,
    /// Play the recorded times this much faster (2: twice as fast, 0.5: half as fast).
    #[arg(long, value_parser = speed, conflicts_with = "rate")]
    pub speed: Option<f64>,
    /// Start again at the end of the file (until -d, -n or Ctrl-C).
    #[arg(long = "loop")]
    pub repeat: bool,
    /// Replay only records that pass: method=GET,POST, status=2xx,404 or path=REGEX
    /// (repeatable; all must pass).
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    pub filters: Vec<String>,
    /// Recorded gaps longer than this are shortened to it (said in a warning).
    #[arg(long, value_parser = duration, default_value = "10s")]
    pub max_gap: Duration,
    /// Records held to put the file in time order; a record later than this many
    /// records is sent at once (said in a warning).
    #[arg(long, default_value_t = stampede_replay::DEFAULT_WINDOW, value_name = "N")]
    pub reorder_window: usize,
    /// HAR: also replay requests to this host (repeatable; '*' for every host). By
    /// default only the first entry's host is replayed.
    #[arg(long = "include-host", value_name = "HOST")]
    pub include_hosts: Vec<String>,
    /// The file (first) and the run's flags: --base-url (required), --rate, -d, -n,
    /// --group-by route, -H, TLS, --threshold, --out, --html, ...
    #[command(flatten)]
    pub run: RunArgs,
}

fn percent(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (n, scale) = match t.strip_suffix('%') {
        Some(n) => (n, 100.0),
        None => (t, 1.0),
    };
    match n.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v / scale < 1.0 => Ok(v / scale),
        _ => Err(format!("'{s}' must be a share between 0 and 100%, e.g. 5%")),
    }
}

/// The capacity search's settings, shared by `stampede capacity` and `stampede scale
/// --instances` (one search per instance count).
#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// The rate the (first) search starts at.
    #[arg(long, value_parser = rate, default_value = "100", value_name = "R")]
    pub start: f64,
    /// Never offer more than this rate.
    #[arg(long, value_parser = rate, value_name = "R")]
    pub max_rate: Option<f64>,
    /// Never offer less than this rate when the first step fails and the search descends.
    #[arg(long, value_parser = rate, value_name = "R", default_value = "1")]
    pub min_rate: f64,
    /// Stop bisecting when (first failing − last passing rate) / last passing rate is at
    /// most this, e.g. 5%.
    #[arg(long, value_parser = percent, default_value = "5%")]
    pub precision: f64,
    /// At most this many steps per search [default: 30 for capacity, 12 per instance step
    /// of scale].
    #[arg(long)]
    pub max_steps: Option<usize>,
}

impl SearchArgs {
    /// The controller's settings, with `max_steps` when the flag is not given.
    pub fn settings(&self, max_steps: usize) -> stampede_capacity::Settings {
        stampede_capacity::Settings {
            start: self.start,
            max_rate: self.max_rate,
            min_rate: self.min_rate,
            precision: self.precision,
            max_steps: self.max_steps.unwrap_or(max_steps),
        }
    }
}

/// `stampede capacity`.
#[derive(Debug, Args)]
pub struct CapacityArgs {
    /// An SLO every step must meet, e.g. "p99 < 200ms" or "error_rate < 1%" (repeatable,
    /// at least one).
    #[arg(long = "slo", value_name = "EXPR", value_parser = criterion, required = true)]
    pub slos: Vec<stampede_plan::Threshold>,
    /// The search's rates, precision and step budget.
    #[command(flatten)]
    pub search: SearchArgs,
    /// One step's length, its warm-up included.
    #[arg(long, value_parser = duration, default_value = "10s")]
    pub step: Duration,
    /// The start of each step that is discarded [default: a fifth of --step, at least 1s].
    #[arg(long, value_parser = duration)]
    pub warmup: Option<Duration>,
    /// The run's flags (URL, request, connections, TLS, output); the rate is the search's.
    #[command(flatten)]
    pub run: RunArgs,
}

/// How arrivals are spaced in the open model.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ArrivalArg {
    /// Evenly spaced.
    Uniform,
    /// A Poisson process (exponential gaps).
    Poisson,
}

/// `stampede run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Target URL (http://, https://, ws://, wss://), or a scenario file (.toml, see
    /// docs/scenarios.md).
    #[arg(value_name = "URL|FILE")]
    pub url: String,

    /// Open model: constant arrival rate in requests per second (with --stage: the
    /// starting rate).
    #[arg(short = 'r', long, value_parser = rate)]
    pub rate: Option<f64>,
    /// Open model: a ramp stage DURATION:RATE, e.g. 30s:2000 (repeatable, in order).
    #[arg(long = "stage", value_parser = stage)]
    pub stages: Vec<Stage>,
    /// Open model: arrival process [default: uniform]. Refused in the closed and fleet
    /// models, where it would do nothing.
    #[arg(long, value_enum)]
    pub arrival: Option<ArrivalArg>,
    /// Open model: upper bound on connections opened to keep the schedule [default: 1000].
    /// Refused in the closed and fleet models, where it would do nothing.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Closed model: concurrent connections, each sending back to back (default 50
    /// when no rate is given).
    #[arg(short = 'c', long)]
    pub connections: Option<usize>,
    /// Fleet: N clients (devices), each with its own connection. Required for ws:// and
    /// wss:// URLs.
    #[arg(long)]
    pub clients: Option<usize>,
    /// Fleet: each client sends a request (or WebSocket message) this often, e.g. 10s;
    /// without it, clients send back to back.
    #[arg(long, value_parser = duration, requires = "clients")]
    pub every: Option<Duration>,
    /// Fleet: each client holds its connection this long, then reconnects (e.g. 10m).
    #[arg(long, value_parser = duration, requires = "clients")]
    pub hold: Option<Duration>,

    /// Stop sending after this long (e.g. 30s, 5m). Default: 10s, or the stages' length.
    #[arg(short = 'd', long, value_parser = duration)]
    pub duration: Option<Duration>,
    /// Stop after this many requests.
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    /// The request and how it travels: method, headers, body, HTTP/2, TLS,
    /// --connect-to, timeout, keep-alive, --base-url.
    #[command(flatten)]
    pub request: RequestArgs,

    /// One table row per group: 'header:NAME' (e.g. header:X-Served-By), 'peer', or for
    /// stampede replay 'route' (paths folded into patterns, /users/123 -> /users/:id).
    #[arg(long, value_parser = group_by)]
    pub group_by: Option<GroupBy>,
    /// Worker threads (default: the number of cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Write the full result as JSON to this file.
    #[arg(short = 'o', long)]
    pub out: Option<PathBuf>,
    /// Show no live view and no progress lines while running.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Open model and fleets: the shortest time between two wakes of the send
    /// scheduler; sends due within it leave together. Smaller is more precise (e.g.
    /// 100us), larger costs less CPU at high rates (e.g. 1ms); the lag is measured and
    /// included in the corrected latency either way [default: 500us]. Refused in the
    /// closed model, which has no send schedule.
    #[arg(long, value_parser = duration, value_name = "D")]
    pub timer_slack: Option<Duration>,
    /// Pass/fail criterion (repeatable), e.g. "p99 < 200ms", "error_rate < 0.1%",
    /// "rate >= 900": the exit code is 1 when one fails.
    #[arg(long = "threshold", value_name = "EXPR", value_parser = criterion)]
    pub thresholds: Vec<stampede_plan::Threshold>,
    /// Stop the run as soon as a threshold fails (checked every second on the results
    /// so far).
    #[arg(long)]
    pub abort_on_fail: bool,
    /// Apply only shard I of N of the run (I from 0): open-model arrivals are striped
    /// over the shards, connections, fleet clients, a request limit and unique CSV rows
    /// dealt, so the N shards together are the whole run. auto/N takes I from
    /// JOB_COMPLETION_INDEX (set in the pods of a Kubernetes Indexed Job).
    #[arg(long, value_name = "I/N|auto/N", value_parser = shard_arg)]
    pub shard: Option<ShardArg>,
    /// Start the run's time zero at this wall-clock instant: RFC 3339
    /// (2026-11-29T21:00:00Z) or +DURATION (+30s), so that shards on several machines
    /// start together. Refused if more than 1 s in the past.
    #[arg(long, value_name = "TIME", value_parser = start_at)]
    pub start_at: Option<SystemTime>,
    /// Stream every second of this run to a live coordinator (`stampede coordinator`) at
    /// this address, e.g. http://10.0.0.5:7070, and hand it the result at the end; this
    /// run keeps its own outputs too, and goes on if the coordinator cannot be reached.
    #[arg(long, value_name = "URL")]
    pub report_to: Option<String>,
    /// A fault scheduled into the run, 'at 20s for 10s: latency 200ms' (repeatable):
    /// the run goes through an in-process fault proxy in front of the target that adds
    /// the toxic (any of the proxy's, in words or its --toxic syntax) or goes `down`
    /// at 'at' and removes it after 'for'. The report shows each fault's before, during
    /// and after, and --out records when each fault was on.
    #[arg(long = "fault", value_name = "SPEC", value_parser = fault)]
    pub faults: Vec<stampede_experiment::FaultSpec>,
    /// Import the instance outages that `stampede target --outage-log FILE` writes: read
    /// at the end of the run, each outage that overlaps it joins the fault timeline (by
    /// wall-clock time), with its before, during and after, as a `down` fault.
    #[arg(long, value_name = "FILE")]
    pub outage_log: Option<PathBuf>,
    /// Live view, HTML report and live metrics.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `stampede coordinator`.
#[derive(Debug, Args)]
pub struct CoordinatorArgs {
    /// Where the workers report (`stampede run ... --report-to http://ADDR`); port 0
    /// picks a free port (printed on stderr).
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// How many workers make the run; the coordinator waits for all of them.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub workers: u32,
    /// How long to wait for every worker's hello before giving up.
    #[arg(long, value_parser = duration, default_value = "60s", value_name = "DURATION")]
    pub wait: Duration,
    /// A worker that sends nothing for this long is lost: its share is missing from the
    /// result, which says so.
    #[arg(long, value_parser = duration, default_value = "5s", value_name = "DURATION")]
    pub lost_after: Duration,
    /// Pass/fail criterion judged on the merged data (repeatable), e.g. "p99 < 200ms",
    /// "requests >= 30000": the exit code is 1 when one fails.
    #[arg(long = "threshold", value_name = "EXPR", value_parser = criterion)]
    pub thresholds: Vec<stampede_plan::Threshold>,
    /// Stop every worker as soon as a criterion fails on the merged data.
    #[arg(long)]
    pub abort_on_fail: bool,
    /// One table row per worker: 'worker'.
    #[arg(long, value_parser = ["worker"])]
    pub group_by: Option<String>,
    /// Write the merged result as JSON to this file.
    #[arg(short = 'o', long)]
    pub out: Option<PathBuf>,
    /// Show no live view and no progress lines.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Live view, HTML report and live metrics.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `--shard`: a fixed shard, or `auto/N` with the index from the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardArg {
    /// `I/N`.
    Fixed(Shard),
    /// `auto/N`: I from `JOB_COMPLETION_INDEX`.
    Auto(usize),
}

/// The environment variable `--shard auto/N` reads (set by Kubernetes in the pods of an
/// Indexed Job).
pub(crate) const SHARD_INDEX_VAR: &str = "JOB_COMPLETION_INDEX";

impl ShardArg {
    /// The shard, with `index_var` the value of [`SHARD_INDEX_VAR`] for `auto/N`.
    pub fn resolve(self, index_var: Option<&str>) -> Result<Shard, String> {
        match self {
            ShardArg::Fixed(s) => Ok(s),
            ShardArg::Auto(n) => {
                let text = index_var.ok_or_else(|| {
                    format!(
                        "--shard auto/{n} takes the shard index from {SHARD_INDEX_VAR}, \
                         which is not set (it is set in the pods of a Kubernetes Indexed \
                         Job; elsewhere give --shard I/{n})"
                    )
                })?;
                let i: usize = text.trim().parse().map_err(|_| {
                    format!("--shard auto/{n}: {SHARD_INDEX_VAR}='{text}' is not a number")
                })?;
                Shard::new(i, n)
                    .map_err(|e| format!("--shard auto/{n}: {SHARD_INDEX_VAR}={i}: {e}"))
            }
        }
    }
}

fn shard_arg(s: &str) -> Result<ShardArg, String> {
    if let Some(n) = s.trim().strip_prefix("auto/") {
        return match n.trim().parse::<usize>() {
            // Checks the count now; the index comes at run time.
            Ok(n) => Shard::new(0, n)
                .map(|_| ShardArg::Auto(n))
                .map_err(|e| e.to_string()),
            Err(_) => Err(format!(
                "'{s}': expected auto/N with N a shard count, e.g. auto/4"
            )),
        };
    }
    Shard::parse(s)
        .map(ShardArg::Fixed)
        .map_err(|e| e.to_string())
}

fn start_at(s: &str) -> Result<SystemTime, String> {
    parse_start_at(s, SystemTime::now()).map_err(|e| e.to_string())
}

/// `stampede matrix`.
#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// An axis NAME=V1,V2,... (repeatable): every combination of the axes' values is one
    /// cell, a run of its own; {NAME} in the URL, a -H value or --connect-to takes the
    /// cell's value. A scenario file brings its own axes ([matrix.AXIS] tables).
    #[arg(long = "axis", value_name = "NAME=V1,V2")]
    pub axes: Vec<String>,
    /// Seconds at the start of each cell's run whose data is discarded (whole seconds,
    /// rounded up; 0: none).
    #[arg(long, value_parser = duration, default_value = "1s")]
    pub warmup: Duration,
    /// The load of every cell: the flags of `stampede run` (URL first, with its {NAME}
    /// placeholders, or a scenario file with a [matrix] table). --out and --html write
    /// the matrix's document and page.
    #[command(flatten)]
    pub run: RunArgs,
}

/// The steps of a sweep, in order (`--concurrency 1,2,4`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepList(pub Vec<std::num::NonZeroUsize>);

fn steps(s: &str) -> Result<StepList, String> {
    stampede_scale::parse_steps(s)
        .map(StepList)
        .map_err(|e| e.to_string())
}

/// `stampede scale`.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Target URL (http://, https://), or a scenario file (.toml): N connections or N
    /// virtual users per step.
    #[arg(value_name = "URL|FILE")]
    pub url: String,
    /// The steps: concurrent connections (or virtual users) of each, increasing, e.g.
    /// 1,2,4,8,16,32,64. N is the requests in flight: with --http2, one stream per
    /// connection (--streams is refused).
    #[arg(long, value_name = "N,N,...", value_parser = steps, required_unless_present = "instances", conflicts_with = "instances")]
    pub concurrency: Option<StepList>,
    /// Instance sweep: step k sends to the first k --connect-to addresses, and its
    /// throughput is the capacity at the --slo found by a capacity search, e.g. 1,2,3,4.
    #[arg(long, value_name = "K,K,...", value_parser = steps, requires = "slos")]
    pub instances: Option<StepList>,
    /// Instance sweep: an SLO every capacity step must meet (repeatable), e.g.
    /// "p99 < 200ms", "error_rate < 1%".
    #[arg(long = "slo", value_name = "EXPR", value_parser = criterion)]
    pub slos: Vec<stampede_plan::Threshold>,
    /// Instance sweep: the capacity searches' rates, precision and step budget (later
    /// searches start at the last capacity scaled to their instance count).
    #[command(flatten)]
    pub search: SearchArgs,
    /// Measured time of each step, after its warm-up (whole seconds, rounded up); for an
    /// instance sweep, each capacity step's window (at least 5s).
    #[arg(short = 'd', long, value_parser = duration, default_value = "10s")]
    pub duration: Duration,
    /// Warm-up of each step, dropped before its measured window (whole seconds, rounded
    /// up): connections open, caches fill, the first round of requests settles.
    #[arg(long, value_parser = duration, default_value = "2s")]
    pub warmup: Duration,
    /// The request and how it travels (as for `stampede run`); --http2 keeps one stream
    /// per connection, so N is still the requests in flight.
    #[command(flatten)]
    pub request: RequestArgs,
    /// Worker threads (default: the number of cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Write the sweep (steps with their result documents, the fit, the verdict) as JSON.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the sweep as an HTML page (points, fitted curve, linear ideal, N*).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Print no progress line per step.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `stampede check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Scenario files (TOML) to validate.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// `stampede init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the example.
    #[arg(default_value = "stampede.toml")]
    pub file: PathBuf,
    /// Overwrite the file if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `stampede target`.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Address of the first instance; further instances use the following ports.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Number of instances on consecutive ports.
    #[arg(long, default_value_t = 1)]
    pub instances: u16,
    /// Instance name prefix: instances are PREFIX-1, PREFIX-2, ... (X-Served-By).
    #[arg(long, default_value = "target")]
    pub name: String,
    /// Delay added to every response.
    #[arg(long, value_parser = duration)]
    pub delay: Option<Duration>,
    /// Fraction (0..1) of requests answered with --error-status.
    #[arg(long)]
    pub error_rate: Option<f64>,
    /// Status used by --error-rate.
    #[arg(long, default_value_t = 503)]
    pub error_status: u16,
    /// Stop-the-world pause length: no response is written during a stall.
    #[arg(long, value_parser = duration, requires = "stall_every")]
    pub stall: Option<Duration>,
    /// Period of the stalls (the first starts one period after start).
    #[arg(long, value_parser = duration)]
    pub stall_every: Option<Duration>,
    /// Contention knob: every request holds one lock shared by all instances for this long
    /// (waiting, not burning CPU), like one database connection behind a fleet; throughput
    /// flattens at one request per DURATION. At most 1h.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub serial_section: Option<Duration>,
    /// Coherency knob: a request that finds n requests in flight on the target (itself
    /// included) waits DURATION x n(n-1) more, like nodes that must agree with each other;
    /// throughput peaks, then falls as clients are added. At most 1h.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub coherency_delay: Option<Duration>,
    /// A fault profile for one instance, N:KEY=VALUE[,KEY=VALUE...], replacing the
    /// server-wide flags for instance N (1-based), e.g. 2:error-rate=0.05 (repeatable).
    /// Keys: delay, error-rate, error-status, stall, stall-every, and an outage:
    /// 2:down-at=10s,up-at=20s (from start; while down, connects are refused and open
    /// connections closed).
    #[arg(long = "instance-fault")]
    pub instance_faults: Vec<String>,
    /// Write each instance going down or coming back (--instance-fault down-at/up-at) to
    /// this file as it happens, one JSON object a line with its wall-clock time, for
    /// `stampede run --outage-log FILE` (the same lines are printed on stdout).
    #[arg(long, value_name = "FILE")]
    pub outage_log: Option<PathBuf>,
    /// Server worker threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Serve HTTPS with a certificate generated at start for localhost, 127.0.0.1 and ::1;
    /// the CA certificate to trust is written to --cert-out.
    #[arg(long)]
    pub tls: bool,
    /// Serve HTTPS with this certificate chain (PEM, leaf first); needs --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// The private key of --cert (PEM).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// With TLS: require client certificates issued by a CA in this PEM file (mutual TLS).
    #[arg(long, value_name = "FILE")]
    pub client_ca: Option<PathBuf>,
    /// With TLS: write the certificate clients should trust here (default: a file in the
    /// temporary directory).
    #[arg(long, value_name = "FILE")]
    pub cert_out: Option<PathBuf>,
    /// Serve HTTP/1.1 only: no h2 through ALPN, no h2c.
    #[arg(long)]
    pub no_http2: bool,
    /// Answer every request held on /poll with an event this often.
    #[arg(long, value_parser = duration)]
    pub poll_event_every: Option<Duration>,
    /// Listen backlog: connections the kernel queues before the server accepts them
    /// (capped by net.core.somaxconn). Too small a queue drops the SYNs of a burst of
    /// clients, who then wait a second or more for a retransmit.
    #[arg(long, default_value_t = stampede_testserver::DEFAULT_BACKLOG, value_parser = clap::value_parser!(u32).range(1..))]
    pub backlog: u32,
}

/// `stampede demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Length of the showcase.
    #[arg(long, value_parser = duration, default_value = "15s")]
    pub duration: Duration,
    /// Peak arrival rate of the ramp.
    #[arg(long, value_parser = rate, default_value = "1500")]
    pub peak_rate: f64,
    /// Write the full result as JSON to this file.
    #[arg(short = 'o', long)]
    pub out: Option<PathBuf>,
    /// Show no live view and no progress lines while running.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Live view, HTML report and live metrics.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// How a run is watched and what it writes besides the table (shared by `run` and
/// `demo`).
#[derive(Debug, Clone, Default, Args)]
pub struct OutputArgs {
    /// Write a self-contained HTML report with charts to this file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// On a terminal, print progress lines instead of the live dashboard.
    #[arg(long)]
    pub no_dashboard: bool,
    /// Serve live metrics in the Prometheus text format on this address
    /// (e.g. 127.0.0.1:9464; port 0 picks a free port), at /metrics.
    #[arg(long, value_name = "ADDR")]
    pub prometheus_listen: Option<SocketAddr>,
    /// Keep serving the final metrics this long after the run (e.g. 15s), so that a
    /// scraper reads the final numbers.
    #[arg(long, value_parser = duration, value_name = "DURATION", requires = "prometheus_listen")]
    pub prometheus_hold: Option<Duration>,
    /// Watch a server process on this machine (repeatable): its CPU time and peak memory
    /// during the run are reported beside the results, e.g. CPU per request.
    #[arg(long = "watch-pid", value_name = "PID")]
    pub watch_pid: Vec<u32>,
    /// Scrape this Prometheus exposition endpoint (e.g. a node exporter's
    /// http://127.0.0.1:9100/metrics) every second of the run (repeatable); its series go
    /// into the result, the table and the HTML report. Failed scrapes are counted, never
    /// fatal.
    #[arg(long = "server-metrics", value_name = "URL")]
    pub server_metrics: Vec<String>,
    /// A series to take from the --server-metrics endpoints (repeatable):
    /// NAME, NAME{label="v",...} or rate(NAME{...}); counters become per-second rates.
    /// Without it: the node exporter defaults (CPU busy, memory available, network bytes,
    /// TCP in use, retransmits).
    #[arg(long = "server-metric", value_name = "SERIES", value_parser = selector, requires = "server_metrics")]
    pub server_metric: Vec<Selector>,
    /// After the run, ask this Prometheus server's query_range for each --query over the
    /// run's window at 1 s steps (e.g. http://127.0.0.1:9090).
    #[arg(long, value_name = "URL", requires = "query")]
    pub prometheus: Option<String>,
    /// A PromQL expression for --prometheus (repeatable).
    #[arg(long, value_name = "EXPR", requires = "prometheus")]
    pub query: Vec<String>,
}

fn selector(text: &str) -> Result<Selector, String> {
    Selector::parse(text)
}

/// `stampede report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A result written by `stampede run --out FILE`.
    pub result: PathBuf,
    /// Write the HTML report to this file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// `stampede merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Results written by `stampede run --out FILE` (one per shard).
    #[arg(value_name = "RESULT.json", required = true)]
    pub results: Vec<PathBuf>,
    /// Write the merged result here.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub out: PathBuf,
    /// Also write the HTML report of the merged result.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Do not print the merged table.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// How strongly the workers of `stampede kubernetes` avoid sharing a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Spread {
    /// Prefer distinct nodes; share when there are fewer nodes than workers.
    Preferred,
    /// Require distinct nodes; extra workers stay pending.
    Required,
}

/// `stampede kubernetes`.
#[derive(Debug, Args)]
pub struct KubernetesArgs {
    /// Worker pods (shards).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub workers: u32,
    /// The container image with stampede as its entrypoint (see Containerfile).
    #[arg(long)]
    pub image: String,
    /// Prefix of the objects' names.
    #[arg(long, default_value = "stampede")]
    pub name: String,
    /// Namespace of the objects [default: kubectl's current one].
    #[arg(long)]
    pub namespace: Option<String>,
    /// When every worker starts: RFC 3339, or +DURATION from now; fixed in the
    /// manifests, so apply them before then.
    #[arg(long, default_value = "+2m", value_name = "TIME")]
    pub start_at: String,
    /// The port the coordinator listens on for its workers.
    #[arg(long, default_value_t = 7070)]
    pub port: u16,
    /// CPU each worker pod requests.
    #[arg(long, default_value = "1")]
    pub worker_cpu: String,
    /// Memory each worker pod requests (also its limit).
    #[arg(long, default_value = "512Mi")]
    pub worker_memory: String,
    /// CPU the coordinator requests.
    #[arg(long, default_value = "500m")]
    pub coordinator_cpu: String,
    /// Memory the coordinator requests (also its limit).
    #[arg(long, default_value = "256Mi")]
    pub coordinator_memory: String,
    /// Keep workers on distinct nodes: preferred (share nodes when there are too few)
    /// or required (extra workers wait for a node).
    #[arg(long, value_enum, default_value = "preferred")]
    pub spread: Spread,
    /// A PersistentVolumeClaim for the coordinator's --out and --html files (mounted at
    /// /results).
    #[arg(long, value_name = "CLAIM")]
    pub results_pvc: Option<String>,
    /// The run: what `stampede run` takes (URL or FILE.toml, then its flags). Outputs
    /// and --threshold go to the coordinator, the rest to every worker.
    #[arg(
        value_name = "URL|FILE [RUN FLAGS]",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub run: Vec<String>,
}

/// `stampede usl`.
#[derive(Debug, Args)]
pub struct UslArgs {
    /// The measurements: a CSV file of rows `N,X` (header optional, `#` comments), or the
    /// JSON that `stampede scale --out` writes (`steps[].n`, `steps[].throughput`; read when
    /// the name ends in .json or the text starts with `{`).
    #[arg(value_name = "DATA.csv|scale.json")]
    pub data: PathBuf,
    /// Write the fit as JSON (schema: crates/usl/schema/usl.schema.json).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write an HTML page: the points, the fitted curve, the linear ideal and N*.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

fn fault(s: &str) -> Result<stampede_experiment::FaultSpec, String> {
    stampede_experiment::FaultSpec::parse(s)
}

fn criterion(s: &str) -> Result<stampede_plan::Threshold, String> {
    stampede_plan::Threshold::parse(s)
}

fn threshold(s: &str) -> Result<Threshold, String> {
    s.parse()
        .map_err(|e: stampede_analysis::compare::ThresholdError| e.to_string())
}

/// `stampede compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline result (`--out FILE` of an earlier run).
    pub baseline: PathBuf,
    /// The candidate result, compared against the baseline.
    pub candidate: PathBuf,
    /// Relative change beyond which a gated metric is a regression (latency p50-p99.9
    /// slower, achieved rate lower, error rate higher).
    #[arg(long, value_parser = threshold, default_value = "10%")]
    pub threshold: Threshold,
}
