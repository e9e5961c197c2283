//! `--prometheus-listen`: the live endpoint passes `promtool check metrics` (Debian's
//! prometheus package; fails without it unless STAMPEDE_SKIP_EXTERNAL=1), and the
//! counters it holds after the run equal the JSON result exactly.

mod report_support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use report_support::{external_tool, grouped, read_json, stampede, target, Guarded};
use serde_json::Value;

const PROMTOOL: &str = "/usr/bin/promtool";

/// One scrape of `/metrics`: the response body.
fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read the response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response head");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    body.to_string()
}

/// The samples of an exposition: `name{labels}` -> value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').expect("name value");
            (k.to_string(), v.parse().expect("a number"))
        })
        .collect()
}

fn promtool_check(promtool: &std::path::Path, text: &str) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success() && o.stderr.is_empty() && o.stdout.is_empty(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The metrics address the run announces on stderr; the returned channel keeps receiving
/// (and so draining) its later lines.
fn announced_addr(run: &mut Guarded) -> (SocketAddr, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel();
    let stderr = run.child().stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the metrics address is announced");
        if let Some(rest) = line.strip_prefix("prometheus: live metrics on http://") {
            let addr: SocketAddr = rest.trim_end_matches("/metrics").parse().unwrap();
            return (addr, rx);
        }
    }
}

/// Issue 12 item 9: with `-q`, the address chosen for port 0 was never printed, so the
/// endpoint could not be found. It is announced (on stderr) even when quiet.
#[test]
fn quiet_runs_announce_the_chosen_metrics_port() {
    let t = target(1);
    let mut run = Guarded::spawn(
        stampede()
            .args(["run", &format!("http://{}/", t.addrs()[0])])
            .args(["--rate", "50", "-d", "2s", "-q"])
            .args(["--prometheus-listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let (addr, _stderr) = announced_addr(&mut run);
    assert_ne!(addr.port(), 0);
    assert!(scrape(addr).contains("stampede_requests_total"));
}

fn u(v: &Value) -> f64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}")) as f64
}

#[test]
fn live_metrics_pass_promtool_and_match_the_final_result() {
    let Some(promtool) = external_tool(PROMTOOL, "prometheus", "prometheus") else {
        return;
    };
    let t = target(2);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let mut run = Guarded::spawn(
        stampede()
            .arg("run")
            .args(grouped(&t))
            .args(["--rate", "200", "-d", "3s", "-o"])
            .arg(&json)
            .args([
                "--prometheus-listen",
                "127.0.0.1:0",
                "--prometheus-hold",
                "30s",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let (addr, _stderr) = announced_addr(&mut run);
    let stdout = run.child().stdout.take().unwrap();
    let table = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = BufReader::new(stdout).read_to_string(&mut s);
        s
    });

    // While the run goes on: valid, and not yet finished.
    let live = scrape(addr);
    promtool_check(&promtool, &live);
    assert_eq!(samples(&live)["stampede_run_finished"], 0.0);

    // After it: the final numbers, held.
    let deadline = Instant::now() + Duration::from_secs(30);
    let last = loop {
        let text = scrape(addr);
        if samples(&text)["stampede_run_finished"] == 1.0 {
            break text;
        }
        assert!(Instant::now() < deadline, "the run did not finish");
        std::thread::sleep(Duration::from_millis(100));
    };
    promtool_check(&promtool, &last);
    let m = samples(&last);
    // The JSON is written before the hold starts.
    let doc = read_json(&json);
    let s = &doc["summary"];
    assert!(u(&s["requests"]) >= 500.0);
    assert_eq!(m["stampede_requests_total"], u(&s["requests"]));
    assert_eq!(m["stampede_timeouts_total"], u(&s["timeouts"]));
    let errors: f64 = m
        .iter()
        .filter(|(k, _)| k.starts_with("stampede_errors_total{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(errors, u(&s["errors"]));
    for (class, n) in doc["errors_by_class"].as_object().unwrap() {
        assert_eq!(
            m[&format!("stampede_errors_total{{class=\"{class}\"}}")],
            u(n)
        );
    }
    assert!(m["stampede_errors_total{class=\"http_5xx\"}"] > 0.0);
    for (code, n) in doc["status_codes"].as_object().unwrap() {
        assert_eq!(
            m[&format!("stampede_responses_total{{code=\"{code}\"}}")],
            u(n)
        );
    }
    assert_eq!(m["stampede_sent_total"], u(&doc["generator"]["sends"]));
    assert_eq!(m["stampede_late_sends_total"], u(&s["late_sends"]));
    assert_eq!(m["stampede_dropped_total"], u(&s["dropped"]));
    assert_eq!(m["stampede_unfinished_requests"], u(&s["unfinished"]));
    assert_eq!(
        m["stampede_connections_opened_total"],
        u(&s["connections_opened"])
    );
    assert_eq!(m["stampede_received_bytes_total"], u(&s["bytes_received"]));
    assert!((m["stampede_run_elapsed_seconds"] - s["elapsed_s"].as_f64().unwrap()).abs() < 0.001);
    // Every response has a latency.
    let responses: f64 = doc["status_codes"]
        .as_object()
        .unwrap()
        .values()
        .map(u)
        .sum();
    assert_eq!(m["stampede_latency_seconds_count"], responses);
    assert_eq!(m["stampede_latency_seconds_bucket{le=\"+Inf\"}"], responses);
    let groups = doc["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    for g in groups {
        let key = g["key"].as_str().unwrap();
        for (family, field) in [("requests", "requests"), ("timeouts", "timeouts")] {
            let name = format!("stampede_group_{family}_total{{group=\"{key}\"}}");
            assert_eq!(m[&name], u(&g[field]), "{name}");
        }
        let group_errors: f64 = m
            .iter()
            .filter(|(k, _)| {
                k.starts_with(&format!("stampede_group_errors_total{{group=\"{key}\","))
            })
            .map(|(_, v)| v)
            .sum();
        assert_eq!(group_errors, u(&g["errors"]), "{key}");
    }

    // Ctrl-C ends the hold; the run itself completed, so the exit code is 0.
    let pid = run.child().id().to_string();
    let t0 = Instant::now();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let o = run.wait(Duration::from_secs(10));
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(o.status.code(), Some(0));
    assert!(table.join().unwrap().contains("target-2"));
}

#[test]
fn a_busy_metrics_address_is_a_usage_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let o = stampede()
        .args(["run", "http://127.0.0.1:1/", "-n", "1", "-q"])
        .args(["--prometheus-listen", &addr])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--prometheus-listen"));
}
