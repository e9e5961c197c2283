//! A worker thread's state: what all workers share ([`Shared`]), what the tasks of one
//! worker share ([`Local`]), and the pacing helpers every driver uses.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stampede_metrics::{ErrorClass, GeneratorStats, Protocol, Stats};
use stampede_plan::GroupBy;
use tokio::sync::Notify;

use crate::control::Control;
use stampede_proto::link::{Connector, H2Cell, OnOpen, Opened, PreparedRequest, Slot};
use stampede_proto::ws::WsRequest;

/// Sends that leave more than this after their intended time count as late.
pub const LATE_THRESHOLD: Duration = Duration::from_millis(1);
/// Distinct group keys kept per run (over all workers); further keys share one
/// "(other)" row.
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
    /// The group keys of the run, over all workers, up to [`MAX_GROUPS`].
    pub group_keys: Arc<GroupKeys>,
    /// The run's random seed.
    pub seed: u64,
    /// Worker threads.
    pub threads: usize,
    /// The part of the run this process applies.
    pub shard: stampede_plan::Shard,
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
    /// Worker `worker`'s schedule stream among all the run's: `(stream, streams)` for
    /// [`crate::schedule::Schedule::new`] ([`stampede_plan::Shard::stream`]).
    pub(crate) fn stream(&self, worker: usize) -> (usize, usize) {
        self.shard.stream(worker, self.threads)
    }

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
    pub(crate) fn return_ticket(&self) {
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
        /// How long the worker's thread ran (its start to its end, drain included).
        wall: Duration,
    },
}

/// The group keys of a run, shared by its workers: the cap on distinct keys holds for
/// the run, not per worker. A worker asks only the first time it sees a key.
#[derive(Debug, Default)]
pub(crate) struct GroupKeys {
    keys: std::sync::Mutex<Vec<String>>,
}

impl GroupKeys {
    /// True when `key` is (or now becomes) one of the run's first [`MAX_GROUPS`] keys.
    fn admit(&self, key: &str) -> bool {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if keys.iter().any(|k| k == key) {
            return true;
        }
        if keys.len() >= MAX_GROUPS {
            return false;
        }
        keys.push(key.to_string());
        true
    }
}

/// A replayed request waiting for a connection: when it was due, what it is and its
/// row.
pub(crate) struct Queued {
    pub(crate) intended: Instant,
    pub(crate) request: PreparedRequest,
    pub(crate) group: Option<usize>,
}

/// The worker's mutable state, shared by its tasks on one thread.
pub(crate) struct Local {
    pub(crate) snap: Snapshot,
    pub(crate) in_flight: u64,
    pub(crate) tasks: usize,
    pub(crate) last_completion: Option<Instant>,
    // Open model.
    pub(crate) pending: VecDeque<Instant>,
    /// Replays: arrivals waiting for a connection.
    pub(crate) replay: VecDeque<Queued>,
    pub(crate) idle: usize,
    pub(crate) open_conns: usize,
    pub(crate) dispatch_done: bool,
    pub(crate) group_by_peer: bool,
    /// The run's group keys, for the cap on distinct keys.
    group_keys: Arc<GroupKeys>,
    /// HTTP/2 connections shared by groups of slots.
    h2_cells: Vec<Rc<H2Cell>>,
    slots_made: usize,
}

impl Local {
    /// A worker's empty state.
    pub(crate) fn new(shared: &Shared) -> Self {
        Local {
            snap: Snapshot::default(),
            in_flight: 0,
            tasks: 0,
            last_completion: None,
            pending: VecDeque::new(),
            replay: VecDeque::new(),
            idle: 0,
            open_conns: 0,
            dispatch_done: false,
            group_by_peer: matches!(shared.group_by, Some(GroupBy::Peer)),
            group_keys: shared.group_keys.clone(),
            h2_cells: Vec::new(),
            slots_made: 0,
        }
    }

    /// A request leaves: it counts as sent now, not when its response is in (a long
    /// poll in flight shows as sent), and so do its bytes (in the total; its row gets
    /// them once the response says which row it is).
    /// `lag` is how late it leaves, for a send with an intended time: lateness is
    /// measured here, at the actual send.
    pub(crate) fn leaving(&mut self, bytes: u64, lag: Option<Duration>, late: Duration) {
        let g = &mut self.snap.generator;
        g.sends += 1;
        if let Some(lag) = lag {
            g.schedule_lag.record(lag);
            if lag > late {
                g.late_sends += 1;
            }
        }
        self.snap.total.bytes_sent += bytes;
    }

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
        let name = if key.is_empty() {
            NO_RESPONSE.to_string()
        } else {
            String::from_utf8_lossy(key).into_owned()
        };
        let name = match self.group_keys.admit(&name) {
            true => name,
            false => OTHER.to_string(),
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
    pub(crate) fn take_snapshot(&mut self, spare: Option<Box<Snapshot>>) -> Box<Snapshot> {
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
pub(crate) fn new_slot(shared: &Shared, local: &LocalRef) -> Slot {
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

/// Records connection opens into the worker's stats from inside a slot.
pub(crate) struct LocalOpen<'a>(pub(crate) &'a LocalRef);

impl OnOpen for LocalOpen<'_> {
    fn opened(&mut self, opened: &Opened, protocol: Option<Protocol>) -> Option<usize> {
        self.0.borrow_mut().opened(opened, protocol)
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
