//! The lines of a coordinated run's table about its workers: how many finished, their
//! clocks and starts, and, loudly, the ones lost.

use std::fmt::Write;

use stampede_result::RunResult;

/// The table's lines: the summary, then the partial warning; nothing for a run without
/// a coordinator.
pub(crate) fn workers_lines(r: &RunResult) -> String {
    let mut out = String::new();
    if let Some(line) = workers_summary(r) {
        out.push_str(&line);
        out.push('\n');
    }
    for line in partial_lines(r) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// How many workers finished, their clock offsets and start errors.
pub(crate) fn workers_summary(r: &RunResult) -> Option<String> {
    let c = r.coordinator.as_ref()?;
    let mut out = String::new();
    let finished = c.workers.iter().filter(|w| w.status == "finished").count();
    let span = |f: fn(&stampede_result::WorkerDoc) -> Option<f64>| {
        let v: Vec<f64> = c.workers.iter().filter_map(f).collect();
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (!v.is_empty()).then_some((lo, hi))
    };
    let _ = write!(
        out,
        "workers: {finished} of {} finished (live coordinator)",
        c.workers_expected
    );
    if let (Some((lo, hi)), Some((_, rtt))) =
        (span(|w| w.clock_offset_ms), span(|w| w.clock_rtt_ms))
    {
        let _ = write!(
            out,
            ", clock offsets {lo:.1} .. {hi:.1} ms (each within ±{:.1} ms)",
            rtt / 2.0
        );
    }
    if let Some((lo, hi)) = span(|w| w.start_error_ms) {
        let _ = write!(out, ", start errors {lo:.1} .. {hi:.1} ms");
    }
    Some(out)
}

/// The loud part: which workers' shares are missing, and why (empty unless partial).
pub(crate) fn partial_lines(r: &RunResult) -> Vec<String> {
    let Some(c) = r.coordinator.as_ref().filter(|c| c.partial) else {
        return Vec::new();
    };
    let finished = c.workers.iter().filter(|w| w.status == "finished").count();
    let mut lines = vec![format!(
        "PARTIAL: {} of {} workers' shares are missing from these figures",
        c.workers_expected as usize - finished,
        c.workers_expected
    )];
    for w in c.workers.iter().filter(|w| w.status != "finished") {
        lines.push(format!(
            "  worker {} lost: {}",
            w.index,
            w.lost.as_deref().unwrap_or("no reason recorded")
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use stampede_result::{CoordinatorDoc, WorkerDoc};

    use super::*;

    fn worker(index: u32, status: &str) -> WorkerDoc {
        WorkerDoc {
            index,
            shard: None,
            status: status.into(),
            seconds_reported: 3,
            requests: None,
            clock_offset_ms: Some(index as f64),
            clock_rtt_ms: Some(4.0),
            start_error_ms: Some(0.5),
            lost: (status == "lost").then(|| "no message for 2 s after second 1".into()),
        }
    }

    #[test]
    fn lost_workers_are_said_loudly() {
        let mut r: RunResult =
            serde_json::from_str(include_str!("../../result/tests/fixtures/v1-result.json"))
                .unwrap();
        assert_eq!(workers_lines(&r), "");
        r.coordinator = Some(CoordinatorDoc {
            protocol: 1,
            workers_expected: 3,
            partial: true,
            workers: vec![
                worker(0, "finished"),
                worker(1, "lost"),
                worker(2, "finished"),
            ],
        });
        let text = workers_lines(&r);
        assert!(text.starts_with("workers: 2 of 3 finished"), "{text}");
        assert!(
            text.contains("clock offsets 0.0 .. 2.0 ms (each within ±2.0 ms)"),
            "{text}"
        );
        assert!(text.contains("PARTIAL: 1 of 3"), "{text}");
        assert!(text.contains("worker 1 lost: no message"), "{text}");
    }
}
