//! Sharded runs against nginx, merged by `stampede merge`: two real shards of one run
//! (`--shard 0/2`, `--shard 1/2`, one shared `--start-at`) are exactly the whole run.
//!
//! ```sh
//! cargo test --release -p stampede --test shard
//! ```

#[allow(dead_code)] // the shared helpers of the external suites; this test uses a few
mod support;

use std::process::Command;
use std::time::{Duration, SystemTime};

use stampede_result::RunResult;
use support::hdrh::python_sum;
use support::{nginx_binary, serial, Nginx, Stampede};

/// Slack on top of a command's own length before it counts as hung.
const GRACE: Duration = Duration::from_secs(30);

/// Two real shards of one run (`--shard 0/2` and `1/2`, one shared `--start-at`) against
/// nginx, merged by `stampede merge`: the merged `requests` is what nginx logged, the
/// merged histogram is the HDR addition of the shards' (decoded independently by
/// Python), the shards started together, and the thresholds are judged on the whole:
/// `requests <= 2250` passes in each half and fails the whole (exit 1), `requests >=
/// 2250` fails each half and passes the whole.
#[test]
fn two_shards_merge_with_stampede_merge() {
    let _serial = serial();
    let test = "two_shards_merge_with_stampede_merge";
    let Some(bin) = nginx_binary(test) else {
        return;
    };
    let Some(python) = support::hdrh::python(test) else {
        return;
    };
    let nginx = Nginx::start(&bin);
    let url = nginx.url("/");
    let at = SystemTime::now() + Duration::from_secs(2);
    let at = humantime::format_rfc3339_millis(at).to_string();
    let shards: Vec<Stampede> = (0..2)
        .map(|i| {
            let shard = format!("{i}/2");
            let args = [
                "--rate",
                "1000",
                "-d",
                "3s",
                "--threads",
                "1",
                "--shard",
                &shard,
                "--start-at",
                &at,
                "--threshold",
                "requests <= 2250",
                "--threshold",
                "requests >= 2250",
            ];
            Stampede::spawn(&url, &args)
        })
        .collect();
    let runs: Vec<_> = shards
        .into_iter()
        .map(|s| s.wait(Duration::from_secs(40)))
        .collect();
    let logged = nginx.access_log_lines();

    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let ctx = run.context();
        // Each half fails `requests >= 2250` on its own.
        assert_eq!(run.status.code(), Some(1), "shard {i}\n{ctx}");
        assert_eq!(
            run.u64("/summary/requests"),
            1_500,
            "shard {i}: its half\n{ctx}"
        );
        assert_eq!(run.u64("/summary/scheduled"), 1_500, "shard {i}\n{ctx}");
        assert_eq!(run.json["shard"]["indexes"][0], i, "{ctx}");
        assert_eq!(
            run.str("/start/planned_at").get(..23),
            Some(&at[..23]),
            "{ctx}"
        );
        let error_ms = run.f64("/start/error_ms");
        assert!(
            error_ms.abs() < 50.0,
            "shard {i} started {error_ms} ms off\n{ctx}"
        );
        let path = dir.path().join(format!("shard-{i}.json"));
        std::fs::write(&path, run.json.to_string()).unwrap();
        files.push(path);
    }
    let out = dir.path().join("all.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stampede"));
    cmd.arg("merge").args(&files).arg("-o").arg(&out);
    let (status, stdout, stderr) = support::run_bounded(&mut cmd, dir.path(), GRACE);
    let ctx = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(
        status.code(),
        Some(1),
        "the whole fails requests <= 2250\n{ctx}"
    );
    let merged = RunResult::from_json(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let s = &merged.summary.core;
    eprintln!(
        "2 shards: merged requests {}, nginx logged {logged}, start errors {:?} ms, \
         latency p50 {} p99 {} max {} ms",
        s.requests,
        runs.iter()
            .map(|r| r.f64("/start/error_ms"))
            .collect::<Vec<_>>(),
        s.latency_ms.p50,
        s.latency_ms.p99,
        s.latency_ms.max,
    );
    assert_eq!(
        s.requests, logged,
        "merged requests vs nginx's access log\n{ctx}"
    );
    assert_eq!(
        s.requests, 3_000,
        "the two halves are the whole schedule\n{ctx}"
    );
    assert_eq!(merged.summary.scheduled, Some(3_000));
    assert_eq!(
        merged.config.rate,
        Some(1_000.0),
        "the halves' rates add up"
    );
    let shard = merged
        .shard
        .as_ref()
        .expect("the merge says which shards it holds");
    assert_eq!((shard.count, &shard.indexes[..]), (2, &[0, 1][..]));
    let verdicts: Vec<(&str, bool)> = merged
        .thresholds
        .iter()
        .map(|t| (t.threshold.as_str(), t.passed))
        .collect();
    assert_eq!(
        verdicts,
        [("requests <= 2250", false), ("requests >= 2250", true)],
        "judged on the whole, not on each half\n{ctx}"
    );

    let py = python_sum(&python, &files);
    assert_eq!(py["count"].as_u64(), Some(logged), "{py}");
    let us = |k: &str| py[k].as_u64().unwrap() as f64 / 1000.0;
    let l = &s.latency_ms;
    assert_eq!(
        [l.p50, l.p90, l.p99, l.p999, l.max],
        [us("p50"), us("p90"), us("p99"), us("p999"), us("max")],
        "merged percentiles vs the independent HDR addition {py}"
    );
    // The merged histogram itself, decoded by the same reader, is that addition.
    let whole = python_sum(&python, std::slice::from_ref(&out));
    assert_eq!(
        whole, py,
        "the merged histogram vs the shards' HDR addition"
    );
}
