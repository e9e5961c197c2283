//! How much CPU other processes took from the generator: the worker threads' run-queue
//! wait (`/proc/self/task/TID/schedstat`) and the machine's steal time (`/proc/stat`),
//! sampled each second. The classification itself is pure analysis
//! ([`stampede_analysis::check_generator`]).

use std::collections::BTreeMap;

use stampede_analysis::{check_generator, ContentionFacts, GeneratorFacts};

use crate::RunResult;

/// The prefix of the engine's worker thread names as `/proc` shows them (15 bytes).
const WORKER_COMM: &str = "stampede-worke";

/// Samples the worker threads' scheduling statistics while a run goes on.
#[derive(Debug, Default)]
pub struct Contention {
    /// Per worker thread id: (on-CPU ns, run-queue wait ns) since the thread started.
    threads: BTreeMap<u32, (u64, u64)>,
    /// The readings when sampling started ([`Contention::from_now`]); a thread missing
    /// here started later (from zero).
    baseline: BTreeMap<u32, (u64, u64)>,
    steal_start: Option<(u64, u64)>,
}

/// What was sampled, for the analysis.
pub(crate) type Facts = Option<ContentionFacts>;

/// (steal ticks, all ticks) of the machine so far, from the `cpu` line of `/proc/stat`.
fn steal_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    Some((*ticks.get(7)?, ticks.iter().take(8).sum()))
}

/// (on-CPU ns, run-queue wait ns) of one thread of this process.
fn schedstat(tid: &str) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
    Some((fields.next()??, fields.next()??))
}

impl Contention {
    /// Starts sampling (reads the machine's steal counter now).
    pub fn start() -> Self {
        Contention {
            threads: BTreeMap::new(),
            baseline: BTreeMap::new(),
            steal_start: steal_ticks(),
        }
    }

    /// Starts sampling in the middle of a run: what the worker threads did before now
    /// does not count.
    pub fn from_now() -> Self {
        let mut c = Contention::start();
        c.sample();
        c.baseline = std::mem::take(&mut c.threads);
        c
    }

    /// Each worker thread's (on-CPU ns, run-queue wait ns) since sampling started.
    fn since_start(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.threads.iter().map(|(id, (run, wait))| {
            let (r0, w0) = self.baseline.get(id).copied().unwrap_or((0, 0));
            (run.saturating_sub(r0), wait.saturating_sub(w0))
        })
    }

    /// Each worker thread's CPU time since sampling started, by thread id.
    pub fn worker_cpu(&self) -> Vec<std::time::Duration> {
        self.since_start()
            .map(|(run, _)| std::time::Duration::from_nanos(run))
            .collect()
    }

    /// Reads every worker thread's counters (they are cumulative since the thread
    /// started; the last reading before a thread ends is kept).
    pub fn sample(&mut self) {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return;
        };
        for task in tasks.flatten() {
            let tid = task.file_name();
            let Some(tid) = tid.to_str() else { continue };
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if !comm.starts_with(WORKER_COMM) {
                continue;
            }
            if let (Some(stat), Ok(id)) = (schedstat(tid), tid.parse::<u32>()) {
                self.threads.insert(id, stat);
            }
        }
    }

    /// The shares of runnable time spent waiting, and of machine time stolen; `None`
    /// when nothing could be read.
    pub(crate) fn finish(&self) -> Facts {
        let steal_share = match (self.steal_start, steal_ticks()) {
            (Some((s0, t0)), Some((s1, t1))) if t1 > t0 => (s1 - s0) as f64 / (t1 - t0) as f64,
            _ => 0.0,
        };
        let (run, wait) = self
            .since_start()
            .fold((0u64, 0u64), |(r, w), (r1, w1)| (r + r1, w + w1));
        if run + wait == 0 {
            return None;
        }
        Some(ContentionFacts {
            run_queue_share: wait as f64 / (run + wait) as f64,
            steal_share,
        })
    }
}

/// Re-checks the generator with what was learnt about contention, so that each warning
/// names its cause.
pub(crate) fn classify(result: &mut RunResult, contention: &Facts) {
    let g = &result.generator;
    let s = &result.summary;
    let latency = s.core.latency_ms.p99;
    let facts = GeneratorFacts {
        open_model: g.schedule_lag_ms.is_some(),
        // Only scheduled sends can be late: as many as the lag histogram holds.
        sends: result
            .histograms
            .schedule_lag
            .as_deref()
            .and_then(|h| stampede_metrics::LatencyHistogram::from_v2_base64(h).ok())
            .map_or(g.sends, |h| h.count()),
        late_sends: s.late_sends,
        dropped: s.dropped,
        worker_busy: g.worker_busy.clone(),
        send_lag_p99_ms: g.schedule_lag_ms.map(|p| p.p99),
        latency_p99_ms: (s.core.latency_ms.max > 0.0).then_some(latency),
        contention: *contention,
    };
    result.generator.warnings = check_generator(&facts);
}
