//! An independent reader of the result's histograms: Python's `hdrhistogram` package
//! (`pip install hdrhistogram`, which `.ci/run` does) decodes and adds them.
#![allow(dead_code)] // used by merge.rs and coordinator.rs, not by every test crate

use std::path::{Path, PathBuf};
use std::process::Command;

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
pub(crate) fn python_with_hdrh() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("STAMPEDE_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.extend(super::find_program(&["python3"]));
    candidates.push(PathBuf::from("/usr/bin/python3"));
    candidates.into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import hdrh.histogram"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

pub(crate) fn python_sum(python: &Path, files: &[PathBuf]) -> serde_json::Value {
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

/// The Python reader, or `None` when `STAMPEDE_SKIP_EXTERNAL=1` allows skipping `test`
/// without it.
pub(crate) fn python(test: &str) -> Option<PathBuf> {
    super::external_tool(
        test,
        "a Python with the hdrhistogram package",
        python_with_hdrh(),
        "pip install hdrhistogram",
    )
}
