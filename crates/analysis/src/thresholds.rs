//! Threshold checks: does a run (or one step of it) meet its pass/fail criteria?

use std::time::Duration;

use stampede_metrics::Stats;
use stampede_plan::{ScopedThreshold, Threshold, ThresholdMetric, ThresholdScope};
pub use stampede_result::ThresholdOutcome;

/// A threshold with the rows it applies to: `None` for the whole run, else a group key
/// (a scenario step).
pub type Scoped<'a> = (Option<&'a str>, &'a Threshold);

/// The plan's thresholds with the rows they apply to, ready for [`evaluate`].
pub fn scoped(thresholds: &[ScopedThreshold]) -> impl Iterator<Item = Scoped<'_>> {
    thresholds.iter().map(|t| {
        let scope = match &t.scope {
            ThresholdScope::Total => None,
            ThresholdScope::Group(key) => Some(key.as_str()),
        };
        (scope, &t.threshold)
    })
}

/// Measures `metric` over `stats` collected during `elapsed`.
pub fn measure(metric: ThresholdMetric, stats: &Stats, elapsed: Duration) -> f64 {
    let h = &stats.latency;
    match metric {
        ThresholdMetric::Mean => h.mean_ms(),
        ThresholdMetric::Percentile(p) => h.quantile_ms(p / 100.0),
        ThresholdMetric::Max => h.max_ms(),
        ThresholdMetric::ErrorRate => stats.failure_rate(),
        ThresholdMetric::TimeoutRate => match stats.requests {
            0 => 0.0,
            n => stats.timeouts as f64 / n as f64,
        },
        ThresholdMetric::Requests => stats.requests as f64,
        ThresholdMetric::Rate => match elapsed.as_secs_f64() {
            s if s > 0.0 => stats.requests as f64 / s,
            _ => 0.0,
        },
    }
}

/// Evaluates every threshold. `group` finds a step's stats by key; a step that sent
/// nothing is measured over empty stats.
pub fn evaluate<'a>(
    thresholds: impl IntoIterator<Item = Scoped<'a>>,
    total: &Stats,
    group: impl Fn(&str) -> Option<&'a Stats>,
    elapsed: Duration,
) -> Vec<ThresholdOutcome> {
    let empty = Stats::new();
    thresholds
        .into_iter()
        .map(|(scope, t)| {
            let stats = match scope {
                None => total,
                Some(key) => group(key).unwrap_or(&empty),
            };
            let observed = measure(t.metric, stats, elapsed);
            ThresholdOutcome {
                scope: scope.map(str::to_string),
                threshold: t.text.clone(),
                observed,
                passed: t.holds(observed),
            }
        })
        .collect()
}

/// True when every outcome passed.
pub fn all_passed(outcomes: &[ThresholdOutcome]) -> bool {
    outcomes.iter().all(|o| o.passed)
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

    #[test]
    fn measures_each_metric() {
        let s = stats();
        let e = Duration::from_secs(2);
        assert!((measure(ThresholdMetric::Percentile(99.0), &s, e) - 99.0).abs() < 0.1);
        assert!((measure(ThresholdMetric::Max, &s, e) - 100.0).abs() < 0.1);
        assert!((measure(ThresholdMetric::ErrorRate, &s, e) - 2.0 / 102.0).abs() < 1e-12);
        assert!((measure(ThresholdMetric::TimeoutRate, &s, e) - 1.0 / 102.0).abs() < 1e-12);
        assert_eq!(measure(ThresholdMetric::Requests, &s, e), 102.0);
        assert_eq!(measure(ThresholdMetric::Rate, &s, e), 51.0);
    }

    #[test]
    fn evaluates_total_and_groups() {
        let s = stats();
        let fast = Threshold::parse("p99 < 200ms").unwrap();
        let strict = Threshold::parse("error_rate < 1%").unwrap();
        let out = evaluate(
            [
                (None, &fast),
                (Some("step a"), &strict),
                (Some("missing"), &strict),
            ],
            &s,
            |k| (k == "step a").then_some(&s),
            Duration::from_secs(1),
        );
        assert!(out[0].passed);
        assert!(!out[1].passed, "2% errors break < 1%");
        assert_eq!(out[1].scope.as_deref(), Some("step a"));
        assert!(out[2].passed, "a step without requests has no errors");
        assert!(!all_passed(&out));
    }
}
