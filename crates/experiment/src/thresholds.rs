//! The threshold check as an observer: windowed criteria judged every second (and
//! recorded in the result), and with `abort_on_fail` a stop at the first failure.

use std::time::Duration;

use stampede_analysis::thresholds::{self, Measured, WindowedCheck};
use stampede_engine::LiveSecond;
use stampede_plan::{RunPlan, ScopedThreshold};

use crate::{Flow, RunResult, ThresholdOutcome};

/// Judges a run's criteria while it goes on.
#[derive(Debug)]
pub(crate) struct ThresholdWatch {
    /// Whole-run criteria, judged live only to stop early.
    whole: Vec<ScopedThreshold>,
    windowed: WindowedCheck,
    abort_on_fail: bool,
    stopped: bool,
}

impl ThresholdWatch {
    pub(crate) fn new(plan: &RunPlan) -> Self {
        ThresholdWatch {
            whole: plan
                .thresholds
                .iter()
                .filter(|t| t.threshold.window.is_none())
                .cloned()
                .collect(),
            windowed: WindowedCheck::new(&plan.thresholds),
            abort_on_fail: plan.abort_on_fail,
            stopped: false,
        }
    }

    /// Judges the second; asks to stop at the first failure under `abort_on_fail`.
    pub(crate) fn on_second(&mut self, live: &LiveSecond<'_>) -> Flow {
        let failed = self
            .windowed
            .second(live.second, live.total, |k| live.groups.get(k));
        if !self.abort_on_fail || self.stopped {
            return Flow::Continue;
        }
        let first = failed
            .into_iter()
            .next()
            .or_else(|| self.first_whole_run_failure(live));
        match first {
            Some(t) => {
                self.stopped = true;
                Flow::Stop {
                    reason: format!("threshold '{}' failed", t.label()),
                    failed: Some(t),
                }
            }
            None => Flow::Continue,
        }
    }

    /// A whole-run criterion that the run so far breaks. Nothing measured yet is not a
    /// failure here: the run may still produce data (the verdict at the end says
    /// "no data" if it never does).
    fn first_whole_run_failure(&self, live: &LiveSecond<'_>) -> Option<ThresholdOutcome> {
        let elapsed = Duration::from_secs(live.second + 1);
        let empty = stampede_metrics::Stats::new();
        thresholds::scoped(&self.whole).find_map(|(scope, t)| {
            let stats = scope.map_or(live.total, |k| live.groups.get(k).unwrap_or(&empty));
            let observed = thresholds::measure(t.metric, &Measured::of(stats, elapsed))?;
            (!t.holds(observed)).then(|| ThresholdOutcome {
                scope: scope.map(str::to_string),
                threshold: t.text.clone(),
                observed: Some(observed),
                passed: false,
                window_s: None,
                worst_window: None,
            })
        })
    }

    /// Adds the windowed verdicts to the result, after the whole-run ones.
    pub(crate) fn finish(self, result: &mut RunResult) {
        let windowed = self.windowed.finish();
        if windowed.is_empty() {
            return;
        }
        result.thresholds.extend(windowed);
    }
}
