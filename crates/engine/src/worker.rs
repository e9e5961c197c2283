//! One worker thread: a single-threaded tokio runtime driving a share of the
//! connections (closed model) or of the arrival schedule (open model), recording into
//! thread-local stats that are handed to the collector once per second.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::journey::{spawn_lanes, JourneyRuntime, LaneShare};
use crate::plain;
use crate::pool::Pool;
use crate::state::{
    spawn_task, thread_cpu, Local, LocalRef, Shared, Snapshot, WorkerMsg, MAX_DRAIN,
};
use stampede_plan::schedule::Schedule;

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
    /// Replays: arrivals from the shared feed.
    Replay(crate::replay::ReplayDispatch),
    /// Scenario runs: one lane per scenario.
    Journeys {
        runtime: Arc<JourneyRuntime>,
        lanes: Vec<LaneShare>,
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
    let began = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local_set = tokio::task::LocalSet::new();
    let local: LocalRef = Rc::new(RefCell::new(Local::new(&shared)));
    let all_done = Rc::new(Notify::new());
    let wake = Rc::new(Notify::new());
    // Snapshots sent to the collector and not yet back for reuse.
    let mut at_collector = 0usize;
    let mut second = 0u64;
    // The pool of connections of the open model and of replays.
    let pool = |max_connections| Pool {
        shared: shared.clone(),
        local: local.clone(),
        wake: wake.clone(),
        all_done: all_done.clone(),
        max_connections,
    };
    local_set.block_on(&rt, async {
        match share {
            Share::Closed { connections } => {
                for _ in 0..connections * shared.h2_streams.unwrap_or(1) {
                    spawn_task(
                        &local,
                        &all_done,
                        plain::closed_loop(shared.clone(), local.clone()),
                    );
                }
            }
            Share::Fleet { clients } => {
                let clock = Rc::new(plain::FleetClock::default());
                // The clock is not a counted task: it ends with the worker.
                tokio::task::spawn_local(clock.clone().run(shared.timer_slack));
                for index in clients {
                    let (s, l, c) = (shared.clone(), local.clone(), clock.clone());
                    if shared.ws.is_some() {
                        spawn_task(&local, &all_done, plain::ws_client(s, l, c, index));
                    } else {
                        spawn_task(&local, &all_done, plain::fleet_client(s, l, c, index));
                    }
                }
            }
            Share::Replay(d) => {
                let pool = pool(d.max_connections);
                spawn_task(&local, &all_done, crate::replay::dispatch(pool, d));
            }
            Share::Journeys { runtime, lanes } => {
                spawn_lanes(&shared, &local, &all_done, runtime, lanes, worker);
            }
            Share::Open {
                schedule,
                arrival,
                max_connections,
            } => {
                let d = plain::Dispatch {
                    schedule,
                    arrival,
                    worker,
                };
                let pool = pool(max_connections);
                spawn_task(&local, &all_done, plain::dispatch(pool, d));
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
        let unsent = (l.pending.len() + l.replay.len()) as u64;
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
        wall: began.elapsed(),
    });
    Ok(())
}
