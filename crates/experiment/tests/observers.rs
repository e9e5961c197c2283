//! Observers see every second and the end of a run; a stop (from the control or an
//! observer) ends the run early with an `Aborted` verdict that says why.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stampede_experiment::{start, Finish, Flow, LiveSecond, Observer, Verdict};
use support::{open_plan, testserver, url_of};

/// (second, requests finished in it) for each second seen.
type Seen = Arc<Mutex<Vec<(u64, u64)>>>;
/// The request count of the result the observer saw at the end.
type Finished = Arc<Mutex<Option<u64>>>;

/// Records the seconds it saw; asks to stop after `stop_after` of them.
struct Recorder {
    seen: Seen,
    finished_with: Finished,
    stop_after: Option<u64>,
}

impl Observer for Recorder {
    fn on_second(&mut self, live: &LiveSecond<'_>) -> Flow {
        let mut seen = self.seen.lock().unwrap();
        seen.push((live.second, live.interval.requests));
        match self.stop_after {
            Some(n) if seen.len() as u64 >= n => Flow::Stop {
                reason: "the recorder had enough".into(),
                failed: None,
            },
            _ => Flow::Continue,
        }
    }

    fn on_finish(&mut self, finish: &mut Finish<'_>) {
        *self.finished_with.lock().unwrap() = Some(finish.result.summary.core.requests);
    }
}

fn recorder(stop_after: Option<u64>) -> (Recorder, Seen, Finished) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let finished = Arc::new(Mutex::new(None));
    (
        Recorder {
            seen: seen.clone(),
            finished_with: finished.clone(),
            stop_after,
        },
        seen,
        finished,
    )
}

#[test]
fn observers_see_every_second_in_order_and_the_end() {
    let target = testserver();
    let (rec, seen, finished) = recorder(None);
    let f = start(
        open_plan(&url_of(&target, "/"), 100.0, 3),
        vec![Box::new(rec)],
    )
    .wait()
    .unwrap();
    assert_eq!(f.verdict, Verdict::Passed);
    let seen = seen.lock().unwrap();
    let seconds: Vec<u64> = seen.iter().map(|(s, _)| *s).collect();
    assert!(seconds.len() >= 3, "{seen:?}");
    assert_eq!(seconds, (0..seconds.len() as u64).collect::<Vec<_>>());
    let per_second: u64 = seen.iter().map(|(_, n)| n).sum();
    assert_eq!(
        per_second, f.result.summary.core.requests,
        "every request in a second"
    );
    assert_eq!(
        *finished.lock().unwrap(),
        Some(f.result.summary.core.requests)
    );
    target.shutdown();
}

#[test]
fn an_observer_can_stop_the_run_and_says_why() {
    let target = testserver();
    let (rec, _, _) = recorder(Some(1));
    let t0 = Instant::now();
    let f = start(
        open_plan(&url_of(&target, "/"), 100.0, 20),
        vec![Box::new(rec)],
    )
    .wait()
    .unwrap();
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    assert!(f.result.aborted);
    assert_eq!(
        f.verdict,
        Verdict::Aborted {
            reason: "the recorder had enough".into()
        }
    );
    target.shutdown();
}

#[test]
fn stopping_through_the_control_is_aborted_by_the_user() {
    let target = testserver();
    let run = start(open_plan(&url_of(&target, "/"), 100.0, 20), Vec::new());
    std::thread::sleep(Duration::from_millis(1500));
    run.control().stop();
    let f = run.wait().unwrap();
    assert!(f.result.aborted);
    assert!(
        f.result.summary.core.requests > 50,
        "{:?}",
        f.result.summary
    );
    assert_eq!(
        f.verdict,
        Verdict::Aborted {
            reason: "stopped by the user".into()
        }
    );
    target.shutdown();
}
