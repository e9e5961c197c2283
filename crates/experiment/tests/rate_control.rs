//! Acceptance: a run started through the experiment layer changes its open-model rate
//! while it goes on, and the built-in test server's own count follows within a second.

mod support;

use std::time::{Duration, Instant};

use stampede_experiment::{start, Verdict};
use support::{open_plan, testserver, url_of};

#[test]
fn target_rate_change_mid_run_is_followed_by_the_server_within_a_second() {
    let target = testserver();
    let plan = open_plan(&url_of(&target, "/"), 1000.0, 6);
    let run = start(plan, Vec::new());
    let t0 = Instant::now();
    // The server's own count, read every 100 ms: per-second counts from its counter.
    let mut samples = vec![(Duration::ZERO, target.requests_served())];
    let mut changed_at = None;
    while t0.elapsed() < Duration::from_millis(5_900) {
        std::thread::sleep(Duration::from_millis(100));
        samples.push((t0.elapsed(), target.requests_served()));
        if changed_at.is_none() && t0.elapsed() >= Duration::from_secs(3) {
            run.control().set_rate(3000.0);
            changed_at = Some(t0.elapsed());
        }
    }
    let finished = run.wait().unwrap();
    assert_eq!(finished.verdict, Verdict::Passed);
    let changed_at = changed_at.unwrap();
    // Requests the server counted in the second [from, from + 1 s).
    let per_second = |from: Duration| -> u64 {
        let at = |t: Duration| {
            samples
                .iter()
                .min_by_key(|(s, _)| s.abs_diff(t))
                .map(|&(_, n)| n)
                .unwrap()
        };
        at(from + Duration::from_secs(1)) - at(from)
    };
    let before = per_second(changed_at - Duration::from_millis(1500));
    let after = per_second(changed_at + Duration::from_secs(1));
    eprintln!("server counted {before} req/s before the change, {after} req/s after");
    assert!(
        (850..=1150).contains(&before),
        "about 1,000 req/s before the change, server counted {before}"
    );
    assert!(
        (2550..=3450).contains(&after),
        "about 3,000 req/s in the second after the change, server counted {after}"
    );
    target.shutdown();
}

/// A window after a warm-up holds exactly the seconds after it: the server's own count
/// over the same span agrees, and the window's document reports the rate it ran at.
#[test]
fn a_warmup_recorder_keeps_only_the_seconds_after_the_warmup() {
    use stampede_experiment::WarmupRecorder;
    let target = testserver();
    let plan = open_plan(&url_of(&target, "/"), 400.0, 4);
    let recorder = WarmupRecorder::new(Duration::from_secs(2), plan.stop.duration);
    let window = recorder.window();
    let finished = start(plan.clone(), vec![Box::new(recorder)])
        .wait()
        .unwrap();
    let window = window.lock().unwrap();
    let window = window.as_ref().expect("a window after the warm-up");
    assert_eq!(window.first_second(), Some(2));
    assert_eq!(window.seconds(), 2, "seconds 2 and 3 of a 4 s run");
    let whole = finished.result.summary.core.requests;
    let part = window.stats().requests;
    // Two of four seconds at 400 req/s: about 800 of about 1,600.
    assert!((760..=840).contains(&part), "window {part} of {whole}");
    // Seconds 2 and 3, and the drain after sending ended.
    let per_second: u64 = finished.outcome.series[2..]
        .iter()
        .map(|p| p.requests)
        .sum();
    assert_eq!(part, per_second, "the window is the run's seconds 2 and 3");
    let doc = window.result(&plan);
    assert_eq!(doc.summary.core.requests, part);
    assert!(
        (doc.summary.core.achieved_rate - 400.0).abs() < 20.0,
        "{}",
        doc.summary.core.achieved_rate
    );
    assert_eq!(doc.summary.elapsed_s, 2.0);
    assert!(doc.series.len() >= 2);
    assert!(
        !doc.generator.worker_cpu_s.is_empty(),
        "worker CPU measured over the window"
    );
    target.shutdown();
}
