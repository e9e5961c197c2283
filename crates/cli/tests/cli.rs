//! The `stampede` binary end to end against the built-in target on 127.0.0.1: exit
//! codes, the table, the JSON contract, Ctrl-C.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stampede_testserver::{FaultProfile, TargetConfig, TargetHandle};

fn stampede() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stampede"))
}

fn target(instances: u16) -> TargetHandle {
    let mut c = TargetConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    c.instances = instances;
    c.instance_profiles.insert(
        instances,
        FaultProfile {
            error_rate: 0.2,
            error_status: 503,
            ..FaultProfile::default()
        },
    );
    TargetHandle::start(c).unwrap()
}

fn validate(doc: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../result/schema/result.schema.json"))
            .expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "schema violations: {errors:#?}");
}

fn read_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn open_model_run_writes_a_valid_result_with_groups() {
    let t = target(2);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let a = t.addrs();
    let o = stampede()
        .args([
            "run",
            &format!("http://{}/", a[0]),
            "--rate",
            "400",
            "-d",
            "2s",
        ])
        .args(["--group-by", "header:X-Served-By", "-q", "-o"])
        .arg(&out)
        .args(["--connect-to", &a[0].to_string()])
        .args(["--connect-to", &a[1].to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8(o.stdout).unwrap();
    assert!(table.contains("X-Served-By"), "{table}");
    assert!(
        table.contains("target-1") && table.contains("target-2"),
        "{table}"
    );
    assert!(table.contains("http_5xx"), "{table}");
    assert!(
        table.contains("corrected for coordinated omission"),
        "{table}"
    );

    let doc = read_json(&out);
    validate(&doc);
    assert_eq!(doc["summary"]["requests"], 800);
    assert_eq!(doc["summary"]["target_rate"], 400.0);
    assert_eq!(doc["latency_model"], "corrected");
    assert_eq!(doc["groups"].as_array().unwrap().len(), 2);
    let bad = &doc["groups"][1];
    assert_eq!(bad["key"], "target-2");
    assert_eq!(bad["errors"], doc["summary"]["errors"]);
    assert_eq!(doc["errors_by_class"]["http_5xx"], doc["summary"]["errors"]);
    assert!(doc["series"].as_array().unwrap().len() >= 2);
    assert!(doc["histograms"]["latency"]
        .as_str()
        .unwrap()
        .starts_with("HISTFAAA"));
}

#[test]
fn closed_model_reports_service_time_and_null_target_rate() {
    let t = target(1);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let url = format!("http://{}/?size=1k", t.addrs()[0]);
    let o = stampede()
        .args(["run", &url, "-c", "4", "-n", "300", "-q", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success());
    let doc = read_json(&out);
    validate(&doc);
    assert_eq!(doc["summary"]["requests"], 300);
    assert!(doc["summary"]["target_rate"].is_null());
    assert_eq!(doc["latency_model"], "service_time");
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("time queued before sending is not included"),
        "{table}"
    );
}

#[test]
fn bad_usage_exits_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad_log = dir.path().join("outages.jsonl");
    std::fs::write(&bad_log, "\n{\"version\":1,\"instance\":").unwrap();
    let bad_log_path = bad_log.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["run", "ftp://127.0.0.1/"], "scheme"),
        (&["run", "http://127.0.0.1:1/", "--rate", "0"], "positive"),
        (&["run", "http://127.0.0.1:1/", "-d", "ten"], "duration"),
        (&["run", "http://127.0.0.1:1/", "--stage", "10s"], "stage"),
        (&["run", "http://127.0.0.1:1/", "-H", "no colon"], "header"),
        (
            &["run", "http://127.0.0.1:1/", "--rate", "5", "-c", "3"],
            "--connections",
        ),
        (
            &["run", "http://127.0.0.1:1/", "--group-by", "host"],
            "group-by",
        ),
        (
            &[
                "run",
                "http://127.0.0.1:1/",
                "--body-file",
                "/nonexistent/x",
            ],
            "body-file",
        ),
        (
            &["run", "http://no-such-host.invalid/", "-n", "1"],
            "resolve",
        ),
        (&["target", "--instance-fault", "2:bogus=1"], "bogus"),
        (
            &[
                "run",
                "http://127.0.0.1:1/",
                "--outage-log",
                "/nonexistent/o",
            ],
            "--outage-log /nonexistent/o",
        ),
        (
            &["run", "http://127.0.0.1:1/", "--outage-log", bad_log_path],
            "line 2, column",
        ),
        (
            &[
                "matrix",
                "http://h/",
                "--axis",
                "a=1",
                "--outage-log",
                bad_log_path,
            ],
            "not supported by matrix",
        ),
    ];
    for (args, needle) in cases {
        let o = stampede().args(*args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn ctrl_c_writes_the_partial_result_and_exits_3() {
    let t = target(1);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let url = format!("http://{}/", t.addrs()[0]);
    let child = stampede()
        .args(["run", &url, "--rate", "500", "-d", "60s", "-q", "-o"])
        .arg(&out)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let t0 = Instant::now();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stdout).contains("INTERRUPTED"));
    let doc = read_json(&out);
    validate(&doc);
    assert_eq!(doc["aborted"], true);
    assert!(doc["summary"]["requests"].as_u64().unwrap() > 300);
}

#[test]
fn demo_prints_a_row_per_instance() {
    let o = stampede()
        .args(["demo", "--duration", "3s", "--peak-rate", "300", "-q"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8(o.stdout).unwrap();
    for name in ["instance-1", "instance-2", "instance-3", "total"] {
        assert!(table.contains(name), "{table}");
    }
}

#[test]
fn watch_pid_reports_the_servers_cpu_per_request() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut server = stampede()
        .args(["target", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "target did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let url = format!("http://127.0.0.1:{port}/?cpu=200us");
    let o = stampede()
        .args(["run", &url, "-c", "4", "-n", "2000", "-q", "-o"])
        .arg(&out)
        .args(["--watch-pid", &server.id().to_string()])
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc = read_json(&out);
    validate(&doc);
    let srv = &doc["servers"][0];
    assert_eq!(srv["pid"], server.id());
    // 200 µs of busy work per request: at least that much CPU per request.
    let per_request = srv["cpu_per_request_us"].as_f64().unwrap();
    assert!(per_request >= 150.0, "{per_request} µs per request");
    assert!(String::from_utf8_lossy(&o.stdout).contains("µs CPU per request"));
    let missing = stampede()
        .args(["run", &url, "-n", "1", "--watch-pid", "999999999"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn thresholds_set_the_exit_code_and_are_reported() {
    // Instance 2 is the faulty one; instance 1 answers every request.
    let t = target(2);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let url = format!("http://{}/?delay=20ms", t.addrs()[0]);
    // Every request takes >= 20 ms: "p99 < 5ms" fails, "p50 > 15ms" holds.
    let o = stampede()
        .args(["run", &url, "-c", "2", "-n", "40", "-q"])
        .args(["--threshold", "p99 < 5ms", "--threshold", "p50>15ms"])
        .args(["--threshold", "error_rate < 1%", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("thresholds: 1 of 3 FAILED"), "{table}");
    assert!(table.contains("FAIL p99 < 5ms"), "{table}");
    assert!(table.contains("total ✗"), "{table}");
    let doc = read_json(&out);
    validate(&doc);
    let th = doc["thresholds"].as_array().unwrap();
    assert_eq!(th.len(), 3);
    assert_eq!(th[0]["passed"], false);
    assert!(th[0]["observed"].as_f64().unwrap() >= 20.0);
    assert_eq!(th[1]["passed"], true);
    assert_eq!(th[2]["passed"], true);

    // All passing: exit 0.
    let o = stampede()
        .args([
            "run",
            &url,
            "-c",
            "2",
            "-n",
            "20",
            "-q",
            "--threshold",
            "p50 > 15ms",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");

    // --abort-on-fail stops a 30 s run within a couple of seconds, exit 1.
    let started = Instant::now();
    let o = stampede()
        .args(["run", &url, "-c", "2", "-d", "30s", "-q", "--abort-on-fail"])
        .args(["--threshold", "max < 5ms"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(String::from_utf8_lossy(&o.stderr).contains("threshold 'max < 5ms' failed"));

    // A malformed threshold is a usage error.
    let o = stampede()
        .args(["run", &url, "--threshold", "p99 fast"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected METRIC OP VALUE"));
}

/// Issue 9 f: group rows show the protocol their requests went over, not `-`.
#[test]
fn group_rows_show_their_protocol() {
    let t = target(2);
    let a = t.addrs();
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("r.html");
    let o = stampede()
        .args(["run", &format!("http://{}/", a[0]), "-c", "2", "-n", "200"])
        .args(["--group-by", "header:X-Served-By", "-q", "--html"])
        .arg(&html)
        .args(["--connect-to", &a[0].to_string()])
        .args(["--connect-to", &a[1].to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8(o.stdout).unwrap();
    for key in ["target-1", "target-2", "total"] {
        let line = table
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key} row in\n{table}"));
        assert!(line.trim_end().ends_with("http/1.1"), "{line}\n{table}");
    }
    let html = std::fs::read_to_string(&html).unwrap();
    assert!(
        html.matches("<td class=\"n\">http/1.1</td>").count() >= 3,
        "every row of the HTML summary names its protocol"
    );
}

/// Issue 9 g: a password in the URL is shown and saved as `user:****@`.
#[test]
fn a_password_in_the_url_is_never_shown_or_saved() {
    let t = target(1);
    let dir = tempfile::tempdir().unwrap();
    let (out, html) = (dir.path().join("r.json"), dir.path().join("r.html"));
    let url = format!("http://alice:s3cret-pw@{}/", t.addrs()[0]);
    let o = stampede()
        .args(["run", &url, "--rate", "50", "-d", "1s", "-o"])
        .arg(&out)
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let shown = [
        String::from_utf8(o.stdout).unwrap(),
        String::from_utf8(o.stderr).unwrap(),
        std::fs::read_to_string(&out).unwrap(),
        std::fs::read_to_string(&html).unwrap(),
    ];
    for text in &shown {
        assert!(!text.contains("s3cret-pw"), "password leaked:\n{text}");
    }
    assert!(
        shown[0].contains("alice:****@"),
        "table header\n{}",
        shown[0]
    );
    assert!(shown[1].contains("alice:****@"), "progress\n{}", shown[1]);
    let doc = read_json(&out);
    assert_eq!(
        doc["config"]["url"],
        format!("http://alice:****@{}/", t.addrs()[0])
    );
    let report = stampede().arg("report").arg(&out).output().unwrap();
    assert!(!String::from_utf8_lossy(&report.stdout).contains("s3cret-pw"));
}

/// Version-1 results (written before the result crate) are still reported and compared;
/// a version this build does not know is refused with the reason, exit 2.
#[test]
fn report_and_compare_read_version_1_results() {
    let v1 = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../result/tests/fixtures/v1-result.json"
    );
    let o = stampede().args(["report", v1]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8(o.stdout).unwrap();
    assert!(
        table.contains("target-2") && table.contains("600"),
        "{table}"
    );
    let o = stampede().args(["compare", v1, v1]).output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let newer = dir.path().join("newer.json");
    let text = std::fs::read_to_string(v1).unwrap();
    std::fs::write(
        &newer,
        text.replacen("\"schema_version\": 1", "\"schema_version\": 7", 1),
    )
    .unwrap();
    let o = stampede().arg("report").arg(&newer).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("schema_version 7 is not one this stampede reads (1 to 2)"),
        "{err}"
    );
}

/// Issue 12 item 9: a plain run whose errors are all 5xx statuses has an `http_5xx`
/// sample (there was none: only failures without a response were sampled).
#[test]
fn status_errors_have_a_sample() {
    let t = target(1);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let o = stampede()
        .args(["run", &format!("http://{}/?status=503", t.addrs()[0])])
        .args(["-c", "1", "-n", "20", "-q", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc = read_json(&out);
    assert_eq!(doc["errors_by_class"], serde_json::json!({"http_5xx": 20}));
    let samples = doc["error_samples"].as_object().unwrap();
    assert_eq!(
        samples.keys().collect::<Vec<_>>(),
        ["http_5xx"],
        "{samples:?}"
    );
    assert_eq!(samples["http_5xx"], "HTTP status 503 Service Unavailable");
}

/// Runs `stampede ARGS` (bounded) and returns (exit code, stderr).
fn exit_and_stderr(args: &[&str]) -> (Option<i32>, String) {
    let mut child = stampede()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("stampede {args:?} still running after 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Issue 12 item 10: output paths were checked only after the run (a one-hour soak lost its
/// result) and the failure exited 3 ("aborted"). Now every output path is checked before
/// anything is sent: exit 2 naming the flag, and the target sees no request.
#[test]
fn unwritable_output_paths_fail_before_sending_with_exit_2() {
    let t = target(1);
    let url = format!("http://{}/", t.addrs()[0]);
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir/r.json");
    let missing = missing.to_str().unwrap();
    let a_dir = dir.path().to_str().unwrap();
    let cases: [(&[&str], &str); 6] = [
        (&["run", &url, "-d", "2s", "-q", "-o", missing], "--out"),
        (
            &["run", &url, "-d", "2s", "-q", "--html", missing],
            "--html",
        ),
        (&["run", &url, "-d", "2s", "-q", "-o", a_dir], "--out"),
        (&["demo", "--duration", "2s", "-q", "-o", missing], "--out"),
        (
            &["demo", "--duration", "2s", "-q", "--html", missing],
            "--html",
        ),
        (&["demo", "--duration", "0s", "-q"], "--duration"),
    ];
    for (args, flag) in cases {
        let started = Instant::now();
        let (code, stderr) = exit_and_stderr(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(flag),
            "{args:?} should name {flag}: {stderr}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{args:?} ran before failing"
        );
    }
    assert_eq!(t.requests_served(), 0, "a request was sent");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// `init` into a missing directory, `report --html` and `target --cert-out` into one: exit 2
/// naming the path (init exited 3).
#[test]
fn init_report_and_target_refuse_unwritable_paths_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir/x");
    let missing = missing.to_str().unwrap();
    let (code, stderr) = exit_and_stderr(&["init", missing]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(missing), "{stderr}");

    let t = target(1);
    let result = dir.path().join("r.json");
    let o = stampede()
        .args([
            "run",
            &format!("http://{}/", t.addrs()[0]),
            "-n",
            "10",
            "-c",
            "1",
            "-q",
            "-o",
        ])
        .arg(&result)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (code, stderr) = exit_and_stderr(&["report", result.to_str().unwrap(), "--html", missing]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--html"), "{stderr}");

    let (code, stderr) = exit_and_stderr(&[
        "target",
        "--listen",
        "127.0.0.1:0",
        "--tls",
        "--cert-out",
        missing,
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--cert-out"), "{stderr}");
}

/// Issue 12 item 12: flag errors name the flag; open-model flags outside the open model
/// are refused (they would be silently ignored).
#[test]
fn bad_or_unused_load_flags_are_usage_errors_naming_the_flag() {
    let url = "http://127.0.0.1:9/"; // never contacted: every case fails before sending
    let cases: [(&[&str], &str, &str); 5] = [
        (&["-m", "GE T"], "--method", "letters"),
        (
            &["-c", "5", "--arrival", "poisson"],
            "--arrival",
            "closed-model",
        ),
        (
            &["--max-connections", "10"],
            "--max-connections",
            "closed-model",
        ),
        (
            &["-c", "5", "--timer-slack", "1ms"],
            "--timer-slack",
            "ignored",
        ),
        (
            &["--clients", "5", "--arrival", "poisson"],
            "--arrival",
            "fleet",
        ),
    ];
    for (flags, flag, why) in cases {
        let (code, stderr) = exit_and_stderr(&[&["run", url, "-d", "1s"], flags].concat());
        assert_eq!(code, Some(2), "{flags:?}: {stderr}");
        assert!(
            stderr.contains(flag) && stderr.contains(why),
            "{flags:?}: {stderr}"
        );
    }
}

/// `report` and `compare` read schema versions 1 and 2 and refuse others clearly (an
/// unknown `schema_version` was accepted silently).
#[test]
fn report_refuses_an_unknown_schema_version() {
    let t = target(1);
    let dir = tempfile::tempdir().unwrap();
    let v1 = dir.path().join("v1.json");
    let o = stampede()
        .args([
            "run",
            &format!("http://{}/", t.addrs()[0]),
            "-c",
            "1",
            "-n",
            "10",
            "-q",
            "-o",
        ])
        .arg(&v1)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut doc = read_json(&v1);
    for (version, readable) in [(1, true), (2, true), (99, false)] {
        doc["schema_version"] = serde_json::json!(version);
        let path = dir.path().join(format!("v{version}.json"));
        std::fs::write(&path, doc.to_string()).unwrap();
        let p = path.to_str().unwrap();
        for args in [vec!["report", p], vec!["compare", p, p]] {
            let (code, stderr) = exit_and_stderr(&args);
            if readable {
                assert_eq!(code, Some(0), "{args:?}: {stderr}");
            } else {
                assert_eq!(code, Some(2), "{args:?}: {stderr}");
                assert!(
                    stderr.contains("schema_version 99") && stderr.contains(p),
                    "{stderr}"
                );
            }
        }
    }
}

/// `init FILE` writes comments naming FILE (they named stampede.toml).
#[test]
fn init_comments_name_the_file_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("journey.toml");
    let (code, stderr) = exit_and_stderr(&["init", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("stampede.toml"), "{text}");
    assert!(
        text.contains(&format!("stampede check {}", file.display())),
        "{text}"
    );
}

/// "1 connection", "1 thread", "1 connection opened", not "1 connections".
#[test]
fn counts_of_one_are_singular() {
    let t = target(1);
    let o = stampede()
        .args(["run", &format!("http://{}/", t.addrs()[0])])
        .args(["-c", "1", "-n", "5", "--threads", "1", "-q"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8(o.stdout).unwrap();
    for want in [
        "closed model, 1 connection ",
        "1 thread\n",
        "1 connection opened",
    ] {
        assert!(table.contains(want), "{want:?} in\n{table}");
    }
    assert!(
        !table.contains("1 connections") && !table.contains("1 threads"),
        "{table}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("one.toml");
    let scenario = format!(
        "[target]\nbase_url = \"http://{}\"\n[load]\nvus = 1\n\n[[scenarios]]\nname = \"s\"\n  [[scenarios.steps]]\n  url = \"/\"\n",
        t.addrs()[0]
    );
    std::fs::write(&file, scenario).unwrap();
    let o = stampede()
        .arg("run")
        .arg(&file)
        .args(["-n", "3", "--no-dashboard"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("(1 scenario)"), "{stderr}");
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("closed model, 1 virtual user "), "{table}");
}

/// README's list of error classes is exactly the classes stampede reports.
#[test]
fn readme_lists_every_error_class() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme
        .find("errors by class (")
        .expect("the error-class list");
    let list = &readme[start..start + readme[start..].find(')').unwrap()];
    let listed: Vec<&str> = list.split('`').skip(1).step_by(2).collect();
    let real: Vec<&str> = stampede_metrics::ErrorClass::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    assert_eq!(listed, real, "README: {list}");
}

/// `stampede target --backlog N` (issue 12 item 8): 0 is refused naming the flag; a valid
/// value starts the server.
#[test]
fn target_backlog_flag() {
    let (code, stderr) = exit_and_stderr(&["target", "--listen", "127.0.0.1:0", "--backlog", "0"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--backlog"), "{stderr}");
    let mut child = stampede()
        .args(["target", "--listen", "127.0.0.1:0", "--backlog", "64"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    // Our own child, stopped by its handle.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(first.contains("listening on http://127.0.0.1:"), "{first}");
}

/// `stampede target --serial-section / --coherency-delay` (issue 11): more than an hour is
/// refused naming the flag; valid values start the server and say what they do.
#[test]
fn target_scalability_knob_flags() {
    for flag in ["--serial-section", "--coherency-delay"] {
        let (code, stderr) = exit_and_stderr(&["target", "--listen", "127.0.0.1:0", flag, "2h"]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(flag), "{stderr}");
    }
    let mut child = stampede()
        .args([
            "target",
            "--listen",
            "127.0.0.1:0",
            "--serial-section",
            "5ms",
        ])
        .args(["--coherency-delay", "100us"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut lines = String::new();
    for _ in 0..4 {
        std::io::BufRead::read_line(&mut out, &mut lines).unwrap();
    }
    // Our own child, stopped by its handle.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        lines.contains("one shared lock for 5ms (at most 200 req/s)"),
        "{lines}"
    );
    assert!(lines.contains("waits 100µs x n(n-1)"), "{lines}");
}
