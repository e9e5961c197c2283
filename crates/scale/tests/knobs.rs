//! Sweeps against the built-in target with known scalability knobs recover the shape and
//! the coefficients they plant (issue 11 part 2). Steps are short (1 s warm-up, 2 s
//! measured) over a 50 ms delay; the target *waits* (no CPU burnt) and answers at most
//! 640 req/s, so two shared cores are enough, and a few milliseconds of scheduling delay on
//! a loaded machine are small against the planted waits.
//!
//! Tolerances (documented in the README, "Will it scale?"):
//! * no knob: linear, λ within 10% of 1/D = 20 req/s, σ < 0.03, κ < 0.001;
//! * `serial_section` S = 10 ms: contention-limited, levelling off within 10% under
//!   1/S = 100 req/s;
//! * `coherency_delay` d = 250 µs: retrograde, κ within 30% of d/D = 0.005, σ < 0.05, the
//!   peak ⌊N*⌋ within 10..=18 (planted: sqrt(D/d) = 14.1).

use std::num::NonZeroUsize;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stampede_plan::{Load, RunPlan};
use stampede_scale::{parse_steps, sweep, ClosedSteps, ScaleDoc, SweepKind};
use stampede_testserver::{TargetConfig, TargetHandle};
use stampede_usl::Shape;

/// One sweep at a time: they would share the machine's two cores.
static ALONE: Mutex<()> = Mutex::new(());

const STEPS: &str = "1,2,4,8,16,32";

fn sweep_target(config: TargetConfig, query: &str) -> ScaleDoc {
    let _alone = ALONE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let target = TargetHandle::start(config).unwrap();
    let url = format!("http://{}/{query}", target.addrs()[0]);
    let base = RunPlan::builder(url.as_str())
        .load(Load::Closed {
            connections: NonZeroUsize::new(1).unwrap(),
        })
        .build()
        .unwrap();
    let mut steps = ClosedSteps::new(
        base,
        Duration::from_secs(1),
        Duration::from_secs(2),
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    let measured = sweep(&parse_steps(STEPS).unwrap(), &mut steps, &mut |_| {}).unwrap();
    let doc = ScaleDoc::new(SweepKind::Concurrency, url, 1.0, 2.0, measured);
    println!("{}", stampede_scale::render_scale(&doc));
    doc
}

fn local() -> TargetConfig {
    TargetConfig::new("127.0.0.1:0".parse().unwrap())
}

#[test]
fn no_knob_is_linear() {
    let doc = sweep_target(local(), "?delay=50ms");
    let fit = doc.fit.as_ref().expect("a fit");
    assert_eq!(doc.shape, Some(Shape::Linear), "{}", doc.verdict);
    assert!((fit.lambda - 20.0).abs() < 2.0, "{fit:?}");
    assert!(fit.sigma < 0.03 && fit.kappa < 0.001, "{fit:?}");
    // Every step is a window of 2 s after a 1 s warm-up, with its own result document.
    for s in &doc.steps {
        let r = s.result.as_ref().unwrap();
        assert_eq!(r.summary.elapsed_s, 2.0, "N={}", s.n);
        assert_eq!(r.config.connections, Some(s.n as usize));
    }
}

#[test]
fn serial_section_is_flat() {
    let mut config = local();
    config.serial_section = Duration::from_millis(10);
    let doc = sweep_target(config, "?delay=50ms");
    assert_eq!(doc.shape, Some(Shape::ContentionLimited), "{}", doc.verdict);
    assert!(
        doc.verdict.starts_with("contention-limited"),
        "{}",
        doc.verdict
    );
    let top = doc.included().map(|s| s.throughput).fold(0.0, f64::max);
    assert!(
        (90.0..=100.0).contains(&top),
        "levels off at {top}, not 1/S = 100"
    );
}

#[test]
fn coherency_delay_is_retrograde() {
    let mut config = local();
    config.coherency_delay = Duration::from_micros(250);
    let doc = sweep_target(config, "?delay=50ms");
    let fit = doc.fit.as_ref().expect("a fit");
    assert_eq!(doc.shape, Some(Shape::Retrograde), "{}", doc.verdict);
    assert!(
        doc.verdict.starts_with("retrograde past N*="),
        "{}",
        doc.verdict
    );
    assert!((fit.kappa - 0.005).abs() < 0.3 * 0.005, "{fit:?}");
    assert!(fit.sigma < 0.05, "{fit:?}");
    assert!((10..=18).contains(&fit.peak_n_floor.unwrap()), "{fit:?}");
}
