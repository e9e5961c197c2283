//! One step's verdict from its own window: did every SLO hold, did the service keep up,
//! and could the generator send what was offered? Pure: unit-tested on constructed data.
//!
//! The order matters. A failed SLO is the service's failure unless the generator's own
//! lateness accounts for it: latency counts from the intended send time, so a latency
//! SLO that would hold with the send lag taken off says nothing about the service. When
//! the SLOs hold, a shortfall of *sends* (dropped for want of a free connection, or not
//! sent at all) is the generator's limit, while a shortfall of *responses* with every
//! request sent is the service not keeping up: a normal failing step. A pass with every
//! request sent stands even when sends were late: lateness only makes latency look worse.

use std::time::Duration;

use stampede_analysis::thresholds::{evaluate, ThresholdOutcome};
use stampede_metrics::Stats;
use stampede_plan::Threshold;
use stampede_result::GeneratorWarning;

use crate::controller::StepOutcome;

/// The share of the offered rate a step must achieve (and send) to count as driven.
pub const ACHIEVED_SHARE: f64 = 0.98;
/// A window needs at least this many one-second samples to be judged stable.
pub const MIN_SAMPLES: usize = 5;
/// The largest coefficient of variation of the per-second throughput of a stable window.
pub const MAX_CV: f64 = 0.25;

/// What a step's window measured.
#[derive(Debug, Clone, Copy)]
pub struct StepFacts<'a> {
    /// The rate offered (requests or journeys per second).
    pub offered: f64,
    /// Seconds of sending in the window.
    pub seconds: u64,
    /// Everything measured in the window.
    pub stats: &'a Stats,
    /// Arrivals sent (journeys started) in the window.
    pub sends: u64,
    /// Arrivals dropped for want of a free connection (or virtual user).
    pub dropped: u64,
    /// Whether the offered rate counts requests (else journeys, several requests each:
    /// the service's achieved rate is then judged by sends, not responses).
    pub per_request: bool,
    /// The window's generator warnings, with their causes.
    pub warnings: &'a [GeneratorWarning],
    /// The connection (or virtual-user) cap, to name it when it was reached.
    pub max_connections: Option<usize>,
    /// The p99 of how late sends left (ms): how much of the latency is the generator's.
    pub send_lag_p99_ms: f64,
}

/// A step's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// Pass, fail, or generator-limited.
    pub outcome: StepOutcome,
    /// Every SLO as judged over the window.
    pub slos: Vec<ThresholdOutcome>,
    /// Why it failed or could not be judged, in words.
    pub reason: Option<String>,
    /// Responses (or journeys started) per second in the window.
    pub achieved: f64,
}

/// The coefficient of variation of per-second samples, and whether they make a stable
/// window (at least [`MIN_SAMPLES`], CV at most [`MAX_CV`]).
pub fn stability(per_second: &[u64]) -> (Option<f64>, bool) {
    let n = per_second.len();
    if n < 2 {
        return (None, false);
    }
    let mean = per_second.iter().sum::<u64>() as f64 / n as f64;
    if mean == 0.0 {
        return (None, false);
    }
    let var = per_second
        .iter()
        .map(|&x| (x as f64 - mean).powi(2))
        .sum::<f64>()
        / (n - 1) as f64;
    let cv = var.sqrt() / mean;
    (Some(cv), n >= MIN_SAMPLES && cv <= MAX_CV)
}

/// Judges a step on its window against the SLOs.
pub fn judge(slos: &[Threshold], f: &StepFacts<'_>) -> Judgement {
    let secs = f.seconds.max(1) as f64;
    let outcomes = evaluate(
        slos.iter().map(|t| (None, t)),
        f.stats,
        |_| None,
        Duration::from_secs(f.seconds),
        0,
    );
    let achieved = if f.per_request {
        f.stats.requests as f64 / secs
    } else {
        f.sends as f64 / secs
    };
    let scheduled = f.offered * secs;
    let sent_share = if scheduled > 0.0 {
        f.sends as f64 / scheduled
    } else {
        1.0
    };
    let verdict = |outcome, reason: Option<String>| Judgement {
        outcome,
        slos: outcomes.clone(),
        reason,
        achieved,
    };
    // Latency counts from the intended send time, so a generator that sent late makes
    // the service look slower by up to its send lag. A failed latency SLO is the
    // service's only when it still fails with the send lag taken off.
    type Failed<'a> = Vec<(&'a ThresholdOutcome, &'a Threshold)>;
    let (service, lag_explained): (Failed<'_>, Failed<'_>) = outcomes
        .iter()
        .zip(slos)
        .filter(|(o, _)| !o.passed)
        .partition(|(o, t)| match o.observed {
            Some(v) if t.metric.is_latency() => !t.holds((v - f.send_lag_p99_ms).max(0.0)),
            _ => true,
        });
    if !service.is_empty() {
        let mut reason: Vec<String> = service.iter().map(|(o, _)| describe(o)).collect();
        if f.dropped > 0 {
            reason.push(format!(
                "{} arrivals dropped with every connection busy",
                f.dropped
            ));
        }
        return verdict(StepOutcome::Fail, Some(reason.join("; ")));
    }
    if !lag_explained.is_empty() {
        let failed: Vec<String> = lag_explained.iter().map(|(o, _)| describe(o)).collect();
        let mut why = format!(
            "{}, but the generator's send lag (p99 {:.2} ms) accounts for it",
            failed.join("; "),
            f.send_lag_p99_ms
        );
        for w in f.warnings {
            why.push_str("; ");
            why.push_str(&w.explain());
        }
        return verdict(StepOutcome::GeneratorLimited, Some(why));
    }
    if sent_share < ACHIEVED_SHARE {
        return verdict(
            StepOutcome::GeneratorLimited,
            Some(generator_reason(f, scheduled)),
        );
    }
    if achieved < ACHIEVED_SHARE * f.offered {
        return verdict(
            StepOutcome::Fail,
            Some(format!(
                "achieved {achieved:.0} of {:.0} offered per second: the service did not keep up",
                f.offered
            )),
        );
    }
    verdict(StepOutcome::Pass, None)
}

/// A failed SLO with what was observed.
fn describe(o: &ThresholdOutcome) -> String {
    match o.observed {
        None => format!("{}: no data", o.label()),
        Some(v) if o.threshold.contains('%') => {
            format!("{} (observed {:.2}%)", o.label(), v * 100.0)
        }
        Some(v) => format!("{} (observed {v:.2})", o.label()),
    }
}

/// Why the generator could not drive a step.
fn generator_reason(f: &StepFacts<'_>, scheduled: f64) -> String {
    let sent = format!(
        "sent {} of {:.0} scheduled ({:.1}%)",
        f.sends,
        scheduled,
        100.0 * f.sends as f64 / scheduled.max(1.0)
    );
    if f.dropped as f64 >= 0.5 * (scheduled - f.sends as f64).max(1.0) && f.dropped > 0 {
        let cap = f
            .max_connections
            .map_or("every".to_string(), |m| format!("all {m}"));
        let p50 = f.stats.latency.quantile_ms(0.5);
        return format!(
            "no free connection: {} arrivals dropped with {cap} connections busy waiting for \
             responses (latency p50 {p50:.1} ms), {sent}; raise --max-connections, or add a \
             latency SLO that fails first",
            f.dropped
        );
    }
    let why: Vec<String> = f.warnings.iter().map(GeneratorWarning::explain).collect();
    if why.is_empty() {
        sent
    } else {
        format!("{sent}: {}", why.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stampede_result::{LagEffect, WarningCause, WarningKind};

    fn stats(requests: u64, errors: u64, latency_ms: u64) -> Stats {
        let mut s = Stats::new();
        for i in 0..requests {
            if i < errors {
                s.record_response(503, Duration::from_millis(1), Duration::from_millis(1));
            } else {
                let l = Duration::from_millis(latency_ms);
                s.record_response(200, l, l);
            }
        }
        s
    }

    fn facts<'a>(
        stats: &'a Stats,
        sends: u64,
        dropped: u64,
        warnings: &'a [GeneratorWarning],
    ) -> StepFacts<'a> {
        StepFacts {
            offered: 1000.0,
            seconds: 5,
            stats,
            sends,
            dropped,
            per_request: true,
            warnings,
            max_connections: Some(1000),
            send_lag_p99_ms: 0.0,
        }
    }

    fn slos(texts: &[&str]) -> Vec<Threshold> {
        texts.iter().map(|t| Threshold::parse(t).unwrap()).collect()
    }

    #[test]
    fn a_step_that_holds_passes() {
        let s = stats(5000, 10, 20);
        let j = judge(
            &slos(&["p99 < 100ms", "error_rate < 1%"]),
            &facts(&s, 5000, 0, &[]),
        );
        assert_eq!(j.outcome, StepOutcome::Pass, "{j:?}");
        assert_eq!(j.achieved, 1000.0);
    }

    #[test]
    fn a_broken_slo_fails_and_names_it() {
        let s = stats(5000, 100, 20);
        let j = judge(
            &slos(&["p99 < 100ms", "error_rate < 1%"]),
            &facts(&s, 5000, 0, &[]),
        );
        assert_eq!(j.outcome, StepOutcome::Fail);
        let reason = j.reason.unwrap();
        assert!(
            reason.contains("error_rate < 1% (observed 2.00%)"),
            "{reason}"
        );
        assert!(!reason.contains("p99"), "{reason}");
    }

    #[test]
    fn a_criterion_without_data_is_not_met() {
        let s = Stats::new();
        let j = judge(&slos(&["p99 < 100ms"]), &facts(&s, 5000, 0, &[]));
        assert_eq!(j.outcome, StepOutcome::Fail);
        assert!(j.reason.unwrap().contains("no data"));
    }

    #[test]
    fn responses_short_of_the_offered_rate_are_the_service_failing() {
        // Everything sent, only 90% answered within the window.
        let s = stats(4500, 0, 20);
        let j = judge(&slos(&["error_rate < 1%"]), &facts(&s, 5000, 0, &[]));
        assert_eq!(j.outcome, StepOutcome::Fail);
        assert!(j.reason.unwrap().contains("did not keep up"));
    }

    #[test]
    fn sends_short_of_the_schedule_are_the_generators_limit() {
        let s = stats(4000, 0, 1);
        let busy = [GeneratorWarning {
            kind: WarningKind::CpuSaturated { busiest: 0.99 },
            cause: WarningCause::GeneratorSaturated,
            effect: None,
        }];
        let j = judge(&slos(&["error_rate < 1%"]), &facts(&s, 4000, 0, &busy));
        assert_eq!(j.outcome, StepOutcome::GeneratorLimited);
        let reason = j.reason.unwrap();
        assert!(
            reason.contains("sent 4000 of 5000 scheduled (80.0%)"),
            "{reason}"
        );
        assert!(reason.contains("99%"), "{reason}");
    }

    #[test]
    fn drops_without_a_failed_slo_name_the_connection_cap() {
        let s = stats(4000, 0, 900);
        let j = judge(&slos(&["error_rate < 1%"]), &facts(&s, 4000, 1000, &[]));
        assert_eq!(j.outcome, StepOutcome::GeneratorLimited);
        assert!(j
            .reason
            .unwrap()
            .contains("no free connection: 1000 arrivals dropped with all 1000 connections busy"));
        // With a latency SLO, the slow service fails first: its failure, drops noted.
        let j = judge(&slos(&["p99 < 200ms"]), &facts(&s, 4000, 1000, &[]));
        assert_eq!(j.outcome, StepOutcome::Fail);
        assert!(j.reason.unwrap().contains("1000 arrivals dropped"));
    }

    #[test]
    fn a_latency_failure_caused_by_late_sends_is_not_the_services() {
        let s = stats(5000, 0, 300);
        let late = [GeneratorWarning {
            kind: WarningKind::LateSends { fraction: 0.4 },
            cause: WarningCause::CpuContention,
            effect: LagEffect::new(250.0, 300.0),
        }];
        let lag = |ms| StepFacts {
            send_lag_p99_ms: ms,
            ..facts(&s, 5000, 0, &late)
        };
        let j = judge(&slos(&["p99 < 200ms"]), &lag(250.0));
        assert_eq!(j.outcome, StepOutcome::GeneratorLimited);
        let reason = j.reason.unwrap();
        assert!(
            reason.contains("send lag (p99 250.00 ms) accounts for it"),
            "{reason}"
        );
        assert!(reason.contains("CPU contention"), "{reason}");
        // A lag too small to explain the failure: the service failed.
        let j = judge(&slos(&["p99 < 200ms"]), &lag(20.0));
        assert_eq!(j.outcome, StepOutcome::Fail);
        // Late sends under a passing SLO with everything sent: the pass stands.
        let j = judge(&slos(&["p99 < 400ms"]), &lag(250.0));
        assert_eq!(j.outcome, StepOutcome::Pass);
    }

    #[test]
    fn stability_needs_five_calm_seconds() {
        assert!(!stability(&[1000, 1000, 1000, 1000]).1);
        assert!(stability(&[1000, 990, 1010, 1000, 1005]).1);
        let (cv, stable) = stability(&[1000, 100, 1000, 100, 1000]);
        assert!(!stable && cv.unwrap() > 0.25);
        assert_eq!(stability(&[0, 0, 0, 0, 0]), (None, false));
    }
}
