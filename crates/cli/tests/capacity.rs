//! `stampede capacity` against a real limit: nginx's `limit_req` at 3,000 req/s answers
//! 503 to the excess, so with `--slo "error_rate < 1%"` the search must bracket the edge
//! (a little above 3,000 req/s) within 5%. Also the command's usage errors.

mod report_support;
#[allow(dead_code)] // the shared helpers of the external suites; this test uses a few
mod support;

use std::process::Command;

use serde_json::Value;
use support::{nginx_binary, serial, Nginx};

fn stampede(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(args)
        .output()
        .expect("stampede runs")
}

#[test]
fn the_search_brackets_nginx_limit_req_within_five_percent() {
    let _serial = serial();
    let Some(bin) = nginx_binary("the_search_brackets_nginx_limit_req_within_five_percent") else {
        return;
    };
    // A static file behind limit_req (a `return` would act before limit_req and skip it).
    let nginx = Nginx::start_with(&bin, 1, &|dir, ports| {
        let www = dir.join("www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("index.html"), "ok\n").unwrap();
        format!(
            "limit_req_zone $server_name zone=cap:1m rate=3000r/s;\n\
             server {{\n  listen 127.0.0.1:{};\n  server_name cap;\n  root {};\n\
               location / {{ limit_req zone=cap burst=20 nodelay; }}\n}}\n",
            ports[0],
            www.display()
        )
    });
    let out = tempfile::NamedTempFile::new().unwrap();
    let html = tempfile::NamedTempFile::new().unwrap();
    let started = std::time::Instant::now();
    let run = stampede(&[
        "capacity",
        &nginx.url("/index.html"),
        "--slo",
        "error_rate < 1%",
        "--start",
        "1000",
        "--step",
        "6s",
        "--precision",
        "5%",
        "--max-steps",
        "14",
        "--out",
        out.path().to_str().unwrap(),
        "--html",
        html.path().to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let context = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    eprintln!("{context}\ntook {:?}", started.elapsed());
    assert_eq!(run.status.code(), Some(0), "{context}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(out.path()).unwrap()).unwrap();
    assert_eq!(doc["result"]["verdict"], "capacity", "{context}");
    let lo = doc["result"]["last_pass_rate"].as_f64().unwrap();
    let hi = doc["result"]["first_fail_rate"].as_f64().unwrap();
    assert!(
        (hi - lo) / lo <= 0.05,
        "[{lo}, {hi}] wider than 5%\n{context}"
    );
    // The edge: 3,000 req/s and a few more from the burst; 1% of errors near 3,030 req/s.
    assert!(
        lo <= 3060.0 && hi >= 3000.0,
        "[{lo}, {hi}] misses the edge\n{context}"
    );
    // Every failing step failed on errors that nginx itself answered: its access log
    // holds at least as many 503s as the steps' windows counted.
    let log = std::fs::read_to_string(nginx.dir().join("access.log")).unwrap();
    let logged_503 = log.lines().filter(|l| l.contains("\" 503 ")).count() as u64;
    let counted_503: u64 = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["result"]["status_codes"]["503"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        counted_503 > 0 && logged_503 >= counted_503,
        "nginx logged {logged_503} 503s, steps counted {counted_503}"
    );
    assert!(
        stdout.contains("capacity at error_rate < 1%: between"),
        "{context}"
    );
    let page = std::fs::read_to_string(html.path()).unwrap();
    assert!(page.contains("<svg") && page.contains("Achieved vs offered rate"));
}

#[test]
fn capacity_usage_errors_exit_2() {
    for (args, want) in [
        (vec!["capacity", "http://127.0.0.1:9/"], "--slo"),
        (
            vec![
                "capacity",
                "http://127.0.0.1:9/",
                "--slo",
                "p99 < 1s",
                "--rate",
                "5",
            ],
            "--rate does not apply",
        ),
        (
            vec![
                "capacity",
                "http://127.0.0.1:9/",
                "--slo",
                "p99 < 1s",
                "--step",
                "4s",
            ],
            "at least 5 seconds",
        ),
        (
            vec![
                "capacity",
                "http://127.0.0.1:9/",
                "--slo",
                "p99 < 1s",
                "--precision",
                "150%",
            ],
            "between 0 and 100%",
        ),
        (
            vec!["capacity", "http://127.0.0.1:9/", "--slo", "p99 <"],
            "EXPR",
        ),
    ] {
        let run = stampede(&args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}

/// The capacity page in headless Chromium: both charts drawn, nothing loaded, the verdict
/// and every step shown. Against the built-in target: two steps, nothing fails.
#[test]
fn capacity_html_renders_in_chromium() {
    let _serial = serial();
    let server = report_support::target(1);
    let dir = tempfile::tempdir().unwrap();
    let (json, html) = (dir.path().join("cap.json"), dir.path().join("cap.html"));
    let url = format!("http://{}/", server.addrs()[0]);
    let run = stampede(&[
        "capacity",
        &url,
        "--slo",
        "p99 < 500ms",
        "--start",
        "50",
        "--max-rate",
        "100",
        "--step",
        "6s",
        "-q",
        "--out",
        json.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("no failure up to the maximum"), "{stdout}");
    let doc = report_support::read_json(&json);
    assert_eq!(doc["result"]["verdict"], "no_failure_up_to_max");
    assert_eq!(doc["steps"].as_array().unwrap().len(), 2);
    // The server counted at least every request the two windows did.
    let counted: u64 = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["result"]["summary"]["requests"].as_u64().unwrap())
        .sum();
    assert!(server.requests_served() >= counted);
    let page = std::fs::read_to_string(&html).unwrap();
    report_support::assert_no_external_reference(&page, &url);
    let Some(dom) = report_support::browser_dom(&html, "capacity_html_renders_in_chromium") else {
        return;
    };
    assert!(!dom.contains("Chart not drawn"), "{dom}");
    for chart in ["achieved", "p99"] {
        let at = dom
            .find(&format!("data-chart=\"{chart}\""))
            .unwrap_or_else(|| panic!("chart {chart} missing"));
        let svg = report_support::svgs(&dom[at..])[0];
        assert!(
            svg.matches("<circle").count() >= 2,
            "{chart}: no step points"
        );
    }
    for text in ["NoFailureUpToMax", "Steps", "ramp", "SLO p99 &lt; 500ms"] {
        assert!(dom.contains(text), "{text:?} missing");
    }
    server.shutdown();
}

/// A server that accepts every connection and then, per `mode`, closes it at once
/// (`close`) or holds it without a byte (`hang`), counting the connections it accepted.
fn failing_server(mode: &'static str) -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let accepted = std::sync::Arc::new(AtomicU64::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            count.fetch_add(1, Ordering::Relaxed);
            match mode {
                "close" => drop(conn),
                _ => held.push(conn),
            }
        }
    });
    (url, accepted)
}

/// Never flood: a capacity search against a service that closes every connection before answering, and
/// against one that accepts and never answers, fails at the minimum rate, and the
/// service saw no more connections than the arrivals the steps planned (warm-ups
/// included), counted by the service itself: no reconnect loop, no retry storm.
///
/// The two searches run at the same time, each against its own service: at 20-40 req/s
/// of failing requests neither needs the cores, and every assertion is a count of that
/// search's own service (or its 40 s bound), which the other cannot move.
#[test]
fn a_search_against_a_failing_service_stays_within_its_plan() {
    let _serial = serial();
    std::thread::scope(|scope| {
        let searches: Vec<_> = ["close", "hang"]
            .into_iter()
            .map(|mode| (mode, scope.spawn(move || search_a_failing_service(mode))))
            .collect();
        for (mode, search) in searches {
            if let Err(panic) = search.join() {
                eprintln!("{mode}: the search's assertions failed");
                std::panic::resume_unwind(panic);
            }
        }
    });
}

/// One search of [`a_search_against_a_failing_service_stays_within_its_plan`] against a
/// `failing_server(mode)`.
fn search_a_failing_service(mode: &'static str) {
    let (url, accepted) = failing_server(mode);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("cap.json");
    let started = std::time::Instant::now();
    let run = stampede(&[
        "capacity",
        &url,
        "--slo",
        "error_rate < 1%",
        "--start",
        "40",
        "--min-rate",
        "20",
        "--step",
        "6s",
        "-t",
        "1s",
        "-q",
        "--out",
        json.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let context = format!("{mode}: {stdout}{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(run.status.code(), Some(1), "{context}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(40),
        "{context}"
    );
    let doc = report_support::read_json(&json);
    assert_eq!(doc["result"]["verdict"], "fails_at_minimum", "{context}");
    let warmup = doc["settings"]["warmup_s"].as_f64().unwrap();
    let planned: f64 = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let r = &s["result"]["summary"];
            assert_eq!(
                r["errors"].as_u64().unwrap() + r["timeouts"].as_u64().unwrap(),
                r["requests"].as_u64().unwrap(),
                "{mode}: every request failed: {r}"
            );
            s["offered_rate"].as_f64().unwrap() * (warmup + s["window_s"].as_f64().unwrap())
        })
        .sum();
    let seen = accepted.load(std::sync::atomic::Ordering::Relaxed) as f64;
    eprintln!(
        "{mode}: the service accepted {seen} connections; the steps planned {planned} arrivals"
    );
    assert!(seen > 0.0, "{context}");
    assert!(
        seen <= planned * 1.05 + 5.0,
        "{mode}: {seen} connections for {planned} planned arrivals\n{context}"
    );
}
