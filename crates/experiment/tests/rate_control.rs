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
