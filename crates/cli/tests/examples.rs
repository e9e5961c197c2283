//! Every scenario file in `examples/` runs for about 2 s against the in-process built-in
//! target (`--base-url`), without a single error, and every step of it sends requests: the
//! examples are documentation, so they must keep working.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use stampede_scenario::{load_file, Step};
use stampede_testserver::{TargetConfig, TargetHandle};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn example_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("examples/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// The table rows a file's steps record into: HTTP requests, WebSocket connects and
/// expects, groups included.
fn step_keys(steps: &[Step], out: &mut Vec<String>) {
    for s in steps {
        match s {
            Step::Request(r) => out.push(r.key.clone()),
            Step::WsConnect(c) => out.push(c.key.clone()),
            Step::WsExpect(e) => out.push(e.key.clone()),
            Step::Group { steps, .. } => step_keys(steps, out),
            Step::Think(_) | Step::WsSend(_) | Step::WsClose => {}
        }
    }
}

#[test]
fn examples_are_the_three_promised() {
    let names: Vec<String> = example_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in ["checkin-fleet.toml", "signup.toml", "stream-soak.toml"] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
}

#[test]
fn every_example_runs_without_errors_and_every_step_sends() {
    // One target for all files, as `stampede target` would be; port 0 picks a free port.
    let target =
        TargetHandle::start(TargetConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)))).unwrap();
    let base = format!("http://{}", target.addrs()[0]);
    let dir = tempfile::tempdir().unwrap();
    let files = example_files();
    assert!(!files.is_empty());
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let journeys = load_file(&file).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut keys = Vec::new();
        for s in &journeys.scenarios {
            step_keys(&s.steps, &mut keys);
        }
        assert!(!keys.is_empty(), "{name}: no request steps");

        let out = dir.path().join(format!("{name}.json"));
        let o = Command::new(env!("CARGO_BIN_EXE_stampede"))
            .arg("run")
            .arg(&file)
            .args(["--base-url", &base, "-d", "2s", "-q", "-o"])
            .arg(&out)
            .output()
            .unwrap();
        let table = String::from_utf8_lossy(&o.stdout);
        let stderr = String::from_utf8_lossy(&o.stderr);
        // 0, or 1 when a latency threshold broke on a busy machine; errors are checked below.
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "{name}: exit {:?}\n{stderr}\n{table}",
            o.status
        );
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let s = &doc["summary"];
        assert_eq!(s["errors"], 0, "{name}: errors\n{table}");
        assert_eq!(s["timeouts"], 0, "{name}: timeouts\n{table}");
        assert_eq!(
            doc["errors_by_class"],
            serde_json::json!({}),
            "{name}: error classes\n{table}"
        );
        let groups = doc["groups"].as_array().expect("a row per step");
        for key in &keys {
            let row = groups
                .iter()
                .find(|g| g["key"] == key.as_str())
                .unwrap_or_else(|| panic!("{name}: no row for step {key:?}\n{table}"));
            assert!(
                row["requests"].as_u64().unwrap() > 0,
                "{name}: step {key:?} sent nothing\n{table}"
            );
            assert_eq!(row["errors"], 0, "{name}: step {key:?} has errors\n{table}");
        }
    }
}
