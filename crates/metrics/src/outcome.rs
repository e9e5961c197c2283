//! What a run measured, as plain data: the whole run ([`RunOutcome`]) and each second
//! as it completes ([`LiveSecond`]).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::{ErrorClass, GeneratorStats, IntervalPoint, Stats};

/// Everything a run measured.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Wall-clock time the run started.
    pub started_at: SystemTime,
    /// The measured span: the sending window, or until the last response when the run
    /// stopped on a request count.
    pub elapsed: Duration,
    /// Every request of the run.
    pub total: Stats,
    /// Requests by group key, in key order.
    pub groups: Vec<(String, Stats)>,
    /// Generator self-observation.
    pub generator: GeneratorStats,
    /// One point per second.
    pub series: Vec<IntervalPoint>,
    /// True when the run was stopped by the user (Ctrl-C).
    pub aborted: bool,
    /// Worker threads used.
    pub threads: usize,
    /// CPU time (user + system) of each worker thread.
    pub worker_cpu: Vec<Duration>,
    /// How long each worker thread ran: its start to its end, including the drain after
    /// sending stopped (the span its CPU time was spent in).
    pub worker_wall: Vec<Duration>,
    /// CPU time of the whole process during the run.
    pub process_cpu: Duration,
    /// Peak resident memory of the process, when the OS reports it.
    pub peak_rss_bytes: Option<u64>,
    /// The first failure message of each error class, where the failing layer said more
    /// than the class (the OS's connect error, the TLS alert, the HTTP/2 reason).
    pub error_samples: BTreeMap<ErrorClass, String>,
    /// The groups whose requests had intended send times, so that their latency counts
    /// from them (corrected for coordinated omission) and their lateness is measured:
    /// every group of an open-model run or a fleet with an interval; in a scenario run
    /// the first request of each open lane. Every other group's latency is service time.
    pub scheduled_groups: Vec<String>,
    /// Groups whose requests wait for their own limit instead of the run's timeout
    /// (scenario `ws_expect` steps with a `timeout`), with that limit.
    pub group_timeouts: Vec<(String, Duration)>,
    /// When the run was told to start at a wall-clock instant (`--start-at`): that
    /// instant and how far this machine's clock was from it at the run's time zero.
    pub start: Option<StartTiming>,
}

/// A start at a planned wall-clock instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StartTiming {
    /// The instant asked for.
    pub planned: SystemTime,
    /// The wall clock read when the run's time zero came, minus `planned`, in seconds
    /// (positive: late; includes the wake-up delay of the thread that read it).
    pub error_s: f64,
}

/// What a live view sees each time a second completes.
#[derive(Debug, Clone, Copy)]
pub struct LiveSecond<'a> {
    /// Which second of the run completed (0-based).
    pub second: u64,
    /// That second's stats, all workers merged.
    pub interval: &'a Stats,
    /// That second's generator stats.
    pub interval_generator: &'a GeneratorStats,
    /// Everything so far.
    pub total: &'a Stats,
    /// Everything so far, by group key.
    pub groups: &'a BTreeMap<String, Stats>,
    /// Generator stats so far.
    pub generator: &'a GeneratorStats,
}
