//! What a fault did to a run: for each fault of the timeline (`RunResult::faults`), the run
//! before, during and after it (rate, p50, p99, errors, timeouts), and how long after its
//! end p99 and the error rate were back within 10% of before.
//!
//! Computed from the document's own per-second series (`series[]`), so that a saved
//! `--out` file gives the same table: each phase merges its seconds' full latency
//! histograms (version 2), which makes its percentiles exact rather than averages of
//! per-second percentiles. A second is the interval `[t, t+1)` of the series; only whole
//! seconds are used: a second the fault switched on or off in belongs to no phase, and
//! seconds inside another fault belong to neither "before" nor "after" of this one. A
//! switch within [`EDGE_S`] (10 ms) of a second's boundary counts as at the boundary.
//! ("Before" is every such second before the fault, "after" every such second after it
//! up to the next fault or the end of sending.)

use stampede_metrics::LatencyHistogram;
use stampede_result::{FaultDoc, RunResult, SeriesPoint};

/// A phase's tolerance for "back to before": within 10%.
pub const RECOVERY_TOLERANCE: f64 = 0.10;

/// The run during one phase of a fault (before, during or after it).
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// First second of the phase (from the run's start).
    pub start_s: u64,
    /// The second after its last one.
    pub end_s: u64,
    /// Seconds the phase holds (other faults' seconds left out).
    pub seconds: u64,
    /// Requests finished.
    pub requests: u64,
    /// Requests finished per second.
    pub rate: f64,
    /// Median latency in ms; `None` without requests or without per-second histograms
    /// (a version-1 document).
    pub p50_ms: Option<f64>,
    /// 99th percentile latency in ms (same conditions as `p50_ms`).
    pub p99_ms: Option<f64>,
    /// Errors.
    pub errors: u64,
    /// Timeouts.
    pub timeouts: u64,
}

impl Phase {
    /// (errors + timeouts) / requests; `None` without requests.
    pub fn error_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| (self.errors + self.timeouts) as f64 / self.requests as f64)
    }
}

/// How long recovery took after a fault.
#[derive(Debug, Clone, PartialEq)]
pub enum Recovery {
    /// Back within 10% of before after this many whole seconds past the fault (0: the
    /// first whole second after it already was).
    After {
        /// Whole seconds after the fault still outside the bounds.
        seconds: u64,
    },
    /// No second after the fault had p99 and error rate within 10% of before.
    NotRecovered,
    /// The fault was still on when the run ended.
    StillOn,
    /// Nothing to compare: the reason in words (no requests before it, none after it).
    NoData(&'static str),
}

impl std::fmt::Display for Recovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recovery::After { seconds: 0 } => {
                write!(f, "recovered in the first second after the fault")
            }
            Recovery::After { seconds } => write!(f, "recovered after {seconds} s"),
            Recovery::NotRecovered => write!(f, "not recovered by the end of the run"),
            Recovery::StillOn => write!(f, "fault still on at the end of the run"),
            Recovery::NoData(why) => write!(f, "recovery not judged: {why}"),
        }
    }
}

/// One fault and what it did.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultImpact {
    /// The fault as recorded.
    pub fault: FaultDoc,
    /// The whole seconds before it (outside other faults); `None` when there are none.
    pub before: Option<Phase>,
    /// The whole seconds inside it; `None` when it lasted less than one whole second.
    pub during: Option<Phase>,
    /// The whole seconds after it, up to the next fault or the end; `None` when none.
    pub after: Option<Phase>,
    /// How long until p99 and the error rate were back within 10% of the worst second
    /// before the fault.
    pub recovery: Recovery,
}

/// The impact of every fault of `result`, in its order.
pub fn fault_impacts(result: &RunResult) -> Vec<FaultImpact> {
    // Whole seconds of sending only: the drain after it is not a second of the run.
    let last = result.summary.elapsed_s.round() as u64;
    let seconds: Vec<&SeriesPoint> = result.series.iter().filter(|p| p.t < last).collect();
    let windows: Vec<(f64, f64)> = result
        .faults
        .iter()
        .map(|f| (snap(f.start_s), f.end_s.map_or(f64::INFINITY, snap)))
        .collect();
    let touches = |t: u64, (start, end): (f64, f64)| (t as f64) < end && (t + 1) as f64 > start;
    result
        .faults
        .iter()
        .enumerate()
        .map(|(i, fault)| {
            let (start, end) = windows[i];
            let elsewhere = |t: u64| {
                windows
                    .iter()
                    .enumerate()
                    .any(|(j, &w)| j != i && touches(t, w))
            };
            let next_start = windows
                .iter()
                .map(|w| w.0)
                .filter(|&s| s >= end)
                .fold(f64::INFINITY, f64::min);
            let pick = |keep: &dyn Fn(u64) -> bool| -> Vec<&SeriesPoint> {
                seconds.iter().copied().filter(|p| keep(p.t)).collect()
            };
            let before = pick(&|t| (t + 1) as f64 <= start && !elsewhere(t));
            let during = pick(&|t| t as f64 >= start && (t + 1) as f64 <= end);
            let after = pick(&|t| t as f64 >= end && (t as f64) < next_start && !elsewhere(t));
            let recovery = match phase(&before) {
                _ if fault.end_s.is_none() => Recovery::StillOn,
                None => Recovery::NoData("no whole second before the fault"),
                Some(b) if b.requests == 0 => {
                    Recovery::NoData("no request finished before the fault")
                }
                Some(_) => recovery(&before, &after),
            };
            FaultImpact {
                fault: fault.clone(),
                before: phase(&before),
                during: phase(&during),
                after: phase(&after),
                recovery,
            }
        })
        .collect()
}

/// A switch this close to a second's boundary counts as at the boundary: the timer that
/// switches faults is a millisecond or two late, and a fault asked for at 2 s should not
/// lose its first whole second to that.
pub const EDGE_S: f64 = 0.010;

fn snap(t: f64) -> f64 {
    if (t - t.round()).abs() <= EDGE_S {
        t.round()
    } else {
        t
    }
}

/// The phase made of `points` (`None` when there are none).
fn phase(points: &[&SeriesPoint]) -> Option<Phase> {
    let (first, last) = (points.first()?, points.last()?);
    let requests: u64 = points.iter().map(|p| p.requests).sum();
    let mut latency = LatencyHistogram::new();
    let mut complete = true;
    for p in points {
        match p
            .histograms
            .as_ref()
            .map(|h| LatencyHistogram::from_v2_base64(&h.latency))
        {
            Some(Ok(h)) => latency.merge(&h),
            _ => complete = false,
        }
    }
    let quantile = |q: f64| (complete && !latency.is_empty()).then(|| latency.quantile_ms(q));
    let seconds = points.len() as u64;
    Some(Phase {
        start_s: first.t,
        end_s: last.t + 1,
        seconds,
        requests,
        rate: requests as f64 / seconds as f64,
        p50_ms: quantile(0.5),
        p99_ms: quantile(0.99),
        errors: points.iter().map(|p| p.errors).sum(),
        timeouts: points.iter().map(|p| p.timeouts).sum(),
    })
}

/// The first second of `after` whose p99 and error rate are within
/// [`RECOVERY_TOLERANCE`] of the worst second of `before`, counted in whole seconds after
/// the fault. The worst second before is the bound because one second's p99 varies from
/// second to second even when nothing is wrong: "as good as the run was before" is that
/// band, not one number.
fn recovery(before: &[&SeriesPoint], after: &[&SeriesPoint]) -> Recovery {
    let Some(first) = after.first() else {
        return Recovery::NoData("no whole second after the fault");
    };
    if after.iter().all(|p| p.requests == 0) {
        return Recovery::NoData("no request finished after the fault");
    }
    let answered: Vec<&&SeriesPoint> = before.iter().filter(|p| p.requests > 0).collect();
    let bound = 1.0 + RECOVERY_TOLERANCE;
    let p99_before = answered
        .iter()
        .map(|p| p.latency_ms.p99)
        .fold(0.0, f64::max);
    let error_rate = |p: &SeriesPoint| (p.errors + p.timeouts) as f64 / p.requests as f64;
    let errors_before = answered.iter().map(|p| error_rate(p)).fold(0.0, f64::max);
    after
        .iter()
        .find(|p| {
            p.requests > 0
                && p.latency_ms.p99 <= p99_before * bound
                && error_rate(p) <= errors_before * bound
        })
        .map_or(Recovery::NotRecovered, |p| Recovery::After {
            seconds: p.t - first.t,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use stampede_result::{PointHistograms, PointPercentiles};

    /// A second with `n` requests of `ms` each and `errors` of them failed.
    fn second(t: u64, n: u64, ms: u64, errors: u64) -> SeriesPoint {
        let mut h = LatencyHistogram::new();
        for _ in 0..n {
            h.record_us(ms * 1000);
        }
        let p = PointPercentiles {
            p50: h.quantile_ms(0.5),
            p90: h.quantile_ms(0.9),
            p99: h.quantile_ms(0.99),
            max: h.max_ms(),
        };
        SeriesPoint {
            t,
            requests: n,
            errors,
            timeouts: 0,
            sends: n,
            target_rate: None,
            late_sends: 0,
            dropped: 0,
            latency_ms: p,
            service_time_ms: p,
            histograms: Some(PointHistograms {
                latency: h.to_v2_base64(),
                service_time: h.to_v2_base64(),
            }),
        }
    }

    fn fault(start_s: f64, end_s: Option<f64>) -> FaultDoc {
        FaultDoc {
            kind: "latency".into(),
            spec: "latency 200ms".into(),
            target: "proxy".into(),
            start_s,
            end_s,
        }
    }

    fn run(series: Vec<SeriesPoint>, faults: Vec<FaultDoc>) -> RunResult {
        let text = include_str!("../../result/tests/fixtures/v1-result.json");
        let mut r = RunResult::from_json(text).unwrap();
        r.summary.elapsed_s = series.len() as f64 + 0.004;
        r.series = series;
        r.faults = faults;
        r
    }

    #[test]
    fn phases_split_on_whole_seconds_and_latency_rises_only_during() {
        // 10 ms, then 210 ms in seconds 2 and 3; the fault is on from 2.2 to 4.3, so
        // seconds 2 and 4 are partly inside it and belong to no phase.
        let series = (0..7)
            .map(|t| second(t, 100, if (2..4).contains(&t) { 210 } else { 10 }, 0))
            .collect();
        let impacts = fault_impacts(&run(series, vec![fault(2.2, Some(4.3))]));
        let i = &impacts[0];
        let before = i.before.as_ref().unwrap();
        // Second 2 starts before the fault switched on: in no phase.
        assert_eq!((before.start_s, before.end_s, before.seconds), (0, 2, 2));
        let during = i.during.as_ref().unwrap();
        assert_eq!((during.start_s, during.end_s), (3, 4));
        let after = i.after.as_ref().unwrap();
        // Second 4 starts at 4.0 < 4.3: not a whole second after; 5 and 6 are.
        assert_eq!((after.start_s, after.end_s, after.seconds), (5, 7, 2));
        assert_eq!(before.rate, 100.0);
        assert!((before.p99_ms.unwrap() - 10.0).abs() < 0.1);
        assert!((during.p99_ms.unwrap() - 210.0).abs() < 1.0);
        assert!((after.p99_ms.unwrap() - 10.0).abs() < 0.1);
        assert_eq!(i.recovery, Recovery::After { seconds: 0 });
    }

    #[test]
    fn a_switch_a_few_milliseconds_late_keeps_its_seconds() {
        let series = (0..7).map(|t| second(t, 10, 10, 0)).collect();
        let i = &fault_impacts(&run(series, vec![fault(2.002, Some(4.008))]))[0];
        assert_eq!(i.during.as_ref().unwrap().start_s, 2);
        assert_eq!(i.after.as_ref().unwrap().start_s, 4);
        let series = (0..7).map(|t| second(t, 10, 10, 0)).collect();
        let i = &fault_impacts(&run(series, vec![fault(2.02, Some(4.02))]))[0];
        assert_eq!(i.during.as_ref().unwrap().start_s, 3);
        assert_eq!(i.after.as_ref().unwrap().start_s, 5);
    }

    #[test]
    fn recovery_counts_the_seconds_still_out_of_bounds() {
        // Errors go on for two seconds after the fault ended at 3.0.
        let series = (0..8)
            .map(|t| match t {
                0..=2 => second(t, 100, 10, 0),
                3..=4 => second(t, 100, 10, 30),
                _ => second(t, 100, 10, 0),
            })
            .collect();
        let i = &fault_impacts(&run(series, vec![fault(2.0, Some(3.0))]))[0];
        assert_eq!(i.during.as_ref().unwrap().errors, 0);
        assert_eq!(i.after.as_ref().unwrap().errors, 60);
        assert_eq!(i.recovery, Recovery::After { seconds: 2 });
        assert_eq!(i.recovery.to_string(), "recovered after 2 s");
    }

    #[test]
    fn recovery_is_judged_against_the_worst_second_before() {
        // Before: p99 10 ms and 14 ms; after: 15 ms (within 10% of 14), so recovered.
        let ms = [10, 14, 300, 15, 15];
        let series = (0..5).map(|t| second(t, 100, ms[t as usize], 0)).collect();
        let i = &fault_impacts(&run(series, vec![fault(2.0, Some(3.0))]))[0];
        assert_eq!(i.recovery, Recovery::After { seconds: 0 });
        // 16 ms is more than 10% above the worst second before.
        let ms = [10, 14, 300, 16, 16];
        let series = (0..5).map(|t| second(t, 100, ms[t as usize], 0)).collect();
        let i = &fault_impacts(&run(series, vec![fault(2.0, Some(3.0))]))[0];
        assert_eq!(i.recovery, Recovery::NotRecovered);
    }

    #[test]
    fn not_recovered_still_on_and_no_data_are_said() {
        let slow_after = (0..5)
            .map(|t| second(t, 50, if t < 2 { 10 } else { 100 }, 0))
            .collect();
        let i = &fault_impacts(&run(slow_after, vec![fault(2.0, Some(3.0))]))[0];
        assert_eq!(i.recovery, Recovery::NotRecovered);
        assert_eq!(
            i.recovery.to_string(),
            "not recovered by the end of the run"
        );

        let series: Vec<_> = (0..5).map(|t| second(t, 50, 10, 0)).collect();
        let i = &fault_impacts(&run(series.clone(), vec![fault(2.0, None)]))[0];
        assert_eq!(i.recovery, Recovery::StillOn);
        assert!(i.after.is_none());

        let i = &fault_impacts(&run(series.clone(), vec![fault(0.0, Some(1.0))]))[0];
        assert!(i.before.is_none());
        assert!(matches!(i.recovery, Recovery::NoData(_)));

        let idle: Vec<_> = (0..5).map(|t| second(t, 0, 10, 0)).collect();
        let i = &fault_impacts(&run(idle, vec![fault(2.0, Some(3.0))]))[0];
        assert_eq!(
            i.before.as_ref().unwrap().p99_ms,
            None,
            "no claim from no data"
        );
        assert_eq!(i.before.as_ref().unwrap().error_rate(), None);
        assert!(matches!(i.recovery, Recovery::NoData(_)));

        // A fault shorter than a second has no "during" phase.
        let i = &fault_impacts(&run(series, vec![fault(2.2, Some(2.7))]))[0];
        assert!(i.during.is_none());
    }

    #[test]
    fn other_faults_are_left_out_of_before_and_after() {
        let series = (0..10).map(|t| second(t, 10, 10, 0)).collect();
        let faults = vec![fault(2.0, Some(4.0)), fault(6.0, Some(8.0))];
        let impacts = fault_impacts(&run(series, faults));
        let first_after = impacts[0].after.as_ref().unwrap();
        assert_eq!((first_after.start_s, first_after.end_s), (4, 6));
        let second_before = impacts[1].before.as_ref().unwrap();
        assert_eq!(
            second_before.seconds, 4,
            "0, 1, 4, 5: not the first fault's seconds"
        );
        let second_after = impacts[1].after.as_ref().unwrap();
        assert_eq!((second_after.start_s, second_after.end_s), (8, 10));
    }

    #[test]
    fn version_1_seconds_give_no_percentiles() {
        let mut series: Vec<_> = (0..5).map(|t| second(t, 10, 10, 0)).collect();
        series[0].histograms = None;
        let i = &fault_impacts(&run(series, vec![fault(2.0, Some(3.0))]))[0];
        let before = i.before.as_ref().unwrap();
        assert_eq!(before.requests, 20);
        assert_eq!(before.p99_ms, None);
    }
}
