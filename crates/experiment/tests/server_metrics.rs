//! The server-metrics observer against small exposition endpoints written here: a
//! counter that grows 100 per second of wall time becomes a rate of about 100/s in each
//! second of the run; a gauge is read as it is; an endpoint that accepts and never answers
//! costs each scrape its timeout, is counted, and the run still ends on time.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use stampede_experiment::{start, Selector, ServerMetrics, ServerMetricsConfig};
use stampede_result::Sampled;
use support::{open_plan, testserver, url_of};

/// Serves `body(seconds since start)` as the text format on a free port, until the test
/// process ends (each connection is answered and closed).
fn exposition(body: fn(f64) -> String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t0 = Instant::now();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf);
            let text = body(t0.elapsed().as_secs_f64());
            let _ = write!(
                c,
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\r\n{text}"
            );
        }
    });
    format!("http://{addr}/metrics")
}

#[test]
fn counters_become_rates_on_the_run_seconds_and_silence_is_counted() {
    let counter = exposition(|t| {
        format!(
            "# TYPE app_requests_total counter\napp_requests_total{{code=\"200\"}} {}\n\
             app_queue_depth 7\n",
            (t * 100.0).round()
        )
    });
    // Accepts connections (the kernel's backlog) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/metrics", silent.local_addr().unwrap());
    let server = testserver();
    let metrics = ServerMetrics::new(ServerMetricsConfig {
        endpoints: vec![counter.clone(), silent_url.clone()],
        picks: vec![
            Selector::parse("app_requests_total").unwrap(),
            Selector::parse("app_queue_depth").unwrap(),
        ],
        ..Default::default()
    })
    .unwrap();
    let started = Instant::now();
    let run = start(
        open_plan(&url_of(&server, "/"), 50.0, 3),
        vec![Box::new(metrics)],
    );
    let r = run.wait().unwrap().result;
    let wall = started.elapsed();
    assert!(wall < Duration::from_secs(5), "the run took {wall:?}");

    let n = r.series.len();
    let rate = r
        .server_metrics
        .iter()
        .find(|m| m.name == "app_requests_total")
        .expect("the counter");
    assert_eq!(rate.derived, "rate(app_requests_total)");
    assert_eq!(rate.labels["code"], "200");
    assert_eq!(rate.values.len(), n);
    // Whole seconds: 100/s within the rounding of one count per reading.
    for v in rate.values.iter().take(3) {
        let v = v.expect("a value in each whole second");
        assert!((v - 100.0).abs() < 15.0, "{:?}", rate.values);
    }
    let gauge = r
        .server_metrics
        .iter()
        .find(|m| m.name == "app_queue_depth")
        .unwrap();
    assert_eq!(gauge.derived, "value");
    assert!(gauge.values.iter().all(|v| *v == Some(7.0)));

    let sources = &r.server_metric_sources;
    let ok = sources.iter().find(|s| s.source == counter).unwrap();
    assert_eq!((ok.failures, ok.series, ok.kind.as_str()), (0, 2, "scrape"));
    assert!(ok.attempts as usize >= n, "one scrape per second boundary");
    let mute = sources.iter().find(|s| s.source == silent_url).unwrap();
    assert!(
        mute.attempts >= 3 && mute.failures == mute.attempts,
        "{mute:?}"
    );
    assert_eq!(
        mute.first_error.as_deref(),
        Some("read: timed out after 800 ms")
    );
    drop(silent);
}

/// Readings are taken on the run's clock: with `--start-at` 1 s ahead, a gauge of the
/// wall-clock time read for second `t` says start + t + 1 s (read at the second's end),
/// not the time the observer was set up.
#[test]
fn scrapes_are_timed_from_the_runs_time_zero() {
    let clock = exposition(|_| {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        format!("wall_clock_seconds {:.3}\n", now.as_secs_f64())
    });
    let server = testserver();
    let metrics = ServerMetrics::new(ServerMetricsConfig {
        endpoints: vec![clock],
        picks: vec![Selector::parse("wall_clock_seconds").unwrap()],
        ..Default::default()
    })
    .unwrap();
    let mut plan = open_plan(&url_of(&server, "/"), 20.0, 2);
    let at = SystemTime::now() + Duration::from_secs(1);
    plan.start_at = Some(at);
    let r = start(plan, vec![Box::new(metrics)]).wait().unwrap().result;
    let m = &r.server_metrics[0];
    assert_eq!(m.sampled, Some(Sampled::EndOfSecond));
    let zero = at.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    for (t, v) in m.values.iter().enumerate().take(2) {
        let read = v.expect("a reading each second") - zero;
        assert!(
            (read - (t as f64 + 1.0)).abs() < 0.25,
            "second {t} was read {read:.3} s after time zero: {:?}",
            m.values
        );
    }
}
