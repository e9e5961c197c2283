//! Scenario runs: virtual users walking through the steps of a journey.
//!
//! Each scenario is a *lane*. A closed lane keeps a number of virtual users (following its
//! VU stages) looping over the journey; an open lane starts a new virtual user per
//! arrival of its schedule. A virtual user owns its connections (one per target), its
//! cookie jar, its variables and its counter. Every request step records into its own
//! group (its row of the table), keyed `scenario / step`.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::{SinkExt, StreamExt};
use stampede_metrics::{ErrorClass, Protocol};
use stampede_plan::scenario::{
    JourneyLoad, Journeys, RequestStep, Step, ThinkTime, WsConnectStep, WsExpectStep,
};
use stampede_plan::{
    Extractor, FeederMode, HttpVersion, RateProfile, RenderContext, ResponseView, Template, VarId,
};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;

use crate::deadline::Deadline;
use crate::request::{perform, Outcome, StepRequest};
use crate::state::{sleep_at_most, spawn_task, Backoff, LocalOpen, LocalRef, Shared};
use crate::steered::SteeredSchedule;
use crate::timer::PreciseTimer;
use stampede_plan::schedule::Schedule;
use stampede_proto::cookies::CookieJar;
use stampede_proto::http1::Kept;
use stampede_proto::link::{Connector, PreparedRequest, Slot};
use stampede_proto::ws::{self, WsConn, WsRequest};

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

/// How a worker runs one scenario.
pub(crate) enum LaneShare {
    /// Virtual users with these global ranks loop; rank `r` is active while the
    /// profile's value exceeds `r`.
    Closed {
        scenario: usize,
        profile: RateProfile,
        ranks: Vec<usize>,
    },
    /// This worker's part of the arrival schedule.
    Open {
        scenario: usize,
        schedule: Schedule,
        max_vus: usize,
        /// The lane's share of a steered rate ([`crate::Control::set_rate`]).
        share: f64,
        arrival: stampede_plan::Arrival,
    },
}

/// The lanes of every scenario for worker `worker` of `threads` in shard `shard`: open
/// lanes' arrivals are striped over every worker of every shard, closed lanes' user
/// ranks dealt to the shard, then to its workers.
pub(crate) fn lanes(
    journeys: &Journeys,
    shard: stampede_plan::Shard,
    worker: usize,
    threads: usize,
    seed: u64,
) -> Vec<LaneShare> {
    let shares = journeys.open_shares();
    let (stream, streams) = shard.stream(worker, threads);
    journeys
        .lane_loads()
        .into_iter()
        .enumerate()
        .map(|(i, load)| match load {
            JourneyLoad::Closed { profile } => {
                let peak = profile.peak_rate().round() as usize;
                LaneShare::Closed {
                    scenario: i,
                    profile,
                    ranks: shard.deal(peak).skip(worker).step_by(threads).collect(),
                }
            }
            JourneyLoad::Open {
                profile,
                arrival,
                max_vus,
            } => LaneShare::Open {
                scenario: i,
                schedule: Schedule::new(
                    &profile,
                    arrival,
                    stream,
                    streams,
                    seed.wrapping_add(i as u64),
                ),
                max_vus: max_vus.div_ceil(streams).max(1),
                share: shares[i].unwrap_or(0.0),
                arrival,
            },
        })
        .collect()
}

/// Starts a worker's lanes as tasks.
pub(crate) fn spawn_lanes(
    shared: &Arc<Shared>,
    local: &LocalRef,
    all_done: &Rc<Notify>,
    rt: Arc<JourneyRuntime>,
    lanes: Vec<LaneShare>,
    worker: usize,
) {
    // Rows in journey order: group i is key i on every worker.
    {
        let mut l = local.borrow_mut();
        for key in &rt.keys {
            l.group_index(key.as_bytes());
        }
    }
    for lane in lanes {
        match lane {
            LaneShare::Closed {
                scenario,
                profile,
                ranks,
            } => {
                for rank in ranks {
                    let vu = Vu::new(rank as u64 + 1, shared.seed ^ (rank as u64) << 20, &rt);
                    let task = closed_vu(
                        shared.clone(),
                        local.clone(),
                        rt.clone(),
                        scenario,
                        profile.clone(),
                        rank,
                        vu,
                    );
                    spawn_task(local, all_done, task);
                }
            }
            open @ LaneShare::Open { .. } => {
                let task = open_lane(
                    shared.clone(),
                    local.clone(),
                    all_done.clone(),
                    rt.clone(),
                    open,
                    worker,
                );
                spawn_task(local, all_done, task);
            }
        }
    }
}

/// One virtual user's state.
struct Vu {
    id: u64,
    iteration: u64,
    counter: u64,
    vars: Vec<Option<String>>,
    rng: fastrand::Rng,
    /// One request slot per target.
    slots: Vec<Option<Slot>>,
    ws: Option<WsConn>,
    /// When the last WebSocket message left.
    ws_sent: Option<Instant>,
    jar: CookieJar,
    kept: Kept,
    /// The request timeout's timer.
    deadline: Deadline,
    /// Reused for rendering.
    scratch: Vec<u8>,
    /// Think time slept in the current iteration.
    thought: Duration,
    /// Closed-lane users back off while they fail fast; open-lane users run once.
    backoff: Option<Backoff>,
}

impl Vu {
    fn new(id: u64, seed: u64, rt: &JourneyRuntime) -> Self {
        Vu {
            id,
            iteration: 0,
            counter: 0,
            vars: vec![None; rt.journeys.vars.len()],
            rng: fastrand::Rng::with_seed(seed ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            slots: (0..rt.targets.len()).map(|_| None).collect(),
            ws: None,
            ws_sent: None,
            jar: CookieJar::default(),
            kept: Kept::new(0),
            deadline: Deadline::default(),
            scratch: Vec::new(),
            thought: Duration::ZERO,
            backoff: None,
        }
    }

    fn render(&mut self, t: &Template) -> Result<String, VarId> {
        let mut ctx = RenderContext {
            vars: &self.vars,
            rng: &mut self.rng,
            counter: &mut self.counter,
            vu: self.id,
            iteration: self.iteration,
            now: SystemTime::now(),
        };
        t.render_string(&mut ctx)
    }

    fn render_into(&mut self, t: &Template, out: &mut Vec<u8>) -> Result<(), VarId> {
        let mut ctx = RenderContext {
            vars: &self.vars,
            rng: &mut self.rng,
            counter: &mut self.counter,
            vu: self.id,
            iteration: self.iteration,
            now: SystemTime::now(),
        };
        t.render(&mut ctx, out)
    }

    /// Takes feeder rows, then renders `[vars]` in order (they may use feeder columns
    /// and the vars above them); once per iteration. `fresh` for a new user: only then
    /// does a `unique` feeder hand out a row. False when a unique feeder has no row left.
    fn begin(&mut self, rt: &JourneyRuntime, fresh: bool) -> bool {
        for f in &rt.journeys.feeders {
            if f.feeder.mode() == FeederMode::Unique && !fresh {
                continue;
            }
            let Some(row) = f.feeder.next_row(&mut self.rng) else {
                return false;
            };
            for (var, value) in f.columns.iter().zip(row) {
                self.vars[var.0 as usize] = Some(value.clone());
            }
        }
        for (id, t) in &rt.journeys.initial {
            self.vars[id.0 as usize] = self.render(t).ok();
        }
        true
    }
}

/// Closed lane: one virtual user looping over the journey while its rank is active.
async fn closed_vu(
    shared: Arc<Shared>,
    local: LocalRef,
    rt: Arc<JourneyRuntime>,
    scenario: usize,
    profile: RateProfile,
    rank: usize,
    mut vu: Vu,
) {
    let mut fresh = true;
    vu.backoff = Some(Backoff::default());
    loop {
        let now = Instant::now();
        if shared.stopping(now) || out_of_tickets(&shared) {
            break;
        }
        let active = profile
            .rate_at(now.saturating_duration_since(shared.start))
            .round() as usize;
        if rank >= active {
            // Ramped down (or not yet up): look again shortly.
            vu.ws = None;
            for s in vu.slots.iter_mut().flatten() {
                s.disconnect();
            }
            let until = shared.send_until.map_or(now + POLL, |t| t.min(now + POLL));
            tokio::time::sleep_until(until.into()).await;
            continue;
        }
        vu.iteration += 1;
        if !vu.begin(&rt, fresh) {
            exhausted(&local);
            break;
        }
        fresh = false;
        vu.thought = Duration::ZERO;
        let flow = run_ops(&shared, &local, &rt, &mut vu, &rt.scenarios[scenario], None).await;
        let backoff = vu.backoff.as_mut().expect("closed lane");
        match flow {
            Flow::Next => backoff.reset(),
            Flow::Stop => {}
            // An iteration that failed part-way keeps its pacing: it pauses for the think
            // time it skipped, and at least for a back-off that grows while iterations
            // keep failing (a journey without think times would otherwise loop flat out
            // against a failing service).
            Flow::Abandon => {
                let skipped = rt.think_per_iteration[scenario].saturating_sub(vu.thought);
                sleep_at_most(&shared, skipped.max(backoff.failed())).await;
            }
        }
    }
    if let Some(ws) = vu.ws.take() {
        close_ws(ws).await;
    }
}

/// True when the request limit (`-n`) is used up: a virtual user would only loop without
/// sending (and without yielding to the other tasks of its worker) until the duration ends.
fn out_of_tickets(shared: &Shared) -> bool {
    shared
        .tickets
        .as_ref()
        .is_some_and(|t| t.load(std::sync::atomic::Ordering::Relaxed) == 0)
}

/// How often an inactive virtual user checks whether the ramp needs it.
const POLL: Duration = Duration::from_millis(100);

fn exhausted(local: &LocalRef) {
    let mut l = local.borrow_mut();
    l.record(None, |s| s.record_error(ErrorClass::FeederExhausted));
    l.sample(
        ErrorClass::FeederExhausted,
        Some("a unique feeder has no row left for a new virtual user".into()),
    );
}

/// Open lane: each arrival starts a new virtual user that runs the journey once. A rate
/// change ([`crate::Control::set_rate`], journeys per second over all open lanes) replaces
/// the schedule from the moment the lane sees it by a constant-rate one at the lane's
/// share, as the plain open model's dispatcher does.
async fn open_lane(
    shared: Arc<Shared>,
    local: LocalRef,
    all_done: Rc<Notify>,
    rt: Arc<JourneyRuntime>,
    lane: LaneShare,
    worker: usize,
) {
    let LaneShare::Open {
        scenario,
        schedule,
        max_vus,
        share,
        arrival,
    } = lane
    else {
        return;
    };
    let mut timer = PreciseTimer::new(shared.timer_slack);
    let mut schedule =
        SteeredSchedule::new(&shared, schedule, arrival, worker, share, scenario as u64);
    let in_flight = Rc::new(Cell::new(0usize));
    let mut arrivals = 0u64;
    let threads = shared.threads as u64;
    let no_tickets = || out_of_tickets(&shared);
    while let Some(intended) = schedule.next_due(&shared, &mut timer, no_tickets).await {
        schedule.advance();
        if shared.abort.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        arrivals += 1;
        if in_flight.get() >= max_vus {
            local.borrow_mut().snap.generator.dropped += 1;
            continue;
        }
        let id = (arrivals - 1) * threads + worker as u64 + 1;
        let mut vu = Vu::new(id, shared.seed ^ (scenario as u64) << 40, &rt);
        vu.iteration = 1;
        if !vu.begin(&rt, true) {
            exhausted(&local);
            continue;
        }
        in_flight.set(in_flight.get() + 1);
        let (s, l, r, n) = (shared.clone(), local.clone(), rt.clone(), in_flight.clone());
        spawn_task(&local, &all_done, async move {
            run_ops(&s, &l, &r, &mut vu, &r.scenarios[scenario], Some(intended)).await;
            if let Some(ws) = vu.ws.take() {
                close_ws(ws).await;
            }
            n.set(n.get() - 1);
        });
    }
}

/// What to do after a step.
#[derive(PartialEq)]
enum Flow {
    Next,
    /// End this iteration: the run is stopping.
    Stop,
    /// End this iteration: a step failed in a way that makes the rest pointless (a
    /// needed value is missing, the WebSocket is gone).
    Abandon,
}

/// Runs steps in order. `intended` is the first request's scheduled time (open model).
async fn run_ops(
    shared: &Shared,
    local: &LocalRef,
    rt: &JourneyRuntime,
    vu: &mut Vu,
    ops: &[Op],
    mut intended: Option<Instant>,
) -> Flow {
    // An open-model arrival due before the end still starts when it is late, as a
    // scheduled request of a plain run does (its lateness shows in its latency); only an
    // abort stops its first step. Later steps stop with the run.
    let mut first = intended.is_some();
    for op in ops {
        let stop = if first {
            shared.abort.load(std::sync::atomic::Ordering::Relaxed)
        } else {
            shared.stopping(Instant::now())
        };
        first = false;
        if stop {
            return Flow::Stop;
        }
        let flow = match op {
            Op::Request(r) => request(shared, local, rt, vu, r, intended.take()).await,
            Op::Think(t) => think(shared, vu, *t).await,
            Op::WsConnect(c, group) => ws_connect(shared, local, rt, vu, c, *group).await,
            Op::WsSend(m) => ws_send(local, vu, m).await,
            Op::WsExpect(e, group) => ws_expect(local, vu, e, *group).await,
            Op::WsClose => {
                if let Some(ws) = vu.ws.take() {
                    close_ws(ws).await;
                }
                Flow::Next
            }
            Op::Group(repeat, steps) => {
                let mut flow = Flow::Next;
                for _ in 0..*repeat {
                    flow = Box::pin(run_ops(shared, local, rt, vu, steps, intended.take())).await;
                    if flow != Flow::Next {
                        break;
                    }
                }
                flow
            }
        };
        if flow != Flow::Next {
            return flow;
        }
    }
    Flow::Next
}

async fn think(shared: &Shared, vu: &mut Vu, t: ThinkTime) -> Flow {
    let pause = match t {
        ThinkTime::Fixed(d) => d,
        ThinkTime::Uniform(lo, hi) => {
            let span = hi.saturating_sub(lo).as_nanos() as u64;
            lo + Duration::from_nanos(vu.rng.u64(0..=span))
        }
        ThinkTime::Exponential(mean) => {
            // Inverse transform: -ln(U) * mean, with U in (0, 1].
            let u = 1.0 - vu.rng.f64();
            mean.mul_f64(-u.ln())
        }
    };
    let until = Instant::now() + pause;
    let stop = shared.send_until.unwrap_or(until);
    tokio::time::sleep_until(until.min(stop).into()).await;
    vu.thought += pause;
    if until > stop {
        Flow::Stop
    } else {
        Flow::Next
    }
}

fn missing(local: &LocalRef, rt: &JourneyRuntime, group: usize, var: VarId) -> Flow {
    let mut l = local.borrow_mut();
    l.record(Some(group), |s| s.record_error(ErrorClass::ExtractFailed));
    let name = rt.journeys.vars.name(var).to_string();
    l.sample(
        ErrorClass::ExtractFailed,
        Some(format!(
            "{}: variable '{name}' is not set (an earlier extraction found nothing)",
            rt.keys[group]
        )),
    );
    Flow::Abandon
}

/// One HTTP request step: render, send, record, store cookies, extract, check.
async fn request(
    shared: &Shared,
    local: &LocalRef,
    rt: &JourneyRuntime,
    vu: &mut Vu,
    op: &RequestOp,
    intended: Option<Instant>,
) -> Flow {
    let step = &op.step;
    let target = &rt.targets[step.target];
    if !shared.take_ticket() {
        return Flow::Stop;
    }
    let cookies = rt.journeys.cookies;
    let use_fixed = op.fixed.is_some() && (!cookies || vu.jar.is_empty_for(step.target));
    let built;
    let mut path_for_cookies = String::new();
    let req = if use_fixed {
        if cookies {
            path_for_cookies = format!(
                "{}{}",
                target.base_path,
                step.path.literal().unwrap_or_default()
            );
        }
        op.fixed.as_ref().expect("checked")
    } else {
        match build_request(rt, vu, step, target) {
            Ok((r, path)) => {
                built = r;
                path_for_cookies = path;
                &built
            }
            Err(var) => return missing(local, rt, op.group, var),
        }
    };
    let keep = step.needs_body() || cookies;
    vu.kept.body_limit = if step.needs_body() {
        KEPT_BODY_LIMIT
    } else {
        0
    };
    let slot = vu.slots[step.target].get_or_insert_with(|| {
        let cell = target
            .http2
            .then(|| Rc::new(stampede_proto::link::H2Cell::default()));
        Slot::new(cell, None)
    });
    let what = StepRequest {
        request: req,
        connector: &target.connector,
        step: op.group,
        kept: keep.then_some(&mut vu.kept),
    };
    let now = Instant::now();
    let outcome = perform(shared, local, slot, &mut vu.deadline, what, intended, now).await;
    let (status, latency) = match outcome {
        Outcome::Answered { status, latency } => (status, latency),
        failed => return after_failure(shared, vu, step, failed.backs_off()).await,
    };
    if cookies {
        for (name, value) in &vu.kept.headers {
            if name == "set-cookie" {
                vu.jar
                    .store(step.target, &path_for_cookies, value, Instant::now());
            }
        }
    }
    if !step.needs_body() {
        return Flow::Next;
    }
    let view = ResponseView::new(status, &vu.kept.headers, &vu.kept.body);
    let failed_check = step
        .checks
        .iter()
        .find_map(|c| c.evaluate(&view, latency).err().map(|why| (c, why)));
    let mut extracted = Vec::with_capacity(step.extract.len());
    let mut missing_value = None;
    for (var, ex) in &step.extract {
        match ex.apply(&view) {
            Some(v) => extracted.push((*var, v)),
            None => {
                missing_value = Some((*var, ex));
                break;
            }
        }
    }
    let mut counted = ErrorClass::for_status(status);
    if let Some((check, why)) = failed_check {
        fail_step(local, op.group, ErrorClass::CheckFailed, counted, || {
            format!("{}: {} failed: {why}", rt.keys[op.group], check.describe())
        });
        counted = counted.or(Some(ErrorClass::CheckFailed));
    }
    if let Some((var, ex)) = missing_value {
        fail_step(local, op.group, ErrorClass::ExtractFailed, counted, || {
            format!(
                "{}: {} found nothing for '{}' (status {status})",
                rt.keys[op.group],
                ex.describe(),
                rt.journeys.vars.name(var)
            )
        });
        return Flow::Abandon;
    }
    for (var, v) in extracted {
        vu.vars[var.0 as usize] = Some(v);
    }
    Flow::Next
}

/// After a request that got no response: a step that extracts ends the iteration, as a
/// failed extraction does (later steps would send stale or missing values); the failure
/// itself is already counted. A closed-lane user whose request failed before a first
/// response on a new connection backs off first, so a refusing or resetting service is
/// not hit in a tight loop.
async fn after_failure(shared: &Shared, vu: &mut Vu, step: &RequestStep, backs_off: bool) -> Flow {
    if backs_off {
        if let Some(b) = vu.backoff.as_mut() {
            b.sleep(shared).await;
        }
    }
    if step.extract.is_empty() {
        Flow::Next
    } else {
        Flow::Abandon
    }
}

/// Counts a failed check or extraction for a step whose response was already recorded:
/// one more error of `class`, unless the response already counted as an error of class
/// `counted` (a 4xx or 5xx status, or an earlier failure of the same response). The
/// message is sampled under the class that was counted, so that every sample's class has
/// a count.
fn fail_step(
    local: &LocalRef,
    group: usize,
    class: ErrorClass,
    counted: Option<ErrorClass>,
    message: impl FnOnce() -> String,
) {
    let mut l = local.borrow_mut();
    if counted.is_none() {
        l.record(Some(group), |s| {
            s.errors += 1;
            s.errors_by_class.add(class);
        });
    }
    l.sample(counted.unwrap_or(class), Some(message()));
}

/// Renders a templated request; also returns its path (for cookie matching).
fn build_request(
    rt: &JourneyRuntime,
    vu: &mut Vu,
    step: &RequestStep,
    target: &TargetRuntime,
) -> Result<(PreparedRequest, String), VarId> {
    let mut path = target.base_path.clone();
    let mut scratch = std::mem::take(&mut vu.scratch);
    scratch.clear();
    vu.render_into(&step.path, &mut scratch)?;
    path.push_str(&String::from_utf8_lossy(&scratch));
    let mut headers: Vec<(&str, Vec<u8>)> = Vec::new();
    for (name, value) in rt.journeys.targets[step.target]
        .headers
        .iter()
        .chain(&step.headers)
    {
        let mut v = Vec::new();
        vu.render_into(value, &mut v)?;
        headers.push((name.as_str(), v));
    }
    if rt.journeys.cookies {
        if let Some(c) = vu.jar.header(step.target, &path, Instant::now()) {
            headers.push(("Cookie", c.into_bytes()));
        }
    }
    let mut body = Vec::new();
    if let Some(b) = &step.body {
        vu.render_into(b, &mut body)?;
    }
    vu.scratch = scratch;
    let req = PreparedRequest::from_parts(
        target.tls,
        &target.authority,
        &step.method,
        &path,
        headers.iter().map(|(n, v)| (*n, v.as_slice())),
        body,
        target.http2,
        rt.keep_alive,
    );
    Ok((req, path))
}

async fn ws_connect(
    shared: &Shared,
    local: &LocalRef,
    rt: &JourneyRuntime,
    vu: &mut Vu,
    step: &WsConnectStep,
    group: usize,
) -> Flow {
    if let Some(ws) = vu.ws.take() {
        close_ws(ws).await;
    }
    let target = &rt.targets[step.target];
    let path = match vu.render(&step.path) {
        Ok(p) => p,
        Err(var) => return missing(local, rt, group, var),
    };
    let mut headers = Vec::new();
    for (name, value) in rt.journeys.targets[step.target]
        .headers
        .iter()
        .chain(&step.headers)
    {
        match vu.render(value) {
            Ok(v) => headers.push((name.clone(), v)),
            Err(var) => return missing(local, rt, group, var),
        }
    }
    let url = format!("{}{}{}", target.ws_origin, target.base_path, path);
    let request = WsRequest::for_user(url, target.authority.clone(), headers);
    let connector = target.ws_connector.as_ref().unwrap_or(&target.connector);
    let started = Instant::now();
    // Boxed: connecting and upgrading is rare and its state is large.
    let opened = tokio::time::timeout(
        shared.timeout,
        Box::pin(ws::open(connector, &request, &mut LocalOpen(local))),
    )
    .await;
    let mut l = local.borrow_mut();
    l.snap.generator.sends += 1;
    match opened {
        Ok(Ok((ws, upgrade))) => {
            let took = started.elapsed();
            l.record(Some(group), |s| {
                s.record_response(101, took, took);
                s.upgrade.record(upgrade);
                s.protocols.add(Protocol::WebSocket);
            });
            vu.ws = Some(ws);
            Flow::Next
        }
        Ok(Err(f)) => {
            l.record(Some(group), |s| s.record_error(f.class));
            l.sample(f.class, f.detail);
            Flow::Abandon
        }
        Err(_) => {
            l.record(Some(group), |s| s.record_timeout());
            Flow::Abandon
        }
    }
}

async fn ws_send(local: &LocalRef, vu: &mut Vu, message: &Template) -> Flow {
    let text = match vu.render(message) {
        Ok(t) => t,
        Err(_) => return Flow::Abandon,
    };
    let Some(ws) = vu.ws.as_mut() else {
        return Flow::Abandon;
    };
    let len = text.len() as u64;
    vu.ws_sent = Some(Instant::now());
    match ws.socket().send(Message::text(text)).await {
        Ok(()) => {
            local.borrow_mut().record(None, |s| s.bytes_sent += len);
            Flow::Next
        }
        Err(e) => {
            let mut l = local.borrow_mut();
            l.record(None, |s| s.record_error(ErrorClass::WsDropped));
            l.sample(ErrorClass::WsDropped, Some(format!("WebSocket send: {e}")));
            vu.ws = None;
            Flow::Abandon
        }
    }
}

async fn ws_expect(local: &LocalRef, vu: &mut Vu, step: &WsExpectStep, group: usize) -> Flow {
    let Some(ws) = vu.ws.as_mut() else {
        return Flow::Abandon;
    };
    let started = vu.ws_sent.take().unwrap_or_else(Instant::now);
    let deadline = Instant::now() + step.timeout;
    loop {
        let next = tokio::time::timeout_at(deadline.into(), ws.socket().next()).await;
        let data = match next {
            Err(_) => {
                local
                    .borrow_mut()
                    .record(Some(group), |s| s.record_timeout());
                return Flow::Abandon;
            }
            Ok(Some(Ok(Message::Text(t)))) => t.as_bytes().to_vec(),
            Ok(Some(Ok(Message::Binary(b)))) => b.to_vec(),
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => {
                let mut l = local.borrow_mut();
                l.record(Some(group), |s| s.record_error(ErrorClass::WsDropped));
                l.sample(
                    ErrorClass::WsDropped,
                    Some("WebSocket closed while a message was expected".into()),
                );
                vu.ws = None;
                return Flow::Abandon;
            }
            Ok(Some(Ok(_))) => continue,
        };
        let now = Instant::now();
        let rtt = now - started;
        let view = ResponseView::new(200, &[], &data);
        if !step.matches.iter().all(|c| c.evaluate(&view, rtt).is_ok()) {
            continue;
        }
        let values: Vec<(VarId, Option<String>)> = step
            .extract
            .iter()
            .map(|(var, ex): &(VarId, Extractor)| (*var, ex.apply(&view)))
            .collect();
        let len = data.len() as u64;
        local.borrow_mut().record(Some(group), |s| {
            s.record_message(rtt, rtt);
            s.bytes_received += len;
        });
        for (var, v) in values {
            match v {
                Some(v) => vu.vars[var.0 as usize] = Some(v),
                None => {
                    fail_step(local, group, ErrorClass::ExtractFailed, None, || {
                        "WebSocket message: nothing to extract".to_string()
                    });
                    return Flow::Abandon;
                }
            }
        }
        return Flow::Next;
    }
}

async fn close_ws(ws: WsConn) {
    Box::pin(ws.close()).await;
}

/// The HTTP version a target asks for.
pub(crate) fn is_http2(v: &HttpVersion) -> bool {
    matches!(v, HttpVersion::Http2 { .. })
}
