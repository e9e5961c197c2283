//! Shards merge exactly: four `stampede run` processes started together against one
//! nginx, merged with `stampede_result::merge`, count what nginx logged, and their merged
//! percentiles equal those of the HDR addition of the four files' histograms computed by
//! an independent reader (Python's `hdrhistogram` package, `pip install hdrhistogram`,
//! which `.ci/run` does).
//!
//! A second test runs two real shards (`--shard 0/2`, `1/2`) and merges them with the
//! `stampede merge` command.
//!
//! ```sh
//! cargo test --release -p stampede --test merge
//! ```

#[allow(dead_code)] // the shared helpers of the external suites; this test uses a few
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use stampede_result::{merge, RunResult};
use support::{external_tool, nginx_binary, serial, Nginx, Stampede};

/// Slack on top of a command's own length before it counts as hung.
const GRACE: Duration = Duration::from_secs(30);

/// Decodes each file's `histograms.latency` with `hdrh`, adds them, and prints the count
/// and the nearest-rank percentiles (the smallest value with at least ceil(q * count)
/// samples at or below it, as HdrHistogram's `value_at_quantile` defines them), in µs.
const PYTHON_READER: &str = r#"
import json, math, sys
from hdrh.histogram import HdrHistogram

total = None
for path in sys.argv[1:]:
    with open(path) as f:
        h = HdrHistogram.decode(json.load(f)["histograms"]["latency"])
    if total is None:
        total = h
    else:
        total.add(h)

def at(q):
    want = max(1, math.ceil(q * total.get_total_count()))
    seen = 0
    for i in range(total.counts_len):
        seen += total.get_count_at_index(i)
        if seen >= want:
            return total.get_highest_equivalent_value(total.get_value_from_index(i))
    return 0

print(json.dumps({
    "count": total.get_total_count(),
    "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "p999": at(0.999),
    "max": total.get_max_value(),
}))
"#;

/// A Python that imports `hdrh`.
fn python_with_hdrh() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("STAMPEDE_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.extend(support::find_program(&["python3"]));
    candidates.push(PathBuf::from("/usr/bin/python3"));
    candidates.into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import hdrh.histogram"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn python_sum(python: &Path, files: &[PathBuf]) -> serde_json::Value {
    let o = Command::new(python)
        .arg("-c")
        .arg(PYTHON_READER)
        .args(files)
        .output()
        .expect("running python");
    assert!(
        o.status.success(),
        "the Python reader failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("the Python reader prints JSON")
}

#[test]
fn four_shards_merge_to_what_nginx_logged() {
    let _serial = serial();
    let test = "four_shards_merge_to_what_nginx_logged";
    let Some(bin) = nginx_binary(test) else {
        return;
    };
    let Some(python) = external_tool(
        test,
        "a Python with the hdrhistogram package",
        python_with_hdrh(),
        "pip install hdrhistogram",
    ) else {
        return;
    };
    let nginx = Nginx::start(&bin);
    let url = nginx.url("/");
    let args = ["--rate", "1000", "-d", "3s", "--threads", "1"];
    let shards: Vec<Stampede> = (0..4).map(|_| Stampede::spawn(&url, &args)).collect();
    let runs: Vec<_> = shards
        .into_iter()
        .map(|s| s.wait(Duration::from_secs(40)))
        .collect();
    let logged = nginx.access_log_lines();

    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut docs = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        run.assert_success();
        let ctx = run.context();
        for field in ["errors", "timeouts", "unfinished"] {
            assert_eq!(run.u64(&format!("/summary/{field}")), 0, "{field}\n{ctx}");
        }
        let path = dir.path().join(format!("shard-{i}.json"));
        std::fs::write(&path, run.json.to_string()).unwrap();
        files.push(path);
        docs.push(RunResult::from_json(&run.json.to_string()).unwrap());
    }

    let merged = merge(&docs).unwrap();
    let s = &merged.summary.core;
    let shard_sum: u64 = docs.iter().map(|d| d.summary.core.requests).sum();
    eprintln!(
        "4 shards: requests {} (sum of shards {shard_sum}), nginx logged {logged}, \
         latency p50 {} p99 {} max {} ms, started {} .. {}",
        s.requests,
        s.latency_ms.p50,
        s.latency_ms.p99,
        s.latency_ms.max,
        docs.iter().map(|d| d.started_at.as_str()).min().unwrap(),
        docs.iter().map(|d| d.started_at.as_str()).max().unwrap(),
    );
    assert_eq!(s.requests, logged, "merged requests vs nginx's access log");
    assert!(
        logged >= 4 * 2_900,
        "the shards did not apply their load: {logged} requests"
    );
    assert_eq!(
        merged.series.iter().map(|p| p.requests).sum::<u64>(),
        logged,
        "the merged per-second series counts every request"
    );

    let py = python_sum(&python, &files);
    let us = |k: &str| py[k].as_u64().unwrap() as f64 / 1000.0;
    assert_eq!(py["count"].as_u64(), Some(logged), "{py}");
    let l = &s.latency_ms;
    assert_eq!(
        [l.p50, l.p90, l.p99, l.p999, l.max],
        [us("p50"), us("p90"), us("p99"), us("p999"), us("max")],
        "merged percentiles vs the independent HDR addition {py}"
    );
}

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
    let Some(python) = external_tool(
        test,
        "a Python with the hdrhistogram package",
        python_with_hdrh(),
        "pip install hdrhistogram",
    ) else {
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
