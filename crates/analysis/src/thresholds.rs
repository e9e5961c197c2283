//! Threshold checks: does a run (or one step of it) meet its pass/fail criteria?
//!
//! Whole-run criteria (`p99 < 200ms`) are judged once, over everything measured.
//! Windowed criteria (`error_rate < 1% over 10s`) are judged over every window of that
//! many consecutive seconds by [`WindowedCheck`], which is fed the run's cumulative stats
//! once per second and reports the first window that breaks a criterion.
//!
//! A criterion with nothing to judge (a latency percentile without a single response, an
//! error rate without a single request) is not met: its outcome says "no data" and fails.
//! Requests still unfinished when the run ended count as failed in `error_rate` and
//! `timeout_rate` of the whole run.

use std::collections::VecDeque;
use std::time::Duration;

use stampede_metrics::{LatencyHistogram, Stats};
use stampede_plan::{Comparison, ScopedThreshold, Threshold, ThresholdMetric, ThresholdScope};
pub use stampede_result::{ThresholdOutcome, WindowValue};

/// A threshold with the rows it applies to: `None` for the whole run, else a group key
/// (a scenario step).
pub type Scoped<'a> = (Option<&'a str>, &'a Threshold);

/// What a criterion is measured over: counts and the latency distribution of a span.
#[derive(Debug, Clone, Copy)]
pub struct Measured<'a> {
    /// Requests finished (answered, failed or timed out).
    pub requests: u64,
    /// Failed requests (not timeouts).
    pub errors: u64,
    /// Timed-out requests.
    pub timeouts: u64,
    /// Requests still unfinished when the run ended (count as failures).
    pub unfinished: u64,
    /// Latency of the answered requests.
    pub latency: &'a LatencyHistogram,
    /// The span's length.
    pub elapsed: Duration,
}

impl<'a> Measured<'a> {
    /// The span of `stats` over `elapsed`, with no unfinished requests.
    pub fn of(stats: &'a Stats, elapsed: Duration) -> Self {
        Measured {
            requests: stats.requests,
            errors: stats.errors,
            timeouts: stats.timeouts,
            unfinished: 0,
            latency: &stats.latency,
            elapsed,
        }
    }
}

/// Measures `metric`; `None` when there is nothing to judge.
pub fn measure(metric: ThresholdMetric, m: &Measured<'_>) -> Option<f64> {
    let h = m.latency;
    let attempted = m.requests + m.unfinished;
    let share = |n: u64| (attempted > 0).then(|| n as f64 / attempted as f64);
    match metric {
        _ if metric.is_latency() && h.is_empty() => None,
        ThresholdMetric::Mean => Some(h.mean_ms()),
        ThresholdMetric::Percentile(p) => Some(h.quantile_ms(p / 100.0)),
        ThresholdMetric::Max => Some(h.max_ms()),
        ThresholdMetric::ErrorRate => share(m.errors + m.timeouts + m.unfinished),
        ThresholdMetric::TimeoutRate => share(m.timeouts + m.unfinished),
        ThresholdMetric::Requests => Some(m.requests as f64),
        ThresholdMetric::Rate => match m.elapsed.as_secs_f64() {
            s if s > 0.0 => Some(m.requests as f64 / s),
            _ => None,
        },
    }
}

/// The plan's thresholds as `(scope, threshold)` pairs.
pub fn scoped(thresholds: &[ScopedThreshold]) -> impl Iterator<Item = Scoped<'_>> {
    thresholds.iter().map(|t| {
        let scope = match &t.scope {
            ThresholdScope::Total => None,
            ThresholdScope::Group(key) => Some(key.as_str()),
        };
        (scope, &t.threshold)
    })
}

/// Evaluates the whole-run thresholds over a run's totals and groups; `unfinished`
/// requests count against the whole run's error and timeout rates. A step that sent
/// nothing has no data. Windowed criteria are left out: see [`WindowedCheck`].
pub fn evaluate<'a>(
    thresholds: impl IntoIterator<Item = Scoped<'a>>,
    total: &Stats,
    group: impl Fn(&str) -> Option<&'a Stats>,
    elapsed: Duration,
    unfinished: u64,
) -> Vec<ThresholdOutcome> {
    let empty = Stats::new();
    thresholds
        .into_iter()
        .filter(|(_, t)| t.window.is_none())
        .map(|(scope, t)| {
            let m = match scope {
                None => Measured {
                    unfinished,
                    ..Measured::of(total, elapsed)
                },
                Some(key) => Measured::of(group(key).unwrap_or(&empty), elapsed),
            };
            let observed = measure(t.metric, &m);
            ThresholdOutcome {
                scope: scope.map(str::to_string),
                threshold: t.text.clone(),
                observed,
                passed: observed.is_some_and(|v| t.holds(v)),
                window_s: None,
                worst_window: None,
            }
        })
        .collect()
}

/// True when every outcome passed.
pub fn all_passed(outcomes: &[ThresholdOutcome]) -> bool {
    outcomes.iter().all(|o| o.passed)
}

/// Cumulative counts at the end of one second.
#[derive(Debug, Clone, Default)]
struct Mark {
    requests: u64,
    errors: u64,
    timeouts: u64,
    /// Kept only for latency criteria.
    latency: Option<LatencyHistogram>,
}

impl Mark {
    fn of(stats: &Stats, with_latency: bool) -> Mark {
        Mark {
            requests: stats.requests,
            errors: stats.errors,
            timeouts: stats.timeouts,
            latency: with_latency.then(|| stats.latency.clone()),
        }
    }
}

/// One windowed criterion and the marks of its last `window + 1` seconds.
#[derive(Debug)]
struct Window {
    scope: Option<String>,
    threshold: Threshold,
    secs: u64,
    /// Cumulative marks, oldest first; the first is the run's start (all zero).
    marks: VecDeque<Mark>,
    /// The next second expected (seconds arrive in order).
    next: u64,
    worst: Option<WindowValue>,
    failed: Option<WindowValue>,
}

impl Window {
    fn worse(&self, a: f64, b: f64) -> bool {
        match self.threshold.op {
            Comparison::Lt | Comparison::Le => a > b,
            Comparison::Gt | Comparison::Ge => a < b,
        }
    }

    /// Judges the window ending with the newest mark; true when it newly failed.
    fn judge(&mut self) -> bool {
        let (Some(first), Some(last)) = (self.marks.front(), self.marks.back()) else {
            return false;
        };
        let mut latency = last.latency.clone().unwrap_or_default();
        if let Some(earlier) = &first.latency {
            latency.subtract(earlier);
        }
        let span = self.marks.len() as u64 - 1;
        let m = Measured {
            requests: last.requests - first.requests,
            errors: last.errors - first.errors,
            timeouts: last.timeouts - first.timeouts,
            unfinished: 0,
            latency: &latency,
            elapsed: Duration::from_secs(span),
        };
        let Some(observed) = measure(self.threshold.metric, &m) else {
            return false;
        };
        let value = WindowValue {
            start_s: self.next - span,
            end_s: self.next,
            observed,
        };
        if self.failed.is_some() {
            return false;
        }
        if self.worst.is_none_or(|w| self.worse(observed, w.observed)) {
            self.worst = Some(value);
        }
        if !self.threshold.holds(observed) {
            self.failed = Some(value);
            return true;
        }
        false
    }

    fn outcome(&self) -> ThresholdOutcome {
        let worst = self.failed.or(self.worst);
        ThresholdOutcome {
            scope: self.scope.clone(),
            threshold: self.threshold.text.clone(),
            observed: worst.map(|w| w.observed),
            passed: self.failed.is_none() && worst.is_some(),
            window_s: Some(self.secs),
            worst_window: worst,
        }
    }
}

/// Judges windowed criteria (`METRIC OP VALUE over DURATION`) second by second.
///
/// Feed it the run's cumulative stats after each completed second with
/// [`WindowedCheck::second`]; it returns the criteria that a window broke for the first
/// time. A run shorter than a criterion's window is judged as one window over all of
/// it at [`WindowedCheck::finish`]. Memory: one mark per second of the longest window,
/// with a latency histogram only for latency criteria.
///
/// ```
/// use std::time::Duration;
/// use stampede_analysis::thresholds::WindowedCheck;
/// use stampede_metrics::{ErrorClass, Stats};
/// use stampede_plan::{ScopedThreshold, Threshold, ThresholdScope};
///
/// let plan = [ScopedThreshold {
///     scope: ThresholdScope::Total,
///     threshold: Threshold::parse("error_rate < 10% over 2s").unwrap(),
/// }];
/// let mut check = WindowedCheck::new(&plan);
/// let mut total = Stats::new();
/// for second in 0..10 {
///     for _ in 0..100 {
///         match second {
///             8.. => total.record_error(ErrorClass::Reset),
///             _ => total.record_response(200, Duration::from_millis(1), Duration::from_millis(1)),
///         }
///     }
///     let failed = check.second(second, &total, |_| None);
///     // Reported once, by the first window that holds a failing second.
///     assert_eq!(failed.is_empty(), second != 8, "second {second}");
/// }
/// let outcome = &check.finish()[0];
/// assert!(!outcome.passed);
/// assert_eq!(outcome.worst_window.unwrap().start_s, 7);
/// ```
#[derive(Debug, Default)]
pub struct WindowedCheck {
    windows: Vec<Window>,
}

impl WindowedCheck {
    /// Takes the windowed criteria among `thresholds` (the others are ignored).
    pub fn new(thresholds: &[ScopedThreshold]) -> Self {
        let windows = scoped(thresholds)
            .filter_map(|(scope, t)| {
                let secs = t.window_secs()?.max(1);
                let mut marks = VecDeque::with_capacity(secs as usize + 1);
                marks.push_back(Mark::default());
                Some(Window {
                    scope: scope.map(str::to_string),
                    threshold: t.clone(),
                    secs,
                    marks,
                    next: 0,
                    worst: None,
                    failed: None,
                })
            })
            .collect();
        WindowedCheck { windows }
    }

    /// True when there is no windowed criterion.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Takes the cumulative stats at the end of `second` (0-based; seconds in order);
    /// `group` finds a step's cumulative stats by key. Returns the criteria that failed
    /// for the first time in this second.
    pub fn second<'a>(
        &mut self,
        second: u64,
        total: &Stats,
        group: impl Fn(&str) -> Option<&'a Stats>,
    ) -> Vec<ThresholdOutcome> {
        let empty = Stats::new();
        let mut failed = Vec::new();
        for w in &mut self.windows {
            if second < w.next {
                continue;
            }
            let stats = match &w.scope {
                None => total,
                Some(key) => group(key).unwrap_or(&empty),
            };
            let mark = Mark::of(stats, w.threshold.metric.is_latency());
            // Seconds without a report (none expected) would hold the same counts.
            while w.next <= second {
                w.marks.push_back(mark.clone());
                w.next += 1;
                if w.marks.len() as u64 > w.secs + 1 {
                    w.marks.pop_front();
                }
            }
            if w.marks.len() as u64 == w.secs + 1 && w.judge() {
                failed.push(w.outcome());
            }
        }
        failed
    }

    /// The verdicts, in the order of the criteria. A criterion whose window is longer
    /// than the run is judged over the whole run.
    pub fn finish(mut self) -> Vec<ThresholdOutcome> {
        for w in &mut self.windows {
            if (w.marks.len() as u64) < w.secs + 1 && w.marks.len() > 1 {
                w.judge();
            }
        }
        self.windows.iter().map(Window::outcome).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stampede_metrics::ErrorClass;

    fn stats() -> Stats {
        let mut s = Stats::new();
        for i in 1..=100 {
            s.record_response(200, Duration::from_millis(i), Duration::from_millis(i));
        }
        s.record_error(ErrorClass::Reset);
        s.record_timeout();
        s
    }

    fn at(stats: &Stats, secs: u64) -> Measured<'_> {
        Measured::of(stats, Duration::from_secs(secs))
    }

    #[test]
    fn measures_each_metric() {
        let s = stats();
        let m = at(&s, 2);
        let v = |metric| measure(metric, &m).unwrap();
        assert!((v(ThresholdMetric::Percentile(99.0)) - 99.0).abs() < 0.1);
        assert!((v(ThresholdMetric::Max) - 100.0).abs() < 0.1);
        assert!((v(ThresholdMetric::ErrorRate) - 2.0 / 102.0).abs() < 1e-12);
        assert!((v(ThresholdMetric::TimeoutRate) - 1.0 / 102.0).abs() < 1e-12);
        assert_eq!(v(ThresholdMetric::Requests), 102.0);
        assert_eq!(v(ThresholdMetric::Rate), 51.0);
    }

    #[test]
    fn nothing_measured_is_no_data() {
        let empty = Stats::new();
        let m = at(&empty, 2);
        for metric in [
            ThresholdMetric::Mean,
            ThresholdMetric::Percentile(99.0),
            ThresholdMetric::Max,
            ThresholdMetric::ErrorRate,
            ThresholdMetric::TimeoutRate,
        ] {
            assert_eq!(measure(metric, &m), None, "{metric:?}");
        }
        assert_eq!(measure(ThresholdMetric::Requests, &m), Some(0.0));
        // Only refusals: error rate 100%, but no latency to judge.
        let mut refused = Stats::new();
        refused.record_error(ErrorClass::ConnectRefused);
        let m = at(&refused, 1);
        assert_eq!(measure(ThresholdMetric::ErrorRate, &m), Some(1.0));
        assert_eq!(measure(ThresholdMetric::Percentile(99.0), &m), None);
    }

    #[test]
    fn unfinished_requests_count_as_failures() {
        let empty = Stats::new();
        let m = Measured {
            unfinished: 20,
            ..at(&empty, 2)
        };
        assert_eq!(measure(ThresholdMetric::ErrorRate, &m), Some(1.0));
        assert_eq!(measure(ThresholdMetric::TimeoutRate, &m), Some(1.0));
        let s = stats();
        let m = Measured {
            unfinished: 98,
            ..at(&s, 2)
        };
        assert_eq!(measure(ThresholdMetric::ErrorRate, &m), Some(100.0 / 200.0));
    }

    #[test]
    fn no_data_fails_the_criterion() {
        let p99 = Threshold::parse("p99 < 100ms").unwrap();
        let errors = Threshold::parse("error_rate < 1%").unwrap();
        let timeouts = Threshold::parse("timeout_rate < 1%").unwrap();
        let empty = Stats::new();
        let out = evaluate(
            [(None, &p99), (None, &errors), (None, &timeouts)],
            &empty,
            |_| None,
            Duration::from_secs(2),
            20,
        );
        assert_eq!(out[0].observed, None);
        assert!(!out[0].passed, "no latency sample is not a pass");
        assert_eq!(out[1].observed, Some(1.0), "20 unfinished of 20");
        assert!(!out[1].passed && !out[2].passed);
    }

    #[test]
    fn evaluates_total_and_groups() {
        let s = stats();
        let fast = Threshold::parse("p99 < 200ms").unwrap();
        let strict = Threshold::parse("error_rate < 1%").unwrap();
        let windowed = Threshold::parse("error_rate < 1% over 5s").unwrap();
        let out = evaluate(
            [
                (None, &fast),
                (Some("step a"), &strict),
                (Some("missing"), &strict),
                (None, &windowed),
            ],
            &s,
            |k| (k == "step a").then_some(&s),
            Duration::from_secs(1),
            0,
        );
        assert_eq!(out.len(), 3, "windowed criteria are judged elsewhere");
        assert!(out[0].passed);
        assert!(!out[1].passed, "2% errors break < 1%");
        assert_eq!(out[1].scope.as_deref(), Some("step a"));
        assert_eq!(out[2].observed, None, "a step that never ran has no data");
        assert!(!out[2].passed);
        assert!(!all_passed(&out));
    }

    fn plan(texts: &[(&str, Option<&str>)]) -> Vec<ScopedThreshold> {
        texts
            .iter()
            .map(|(t, scope)| ScopedThreshold {
                scope: match scope {
                    None => ThresholdScope::Total,
                    Some(k) => ThresholdScope::Group(k.to_string()),
                },
                threshold: Threshold::parse(t).unwrap(),
            })
            .collect()
    }

    /// Seconds of (ok, errors, latency of the ok ones in ms).
    fn feed(
        check: &mut WindowedCheck,
        seconds: &[(u64, u64, u64)],
    ) -> Vec<(u64, Vec<ThresholdOutcome>)> {
        let mut total = Stats::new();
        let mut failures = Vec::new();
        for (second, &(ok, errors, ms)) in seconds.iter().enumerate() {
            for _ in 0..ok {
                let d = Duration::from_millis(ms);
                total.record_response(200, d, d);
            }
            for _ in 0..errors {
                total.record_error(ErrorClass::Reset);
            }
            let failed = check.second(second as u64, &total, |_| None);
            if !failed.is_empty() {
                failures.push((second as u64, failed));
            }
        }
        failures
    }

    #[test]
    fn a_late_collapse_fails_the_window_but_not_the_whole_run() {
        // 60 healthy seconds, then 10 s of 100% errors: 14% overall.
        let mut seconds = vec![(100, 0, 5); 60];
        seconds.extend([(0, 100, 5); 10]);
        let thresholds = plan(&[
            ("error_rate < 20%", None),
            ("error_rate < 1% over 10s", None),
        ]);
        let mut check = WindowedCheck::new(&thresholds);
        let failures = feed(&mut check, &seconds);
        assert_eq!(failures.len(), 1, "reported once");
        let (second, failed) = &failures[0];
        assert_eq!(*second, 60, "the first window holding an error second");
        let w = failed[0].worst_window.unwrap();
        assert_eq!((w.start_s, w.end_s), (51, 61));
        assert!((w.observed - 100.0 / 1000.0).abs() < 1e-12);
        let out = check.finish();
        assert_eq!(out.len(), 1);
        assert!(!out[0].passed);
        assert_eq!(out[0].window_s, Some(10));
        assert_eq!(
            out[0].worst_window,
            Some(w),
            "keeps the first failing window"
        );
        let mut total = Stats::new();
        for &(ok, errors, _) in &seconds {
            for _ in 0..ok {
                total.record_response(200, Duration::from_millis(5), Duration::from_millis(5));
            }
            for _ in 0..errors {
                total.record_error(ErrorClass::Reset);
            }
        }
        let whole = evaluate(
            scoped(&thresholds),
            &total,
            |_| None,
            Duration::from_secs(70),
            0,
        );
        assert!(whole[0].passed, "whole-run criterion unchanged: 14% < 20%");
    }

    #[test]
    fn a_start_up_blip_fails_only_its_window_and_recovery_is_recorded() {
        let mut seconds = vec![(50, 50, 5)];
        seconds.extend([(100, 0, 5); 20]);
        let mut check = WindowedCheck::new(&plan(&[("error_rate < 30% over 2s", None)]));
        let failures = feed(&mut check, &seconds);
        assert!(failures.is_empty(), "25% in the first 2 s window: holds");
        let out = check.finish();
        assert!(out[0].passed);
        let w = out[0].worst_window.unwrap();
        assert_eq!((w.start_s, w.end_s), (0, 2));
        assert!((w.observed - 0.25).abs() < 1e-12);
    }

    #[test]
    fn windowed_latency_judges_only_the_window() {
        let mut seconds = vec![(100, 0, 5); 10];
        seconds.extend([(100, 0, 300); 2]);
        seconds.extend([(100, 0, 5); 10]);
        let mut check = WindowedCheck::new(&plan(&[("p99 < 100ms over 5s", None)]));
        let failures = feed(&mut check, &seconds);
        assert_eq!(failures[0].0, 10, "the first slow second breaks its window");
        let out = check.finish();
        assert!(!out[0].passed);
        assert!((out[0].observed.unwrap() - 300.0).abs() < 1.0);
        // At the median, no 5 s window is slow (2 slow seconds of 5).
        let mut check = WindowedCheck::new(&plan(&[("p50 < 100ms over 5s", None)]));
        assert!(
            feed(&mut check, &seconds).is_empty(),
            "p50 of any 5 s window is fast"
        );
    }

    #[test]
    fn a_run_shorter_than_the_window_is_one_window_and_empty_is_no_data() {
        let mut check = WindowedCheck::new(&plan(&[("error_rate < 1% over 10s", None)]));
        assert!(feed(&mut check, &[(10, 1, 5); 3]).is_empty());
        let out = check.finish();
        assert!(!out[0].passed, "10% over the 3 s that ran");
        let w = out[0].worst_window.unwrap();
        assert_eq!((w.start_s, w.end_s), (0, 3));

        let mut check = WindowedCheck::new(&plan(&[("p99 < 10ms over 2s", None)]));
        assert!(feed(&mut check, &[(0, 0, 0); 5]).is_empty());
        let out = check.finish();
        assert_eq!(out[0].observed, None, "no window had a sample");
        assert!(!out[0].passed, "no data fails");
    }

    #[test]
    fn groups_are_windowed_from_their_cumulative_stats() {
        let mut check = WindowedCheck::new(&plan(&[("error_rate < 5% over 2s", Some("login"))]));
        let mut login = Stats::new();
        for second in 0..6 {
            for _ in 0..10 {
                login.record_response(200, Duration::from_millis(1), Duration::from_millis(1));
            }
            if second == 4 {
                login.record_error(ErrorClass::Reset);
                login.record_error(ErrorClass::Reset);
            }
            let failed = check.second(second, &Stats::new(), |k| (k == "login").then_some(&login));
            assert_eq!(failed.is_empty(), second != 4, "second {second}");
            if second == 4 {
                assert_eq!(failed[0].scope.as_deref(), Some("login"));
            }
        }
    }
}
