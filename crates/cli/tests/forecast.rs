//! `stampede plan` end to end: the forecast's figures, its JSON against the committed
//! schema, the emitted scenarios run against the built-in target and checked with
//! `--check`, the per-day line of fleet runs, bad input (exit 2), and the HTML page in
//! headless Chromium (needs /usr/bin/chromium, as tests/html.rs).

mod report_support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use stampede_testserver::{TargetConfig, TargetHandle};

fn stampede(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(args)
        .output()
        .expect("running the stampede binary");
    (
        out.status.code().expect("an exit code"),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// 100 devices every 10 s, WebSockets held 10 minutes, requests at 1.00/M.
const HUNDRED: [&str; 9] = [
    "plan",
    "--devices",
    "100",
    "--every",
    "10s",
    "--hold",
    "10m",
    "--price-request",
    "1.00/M",
];

fn target() -> TargetHandle {
    TargetHandle::start(TargetConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)))).unwrap()
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// The cells of a table row, split on runs of two or more spaces.
fn row(text: &str, label: &str) -> Vec<String> {
    let line = text
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no row {label}:\n{text}"));
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn a_hundred_devices_every_ten_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let out = path(dir.path(), "plan.json");
    let cap = path(dir.path(), "capacity.json");
    std::fs::write(
        &cap,
        r#"{"result": {"last_pass_rate": 40, "first_fail_rate": 45, "verdict": "capacity"}, "steps": []}"#,
    )
    .unwrap();
    let (code, text, err) = stampede(
        &[
            &HUNDRED[..],
            &[
                "--price-message",
                "1.00/M",
                "--price-connection-minute",
                "0.25/M",
                "--capacity",
                &cap,
                "--headroom",
                "30%",
                "-o",
                &out,
            ],
        ]
        .concat(),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        row(&text, "average rate"),
        ["average rate", "10 req/s", "10 req/s", "10 msg/s"]
    );
    assert_eq!(
        row(&text, "HTTP requests per day"),
        ["HTTP requests per day", "864,000", "864,000", "14,400"]
    );
    assert_eq!(
        row(&text, "HTTP requests per month"),
        [
            "HTTP requests per month",
            "25,920,000",
            "25,920,000",
            "432,000"
        ]
    );
    assert_eq!(
        row(&text, "connections opened per day"),
        ["connections opened per day", "100", "864,000", "14,400"]
    );
    // Polls at 1.00/M: 0.86 a day; WebSockets: upgrades, messages, connection-minutes.
    assert_eq!(row(&text, "cost per day")[1], "0.86");
    assert!(
        text.contains("peak, aligned: 100 check-ins in one instant, 100/s over 1s (planned for)"),
        "{text}"
    );
    // 100/s at the peak, 40/s per instance at most 70% loaded: 28/s, so 4.
    assert!(
        text.contains("instances: 4 at the aligned peak of 100/s"),
        "{text}"
    );

    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let schema: serde_json::Value = serde_json::from_str(stampede_forecast::PLAN_SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(doc["columns"][0]["requests_per_day"], 864_000.0);
    assert_eq!(doc["instances"]["instances"], 4);

    // 1,000 WebSocket clients held 10 minutes: 144,000 connections a day; jittered,
    // the peak is far below the aligned burst.
    let (code, text, err) = stampede(&[
        "plan",
        "--devices",
        "1000",
        "--every",
        "10s",
        "--hold",
        "10m",
        "--jitter",
        "full",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(row(&text, "connections opened per day")[3], "144,000");
    assert!(
        text.contains("peak, aligned: 1,000 check-ins in one instant, 1,000/s over 1s\n"),
        "{text}"
    );
    assert!(
        text.contains("(planned for)") && text.contains("peak, jittered: 142 check-ins"),
        "{text}"
    );
}

/// Plans a scaled-down fleet, emits its scenario, checks and runs it against the
/// built-in target, and checks the run against the plan. Returns the `--check` output.
fn emit_run_check(
    side: &str,
    url: &str,
    plan: &[&str],
    extra_check: &[&str],
) -> (i32, String, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let toml = path(dir.path(), "fleet.toml");
    let result = path(dir.path(), "result.json");
    let mut args = vec!["plan"];
    args.extend(plan);
    let url_flag = if side == "ws" { "--ws-url" } else { "--url" };
    args.extend([
        "--emit-scenario",
        &toml,
        "--emit",
        side,
        url_flag,
        url,
        "-d",
        "5s",
    ]);
    let (code, _, err) = stampede(&args);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = stampede(&["check", &toml]);
    assert_eq!(
        code,
        0,
        "{out}{err}\n{}",
        std::fs::read_to_string(&toml).unwrap()
    );
    let (code, out, err) = stampede(&["run", &toml, "-q", "-o", &result]);
    assert_eq!(code, 0, "{out}{err}");
    let mut args = vec!["plan"];
    args.extend(plan);
    args.extend(extra_check);
    args.extend(["--check", &result]);
    let (code, out, err) = stampede(&args);
    assert!(code == 0 || code == 1, "{out}{err}");
    let doc = serde_json::from_str(&std::fs::read_to_string(&result).unwrap()).unwrap();
    (code, out, doc)
}

#[test]
fn the_polling_scenario_agrees_with_the_plan() {
    let t = target();
    let url = format!("http://{}/echo?delay=250ms", t.addrs()[0]);
    let plan = [
        "--devices",
        "40",
        "--every",
        "1s",
        "--jitter",
        "full",
        "--service-time",
        "250ms",
        "--payload",
        "300",
    ];
    let (code, out, doc) = emit_run_check("poll", &url, &plan, &[]);
    // The plan's default heads (250 and 200 bytes) are not the built-in target's: the
    // bytes differ, and the check says what the heads measured.
    assert_eq!(code, 1, "{out}");
    assert!(
        row(&out, "bytes sent").ends_with(&["DIFFERS".to_string()]),
        "{out}"
    );
    for figure in [
        "check-ins per second over the run",
        "connections opened",
        "latency p50 ms",
    ] {
        assert_eq!(row(&out, figure).last().unwrap(), "agrees", "{out}");
    }
    let heads = out
        .lines()
        .find_map(|l| l.strip_prefix("measured heads: "))
        .unwrap_or_else(|| panic!("{out}"));
    let words: Vec<&str> = heads.split_whitespace().collect();
    let (req, resp) = (words[0], words[4]);
    // 40 devices over 5 s, one check-in a second each: 200.
    let requests = doc["summary"]["requests"].as_u64().unwrap();
    assert!((190..=200).contains(&requests), "{requests}\n{out}");
    // The same run against a plan with the measured heads agrees on every figure.
    let result_path = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(result_path.path(), doc.to_string()).unwrap();
    let mut args = vec!["plan"];
    args.extend(plan);
    args.extend(["--request-head", req, "--response-head", resp, "--check"]);
    let result = result_path.path().display().to_string();
    args.push(&result);
    let (code, out, err) = stampede(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("AGREES: every figure within 5% of the plan"),
        "{out}"
    );
    // The server saw what the run counted.
    assert_eq!(t.requests_served(), requests);
    assert_eq!(t.connections_accepted(), 40);
}

#[test]
fn the_websocket_scenario_agrees_with_the_plan() {
    let t = target();
    let url = format!("ws://{}/ws?delay=250ms", t.addrs()[0]);
    // Aligned: every device connects at t=0, reconnects after 2 heartbeats (2 s).
    let plan = [
        "--devices",
        "40",
        "--every",
        "1s",
        "--hold",
        "2s",
        "--service-time",
        "250ms",
        "--payload",
        "200",
    ];
    let (code, out, doc) = emit_run_check("ws", &url, &plan, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("checking a WebSocket run"), "{out}");
    // 40 devices × 3 connections (at 0, 2 and 4 s), 5 heartbeats each.
    assert_eq!(row(&out, "connections opened")[1], "120", "{out}");
    assert_eq!(t.ws_upgrades(), 120);
    let heartbeats = doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "ws / heartbeat")
        .unwrap()["requests"]
        .as_u64()
        .unwrap();
    assert_eq!(t.ws_messages(), heartbeats);
    assert!((190..=200).contains(&heartbeats), "{heartbeats}");
    // A plan that assumes a faster server does not agree with the same run.
    let saved = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(saved.path(), doc.to_string()).unwrap();
    let saved = saved.path().display().to_string();
    let mut args = vec!["plan"];
    args.extend(plan.iter().map(|a| if *a == "250ms" { "100ms" } else { a }));
    args.extend(["--check", &saved]);
    let (code, out, err) = stampede(&args);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.ends_with("DIFFERS: latency p50 ms\n"), "{out}");
}

#[test]
fn fleet_runs_count_a_day_from_the_steady_state_and_the_hold() {
    let t = target();
    let dir = tempfile::tempdir().unwrap();
    let result = path(dir.path(), "ws.json");
    let url = format!("ws://{}/ws", t.addrs()[0]);
    let (code, out, err) = stampede(&[
        "run",
        &url,
        "--clients",
        "100",
        "--every",
        "1s",
        "--hold",
        "10m",
        "-d",
        "3s",
        "-q",
        "-o",
        &result,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    // 100 clients reconnecting every 600 s open 14,400 connections a day, not the 100
    // of the start-up extrapolated over 3 s (2,880,000).
    let line = out
        .lines()
        .find(|l| l.starts_with("per day at the steady state, seconds 1-3"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.ends_with("; 14400 connections opened (100 clients reconnecting every 600s)"),
        "{line}"
    );
    // The same fleet checked against a plan: requests from the schedule, one
    // connection per client in a 3 s run.
    let (code, out, err) = stampede(&[
        "plan",
        "--devices",
        "100",
        "--every",
        "1s",
        "--hold",
        "10m",
        "--service-time",
        "1ms",
        "--check",
        &result,
    ]);
    assert!(code <= 1, "{err}");
    assert_eq!(
        row(&out, "connections opened")[1..3],
        ["100", "100"],
        "{out}"
    );
    assert_eq!(
        row(&out, "check-ins per second over the run")
            .last()
            .unwrap(),
        "agrees",
        "{out}"
    );
}

#[test]
fn bad_input_exits_2_and_names_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let bad_cap = path(dir.path(), "cap.json");
    std::fs::write(&bad_cap, r#"{"result": {"verdict": "capacity"}}"#).unwrap();
    let not_fleet = path(dir.path(), "closed.json");
    std::fs::write(
        &not_fleet,
        include_str!("../../result/tests/fixtures/v1-result.json"),
    )
    .unwrap();
    let base = ["plan", "--devices", "10", "--every", "10s"];
    for (extra, want) in [
        (vec!["--price-request", "cheap"], "--price-request"),
        (vec!["--payload", "1q"], "--payload"),
        (vec!["--headroom", "30%"], "--capacity"),
        (vec!["--capacity", &bad_cap], "last_pass_rate"),
        (
            vec!["--capacity", &bad_cap, "--headroom", "100%"],
            "--headroom",
        ),
        (vec!["--check", "/nonexistent/result.json"], "cannot read"),
        (vec!["--check", &not_fleet], "neither a run of a scenario"),
        (vec!["--out", "/nonexistent/dir/plan.json"], "--out"),
        (vec!["--url", "http://x/"], "--emit-scenario"),
    ] {
        let mut args = base.to_vec();
        args.extend(extra.iter().copied());
        let (code, out, err) = stampede(&args);
        assert_eq!(code, 2, "{args:?}\n{out}{err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    for (args, want) in [
        (
            vec!["plan", "--devices", "0", "--every", "10s"],
            "--devices",
        ),
        (vec!["plan", "--devices", "10", "--every", "0s"], "--every"),
        (vec!["plan", "--every", "10s"], "--devices"),
    ] {
        let (code, _, err) = stampede(&args);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn the_html_page_renders_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("plan.html");
    let (code, _, err) = stampede(&[&HUNDRED[..], &["--html", html.to_str().unwrap()]].concat());
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&html).unwrap();
    report_support::assert_no_external_reference(&text, "");
    let Some(dom) = report_support::browser_dom(&html, "plan_html") else {
        return;
    };
    assert!(!dom.contains("Chart not drawn"), "{dom}");
    for (id, legend) in [
        ("traffic", "HTTP requests"),
        ("connections", "opened"),
        ("bytes", "down"),
        ("cost", "cost"),
    ] {
        let at = dom
            .find(&format!("data-chart=\"{id}\""))
            .unwrap_or_else(|| panic!("no {id} chart"));
        let svg = report_support::svgs(&dom[at..])[0];
        assert!(svg.contains("<rect"), "{id}: no bars");
        assert!(svg.contains(legend), "{id}: legend {legend:?} missing");
    }
    for text in [
        "864,000",
        "14,400",
        "Side by side",
        "peak, aligned: 100 check-ins",
    ] {
        assert!(dom.contains(text), "{text:?} missing");
    }
}
