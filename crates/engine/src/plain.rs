//! Drivers of single-request runs: the closed model (connections sending back to back),
//! the open model (a dispatcher feeding scheduled sends to a pool of connections) and
//! fleets (clients polling on their own schedule, over HTTP or WebSocket).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stampede_metrics::{ErrorClass, Protocol};
use tokio::sync::Notify;

use crate::deadline::Deadline;
use crate::pool::Pool;
use crate::request::{perform, RunRequest};
use crate::state::{new_slot, Backoff, FleetSpec, LocalOpen, LocalRef, Shared};
use crate::steered::SteeredSchedule;
use crate::timer::PreciseTimer;
use stampede_plan::schedule::Schedule;
use stampede_proto::link::Failure;
use stampede_proto::ws::{self, WsConn, WsEvent, WsRequest};

/// Closed model: send back to back on one slot until the run stops. After a failure to
/// connect (refused, timeout, DNS, TLS) the slot waits before it tries again, so a dead
/// target is not hammered in a tight loop; every attempt is still counted.
pub(crate) async fn closed_loop(shared: Arc<Shared>, local: LocalRef) {
    let mut slot = new_slot(&shared, &local);
    let mut deadline = Deadline::default();
    let mut backoff = Backoff::default();
    let mut now = Instant::now();
    loop {
        if shared.stopping(now) || !shared.take_ticket() {
            break;
        }
        let outcome = perform(
            &shared,
            &local,
            &mut slot,
            &mut deadline,
            RunRequest,
            None,
            now,
        );
        match outcome.await.backs_off() {
            true => {
                backoff.sleep(&shared).await;
                now = Instant::now();
            }
            false => {
                backoff.reset();
                // The clock was just read when the response completed: the next request
                // starts now, so reuse that reading (one clock read less per request).
                now = local.borrow().last_completion.unwrap_or_else(Instant::now);
            }
        }
    }
}

/// One worker's open-model dispatcher: its share of the schedule.
pub(crate) struct Dispatch {
    pub schedule: Schedule,
    pub arrival: stampede_plan::Arrival,
    pub worker: usize,
}

/// Open model: feed the schedule into the worker's pool of connections, which grows on
/// demand. A rate change ([`crate::Control::set_rate`]) replaces the schedule from the
/// moment the dispatcher sees it (at once: it is woken) by a constant-rate one starting
/// then.
pub(crate) async fn dispatch(pool: Pool, d: Dispatch) {
    let shared = &pool.shared;
    let mut timer = PreciseTimer::new(shared.timer_slack);
    let mut schedule = SteeredSchedule::new(shared, d.schedule, d.arrival, d.worker, 1.0, 0);
    while let Some(intended) = schedule.next_due(shared, &mut timer, || false).await {
        if shared.abort.load(Ordering::Relaxed) || !shared.take_ticket() {
            break;
        }
        schedule.advance();
        pool.push(|_| intended);
    }
    pool.close();
}

/// When fleet client `index` first sends: clients are spread evenly over one interval,
/// so a fleet does not arrive as one thundering herd.
fn fleet_phase(spec: &FleetSpec, index: usize) -> Duration {
    spec.every
        .map(|e| e.mul_f64(index as f64 / spec.clients.max(1) as f64))
        .unwrap_or_default()
}

/// Fleet over HTTP: one device polling on its own keep-alive connection.
pub(crate) async fn fleet_client(
    shared: Arc<Shared>,
    local: LocalRef,
    clock: Rc<FleetClock>,
    index: usize,
) {
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
        let intended = spec.every.map(|_| intended);
        let now = Instant::now();
        let outcome = perform(
            &shared,
            &local,
            &mut slot,
            &mut deadline,
            RunRequest,
            intended,
            now,
        )
        .await;
        if !was_connected && slot.is_connected() {
            connected_at = Instant::now();
        }
        // A client polling back to back backs off when it cannot get an answer on a
        // new connection; one with an interval keeps its schedule.
        if spec.every.is_none() {
            match outcome.backs_off() {
                true => backoff.sleep(&shared).await,
                false => backoff.reset(),
            }
        }
    }
}

/// Fleet over WebSocket: one device holding a socket, sending messages on its schedule
/// (or back to back), reconnecting after `hold` (once its last message is answered) or
/// after a drop.
pub(crate) async fn ws_client(
    shared: Arc<Shared>,
    local: LocalRef,
    clock: Rc<FleetClock>,
    index: usize,
) {
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

/// A WebSocket dropped: each unanswered message is a failed request of class
/// `ws_dropped`. The drop itself is not a request (counting it as one showed more
/// achieved than asked, and more requests than were sent): a drop with nothing
/// outstanding shows only in the class count and the sample.
fn lose_connection(local: &LocalRef, group: Option<usize>, unanswered: u64, f: Failure) {
    let mut l = local.borrow_mut();
    l.in_flight -= unanswered;
    l.record(group, |s| match unanswered {
        0 => s.errors_by_class.add(ErrorClass::WsDropped),
        n => (0..n).for_each(|_| s.record_error(ErrorClass::WsDropped)),
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
    use std::cell::RefCell;
    use std::sync::atomic::AtomicBool;

    use stampede_proto::link::{Connector, PreparedRequest};

    use crate::pool::conn_loop;
    use crate::state::{Local, Queued};

    fn shared() -> Arc<Shared> {
        let target = stampede_plan::Target::parse("http://127.0.0.1:9/").unwrap();
        let timeout = Duration::from_secs(1);
        Arc::new(Shared {
            start: Instant::now(),
            send_until: None,
            tickets: None,
            abort: Arc::new(AtomicBool::new(false)),
            control: crate::Control::new(),
            connector: Connector::new(vec![([127, 0, 0, 1], 9).into()], None, timeout),
            request: PreparedRequest::new(&target, &Default::default(), true),
            timeout,
            keep_alive: true,
            group_by: None,
            scheduled: false,
            h2_streams: None,
            late_threshold: crate::LATE_THRESHOLD,
            fleet: None,
            ws: None,
            group_keys: Arc::default(),
            seed: 0,
            threads: 1,
            shard: stampede_plan::Shard::WHOLE,
            timer_slack: Duration::ZERO,
        })
    }

    /// Every connection is one of these tasks, so their size is memory per connection
    /// (bench/RESULTS.md): the one request path must not make them larger than the
    /// two paths were (closed model 832 B, open model 848 B), nor the one pooled loop
    /// larger than the two it replaced (open model 824 B, replay 1528 B).
    #[test]
    fn connection_tasks_stay_small() {
        let s = shared();
        let local = Rc::new(RefCell::new(Local::new(&s)));
        let wake = Rc::new(Notify::new());
        let closed = closed_loop(s.clone(), local.clone());
        let open = conn_loop::<Instant>(s.clone(), local.clone(), wake.clone());
        let replay = conn_loop::<Queued>(s.clone(), local.clone(), wake);
        let (closed, open) = (std::mem::size_of_val(&closed), std::mem::size_of_val(&open));
        let replay = std::mem::size_of_val(&replay);
        assert!(closed <= 832, "closed-model connection task: {closed} B");
        assert!(open <= 824, "open-model connection task: {open} B");
        assert!(replay <= 1200, "replay connection task: {replay} B");
    }
}
