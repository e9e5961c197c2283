//! The run plan: what runs (a [`Workload`]) and how the run is bounded.

use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::scenario::Journeys;
use crate::{redact_url, Load, RateProfile, ScopedThreshold, Shard, Target};

/// Why a plan is invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A single value could not be parsed.
    #[error("invalid {what} '{value}': {reason}")]
    Value {
        /// What kind of value (duration, stage, header, url, ...).
        what: &'static str,
        /// The text given.
        value: String,
        /// Why it was rejected and what is expected.
        reason: String,
    },
    /// The combination of settings is contradictory or incomplete.
    #[error("{0}")]
    Conflict(String),
}

impl From<std::convert::Infallible> for PlanError {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

/// The request each virtual user or arrival sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    /// HTTP method, upper case.
    pub method: String,
    /// Extra headers in order.
    pub headers: Vec<(String, String)>,
    /// Request body (empty for none).
    pub body: Vec<u8>,
}

impl Default for RequestSpec {
    fn default() -> Self {
        RequestSpec {
            method: "GET".into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

/// When the run stops (whichever comes first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopCondition {
    /// Stop sending after this long.
    pub duration: Option<Duration>,
    /// Stop after this many requests were sent.
    pub requests: Option<NonZeroU64>,
}

/// How result rows are grouped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// By the value of a response header, e.g. `X-Served-By`.
    Header(String),
    /// By the remote address of the connection.
    Peer,
    /// By scenario step (scenario runs).
    Step,
    /// By route, paths folded into patterns (`GET /users/:id`; replays).
    Route,
}

impl GroupBy {
    /// Parses `header:NAME`, `peer` or `route`.
    pub fn parse(text: &str) -> Result<GroupBy, PlanError> {
        match text {
            "peer" => return Ok(GroupBy::Peer),
            "route" => return Ok(GroupBy::Route),
            _ => {}
        }
        match text.split_once(':') {
            Some(("header", name)) if !name.trim().is_empty() => {
                Ok(GroupBy::Header(name.trim().to_string()))
            }
            _ => Err(PlanError::Value {
                what: "group-by",
                value: text.to_string(),
                reason: "expected 'header:NAME', 'peer' or (replays) 'route'".into(),
            }),
        }
    }

    /// A short label for tables, e.g. `X-Served-By` or `peer`.
    pub fn label(&self) -> &str {
        match self {
            GroupBy::Header(h) => h,
            GroupBy::Peer => "peer",
            GroupBy::Step => "step",
            GroupBy::Route => "route",
        }
    }
}

/// TLS client settings (for `https://` and `wss://`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsOptions {
    /// Accept any server certificate (testing only).
    pub insecure: bool,
    /// Trust the certificates in this PEM file instead of the built-in web roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// Client certificate chain and private key (PEM) for mutual TLS.
    pub client_cert: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Disable TLS session resumption, so every new connection pays a full handshake.
    pub no_resume: bool,
}

/// The HTTP version to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersion {
    /// HTTP/1.1 (over TLS, ALPN offers only `http/1.1`).
    #[default]
    Http1,
    /// HTTP/2: ALPN `h2` over TLS, prior-knowledge h2c over TCP.
    Http2 {
        /// Concurrent streams per connection.
        streams: NonZeroUsize,
    },
}

/// A run that sends one request again and again under one load model.
#[derive(Debug, Clone)]
pub struct RequestWorkload {
    /// Where requests go.
    pub target: Target,
    /// What each request is.
    pub request: RequestSpec,
    /// Open, closed or fleet model.
    pub load: Load,
    /// HTTP version.
    pub http: HttpVersion,
    /// Addresses to connect to instead of resolving the URL's host (round-robin per
    /// connection); the `Host` header still names the URL's host.
    pub connect_to: Vec<SocketAddr>,
    /// TLS settings, used when the scheme is `https` or `wss`.
    pub tls: TlsOptions,
    /// Optional grouping of result rows.
    pub group_by: Option<GroupBy>,
}

/// What a run sends.
#[derive(Debug, Clone)]
// One plan per run: not boxing keeps `Workload::Requests(w)` plain to build and match.
#[allow(clippy::large_enum_variant)]
pub enum Workload {
    /// One request, repeated (a URL and flags).
    Requests(RequestWorkload),
    /// Virtual users walking through the journeys of a scenario file. Each scenario is a
    /// lane with its own load ([`Journeys::lane_loads`]); rows are grouped by step.
    Journeys(Arc<Journeys>),
}

/// Everything the engine needs for one run, validated. Build one with
/// [`RunPlan::builder`] or [`RunPlan::scenario_builder`].
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// What is sent, to where, under which load.
    pub workload: Workload,
    /// When to stop.
    pub stop: StopCondition,
    /// Per-request timeout (connect included).
    pub timeout: Duration,
    /// Worker threads.
    pub threads: NonZeroUsize,
    /// Reuse connections (HTTP keep-alive); when false every request opens a new one.
    pub keep_alive: bool,
    /// Pass/fail criteria checked at the end (and each second with `abort_on_fail`).
    pub thresholds: Vec<ScopedThreshold>,
    /// Stop the run as soon as a threshold fails.
    pub abort_on_fail: bool,
    /// The shortest time between two wakes of the open-model dispatcher (and fleet
    /// clocks): sends due within it leave together. Smaller is more precise, larger
    /// costs less CPU at high rates.
    pub timer_slack: Duration,
    /// The part of the run this process applies ([`Shard::WHOLE`] unless `--shard`).
    pub shard: Shard,
    /// The wall-clock instant of the run's time zero (`--start-at`), so that the shards
    /// of one run start together; `None` starts at once.
    pub start_at: Option<SystemTime>,
}

/// The default `timer_slack`.
pub const DEFAULT_TIMER_SLACK: Duration = Duration::from_micros(500);

/// The default run length when neither a duration, a request count nor stages are given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// The default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default closed-model concurrency.
pub const DEFAULT_CONNECTIONS: NonZeroUsize = NonZeroUsize::new(50).expect("non-zero");

/// Scenario rows are grouped by step.
static BY_STEP: GroupBy = GroupBy::Step;

impl RunPlan {
    /// Checks the plan for contradictions and fills in derived defaults: an open model
    /// with stages and no explicit stop runs for the length of its stages; a plan with
    /// no stop condition runs for [`DEFAULT_DURATION`] (a scenario run for its file's
    /// `duration`).
    pub fn validate(mut self) -> Result<RunPlan, PlanError> {
        if self.timeout.is_zero() {
            return Err(PlanError::Conflict("--timeout must be positive".into()));
        }
        if self.timer_slack > Duration::from_millis(100) {
            return Err(PlanError::Conflict(
                "--timer-slack must be at most 100ms (it delays sends by up to that much)".into(),
            ));
        }
        if let Workload::Requests(w) = &self.workload {
            w.validate()?;
            if let Load::Closed { connections } = &w.load {
                if !self.keep_alive && connections.get() > 20_000 {
                    return Err(PlanError::Conflict(
                        "too many connections for this process's file limit".into(),
                    ));
                }
            }
        }
        if self.stop.duration.is_none() && self.stop.requests.is_none() {
            self.stop.duration = match &self.workload {
                Workload::Journeys(j) => Some(j.duration),
                Workload::Requests(RequestWorkload {
                    load: Load::Open { profile, .. },
                    ..
                }) if !profile.stages_duration().is_zero() => Some(profile.stages_duration()),
                // A replay ends with its file (or a --loop replay on Ctrl-C).
                Workload::Requests(RequestWorkload {
                    load: Load::Replay { .. },
                    ..
                }) => None,
                Workload::Requests(_) => Some(DEFAULT_DURATION),
            };
        }
        if self.stop.duration.is_some_and(|d| d.is_zero()) {
            return Err(PlanError::Conflict("--duration must be positive".into()));
        }
        self.check_shard()?;
        Ok(self)
    }

    /// A shard must get something of every count it is dealt.
    fn check_shard(&self) -> Result<(), PlanError> {
        let shard = self.shard;
        let empty = |what: &str, total: u64| {
            PlanError::Conflict(format!(
                "--shard {shard}: {total} {what} dealt over {} shards leave shard {} none; \
                 use at most {total} shards",
                shard.count(),
                shard.index()
            ))
        };
        if let Some(n) = self.stop.requests {
            if shard.share_of_u64(n.get()) == 0 {
                return Err(empty("requests (--requests)", n.get()));
            }
        }
        match self.requests().map(|w| &w.load) {
            Some(Load::Closed { connections }) if shard.share_of(connections.get()) == 0 => {
                Err(empty("connections", connections.get() as u64))
            }
            Some(Load::Fleet { clients, .. }) if shard.share_of(clients.get()) == 0 => {
                Err(empty("clients", clients.get() as u64))
            }
            Some(Load::Replay { .. }) if !shard.is_whole() => Err(PlanError::Conflict(format!(
                "--shard {shard}: a replay is not sharded (every shard would replay the whole \
                 file); replay it from one process"
            ))),
            _ => Ok(()),
        }
    }

    /// The single-request workload, or `None` for a scenario run.
    pub fn requests(&self) -> Option<&RequestWorkload> {
        match &self.workload {
            Workload::Requests(w) => Some(w),
            Workload::Journeys(_) => None,
        }
    }

    /// The scenario file's journeys, or `None` for a single-request run.
    pub fn journeys(&self) -> Option<&Arc<Journeys>> {
        match &self.workload {
            Workload::Journeys(j) => Some(j),
            Workload::Requests(_) => None,
        }
    }

    /// The URL the run is against: the request's, or the base URL of a scenario file's
    /// first (default) target.
    pub fn url(&self) -> &url::Url {
        match &self.workload {
            Workload::Requests(w) => &w.target.url,
            Workload::Journeys(j) => &j.targets[0].base.url,
        }
    }

    /// What is loaded, in a few words: `GET http://...`, `replay against URL` or
    /// `scenario FILE against URL`
    /// (a password in the URL shown as `****`).
    pub fn subject(&self) -> String {
        match &self.workload {
            Workload::Requests(w) if matches!(w.load, Load::Replay { .. }) => {
                format!("replay against {}", redact_url(&w.target.url))
            }
            Workload::Requests(w) => {
                format!("{} {}", w.request.method, redact_url(&w.target.url))
            }
            Workload::Journeys(j) => {
                let url = redact_url(self.url());
                format!("scenario {} against {url}", j.path.display())
            }
        }
    }

    /// How result rows are grouped: the flag's choice, or by step for scenario runs.
    pub fn group_by(&self) -> Option<&GroupBy> {
        match &self.workload {
            Workload::Requests(w) => w.group_by.as_ref(),
            Workload::Journeys(_) => Some(&BY_STEP),
        }
    }

    /// True when requests have intended send times, so latency is measured from them:
    /// the open model or a fleet with an interval; for scenario runs, when any lane is
    /// open ([`Journeys::is_scheduled`]).
    pub fn is_scheduled(&self) -> bool {
        match &self.workload {
            Workload::Requests(w) => w.load.is_scheduled(),
            Workload::Journeys(j) => j.is_scheduled(),
        }
    }

    /// The request rate the run intends over time ([`Load::schedule_profile`]); `None`
    /// without a schedule and for scenario runs, whose schedules count journeys, not
    /// requests.
    pub fn schedule_profile(&self) -> Option<RateProfile> {
        self.requests().and_then(|w| w.load.schedule_profile())
    }

    /// The intended request rate at the start, when [`RunPlan::schedule_profile`] has one.
    pub fn target_rate(&self) -> Option<f64> {
        self.schedule_profile().map(|p| p.start_rate)
    }
}

impl RequestWorkload {
    fn validate(&self) -> Result<(), PlanError> {
        let method = &self.request.method;
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(PlanError::Value {
                what: "--method",
                value: method.clone(),
                reason: "expected letters, e.g. GET or POST".into(),
            });
        }
        if let Load::Open { profile, .. } = &self.load {
            if !profile.start_rate.is_finite() || profile.start_rate < 0.0 {
                return Err(PlanError::Conflict(
                    "the rate must be a non-negative number".into(),
                ));
            }
            if profile.peak_rate() <= 0.0 {
                return Err(PlanError::Conflict(
                    "the open model needs a positive rate somewhere: give --rate or a --stage with a rate above 0".into(),
                ));
            }
        }
        if let Load::Fleet { every, hold, .. } = &self.load {
            if every.is_some_and(|d| d.is_zero()) || hold.is_some_and(|d| d.is_zero()) {
                return Err(PlanError::Conflict(
                    "--every and --hold must be positive".into(),
                ));
            }
        }
        if self.target.scheme.is_websocket() && !matches!(self.load, Load::Fleet { .. }) {
            return Err(PlanError::Conflict(
                "WebSocket URLs need clients: give --clients N (and --every, --hold)".into(),
            ));
        }
        if self.target.scheme.is_websocket() && matches!(self.http, HttpVersion::Http2 { .. }) {
            return Err(PlanError::Conflict(
                "WebSocket URLs use HTTP/1.1 upgrades; drop --http2".into(),
            ));
        }
        if matches!(self.group_by, Some(GroupBy::Step)) {
            return Err(PlanError::Conflict(
                "grouping by step needs a scenario file".into(),
            ));
        }
        let replay = matches!(self.load, Load::Replay { .. });
        if matches!(self.group_by, Some(GroupBy::Route)) && !replay {
            return Err(PlanError::Conflict(
                "--group-by route applies to replays (stampede replay)".into(),
            ));
        }
        if replay && self.target.scheme.is_websocket() {
            return Err(PlanError::Conflict(
                "a replay sends HTTP requests: give an http:// or https:// base URL".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Arrival, Stage};

    fn open(profile: RateProfile) -> Load {
        Load::Open {
            profile,
            arrival: Arrival::Uniform,
            max_connections: NonZeroUsize::new(10).unwrap(),
        }
    }

    #[test]
    fn stages_set_the_duration() {
        let p = RateProfile {
            start_rate: 0.0,
            stages: vec![Stage {
                duration: Duration::from_secs(7),
                target_rate: 10.0,
            }],
        };
        let v = RunPlan::builder("http://localhost/")
            .load(open(p))
            .build()
            .unwrap();
        assert_eq!(v.stop.duration, Some(Duration::from_secs(7)));
    }

    #[test]
    fn zero_rate_is_rejected() {
        let b = RunPlan::builder("http://localhost/").load(open(RateProfile::constant(0.0)));
        assert!(b.build().is_err());
    }

    #[test]
    fn closed_model_defaults_to_ten_seconds() {
        let v = RunPlan::builder("http://localhost/").build().unwrap();
        assert_eq!(v.stop.duration, Some(DEFAULT_DURATION));
        assert_eq!(v.timeout, DEFAULT_TIMEOUT);
        let w = v.requests().unwrap();
        assert_eq!(
            w.load,
            Load::Closed {
                connections: DEFAULT_CONNECTIONS
            }
        );
        assert_eq!(v.subject(), "GET http://localhost/");
        assert_eq!(v.group_by(), None);
        assert!(!v.is_scheduled() && v.journeys().is_none());
    }

    #[test]
    fn contradictions_are_rejected() {
        let b = RunPlan::builder("http://localhost/");
        let bad = [
            b.clone().method("G3T").build(),
            b.clone().threads(0).build(),
            b.clone().requests(0).build(),
            b.clone().timeout(Duration::ZERO).build(),
            b.clone().duration(Duration::ZERO).build(),
            b.clone().group_by(Some(GroupBy::Step)).build(),
            RunPlan::builder("ws://localhost/").build(),
            RunPlan::builder("nope").build(),
        ];
        for result in bad {
            assert!(result.is_err(), "{result:?}");
        }
        let bad_method = b.clone().method("G3T").build().unwrap_err().to_string();
        assert!(bad_method.contains("--method 'G3T'"), "{bad_method}");
        assert!(b.method("post").build().is_ok());
        let target = crate::Target::parse("http://localhost:81/").unwrap();
        assert_eq!(
            RunPlan::builder(target).build().unwrap().url().port(),
            Some(81)
        );
    }

    #[test]
    fn group_by_parsing() {
        assert_eq!(
            GroupBy::parse("header:X-Served-By").unwrap(),
            GroupBy::Header("X-Served-By".into())
        );
        assert_eq!(GroupBy::parse("peer").unwrap(), GroupBy::Peer);
        assert!(GroupBy::parse("host").is_err());
    }
}
