//! One worker thread: a single-threaded tokio runtime driving a share of the
//! connections (closed model) or of the arrival schedule (open model), recording into
//! thread-local stats that are handed to the collector once per second.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stampede_metrics::{ErrorClass, GeneratorStats, Stats};
use stampede_plan::GroupBy;
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::connect::connect_tcp;
use crate::http1::Http1Conn;
use crate::schedule::Schedule;
use crate::timer::PreciseTimer;

/// Sends that leave more than this after their intended time count as late.
pub const LATE_THRESHOLD: Duration = Duration::from_millis(1);
/// Distinct group keys kept per run; further keys share one "(other)" row.
pub const MAX_GROUPS: usize = 256;
/// The longest the run waits after sending stops for in-flight responses.
pub const MAX_DRAIN: Duration = Duration::from_secs(2);

const NO_RESPONSE: &str = "(no response)";
const OTHER: &str = "(other)";

/// Everything the workers share, read-only apart from the atomics.
#[derive(Debug)]
pub(crate) struct Shared {
    pub start: Instant,
    /// When sending stops (the duration limit), if any.
    pub send_until: Option<Instant>,
    /// Requests left to send under a request limit.
    pub tickets: Option<AtomicU64>,
    /// Set by Ctrl-C: stop now, report what was measured.
    pub abort: Arc<AtomicBool>,
    pub addrs: Vec<SocketAddr>,
    pub request: Vec<u8>,
    pub head_request: bool,
    pub timeout: Duration,
    pub keep_alive: bool,
    pub group_by: Option<GroupBy>,
    pub open_model: bool,
}

impl Shared {
    /// True once sending must stop (duration over or aborted).
    fn stopping(&self, now: Instant) -> bool {
        self.abort.load(Ordering::Relaxed) || self.send_until.is_some_and(|t| now >= t)
    }

    /// Takes one request from the request limit; false when none are left.
    fn take_ticket(&self) -> bool {
        match &self.tickets {
            None => true,
            Some(t) => t
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }

    fn addr_for(&self, n: usize) -> SocketAddr {
        self.addrs[n % self.addrs.len()]
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
}

/// Messages from workers to the collector.
#[derive(Debug)]
pub(crate) enum WorkerMsg {
    Interval {
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
struct Local {
    snap: Snapshot,
    in_flight: u64,
    tasks: usize,
    last_completion: Option<Instant>,
    next_conn: usize,
    // Open model.
    pending: VecDeque<Instant>,
    idle: usize,
    open_conns: usize,
    dispatch_done: bool,
}

impl Local {
    fn group_index(&mut self, key: &[u8]) -> usize {
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

    fn record(&mut self, group: Option<usize>, f: impl Fn(&mut Stats)) {
        f(&mut self.snap.total);
        if let Some(g) = group {
            f(&mut self.snap.groups[g].1);
        }
    }

    /// Takes this interval's measurements, keeping group keys in place.
    fn take_snapshot(&mut self) -> Snapshot {
        let groups = self
            .snap
            .groups
            .iter_mut()
            .map(|(k, s)| (k.clone(), std::mem::take(s)))
            .collect();
        Snapshot {
            total: std::mem::take(&mut self.snap.total),
            groups,
            generator: std::mem::take(&mut self.snap.generator),
        }
    }
}

type LocalRef = Rc<RefCell<Local>>;

/// An open connection and the group its peer belongs to.
struct Conn {
    http: Http1Conn<TcpStream>,
    peer_group: Option<usize>,
}

/// How the worker splits the load.
pub(crate) enum Share {
    Closed {
        connections: usize,
    },
    Open {
        schedule: Schedule,
        max_connections: usize,
    },
}

/// Runs one worker to completion on the current thread.
pub(crate) fn run_worker(
    worker: usize,
    shared: Arc<Shared>,
    share: Share,
    tx: Sender<WorkerMsg>,
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
        next_conn: worker,
        pending: VecDeque::new(),
        idle: 0,
        open_conns: 0,
        dispatch_done: false,
    }));
    let all_done = Rc::new(Notify::new());
    let wake = Rc::new(Notify::new());
    let mut second = 0u64;
    local_set.block_on(&rt, async {
        match share {
            Share::Closed { connections } => {
                for _ in 0..connections {
                    spawn_task(
                        &local,
                        &all_done,
                        closed_loop(shared.clone(), local.clone()),
                    );
                }
            }
            Share::Open {
                schedule,
                max_connections,
            } => {
                let d = dispatch(
                    shared.clone(),
                    local.clone(),
                    wake.clone(),
                    all_done.clone(),
                    schedule,
                    max_connections,
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
                let snapshot = local.borrow_mut().take_snapshot();
                let _ = tx.send(WorkerMsg::Interval {
                    second,
                    snapshot: Box::new(snapshot),
                });
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
    // Whatever is still pending or in flight did not finish within the run.
    let (snapshot, last_completion) = {
        let mut l = local.borrow_mut();
        let unsent = l.pending.len() as u64;
        l.snap.generator.dropped += unsent;
        l.snap.generator.unfinished += l.in_flight;
        (l.take_snapshot(), l.last_completion)
    };
    drop(local_set);
    let _ = tx.send(WorkerMsg::Interval {
        second,
        snapshot: Box::new(snapshot),
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
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_THREAD) {
        Ok(u) => {
            let tv = |t: nix::sys::time::TimeVal| {
                Duration::new(t.tv_sec().max(0) as u64, (t.tv_usec().max(0) as u32) * 1000)
            };
            tv(u.user_time()) + tv(u.system_time())
        }
        Err(_) => Duration::ZERO,
    }
}

fn spawn_task(
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

/// Closed model: send back to back on one connection until the run stops.
async fn closed_loop(shared: Arc<Shared>, local: LocalRef) {
    let mut conn: Option<Conn> = None;
    loop {
        let now = Instant::now();
        if shared.stopping(now) || !shared.take_ticket() {
            break;
        }
        perform(&shared, &local, &mut conn, now).await;
    }
}

/// Open model: feed the schedule into the worker's queue and grow the pool on demand.
async fn dispatch(
    shared: Arc<Shared>,
    local: LocalRef,
    wake: Rc<Notify>,
    all_done: Rc<Notify>,
    schedule: Schedule,
    max_connections: usize,
) {
    let mut timer = PreciseTimer::new();
    for offset in schedule {
        let intended = shared.start + offset;
        if shared.send_until.is_some_and(|t| intended >= t) || !shared.take_ticket() {
            break;
        }
        if intended > Instant::now() {
            timer.sleep_until(intended).await;
        }
        if shared.abort.load(Ordering::Relaxed) {
            break;
        }
        let mut l = local.borrow_mut();
        l.pending.push_back(intended);
        if l.idle > 0 {
            l.idle -= 1;
            wake.notify_one();
        } else if l.open_conns < max_connections {
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
    let mut conn: Option<Conn> = None;
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
        perform(&shared, &local, &mut conn, intended).await;
    }
}

/// Sends one request (connecting first if needed) and records the outcome.
/// `intended` is when the request should have left: the schedule's time in the open
/// model, the actual time in the closed model.
async fn perform(shared: &Shared, local: &LocalRef, slot: &mut Option<Conn>, intended: Instant) {
    let started = Instant::now();
    let deadline = started + shared.timeout;
    local.borrow_mut().in_flight += 1;
    let result = tokio::time::timeout_at(deadline.into(), async {
        if slot.is_none() {
            let addr = {
                let mut l = local.borrow_mut();
                l.next_conn += 1;
                shared.addr_for(l.next_conn)
            };
            let t0 = Instant::now();
            let stream = connect_tcp(addr, shared.timeout)
                .await
                .map_err(|c| (c, None))?;
            let took = t0.elapsed();
            let mut l = local.borrow_mut();
            let peer_group = match shared.group_by {
                Some(GroupBy::Peer) => Some(l.group_index(addr.to_string().as_bytes())),
                _ => None,
            };
            l.record(peer_group, |s| s.record_connect(took));
            let capture = match &shared.group_by {
                Some(GroupBy::Header(h)) => Some(h.as_str()),
                _ => None,
            };
            *slot = Some(Conn {
                http: Http1Conn::new(stream, capture),
                peer_group,
            });
        }
        let conn = slot.as_mut().expect("connected above");
        let sent = Instant::now();
        let meta = conn
            .http
            .exchange(&shared.request, shared.head_request)
            .await
            .map_err(|c| (c, Some(sent)))?;
        Ok::<_, (ErrorClass, Option<Instant>)>((meta, sent))
    })
    .await;
    let done = Instant::now();
    let mut l = local.borrow_mut();
    l.in_flight -= 1;
    l.last_completion = Some(done);
    let peer_group = slot.as_ref().and_then(|c| c.peer_group);
    let header_group = |l: &mut Local, conn: Option<&Conn>| match (&shared.group_by, conn) {
        (Some(GroupBy::Header(_)), Some(c)) => Some(l.group_index(c.http.captured())),
        (Some(GroupBy::Header(_)), None) => Some(l.group_index(b"")),
        _ => peer_group,
    };
    let sent_at = match &result {
        Ok(Ok((_, sent))) => Some(*sent),
        Ok(Err((_, sent))) => *sent,
        Err(_) => None,
    };
    if shared.open_model {
        let lag = sent_at
            .unwrap_or(started)
            .saturating_duration_since(intended);
        let g = &mut l.snap.generator;
        g.sends += 1;
        g.schedule_lag.record(lag);
        if lag > LATE_THRESHOLD {
            g.late_sends += 1;
        }
    } else {
        l.snap.generator.sends += 1;
    }
    match result {
        Ok(Ok((meta, sent))) => {
            let group = header_group(&mut l, slot.as_ref());
            let latency = done - intended;
            let service = done - sent;
            let ttfb = meta.first_byte.saturating_duration_since(sent);
            let bytes_out = shared.request.len() as u64;
            l.record(group, |s| {
                s.record_response(meta.status, latency, service);
                s.ttfb.record(ttfb);
                s.bytes_received += meta.bytes;
                s.bytes_sent += bytes_out;
            });
            if !(meta.reusable && shared.keep_alive) {
                *slot = None;
            }
        }
        Ok(Err((class, _))) => {
            let group = header_group(&mut l, None);
            l.record(group.or(peer_group), |s| s.record_error(class));
            *slot = None;
        }
        Err(_elapsed) if slot.is_none() => {
            // The deadline passed before the TCP handshake finished.
            let group = header_group(&mut l, None);
            l.record(group, |s| s.record_error(ErrorClass::ConnectTimeout));
        }
        Err(_elapsed) => {
            let group = header_group(&mut l, None);
            l.record(group.or(peer_group), |s| s.record_timeout());
            *slot = None;
        }
    }
}
