//! Sweeps of simulated systems (pure: no sockets, no sleeping) recover the shape and the
//! coefficients of the system they measure, and leave out the steps the generator could not
//! drive.

use std::num::NonZeroUsize;

use stampede_result::{GeneratorWarning, RunResult, WarningCause, WarningKind};
use stampede_scale::{
    parse_steps, render_scale, sweep, ScaleDoc, ScaleError, StepDoc, StepRunner, SweepKind,
};
use stampede_usl::Shape;

/// A result document whose window saw `throughput` successful responses per second.
fn window(throughput: f64) -> RunResult {
    let mut r =
        RunResult::from_json(include_str!("../../result/tests/fixtures/v1-result.json")).unwrap();
    r.generator.warnings.clear();
    r.summary.elapsed_s = 10.0;
    r.summary.core.errors = 0;
    r.summary.core.timeouts = 0;
    r.summary.core.error_rate = 0.0;
    r.summary.core.requests = (throughput * 10.0).round() as u64;
    r
}

/// The built-in target's knobs under `N` closed-loop clients, solved exactly: a parallel
/// delay `d`, a serial section `s` (one FCFS server: mean value analysis) and a coherency
/// delay `c` (a request waits `c·N(N−1)`).
struct Knobs {
    d: f64,
    s: f64,
    c: f64,
}

impl Knobs {
    fn throughput(&self, n: usize) -> f64 {
        let coherency = self.c * (n * (n - 1)) as f64;
        // MVA for a delay station (d + coherency) and a queue (s).
        let mut queue = 0.0;
        let mut x = 0.0;
        for k in 1..=n {
            let r_queue = self.s * (1.0 + queue);
            x = k as f64 / (self.d + coherency + r_queue);
            queue = x * r_queue;
        }
        x
    }
}

impl StepRunner for Knobs {
    fn run_step(&mut self, n: NonZeroUsize) -> Result<StepDoc, ScaleError> {
        Ok(StepDoc::judge(
            n.get() as u64,
            window(self.throughput(n.get())),
        ))
    }
}

fn measure(system: &mut dyn StepRunner, steps: &str) -> ScaleDoc {
    let steps = parse_steps(steps).unwrap();
    let measured = sweep(&steps, system, &mut |_| {}).unwrap();
    ScaleDoc::new(
        SweepKind::Concurrency,
        "simulated".into(),
        1.0,
        10.0,
        measured,
    )
}

const STEPS: &str = "1,2,4,8,16,32";

#[test]
fn a_parallel_delay_alone_is_linear() {
    let doc = measure(
        &mut Knobs {
            d: 0.010,
            s: 0.0,
            c: 0.0,
        },
        STEPS,
    );
    let fit = doc.fit.as_ref().unwrap();
    assert_eq!(fit.shape, Shape::Linear, "{}", doc.verdict);
    assert!(
        doc.verdict.starts_with("linear up to N=32"),
        "{}",
        doc.verdict
    );
    assert!((fit.lambda - 100.0).abs() < 0.5, "{fit:?}");
    assert!(fit.sigma < 1e-3 && fit.kappa < 1e-5, "{fit:?}");
}

/// A serial section levels off at 1/S. It is not Amdahl's curve exactly: the queue bends
/// more sharply at its knee (N ≈ (D+S)/S), so the fit takes a little κ for the bend and
/// puts a "peak" inside the measured range although throughput never falls; the verdict
/// checks the measurements and calls it contention-limited at the measured level.
#[test]
fn a_serial_section_flattens_at_one_over_s() {
    let (d, s) = (0.010, 0.001);
    let doc = measure(&mut Knobs { d, s, c: 0.0 }, STEPS);
    let fit = doc.fit.as_ref().unwrap();
    assert_eq!(
        fit.shape,
        Shape::Retrograde,
        "the fit alone: {}",
        fit.verdict
    );
    assert_eq!(doc.shape, Some(Shape::ContentionLimited), "{}", doc.verdict);
    assert!(
        doc.verdict
            .starts_with("contention-limited: throughput levels off at 1000 req/s from N=16"),
        "{}",
        doc.verdict
    );
    // The model's highest throughput over the measured range is 1/S within 10%.
    let top = (1..=32).map(|n| fit.predict(n as f64)).fold(0.0, f64::max);
    assert!((top * s - 1.0).abs() < 0.1, "model top {top}");
}

/// Amdahl's law itself (σ = 0.05, no knee) is recovered exactly and called
/// contention-limited by the fit.
#[test]
fn amdahl_data_give_sigma_back() {
    struct Amdahl;
    impl StepRunner for Amdahl {
        fn run_step(&mut self, n: NonZeroUsize) -> Result<StepDoc, ScaleError> {
            let x = n.get() as f64;
            let r = window(100.0 * x / (1.0 + 0.05 * (x - 1.0)));
            Ok(StepDoc::judge(n.get() as u64, r))
        }
    }
    let doc = measure(&mut Amdahl, STEPS);
    let fit = doc.fit.as_ref().unwrap();
    assert_eq!(doc.shape, Some(Shape::ContentionLimited), "{}", doc.verdict);
    assert!(
        (fit.sigma - 0.05).abs() < 1e-3 && fit.kappa < 1e-5,
        "{fit:?}"
    );
    assert!(
        doc.verdict.starts_with("contention-limited: σ=0.0"),
        "{}",
        doc.verdict
    );
}

#[test]
fn a_coherency_delay_is_retrograde_with_kappa_c_over_d() {
    let (d, c) = (0.010, 0.000_05);
    let doc = measure(&mut Knobs { d, s: 0.0, c }, STEPS);
    let fit = doc.fit.as_ref().unwrap();
    assert_eq!(doc.shape, Some(Shape::Retrograde), "{}", doc.verdict);
    assert!(
        doc.verdict.starts_with("retrograde past N*=14"),
        "{}",
        doc.verdict
    );
    assert!((fit.kappa - c / d).abs() < 1e-3 * c / d, "{fit:?}");
    assert!(fit.sigma < 1e-6, "{fit:?}");
    assert_eq!(fit.peak_n_floor, Some(14));
    for s in &doc.steps {
        // Counts are whole requests: 0.1 s of a 10 s window at most.
        assert!(
            s.residual.unwrap().abs() < 0.1,
            "N={}: {:?}",
            s.n,
            s.residual
        );
    }
}

/// A step with a generator warning is marked, left out of the fit and said; the fit is the
/// one of the other steps.
#[test]
fn steps_the_generator_could_not_drive_are_left_out() {
    struct Saturated(Knobs);
    impl StepRunner for Saturated {
        fn run_step(&mut self, n: NonZeroUsize) -> Result<StepDoc, ScaleError> {
            let mut r = window(self.0.throughput(n.get()));
            if n.get() == 32 {
                // What an overloaded generator reports: a third of the throughput.
                r.summary.core.requests /= 3;
                r.generator.warnings.push(GeneratorWarning {
                    kind: WarningKind::CpuSaturated { busiest: 0.99 },
                    cause: WarningCause::GeneratorSaturated,
                    effect: None,
                });
            }
            Ok(StepDoc::judge(n.get() as u64, r))
        }
    }
    let doc = measure(
        &mut Saturated(Knobs {
            d: 0.010,
            s: 0.0,
            c: 0.0,
        }),
        STEPS,
    );
    let last: &StepDoc = doc.steps.last().unwrap();
    let why = last.excluded.as_deref().unwrap();
    assert!(
        why.contains("could not drive") && why.contains("99%"),
        "{why}"
    );
    assert_eq!(doc.included().count(), 5);
    let fit = doc.fit.as_ref().unwrap();
    assert_eq!(fit.shape, Shape::Linear, "{}", doc.verdict);
    assert!(
        doc.verdict.contains("1 of 6 steps left out"),
        "{}",
        doc.verdict
    );
    let text = stampede_scale::render_scale(&doc);
    assert!(
        text.contains("left out of the fit: N=32: the generator"),
        "{text}"
    );
}

#[test]
fn too_few_usable_steps_say_why_there_is_no_fit() {
    let doc = measure(
        &mut Knobs {
            d: 0.010,
            s: 0.0,
            c: 0.0,
        },
        "1,2",
    );
    assert!(doc.fit.is_none());
    assert!(
        doc.verdict.starts_with("no fit: 2 point(s)"),
        "{}",
        doc.verdict
    );
    assert!(doc.steps.iter().all(|s| s.predicted.is_none()));
}

/// A capacity search as `stampede capacity` documents it: the steps tried (pass below
/// `capacity`, fail above) and how it ended.
fn search_doc(
    capacity: f64,
    verdict: stampede_capacity::Verdict,
) -> stampede_capacity::CapacityDoc {
    use stampede_capacity::{OutcomeDoc, Phase, SettingsDoc, StepVerdict};
    let step = |index, rate: f64, phase| stampede_capacity::StepDoc {
        index,
        phase,
        offered_rate: rate,
        achieved_rate: rate.min(capacity),
        window_start_s: 0,
        window_s: 5,
        recovery_s: 0,
        cv: None,
        stable: true,
        verdict: if rate <= capacity {
            StepVerdict::Pass
        } else {
            StepVerdict::Fail
        },
        reason: None,
        slos: Vec::new(),
        result: window(rate.min(capacity)),
    };
    let (lo, hi) = (capacity * 0.98, capacity * 1.02);
    stampede_capacity::CapacityDoc {
        schema_version: stampede_capacity::CAPACITY_SCHEMA_VERSION,
        kind: "capacity".into(),
        stampede_version: "test".into(),
        started_at: "2026-11-29T00:00:00Z".into(),
        subject: "simulated".into(),
        unit: "requests/s".into(),
        slos: vec!["p99 < 100ms".into()],
        settings: SettingsDoc {
            start_rate: lo,
            max_rate: None,
            min_rate: 1.0,
            precision: 0.05,
            step_s: 6.0,
            warmup_s: 1.0,
            max_window_s: 10.0,
            max_steps: 12,
        },
        result: OutcomeDoc {
            verdict,
            last_pass_rate: Some(lo),
            first_fail_rate: Some(hi),
            width: Some((hi - lo) / lo),
            knee_rate: None,
            reason: Some("the generator fell behind".into()),
            elapsed_s: 18.0,
        },
        steps: vec![
            step(1, lo, Phase::Ramp),
            step(2, hi, Phase::Bisect),
            step(3, lo, Phase::Confirm),
        ],
    }
}

/// `--instances`: each step's throughput is the capacity its search found (the last
/// passing rate, with that step's window as its result); a search that ended without a
/// capacity is left out with its reason; and the sweep fits capacity against instances.
#[test]
fn instance_steps_take_the_capacity_found_by_the_search() {
    use stampede_capacity::Verdict as V;
    let step = StepDoc::of_capacity(2, search_doc(200.0, V::Capacity));
    assert!(step.included(), "{:?}", step.excluded);
    assert_eq!(step.throughput, 196.0);
    assert_eq!(step.result.as_ref().unwrap().summary.core.requests, 1960);
    assert!(step.capacity.is_some());

    let limited = StepDoc::of_capacity(2, search_doc(200.0, V::GeneratorLimited));
    let why = limited.excluded.as_deref().unwrap();
    assert!(
        why.contains("generator could not drive") && why.contains("fell behind"),
        "{why}"
    );
    for v in [
        V::NoFailureUpToMax,
        V::FailsAtMinimum,
        V::StepLimit,
        V::Aborted,
    ] {
        assert!(
            !StepDoc::of_capacity(1, search_doc(100.0, v)).included(),
            "{v:?}"
        );
    }
    assert!(StepDoc::of_capacity(1, search_doc(100.0, V::Aborted)).stopped());

    // Instances sharing a coherency cost: capacity peaks, then falls.
    struct Fleet;
    impl StepRunner for Fleet {
        fn run_step(&mut self, n: NonZeroUsize) -> Result<StepDoc, ScaleError> {
            let k = n.get() as f64;
            let capacity = 1000.0 * k / (1.0 + 0.05 * (k - 1.0) + 0.02 * k * (k - 1.0));
            Ok(StepDoc::of_capacity(
                n.get() as u64,
                search_doc(capacity, V::Capacity),
            ))
        }
    }
    let steps = parse_steps("1,2,3,4,6,8,10").unwrap();
    let measured = sweep(&steps, &mut Fleet, &mut |_| {}).unwrap();
    let doc = ScaleDoc::new(SweepKind::Instances, "fleet".into(), 1.0, 5.0, measured);
    let fit = doc.fit.as_ref().unwrap();
    assert_eq!(doc.shape, Some(Shape::Retrograde), "{}", doc.verdict);
    assert!(
        (fit.sigma - 0.05).abs() < 0.01 && (fit.kappa - 0.02).abs() < 0.002,
        "{fit:?}"
    );
    assert!(render_scale(&doc).starts_with("instances  throughput/s"));
}
