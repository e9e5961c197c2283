//! The stampede load engine.
//!
//! [`run`] takes a validated [`RunPlan`], starts one worker thread per core (each a
//! single-threaded tokio runtime), applies the open or closed workload, and returns
//! merged measurements. Workers record into thread-local stats and hand them to the
//! calling thread once per second; nothing per request crosses threads.
//!
//! Every request of every driver (closed and open model, fleets, scenario steps) takes
//! one path (`request.rs`); the protocols (HTTP/1.1 or HTTP/2 over TCP or TLS, the
//! WebSocket handshake) sit behind one seam in [`stampede_proto`].
#![deny(missing_docs)]

mod control;
mod deadline;
mod journey;
mod plain;
mod pool;
mod replay;
mod request;
mod start;
pub use stampede_plan::schedule;
mod state;
mod steered;
mod timer;
mod worker;

pub use stampede_proto::{connect, http1, stream, tls};
use stampede_proto::{link, ws};

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use stampede_metrics::{ErrorClass, GeneratorStats, IntervalPoint, Stats};
pub use stampede_metrics::{LiveSecond, RunOutcome};
use stampede_plan::{HttpVersion, Load, RequestSpec, RunPlan, Workload};

use link::{Connector, PreparedRequest};

pub use control::Control;
use state::{Shared, WorkerMsg};
pub use state::{Snapshot, LATE_THRESHOLD, MAX_DRAIN, MAX_GROUPS};
pub use timer::MIN_WAKE_GAP;
use worker::Share;

/// How long a replay may take to read its first request before its clock starts anyway.
const REPLAY_READY_WAIT: Duration = Duration::from_secs(10);

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The target host did not resolve.
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// The TLS configuration (CA file, client certificate, server name) is unusable.
    #[error(transparent)]
    Tls(#[from] tls::TlsSetupError),
    /// A worker thread or runtime could not be created.
    #[error("cannot start worker: {0}")]
    Spawn(std::io::Error),
}

/// Runs `plan` to completion on worker threads and returns the merged result. Sets of
/// per-second stats are passed to `on_second` as they complete ([`LiveSecond`]), for
/// live views and live metrics. `control` steers the run while it goes on: stopping it
/// early (the outcome then holds what was measured so far) or changing the open model's
/// rate.
pub fn run(
    plan: &RunPlan,
    control: Arc<Control>,
    mut on_second: impl FnMut(&LiveSecond<'_>),
) -> Result<RunOutcome, EngineError> {
    let get = RequestSpec::default();
    // Journey lanes connect through their own targets (`journey_runtime`); the run-wide
    // connector and request serve single-request runs and are made for a scenario's
    // first target until one request path replaces them.
    let (target, request, http, tls_options, connect_to, load) = match &plan.workload {
        Workload::Requests(w) => (
            &w.target,
            &w.request,
            w.http,
            &w.tls,
            &w.connect_to[..],
            Some(&w.load),
        ),
        Workload::Journeys(j) => {
            let first = &j.targets[0];
            (&first.base, &get, first.http, &first.tls, &[][..], None)
        }
    };
    let addrs = if connect_to.is_empty() {
        connect::resolve(&target.host, target.port).map_err(|source| EngineError::Resolve {
            host: target.host.clone(),
            source,
        })?
    } else {
        connect_to.to_vec()
    };
    let tls_config = if target.scheme.is_tls() {
        let alpn: &[&[u8]] = match http {
            _ if target.scheme.is_websocket() => &[b"http/1.1"],
            HttpVersion::Http1 => &[b"http/1.1"],
            HttpVersion::Http2 { .. } => &[b"h2"],
        };
        Some(tls::client_config(tls_options, alpn)?)
    } else {
        None
    };
    let tls = link::tls_connector(tls_config, &target.host)?;
    let journey = match plan.journeys() {
        Some(j) => Some(Arc::new(journey_runtime(j, plan.timeout, plan.keep_alive)?)),
        None => None,
    };
    let shard = plan.shard;
    let threads = match load {
        None | Some(Load::Open { .. } | Load::Replay { .. }) => plan.threads.get(),
        Some(Load::Closed { connections }) => {
            plan.threads.get().min(shard.share_of(connections.get()))
        }
        Some(Load::Fleet { clients, .. }) => plan.threads.get().min(shard.share_of(clients.get())),
    }
    .max(1);
    if let Some(Load::Replay { feed, .. }) = load {
        // Its clock starts once the first request has been read: reading the start of
        // the file is not lateness of the first sends.
        feed.0.wait_ready(REPLAY_READY_WAIT);
    }
    let cpu_before = process_cpu();
    // Give the threads a moment to start before the schedule's time zero.
    let (start, started_at) = match plan.start_at {
        None => (Instant::now() + Duration::from_millis(5), SystemTime::now()),
        Some(at) => start::wait_for(at, control.stop_flag()),
    };
    control.mark_started(start);
    let seed = fastrand::u64(..);
    let shared = Arc::new(Shared {
        start,
        send_until: plan.stop.duration.map(|d| start + d),
        tickets: plan
            .stop
            .requests
            .map(|n| AtomicU64::new(shard.share_of_u64(n.get()))),
        abort: control.stop_flag().clone(),
        control: control.clone(),
        connector: Connector::new(addrs, tls, plan.timeout),
        request: PreparedRequest::new(target, request, plan.keep_alive),
        timeout: plan.timeout,
        keep_alive: plan.keep_alive,
        group_by: plan.group_by().cloned(),
        scheduled: plan.is_scheduled(),
        late_threshold: LATE_THRESHOLD,
        fleet: match load {
            Some(&Load::Fleet {
                clients,
                every,
                hold,
            }) => Some(state::FleetSpec {
                clients: clients.get(),
                every,
                hold,
            }),
            _ => None,
        },
        ws: target
            .scheme
            .is_websocket()
            .then(|| ws::WsRequest::new(target, &request.headers, &request.body)),
        h2_streams: match http {
            HttpVersion::Http1 => None,
            HttpVersion::Http2 { streams } => Some(streams.get()),
        },
        group_keys: Arc::default(),
        seed,
        threads,
        shard,
        timer_slack: plan.timer_slack,
    });
    let (tx, rx) = mpsc::channel();
    let mut handles = Vec::with_capacity(threads);
    let mut recycle = Vec::with_capacity(threads);
    for w in 0..threads {
        let share = match &plan.workload {
            Workload::Journeys(j) => Share::Journeys {
                runtime: journey.clone().expect("a scenario run has its runtime"),
                lanes: journey::lanes(j, shard, w, threads, seed),
            },
            Workload::Requests(r) => match &r.load {
                Load::Closed { connections } => {
                    let mine = shard.share_of(connections.get());
                    Share::Closed {
                        connections: mine / threads + usize::from(w < mine % threads),
                    }
                }
                // Clients keep their index in the whole fleet (and so their phase).
                Load::Fleet { clients, .. } => Share::Fleet {
                    clients: shard.deal(clients.get()).skip(w).step_by(threads).collect(),
                },
                Load::Replay {
                    feed,
                    max_connections,
                    ..
                } => Share::Replay(replay::ReplayDispatch {
                    feed: feed.clone(),
                    target: replay::ReplayTarget {
                        authority: target.authority.clone(),
                        tls: target.scheme.is_tls(),
                        base_path: target.url.path().trim_end_matches('/').to_string(),
                    },
                    max_connections: max_connections.get().div_ceil(threads),
                }),
                Load::Open {
                    profile,
                    arrival,
                    max_connections,
                } => Share::Open {
                    schedule: {
                        let (stream, streams) = shard.stream(w, threads);
                        schedule::Schedule::new(profile, *arrival, stream, streams, seed)
                    },
                    arrival: *arrival,
                    max_connections: shard
                        .share_of(max_connections.get())
                        .max(1)
                        .div_ceil(threads),
                },
            },
        };
        let shared = shared.clone();
        let tx = tx.clone();
        let (recycle_tx, recycled) = mpsc::channel();
        recycle.push(recycle_tx);
        let h = std::thread::Builder::new()
            .name(format!("stampede-worker-{w}"))
            .spawn(move || worker::run_worker(w, shared, share, tx, recycled))
            .map_err(EngineError::Spawn)?;
        handles.push(h);
    }
    drop(tx);

    let start_timing = plan.start_at.map(|at| start::measure(at, start));
    let mut collector = Collector::new(recycle);
    for msg in rx {
        collector.receive(msg, &mut on_second);
    }
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(EngineError::Spawn(e)),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
    collector.finish(&mut on_second);

    let aborted = control.is_stopped();
    let ran = collector
        .last_completion
        .map_or(Duration::ZERO, |t| t.saturating_duration_since(start));
    let elapsed = if aborted {
        start.elapsed()
    } else {
        match plan.stop.duration {
            Some(d) if plan.stop.requests.is_none() || ran >= d => d,
            _ => ran,
        }
    };
    let groups: Vec<(String, Stats)> = match &journey {
        // Scenario rows in journey order, not alphabetical.
        Some(j) => {
            let mut g: Vec<(String, Stats)> = collector.groups.into_iter().collect();
            g.sort_by_key(|(k, _)| j.keys.iter().position(|x| x == k).unwrap_or(usize::MAX));
            g
        }
        None => collector.groups.into_iter().collect(),
    };
    let (scheduled_groups, group_timeouts) = match &journey {
        Some(j) => (j.scheduled_keys(), j.own_timeouts(plan.timeout)),
        None if plan.is_scheduled() => (groups.iter().map(|(k, _)| k.clone()).collect(), vec![]),
        None => (Vec::new(), Vec::new()),
    };
    Ok(RunOutcome {
        started_at,
        elapsed,
        total: collector.total,
        groups,
        generator: collector.generator,
        series: collector.series,
        aborted,
        threads,
        worker_cpu: collector.worker_cpu,
        worker_wall: collector.worker_wall,
        process_cpu: process_cpu().saturating_sub(cpu_before),
        peak_rss_bytes: peak_rss_bytes(),
        error_samples: collector.samples,
        scheduled_groups,
        group_timeouts,
        start: start_timing,
    })
}

/// Resolves and prepares every target of a scenario file.
fn journey_runtime(
    journeys: &Arc<stampede_plan::scenario::Journeys>,
    timeout: Duration,
    keep_alive: bool,
) -> Result<journey::JourneyRuntime, EngineError> {
    let mut targets = Vec::with_capacity(journeys.targets.len());
    for t in &journeys.targets {
        let base = &t.base;
        let addrs =
            connect::resolve(&base.host, base.port).map_err(|source| EngineError::Resolve {
                host: base.host.clone(),
                source,
            })?;
        let http2 = journey::is_http2(&t.http) && !base.scheme.is_websocket();
        let tls_config = if base.scheme.is_tls() {
            let alpn: &[&[u8]] = if http2 { &[b"h2"] } else { &[b"http/1.1"] };
            Some(tls::client_config(&t.tls, alpn)?)
        } else {
            None
        };
        // WebSocket steps upgrade an HTTP/1.1 connection: over TLS they must not let
        // ALPN pick h2 (an HTTP/2 target would then get an HTTP/1.1 upgrade request).
        let ws_connector = match base.scheme.is_tls() && http2 {
            true => Some(Connector::new(
                addrs.clone(),
                link::tls_connector(
                    Some(tls::client_config(&t.tls, &[b"http/1.1"])?),
                    &base.host,
                )?,
                timeout,
            )),
            false => None,
        };
        let path = base.url.path().trim_end_matches('/').to_string();
        targets.push(journey::TargetRuntime {
            connector: Connector::new(addrs, link::tls_connector(tls_config, &base.host)?, timeout),
            ws_connector,
            authority: base.authority.clone(),
            base_path: path,
            tls: base.scheme.is_tls(),
            http2,
            ws_origin: format!(
                "{}://{}",
                if base.scheme.is_tls() { "wss" } else { "ws" },
                base.authority
            ),
        });
    }
    Ok(journey::JourneyRuntime::new(
        journeys.clone(),
        targets,
        keep_alive,
    ))
}

/// Merges worker snapshots into run totals and completed per-second points.
struct Collector {
    /// Per worker: the highest second received, and whether it is done (a done
    /// worker has sent all its seconds: each sender's messages arrive in order).
    reported: Vec<Option<u64>>,
    done: Vec<bool>,
    total: Stats,
    groups: BTreeMap<String, Stats>,
    generator: GeneratorStats,
    pending: BTreeMap<u64, (usize, Stats, GeneratorStats)>,
    series: Vec<IntervalPoint>,
    last_completion: Option<Instant>,
    worker_cpu: Vec<Duration>,
    worker_wall: Vec<Duration>,
    samples: BTreeMap<ErrorClass, String>,
    /// Each worker's snapshots go back to it once merged, to be emptied and reused.
    recycle: Vec<mpsc::Sender<Box<Snapshot>>>,
    /// Emptied per-second totals, reused for later seconds.
    spare: Vec<(Stats, GeneratorStats)>,
}

/// Seconds the collector holds ready for merging: workers report the same second at
/// slightly different times, so two or three seconds are pending at once.
const SPARE_SECONDS: usize = 3;

impl Collector {
    fn new(recycle: Vec<mpsc::Sender<Box<Snapshot>>>) -> Self {
        let workers = recycle.len();
        Collector {
            reported: vec![None; workers],
            done: vec![false; workers],
            total: Stats::new(),
            groups: BTreeMap::new(),
            generator: GeneratorStats::default(),
            pending: BTreeMap::new(),
            series: Vec::new(),
            last_completion: None,
            worker_cpu: vec![Duration::ZERO; workers],
            worker_wall: vec![Duration::ZERO; workers],
            samples: BTreeMap::new(),
            recycle,
            spare: (0..SPARE_SECONDS)
                .map(|_| {
                    let (mut stats, mut generator) = (Stats::new(), GeneratorStats::default());
                    // Touch the histograms' pages now: whether a run later needs one more
                    // pending second (workers a second apart) must not decide its peak RSS.
                    stats.reset();
                    generator.reset();
                    (stats, generator)
                })
                .collect(),
        }
    }

    fn receive(&mut self, msg: WorkerMsg, on_second: &mut impl FnMut(&LiveSecond<'_>)) {
        match msg {
            WorkerMsg::Interval {
                worker,
                second,
                snapshot,
            } => {
                self.reported[worker] = self.reported[worker].max(Some(second));
                let mut snapshot = snapshot;
                for (class, text) in snapshot.samples.drain(..) {
                    self.samples.entry(class).or_insert(text);
                }
                self.total.merge(&snapshot.total);
                self.generator.merge(&snapshot.generator);
                for (key, stats) in &snapshot.groups {
                    if stats.requests > 0 || stats.connections_opened > 0 {
                        match self.groups.get_mut(key) {
                            Some(g) => g.merge(stats),
                            None => {
                                self.groups.insert(key.clone(), stats.clone());
                            }
                        }
                    }
                }
                let spare = &mut self.spare;
                let entry = self.pending.entry(second).or_insert_with(|| {
                    let (stats, generator) = spare.pop().unwrap_or_default();
                    (0, stats, generator)
                });
                entry.0 += 1;
                entry.1.merge(&snapshot.total);
                entry.2.merge(&snapshot.generator);
                // The worker empties it and records a later second into it. A worker
                // that has finished no longer takes any: then it is dropped here.
                let _ = self.recycle[worker].send(snapshot);
            }
            WorkerMsg::Done {
                worker,
                last_completion,
                cpu,
                wall,
            } => {
                self.done[worker] = true;
                self.worker_cpu[worker] = cpu;
                self.worker_wall[worker] = wall;
                self.last_completion = self.last_completion.max(last_completion);
            }
        }
        self.complete_seconds(false, on_second);
    }

    /// Turns seconds that every worker reported (or will never report) into series
    /// points, in order.
    fn complete_seconds(&mut self, all: bool, on_second: &mut impl FnMut(&LiveSecond<'_>)) {
        while let Some(entry) = self.pending.first_entry() {
            let second = *entry.key();
            let complete = self
                .reported
                .iter()
                .zip(&self.done)
                .all(|(r, done)| *done || r.is_some_and(|r| r >= second));
            if !all && !complete {
                break;
            }
            let second = *entry.key();
            let (_, mut stats, mut generator) = entry.remove();
            on_second(&LiveSecond {
                second,
                interval: &stats,
                interval_generator: &generator,
                total: &self.total,
                groups: &self.groups,
                generator: &self.generator,
            });
            self.series
                .push(IntervalPoint::new(second, &stats, &generator));
            stats.reset();
            generator.reset();
            self.spare.push((stats, generator));
        }
    }

    fn finish(&mut self, on_second: &mut impl FnMut(&LiveSecond<'_>)) {
        self.complete_seconds(true, on_second);
    }
}

/// CPU time (user + system) of this process so far.
pub fn process_cpu() -> Duration {
    cpu_time(nix::sys::resource::UsageWho::RUSAGE_SELF)
}

/// CPU time (user + system) of the process or the calling thread.
pub(crate) fn cpu_time(who: nix::sys::resource::UsageWho) -> Duration {
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::new(t.tv_sec().max(0) as u64, (t.tv_usec().max(0) as u32) * 1000)
    };
    nix::sys::resource::getrusage(who)
        .map_or(Duration::ZERO, |u| tv(u.user_time()) + tv(u.system_time()))
}

/// Peak resident set size of this process (`VmHWM` in `/proc/self/status`).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
