//! Is the load generator itself the bottleneck? Checks over its self-observation.
//!
//! Each warning names its cause, because the remedy differs: `generator_saturated`
//! (stampede's own work: busy workers, drops for want of a connection; add threads,
//! cores or machines) or `cpu_contention` (its threads were runnable but other
//! processes had the CPU: run-queue wait or steal time; use a quieter machine). A late
//! send also says what it did to the result: how much of the latency p99 the send lag
//! can account for. A lag that is negligible against the measured latency is no warning.

pub use stampede_result::{GeneratorWarning, LagEffect, WarningCause, WarningKind};

/// A worker thread busier than this share of the wall clock is saturated.
pub const BUSY_LIMIT: f64 = 0.9;
/// More late sends than this share of all sends means the schedule was not kept.
pub const LATE_LIMIT: f64 = 0.01;
/// Workers that waited for a CPU this share of the time they were runnable (or a
/// machine that lost this share to steal) were slowed by other processes.
pub const CONTENTION_LIMIT: f64 = 0.2;
pub use stampede_result::NEGLIGIBLE_LAG;

/// What the generator knows about itself after a run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GeneratorFacts {
    /// True for the open model (there is a schedule to keep).
    pub open_model: bool,
    /// Requests sent with an intended time (the only ones that can be late).
    pub sends: u64,
    /// Sends that left late.
    pub late_sends: u64,
    /// Scheduled requests never sent.
    pub dropped: u64,
    /// Each worker thread's CPU time divided by the run's wall time.
    pub worker_busy: Vec<f64>,
    /// Open model: the send lag's p99 in ms.
    pub send_lag_p99_ms: Option<f64>,
    /// The run's latency p99 in ms (`None` without a response).
    pub latency_p99_ms: Option<f64>,
    /// CPU the workers wanted and did not get, when the OS reports it.
    pub contention: Option<ContentionFacts>,
}

/// How much CPU other processes took from the generator's threads.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ContentionFacts {
    /// The workers' run-queue wait divided by their runnable time (wait + on CPU), 0..1.
    pub run_queue_share: f64,
    /// Steal time divided by all CPU time of the machine during the run, 0..1.
    pub steal_share: f64,
}

impl ContentionFacts {
    /// True when other processes (or the hypervisor) kept the workers off the CPU.
    pub fn contended(&self) -> bool {
        self.run_queue_share >= CONTENTION_LIMIT || self.steal_share >= CONTENTION_LIMIT
    }
}

/// The share of each worker thread's wall time that sending every scheduled request
/// would have taken, at the CPU cost per send measured: above 1, more than the threads
/// could do even with the CPU to themselves.
pub fn needed_share(facts: &GeneratorFacts) -> f64 {
    let threads = facts.worker_busy.len();
    if facts.sends == 0 || threads == 0 {
        return 0.0;
    }
    let busy: f64 = facts.worker_busy.iter().sum();
    busy * (facts.sends + facts.dropped) as f64 / facts.sends as f64 / threads as f64
}

/// Returns every sign that the generator, not the target, limited the result, each with
/// its cause; late sends whose lag is negligible against the latency are left out.
pub fn check_generator(facts: &GeneratorFacts) -> Vec<GeneratorWarning> {
    let mut out = Vec::new();
    let busiest = facts.worker_busy.iter().copied().fold(0.0, f64::max);
    let saturated = busiest >= BUSY_LIMIT;
    // Its own work held it back when keeping the schedule would take more than a busy
    // worker's share of a core: CPU per send so far times every send scheduled
    // (those dropped too), however much CPU others left it.
    let own_work = saturated || needed_share(facts) >= BUSY_LIMIT;
    let contended = facts.contention.is_some_and(|c| c.contended());
    let effect = match (
        facts.open_model,
        facts.send_lag_p99_ms,
        facts.latency_p99_ms,
    ) {
        (true, Some(lag), Some(latency)) => LagEffect::new(lag, latency),
        _ => None,
    };
    // Under contention, the others' CPU use is why it fell behind only when its own
    // work did not already hold it back.
    let cause = if contended && !own_work {
        WarningCause::CpuContention
    } else {
        WarningCause::GeneratorSaturated
    };
    if saturated {
        out.push(GeneratorWarning {
            kind: WarningKind::CpuSaturated { busiest },
            cause: WarningCause::GeneratorSaturated,
            effect,
        });
    }
    if facts.open_model && facts.sends > 0 {
        let fraction = facts.late_sends as f64 / facts.sends as f64;
        let negligible = effect.is_some_and(|e| e.is_negligible());
        if fraction > LATE_LIMIT && !negligible {
            out.push(GeneratorWarning {
                kind: WarningKind::LateSends { fraction },
                cause,
                effect,
            });
        }
    }
    if facts.dropped > 0 {
        out.push(GeneratorWarning {
            kind: WarningKind::Dropped {
                count: facts.dropped,
            },
            cause: WarningCause::GeneratorSaturated,
            effect: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn late(busy: f64, lag: f64, latency: f64, contention: Option<f64>) -> GeneratorFacts {
        GeneratorFacts {
            open_model: true,
            sends: 1000,
            late_sends: 27,
            dropped: 0,
            worker_busy: vec![busy, busy / 2.0],
            send_lag_p99_ms: Some(lag),
            latency_p99_ms: Some(latency),
            contention: contention.map(|run_queue_share| ContentionFacts {
                run_queue_share,
                steal_share: 0.0,
            }),
        }
    }

    #[test]
    fn healthy_generator_has_no_warnings() {
        let f = GeneratorFacts {
            open_model: true,
            sends: 1000,
            late_sends: 5,
            dropped: 0,
            worker_busy: vec![0.3, 0.4],
            ..Default::default()
        };
        assert!(check_generator(&f).is_empty());
    }

    #[test]
    fn each_limit_warns() {
        let f = GeneratorFacts {
            open_model: true,
            sends: 1000,
            late_sends: 50,
            dropped: 3,
            worker_busy: vec![0.95, 0.4],
            ..Default::default()
        };
        let w = check_generator(&f);
        assert_eq!(w.len(), 3);
        assert!(w[0].explain().contains("95%"));
        assert!(w[1].explain().contains("5.0%"));
        assert!(w[2].explain().contains("3 scheduled"));
        assert!(w
            .iter()
            .all(|w| w.cause == WarningCause::GeneratorSaturated));
    }

    #[test]
    fn idle_workers_kept_off_the_cpu_is_contention() {
        // The issue's case: workers 2% busy, 2.7% late, lag p99 1.02 ms of a 1.42 ms p99.
        let w = check_generator(&late(0.02, 1.02, 1.42, Some(0.45)));
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].cause, WarningCause::CpuContention);
        let e = w[0].effect.unwrap();
        assert!((e.share_of_p99 - 1.02 / 1.42).abs() < 1e-12);
        let text = w[0].explain();
        assert!(text.contains("CPU contention"), "{text}");
        assert!(text.contains("72% of latency p99"), "{text}");
        assert!(text.contains("quieter machine"), "{text}");
    }

    #[test]
    fn a_busy_generator_is_saturated_even_when_contended() {
        let w = check_generator(&late(0.97, 5.0, 6.0, Some(0.45)));
        assert_eq!(w.len(), 2);
        assert!(w
            .iter()
            .all(|w| w.cause == WarningCause::GeneratorSaturated));
        assert!(w[1].explain().contains("add --threads"));
        // Without contention, late sends of a half-busy generator are its own.
        let w = check_generator(&late(0.5, 5.0, 6.0, Some(0.01)));
        assert_eq!(w[0].cause, WarningCause::GeneratorSaturated);
        let w = check_generator(&late(0.5, 5.0, 6.0, None));
        assert_eq!(w[0].cause, WarningCause::GeneratorSaturated, "unmeasured");
        // Asked for 100 times what it sent at 30% busy: its own work, however much
        // CPU others took.
        let mut f = late(0.3, 5.0, 6.0, Some(0.6));
        f.worker_busy = vec![0.3];
        f.dropped = 99 * f.sends;
        assert!((needed_share(&f) - 30.0).abs() < 1e-9);
        let w = check_generator(&f);
        assert_eq!(w.len(), 2);
        assert!(w
            .iter()
            .all(|w| w.cause == WarningCause::GeneratorSaturated));
    }

    #[test]
    fn negligible_lag_is_no_warning() {
        // 1 ms of lag against a 500 ms p99.
        assert!(check_generator(&late(0.02, 1.0, 500.0, Some(0.45))).is_empty());
        // Steal time counts as contention.
        let mut f = late(0.02, 3.0, 4.0, None);
        f.contention = Some(ContentionFacts {
            run_queue_share: 0.0,
            steal_share: 0.3,
        });
        assert_eq!(check_generator(&f)[0].cause, WarningCause::CpuContention);
    }

    #[test]
    fn closed_model_ignores_lateness() {
        let f = GeneratorFacts {
            open_model: false,
            sends: 10,
            late_sends: 10,
            ..Default::default()
        };
        assert!(check_generator(&f).is_empty());
    }

    #[test]
    fn warnings_serialize_with_kind_cause_and_effect() {
        let w = &check_generator(&late(0.02, 1.02, 1.42, Some(0.45)))[0];
        let v = serde_json::to_value(w).unwrap();
        assert_eq!(v["kind"], "late_sends");
        assert_eq!(v["cause"], "cpu_contention");
        assert!(v["effect"]["share_of_p99"].as_f64().unwrap() > 0.7);
        let back: GeneratorWarning = serde_json::from_value(v).unwrap();
        assert_eq!(&back, w);
        let v1: GeneratorWarning = serde_json::from_str(r#"{"kind":"dropped","count":3}"#).unwrap();
        assert_eq!(
            v1.cause,
            WarningCause::GeneratorSaturated,
            "version 1 files"
        );
    }
}
