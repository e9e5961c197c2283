//! The run plan and its parts.

use std::num::{NonZeroU64, NonZeroUsize};
use std::time::Duration;

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

/// URL scheme of the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// HTTP over TCP.
    Http,
    /// HTTP over TLS.
    Https,
    /// WebSocket over TCP.
    Ws,
    /// WebSocket over TLS.
    Wss,
}

impl Scheme {
    /// True for schemes that run over TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Scheme::Https | Scheme::Wss)
    }

    /// True for WebSocket schemes.
    pub fn is_websocket(self) -> bool {
        matches!(self, Scheme::Ws | Scheme::Wss)
    }
}

/// Where requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL as given.
    pub url: url::Url,
    /// Scheme.
    pub scheme: Scheme,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The value of the `Host` header.
    pub authority: String,
    /// Path and query sent in the request line, e.g. `/a?b=1`.
    pub path_and_query: String,
}

impl Target {
    /// Parses and checks a target URL.
    pub fn parse(text: &str) -> Result<Target, PlanError> {
        let bad = |reason: String| PlanError::Value {
            what: "url",
            value: text.to_string(),
            reason,
        };
        let url = url::Url::parse(text).map_err(|e| bad(e.to_string()))?;
        let scheme = match url.scheme() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            "ws" => Scheme::Ws,
            "wss" => Scheme::Wss,
            other => {
                return Err(bad(format!(
                    "scheme '{other}' is not supported (supported: http, https, ws, wss)"
                )))
            }
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_string(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            None => return Err(bad("missing host".into())),
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| bad("missing port".into()))?;
        let host_part = url.host_str().unwrap_or_default();
        let authority = match url.port() {
            Some(p) => format!("{host_part}:{p}"),
            None => host_part.to_string(),
        };
        let mut path_and_query = url.path().to_string();
        if let Some(q) = url.query() {
            path_and_query.push('?');
            path_and_query.push_str(q);
        }
        Ok(Target {
            url,
            scheme,
            host,
            port,
            authority,
            path_and_query,
        })
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

/// How arrivals are spaced in the open model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arrival {
    /// Evenly spaced at the current rate.
    #[default]
    Uniform,
    /// A Poisson process at the current rate (exponential gaps).
    Poisson,
}

/// One ramp stage: over `duration`, the rate moves linearly to `target_rate`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    /// How long the stage lasts.
    pub duration: Duration,
    /// Requests per second at the end of the stage.
    pub target_rate: f64,
}

/// Arrival rate over time: starts at `start_rate`, follows `stages` in order, then
/// holds the last rate.
#[derive(Debug, Clone, PartialEq)]
pub struct RateProfile {
    /// Requests per second at time zero.
    pub start_rate: f64,
    /// Linear ramps, in order.
    pub stages: Vec<Stage>,
}

impl RateProfile {
    /// A constant rate.
    pub fn constant(rate: f64) -> Self {
        RateProfile {
            start_rate: rate,
            stages: Vec::new(),
        }
    }

    /// Total length of all stages.
    pub fn stages_duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// The rate at `t` after the start, in requests per second.
    pub fn rate_at(&self, t: Duration) -> f64 {
        let mut from = self.start_rate;
        let mut elapsed = Duration::ZERO;
        for s in &self.stages {
            if t < elapsed + s.duration {
                let f = (t - elapsed).as_secs_f64() / s.duration.as_secs_f64();
                return from + (s.target_rate - from) * f;
            }
            elapsed += s.duration;
            from = s.target_rate;
        }
        from
    }

    /// The highest rate anywhere in the profile.
    pub fn peak_rate(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| s.target_rate)
            .fold(self.start_rate, f64::max)
    }
}

/// The workload model.
#[derive(Debug, Clone, PartialEq)]
pub enum Load {
    /// Open model: requests arrive on a schedule, whatever the responses do.
    Open {
        /// The arrival rate over time.
        profile: RateProfile,
        /// How arrivals are spaced.
        arrival: Arrival,
        /// Upper bound on connections opened to serve the schedule.
        max_connections: NonZeroUsize,
    },
    /// Closed model: a fixed number of connections each send back to back.
    Closed {
        /// Concurrent connections (virtual users).
        connections: NonZeroUsize,
    },
    /// A fleet of devices: each client keeps its own connection (HTTP keep-alive or a
    /// WebSocket), sends every `every` on its own schedule (or back to back when
    /// `None`), and reconnects after `hold`.
    Fleet {
        /// Number of clients (devices).
        clients: NonZeroUsize,
        /// Interval between one client's requests or messages.
        every: Option<Duration>,
        /// Reconnect after holding a connection this long.
        hold: Option<Duration>,
    },
}

impl Load {
    /// True when requests have intended send times (open model, or a fleet with an
    /// interval), so latency is measured from the intended time.
    pub fn is_scheduled(&self) -> bool {
        matches!(self, Load::Open { .. } | Load::Fleet { every: Some(_), .. })
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
}

impl GroupBy {
    /// Parses `header:NAME` or `peer`.
    pub fn parse(text: &str) -> Result<GroupBy, PlanError> {
        if text == "peer" {
            return Ok(GroupBy::Peer);
        }
        match text.split_once(':') {
            Some(("header", name)) if !name.trim().is_empty() => {
                Ok(GroupBy::Header(name.trim().to_string()))
            }
            _ => Err(PlanError::Value {
                what: "group-by",
                value: text.to_string(),
                reason: "expected 'header:NAME' or 'peer'".into(),
            }),
        }
    }

    /// A short label for tables, e.g. `X-Served-By` or `peer`.
    pub fn label(&self) -> &str {
        match self {
            GroupBy::Header(h) => h,
            GroupBy::Peer => "peer",
            GroupBy::Step => "step",
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

/// Everything the engine needs for one run, validated.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// Where requests go.
    pub target: Target,
    /// What each request is.
    pub request: RequestSpec,
    /// Open or closed model.
    pub load: Load,
    /// When to stop.
    pub stop: StopCondition,
    /// Per-request timeout (connect included).
    pub timeout: Duration,
    /// Worker threads.
    pub threads: NonZeroUsize,
    /// Reuse connections (HTTP keep-alive); when false every request opens a new one.
    pub keep_alive: bool,
    /// Optional grouping of result rows.
    pub group_by: Option<GroupBy>,
    /// Addresses to connect to instead of resolving the URL's host (round-robin per
    /// connection); the `Host` header still names the URL's host.
    pub connect_to: Vec<std::net::SocketAddr>,
    /// TLS settings, used when the scheme is `https` or `wss`.
    pub tls: TlsOptions,
    /// HTTP version.
    pub http: HttpVersion,
    /// Pass/fail criteria checked at the end (and each second with `abort_on_fail`).
    pub thresholds: Vec<crate::ScopedThreshold>,
    /// Stop the run as soon as a threshold fails.
    pub abort_on_fail: bool,
    /// The shortest time between two wakes of the open-model dispatcher (and fleet
    /// clocks): sends due within it leave together. Smaller is more precise, larger
    /// costs less CPU at high rates.
    pub timer_slack: Duration,
    /// Scenario runs: the journeys to run (then `target`, `request` and `load` describe
    /// only the first target and the file-wide load, for reports).
    pub journeys: Option<std::sync::Arc<crate::scenario::Journeys>>,
}

/// The default `timer_slack`.
pub const DEFAULT_TIMER_SLACK: Duration = Duration::from_micros(500);

/// The default run length when neither a duration, a request count nor stages are given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

impl RunPlan {
    /// Checks the plan for contradictions and fills in derived defaults: an open model
    /// with stages and no explicit stop runs for the length of its stages; a plan with
    /// no stop condition runs for [`DEFAULT_DURATION`].
    pub fn validate(mut self) -> Result<RunPlan, PlanError> {
        if self.timeout.is_zero() {
            return Err(PlanError::Conflict("--timeout must be positive".into()));
        }
        if self.timer_slack > Duration::from_millis(100) {
            return Err(PlanError::Conflict(
                "--timer-slack must be at most 100ms (it delays sends by up to that much)".into(),
            ));
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
            if self.stop.duration.is_none() && self.stop.requests.is_none() {
                let staged = profile.stages_duration();
                self.stop.duration = Some(if staged.is_zero() {
                    DEFAULT_DURATION
                } else {
                    staged
                });
            }
        }
        if self.stop.duration.is_none() && self.stop.requests.is_none() {
            self.stop.duration = Some(DEFAULT_DURATION);
        }
        if self.stop.duration.is_some_and(|d| d.is_zero()) {
            return Err(PlanError::Conflict("--duration must be positive".into()));
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
        if let Load::Closed { connections } = &self.load {
            if !self.keep_alive && connections.get() > 20_000 {
                return Err(PlanError::Conflict(
                    "too many connections for this process's file limit".into(),
                ));
            }
        }
        Ok(self)
    }

    /// The arrival rate the run intends over time: the open model's profile, or a fleet's
    /// clients / interval; `None` when there is no schedule (closed model, back-to-back
    /// fleets).
    pub fn schedule_profile(&self) -> Option<RateProfile> {
        match &self.load {
            Load::Open { profile, .. } => Some(profile.clone()),
            Load::Fleet {
                clients,
                every: Some(every),
                ..
            } => Some(RateProfile::constant(
                clients.get() as f64 / every.as_secs_f64(),
            )),
            _ => None,
        }
    }

    /// The target rate at the start, or `None` when there is no schedule.
    pub fn target_rate(&self) -> Option<f64> {
        match &self.load {
            Load::Open { profile, .. } => Some(profile.start_rate),
            Load::Fleet {
                clients,
                every: Some(every),
                ..
            } => Some(clients.get() as f64 / every.as_secs_f64()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(load: Load, stop: StopCondition) -> RunPlan {
        RunPlan {
            target: Target::parse("http://localhost/").unwrap(),
            request: RequestSpec::default(),
            load,
            stop,
            timeout: Duration::from_secs(1),
            threads: NonZeroUsize::new(1).unwrap(),
            keep_alive: true,
            group_by: None,
            connect_to: Vec::new(),
            tls: TlsOptions::default(),
            http: HttpVersion::Http1,
            thresholds: Vec::new(),
            abort_on_fail: false,
            timer_slack: crate::DEFAULT_TIMER_SLACK,
            journeys: None,
        }
    }

    const NO_STOP: StopCondition = StopCondition {
        duration: None,
        requests: None,
    };

    #[test]
    fn target_parsing() {
        let t = Target::parse("http://[::1]:9000/a/b?c=d").unwrap();
        assert_eq!(t.host, "::1");
        assert_eq!(t.authority, "[::1]:9000");
        assert_eq!(t.path_and_query, "/a/b?c=d");
        let t = Target::parse("http://example.test").unwrap();
        assert_eq!((t.port, t.authority.as_str()), (80, "example.test"));
        assert_eq!(t.path_and_query, "/");
        assert!(Target::parse("ftp://x/").is_err());
        let t = Target::parse("https://localhost/").unwrap();
        assert_eq!((t.port, t.scheme.is_tls()), (443, true));
        assert!(Target::parse("wss://h/ws").unwrap().scheme.is_websocket());
        assert!(Target::parse("not a url").is_err());
    }

    #[test]
    fn profile_rate_follows_stages() {
        let p = RateProfile {
            start_rate: 0.0,
            stages: vec![
                Stage {
                    duration: Duration::from_secs(10),
                    target_rate: 100.0,
                },
                Stage {
                    duration: Duration::from_secs(10),
                    target_rate: 100.0,
                },
            ],
        };
        assert_eq!(p.rate_at(Duration::from_secs(5)), 50.0);
        assert_eq!(p.rate_at(Duration::from_secs(15)), 100.0);
        assert_eq!(p.rate_at(Duration::from_secs(50)), 100.0);
        assert_eq!(p.stages_duration(), Duration::from_secs(20));
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
        let load = Load::Open {
            profile: p,
            arrival: Arrival::Uniform,
            max_connections: NonZeroUsize::new(10).unwrap(),
        };
        let v = plan(load, NO_STOP).validate().unwrap();
        assert_eq!(v.stop.duration, Some(Duration::from_secs(7)));
    }

    #[test]
    fn zero_rate_is_rejected() {
        let load = Load::Open {
            profile: RateProfile::constant(0.0),
            arrival: Arrival::Uniform,
            max_connections: NonZeroUsize::new(10).unwrap(),
        };
        assert!(plan(load, NO_STOP).validate().is_err());
    }

    #[test]
    fn closed_model_defaults_to_ten_seconds() {
        let load = Load::Closed {
            connections: NonZeroUsize::new(4).unwrap(),
        };
        let v = plan(load, NO_STOP).validate().unwrap();
        assert_eq!(v.stop.duration, Some(DEFAULT_DURATION));
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
