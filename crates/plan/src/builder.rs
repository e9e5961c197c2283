//! [`RunPlanBuilder`]: a [`RunPlan`] from defaults and a few settings, validated once.
//!
//! ```
//! use std::num::NonZeroUsize;
//! use std::time::{Duration, SystemTime};
//! use stampede_plan::{Load, RunPlan};
//!
//! let plan = RunPlan::builder("http://127.0.0.1:8080/")
//!     .load(Load::Closed { connections: NonZeroUsize::new(4).unwrap() })
//!     .duration(Duration::from_secs(2))
//!     .build()
//!     .unwrap();
//! assert_eq!(plan.subject(), "GET http://127.0.0.1:8080/");
//! assert!(RunPlan::builder("ftp://x/").build().is_err());
//! ```

use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::scenario::Journeys;
use crate::{
    GroupBy, HttpVersion, Load, PlanError, RequestSpec, RequestWorkload, RunPlan, ScopedThreshold,
    Shard, StopCondition, Target, TlsOptions, Workload, DEFAULT_CONNECTIONS, DEFAULT_TIMEOUT,
    DEFAULT_TIMER_SLACK,
};

/// Builds a [`RunPlan`]. `W` is what runs: [`RequestsDraft`] (from [`RunPlan::builder`])
/// takes the request-run settings; `Arc<Journeys>` (from [`RunPlan::scenario_builder`])
/// takes only the run-wide ones, since the file says the rest.
#[derive(Debug, Clone)]
#[must_use]
pub struct RunPlanBuilder<W> {
    workload: W,
    run: RunSettings,
}

/// The settings every run has.
#[derive(Debug, Clone)]
struct RunSettings {
    duration: Option<Duration>,
    requests: Option<u64>,
    timeout: Option<Duration>,
    threads: Option<usize>,
    keep_alive: bool,
    thresholds: Vec<ScopedThreshold>,
    abort_on_fail: bool,
    timer_slack: Duration,
    shard: Shard,
    start_at: Option<SystemTime>,
}

/// The request-run settings of a [`RunPlanBuilder`], checked by `build`.
#[derive(Debug, Clone)]
pub struct RequestsDraft {
    target: Result<Target, PlanError>,
    request: RequestSpec,
    load: Load,
    http: HttpVersion,
    connect_to: Vec<SocketAddr>,
    tls: TlsOptions,
    group_by: Option<GroupBy>,
}

impl RunPlan {
    /// A builder for a run that sends one request to `target` (a URL or a [`Target`]):
    /// `GET`, closed model with [`DEFAULT_CONNECTIONS`], HTTP/1.1, keep-alive, one
    /// worker thread per core, [`DEFAULT_TIMEOUT`]; a bad URL is reported by `build`.
    pub fn builder<T>(target: T) -> RunPlanBuilder<RequestsDraft>
    where
        T: TryInto<Target>,
        PlanError: From<T::Error>,
    {
        RunPlanBuilder::new(RequestsDraft {
            target: target.try_into().map_err(PlanError::from),
            request: RequestSpec::default(),
            load: Load::Closed {
                connections: DEFAULT_CONNECTIONS,
            },
            http: HttpVersion::Http1,
            connect_to: Vec::new(),
            tls: TlsOptions::default(),
            group_by: None,
        })
    }

    /// A builder for a scenario run. Duration, timeout and thresholds start as the
    /// file sets them; thresholds added to the builder come after the file's.
    pub fn scenario_builder(journeys: Arc<Journeys>) -> RunPlanBuilder<Arc<Journeys>> {
        let mut b = RunPlanBuilder::new(journeys.clone());
        b.run.duration = Some(journeys.duration);
        b.run.timeout = Some(journeys.timeout);
        b.run.thresholds = journeys.thresholds.clone();
        b
    }
}

impl<W> RunPlanBuilder<W> {
    fn new(workload: W) -> Self {
        RunPlanBuilder {
            workload,
            run: RunSettings {
                duration: None,
                requests: None,
                timeout: None,
                threads: None,
                keep_alive: true,
                thresholds: Vec::new(),
                abort_on_fail: false,
                timer_slack: DEFAULT_TIMER_SLACK,
                shard: Shard::WHOLE,
                start_at: None,
            },
        }
    }

    /// Stop sending after this long.
    pub fn duration(mut self, d: Duration) -> Self {
        self.run.duration = Some(d);
        self
    }

    /// Stop after this many requests (at least 1).
    pub fn requests(mut self, n: u64) -> Self {
        self.run.requests = Some(n);
        self
    }

    /// Per-request timeout, connect included.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.run.timeout = Some(d);
        self
    }

    /// Worker threads (at least 1; default one per core).
    pub fn threads(mut self, n: usize) -> Self {
        self.run.threads = Some(n);
        self
    }

    /// Reuse connections (default); `false` opens a new one per request.
    pub fn keep_alive(mut self, on: bool) -> Self {
        self.run.keep_alive = on;
        self
    }

    /// Adds a pass/fail criterion.
    pub fn threshold(mut self, t: ScopedThreshold) -> Self {
        self.run.thresholds.push(t);
        self
    }

    /// Stop the run as soon as a threshold fails.
    pub fn abort_on_fail(mut self, on: bool) -> Self {
        self.run.abort_on_fail = on;
        self
    }

    /// The shortest time between two wakes of a dispatcher (default
    /// [`DEFAULT_TIMER_SLACK`]).
    pub fn timer_slack(mut self, d: Duration) -> Self {
        self.run.timer_slack = d;
        self
    }

    /// Apply only this shard's part of the run (default [`Shard::WHOLE`]).
    pub fn shard(mut self, shard: Shard) -> Self {
        self.run.shard = shard;
        self
    }

    /// Start the run's time zero at this wall-clock instant (default: at once).
    pub fn start_at(mut self, at: Option<SystemTime>) -> Self {
        self.run.start_at = at;
        self
    }
}

impl RunSettings {
    fn finish(self, workload: Workload) -> Result<RunPlan, PlanError> {
        let threads = match self.threads {
            Some(n) => NonZeroUsize::new(n)
                .ok_or_else(|| PlanError::Conflict("--threads must be at least 1".into()))?,
            None => std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN),
        };
        let requests = match self.requests {
            Some(n) => Some(
                NonZeroU64::new(n)
                    .ok_or_else(|| PlanError::Conflict("--requests must be at least 1".into()))?,
            ),
            None => None,
        };
        RunPlan {
            workload,
            stop: StopCondition {
                duration: self.duration,
                requests,
            },
            timeout: self.timeout.unwrap_or(DEFAULT_TIMEOUT),
            threads,
            keep_alive: self.keep_alive,
            thresholds: self.thresholds,
            abort_on_fail: self.abort_on_fail,
            timer_slack: self.timer_slack,
            shard: self.shard,
            start_at: self.start_at,
        }
        .validate()
    }
}

impl RunPlanBuilder<RequestsDraft> {
    /// The load model (default: closed, [`DEFAULT_CONNECTIONS`] connections).
    pub fn load(mut self, load: Load) -> Self {
        self.workload.load = load;
        self
    }

    /// The whole request: method, headers, body.
    pub fn request(mut self, request: RequestSpec) -> Self {
        self.workload.request = request;
        self
    }

    /// The HTTP method (upper-cased).
    pub fn method(mut self, method: &str) -> Self {
        self.workload.request.method = method.to_ascii_uppercase();
        self
    }

    /// Adds a request header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let h = (name.to_string(), value.to_string());
        self.workload.request.headers.push(h);
        self
    }

    /// The request body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.workload.request.body = body.into();
        self
    }

    /// HTTP/1.1 (default) or HTTP/2.
    pub fn http(mut self, http: HttpVersion) -> Self {
        self.workload.http = http;
        self
    }

    /// Connect to these addresses (round-robin) instead of resolving the URL's host.
    pub fn connect_to(mut self, addrs: Vec<SocketAddr>) -> Self {
        self.workload.connect_to = addrs;
        self
    }

    /// TLS settings for `https` and `wss`.
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.workload.tls = tls;
        self
    }

    /// Group result rows by a response header or the peer address.
    pub fn group_by(mut self, group_by: Option<GroupBy>) -> Self {
        self.workload.group_by = group_by;
        self
    }

    /// The validated plan.
    pub fn build(self) -> Result<RunPlan, PlanError> {
        let RunPlanBuilder { workload: w, run } = self;
        run.finish(Workload::Requests(RequestWorkload {
            target: w.target?,
            request: w.request,
            load: w.load,
            http: w.http,
            connect_to: w.connect_to,
            tls: w.tls,
            group_by: w.group_by,
        }))
    }
}

impl RunPlanBuilder<Arc<Journeys>> {
    /// The validated plan.
    pub fn build(self) -> Result<RunPlan, PlanError> {
        let journeys = match self.run.shard.is_whole() {
            true => self.workload,
            false => Arc::new(self.workload.dealt(self.run.shard)),
        };
        self.run.finish(Workload::Journeys(journeys))
    }
}
