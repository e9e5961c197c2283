//! Thresholds judged again on a merged document (`stampede merge`).
//!
//! [`stampede_result::merge`] alone can only say that a criterion passed in every shard
//! (with the worst shard's value); a criterion about the whole (`requests >= 30000`,
//! `p99 < 200ms` over every request) needs the merged data. [`rejudge`] parses each
//! criterion a document carries back from its text and measures it on the merged
//! figures:
//!
//! * whole-run and per-step criteria: the merged counts (unfinished requests count as
//!   failures of the whole run, as in a run) and the merged latency histogram;
//! * windowed criteria of the whole run (`... over 10s`): every window of the merged
//!   per-second series (counts and histograms), as a run judges them live;
//! * windowed criteria of one step: the document keeps no per-step series, so the
//!   merge's verdict (passed only if it passed in every shard) is kept, marked
//!   [`Judged::Kept`].

use std::time::Duration;

use stampede_metrics::{HistogramError, LatencyHistogram, Stats};
use stampede_plan::{ScopedThreshold, Threshold, ThresholdScope};
use stampede_result::{RunResult, ThresholdOutcome};

use crate::thresholds::{evaluate, WindowedCheck};

/// How a criterion's verdict in a merged document was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judged {
    /// Measured again on the merged data.
    Merged,
    /// The merge's verdict kept (a windowed criterion of one step).
    Kept,
}

/// Why the criteria of a document could not be judged again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RejudgeError {
    /// A criterion's text no longer parses.
    #[error("threshold '{text}': {reason}")]
    Threshold {
        /// The text in the document.
        text: String,
        /// The parser's reason.
        reason: String,
    },
    /// A histogram the criterion needs did not decode or is missing.
    #[error("histogram of {what}: {reason}")]
    Histogram {
        /// Which histogram.
        what: String,
        /// What is wrong.
        reason: String,
    },
}

/// The verdicts of `doc`'s criteria measured on its own (merged) data, in the
/// document's order, each with how it was reached.
pub fn rejudge(doc: &RunResult) -> Result<Vec<(ThresholdOutcome, Judged)>, RejudgeError> {
    let elapsed = Duration::from_secs_f64(doc.summary.elapsed_s.max(0.0));
    let total = stats_of(&doc.summary.core, Some(&doc.histograms.latency), "the run")?;
    let mut groups = Vec::with_capacity(doc.groups.len());
    for g in &doc.groups {
        let h = g.histograms.as_ref().map(|h| &h.latency);
        groups.push((g.key.clone(), stats_of(&g.core, h, &g.key)?));
    }
    let mut series: Option<Vec<Stats>> = None;
    let mut out = Vec::with_capacity(doc.thresholds.len());
    for o in &doc.thresholds {
        let threshold =
            Threshold::parse(&o.threshold).map_err(|reason| RejudgeError::Threshold {
                text: o.threshold.clone(),
                reason,
            })?;
        let scoped = ScopedThreshold {
            scope: match &o.scope {
                None => ThresholdScope::Total,
                Some(k) => ThresholdScope::Group(k.clone()),
            },
            threshold: threshold.clone(),
        };
        let judged = match (&o.scope, threshold.window) {
            (None, Some(_)) => {
                let cumulative = match &series {
                    Some(s) => s,
                    None => series.insert(cumulative_series(doc)?),
                };
                let mut check = WindowedCheck::new(std::slice::from_ref(&scoped));
                for (t, stats) in cumulative.iter().enumerate() {
                    check.second(t as u64, stats, |_| None);
                }
                (check.finish().remove(0), Judged::Merged)
            }
            (Some(_), Some(_)) => (o.clone(), Judged::Kept),
            (scope, None) => {
                let pair = (scope.as_deref(), &threshold);
                let found = |key: &str| groups.iter().find(|(k, _)| k == key).map(|(_, s)| s);
                let outcome = evaluate([pair], &total, found, elapsed, doc.summary.unfinished);
                (
                    outcome.into_iter().next().unwrap_or_else(|| o.clone()),
                    Judged::Merged,
                )
            }
        };
        out.push(judged);
    }
    Ok(out)
}

/// Counts and latency of a row as [`Stats`].
fn stats_of(
    core: &stampede_result::Core,
    latency: Option<&String>,
    what: &str,
) -> Result<Stats, RejudgeError> {
    let mut s = Stats::new();
    s.requests = core.requests;
    s.errors = core.errors;
    s.timeouts = core.timeouts;
    if let Some(text) = latency {
        s.latency = decode(text, what)?;
    }
    Ok(s)
}

fn decode(text: &str, what: &str) -> Result<LatencyHistogram, RejudgeError> {
    LatencyHistogram::from_v2_base64(text).map_err(|e: HistogramError| RejudgeError::Histogram {
        what: what.to_string(),
        reason: e.to_string(),
    })
}

/// The run's cumulative stats at the end of each second, from the per-second series.
fn cumulative_series(doc: &RunResult) -> Result<Vec<Stats>, RejudgeError> {
    let len = doc.series.iter().map(|p| p.t + 1).max().unwrap_or(0) as usize;
    let mut seconds: Vec<Stats> = (0..len).map(|_| Stats::new()).collect();
    for p in &doc.series {
        let what = format!("second {}", p.t);
        let h = p
            .histograms
            .as_ref()
            .ok_or_else(|| RejudgeError::Histogram {
                what: what.clone(),
                reason: "missing (a version-1 document?)".into(),
            })?;
        let s = &mut seconds[p.t as usize];
        s.requests += p.requests;
        s.errors += p.errors;
        s.timeouts += p.timeouts;
        s.latency.merge(&decode(&h.latency, &what)?);
    }
    let mut running = Stats::new();
    Ok(seconds
        .into_iter()
        .map(|s| {
            running.requests += s.requests;
            running.errors += s.errors;
            running.timeouts += s.timeouts;
            running.latency.merge(&s.latency);
            running.clone()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::SystemTime;

    use stampede_metrics::{ErrorClass, GeneratorStats, IntervalPoint, RunOutcome};
    use stampede_plan::RunPlan;

    /// Four seconds of 10 requests each; second 2 has 5 errors among them.
    fn doc() -> RunResult {
        let plan = RunPlan::builder("http://127.0.0.1:1/")
            .duration(Duration::from_secs(4))
            .build()
            .unwrap();
        let mut total = Stats::new();
        let mut series = Vec::new();
        for t in 0..4u64 {
            let mut s = Stats::new();
            for i in 0..10 {
                match (t, i) {
                    (2, 0..5) => s.record_error(ErrorClass::Reset),
                    _ => s.record_response(200, Duration::from_millis(5), Duration::from_millis(5)),
                }
            }
            series.push(IntervalPoint::new(t, &s, &GeneratorStats::default()));
            total.merge(&s);
        }
        let outcome = RunOutcome {
            started_at: SystemTime::UNIX_EPOCH,
            elapsed: Duration::from_secs(4),
            groups: vec![("step".into(), total.clone())],
            total,
            generator: GeneratorStats::default(),
            series,
            aborted: false,
            threads: 1,
            worker_cpu: vec![],
            worker_wall: vec![],
            process_cpu: Duration::ZERO,
            peak_rss_bytes: None,
            error_samples: BTreeMap::new(),
            scheduled_groups: vec![],
            group_timeouts: vec![],
            start: None,
        };
        crate::assemble(&plan, &outcome)
    }

    fn criterion(scope: Option<&str>, text: &str, passed: bool) -> ThresholdOutcome {
        ThresholdOutcome {
            scope: scope.map(str::to_string),
            threshold: text.into(),
            observed: None,
            passed,
            window_s: None,
            worst_window: None,
        }
    }

    #[test]
    fn criteria_are_measured_on_the_merged_figures() {
        let mut d = doc();
        // As a merge leaves them: each shard's verdict, not the whole's.
        d.thresholds = vec![
            criterion(None, "requests >= 40", false),
            criterion(None, "error_rate < 10% over 1s", true),
            criterion(None, "error_rate < 60% over 2s", false),
            criterion(Some("step"), "p99 < 100ms", false),
            criterion(Some("step"), "error_rate < 1% over 1s", true),
        ];
        let got = rejudge(&d).unwrap();
        let verdicts: Vec<(bool, Judged)> = got.iter().map(|(o, j)| (o.passed, *j)).collect();
        assert_eq!(
            verdicts,
            [
                (true, Judged::Merged),
                (false, Judged::Merged),
                (true, Judged::Merged),
                (true, Judged::Merged),
                (true, Judged::Kept),
            ]
        );
        assert_eq!(got[0].0.observed, Some(40.0));
        let w = got[1].0.worst_window.unwrap();
        assert_eq!((w.start_s, w.end_s, w.observed), (2, 3, 0.5));
        assert_eq!(
            got[2].0.observed,
            Some(0.25),
            "the worst 2 s window: 5 of 20"
        );
    }

    #[test]
    fn a_criterion_that_no_longer_parses_is_an_error() {
        let mut d = doc();
        d.thresholds = vec![criterion(None, "p99 <", true)];
        assert!(rejudge(&d).unwrap_err().to_string().contains("p99 <"));
    }
}
