//! Scenario runs: virtual users walking through the steps of a journey.
//!
//! Each scenario is a *lane*. A closed lane keeps a number of virtual users (following its
//! VU stages) looping over the journey; an open lane starts a new virtual user per
//! arrival of its schedule. A virtual user owns its connections (one per target), its
//! cookie jar, its variables and its counter. Every request step records into its own
//! group (its row of the table), keyed `scenario / step`.
//!
//! Here the steps are prepared for running; [`lanes`] runs the lanes, [`vu`] holds a
//! virtual user's state, [`steps`] runs the steps, [`ws`] the WebSocket ones, and
//! [`flow`] says what follows a step.

mod flow;
mod lanes;
mod steps;
mod vu;
mod ws;

use std::sync::Arc;
use std::time::Duration;

use stampede_plan::scenario::{
    Journeys, RequestStep, Step, ThinkTime, WsConnectStep, WsExpectStep,
};
use stampede_plan::{HttpVersion, Template};
use stampede_proto::link::{Connector, PreparedRequest};

pub(crate) use lanes::{lanes, spawn_lanes, LaneShare};

/// Response bodies kept for extraction and checks are cut at this size.
pub(crate) const KEPT_BODY_LIMIT: usize = 4 << 20;

/// What the workers share about a scenario run.
pub(crate) struct JourneyRuntime {
    pub journeys: Arc<Journeys>,
    pub targets: Vec<TargetRuntime>,
    /// The scenarios' steps, ready to run.
    pub scenarios: Vec<Vec<Op>>,
    /// Each scenario's mean think time per iteration: an iteration that ends early
    /// still pauses for the part it skipped, so failing fast does not speed it up.
    pub think_per_iteration: Vec<Duration>,
    /// Every group key in journey order; group `i` of every worker is `keys[i]`.
    pub keys: Vec<String>,
    /// Requests ask to keep their connection open (`--no-keep-alive` clears it).
    pub keep_alive: bool,
}

/// One target of the file, connected.
pub(crate) struct TargetRuntime {
    pub connector: Connector,
    /// For WebSocket steps on an HTTP/2 TLS target: a connector that offers only
    /// http/1.1 in ALPN, since a WebSocket upgrades an HTTP/1.1 connection.
    pub ws_connector: Option<Connector>,
    pub authority: String,
    /// The base URL's path without a trailing `/`.
    pub base_path: String,
    pub tls: bool,
    pub http2: bool,
    /// `ws://host:port` or `wss://host:port`.
    pub ws_origin: String,
}

/// A step, prepared for running.
pub(crate) enum Op {
    Request(Box<RequestOp>),
    Think(ThinkTime),
    WsConnect(Box<WsConnectStep>, usize),
    WsSend(Template),
    WsExpect(Box<WsExpectStep>, usize),
    WsClose,
    Group(u32, Vec<Op>),
}

pub(crate) struct RequestOp {
    step: RequestStep,
    group: usize,
    /// The whole request, encoded once, when nothing in it is templated.
    fixed: Option<PreparedRequest>,
}

impl JourneyRuntime {
    /// Prepares `journeys` to run with these connected targets.
    pub(crate) fn new(
        journeys: Arc<Journeys>,
        targets: Vec<TargetRuntime>,
        keep_alive: bool,
    ) -> Self {
        let mut keys = Vec::new();
        let scenarios = journeys
            .scenarios
            .iter()
            .map(|s| prepare(&s.steps, &journeys, &targets, &mut keys, keep_alive))
            .collect::<Vec<_>>();
        let think_per_iteration = scenarios.iter().map(|ops| mean_think(ops)).collect();
        JourneyRuntime {
            journeys,
            targets,
            scenarios,
            think_per_iteration,
            keys,
            keep_alive,
        }
    }

    /// The rows whose requests have an intended send time, so that their latency counts
    /// from it: the request that starts each virtual user of an open lane. Every other
    /// row (closed lanes, an open lane's later steps) measures service time.
    pub(crate) fn scheduled_keys(&self) -> Vec<String> {
        let lanes = self.journeys.lane_loads();
        let mut keys: Vec<String> = self
            .scenarios
            .iter()
            .zip(&lanes)
            .filter(|(_, load)| load.is_scheduled())
            .filter_map(|(ops, _)| first_request(ops))
            .map(|g| self.keys[g].clone())
            .collect();
        keys.dedup();
        keys
    }

    /// The rows whose wait has its own limit rather than the run's timeout
    /// (`ws_expect` steps with a `timeout`), with that limit.
    pub(crate) fn own_timeouts(&self, run_timeout: Duration) -> Vec<(String, Duration)> {
        fn walk(ops: &[Op], run: Duration, keys: &[String], out: &mut Vec<(String, Duration)>) {
            for op in ops {
                match op {
                    Op::WsExpect(e, g)
                        if e.timeout != run && !out.iter().any(|(k, _)| *k == keys[*g]) =>
                    {
                        out.push((keys[*g].clone(), e.timeout));
                    }
                    Op::Group(_, steps) => walk(steps, run, keys, out),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        for ops in &self.scenarios {
            walk(ops, run_timeout, &self.keys, &mut out);
        }
        out
    }
}

/// The row of the request that gets a virtual user's intended start time in
/// [`run_ops`]: the first request step, looking into the first group met (which takes
/// the time whether or not it holds a request).
fn first_request(ops: &[Op]) -> Option<usize> {
    for op in ops {
        match op {
            Op::Request(r) => return Some(r.group),
            Op::Group(_, steps) => return first_request(steps),
            _ => {}
        }
    }
    None
}

/// The mean think time of one pass over `ops`.
fn mean_think(ops: &[Op]) -> Duration {
    ops.iter()
        .map(|op| match op {
            Op::Think(ThinkTime::Fixed(d)) => *d,
            Op::Think(ThinkTime::Uniform(lo, hi)) => (*lo + *hi) / 2,
            Op::Think(ThinkTime::Exponential(mean)) => *mean,
            Op::Group(repeat, steps) => mean_think(steps) * *repeat,
            _ => Duration::ZERO,
        })
        .sum()
}

fn key_index(keys: &mut Vec<String>, key: &str) -> usize {
    match keys.iter().position(|k| k == key) {
        Some(i) => i,
        None => {
            keys.push(key.to_string());
            keys.len() - 1
        }
    }
}

fn prepare(
    steps: &[Step],
    journeys: &Journeys,
    targets: &[TargetRuntime],
    keys: &mut Vec<String>,
    keep_alive: bool,
) -> Vec<Op> {
    steps
        .iter()
        .map(|step| match step {
            Step::Request(r) => {
                let group = key_index(keys, &r.key);
                let fixed = fixed_request(r, journeys, targets, keep_alive);
                Op::Request(Box::new(RequestOp {
                    step: (**r).clone(),
                    group,
                    fixed,
                }))
            }
            Step::Think(t) => Op::Think(*t),
            Step::WsConnect(c) => {
                let group = key_index(keys, &c.key);
                Op::WsConnect(c.clone(), group)
            }
            Step::WsSend(s) => Op::WsSend(s.message.clone()),
            Step::WsExpect(e) => {
                let group = key_index(keys, &e.key);
                Op::WsExpect(Box::new(e.clone()), group)
            }
            Step::WsClose => Op::WsClose,
            Step::Group { repeat, steps, .. } => {
                Op::Group(*repeat, prepare(steps, journeys, targets, keys, keep_alive))
            }
        })
        .collect()
}

/// The request encoded once, if neither it nor its target's headers use a template.
fn fixed_request(
    r: &RequestStep,
    journeys: &Journeys,
    targets: &[TargetRuntime],
    keep_alive: bool,
) -> Option<PreparedRequest> {
    let t = &targets[r.target];
    let target_headers = &journeys.targets[r.target].headers;
    let path = r.path.literal()?;
    let mut headers = Vec::new();
    for (name, value) in target_headers.iter().chain(&r.headers) {
        headers.push((name.as_str(), value.literal()?.as_bytes()));
    }
    let body = match &r.body {
        Some(b) => b.literal()?.as_bytes().to_vec(),
        None => Vec::new(),
    };
    let full_path = format!("{}{}", t.base_path, path);
    Some(PreparedRequest::from_parts(
        t.tls,
        &t.authority,
        &r.method,
        &full_path,
        headers.iter().copied(),
        body,
        t.http2,
        keep_alive,
    ))
}

/// The HTTP version a target asks for.
pub(crate) fn is_http2(v: &HttpVersion) -> bool {
    matches!(v, HttpVersion::Http2 { .. })
}
