//! Replays (`stampede replay`): a dispatcher pulls arrivals from the run's
//! [`ReplayFeed`], waits for each one's time and hands it to a pool of connections, as
//! the open model does; every arrival is its own request (method, path, headers, body)
//! and, under `--group-by route`, counts in its route's row. Latency counts from each
//! arrival's intended time.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::{Duration, Instant};

use stampede_plan::{GroupBy, ReplayArrival, ReplayFeed};
use stampede_proto::http1::Kept;
use stampede_proto::link::{Connector, PreparedRequest};

use crate::pool::{Pool, Pooled};
use crate::request::Request;
use crate::state::{Local, Queued, Shared};
use crate::steered::IDLE_DISPATCH;
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

/// Feeds the worker's pool of connections from the shared feed until it runs dry or
/// sending stops.
pub(crate) async fn dispatch(pool: Pool, d: ReplayDispatch) {
    let shared = &pool.shared;
    let mut timer = PreciseTimer::new(shared.timer_slack);
    let http2 = shared.h2_streams.is_some();
    let by_route = matches!(shared.group_by, Some(GroupBy::Route));
    while !shared.abort.load(Ordering::Relaxed) {
        let Some(arrival) = next_arrival(&d.feed, shared).await else {
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
        pool.push(|l| Queued {
            intended,
            request,
            group: by_route.then(|| l.group_index(arrival.route.as_bytes())),
        });
    }
    pool.close();
}

/// The feed's next arrival: at once when it has been read (the usual case: the feed
/// reads ahead on its own thread), else when it is, unless sending stops meanwhile.
async fn next_arrival(feed: &ReplayFeed, shared: &Shared) -> Option<ReplayArrival> {
    let mut next = std::pin::pin!(std::future::poll_fn(|cx| feed.0.poll_next_arrival(cx)));
    if let Poll::Ready(a) = std::future::poll_fn(|cx| Poll::Ready(next.as_mut().poll(cx))).await {
        return a;
    }
    loop {
        match tokio::time::timeout(IDLE_DISPATCH, next.as_mut()).await {
            Ok(a) => return a,
            Err(_) if shared.stopping(Instant::now()) => return None,
            Err(_) => {}
        }
    }
}

/// The arrival as a request to the replay's target.
fn prepare(t: &ReplayTarget, a: &ReplayArrival, http2: bool, keep_alive: bool) -> PreparedRequest {
    let path = match t.base_path.is_empty() {
        true => Cow::Borrowed(a.path.as_str()),
        false => Cow::Owned(format!("{}{}", t.base_path, a.path)),
    };
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

/// A replay's item: an arrival's request, waiting for a connection.
impl Pooled for Queued {
    type Held = Queued;
    fn queue(local: &mut Local) -> &mut VecDeque<Self> {
        &mut local.replay
    }
    fn into_parts(self) -> (Instant, Queued) {
        (self.intended, self)
    }
    fn request(q: &Queued) -> impl Request + '_ {
        Replayed {
            request: &q.request,
            group: q.group,
        }
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
