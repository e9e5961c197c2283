//! The pool of connections of the open model and of replays: a dispatcher queues each
//! due request on its worker ([`Pool::push`]), waking an idle connection or opening one
//! up to the pool's size; each connection ([`conn_loop`]) takes the next queued item and
//! sends it, latency counting from the item's intended time. Generic over what is
//! queued (a scheduled send of the run's request, or a replayed request), so each
//! driver's connection task is its own monomorphized loop: no `dyn` call, allocation or
//! lock per request.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Notify;

use crate::deadline::Deadline;
use crate::request::{perform, Request, RunRequest};
use crate::state::{new_slot, spawn_task, Local, LocalRef, Shared};

/// An item of a pool's queue: a request due at a given time.
pub(crate) trait Pooled: Sized + 'static {
    /// What the item keeps while its request is sent (nothing for the run's own
    /// request: a connection task holds only what it needs across a send).
    type Held;
    /// The worker's queue of these items.
    fn queue(local: &mut Local) -> &mut VecDeque<Self>;
    /// When the request was due, and what it keeps.
    fn into_parts(self) -> (Instant, Self::Held);
    /// The request to send.
    fn request(held: &Self::Held) -> impl Request + '_;
}

/// The open model's item: a send of the run's own request, due at this time.
impl Pooled for Instant {
    type Held = ();
    fn queue(local: &mut Local) -> &mut VecDeque<Self> {
        &mut local.pending
    }
    fn into_parts(self) -> (Instant, ()) {
        (self, ())
    }
    fn request(_: &()) -> impl Request + '_ {
        RunRequest
    }
}

/// One worker's pool, as its dispatcher sees it.
pub(crate) struct Pool {
    pub shared: Arc<Shared>,
    pub local: LocalRef,
    /// Wakes idle connections.
    pub wake: Rc<Notify>,
    /// Told when a task of the worker ends.
    pub all_done: Rc<Notify>,
    /// Connections this worker may open (HTTP/2: times its streams per connection).
    pub max_connections: usize,
}

impl Pool {
    /// Queues the item `make` builds (given the worker's state, for its row) and hands
    /// it to an idle connection, or to a new one while the pool is below its size; else
    /// it waits for the first connection free.
    pub(crate) fn push<P: Pooled>(&self, make: impl FnOnce(&mut Local) -> P) {
        let mut l = self.local.borrow_mut();
        let item = make(&mut l);
        P::queue(&mut l).push_back(item);
        if l.idle > 0 {
            l.idle -= 1;
            self.wake.notify_one();
        } else if l.open_conns < self.max_connections * self.shared.h2_streams.unwrap_or(1) {
            l.open_conns += 1;
            drop(l);
            let (s, l, w) = (self.shared.clone(), self.local.clone(), self.wake.clone());
            spawn_task(&self.local, &self.all_done, conn_loop::<P>(s, l, w));
        }
    }

    /// Nothing more will be queued: connections end once the queue is empty.
    pub(crate) fn close(self) {
        self.local.borrow_mut().dispatch_done = true;
        self.wake.notify_waiters();
    }
}

/// One pooled connection taking queued items until the dispatcher is done and the
/// queue empty, or sending stops. An item that waited for a free connection longer than
/// the request timeout is dropped (counted), not sent.
pub(crate) async fn conn_loop<P: Pooled>(shared: Arc<Shared>, local: LocalRef, wake: Rc<Notify>) {
    let mut slot = new_slot(&shared, &local);
    let mut deadline = Deadline::default();
    loop {
        let next = {
            let mut l = local.borrow_mut();
            match P::queue(&mut l).pop_front() {
                Some(item) => Some(item),
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
        // Moved out first: `next` (of a generic type) must not be kept across the wait.
        let Some(item) = std::convert::identity(next) else {
            wake.notified().await;
            continue;
        };
        let (intended, held) = item.into_parts();
        let now = Instant::now();
        if now.saturating_duration_since(intended) >= shared.timeout {
            // It waited for a free connection longer than it may take in all.
            local.borrow_mut().snap.generator.dropped += 1;
            continue;
        }
        perform(
            &shared,
            &local,
            &mut slot,
            &mut deadline,
            P::request(&held),
            Some(intended),
            now,
        )
        .await;
    }
}
