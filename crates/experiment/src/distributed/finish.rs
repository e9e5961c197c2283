//! The coordinator's result: the finished workers' own documents merged exactly
//! (`stampede_result::merge`), the criteria judged again on the merged whole, per-worker
//! rows on request, and the workers' section (clock offsets, start errors, lost
//! workers, `partial`).

use std::collections::BTreeMap;
use std::time::Duration;

use stampede_analysis::thresholds;
use stampede_metrics::{ErrorClass, LatencyHistogram, Stats};
use stampede_plan::ScopedThreshold;
use stampede_result::{
    CoordinatorDoc, Core, GroupDoc, Histograms, MergeError, RunResult, WorkerDoc,
};

use super::board::{Slot, SlotState};
use super::PROTOCOL_VERSION;

/// The requests, errors, timeouts and latency of a document's row: what criteria are
/// measured on. A histogram that does not decode counts as empty (the merge has
/// already decoded every one, so this does not happen with a merged document).
pub(crate) fn stats_of(
    core: &Core,
    errors_by_class: &BTreeMap<String, u64>,
    status_codes: &BTreeMap<String, u64>,
    h: &Histograms,
) -> Stats {
    let decode = |t: &str| LatencyHistogram::from_v2_base64(t).unwrap_or_default();
    let mut s = Stats::new();
    s.requests = core.requests;
    s.errors = core.errors;
    s.timeouts = core.timeouts;
    for (name, n) in errors_by_class {
        if let Some(c) = ErrorClass::ALL.into_iter().find(|c| c.as_str() == name) {
            (0..*n).for_each(|_| s.errors_by_class.add(c));
        }
    }
    for (code, n) in status_codes {
        if let Ok(code) = code.parse::<u16>() {
            (0..*n).for_each(|_| s.status_codes.add(code));
        }
    }
    s.latency = decode(&h.latency);
    s.service_time = decode(&h.service_time);
    s.connect = decode(&h.connect);
    s.tls_handshake = decode(&h.tls_handshake);
    s.upgrade = decode(&h.upgrade);
    s.ttfb = decode(&h.ttfb);
    s.bytes_received = core.bytes_received;
    s.bytes_sent = core.bytes_sent;
    s.connections_opened = core.connections_opened;
    s
}

/// The whole run's stats and each group's, from a document.
pub(crate) fn doc_stats(r: &RunResult) -> (Stats, Vec<(String, Stats)>) {
    let total = stats_of(
        &r.summary.core,
        &r.errors_by_class,
        &r.status_codes,
        &r.histograms,
    );
    let groups = r
        .groups
        .iter()
        .filter_map(|g| {
            let h = g.histograms.as_ref()?;
            Some((
                g.key.clone(),
                stats_of(&g.core, &g.errors_by_class, &g.status_codes, h),
            ))
        })
        .collect::<Vec<_>>();
    (total, groups)
}

/// One row per worker (`--group-by worker`), from its own document.
fn worker_rows(finished: &[(u32, &RunResult)]) -> Vec<GroupDoc> {
    finished
        .iter()
        .map(|(i, r)| GroupDoc {
            key: format!("worker-{i}"),
            core: r.summary.core.clone(),
            errors_by_class: r.errors_by_class.clone(),
            status_codes: r.status_codes.clone(),
            histograms: Some(Histograms {
                schedule_lag: None,
                ..r.histograms.clone()
            }),
            latency_model: None,
            timeout_ms: None,
        })
        .collect()
}

/// What the coordinator knows at the end besides the documents.
pub(crate) struct Ending<'a> {
    pub(crate) expected: u32,
    pub(crate) slots: &'a BTreeMap<u32, Slot>,
    pub(crate) thresholds: &'a [ScopedThreshold],
    pub(crate) group_by_worker: bool,
    /// True when the coordinator stopped the run (a criterion under
    /// `--abort-on-fail`, or a signal).
    pub(crate) stopped: bool,
}

/// The merged result; `None` when no worker finished (nothing to merge).
pub(crate) fn assemble(end: Ending<'_>) -> Result<Option<RunResult>, MergeError> {
    let finished: Vec<(u32, &RunResult)> = end
        .slots
        .iter()
        .filter_map(|(i, s)| match &s.state {
            SlotState::Finished(f) => Some((*i, f.result.as_ref())),
            _ => None,
        })
        .collect();
    if finished.is_empty() {
        return Ok(None);
    }
    let docs: Vec<RunResult> = finished
        .iter()
        .map(|(_, r)| RunResult {
            // Each worker's own criteria judged its slice; the coordinator's judge the
            // whole, below.
            thresholds: Vec::new(),
            ..(*r).clone()
        })
        .collect();
    let mut merged = stampede_result::merge(&docs)?;
    merged.aborted |= end.stopped;
    let (total, groups) = doc_stats(&merged);
    let elapsed = Duration::from_secs_f64(merged.summary.elapsed_s.max(0.0));
    let by_key: BTreeMap<&str, &Stats> = groups.iter().map(|(k, s)| (k.as_str(), s)).collect();
    merged.thresholds = thresholds::evaluate(
        thresholds::scoped(end.thresholds),
        &total,
        |k| by_key.get(k).copied(),
        elapsed,
        merged.summary.unfinished,
    );
    if end.group_by_worker {
        merged.groups = worker_rows(&finished);
        merged.group_by = Some("worker".into());
    }
    merged.coordinator = Some(coordinator_doc(&end, &finished));
    Ok(Some(merged))
}

/// Milliseconds to the microsecond.
fn micros(ms: f64) -> f64 {
    (ms * 1e3).round() / 1e3
}

fn coordinator_doc(end: &Ending<'_>, finished: &[(u32, &RunResult)]) -> CoordinatorDoc {
    // Each worker's start on the coordinator's clock. A run told to start at an
    // instant counts from that instant and records how late its clock said it really
    // started (`start.error_ms`).
    let start_on_coordinator = |s: &Slot| match &s.state {
        SlotState::Finished(f) => Some(
            f.started_unix_ms
                + f.result.start.as_ref().map_or(0.0, |st| st.error_ms)
                + s.clock.map_or(0.0, |c| c.offset_ms),
        ),
        _ => None,
    };
    // `--start-at` names one absolute instant for every worker.
    let intended = |s: &Slot| s.hello.start_at_unix_ms;
    let earliest = end
        .slots
        .values()
        .filter_map(start_on_coordinator)
        .fold(f64::INFINITY, f64::min);
    let workers: Vec<WorkerDoc> = end
        .slots
        .iter()
        .map(|(i, s)| WorkerDoc {
            index: *i,
            shard: s.hello.shard.map(|sh| format!("{}/{}", sh.index, sh.count)),
            status: match s.state {
                SlotState::Finished(_) => "finished",
                _ => "lost",
            }
            .into(),
            seconds_reported: s.seconds,
            requests: finished
                .iter()
                .find(|(j, _)| j == i)
                .map(|(_, r)| r.summary.core.requests),
            clock_offset_ms: s.clock.map(|c| micros(c.offset_ms)),
            clock_rtt_ms: s.clock.map(|c| micros(c.rtt_ms)),
            start_error_ms: start_on_coordinator(s)
                .map(|t| micros(t - intended(s).unwrap_or(earliest))),
            lost: match &s.state {
                SlotState::Lost(why) => Some(why.clone()),
                SlotState::Running => Some("still running when the coordinator ended".into()),
                SlotState::Finished(_) => None,
            },
        })
        .collect();
    CoordinatorDoc {
        protocol: PROTOCOL_VERSION,
        workers_expected: end.expected,
        partial: workers.len() < end.expected as usize
            || workers.iter().any(|w| w.status != "finished"),
        workers,
    }
}
