//! Faults in a run: `--fault` through the in-process fault proxy against a real nginx,
//! and an instance of `stampede target` taken down mid-run (`down-at`, `up-at`), its
//! outage imported into the run with `--outage-log`.
//!
//! Short runs at 100 req/s on loopback (6 s each, the second a second after its target); they run one at a time with the rest
//! of the external suite (`support::serial()`).

#[allow(dead_code)] // the shared helpers of the external suites; this test uses a few
mod support;

use std::time::Duration;

use serde_json::Value;
use support::proxy::ProxyDaemon;
use support::{nginx_binary, serial, stampede, Nginx, RunOutput};

/// Slack on top of a run's own length before the run counts as hung.
const GRACE: Duration = Duration::from_secs(30);

fn validate(doc: &Value) {
    let schema: Value =
        serde_json::from_str(stampede_result::RESULT_SCHEMA).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "schema violations: {errors:#?}");
}

/// The cells of the terminal's fault-table row `phase` (before, during, after).
fn phase_row<'a>(run: &'a RunOutput, phase: &str) -> Vec<&'a str> {
    run.stdout
        .lines()
        .map(str::trim_start)
        .find(|l| l.starts_with(phase) && l.contains("s "))
        .unwrap_or_else(|| panic!("no '{phase}' row\n{}", run.context()))
        .split_whitespace()
        .collect()
}

fn number(cell: &str) -> f64 {
    cell.parse()
        .unwrap_or_else(|_| panic!("'{cell}' is not a number"))
}

/// The per-second series: (t, requests, errors, p99 ms).
fn seconds(run: &RunOutput) -> Vec<(u64, u64, u64, f64)> {
    run.json["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|p| {
            (
                p["t"].as_u64().unwrap(),
                p["requests"].as_u64().unwrap(),
                p["errors"].as_u64().unwrap() + p["timeouts"].as_u64().unwrap(),
                p["latency_ms"]["p99"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// `--fault 'at 2s for 2s: latency 200ms'` against nginx: the fault timeline says when
/// the toxic was on, and the before/during/after table shows p99 up by about 200 ms
/// during the window only.
#[test]
fn scheduled_latency_fault_raises_p99_during_its_window_only() {
    let _serial = serial();
    let Some(bin) = nginx_binary("scheduled_latency_fault_raises_p99_during_its_window_only")
    else {
        return;
    };
    let nginx = Nginx::start(&bin);
    let run = stampede(
        &nginx.url("/"),
        &[
            "--rate",
            "100",
            "-d",
            "6s",
            "--fault",
            "at 2s for 2s: latency 200ms",
        ],
        Duration::from_secs(6) + GRACE,
    );
    run.assert_success();
    validate(&run.json);

    let fault = &run.json["faults"][0];
    assert_eq!(fault["kind"], "latency", "{}", run.context());
    assert_eq!(fault["spec"], "at 2s for 2s: latency 200ms");
    let (start, end) = (run.f64("/faults/0/start_s"), run.f64("/faults/0/end_s"));
    assert!((2.0..2.1).contains(&start), "switched on at {start}s");
    assert!((4.0..4.1).contains(&end), "switched off at {end}s");
    assert!(
        fault["target"]
            .as_str()
            .unwrap()
            .contains(&format!("-> 127.0.0.1:{}", nginx.port(0))),
        "{fault}"
    );

    let (before, during, after) = (
        phase_row(&run, "before"),
        phase_row(&run, "during"),
        phase_row(&run, "after"),
    );
    // phase, seconds, rate/s, p50, p99, errors, timeouts, err+to %
    let (p99_before, p99_during) = (number(before[4]), number(during[4]));
    assert!(
        p99_before < 100.0,
        "p99 before {p99_before}\n{}",
        run.stdout
    );
    let rise = p99_during - p99_before;
    assert!(
        (180.0..300.0).contains(&rise),
        "p99 rose by {rise} ms during the fault\n{}",
        run.stdout
    );
    assert!(number(during[3]) >= 200.0, "p50 during\n{}", run.stdout);
    assert!(
        number(after[3]) < number(before[3]) + 20.0,
        "p50 after\n{}",
        run.stdout
    );
    assert_eq!(
        (before[5], during[5], after[5]),
        ("0", "0", "0"),
        "errors\n{}",
        run.stdout
    );
    // Only requests sent during the fault are slow: a second after its end, p99 is back.
    for (t, requests, _, p99) in seconds(&run) {
        if t == 5 {
            assert!(requests > 0 && p99 < 100.0, "second {t}: p99 {p99}");
        }
    }
    // The recovery line is there; whether a second after the fault is within 10% of the
    // worst second before depends on this machine's noise (the analysis' unit tests prove
    // the rule on constructed data).
    assert!(run.stdout.contains("recovered"), "{}", run.stdout);
}

/// Instance 2 of `stampede target` goes down from 3 s to 5 s after the target started; the
/// run starts about a second later, so the outage is about 2 s..4 s of the run, which only
/// the outage log's wall-clock times can tell it. A run grouped by peer sees refused
/// connects on that instance's address, none elsewhere; `--outage-log` puts the outage
/// into `faults[]` where the errors are (every second wholly inside it has them, none
/// wholly outside it does) and into the before/during/after table.
#[test]
fn instance_down_mid_run_shows_errors_on_that_instance_during_the_window_only() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("outages.jsonl");
    let log = log.to_str().unwrap();
    let target = ProxyDaemon::start_command(
        "target",
        &[
            "--listen",
            "127.0.0.1:0",
            "--instances",
            "2",
            "--instance-fault",
            "2:down-at=3s,up-at=5s",
            "--outage-log",
            log,
        ],
    );
    let one = target.field("target-1 listening on http://");
    let two = target.field("target-2 listening on http://");
    let (one, two) = (one.trim_end_matches('/'), two.trim_end_matches('/'));
    std::thread::sleep(Duration::from_secs(1));
    let run = stampede(
        &format!("http://{one}/"),
        &[
            "--rate",
            "100",
            "-d",
            "6s",
            "--no-keep-alive",
            "--group-by",
            "peer",
            "--connect-to",
            one,
            "--connect-to",
            two,
            "--outage-log",
            log,
        ],
        Duration::from_secs(6) + GRACE,
    );
    run.assert_success();
    validate(&run.json);
    let printed = target.stdout_now();
    assert!(printed.contains("target-2 down at "), "{printed}");
    assert!(printed.contains("target-2 up at "), "{printed}");

    let group = |addr: &str| -> &Value {
        run.json["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["key"].as_str().is_some_and(|k| k.contains(addr)))
            .unwrap_or_else(|| panic!("no group for {addr}\n{}", run.context()))
    };
    let (healthy, downed) = (group(one), group(two));
    assert_eq!(healthy["errors"], 0, "{}", run.context());
    let refused = downed["errors_by_class"]["connect_refused"]
        .as_u64()
        .unwrap_or(0);
    // Half of 100 req/s for 2 s went to the downed instance.
    assert!(
        (60..=140).contains(&refused),
        "{refused} refused connects\n{}",
        run.context()
    );
    // Refusals while down, plus the few requests in flight when the outage closed their
    // connections (reset or closed early): connection errors only, no HTTP errors.
    let cut: u64 = ["reset", "closed_early"]
        .iter()
        .filter_map(|c| downed["errors_by_class"][c].as_u64())
        .sum();
    assert!(
        cut <= 5,
        "{cut} requests cut at the outage\n{}",
        run.context()
    );
    assert_eq!(
        downed["errors"].as_u64(),
        Some(refused + cut),
        "only connection errors\n{}",
        run.context()
    );
    assert!(
        downed["requests"].as_u64().unwrap() > refused + 100,
        "instance 2 served before and after its outage\n{}",
        run.context()
    );

    // The imported outage: a `down` fault of about 2 s on the run's clock.
    let fault = &run.json["faults"][0];
    assert_eq!(fault["kind"], "down", "{}", run.context());
    assert!(fault["target"].as_str().unwrap().contains(two), "{fault}");
    let (start, end) = (run.f64("/faults/0/start_s"), run.f64("/faults/0/end_s"));
    assert!(
        (end - start - 2.0).abs() < 0.2,
        "on from {start}s to {end}s"
    );
    // Where the errors are: a margin for the requests in flight at either edge.
    let margin = 0.1;
    for (t, requests, errors, _) in seconds(&run) {
        let (from, to) = (t as f64, t as f64 + 1.0);
        if from >= start + margin && to <= end - margin {
            assert!(
                errors * 3 >= requests && requests > 0,
                "second {t}, inside the outage {start}..{end}: {errors} of {requests} failed"
            );
        } else if to <= start - margin || from >= end + margin {
            assert_eq!(
                errors, 0,
                "second {t}, outside the outage {start}..{end}: {errors} errors"
            );
        }
    }
    // ... and the before / during / after table says so.
    let (before, during, after) = (
        phase_row(&run, "before"),
        phase_row(&run, "during"),
        phase_row(&run, "after"),
    );
    assert_eq!((before[5], after[5]), ("0", "0"), "errors\n{}", run.stdout);
    assert!(number(during[5]) > 0.0, "errors during\n{}", run.stdout);
}
