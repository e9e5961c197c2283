//! Thresholds judged through the experiment layer against real servers: windowed
//! criteria catch a late collapse (and stop the run with `abort_on_fail`); criteria
//! with nothing to judge fail as "no data"; unfinished requests count as failures.

mod support;

use std::time::{Duration, Instant};

use stampede_experiment::{start, Finished, ThresholdOutcome, Verdict};
use support::{open_plan, testserver, url_of, with_thresholds, SilentServer};

fn outcome<'a>(f: &'a Finished, text: &str) -> &'a ThresholdOutcome {
    f.result
        .thresholds
        .iter()
        .find(|t| t.threshold == text)
        .unwrap_or_else(|| panic!("no outcome for {text}: {:?}", f.result.thresholds))
}

/// The service collapses 3 s into a 6 s run (the server goes away: every request is
/// refused). The whole run stays under 60% errors, but the last 2 s windows are all
/// errors: the windowed criterion fails, and the result says which window.
#[test]
fn a_late_collapse_fails_the_windowed_criterion_only() {
    let target = testserver();
    let plan = with_thresholds(
        open_plan(&url_of(&target, "/"), 200.0, 6),
        &["error_rate < 60%", "error_rate < 1% over 2s"],
    );
    let run = start(plan, Vec::new());
    std::thread::sleep(Duration::from_secs(3));
    target.shutdown();
    let f = run.wait().unwrap();
    let whole = outcome(&f, "error_rate < 60%");
    assert!(whole.passed, "{whole:?}");
    assert!(
        whole.observed.unwrap() > 0.2,
        "the collapse shows: {whole:?}"
    );
    let windowed = outcome(&f, "error_rate < 1% over 2s");
    assert!(!windowed.passed, "{windowed:?}");
    assert_eq!(windowed.window_s, Some(2));
    let w = windowed.worst_window.expect("the failing window");
    assert!(w.start_s >= 2 && w.end_s == w.start_s + 2, "{w:?}");
    assert!(w.observed > 0.01, "{w:?}");
    match &f.verdict {
        Verdict::ThresholdsFailed { failed, stopped_by } => {
            assert_eq!(failed.len(), 1, "{failed:?}");
            assert!(stopped_by.is_none(), "no --abort-on-fail");
        }
        v => panic!("expected a failed threshold, got {v:?}"),
    }
    assert!(!f.outcome.aborted);
}

/// With `abort_on_fail`, the first window that breaks the criterion stops the run.
#[test]
fn abort_on_fail_stops_at_the_first_failing_window() {
    let target = testserver();
    let mut plan = with_thresholds(
        open_plan(&url_of(&target, "/"), 200.0, 20),
        &["error_rate < 1% over 2s"],
    );
    plan.abort_on_fail = true;
    let t0 = Instant::now();
    let run = start(plan, Vec::new());
    std::thread::sleep(Duration::from_secs(2));
    target.shutdown();
    let f = run.wait().unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(8),
        "stopped early, not after 20 s: {:?}",
        t0.elapsed()
    );
    match &f.verdict {
        Verdict::ThresholdsFailed { stopped_by, .. } => {
            let t = stopped_by.as_ref().expect("stopped for it");
            assert_eq!(t.threshold, "error_rate < 1% over 2s");
        }
        v => panic!("expected a failed threshold, got {v:?}"),
    }
}

/// A start-up blip no longer aborts a run that recovers: the cumulative error rate
/// falls as the run goes on, and a windowed criterion judges each window by itself.
#[test]
fn a_healthy_run_passes_windowed_and_whole_run_criteria() {
    let target = testserver();
    let plan = with_thresholds(
        open_plan(&url_of(&target, "/"), 200.0, 3),
        &[
            "error_rate < 1% over 1s",
            "p99 < 500ms over 2s",
            "p99 < 500ms",
        ],
    );
    let f = start(plan, Vec::new()).wait().unwrap();
    assert_eq!(f.verdict, Verdict::Passed, "{:?}", f.result.thresholds);
    assert_eq!(f.result.thresholds.len(), 3);
    for t in &f.result.thresholds {
        assert!(t.passed && t.observed.is_some(), "{t:?}");
    }
    target.shutdown();
}

/// Issue 12 item 3, against a Python socket server that accepts and never answers: no
/// request finishes within the 2 s run. Latency criteria have no data and fail; the
/// unfinished requests count against the error and timeout rates.
#[test]
fn nothing_answered_is_no_data_and_unfinished_count_as_failures() {
    let server = SilentServer::start(20);
    let plan = with_thresholds(
        open_plan(&format!("http://{}/", server.addr), 10.0, 2),
        &["p99 < 100ms", "error_rate < 1%", "timeout_rate < 1%"],
    );
    let mut plan = plan;
    plan.timeout = Duration::from_secs(10);
    let f = start(plan, Vec::new()).wait().unwrap();
    assert_eq!(f.result.summary.core.requests, 0);
    assert!(f.result.summary.unfinished > 0, "{:?}", f.result.summary);
    let p99 = outcome(&f, "p99 < 100ms");
    assert_eq!(
        (p99.observed, p99.passed),
        (None, false),
        "no data: {p99:?}"
    );
    for t in ["error_rate < 1%", "timeout_rate < 1%"] {
        let o = outcome(&f, t);
        assert_eq!((o.observed, o.passed), (Some(1.0), false), "{o:?}");
    }
    assert!(matches!(f.verdict, Verdict::ThresholdsFailed { ref failed, .. } if failed.len() == 3));
    let table = stampede_report::render_table(&f.result);
    assert!(table.contains("(observed no data)"), "{table}");
    let total = table
        .lines()
        .find(|l| l.starts_with("total"))
        .expect("total row");
    assert!(
        !total.contains("0.00"),
        "latency shows '-', not 0.00: {total}"
    );
    assert_eq!(
        total.split_whitespace().filter(|c| *c == "-").count(),
        7,
        "six latency columns and the error rate: {total}"
    );
}

/// The same against the built-in target: every response takes longer than the run.
#[test]
fn responses_slower_than_the_run_are_no_data_on_the_builtin_target() {
    let target = testserver();
    let mut plan = with_thresholds(
        open_plan(&url_of(&target, "/?delay=5s"), 10.0, 1),
        &["p99 < 100ms", "error_rate < 1%"],
    );
    plan.timeout = Duration::from_secs(10);
    let f = start(plan, Vec::new()).wait().unwrap();
    assert_eq!(f.result.summary.core.requests, 0);
    let p99 = outcome(&f, "p99 < 100ms");
    assert!(!p99.passed && p99.observed.is_none(), "{p99:?}");
    assert!(!outcome(&f, "error_rate < 1%").passed);
    target.shutdown();
}

/// Issue 12 item 3: a run where every connection is refused no longer passes a latency
/// criterion at "0.00 ms": there is no latency, so no data; the error rate is 100%.
#[test]
fn all_refused_is_no_data_for_latency() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // closed again: connections are refused
    let plan = with_thresholds(
        open_plan(&format!("http://127.0.0.1:{port}/"), 20.0, 1),
        &["p99 < 100ms", "error_rate < 1%"],
    );
    let f = start(plan, Vec::new()).wait().unwrap();
    assert!(f.result.summary.core.errors > 0, "{:?}", f.result.summary);
    let p99 = outcome(&f, "p99 < 100ms");
    assert_eq!((p99.observed, p99.passed), (None, false), "{p99:?}");
    let errors = outcome(&f, "error_rate < 1%");
    assert_eq!((errors.observed, errors.passed), (Some(1.0), false));
}
