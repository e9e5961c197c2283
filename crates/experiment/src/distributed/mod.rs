//! Distributed runs with a live coordinator: workers (`stampede run --report-to URL`)
//! stream each second to a [`Coordinator`] (`stampede coordinator`), which merges them
//! exactly as they arrive, shows them live, judges the criteria on the merged data
//! (stopping every worker under `--abort-on-fail`), and writes one result.
//!
//! The protocol ([`wire`], version [`PROTOCOL_VERSION`]) is one JSON POST per message, on
//! one keep-alive connection per worker ([`Channel`]): a hello, then one POST per
//! completed second, then the worker's result document. Messages rather than a stream:
//! every message stands alone (a lost connection loses nothing that a retry does not
//! resend), the answer to each second carries the coordinator's "stop", and there is no
//! stream state to resume. Histograms travel as their non-zero buckets
//! ([`stampede_metrics::SparseHistogram`]), which the coordinator adds without building
//! a histogram per message.

mod board;
mod channel;
mod finish;
mod reporter;
mod server;
mod view;
pub mod wire;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use stampede_engine::LiveSecond;
use stampede_metrics::{GeneratorStats, Stats};
use stampede_plan::{RunPlan, ScopedThreshold};

pub use channel::Channel;
pub use reporter::{ReportToError, Reporter};
pub use wire::PROTOCOL_VERSION;

use crate::thresholds::ThresholdWatch;
use crate::{Control, Finish, Flow, Observer, RunOutcome, RunResult, Verdict};
use board::Board;

/// How often the coordinator looks for complete seconds and lost workers.
const TICK: Duration = Duration::from_millis(100);

/// How a coordinator runs (the flags of `stampede coordinator`).
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// Where workers report (`--listen`; port 0 picks one).
    pub listen: SocketAddr,
    /// How many workers make the run (`--workers`).
    pub workers: u32,
    /// How long to wait for every worker's hello (`--wait`).
    pub wait: Duration,
    /// A worker silent this long is lost (`--lost-after`).
    pub lost_after: Duration,
    /// Criteria judged on the merged data (`--threshold`), besides those the workers
    /// send in their hellos.
    pub thresholds: Vec<ScopedThreshold>,
    /// Stop every worker at the first failing criterion (`--abort-on-fail`; also when
    /// the workers ask for it).
    pub abort_on_fail: bool,
    /// One result row per worker (`--group-by worker`).
    pub group_by_worker: bool,
}

/// Why a coordinated run produced no result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoordinatorError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS's error.
        source: std::io::Error,
    },
    /// Not every worker said hello in time.
    #[error(
        "only {arrived} of {expected} workers reported within {wait_s} s; \
         check that every worker runs with --report-to http://{addr} and can reach it"
    )]
    Missing {
        /// Workers that said hello.
        arrived: u32,
        /// Workers expected.
        expected: u32,
        /// The wait, in seconds.
        wait_s: u64,
        /// The coordinator's address.
        addr: SocketAddr,
    },
    /// Every worker was lost: nothing to merge.
    #[error("every worker was lost; there is no result to write")]
    NoResult,
    /// The workers' documents do not merge (different workloads).
    #[error("the workers' results do not merge: {0}")]
    Merge(#[from] stampede_result::MergeError),
    /// The workers' plans do not make a plan the live view can show.
    #[error("the workers' plans: {0}")]
    Plan(#[from] stampede_plan::PlanError),
}

/// What a coordinated run gives back.
#[derive(Debug)]
pub struct Coordinated {
    /// The merged result (what `--out` writes).
    pub result: RunResult,
    /// How it ended, judged on the merged data.
    pub verdict: Verdict,
    /// The workers lost, with why.
    pub lost: Vec<(u32, String)>,
}

/// A coordinator listening for its workers.
#[derive(Debug)]
pub struct Coordinator {
    config: CoordinatorConfig,
    addr: SocketAddr,
    board: Arc<Mutex<Board>>,
    control: Arc<Control>,
    _server: server::Server,
}

impl Coordinator {
    /// Binds the listen address and starts accepting workers.
    pub fn bind(config: CoordinatorConfig) -> Result<Self, CoordinatorError> {
        let bind = |source| CoordinatorError::Bind {
            addr: config.listen,
            source,
        };
        let listener = server::bind(config.listen).map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let board = Arc::new(Mutex::new(Board::new(config.workers, config.lost_after)));
        let server = server::Server::start(listener, board.clone()).map_err(bind)?;
        Ok(Coordinator {
            config,
            addr,
            board,
            control: Control::new(),
            _server: server,
        })
    }

    /// The address workers report to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The coordinated run's control: stopping it tells every worker to stop.
    pub fn control(&self) -> &Arc<Control> {
        &self.control
    }

    fn board(&self) -> std::sync::MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits (at most the configured wait) until every worker said hello; returns the
    /// plan the live view shows: the workers' loads summed, the coordinator's criteria.
    pub fn wait_for_workers(&self) -> Result<RunPlan, CoordinatorError> {
        let deadline = Instant::now() + self.config.wait;
        loop {
            {
                let board = self.board();
                if board.all_arrived() {
                    let hellos: Vec<_> = board.slots.values().map(|s| &s.hello).collect();
                    return Ok(view::view_plan(
                        &hellos,
                        &self.config.thresholds,
                        self.config.abort_on_fail,
                    )?);
                }
                if Instant::now() >= deadline || self.control.is_stopped() {
                    return Err(CoordinatorError::Missing {
                        arrived: board.slots.len() as u32,
                        expected: self.config.workers,
                        wait_s: self.config.wait.as_secs(),
                        addr: self.addr,
                    });
                }
            }
            std::thread::sleep(TICK);
        }
    }

    /// Merges the workers' seconds as they complete and shows them to `observers`
    /// until every worker finished or was lost; then merges their documents.
    pub fn run(
        self,
        plan: &RunPlan,
        mut observers: Vec<Box<dyn Observer>>,
    ) -> Result<Coordinated, CoordinatorError> {
        for o in &mut observers {
            o.on_start(&self.control);
        }
        let mut watch = ThresholdWatch::new(plan);
        let mut live = Merged::default();
        let mut stopped_by: Option<Flow> = None;
        let mut lost = Vec::new();
        let started = std::time::SystemTime::now();
        loop {
            std::thread::sleep(TICK);
            let (ready, newly_lost, done) = {
                let mut board = self.board();
                let newly_lost = board.find_lost(Instant::now());
                let ready: Vec<_> = std::iter::from_fn(|| board.next_ready()).collect();
                if self.control.is_stopped() && board.stop.is_none() {
                    board.stop = Some("the coordinator was stopped".into());
                }
                (ready, newly_lost, board.done())
            };
            for (i, why) in newly_lost {
                eprintln!(
                    "stampede: worker {i} lost ({why}); its share is missing from the result, \
                     which is marked partial"
                );
                lost.push((i, why));
            }
            for (second, bucket) in ready {
                live.add(&bucket.total, &bucket.groups, &bucket.generator);
                let view = LiveSecond {
                    second,
                    interval: &bucket.total,
                    interval_generator: &bucket.generator,
                    total: &live.total,
                    groups: &live.groups,
                    generator: &live.generator,
                };
                let flows = std::iter::once(watch.on_second(&view))
                    .chain(observers.iter_mut().map(|o| o.on_second(&view)));
                for flow in flows {
                    if let Flow::Stop { reason, .. } = &flow {
                        if stopped_by.is_none() {
                            self.board().stop = Some(reason.clone());
                            stopped_by = Some(flow);
                        }
                    }
                }
            }
            if done {
                break;
            }
        }
        let board = self.board();
        let result = finish::assemble(finish::Ending {
            expected: self.config.workers,
            slots: &board.slots,
            thresholds: &plan.thresholds,
            group_by_worker: self.config.group_by_worker,
            stopped: board.stop.is_some() && stopped_by.is_none(),
        })?;
        let Some(mut result) = result else {
            for o in &mut observers {
                o.on_abandon();
            }
            return Err(CoordinatorError::NoResult);
        };
        watch.finish(&mut result);
        let outcome = outcome_of(&result, started);
        drop(board);
        let mut finish = Finish {
            plan,
            outcome: &outcome,
            result: &mut result,
        };
        for o in &mut observers {
            o.on_finish(&mut finish);
        }
        let verdict = crate::verdict(&result, &outcome, stopped_by);
        Ok(Coordinated {
            result,
            verdict,
            lost,
        })
    }
}

/// The merged seconds shown so far.
#[derive(Debug, Default)]
struct Merged {
    total: Stats,
    groups: BTreeMap<String, Stats>,
    generator: GeneratorStats,
}

impl Merged {
    fn add(&mut self, total: &Stats, groups: &BTreeMap<String, Stats>, g: &GeneratorStats) {
        self.total.merge(total);
        for (k, s) in groups {
            self.groups.entry(k.clone()).or_default().merge(s);
        }
        self.generator.merge(g);
    }
}

/// The merged result as the observers' end-of-run figures (the exporter's final
/// numbers are the result's, not the live seconds').
fn outcome_of(result: &RunResult, started: std::time::SystemTime) -> RunOutcome {
    let (total, groups) = finish::doc_stats(result);
    let mut generator = GeneratorStats {
        sends: result.generator.sends,
        late_sends: result.summary.late_sends,
        dropped: result.summary.dropped,
        unfinished: result.summary.unfinished,
        ..GeneratorStats::default()
    };
    if let Some(lag) = &result.histograms.schedule_lag {
        generator.schedule_lag =
            stampede_metrics::LatencyHistogram::from_v2_base64(lag).unwrap_or_default();
    }
    RunOutcome {
        started_at: started,
        elapsed: Duration::from_secs_f64(result.summary.elapsed_s.max(0.0)),
        total,
        groups,
        generator,
        series: Vec::new(),
        aborted: result.aborted,
        threads: result.config.threads,
        worker_cpu: Vec::new(),
        worker_wall: Vec::new(),
        process_cpu: Duration::ZERO,
        peak_rss_bytes: None,
        error_samples: BTreeMap::new(),
        scheduled_groups: Vec::new(),
        group_timeouts: Vec::new(),
        start: None,
    }
}
