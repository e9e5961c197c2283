//! One worker thread: a single-threaded tokio runtime driving a share of the
//! connections (closed model) or of the arrival schedule (open model), recording into
//! thread-local stats that are handed to the collector once per second.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stampede_metrics::{ErrorClass, GeneratorStats, Protocol, Stats};
use stampede_plan::GroupBy;
use tokio::sync::Notify;

use crate::control::Control;
use crate::deadline::Deadline;
use crate::link::{Connector, Failure, H2Cell, OnOpen, Opened, PreparedRequest, Slot};
use crate::schedule::Schedule;
use crate::timer::PreciseTimer;
use crate::ws::{self, WsConn, WsEvent, WsRequest};

/// Sends that leave more than this after their intended time count as late.
pub const LATE_THRESHOLD: Duration = Duration::from_millis(1);
/// Distinct group keys kept per run; further keys share one "(other)" row.
pub const MAX_GROUPS: usize = 256;
/// The longest the run waits after sending stops for in-flight responses.
pub const MAX_DRAIN: Duration = Duration::from_secs(2);

const NO_RESPONSE: &str = "(no response)";
const OTHER: &str = "(other)";

/// Everything the workers share, read-only apart from the atomics.
pub(crate) struct Shared {
    pub start: Instant,
    /// When sending stops (the duration limit), if any.
    pub send_until: Option<Instant>,
    /// Requests left to send under a request limit.
    pub tickets: Option<AtomicU64>,
    /// Set by Ctrl-C or [`Control::stop`]: stop now, report what was measured.
    pub abort: Arc<AtomicBool>,
    /// The run's control: rate changes for the open model.
    pub control: Arc<Control>,
    pub connector: Connector,
    pub request: PreparedRequest,
    pub timeout: Duration,
    pub keep_alive: bool,
    pub group_by: Option<GroupBy>,
    /// Requests have intended send times (open model, fleet with an interval).
    pub scheduled: bool,
    /// HTTP/2: concurrent streams per connection; `None` for HTTP/1.1.
    pub h2_streams: Option<usize>,
    /// Sends later than this after their intended time count as late.
    pub late_threshold: Duration,
    /// Fleet runs: each client's interval and connection lifetime.
    pub fleet: Option<FleetSpec>,
    /// WebSocket runs: the upgrade request and message payload.
    pub ws: Option<WsRequest>,
    /// Scenario runs: the journeys and their targets.
    pub journey: Option<Arc<crate::journey::JourneyRuntime>>,
    /// The run's random seed.
    pub seed: u64,
    /// Worker threads.
    pub threads: usize,
    /// The shortest time between two wakes of a dispatcher or fleet clock.
    pub timer_slack: Duration,
}

/// How each client of a fleet behaves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FleetSpec {
    pub clients: usize,
    pub every: Option<Duration>,
    pub hold: Option<Duration>,
}

impl Shared {
    /// True once sending must stop (duration over or aborted).
    pub(crate) fn stopping(&self, now: Instant) -> bool {
        self.abort.load(Ordering::Relaxed) || self.send_until.is_some_and(|t| now >= t)
    }

    /// Takes one request from the request limit; false when none are left.
    pub(crate) fn take_ticket(&self) -> bool {
        match &self.tickets {
            None => true,
            Some(t) => t
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }

    /// Gives back a ticket taken for an attempt that turned out not to be a request.
    fn return_ticket(&self) {
        if let Some(t) = &self.tickets {
            t.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn capture(&self) -> Option<&str> {
        match &self.group_by {
            Some(GroupBy::Header(h)) => Some(h.as_str()),
            _ => None,
        }
    }
}

/// One interval's measurements from one worker.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// All requests of the worker.
    pub total: Stats,
    /// Requests by group key.
    pub groups: Vec<(String, Stats)>,
    /// Generator self-observation.
    pub generator: GeneratorStats,
    /// The first failure message of each class seen in this interval.
    pub samples: Vec<(ErrorClass, String)>,
}

/// Messages from workers to the collector.
#[derive(Debug)]
pub(crate) enum WorkerMsg {
    Interval {
        worker: usize,
        second: u64,
        snapshot: Box<Snapshot>,
    },
    Done {
        worker: usize,
        last_completion: Option<Instant>,
        cpu: Duration,
    },
}

/// The worker's mutable state, shared by its tasks on one thread.
pub(crate) struct Local {
    pub(crate) snap: Snapshot,
    pub(crate) in_flight: u64,
    tasks: usize,
    pub(crate) last_completion: Option<Instant>,
    // Open model.
    pending: VecDeque<Instant>,
    idle: usize,
    open_conns: usize,
    dispatch_done: bool,
    pub(crate) group_by_peer: bool,
    /// HTTP/2 connections shared by groups of slots.
    h2_cells: Vec<Rc<H2Cell>>,
    slots_made: usize,
}

impl Local {
    /// The row of a failure that happened before the connection was a slot's link
    /// (a refused or timed-out connect): its peer's row under `--group-by peer`.
    pub(crate) fn failed_peer_group(
        &mut self,
        peer: Option<std::net::SocketAddr>,
    ) -> Option<usize> {
        match (self.group_by_peer, peer) {
            (true, Some(p)) => Some(self.group_index(p.to_string().as_bytes())),
            _ => None,
        }
    }

    pub(crate) fn group_index(&mut self, key: &[u8]) -> usize {
        let groups = &mut self.snap.groups;
        if let Some(i) = groups.iter().position(|(k, _)| k.as_bytes() == key) {
            return i;
        }
        let name = if groups.len() >= MAX_GROUPS {
            OTHER.to_string()
        } else if key.is_empty() {
            NO_RESPONSE.to_string()
        } else {
            String::from_utf8_lossy(key).into_owned()
        };
        if let Some(i) = groups.iter().position(|(k, _)| *k == name) {
            return i;
        }
        groups.push((name, Stats::new()));
        groups.len() - 1
    }

    /// Keeps the first message of each failure class (per interval).
    pub(crate) fn sample(&mut self, class: ErrorClass, detail: Option<String>) {
        if let Some(d) = detail {
            if !self.snap.samples.iter().any(|(c, _)| *c == class) {
                self.snap.samples.push((class, d));
            }
        }
    }

    /// Keeps a message for a response whose status counts as an error (`http_4xx`,
    /// `http_5xx`), so that these classes have a sample like every other.
    pub(crate) fn sample_status(&mut self, status: u16) {
        if let Some(class) = ErrorClass::for_status(status) {
            if !self.snap.samples.iter().any(|(c, _)| *c == class) {
                let reason = http::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("");
                let text = format!("HTTP status {status} {reason}");
                self.snap.samples.push((class, text.trim_end().to_owned()));
            }
        }
    }

    pub(crate) fn record(&mut self, group: Option<usize>, f: impl Fn(&mut Stats)) {
        f(&mut self.snap.total);
        if let Some(g) = group {
            f(&mut self.snap.groups[g].1);
        }
    }

    /// Takes this interval's measurements, keeping group keys in place. `spare` is a
    /// snapshot the collector is done with: it is emptied in place and records the next
    /// interval, so a run allocates its histograms once rather than every second.
    fn take_snapshot(&mut self, spare: Option<Box<Snapshot>>) -> Box<Snapshot> {
        let mut next = spare.unwrap_or_default();
        next.total.reset();
        next.generator.reset();
        next.samples.clear();
        let keys = &self.snap.groups;
        next.groups.truncate(keys.len());
        for (group, (key, _)) in next.groups.iter_mut().zip(keys) {
            group.0.clone_from(key);
            group.1.reset();
        }
        let have = next.groups.len();
        next.groups
            .extend(keys[have..].iter().map(|(k, _)| (k.clone(), Stats::new())));
        std::mem::swap(&mut *next, &mut self.snap);
        next
    }
}

pub(crate) type LocalRef = Rc<RefCell<Local>>;

impl OnOpen for Local {
    fn opened(&mut self, opened: &Opened, protocol: Option<Protocol>) -> Option<usize> {
        let peer_group = match self.group_by_peer {
            true => Some(self.group_index(opened.peer.to_string().as_bytes())),
            false => None,
        };
        let (connect, tls) = (opened.connect, opened.tls);
        self.record(peer_group, |s| {
            s.record_connect(connect);
            if let Some(p) = protocol {
                s.protocols.add(p);
            }
            if let Some(t) = tls {
                s.tls_handshake.record(t);
            }
        });
        peer_group
    }
}

/// A new request slot: HTTP/2 slots join groups of `streams` sharing one connection.
fn new_slot(shared: &Shared, local: &LocalRef) -> Slot {
    let mut l = local.borrow_mut();
    let index = l.slots_made;
    l.slots_made += 1;
    let cell = shared.h2_streams.map(|streams| {
        let c = index / streams;
        if l.h2_cells.len() <= c {
            l.h2_cells.push(Rc::new(H2Cell::default()));
        }
        l.h2_cells[c].clone()
    });
    Slot::new(cell, shared.capture())
}

/// How the worker splits the load.
pub(crate) enum Share {
    Closed {
        connections: usize,
    },
    Open {
        schedule: Schedule,
        arrival: stampede_plan::Arrival,
        max_connections: usize,
    },
    /// Fleet clients by global index.
    Fleet {
        clients: Vec<usize>,
    },
    /// Scenario runs: one lane per scenario.
    Journeys {
        lanes: Vec<crate::journey::LaneShare>,
    },
}

/// Runs one worker to completion on the current thread.
pub(crate) fn run_worker(
    worker: usize,
    shared: Arc<Shared>,
    share: Share,
    tx: Sender<WorkerMsg>,
    recycled: Receiver<Box<Snapshot>>,
) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local_set = tokio::task::LocalSet::new();
    let local: LocalRef = Rc::new(RefCell::new(Local {
        snap: Snapshot::default(),
        in_flight: 0,
        tasks: 0,
        last_completion: None,
        pending: VecDeque::new(),
        idle: 0,
        open_conns: 0,
        dispatch_done: false,
        group_by_peer: matches!(shared.group_by, Some(GroupBy::Peer)),
        h2_cells: Vec::new(),
        slots_made: 0,
    }));
    let all_done = Rc::new(Notify::new());
    let wake = Rc::new(Notify::new());
    // Snapshots sent to the collector and not yet back for reuse.
    let mut at_collector = 0usize;
    let mut second = 0u64;
    local_set.block_on(&rt, async {
        match share {
            Share::Closed { connections } => {
                for _ in 0..connections * shared.h2_streams.unwrap_or(1) {
                    spawn_task(
                        &local,
                        &all_done,
                        closed_loop(shared.clone(), local.clone()),
                    );
                }
            }
            Share::Fleet { clients } => {
                let clock = Rc::new(FleetClock::default());
                // The clock is not a counted task: it ends with the worker.
                tokio::task::spawn_local(clock.clone().run(shared.timer_slack));
                for index in clients {
                    let (s, l, c) = (shared.clone(), local.clone(), clock.clone());
                    if shared.ws.is_some() {
                        spawn_task(&local, &all_done, ws_client(s, l, c, index));
                    } else {
                        spawn_task(&local, &all_done, fleet_client(s, l, c, index));
                    }
                }
            }
            Share::Journeys { lanes } => {
                crate::journey::spawn_lanes(&shared, &local, &all_done, lanes, worker);
            }
            Share::Open {
                schedule,
                arrival,
                max_connections,
            } => {
                let d = dispatch(
                    shared.clone(),
                    local.clone(),
                    wake.clone(),
                    all_done.clone(),
                    Dispatch {
                        schedule,
                        arrival,
                        worker,
                        max_connections,
                    },
                );
                spawn_task(&local, &all_done, d);
            }
        }
        let finished = async {
            while local.borrow().tasks > 0 {
                all_done.notified().await;
            }
        };
        tokio::pin!(finished);
        let mut next_flush = shared.start + Duration::from_secs(1);
        let mut drain_deadline: Option<Instant> = None;
        loop {
            // Wake at the next interval boundary, the drain deadline, or every 50 ms to
            // notice Ctrl-C; whichever is first.
            let now = Instant::now();
            let mut wake_at = next_flush.min(now + Duration::from_millis(50));
            if let Some(d) = drain_deadline {
                wake_at = wake_at.min(d);
            }
            tokio::select! {
                _ = &mut finished => break,
                _ = tokio::time::sleep_until(wake_at.into()) => {}
            }
            let now = Instant::now();
            if now >= next_flush {
                let spare = recycled.try_recv().ok();
                if spare.is_some() {
                    at_collector -= 1;
                }
                let snapshot = local.borrow_mut().take_snapshot(spare);
                let _ = tx.send(WorkerMsg::Interval {
                    worker,
                    second,
                    snapshot,
                });
                at_collector += 1;
                second += 1;
                next_flush += Duration::from_secs(1);
            }
            if shared.abort.load(Ordering::Relaxed) {
                break;
            }
            if drain_deadline.is_none() && shared.stopping(now) {
                // Idle open-model connections must notice that sending stopped.
                wake.notify_waiters();
                let grace = shared.timeout.min(MAX_DRAIN);
                let stop = shared.send_until.unwrap_or(now).min(now);
                drain_deadline = Some(stop + grace);
            }
            if drain_deadline.is_some_and(|d| now >= d) {
                break;
            }
        }
    });
    // The last snapshot also records into a recycled one: a fresh one now would allocate
    // a full set of histograms at the end of every run and raise its peak memory. The
    // collector sends each snapshot back within moments of getting it.
    let spare = match at_collector {
        0 => None,
        _ => recycled.recv_timeout(Duration::from_secs(1)).ok(),
    };
    // Whatever is still pending or in flight did not finish within the run.
    let (snapshot, last_completion) = {
        let mut l = local.borrow_mut();
        let unsent = l.pending.len() as u64;
        l.snap.generator.dropped += unsent;
        l.snap.generator.unfinished += l.in_flight;
        (l.take_snapshot(spare), l.last_completion)
    };
    drop(local_set);
    let _ = tx.send(WorkerMsg::Interval {
        worker,
        second,
        snapshot,
    });
    let _ = tx.send(WorkerMsg::Done {
        worker,
        last_completion,
        cpu: thread_cpu(),
    });
    Ok(())
}

/// CPU time (user + system) of the calling thread.
pub(crate) fn thread_cpu() -> Duration {
    crate::cpu_time(nix::sys::resource::UsageWho::RUSAGE_THREAD)
}

pub(crate) fn spawn_task(
    local: &LocalRef,
    all_done: &Rc<Notify>,
    fut: impl std::future::Future<Output = ()> + 'static,
) {
    local.borrow_mut().tasks += 1;
    let local = local.clone();
    let all_done = all_done.clone();
    tokio::task::spawn_local(async move {
        fut.await;
        local.borrow_mut().tasks -= 1;
        all_done.notify_one();
    });
}

/// Closed model: send back to back on one slot until the run stops. After a failure to
/// connect (refused, timeout, DNS, TLS) the slot waits before it tries again, so a dead
/// target is not hammered in a tight loop; every attempt is still counted.
async fn closed_loop(shared: Arc<Shared>, local: LocalRef) {
    let mut slot = new_slot(&shared, &local);
    let mut deadline = Deadline::default();
    let mut backoff = Backoff::default();
    let mut now = Instant::now();
    loop {
        if shared.stopping(now) || !shared.take_ticket() {
            break;
        }
        let fresh = !slot.is_connected();
        match perform(&shared, &local, &mut slot, &mut deadline, now, now).await {
            Some(_) if fresh => {
                backoff.sleep(&shared).await;
                now = Instant::now();
            }
            _ => {
                backoff.reset();
                // The clock was just read when the response completed: the next request
                // starts now, so reuse that reading (one clock read less per request).
                now = local.borrow().last_completion.unwrap_or_else(Instant::now);
            }
        }
    }
}

/// Exponential back-off after attempts that fail before a first response on a new
/// connection (refused, reset, a TLS alert, a failed HTTP/2 handshake, an unanswered
/// upgrade): 10 ms, doubling up to 1 s, back to 10 ms after an attempt that is answered.
/// Without it a loop that fails in microseconds would send thousands of attempts per
/// second to a failing service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    /// How long to wait after a failure.
    pub(crate) fn failed(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        wait
    }

    pub(crate) fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    /// Waits out the next back-off, or until sending stops.
    pub(crate) async fn sleep(&mut self, shared: &Shared) {
        sleep_at_most(shared, self.failed()).await;
    }
}

/// Sleeps for `pause`, or until sending stops if that is sooner.
pub(crate) async fn sleep_at_most(shared: &Shared, pause: Duration) {
    let until = Instant::now() + pause;
    let until = shared.send_until.map_or(until, |end| until.min(end));
    tokio::time::sleep_until(until.into()).await;
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: Self::FIRST }
    }
}

/// One worker's open-model dispatcher: its share of the schedule and its pool size.
struct Dispatch {
    schedule: Schedule,
    arrival: stampede_plan::Arrival,
    worker: usize,
    max_connections: usize,
}

/// How long a dispatcher with nothing scheduled waits before it looks at the clock again.
const IDLE_DISPATCH: Duration = Duration::from_millis(100);
/// Waits for a send longer than this also watch for rate changes.
const WATCH_CONTROL_AFTER: Duration = Duration::from_millis(5);

/// Open model: feed the schedule into the worker's queue and grow the pool on demand. A
/// rate change ([`Control::set_rate`]) replaces the schedule from the moment the dispatcher
/// sees it (at once: it is woken) by a constant-rate one starting then.
async fn dispatch(
    shared: Arc<Shared>,
    local: LocalRef,
    wake: Rc<Notify>,
    all_done: Rc<Notify>,
    d: Dispatch,
) {
    let mut timer = PreciseTimer::new(shared.timer_slack);
    let mut schedule = d.schedule;
    // Offsets of the current schedule count from here.
    let mut base = shared.start;
    let mut epoch = 0;
    let mut next = schedule.next();
    loop {
        if shared.control.rate_epoch() != epoch {
            let change = shared.control.rate_change();
            epoch = change.epoch;
            base = Instant::now();
            let profile = stampede_plan::RateProfile {
                start_rate: change.per_second,
                stages: Vec::new(),
            };
            let seed = shared.seed.wrapping_add(epoch);
            schedule = Schedule::new(&profile, d.arrival, d.worker, shared.threads, seed);
            next = schedule.next();
        }
        if shared.abort.load(Ordering::Relaxed) {
            break;
        }
        let Some(offset) = next else {
            // Nothing scheduled (a rate of 0): wait for a change or the end.
            if shared.stopping(Instant::now()) {
                break;
            }
            let _ = tokio::time::timeout(IDLE_DISPATCH, shared.control.changed()).await;
            continue;
        };
        let intended = base + offset;
        if shared.send_until.is_some_and(|t| intended >= t) {
            if shared.stopping(Instant::now()) {
                break;
            }
            // The end comes before this send; a rate change may still come before the end.
            let until = shared.send_until.unwrap_or(intended);
            tokio::select! {
                _ = tokio::time::sleep_until(until.into()) => break,
                _ = shared.control.changed() => continue,
            }
        }
        let now = Instant::now();
        if intended > now + WATCH_CONTROL_AFTER {
            // A long wait (a low rate): a rate change must not wait for it to end.
            tokio::select! {
                _ = timer.sleep_until(intended) => {}
                _ = shared.control.changed() => continue,
            }
        } else if intended > now {
            // A short one: a change is seen right after it, at no cost per send.
            timer.sleep_until(intended).await;
        }
        if shared.abort.load(Ordering::Relaxed) || !shared.take_ticket() {
            break;
        }
        next = schedule.next();
        let mut l = local.borrow_mut();
        l.pending.push_back(intended);
        if l.idle > 0 {
            l.idle -= 1;
            wake.notify_one();
        } else if l.open_conns < d.max_connections * shared.h2_streams.unwrap_or(1) {
            l.open_conns += 1;
            drop(l);
            let task = open_conn_loop(shared.clone(), local.clone(), wake.clone());
            spawn_task(&local, &all_done, task);
        }
    }
    local.borrow_mut().dispatch_done = true;
    wake.notify_waiters();
}

/// Open model: one pooled connection taking scheduled requests from the queue.
async fn open_conn_loop(shared: Arc<Shared>, local: LocalRef, wake: Rc<Notify>) {
    let mut slot = new_slot(&shared, &local);
    let mut deadline = Deadline::default();
    loop {
        let next = {
            let mut l = local.borrow_mut();
            match l.pending.pop_front() {
                Some(t) => Some(t),
                None if l.dispatch_done || shared.stopping(Instant::now()) => {
                    l.open_conns -= 1;
                    return;
                }
                None => {
                    l.idle += 1;
                    None
                }
            }
        };
        let Some(intended) = next else {
            wake.notified().await;
            continue;
        };
        let now = Instant::now();
        if now.saturating_duration_since(intended) >= shared.timeout {
            // It waited for a free connection longer than it may take in all.
            local.borrow_mut().snap.generator.dropped += 1;
            continue;
        }
        perform(&shared, &local, &mut slot, &mut deadline, intended, now).await;
    }
}

/// Sends one request (connecting first if needed) and records the outcome.
/// `intended` is when the request should have left: the schedule's time in the open
/// model, the actual time in the closed model; `started` is the clock read just before
/// the call. Returns the failure's class, if it failed (a timeout waiting for the
/// response is not a failure class: `None`).
async fn perform(
    shared: &Shared,
    local: &LocalRef,
    slot: &mut Slot,
    deadline: &mut Deadline,
    intended: Instant,
    started: Instant,
) -> Option<ErrorClass> {
    local.borrow_mut().in_flight += 1;
    let result = deadline
        .run(started + shared.timeout, async {
            // On a live connection the request leaves now, at `started`.
            let mut sent = Some(started);
            if !slot.is_connected() {
                let mut on_open = LocalOpen(local);
                // Boxed: connecting (TCP, TLS, HTTP/2 handshake) is rare and its state is
                // large; out of line it does not bloat every connection task.
                Box::pin(slot.connect(&shared.connector, &mut on_open)).await?;
                sent = None;
            }
            slot.exchange(&shared.request, sent).await
        })
        .await;
    let done = Instant::now();
    let mut l = local.borrow_mut();
    l.in_flight -= 1;
    l.last_completion = Some(done);
    // A failure before the connection was up belongs to the peer it was opened to.
    let peer_group = match slot.peer_group() {
        Some(g) => Some(g),
        None => l.failed_peer_group(slot.last_peer),
    };
    let by_header = matches!(shared.group_by, Some(GroupBy::Header(_)));
    let sent_at = match &result {
        Ok(Ok(x)) => Some(x.sent),
        Ok(Err(f)) => f.sent,
        Err(_) => None,
    };
    if shared.scheduled {
        let lag = sent_at
            .unwrap_or(started)
            .saturating_duration_since(intended);
        let g = &mut l.snap.generator;
        g.sends += 1;
        g.schedule_lag.record(lag);
        if lag > shared.late_threshold {
            g.late_sends += 1;
        }
    } else {
        l.snap.generator.sends += 1;
    }
    // Failures without a response have no header to group by.
    let failed_group = |l: &mut Local| {
        if by_header {
            Some(l.group_index(b""))
        } else {
            peer_group
        }
    };
    match result {
        Ok(Ok(x)) => {
            let group = if by_header {
                Some(l.group_index(&slot.captured))
            } else {
                peer_group
            };
            let service = done - x.sent;
            // Scheduled requests: from the intended send time (coordinated omission
            // corrected). Unscheduled ones: service time, from the actual send, after
            // any connect (recorded in its own phase).
            let latency = match shared.scheduled {
                true => done - intended,
                false => service,
            };
            let ttfb = x.meta.first_byte.saturating_duration_since(x.sent);
            let bytes_out = shared.request.h1.len() as u64;
            l.record(group, |s| {
                s.record_response(x.meta.status, latency, service);
                s.ttfb.record(ttfb);
                s.bytes_received += x.meta.bytes;
                s.bytes_sent += bytes_out;
            });
            l.sample_status(x.meta.status);
            drop(l);
            if !(x.meta.reusable && shared.keep_alive) {
                slot.disconnect();
            }
            None
        }
        Ok(Err(Failure { class, detail, .. })) => {
            let group = failed_group(&mut l);
            l.record(group, |s| s.record_error(class));
            l.sample(class, detail);
            drop(l);
            // A reset stream leaves an HTTP/2 connection usable.
            if class != ErrorClass::StreamReset {
                slot.disconnect();
            }
            Some(class)
        }
        Err(_elapsed) if !slot.is_connected() => {
            // The deadline passed before the connection was ready.
            let group = failed_group(&mut l);
            l.record(group, |s| s.record_error(ErrorClass::ConnectTimeout));
            l.sample(
                ErrorClass::ConnectTimeout,
                Some(format!("not connected within {:?}", shared.timeout)),
            );
            Some(ErrorClass::ConnectTimeout)
        }
        Err(_elapsed) => {
            let group = failed_group(&mut l);
            l.record(group, |s| s.record_timeout());
            drop(l);
            slot.disconnect();
            None
        }
    }
}

/// Records connection opens into the worker's stats from inside a slot.
pub(crate) struct LocalOpen<'a>(pub(crate) &'a LocalRef);

impl OnOpen for LocalOpen<'_> {
    fn opened(&mut self, opened: &Opened, protocol: Option<Protocol>) -> Option<usize> {
        self.0.borrow_mut().opened(opened, protocol)
    }
}

/// When fleet client `index` first sends: clients are spread evenly over one interval,
/// so a fleet does not arrive as one thundering herd.
fn fleet_phase(spec: &FleetSpec, index: usize) -> Duration {
    spec.every
        .map(|e| e.mul_f64(index as f64 / spec.clients.max(1) as f64))
        .unwrap_or_default()
}

/// Fleet over HTTP: one device polling on its own keep-alive connection.
async fn fleet_client(shared: Arc<Shared>, local: LocalRef, clock: Rc<FleetClock>, index: usize) {
    let spec = shared.fleet.expect("fleet run");
    let mut slot = new_slot(&shared, &local);
    let mut deadline = Deadline::default();
    let mut next = shared.start + fleet_phase(&spec, index);
    let mut connected_at = Instant::now();
    let mut backoff = Backoff::default();
    loop {
        let intended = match spec.every {
            Some(every) => {
                if shared.send_until.is_some_and(|t| next >= t) {
                    break;
                }
                clock.wait_until(index, next).await;
                let at = next;
                next += every;
                at
            }
            None => Instant::now(),
        };
        // A send due before the end still goes, even if this client woke up late.
        if shared.abort.load(Ordering::Relaxed) || !shared.take_ticket() {
            break;
        }
        if spec.every.is_none() && shared.stopping(Instant::now()) {
            break;
        }
        if spec
            .hold
            .is_some_and(|h| slot.is_connected() && connected_at.elapsed() >= h)
        {
            slot.disconnect();
        }
        let was_connected = slot.is_connected();
        let failed = perform(
            &shared,
            &local,
            &mut slot,
            &mut deadline,
            intended,
            Instant::now(),
        )
        .await
        .is_some();
        if !was_connected && slot.is_connected() {
            connected_at = Instant::now();
        }
        // A client polling back to back backs off when it cannot get an answer on a
        // new connection; one with an interval keeps its schedule.
        if spec.every.is_none() {
            match failed && !was_connected {
                true => backoff.sleep(&shared).await,
                false => backoff.reset(),
            }
        }
    }
}

/// Fleet over WebSocket: one device holding a socket, sending messages on its schedule
/// (or back to back), reconnecting after `hold` (once its last message is answered) or
/// after a drop.
async fn ws_client(shared: Arc<Shared>, local: LocalRef, clock: Rc<FleetClock>, index: usize) {
    let spec = shared.fleet.expect("fleet run");
    let req = shared.ws.as_ref().expect("websocket run");
    let mut next = shared.start + fleet_phase(&spec, index);
    let far = Instant::now() + Duration::from_secs(86_400 * 365);
    let send_until = shared.send_until.unwrap_or(far);
    if spec.every.is_some() {
        // Connect when the device's first message is due, not all at once.
        clock.wait_until(index, next).await;
    }
    let mut conn: Option<(WsConn, Instant)> = None;
    // The request limit is used up: wait for the replies, then leave.
    let mut exhausted = false;
    while !shared.stopping(Instant::now()) {
        let Some((c, since)) = conn.as_mut() else {
            // A failed attempt counts against a request limit (it is recorded as a
            // failed request), so a run on a refusing server still ends: the ticket is
            // taken up front and given back when the connection opens.
            if !shared.take_ticket() {
                break;
            }
            // Boxed: connecting and upgrading (TCP, TLS, the HTTP handshake) is rare and
            // its state is large; inline it would sit in every idle client's task.
            let opened = Box::pin(tokio::time::timeout(
                shared.timeout,
                ws::open(&shared.connector, req, &mut LocalOpen(&local)),
            ))
            .await;
            {
                let mut l = local.borrow_mut();
                match opened {
                    Ok(Ok((c, upgrade))) => {
                        shared.return_ticket();
                        l.record(c.peer_group, |s| {
                            s.upgrade.record(upgrade);
                            s.protocols.add(Protocol::WebSocket);
                        });
                        conn = Some((c, Instant::now()));
                    }
                    Ok(Err(f)) => {
                        let group = l.failed_peer_group(f.peer);
                        l.record(group, |s| s.record_error(f.class));
                        l.sample(f.class, f.detail);
                    }
                    Err(_) => {
                        l.record(None, |s| s.record_error(ErrorClass::ConnectTimeout));
                    }
                }
            }
            if conn.is_none() {
                // A device backs off before reconnecting.
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            continue;
        };
        let group = c.peer_group;
        if exhausted && c.pending() == 0 {
            break;
        }
        let holding_too_long = spec.hold.is_some_and(|h| since.elapsed() >= h);
        if holding_too_long && c.pending() == 0 {
            if let Some((c, _)) = conn.take() {
                Box::pin(c.close()).await;
            }
            continue;
        }
        // Past the hold time a device sends nothing new; it waits for its replies.
        let send_at = match spec.every {
            _ if holding_too_long || exhausted => far,
            Some(_) => next,
            None if c.pending() == 0 => Instant::now(),
            None => far,
        };
        let hold_at = match spec.hold {
            Some(h) if !holding_too_long => *since + h,
            _ => far,
        };
        let expire_at = c.oldest().map_or(far, |(_, sent)| sent + shared.timeout);
        let scheduled_send = spec.every.is_some() && send_at < send_until;
        tokio::select! {
            biased;
            event = c.next() => match event {
                WsEvent::Answered(intended, sent, bytes) => {
                    let done = Instant::now();
                    let mut l = local.borrow_mut();
                    l.in_flight -= 1;
                    l.last_completion = Some(done);
                    l.record(group, |s| {
                        s.record_message(done - intended, done - sent);
                        s.bytes_received += bytes as u64;
                    });
                }
                WsEvent::Other => {}
                WsEvent::Dropped(f) => {
                    lose_connection(&local, group, c.pending() as u64, f);
                    conn = None;
                }
            },
            _ = clock.wait_until(index, send_at), if scheduled_send => {
                next += spec.every.unwrap_or_default();
                exhausted = !ws_send(&shared, &local, &mut conn, send_at, req).await;
            }
            _ = std::future::ready(()), if !scheduled_send && send_at < send_until => {
                exhausted = !ws_send(&shared, &local, &mut conn, send_at, req).await;
            }
            _ = tokio::time::sleep_until(expire_at.into()), if expire_at < far => {
                c.expire_oldest();
                let mut l = local.borrow_mut();
                l.in_flight -= 1;
                l.record(group, |s| s.record_timeout());
            }
            _ = tokio::time::sleep_until(hold_at.into()), if hold_at < far => {}
            _ = tokio::time::sleep_until(send_until.into()), if send_until < far => break,
        }
    }
    if let Some((c, _)) = conn.take() {
        // Messages still unanswered stay counted as in flight (unfinished).
        Box::pin(c.close()).await;
    }
}

/// Sends one WebSocket message and records it; a failed send loses the connection.
/// Returns false when the request limit is used up.
async fn ws_send(
    shared: &Shared,
    local: &LocalRef,
    conn: &mut Option<(WsConn, Instant)>,
    intended: Instant,
    req: &WsRequest,
) -> bool {
    let Some((c, _)) = conn.as_mut() else {
        return true;
    };
    if !shared.take_ticket() {
        return false;
    }
    let group = c.peer_group;
    match c.send(intended, req).await {
        Ok((sent, bytes)) => {
            let mut l = local.borrow_mut();
            l.in_flight += 1;
            l.record(group, |s| s.bytes_sent += bytes as u64);
            let lag = sent.saturating_duration_since(intended);
            let g = &mut l.snap.generator;
            g.sends += 1;
            if shared.scheduled {
                g.schedule_lag.record(lag);
                if lag > shared.late_threshold {
                    g.late_sends += 1;
                }
            }
        }
        Err(f) => {
            lose_connection(local, group, c.pending() as u64, f);
            *conn = None;
        }
    }
    true
}

/// A WebSocket dropped: one error for the drop, a timeout for each unanswered message.
fn lose_connection(local: &LocalRef, group: Option<usize>, unanswered: u64, f: Failure) {
    let mut l = local.borrow_mut();
    l.in_flight -= unanswered;
    l.record(group, |s| {
        s.record_error(f.class);
        for _ in 0..unanswered {
            s.record_timeout();
        }
    });
    l.sample(f.class, f.detail);
}

/// Wakes fleet clients at their intended times with the worker's precise timer: one
/// task sleeps until the earliest due client and wakes it, so thousands of clients
/// share one timerfd instead of each rounding to tokio's millisecond ticks.
#[derive(Default)]
pub(crate) struct FleetClock {
    due: RefCell<std::collections::BinaryHeap<std::cmp::Reverse<(Instant, usize)>>>,
    clients: RefCell<std::collections::HashMap<usize, Rc<Notify>>>,
    changed: Notify,
}

impl FleetClock {
    /// Waits until `at` (returns at once if it has passed). A wait abandoned halfway
    /// (a `select!` took another branch) can leave a stale wake-up behind; it is
    /// harmless because every wake re-checks the time, so no client runs early.
    pub(crate) async fn wait_until(&self, client: usize, at: Instant) {
        let notify = self
            .clients
            .borrow_mut()
            .entry(client)
            .or_insert_with(|| Rc::new(Notify::new()))
            .clone();
        while Instant::now() < at {
            let earliest = self.due.borrow().peek().map(|r| r.0 .0);
            self.due.borrow_mut().push(std::cmp::Reverse((at, client)));
            if earliest.is_none_or(|e| at < e) {
                self.changed.notify_one();
            }
            notify.notified().await;
        }
    }

    /// The clock's own task: runs until the worker ends.
    pub(crate) async fn run(self: Rc<Self>, gap: Duration) {
        let mut timer = PreciseTimer::new(gap);
        loop {
            let next = self.due.borrow().peek().map(|r| r.0 .0);
            match next {
                None => self.changed.notified().await,
                Some(at) => {
                    tokio::select! {
                        _ = timer.sleep_until(at) => {}
                        _ = self.changed.notified() => continue,
                    }
                    let now = Instant::now();
                    let mut due = self.due.borrow_mut();
                    while due.peek().is_some_and(|r| r.0 .0 <= now) {
                        let std::cmp::Reverse((_, client)) = due.pop().expect("peeked");
                        if let Some(n) = self.clients.borrow().get(&client) {
                            n.notify_one();
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_second_and_resets() {
        let mut b = Backoff::default();
        let waits: Vec<u64> = (0..9).map(|_| b.failed().as_millis() as u64).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.reset();
        assert_eq!(b.failed(), Duration::from_millis(10));
    }
}
