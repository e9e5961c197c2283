//! A replay's arrivals: requests with their own method, path, headers and body, each due
//! at a given time after the run's start. The source (a log or HAR reader, crate
//! `stampede-replay`) is pulled one arrival at a time, so a file of any size is streamed.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// One request of a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayArrival {
    /// When it is due, after the run's start.
    pub at: Duration,
    /// HTTP method, upper case.
    pub method: String,
    /// Path and query, starting with `/` (the base URL's path is put in front).
    pub path: String,
    /// Headers to send (besides Host, Content-Length and Connection, which the request
    /// path writes).
    pub headers: Vec<(String, String)>,
    /// Body (empty for none).
    pub body: Vec<u8>,
    /// The row it counts in under `--group-by route`, e.g. `GET /users/:id`.
    pub route: String,
}

/// Where a replay's arrivals come from, in order of `at`. Shared by the engine's
/// workers, each pulling the next arrival when it is ready for one.
pub trait ReplaySource: Send + Sync + std::fmt::Debug {
    /// The next arrival, or `None` when the replay is over; waits for it if it has not
    /// been read yet.
    fn next_arrival(&self) -> Option<ReplayArrival>;

    /// The next arrival if it has been read, `Ready(None)` when the replay is over, or
    /// `Pending` (waking `cx`'s waker once there is more) when it is still being read:
    /// an engine's worker asks this way, so that a slow read never holds up the
    /// requests it has to send. By default the source is read right here.
    fn poll_next_arrival(&self, cx: &mut Context<'_>) -> Poll<Option<ReplayArrival>> {
        let _ = cx;
        Poll::Ready(self.next_arrival())
    }

    /// Waits, at most `limit`, until the first arrival has been read (or the replay is
    /// over): the engine starts a replay's clock after this, so that reading the start
    /// of a file does not make its first requests late. By default a source is ready.
    fn wait_ready(&self, limit: Duration) {
        let _ = limit;
    }
}

/// A shared [`ReplaySource`] in a plan. Two feeds are equal when they are the same
/// source.
#[derive(Debug, Clone)]
pub struct ReplayFeed(pub Arc<dyn ReplaySource>);

impl PartialEq for ReplayFeed {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
