//! The HTML report (`--html`, `stampede report`) opened in a real browser: Debian's
//! headless Chromium renders it, and the test reads the DOM it built and takes a
//! screenshot. Needs /usr/bin/chromium (`apt-get install chromium`, done by `.ci/run`);
//! fails without it unless STAMPEDE_SKIP_EXTERNAL=1.

mod report_support;

use std::time::Duration;

use report_support::{
    artifact_dir, assert_no_external_reference, browser_dom, chromium, external_tool, grouped,
    run_bounded, stampede, svgs, target, Guarded, CHROMIUM,
};

#[test]
fn html_report_renders_in_chromium_without_network() {
    let Some(chromium_bin) = external_tool(CHROMIUM, "chromium", "html_report") else {
        return;
    };
    let t = target(2);
    let dir = tempfile::tempdir().unwrap();
    let (json, html) = (dir.path().join("r.json"), dir.path().join("report.html"));
    let o = run_bounded(
        stampede()
            .arg("run")
            .args(grouped(&t))
            .args(["--rate", "200", "-d", "3s", "-q", "-o"])
            .arg(&json)
            .arg("--html")
            .arg(&html),
        Duration::from_secs(30),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&html).unwrap();
    let url = format!("http://{}/?jitter=1ms", t.addrs()[0]);
    assert_no_external_reference(&text, &url);

    // The browser's DOM: seven charts (throughput, latency over time, errors, the
    // percentile distribution, two by group, phases), each with drawn data.
    let profile = tempfile::tempdir().unwrap();
    let page = format!("file://{}", html.display());
    let o = run_bounded(
        chromium(&chromium_bin, profile.path())
            .arg("--dump-dom")
            .arg(&page),
        Duration::from_secs(90),
    );
    assert!(
        o.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dom = String::from_utf8(o.stdout).unwrap();
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(
        !log.contains("Content Security Policy") && !log.contains("Failed to load"),
        "the page tried to load something: {log}"
    );
    assert!(dom.contains("stampede report"), "{dom}");
    let charts = svgs(&dom);
    assert_eq!(charts.len(), 7, "charts in the DOM");
    for (id, kind) in [
        ("throughput", "<polyline"),
        ("latency-over-time", "<polyline"),
        ("errors-over-time", "<polyline"),
        ("distribution", "<polyline"),
        ("group-latency", "<rect"),
        ("group-errors", "<rect"),
        ("phases", "<rect"),
    ] {
        let at = dom
            .find(&format!("data-chart=\"{id}\""))
            .unwrap_or_else(|| panic!("chart {id} missing"));
        let svg = svgs(&dom[at..])[0];
        // A drawn series has many points.
        let data = svg
            .match_indices(kind)
            .map(|(i, _)| {
                let el = &svg[i..];
                el[..el.find('>').unwrap()].len()
            })
            .max()
            .unwrap_or(0);
        assert!(data > 60, "chart {id} has no {kind} data");
        assert!(svg.contains("<text"), "chart {id} has no labels");
    }
    assert!(!dom.contains("Chart not drawn"));
    for text in ["target-1", "target-2", "http_5xx", "Configuration"] {
        assert!(dom.contains(text), "{text}");
    }

    // A screenshot of the whole page, kept for people to look at.
    let shot = artifact_dir().join("html-report.png");
    let _ = std::fs::remove_file(&shot);
    let o = run_bounded(
        chromium(&chromium_bin, profile.path())
            .arg("--window-size=1100,4800")
            .arg(format!("--screenshot={}", shot.display()))
            .arg(&page),
        Duration::from_secs(90),
    );
    assert!(
        o.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    // A blank page compresses to a few KiB; charts and tables do not.
    assert!(
        png.len() > 60_000,
        "screenshot looks empty ({} bytes)",
        png.len()
    );
    eprintln!("screenshot: {}", shot.display());
}

#[test]
fn report_rerenders_a_saved_result() {
    let t = target(1);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let o = run_bounded(
        stampede()
            .args(["run", &format!("http://{}/", t.addrs()[0])])
            .args(["-c", "2", "-n", "200", "-q", "-o"])
            .arg(&json)
            .arg("--html")
            .arg(dir.path().join("live.html")),
        Duration::from_secs(30),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let live_table = String::from_utf8(o.stdout).unwrap();
    let saved = dir.path().join("saved.html");
    let o = run_bounded(
        stampede()
            .arg("report")
            .arg(&json)
            .arg("--html")
            .arg(&saved),
        Duration::from_secs(30),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The table is rendered from the document, so it is the same as the live one.
    assert_eq!(String::from_utf8(o.stdout).unwrap(), live_table);
    let a = std::fs::read_to_string(dir.path().join("live.html")).unwrap();
    let b = std::fs::read_to_string(&saved).unwrap();
    assert_eq!(a, b, "the saved result renders as the live run did");
}

#[test]
fn report_rejects_missing_and_invalid_files_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"schema_version\": 1}").unwrap();
    let missing = dir.path().join("missing.json");
    for (file, needle) in [
        (&missing, "cannot read"),
        (&bad, "is not a stampede result"),
    ] {
        let o = run_bounded(stampede().arg("report").arg(file), Duration::from_secs(10));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(needle), "{err}");
        assert!(err.contains(&file.display().to_string()), "{err}");
    }
    let o = run_bounded(
        stampede().args([
            "run",
            "http://127.0.0.1:1/",
            "-n",
            "1",
            "--html",
            "/nonexistent/dir/r.html",
        ]),
        Duration::from_secs(10),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--html"));
}

/// The matrix page (`stampede matrix --html`) in Chromium: the table, the attribution
/// lines and one bar chart per metric, each drawn, nothing loaded.
#[test]
fn matrix_page_renders_in_chromium() {
    let Some(chromium_bin) = external_tool(CHROMIUM, "chromium", "matrix_page") else {
        return;
    };
    let t = target(1);
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("matrix.html");
    let url = format!("http://{}/?delay={{delay}}&size={{size}}", t.addrs()[0]);
    let o = run_bounded(
        stampede()
            .args([
                "matrix",
                &url,
                "--axis",
                "delay=1ms,10ms",
                "--axis",
                "size=10,1k",
            ])
            .args(["--rate", "50", "-d", "1s", "-q", "--html"])
            .arg(&html),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&html).unwrap();
    assert_no_external_reference(&text, &url);
    let profile = tempfile::tempdir().unwrap();
    let page = format!("file://{}", html.display());
    let o = run_bounded(
        chromium(&chromium_bin, profile.path())
            .arg("--dump-dom")
            .arg(&page),
        Duration::from_secs(90),
    );
    assert!(
        o.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dom = String::from_utf8(o.stdout).unwrap();
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(
        !log.contains("Content Security Policy") && !log.contains("Failed to load"),
        "the page tried to load something: {log}"
    );
    assert!(dom.contains("stampede matrix"), "{dom}");
    // p50 is robust to this busy machine's noise over 1 s cells (p99 is 1 request of 50).
    assert!(
        dom.contains("p50: delay explains"),
        "the attribution line: {}",
        dom.lines()
            .filter(|l| l.contains("explains"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(!dom.contains("Chart not drawn"), "{dom}");
    assert_eq!(svgs(&dom).len(), 5, "one chart per metric");
    for id in ["p99", "p50", "avg", "error_rate", "achieved_rate"] {
        let at = dom
            .find(&format!("data-chart=\"{id}\""))
            .unwrap_or_else(|| panic!("chart {id} missing"));
        let svg = svgs(&dom[at..])[0];
        // Four cells: at least four bars (plus the legend's swatches).
        assert!(svg.matches("<rect").count() >= 4, "chart {id} has no bars");
        if id == "p50" {
            // Clustered by the axis that explains the metric.
            let labels: Vec<&str> = svg
                .split("<text")
                .skip(1)
                .filter_map(|t| Some(t[t.find('>')? + 1..t.find('<')?].trim()))
                .collect();
            assert!(
                labels.contains(&"1ms") && labels.contains(&"10ms"),
                "chart {id} is not clustered by delay: {labels:?}"
            );
        }
    }
}

/// A coordinator's page (one worker lost): per-worker rows, the workers line and the
/// PARTIAL warning, every chart drawn, nothing loaded from outside.
#[test]
fn coordinator_page_renders_in_chromium() {
    let t = target(1);
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("coordinated.html");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let coordinator = Guarded::spawn(
        stampede()
            .args(["coordinator", "--listen", &addr, "--workers", "2"])
            .args(["--lost-after", "2s", "--group-by", "worker", "-q", "--html"])
            .arg(&html)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped()),
    );
    let url = format!("http://{}/", t.addrs()[0]);
    let to = format!("http://{addr}");
    let worker = || {
        Guarded::spawn(
            stampede()
                .args(["run", &url, "--rate", "50", "-d", "3s", "-q"])
                .args(["--report-to", &to])
                .stdout(std::process::Stdio::null()),
        )
    };
    std::thread::sleep(Duration::from_millis(300)); // the coordinator binds
    let survivor = worker();
    let mut victim = worker();
    std::thread::sleep(Duration::from_millis(1500));
    victim.child().kill().unwrap(); // SIGKILL
    survivor.wait(Duration::from_secs(30));
    let o = coordinator.wait(Duration::from_secs(30));
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let Some(dom) = browser_dom(&html, "coordinator_page") else {
        return;
    };
    assert!(dom.contains("workers: 1 of 2 finished"), "{dom}");
    assert!(dom.contains("PARTIAL: 1 of 2"), "{dom}");
    assert!(
        dom.contains("worker-0") || dom.contains("worker-1"),
        "{dom}"
    );
    assert!(!dom.contains("Chart not drawn"), "{dom}");
    assert!(svgs(&dom).len() >= 4, "charts drawn");
}

/// A run with a scheduled fault (`--fault`): the page shades the fault on the three time
/// charts and shows its before/during/after table, and Chromium renders it without
/// loading anything.
#[test]
fn fault_windows_render_in_chromium() {
    let t = target(1);
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("faults.html");
    let url = format!("http://{}/", t.addrs()[0]);
    let o = run_bounded(
        stampede()
            .args(["run", &url, "--rate", "50", "-d", "3s", "-q"])
            .args(["--fault", "at 1s for 1s: latency 30ms", "--html"])
            .arg(&html),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let Some(dom) = browser_dom(&html, "fault_windows") else {
        return;
    };
    assert!(dom.contains("<h2>Faults</h2>"), "no fault section");
    assert!(dom.contains("at 1s for 1s: latency 30ms"));
    assert!(dom.contains("<td>during</td>"));
    for id in ["throughput", "latency-over-time", "errors-over-time"] {
        let at = dom
            .find(&format!("data-chart=\"{id}\""))
            .unwrap_or_else(|| panic!("chart {id} missing"));
        let svg = svgs(&dom[at..])[0];
        assert!(
            svg.contains("opacity=\"0.12\" fill=\"#D62728\""),
            "chart {id} has no fault band"
        );
        assert!(svg.contains("latency"), "chart {id}: the band has no label");
    }
    assert!(!dom.contains("Chart not drawn"));
}
