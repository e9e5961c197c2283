//! Replays (`stampede replay`): a dispatcher pulls arrivals from the run's
//! [`ReplayFeed`], waits for each one's time and hands it to a pool of connections, as
//! the open model does; every arrival is its own request (method, path, headers, body)
//! and, under `--group-by route`, counts in its route's row. Latency counts from each
//! arrival's intended time.

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stampede_plan::{GroupBy, ReplayArrival, ReplayFeed};
use stampede_proto::http1::Kept;
use stampede_proto::link::{Connector, PreparedRequest};
use tokio::sync::Notify;

use crate::deadline::Deadline;
use crate::request::{perform, Request};
use crate::state::{new_slot, spawn_task, LocalRef, Queued, Shared};
use crate::timer::PreciseTimer;

/// Where a replay's requests go: the base URL's authority, scheme and path.
#[derive(Debug, Clone)]
pub(crate) struct ReplayTarget {
    pub authority: String,
    pub tls: bool,
    /// The base URL's path without its trailing `/`, put before each arrival's path.
    pub base_path: String,
}

/// One worker's replay dispatcher.
pub(crate) struct ReplayDispatch {
    pub feed: ReplayFeed,
    pub target: ReplayTarget,
    pub max_connections: usize,
}

/// Waits longer than this also watch for the run being stopped.
const WATCH_STOP_AFTER: Duration = Duration::from_millis(5);

/// Feeds the worker's queue from the shared feed until it runs dry or sending stops.
pub(crate) async fn dispatch(
    shared: Arc<Shared>,
    local: LocalRef,
    wake: Rc<Notify>,
    all_done: Rc<Notify>,
    d: ReplayDispatch,
) {
    let mut timer = PreciseTimer::new(shared.timer_slack);
    let http2 = shared.h2_streams.is_some();
    let by_route = matches!(shared.group_by, Some(GroupBy::Route));
    while !shared.abort.load(Ordering::Relaxed) {
        let Some(arrival) = d.feed.0.next_arrival() else {
            break;
        };
        let intended = shared.start + arrival.at;
        if let Some(until) = shared.send_until.filter(|&t| intended >= t) {
            // The run's end comes first.
            if until > Instant::now() {
                tokio::select! {
                    _ = tokio::time::sleep_until(until.into()) => {}
                    _ = shared.control.changed() => {}
                }
            }
            break;
        }
        let now = Instant::now();
        if intended > now + WATCH_STOP_AFTER {
            tokio::select! {
                _ = timer.sleep_until(intended) => {}
                _ = shared.control.changed() => {
                    if shared.abort.load(Ordering::Relaxed) { break }
                    timer.sleep_until(intended).await;
                }
            }
        } else if intended > now {
            timer.sleep_until(intended).await;
        }
        if shared.abort.load(Ordering::Relaxed) || !shared.take_ticket() {
            break;
        }
        let request = prepare(&d.target, &arrival, http2, shared.keep_alive);
        let mut l = local.borrow_mut();
        let group = by_route.then(|| l.group_index(arrival.route.as_bytes()));
        l.replay.push_back(Queued {
            intended,
            request,
            group,
        });
        if l.idle > 0 {
            l.idle -= 1;
            wake.notify_one();
        } else if l.open_conns < d.max_connections * shared.h2_streams.unwrap_or(1) {
            l.open_conns += 1;
            drop(l);
            let task = conn_loop(shared.clone(), local.clone(), wake.clone());
            spawn_task(&local, &all_done, task);
        }
    }
    local.borrow_mut().dispatch_done = true;
    wake.notify_waiters();
}

/// The arrival as a request to the replay's target.
fn prepare(t: &ReplayTarget, a: &ReplayArrival, http2: bool, keep_alive: bool) -> PreparedRequest {
    let path = format!("{}{}", t.base_path, a.path);
    PreparedRequest::from_parts(
        t.tls,
        &t.authority,
        &a.method,
        &path,
        a.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())),
        a.body.clone(),
        http2,
        keep_alive,
    )
}

/// One pooled connection taking queued arrivals.
async fn conn_loop(shared: Arc<Shared>, local: LocalRef, wake: Rc<Notify>) {
    let mut slot = new_slot(&shared, &local);
    let mut deadline = Deadline::default();
    loop {
        let next = {
            let mut l = local.borrow_mut();
            match l.replay.pop_front() {
                Some(q) => Some(q),
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
        let Some(q) = next else {
            wake.notified().await;
            continue;
        };
        let now = Instant::now();
        if now.saturating_duration_since(q.intended) >= shared.timeout {
            // It waited for a free connection longer than it may take in all.
            local.borrow_mut().snap.generator.dropped += 1;
            continue;
        }
        let what = Replayed {
            request: &q.request,
            group: q.group,
        };
        perform(
            &shared,
            &local,
            &mut slot,
            &mut deadline,
            what,
            Some(q.intended),
            now,
        )
        .await;
    }
}

/// A replayed request, in its route's row (or the run's `--group-by` rule).
struct Replayed<'a> {
    request: &'a PreparedRequest,
    group: Option<usize>,
}

impl Request for Replayed<'_> {
    fn request<'a>(&'a self, _: &'a Shared) -> &'a PreparedRequest {
        self.request
    }
    fn sending<'a>(&'a mut self, _: &'a Shared) -> (&'a PreparedRequest, Option<&'a mut Kept>) {
        (self.request, None)
    }
    fn connector<'a>(&'a self, shared: &'a Shared) -> &'a Connector {
        &shared.connector
    }
    fn step(&self) -> Option<usize> {
        self.group
    }
}
