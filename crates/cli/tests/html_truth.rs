//! What the HTML report says about a run (issue 12, item 13), through the binary against
//! the built-in target on 127.0.0.1: threshold verdicts, the load described as it ran
//! (fleets, virtual users, journeys), and a schedule line for open-model scenario runs.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use stampede_testserver::{TargetConfig, TargetHandle};

fn target() -> TargetHandle {
    TargetHandle::start(TargetConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)))).unwrap()
}

/// Runs `stampede ARGS -q -o DIR/r.json --html DIR/r.html`; returns the exit code, the
/// document and the page.
fn run(dir: &Path, args: &[&str]) -> (Option<i32>, Value, String) {
    let (json, html) = (dir.join("r.json"), dir.join("r.html"));
    let o = Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(args)
        .args(["-q", "-o"])
        .arg(&json)
        .arg("--html")
        .arg(&html)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let doc = serde_json::from_str(
        &std::fs::read_to_string(&json)
            .unwrap_or_else(|_| panic!("no result: {}", String::from_utf8_lossy(&o.stderr))),
    )
    .unwrap();
    (
        o.status.code(),
        doc,
        std::fs::read_to_string(&html).unwrap(),
    )
}

#[test]
fn failed_thresholds_are_in_the_page() {
    let t = target();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{}/?delay=5ms", t.addrs()[0]);
    let (code, _, html) = run(
        dir.path(),
        &[
            "run",
            &url,
            "-c",
            "2",
            "-d",
            "1s",
            "--threshold",
            "p50 < 1ms",
            "--threshold",
            "error_rate < 1%",
        ],
    );
    assert_eq!(code, Some(1));
    assert!(html.contains("<h2>Thresholds</h2>"));
    assert!(html.contains("1 of 2 thresholds FAILED"));
    assert!(html.contains("total ✗"), "the failed row is marked");
}

#[test]
fn an_open_scenario_run_draws_its_schedule_and_says_journeys() {
    let t = target();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("j.toml");
    std::fs::write(
        &file,
        format!(
            "[target]\nbase_url = \"http://{}\"\n\n[load]\nrate = 20\nduration = \"2s\"\n\n\
             [[scenarios]]\nname = \"s\"\n  [[scenarios.steps]]\n  url = \"/a\"\n  \
             [[scenarios.steps]]\n  url = \"/b\"\n",
            t.addrs()[0]
        ),
    )
    .unwrap();
    let (code, doc, html) = run(dir.path(), &["run", file.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    let targets: Vec<f64> = doc["series"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["target_rate"].as_f64())
        .collect();
    assert!(targets.len() >= 2, "{}", doc["series"]);
    assert!((targets[0] - 20.0).abs() < 0.01, "{targets:?}");
    assert!(html.contains("scheduled journeys/s"));
    assert!(html.contains("20 journeys/s"), "load described in journeys");
}

#[test]
fn a_fleet_is_described_as_a_fleet() {
    let t = target();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{}/", t.addrs()[0]);
    let (_, _, html) = run(
        dir.path(),
        &[
            "run",
            &url,
            "--clients",
            "5",
            "--every",
            "500ms",
            "-d",
            "1s",
        ],
    );
    assert!(
        html.contains("fleet of 5 clients, each every 0.50s"),
        "{}",
        &html[..html.len().min(2000)]
    );
    assert!(!html.contains("closed model"));
}

/// Issue 9 d: in a file with an open and a closed scenario, each row says how its latency
/// is measured, and the run says it is mixed.
#[test]
fn mixed_lanes_report_their_own_latency_model() {
    let t = target();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mixed.toml");
    std::fs::write(
        &file,
        format!(
            r#"[target]
base_url = "http://{}"

[load]
duration = "2s"

[[scenarios]]
name = "arrivals"
load = {{ model = "open", rate = 20 }}
  [[scenarios.steps]]
  name = "first"
  url = "/a"
  [[scenarios.steps]]
  name = "second"
  url = "/b"

[[scenarios]]
name = "users"
load = {{ model = "closed", vus = 2 }}
  [[scenarios.steps]]
  name = "loop"
  url = "/c"
  [[scenarios.steps]]
  think = "100ms"
"#,
            t.addrs()[0]
        ),
    )
    .unwrap();
    let (code, doc, html) = run(dir.path(), &["run", file.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    assert_eq!(doc["latency_model"], "mixed");
    let model = |key: &str| {
        doc["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["key"] == key)
            .unwrap_or_else(|| panic!("no {key} in {}", doc["groups"]))["latency_model"]
            .clone()
    };
    assert_eq!(model("arrivals / first"), "corrected");
    assert_eq!(model("arrivals / second"), "service_time");
    assert_eq!(model("users / loop"), "service_time");
    assert!(html.contains("the total mixes both"));
}

/// Issue 12 item 9: a `ws_expect` that waits 300 ms reports its own wait, not the run's.
#[test]
fn a_ws_expect_timeout_is_reported_with_its_own_wait() {
    let t = target();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ws.toml");
    std::fs::write(
        &file,
        format!(
            r#"[target]
base_url = "http://{}"

[load]
vus = 1
duration = "1s"

[[scenarios]]
name = "s"
  [[scenarios.steps]]
  ws_connect = "/ws"
  [[scenarios.steps]]
  name = "silence"
  ws_expect = {{ contains = "never sent", timeout = "300ms" }}
  [[scenarios.steps]]
  ws_close = true
"#,
            t.addrs()[0]
        ),
    )
    .unwrap();
    let (_, doc, html) = run(dir.path(), &["run", file.to_str().unwrap()]);
    let row = doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "s / silence")
        .cloned()
        .unwrap_or_else(|| panic!("{}", doc["groups"]));
    assert!(row["timeouts"].as_u64().unwrap() >= 1, "{row}");
    assert_eq!(row["timeout_ms"].as_f64(), Some(300.0), "{row}");
    assert!(
        html.contains("s / silence: 300 ms"),
        "the page names the step's wait"
    );
}
