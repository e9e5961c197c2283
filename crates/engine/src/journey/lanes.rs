//! How a worker runs a scenario: a closed lane's virtual users looping while the VU
//! stages need them, an open lane's arrivals each starting a virtual user that walks the
//! journey once.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stampede_metrics::ErrorClass;
use stampede_plan::scenario::{JourneyLoad, Journeys};
use stampede_plan::schedule::Schedule;
use stampede_plan::RateProfile;
use tokio::sync::Notify;

use super::flow::Flow;
use super::steps::run_ops;
use super::vu::Vu;
use super::ws::close_ws;
use super::JourneyRuntime;
use crate::state::{sleep_at_most, spawn_task, Backoff, LocalRef, Shared};
use crate::steered::SteeredSchedule;
use crate::timer::PreciseTimer;

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
