//! Run comparison: the changes between a baseline run and a candidate, and which of
//! them are regressions beyond a threshold.
//!
//! Gated metrics (those that can fail a comparison):
//!
//! * latency p50, p90, p99 and p99.9: a regression when the candidate is slower by more
//!   than the threshold, relative to the baseline;
//! * achieved rate: a regression when it fell by more than the threshold;
//! * error rate: a regression when it grew by more than the threshold relative to the
//!   baseline *and* by at least [`ERROR_RATE_FLOOR`] in absolute terms, so that one stray
//!   error in an otherwise clean run does not fail a build.
//!
//! Requests, the latency maximum (a single sample) and service time are reported but
//! never gated; so is every other figure both results have ([`crate::figures`]: bytes,
//! connections, phases, server and generator CPU, a fleet's day).

use std::fmt;
use std::str::FromStr;

use crate::figures::{figures_of, Figure};
use crate::Percentiles;

/// An error-rate increase smaller than this (0.1 percentage point) is never a regression.
pub const ERROR_RATE_FLOOR: f64 = 0.001;

/// The figures of one run that a comparison looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFigures {
    /// Requests finished.
    pub requests: u64,
    /// (errors + timeouts) / requests.
    pub error_rate: f64,
    /// Requests finished per second.
    pub achieved_rate: f64,
    /// Latency (corrected in the open model, service time in the closed model).
    pub latency: Percentiles,
    /// Service time.
    pub service_time: Percentiles,
    /// True when latency is measured from the intended send time (open model).
    pub corrected: bool,
    /// True when the run was interrupted and holds partial results.
    pub aborted: bool,
    /// Every other figure the run has.
    pub others: Vec<(Figure, f64)>,
}

impl RunFigures {
    /// The figures of a result document.
    pub fn of(r: &stampede_result::RunResult) -> Self {
        let c = &r.summary.core;
        RunFigures {
            requests: c.requests,
            error_rate: c.error_rate,
            achieved_rate: c.achieved_rate,
            latency: c.latency_ms,
            service_time: c.service_time_ms,
            corrected: r.latency_model == "corrected",
            aborted: r.aborted,
            others: figures_of(r),
        }
    }
}

/// A relative change allowed before a metric counts as a regression.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Threshold(f64);

impl Threshold {
    /// A threshold from a fraction (0.1 is 10%); `None` unless finite and >= 0.
    pub fn from_fraction(f: f64) -> Option<Self> {
        (f.is_finite() && f >= 0.0).then_some(Threshold(f))
    }

    /// The threshold as a fraction (0.1 is 10%).
    pub fn fraction(self) -> f64 {
        self.0
    }
}

impl Default for Threshold {
    /// 10%.
    fn default() -> Self {
        Threshold(0.1)
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0 * 100.0)
    }
}

/// A threshold that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid threshold '{0}': expected a percentage such as 10% or 2.5%")]
pub struct ThresholdError(String);

impl FromStr for Threshold {
    type Err = ThresholdError;

    /// Parses a percentage with its `%` sign: `10%`, `2.5%`, `0%`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ThresholdError(s.to_string());
        let number = s.trim().strip_suffix('%').ok_or_else(err)?;
        let pct: f64 = number.trim().parse().map_err(|_| err())?;
        Threshold::from_fraction(pct / 100.0).ok_or_else(err)
    }
}

/// Which percentile of a latency distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantile {
    /// Median.
    P50,
    /// 90th percentile.
    P90,
    /// 99th percentile.
    P99,
    /// 99.9th percentile.
    P999,
    /// Largest value.
    Max,
}

impl Quantile {
    /// Every quantile, in report order.
    pub const ALL: [Quantile; 5] = [
        Quantile::P50,
        Quantile::P90,
        Quantile::P99,
        Quantile::P999,
        Quantile::Max,
    ];

    /// Short label: `p50`, `p99.9`, `max`.
    pub fn label(self) -> &'static str {
        match self {
            Quantile::P50 => "p50",
            Quantile::P90 => "p90",
            Quantile::P99 => "p99",
            Quantile::P999 => "p99.9",
            Quantile::Max => "max",
        }
    }

    fn of(self, p: &Percentiles) -> f64 {
        match self {
            Quantile::P50 => p.p50,
            Quantile::P90 => p.p90,
            Quantile::P99 => p.p99,
            Quantile::P999 => p.p999,
            Quantile::Max => p.max,
        }
    }
}

/// A compared metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Requests finished.
    Requests,
    /// (errors + timeouts) / requests, as a fraction.
    ErrorRate,
    /// Requests finished per second.
    AchievedRate,
    /// A latency percentile in milliseconds.
    Latency(Quantile),
    /// A service-time percentile in milliseconds.
    ServiceTime(Quantile),
    /// Another figure (never gated).
    Other(Figure),
}

impl Metric {
    /// True when a regression of this metric fails the comparison.
    pub fn is_gated(self) -> bool {
        match self {
            Metric::ErrorRate | Metric::AchievedRate => true,
            Metric::Latency(q) => q != Quantile::Max,
            Metric::Requests | Metric::ServiceTime(_) | Metric::Other(_) => false,
        }
    }

    /// True when a larger value is worse (latency, errors); false when a smaller one is
    /// (throughput) or when neither is (requests).
    pub fn higher_is_worse(self) -> bool {
        matches!(
            self,
            Metric::ErrorRate | Metric::Latency(_) | Metric::ServiceTime(_)
        )
    }
}

/// How one metric changed from the baseline to the candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    /// What was compared.
    pub metric: Metric,
    /// The baseline's value.
    pub before: f64,
    /// The candidate's value.
    pub after: f64,
    /// (after - before) / before; `None` when the baseline is zero, and for latency and
    /// service time when either run has no samples.
    pub relative: Option<f64>,
    /// True when the change is a gated regression beyond the threshold.
    pub regression: bool,
}

/// Something that makes a comparison less meaningful.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Caveat {
    /// One run's latency is corrected (open model) and the other's is service time.
    LatencyModelsDiffer,
    /// The baseline was interrupted.
    BaselineAborted,
    /// The candidate was interrupted.
    CandidateAborted,
    /// One of the runs finished no request.
    NoRequests,
    /// One of the runs finished requests but got no response (every one refused, reset
    /// or timed out), so it has no latency to compare.
    NoResponses,
}

impl Caveat {
    /// One sentence for people.
    pub fn explain(self) -> &'static str {
        match self {
            Caveat::LatencyModelsDiffer => {
                "the runs measure latency differently (open model corrected vs closed model service time)"
            }
            Caveat::BaselineAborted => "the baseline was interrupted and holds partial results",
            Caveat::CandidateAborted => "the candidate was interrupted and holds partial results",
            Caveat::NoRequests => "one of the runs finished no request",
            Caveat::NoResponses => {
                "one of the runs got no response, so its latency cannot be compared (n/a)"
            }
        }
    }
}

/// The result of comparing a candidate run against a baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The threshold used.
    pub threshold: Threshold,
    /// Every compared metric, in report order.
    pub changes: Vec<Change>,
    /// Reasons to read the comparison with care.
    pub caveats: Vec<Caveat>,
}

impl Comparison {
    /// The changes that are regressions.
    pub fn regressions(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.regression)
    }

    /// True when any gated metric regressed beyond the threshold.
    pub fn has_regression(&self) -> bool {
        self.changes.iter().any(|c| c.regression)
    }
}

/// False for the all-zero percentiles of a run without responses: a measured latency is
/// never 0 ms at the resolution kept.
fn has_samples(p: &Percentiles) -> bool {
    p.max > 0.0
}

fn relative(before: f64, after: f64) -> Option<f64> {
    (before != 0.0).then(|| (after - before) / before)
}

fn change(metric: Metric, before: f64, after: f64, t: Threshold) -> Change {
    let rel = relative(before, after);
    let t = t.fraction();
    let regression = metric.is_gated()
        && match metric {
            Metric::ErrorRate => after - before >= ERROR_RATE_FLOOR && after > before * (1.0 + t),
            Metric::AchievedRate => rel.is_some_and(|r| r < -t),
            _ => rel.is_some_and(|r| r > t),
        };
    Change {
        metric,
        before,
        after,
        relative: rel,
        regression,
    }
}

/// Compares `candidate` against `baseline`; see the module docs for what is gated.
pub fn compare(baseline: &RunFigures, candidate: &RunFigures, threshold: Threshold) -> Comparison {
    let (a, b) = (baseline, candidate);
    let mut changes = vec![
        change(
            Metric::Requests,
            a.requests as f64,
            b.requests as f64,
            threshold,
        ),
        change(Metric::ErrorRate, a.error_rate, b.error_rate, threshold),
        change(
            Metric::AchievedRate,
            a.achieved_rate,
            b.achieved_rate,
            threshold,
        ),
    ];
    let measured = has_samples(&a.latency) && has_samples(&b.latency);
    let timing = [
        (
            Metric::Latency as fn(Quantile) -> Metric,
            &a.latency,
            &b.latency,
        ),
        (Metric::ServiceTime, &a.service_time, &b.service_time),
    ];
    for (metric, before, after) in timing {
        for q in Quantile::ALL {
            let c = change(metric(q), q.of(before), q.of(after), threshold);
            changes.push(if measured {
                c
            } else {
                // Zeros standing for "no samples" are not a -100% change.
                Change {
                    relative: None,
                    regression: false,
                    ..c
                }
            });
        }
    }
    for (figure, before) in &a.others {
        if let Some((_, after)) = b.others.iter().find(|(f, _)| f == figure) {
            changes.push(change(Metric::Other(*figure), *before, *after, threshold));
        }
    }
    let mut caveats = Vec::new();
    if a.corrected != b.corrected {
        caveats.push(Caveat::LatencyModelsDiffer);
    }
    if a.aborted {
        caveats.push(Caveat::BaselineAborted);
    }
    if b.aborted {
        caveats.push(Caveat::CandidateAborted);
    }
    if a.requests == 0 || b.requests == 0 {
        caveats.push(Caveat::NoRequests);
    } else if !measured {
        caveats.push(Caveat::NoResponses);
    }
    Comparison {
        threshold,
        changes,
        caveats,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pct(base: f64) -> Percentiles {
        Percentiles {
            mean: base,
            p50: base,
            p90: base * 2.0,
            p99: base * 4.0,
            p999: base * 8.0,
            max: base * 16.0,
        }
    }

    fn run(latency: f64, error_rate: f64, rate: f64) -> RunFigures {
        RunFigures {
            requests: 10_000,
            error_rate,
            achieved_rate: rate,
            latency: pct(latency),
            service_time: pct(latency / 2.0),
            corrected: true,
            aborted: false,
            others: vec![(Figure::BytesSent, 5e5), (Figure::Elapsed, 10.0)],
        }
    }

    fn get(c: &Comparison, m: Metric) -> Change {
        *c.changes.iter().find(|x| x.metric == m).unwrap()
    }

    #[test]
    fn equal_runs_have_no_regression() {
        let a = run(3.0, 0.01, 1000.0);
        let c = compare(&a, &a, Threshold::default());
        assert!(!c.has_regression());
        assert!(c.caveats.is_empty());
        assert!(c.changes.iter().all(|x| x.relative == Some(0.0)));
        // Requests, error rate, rate, five latency and five service-time quantiles,
        // and the other figures both runs have.
        assert_eq!(c.changes.len(), 15);
    }

    #[test]
    fn slower_latency_beyond_threshold_regresses() {
        let a = run(3.0, 0.0, 1000.0);
        let b = run(3.5, 0.0, 1000.0); // +16.7%
        let c = compare(&a, &b, Threshold::default());
        let p99 = get(&c, Metric::Latency(Quantile::P99));
        assert!(p99.regression);
        assert!((p99.relative.unwrap() - 0.5 / 3.0).abs() < 1e-9);
        // Max and service time are reported, never gated.
        assert!(!get(&c, Metric::Latency(Quantile::Max)).regression);
        assert!(!get(&c, Metric::ServiceTime(Quantile::P99)).regression);
        assert_eq!(c.regressions().count(), 4);
        // The same change is within a 20% threshold.
        let c = compare(&a, &b, "20%".parse().unwrap());
        assert!(!c.has_regression());
    }

    #[test]
    fn faster_latency_is_not_a_regression() {
        let c = compare(
            &run(3.0, 0.0, 1000.0),
            &run(1.0, 0.0, 1000.0),
            Threshold::default(),
        );
        assert!(!c.has_regression());
    }

    #[test]
    fn throughput_regresses_when_it_falls() {
        let t = Threshold::default();
        assert!(compare(&run(3.0, 0.0, 1000.0), &run(3.0, 0.0, 850.0), t).has_regression());
        assert!(!compare(&run(3.0, 0.0, 1000.0), &run(3.0, 0.0, 950.0), t).has_regression());
        assert!(!compare(&run(3.0, 0.0, 1000.0), &run(3.0, 0.0, 2000.0), t).has_regression());
    }

    #[test]
    fn error_rate_needs_relative_and_absolute_growth() {
        let t = Threshold::default();
        // 0 -> 0.05%: below the absolute floor.
        assert!(!compare(&run(3.0, 0.0, 1e3), &run(3.0, 0.0005, 1e3), t).has_regression());
        // 0 -> 1%: a regression even though the relative change is undefined.
        let c = compare(&run(3.0, 0.0, 1e3), &run(3.0, 0.01, 1e3), t);
        assert!(get(&c, Metric::ErrorRate).regression);
        assert_eq!(get(&c, Metric::ErrorRate).relative, None);
        // 5% -> 5.2%: +4% relative, within the threshold.
        assert!(!compare(&run(3.0, 0.05, 1e3), &run(3.0, 0.052, 1e3), t).has_regression());
        // 5% -> 6%: +20% relative and +1 point.
        assert!(compare(&run(3.0, 0.05, 1e3), &run(3.0, 0.06, 1e3), t).has_regression());
    }

    #[test]
    fn zero_baseline_latency_is_not_compared() {
        let mut a = run(0.0, 0.0, 0.0);
        a.requests = 0;
        let c = compare(&a, &run(3.0, 0.0, 1e3), Threshold::default());
        assert!(!c.has_regression());
        assert_eq!(c.caveats, vec![Caveat::NoRequests]);
    }

    #[test]
    fn caveats_name_model_and_interruption() {
        let a = run(3.0, 0.0, 1e3);
        let mut b = a.clone();
        b.corrected = false;
        b.aborted = true;
        let c = compare(&a, &b, Threshold::default());
        assert_eq!(
            c.caveats,
            vec![Caveat::LatencyModelsDiffer, Caveat::CandidateAborted]
        );
    }

    #[test]
    fn other_figures_are_compared_when_both_runs_have_them() {
        let a = run(3.0, 0.0, 1e3);
        let mut b = a.clone();
        b.others = vec![(Figure::BytesSent, 1e6), (Figure::ServerCpu, 2.0)];
        let c = compare(&a, &b, Threshold::default());
        let bytes = get(&c, Metric::Other(Figure::BytesSent));
        assert_eq!(bytes.relative, Some(1.0));
        // Informative only: doubling the bytes is no regression.
        assert!(!bytes.regression && !c.has_regression());
        // Only one run has server CPU, only the other an elapsed time: no row.
        assert!(!c
            .changes
            .iter()
            .any(|x| matches!(x.metric, Metric::Other(Figure::ServerCpu | Figure::Elapsed))));
    }

    #[test]
    fn thresholds_parse_as_percentages() {
        assert_eq!("10%".parse::<Threshold>().unwrap().fraction(), 0.1);
        assert_eq!(" 2.5 % ".parse::<Threshold>().unwrap().fraction(), 0.025);
        assert_eq!("0%".parse::<Threshold>().unwrap().fraction(), 0.0);
        for bad in ["10", "-5%", "abc%", "%", "NaN%", "inf%"] {
            let e = bad.parse::<Threshold>().unwrap_err();
            assert!(e.to_string().contains("percentage"), "{bad}: {e}");
        }
        assert_eq!(Threshold::default().to_string(), "10%");
    }

    #[test]
    fn a_run_without_responses_has_no_latency_change() {
        let a = run(10.0, 0.0, 1000.0);
        let mut b = run(10.0, 1.0, 1000.0);
        b.latency = Percentiles::default();
        b.service_time = Percentiles::default();
        let cmp = compare(&a, &b, Threshold::default());
        let latency: Vec<&Change> = cmp
            .changes
            .iter()
            .filter(|c| matches!(c.metric, Metric::Latency(_) | Metric::ServiceTime(_)))
            .collect();
        assert_eq!(latency.len(), 10);
        assert!(latency
            .iter()
            .all(|c| c.relative.is_none() && !c.regression));
        assert!(cmp.caveats.contains(&Caveat::NoResponses));
        // The error rate still fails the comparison.
        assert_eq!(
            cmp.regressions().map(|c| c.metric).collect::<Vec<_>>(),
            [Metric::ErrorRate]
        );
        // And the other way round: a baseline without responses is not a +inf% change.
        let cmp = compare(&b, &a, Threshold::default());
        assert!(cmp.changes.iter().all(|c| !c.regression));
    }
}
