//! `--server-metrics` and `--prometheus --query` against real exporters from Debian: a
//! private `prometheus-node-exporter` and a private `prometheus` on free 127.0.0.1
//! ports, stampede loading a private nginx. Every run is a few seconds long and every
//! wait bounded; the servers are killed by PID at the end of each test.

mod report_support;
#[allow(dead_code)] // the shared helpers of the external suites; this test uses a few
mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::exporters::{node_exporter, node_exporter_binary, prometheus, prometheus_binary};
use support::{free_port, nginx_binary, serial, stampede, Nginx, RunOutput, Stampede};

const GRACE: Duration = Duration::from_secs(20);

/// The series named `name` in a result.
fn series<'a>(run: &'a RunOutput, name: &str) -> Vec<&'a Value> {
    run.json["server_metrics"]
        .as_array()
        .unwrap_or_else(|| panic!("no server_metrics\n{}", run.context()))
        .iter()
        .filter(|m| m["name"] == name)
        .collect()
}

/// The known values of a series.
fn values(m: &Value) -> Vec<f64> {
    m["values"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// The source document of `source`.
fn source<'a>(run: &'a RunOutput, source: &str) -> &'a Value {
    run.json["server_metric_sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == source)
        .unwrap_or_else(|| panic!("no source {source}\n{}", run.context()))
}

/// An idle run (5 req/s) and a loaded run (64 connections back to back) against nginx,
/// each scraping a node exporter: every default series is there with a value in each
/// second, TCP sockets in use rise by the 64 connections, and CPU busy rises by 10
/// points (up to three idle/loaded pairs, for a machine shared with other work).
#[test]
fn node_exporter_shows_cpu_busy_rising_with_load() {
    let _serial = serial();
    let test = "node_exporter_shows_cpu_busy_rising_with_load";
    let (Some(ng), Some(ne)) = (nginx_binary(test), node_exporter_binary(test)) else {
        return;
    };
    let nginx = Nginx::start(&ng);
    let exporter = node_exporter(&ne);
    let scrape = exporter.url("/metrics");
    let run = |load: &[&str]| {
        let mut args = load.to_vec();
        args.extend(["-d", "4s", "--server-metrics", &scrape]);
        let run = stampede(&nginx.url("/"), &args, Duration::from_secs(4) + GRACE);
        run.assert_success();
        let s = source(&run, &scrape);
        assert_eq!(s["failures"], 0, "{}", run.context());
        for name in [
            "cpu_busy",
            "memory_available",
            "network_received",
            "network_sent",
            "tcp_inuse",
            "tcp_retransmits",
        ] {
            let found = series(&run, name);
            assert_eq!(found.len(), 1, "{name}\n{}", run.context());
            assert!(
                values(found[0]).len() >= 4,
                "{name}: a value in each whole second\n{}",
                run.context()
            );
        }
        assert_eq!(series(&run, "cpu_busy")[0]["unit"], "ratio");
        run
    };
    let mut tries = Vec::new();
    for _ in 0..3 {
        let idle = run(&["--rate", "5"]);
        let loaded = run(&["-c", "64"]);
        let cpu = |r: &RunOutput| mean(&values(series(r, "cpu_busy")[0]));
        let tcp = |r: &RunOutput| mean(&values(series(r, "tcp_inuse")[0]));
        eprintln!(
            "cpu_busy mean idle {:.3} loaded {:.3}; tcp_inuse mean idle {:.1} loaded {:.1}",
            cpu(&idle),
            cpu(&loaded),
            tcp(&idle),
            tcp(&loaded)
        );
        tries.push((cpu(&idle), cpu(&loaded), tcp(&idle), tcp(&loaded)));
        // 64 connections are 128 sockets on loopback (both ends); other processes' sockets
        // come and go, hence the margin of 64 (and the retries on a shared machine).
        if cpu(&loaded) >= cpu(&idle) + 0.1 && tcp(&loaded) >= tcp(&idle) + 64.0 {
            // The table shows the series and where they came from.
            assert!(loaded.stdout.contains("cpu_busy"), "{}", loaded.stdout);
            assert!(
                loaded
                    .stdout
                    .contains(&format!("server metrics [1] {scrape}: scraped")),
                "{}",
                loaded.stdout
            );
            return;
        }
    }
    panic!(
        "CPU busy did not rise by 10 points or TCP sockets in use by 64 \
         (idle cpu, loaded cpu, idle tcp, loaded tcp): {tries:?}"
    );
}

/// A Prometheus server scraping the node exporter every second answers `query_range`
/// for the run's window: the result holds its series, one value per second, and the
/// memory it reports agrees with stampede's own scrape of the same exporter.
#[test]
fn prometheus_query_range_series_land_in_the_result() {
    let _serial = serial();
    let test = "prometheus_query_range_series_land_in_the_result";
    let (Some(ng), Some(ne), Some(pr)) = (
        nginx_binary(test),
        node_exporter_binary(test),
        prometheus_binary(test),
    ) else {
        return;
    };
    let nginx = Nginx::start(&ng);
    let exporter = node_exporter(&ne);
    let target = exporter.url("").trim_start_matches("http://").to_string();
    let prom = prometheus(&pr, &target);
    // Let it scrape a few times before the run's window opens.
    std::thread::sleep(Duration::from_secs(3));
    let base = prom.url("");
    let pages = tempfile::tempdir().unwrap();
    let html = pages.path().join("report.html");
    let html_arg = html.display().to_string();
    let run = stampede(
        &nginx.url("/"),
        &[
            "--rate",
            "200",
            "-d",
            "5s",
            "--server-metrics",
            &exporter.url("/metrics"),
            "--server-metric",
            "node_memory_MemAvailable_bytes",
            "--prometheus",
            &base,
            "--query",
            "node_memory_MemAvailable_bytes",
            "--query",
            "sum(rate(node_cpu_seconds_total{mode!=\"idle\"}[3s]))",
            "--html",
            &html_arg,
        ],
        Duration::from_secs(5) + GRACE,
    );
    run.assert_success();
    let seconds = run.json["series"].as_array().unwrap().len();
    let memory_source = source(
        &run,
        &format!("{base} query node_memory_MemAvailable_bytes"),
    );
    assert_eq!(memory_source["kind"], "prometheus");
    assert_eq!(memory_source["failures"], 0, "{}", run.context());
    let memory: Vec<&Value> = series(&run, "node_memory_MemAvailable_bytes");
    let from_prometheus = memory
        .iter()
        .find(|m| m["labels"]["job"] == "node")
        .unwrap_or_else(|| panic!("no Prometheus series\n{}", run.context()));
    assert_eq!(from_prometheus["labels"]["instance"], target.as_str());
    assert_eq!(from_prometheus["values"].as_array().unwrap().len(), seconds);
    let p = values(from_prometheus);
    // Prometheus scrapes on its own clock: a second may miss its sample on a busy machine.
    assert!(
        p.len() >= 3 && 2 * p.len() >= seconds,
        "a value in most seconds: {p:?}"
    );
    let scraped = memory
        .iter()
        .find(|m| m["source"] == exporter.url("/metrics").as_str())
        .unwrap();
    let s = values(scraped);
    assert!(
        (mean(&p) - mean(&s)).abs() < 0.05 * mean(&s),
        "Prometheus {} vs scrape {}",
        mean(&p),
        mean(&s)
    );
    // An expression without a metric name is named by the query.
    let cpu = series(
        &run,
        "sum(rate(node_cpu_seconds_total{mode!=\"idle\"}[3s]))",
    );
    assert_eq!(cpu.len(), 1, "{}", run.context());
    assert!(values(cpu[0]).iter().all(|v| *v >= 0.0));
    assert!(!values(cpu[0]).is_empty(), "{}", run.context());

    // The page, as Chromium builds it: one chart per unit (bytes from the scrape, plain
    // values from Prometheus) under the latency chart, each with a drawn line, and the
    // series table.
    let Some(dom) = report_support::browser_dom(&html, test) else {
        return;
    };
    let latency = dom.find("data-chart=\"latency-over-time\"").unwrap();
    for id in ["server-metrics-0", "server-metrics-1"] {
        let at = dom
            .find(&format!("data-chart=\"{id}\""))
            .unwrap_or_else(|| panic!("chart {id} missing"));
        assert!(at > latency, "{id} sits under the latency chart");
        let svg = report_support::svgs(&dom[at..])[0];
        assert!(svg.contains("<polyline"), "{id} has no line");
    }
    assert!(!dom.contains("Chart not drawn"));
    assert!(dom.contains("<h2>Server metrics</h2>"));
    assert!(dom.contains("node_memory_MemAvailable_bytes{instance="));
}

/// Endpoints that are unreachable, answer an HTTP error, or answer something that is
/// not the exposition format (nginx's "ok") are counted and named; the run goes on and
/// ends on time.
#[test]
fn failing_endpoints_are_reported_and_the_run_goes_on() {
    let _serial = serial();
    let Some(ng) = nginx_binary("failing_endpoints_are_reported_and_the_run_goes_on") else {
        return;
    };
    let nginx = Nginx::start(&ng);
    let unreachable = format!("http://127.0.0.1:{}/metrics", free_port());
    let garbage = nginx.url("/");
    let error = nginx.url("/fail");
    let started = Instant::now();
    let run = stampede(
        &nginx.url("/"),
        &[
            "--rate",
            "100",
            "-d",
            "3s",
            "--server-metrics",
            &unreachable,
            "--server-metrics",
            &garbage,
            "--server-metrics",
            &error,
        ],
        Duration::from_secs(3) + GRACE,
    );
    let wall = started.elapsed();
    run.assert_success();
    assert!(wall < Duration::from_secs(6), "the run took {wall:?}");
    assert_eq!(run.u64("/summary/requests"), 300);
    for (url, cause) in [
        (&unreachable, "connect: Connection refused"),
        (
            &garbage,
            "not the Prometheus text format: line 1, column 3: expected a number",
        ),
        (&error, "HTTP 503"),
    ] {
        let s = source(&run, url);
        let attempts = s["attempts"].as_u64().unwrap();
        assert!(attempts >= 4, "one scrape per second boundary: {s}");
        assert_eq!(s["failures"].as_u64(), Some(attempts), "{s}");
        assert_eq!(s["series"], 0);
        assert!(s["first_error"].as_str().unwrap().starts_with(cause), "{s}");
        assert!(
            run.stdout.contains(&format!(
                "{url}: scraped {attempts} times, {attempts} failed"
            )),
            "{}",
            run.stdout
        );
    }
    assert!(
        run.json.get("server_metrics").is_none(),
        "no series: the field is left out"
    );
}

/// Bad server-metrics flags are usage errors (exit 2) naming the flag, before any load.
#[test]
fn bad_server_metrics_flags_exit_2_naming_the_flag() {
    let bin = env!("CARGO_BIN_EXE_stampede");
    for (args, says) in [
        (
            vec![
                "--server-metrics",
                "http://127.0.0.1:9/metrics",
                "--server-metric",
                "up{job=node}",
            ],
            "'up{job=node}', column 8: expected '\"'",
        ),
        (
            vec!["--server-metrics", "https://127.0.0.1:9/metrics"],
            "only http:// is supported",
        ),
        (vec!["--query", "up"], "--prometheus <URL>"),
        (vec!["--prometheus", "http://127.0.0.1:9"], "--query <EXPR>"),
    ] {
        let o = std::process::Command::new(bin)
            .args(["run", "http://127.0.0.1:9/", "-d", "1s", "-q"])
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// A capacity search with `--server-metrics`: every step carries the node exporter's
/// series for the seconds of its own window (one value per window second, from the
/// search's scrapes), the step table has the busiest resource per step, and the lines
/// under it say what the busiest resource did at the first failing step. The SLO fails
/// at every rate (p99 under 1 µs), so the search descends two steps and stops.
#[test]
fn capacity_steps_carry_the_server_series_of_their_window() {
    let _serial = serial();
    let test = "capacity_steps_carry_the_server_series_of_their_window";
    let (Some(ng), Some(ne)) = (nginx_binary(test), node_exporter_binary(test)) else {
        return;
    };
    let nginx = Nginx::start(&ng);
    let exporter = node_exporter(&ne);
    let scrape = exporter.url("/metrics");
    let run = Stampede::spawn_command(
        "capacity",
        &nginx.url("/"),
        &[
            "--slo",
            "p99 < 0.001ms",
            "--start",
            "40",
            "--min-rate",
            "20",
            "--step",
            "6s",
            "--server-metrics",
            &scrape,
        ],
    )
    .wait(Duration::from_secs(16) + GRACE);
    assert_eq!(run.status.code(), Some(1), "{}", run.context());
    let doc = &run.json;
    assert_eq!(
        doc["result"]["verdict"],
        "fails_at_minimum",
        "{}",
        run.context()
    );
    let steps = doc["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{}", run.context());
    for step in steps {
        let window = step["window_s"].as_u64().unwrap() as usize;
        let metrics = step["result"]["server_metrics"].as_array().unwrap();
        let cpu = metrics
            .iter()
            .find(|m| m["name"] == "cpu_busy")
            .unwrap_or_else(|| panic!("no cpu_busy in step {step}"));
        assert_eq!(cpu["source"], scrape.as_str());
        assert_eq!(cpu["values"].as_array().unwrap().len(), window, "{cpu}");
        assert_eq!(values(cpu).len(), window, "a value every second: {cpu}");
        let sources = step["result"]["server_metric_sources"].as_array().unwrap();
        assert_eq!(sources[0]["failures"], 0, "{sources:?}");
    }
    assert!(
        run.stdout.contains("busiest server resource"),
        "{}",
        run.stdout
    );
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("at the first failing step (20 requests/s"))
        .unwrap_or_else(|| panic!("no saturation line\n{}", run.stdout));
    assert!(line.contains("cpu_busy"), "{line}");
    eprintln!("{}", run.stdout);
}
