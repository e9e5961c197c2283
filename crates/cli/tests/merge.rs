//! Shards merge exactly: four `stampede run` processes started together against one
//! nginx, merged with `stampede_result::merge`, count what nginx logged, and their merged
//! percentiles equal those of the HDR addition of the four files' histograms computed by
//! an independent reader (Python's `hdrhistogram` package, `pip install hdrhistogram`,
//! which `.ci/run` does).
//!
//! ```sh
//! cargo test --release -p stampede --test merge
//! ```

#[allow(dead_code)] // the shared helpers of the external suites; this test uses a few
mod support;

use std::time::Duration;

use stampede_result::{merge, RunResult};
use support::hdrh::python_sum;
use support::{nginx_binary, serial, Nginx, Stampede};

#[test]
fn four_shards_merge_to_what_nginx_logged() {
    let _serial = serial();
    let test = "four_shards_merge_to_what_nginx_logged";
    let Some(bin) = nginx_binary(test) else {
        return;
    };
    let Some(python) = support::hdrh::python(test) else {
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
