//! The live coordinator, end to end: `stampede coordinator` and worker processes
//! (`stampede run ... --report-to`) against a real nginx, checked against nginx's access
//! log and against an independent HDR addition of the workers' own histograms
//! (Python's `hdrhistogram`); criteria judged on the whole; a worker killed mid-run.
//!
//! ```sh
//! cargo test --release -p stampede --test coordinator
//! ```

#[allow(dead_code)] // the shared helpers of the external suites; this test uses a few
mod support;

use std::time::{Duration, Instant};

use support::hdrh::python_sum;
use support::{
    assert_result_schema, free_port, nginx_binary, serial, wait_for_listener, within, Nginx,
    RunOutput, Stampede,
};

/// Bound on any one process of these tests.
const LIMIT: Duration = Duration::from_secs(60);

/// A coordinator on a free port, waiting for `workers`.
fn coordinator(workers: u32, extra: &[&str]) -> (Stampede, String) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let n = workers.to_string();
    let mut args = vec![
        "coordinator",
        "--listen",
        &addr,
        "--workers",
        &n,
        "--wait",
        "30s",
    ];
    args.extend(extra);
    let c = Stampede::spawn_args(&args);
    assert!(
        wait_for_listener(port, Duration::from_secs(10)),
        "the coordinator does not listen on {addr}"
    );
    (c, format!("http://{addr}"))
}

fn code(r: &RunOutput) -> i32 {
    r.status.code().unwrap_or(-1)
}

/// An instant `secs` from now in RFC 3339 (UTC), as `--start-at` takes it.
fn rfc3339_in(secs: u64) -> String {
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + secs;
    let o = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{at}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("running date");
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// 4 workers (`--shard auto/4`, `JOB_COMPLETION_INDEX=0..3`, one `--start-at`) sharing
/// 4,000 req/s for 4 s: nginx logs 16,000 (±0.5%), the coordinator's merged count is
/// exactly what nginx logged and the sum of the workers' own counts, its latency
/// percentiles are those of the HDR addition of the workers' histograms decoded
/// independently, its per-second series sums to the total, each worker is its shard's
/// index, and each worker's clock offset is within the bound its round trip gives (true
/// offset 0: one machine).
#[test]
fn four_workers_merge_live_to_what_nginx_logged() {
    let _serial = serial();
    let test = "four_workers_merge_live_to_what_nginx_logged";
    let Some(bin) = nginx_binary(test) else {
        return;
    };
    let Some(python) = support::hdrh::python(test) else {
        return;
    };
    let nginx = Nginx::start(&bin);
    let (coord, to) = coordinator(4, &["--group-by", "worker"]);
    let url = nginx.url("/");
    let start = rfc3339_in(2);
    let args = [
        "run",
        &url,
        "--rate",
        "4000",
        "-d",
        "4s",
        "--threads",
        "1",
        "--shard",
        "auto/4",
        "--start-at",
        &start,
        "--report-to",
        &to,
    ];
    let indexes = ["0", "1", "2", "3"];
    let workers: Vec<Stampede> = indexes
        .iter()
        .map(|i| Stampede::spawn_env(&args, &[("JOB_COMPLETION_INDEX", i)]))
        .collect();
    let runs: Vec<RunOutput> = workers.into_iter().map(|w| w.wait(LIMIT)).collect();
    let merged = coord.wait(LIMIT);
    let logged = nginx.access_log_lines();
    for r in &runs {
        r.assert_success();
    }
    merged.assert_success();
    let ctx = merged.context();
    let requests = merged.u64("/summary/requests");
    let own: Vec<u64> = runs.iter().map(|r| r.u64("/summary/requests")).collect();
    eprintln!(
        "coordinator: {requests} requests (workers {own:?}), nginx logged {logged}, \
         p50 {} p99 {} max {} ms",
        merged.f64("/summary/latency_ms/p50"),
        merged.f64("/summary/latency_ms/p99"),
        merged.f64("/summary/latency_ms/max"),
    );
    assert!(
        within(logged as f64, 16_000.0, 0.005),
        "nginx logged {logged}\n{ctx}"
    );
    assert_eq!(
        requests, logged,
        "merged requests vs nginx's access log\n{ctx}"
    );
    assert_eq!(
        requests,
        own.iter().sum::<u64>(),
        "merged vs the workers' own\n{ctx}"
    );
    let series: u64 = merged.json["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(series, requests, "the merged per-second series\n{ctx}");

    let dir = tempfile::tempdir().unwrap();
    let files: Vec<_> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let path = dir.path().join(format!("worker-{i}.json"));
            std::fs::write(&path, r.json.to_string()).unwrap();
            path
        })
        .collect();
    let py = python_sum(&python, &files);
    let us = |k: &str| py[k].as_u64().unwrap() as f64 / 1000.0;
    assert_eq!(py["count"].as_u64(), Some(logged), "{py}");
    let l = |k: &str| merged.f64(&format!("/summary/latency_ms/{k}"));
    assert_eq!(
        [l("p50"), l("p90"), l("p99"), l("p999"), l("max")],
        [us("p50"), us("p90"), us("p99"), us("p999"), us("max")],
        "merged percentiles vs the independent HDR addition {py}"
    );

    // One row per worker, in shard order, each its own count.
    let rows: Vec<(String, u64)> = merged.json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().to_string(),
                g["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, u64)> = own
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("worker-{i}"), *n))
        .collect();
    assert_eq!(rows, want, "--group-by worker rows\n{ctx}");
    assert_eq!(merged.str("/group_by"), "worker");

    assert_result_schema(&merged.json);
    let c = &merged.json["coordinator"];
    assert_eq!(c["partial"], false, "{c}");
    let ws = c["workers"].as_array().unwrap();
    assert_eq!(ws.len(), 4, "{c}");
    for w in ws {
        assert_eq!(w["status"], "finished", "{c}");
        let offset = w["clock_offset_ms"].as_f64().unwrap();
        let rtt = w["clock_rtt_ms"].as_f64().unwrap();
        assert!(
            offset.abs() <= rtt / 2.0 + 0.5,
            "one machine, one clock: |offset| {offset} ms must be within rtt/2 = {} ms",
            rtt / 2.0
        );
        let error = w["start_error_ms"].as_f64().unwrap();
        assert!(
            error.abs() < 250.0,
            "worker {} started {error} ms from the --start-at instant",
            w["index"]
        );
        assert_eq!(w["shard"], format!("{}/4", w["index"]), "{c}");
    }
}

/// The criteria are the whole run's: with 4 workers of 500 requests each,
/// `requests <= 1500` would pass on every worker's own slice but fails the merged run
/// (exit 1), and `requests >= 1800` would fail every slice but passes the merged run
/// (exit 0). Given to the coordinator or to the workers, the criterion is judged once,
/// on the merged data: a worker judges nothing (exit 0, no criteria in its result).
#[test]
fn thresholds_are_judged_on_the_whole() {
    let _serial = serial();
    let Some(bin) = nginx_binary("thresholds_are_judged_on_the_whole") else {
        return;
    };
    let nginx = Nginx::start(&bin);
    let url = nginx.url("/");
    for (criterion, whole_exit) in [("requests <= 1500", 1), ("requests >= 1800", 0)] {
        for on_workers in [false, true] {
            let (coord, to) = if on_workers {
                coordinator(4, &[])
            } else {
                coordinator(4, &["--threshold", criterion])
            };
            let mut args = vec!["-n", "500", "-c", "2", "--threads", "1", "--report-to", &to];
            if on_workers {
                args.extend(["--threshold", criterion]);
            }
            let merged = run_judged(coord, 4, &url, &args, 500);
            assert_judged(&merged, criterion, whole_exit, 1, 2000.0);
        }
    }
}

/// Starts `workers` workers (`stampede run TARGET ARGS`), waits for them and for the
/// coordinator `coord`; checks that each sent `requests` and judged nothing (exit 0, no
/// criteria in its result). Returns the coordinator's run.
fn run_judged(
    coord: Stampede,
    workers: usize,
    target: &str,
    args: &[&str],
    requests: u64,
) -> RunOutput {
    let started: Vec<Stampede> = (0..workers)
        .map(|_| Stampede::spawn(target, args))
        .collect();
    let runs: Vec<RunOutput> = started.into_iter().map(|w| w.wait(LIMIT)).collect();
    let merged = coord.wait(LIMIT);
    for r in &runs {
        assert_eq!(r.u64("/summary/requests"), requests, "{}", r.context());
        assert_eq!(code(r), 0, "a worker judges nothing\n{}", r.context());
        assert_eq!(
            r.json["thresholds"],
            serde_json::json!([]),
            "{}",
            r.context()
        );
    }
    merged
}

/// The coordinator's verdict: exit `whole_exit`, `judged` criteria, each `criterion`
/// observing `observed` and passing when the exit is 0.
fn assert_judged(
    merged: &RunOutput,
    criterion: &str,
    whole_exit: i32,
    judged: usize,
    observed: f64,
) {
    let ctx = merged.context();
    assert_eq!(
        code(merged),
        whole_exit,
        "the merged verdict on '{criterion}'\n{ctx}"
    );
    let all = merged.json["thresholds"].as_array().expect("thresholds");
    assert_eq!(all.len(), judged, "each criterion judged once\n{ctx}");
    for t in all {
        assert_eq!(t["threshold"], criterion, "{ctx}");
        assert_eq!(t["observed"].as_f64(), Some(observed), "{ctx}");
        assert_eq!(t["passed"], whole_exit == 0, "{ctx}");
    }
}

/// A scenario file's criteria (the whole run's and a step's) travel to the coordinator
/// and are judged on the merged run: with 2 workers of 400 journeys each,
/// `requests >= 600` fails each slice alone and passes the whole (exit 0), `requests <=
/// 500` the other way round (exit 1). The workers exit 0 and judge nothing.
#[test]
fn a_scenario_files_criteria_are_judged_on_the_whole() {
    let _serial = serial();
    let Some(bin) = nginx_binary("a_scenario_files_criteria_are_judged_on_the_whole") else {
        return;
    };
    let nginx = Nginx::start(&bin);
    let dir = tempfile::tempdir().expect("temporary directory");
    for (criterion, whole_exit) in [("requests >= 600", 0), ("requests <= 500", 1)] {
        let file = dir.path().join("journey.toml");
        std::fs::write(
            &file,
            format!(
                "thresholds = [\"{criterion}\"]\n\n[target]\nbase_url = \"{}\"\n\n\
                 [load]\nvus = 2\nduration = \"20s\"\n\n[[scenarios]]\nname = \"s\"\n  \
                 [[scenarios.steps]]\n  name = \"page\"\n  url = \"/\"\n  \
                 thresholds = [\"{criterion}\"]\n",
                nginx.url("").trim_end_matches('/')
            ),
        )
        .unwrap();
        let file = file.to_str().unwrap();
        let (coord, to) = coordinator(2, &[]);
        let args = ["-n", "400", "--threads", "1", "--report-to", &to];
        let merged = run_judged(coord, 2, file, &args, 400);
        assert_judged(&merged, criterion, whole_exit, 2, 800.0);
    }
}

/// Against a refused port a worker's criterion has no data, and no data never passes:
/// the merged run fails it (exit 1, observed null), while each worker keeps its pace
/// (exactly 50 req/s for 2 s each: a failing service gets no more than planned).
#[test]
fn a_workers_criterion_without_data_fails_the_merged_run() {
    let _serial = serial();
    let refused = format!("http://127.0.0.1:{}/", free_port());
    let (coord, to) = coordinator(2, &[]);
    let args = [
        "--rate",
        "50",
        "-d",
        "2s",
        "--threshold",
        "p99 < 200ms",
        "--report-to",
        &to,
    ];
    let merged = run_judged(coord, 2, &refused, &args, 100);
    let ctx = merged.context();
    assert_eq!(code(&merged), 1, "{ctx}");
    assert_eq!(merged.u64("/summary/requests"), 200, "{ctx}");
    assert_eq!(merged.u64("/errors_by_class/connect_refused"), 200, "{ctx}");
    let t = &merged.json["thresholds"][0];
    assert_eq!(t["threshold"], "p99 < 200ms", "{ctx}");
    assert!(t["observed"].is_null(), "no data\n{ctx}");
    assert_eq!(t["passed"], false, "{ctx}");
}

/// A worker killed with SIGKILL mid-run is reported lost (a warning, its entry in the
/// result), the run ends on time, the result is marked partial and holds exactly the
/// survivors' requests; the exit code says the run did not complete (3).
#[test]
fn a_killed_worker_is_lost_and_the_run_ends_on_time() {
    let _serial = serial();
    let Some(bin) = nginx_binary("a_killed_worker_is_lost_and_the_run_ends_on_time") else {
        return;
    };
    let nginx = Nginx::start(&bin);
    let url = nginx.url("/");
    let (coord, to) = coordinator(3, &["--lost-after", "2s"]);
    let started = Instant::now();
    let args = [
        "--rate",
        "300",
        "-d",
        "4s",
        "--threads",
        "1",
        "--report-to",
        &to,
    ];
    let mut workers: Vec<Stampede> = (0..3).map(|_| Stampede::spawn(&url, &args)).collect();
    std::thread::sleep(Duration::from_millis(1500));
    let victim = workers.remove(0);
    victim.kill_hard();
    let runs: Vec<RunOutput> = workers.into_iter().map(|w| w.wait(LIMIT)).collect();
    let merged = coord.wait(LIMIT);
    let took = started.elapsed();
    drop(victim);
    let ctx = merged.context();
    eprintln!("coordinator ended after {took:?}");
    assert!(
        took < Duration::from_secs(4 + 2 + 6),
        "the coordinator ended {took:?} after the start of a 4 s run (lost after 2 s)\n{ctx}"
    );
    assert_eq!(
        code(&merged),
        3,
        "a partial run is not a complete one\n{ctx}"
    );
    assert_result_schema(&merged.json);
    let c = &merged.json["coordinator"];
    assert_eq!(c["partial"], true, "{c}");
    let lost: Vec<_> = c["workers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["status"] == "lost")
        .collect();
    assert_eq!(lost.len(), 1, "{c}");
    assert!(
        lost[0]["lost"].as_str().unwrap().contains("no message"),
        "{c}"
    );
    let survivors: u64 = runs.iter().map(|r| r.u64("/summary/requests")).sum();
    assert_eq!(merged.u64("/summary/requests"), survivors, "{ctx}");
    assert!(
        merged.stderr.contains("lost") && merged.stderr.contains("partial"),
        "the coordinator says so\n{ctx}"
    );
}

/// A worker whose coordinator never answers backs off (a handful of attempts, not a
/// tight loop), ends on time and keeps its own result.
#[test]
fn an_unreachable_coordinator_is_retried_with_back_off() {
    let _serial = serial();
    let Some(bin) = nginx_binary("an_unreachable_coordinator_is_retried_with_back_off") else {
        return;
    };
    let nginx = Nginx::start(&bin);
    // Accepts and hangs up at once: every POST fails.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let to = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let counter = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut accepted = 0u32;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok(_) => accepted += 1,
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            accepted
        })
    };
    let started = Instant::now();
    let run = Stampede::spawn(
        &nginx.url("/"),
        &[
            "--rate",
            "100",
            "-d",
            "4s",
            "--threads",
            "1",
            "--report-to",
            &to,
        ],
    )
    .wait(LIMIT);
    let took = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let attempts = counter.join().unwrap();
    eprintln!("{attempts} attempts in {took:?}");
    run.assert_success();
    assert_eq!(run.u64("/summary/requests"), 400, "{}", run.context());
    assert!(
        took < Duration::from_secs(4 + 4),
        "a 4 s run took {took:?} with its coordinator away"
    );
    // 0.5 + 1 + 2 s of back-off fit in 4 s: about 4 attempts, and 1 at the end.
    assert!((2..=8).contains(&attempts), "{attempts} attempts");
    assert!(
        run.stderr.contains("retrying with back-off") && run.stderr.contains("local output"),
        "the worker says so\n{}",
        run.stderr
    );
}

/// `--abort-on-fail` on the merged data stops every worker: 2 workers at 100 req/s
/// each for 20 s, `requests < 300` fails on the whole after about 1.5 s (never on one
/// worker's slice before 3 s): both stop within seconds, the coordinator exits 1.
#[test]
fn abort_on_fail_stops_every_worker() {
    let _serial = serial();
    let Some(bin) = nginx_binary("abort_on_fail_stops_every_worker") else {
        return;
    };
    let nginx = Nginx::start(&bin);
    let metrics = format!("127.0.0.1:{}", free_port());
    let (coord, to) = coordinator(
        2,
        &[
            "--threshold",
            "requests < 300",
            "--abort-on-fail",
            "--prometheus-listen",
            &metrics,
            "--prometheus-hold",
            "3s",
        ],
    );
    let started = Instant::now();
    let args = [
        "--rate",
        "100",
        "-d",
        "20s",
        "--threads",
        "1",
        "--report-to",
        &to,
    ];
    let workers: Vec<Stampede> = (0..2)
        .map(|_| Stampede::spawn(&nginx.url("/"), &args))
        .collect();
    let runs: Vec<RunOutput> = workers.into_iter().map(|w| w.wait(LIMIT)).collect();
    let took = started.elapsed();
    // The coordinator serves the merged run's final numbers (held 3 s).
    let text = final_metrics(&metrics);
    let merged = coord.wait(LIMIT);
    let ctx = merged.context();
    assert!(
        took < Duration::from_secs(10),
        "the workers ran {took:?} of 20 s\n{ctx}"
    );
    let served = text
        .lines()
        .find_map(|l| l.strip_prefix("stampede_requests_total "))
        .unwrap_or_else(|| panic!("no stampede_requests_total in\n{text}"));
    assert_eq!(
        served.trim().parse::<u64>().unwrap(),
        merged.u64("/summary/requests"),
        "Prometheus serves the merged total\n{text}"
    );
    assert_eq!(code(&merged), 1, "{ctx}");
    for r in &runs {
        assert!(r.json["aborted"] == true, "{}", r.context());
        assert!(
            r.stderr.contains("the coordinator stops the run"),
            "{}",
            r.stderr
        );
    }
    assert!(merged.stderr.contains("stopped early"), "{ctx}");
    assert_eq!(merged.json["thresholds"][0]["passed"], false, "{ctx}");
}

/// GETs `http://ADDR/metrics` until it says the run finished (bounded).
fn final_metrics(addr: &str) -> String {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut text = String::new();
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
            let _ = s.read_to_string(&mut text);
        }
        if text.lines().any(|l| l == "stampede_run_finished 1") {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no final metrics on {addr}: {text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A `--lost-after` under 2 s would declare healthy workers lost (they report once a
/// second): a usage error, before anything listens.
#[test]
fn a_lost_after_under_two_seconds_is_refused() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(["coordinator", "--listen", "127.0.0.1:0", "--workers", "2"])
        .args(["--lost-after", "1s"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--lost-after must be at least 2 s"), "{err}");
}
