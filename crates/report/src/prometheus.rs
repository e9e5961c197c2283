//! Live metrics in the Prometheus text exposition format (version 0.0.4).
//!
//! Whole-run families carry no `group` label; the `stampede_group_*` families repeat the
//! request counters and the latency histogram per group, so `sum by ()` over a group
//! family equals the whole-run family. Every counter is cumulative since the run
//! started. Latency histograms use fixed `le` buckets in seconds, read off the
//! cumulative HDR histogram (to its 0.1% precision). `stampede_errors_total` lists every
//! error class; `stampede_group_errors_total` only the classes a group has seen.

use std::fmt::Write as _;
use std::time::Duration;

use stampede_metrics::{ErrorClass, GeneratorStats, LatencyHistogram, Stats};

/// `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the latency histogram buckets, in seconds (`+Inf` is added).
pub const BUCKETS_S: [f64; 20] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 25.0, 60.0, 300.0, 1800.0,
];

/// What the exposition shows: cumulative stats of the run so far (or of the whole run).
#[derive(Debug, Clone)]
pub struct MetricsSnapshot<'a> {
    /// Every request so far.
    pub total: &'a Stats,
    /// Requests by group key.
    pub groups: Vec<(&'a str, &'a Stats)>,
    /// Generator self-observation so far.
    pub generator: &'a GeneratorStats,
    /// Seconds of the run measured so far.
    pub elapsed: Duration,
    /// True once the run is over and these are its final numbers.
    pub finished: bool,
    /// True when latency is corrected from the intended send time (open model).
    pub corrected: bool,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Writes the samples of one histogram (`_bucket`, `_sum`, `_count`).
fn histogram(out: &mut String, name: &str, labels: &[(&str, &str)], h: &LatencyHistogram) {
    let mut counts = [0u64; BUCKETS_S.len()];
    let mut sum_us = 0.0;
    let inner = h.inner();
    for v in inner.iter_recorded() {
        let n = v.count_since_last_iteration();
        let value_us = inner.lowest_equivalent(v.value_iterated_to());
        sum_us += inner.median_equivalent(v.value_iterated_to()) as f64 * n as f64;
        if let Some(i) = BUCKETS_S
            .iter()
            .position(|b| value_us as f64 <= b * 1_000_000.0)
        {
            counts[i] += n;
        }
    }
    let mut cumulative = 0;
    for (bound, n) in BUCKETS_S.iter().zip(counts) {
        cumulative += n;
        let le = bound.to_string();
        let mut l = labels.to_vec();
        l.push(("le", &le));
        sample(out, &format!("{name}_bucket"), &l, cumulative);
    }
    let mut l = labels.to_vec();
    l.push(("le", "+Inf"));
    sample(out, &format!("{name}_bucket"), &l, h.count());
    sample(out, &format!("{name}_sum"), labels, sum_us / 1_000_000.0);
    sample(out, &format!("{name}_count"), labels, h.count());
}

/// The request counter families, one sample set per `(labels, stats)` entry.
fn counters(out: &mut String, prefix: &str, sets: &[(Vec<(&str, &str)>, &Stats)]) {
    let name = format!("{prefix}requests_total");
    family(
        out,
        &name,
        "counter",
        "Requests finished: successes, errors and timeouts.",
    );
    for (labels, s) in sets {
        sample(out, &name, labels, s.requests);
    }
    let name = format!("{prefix}errors_total");
    family(
        out,
        &name,
        "counter",
        "Failed requests by error class (timeouts are counted apart).",
    );
    for (labels, s) in sets {
        // The whole run lists every class (zeros included); groups only those seen, to
        // bound the number of series.
        for class in ErrorClass::ALL {
            let n = s.errors_by_class.get(class);
            if n > 0 || labels.is_empty() {
                let mut l = labels.clone();
                l.push(("class", class.as_str()));
                sample(out, &name, &l, n);
            }
        }
    }
    let name = format!("{prefix}timeouts_total");
    family(
        out,
        &name,
        "counter",
        "Requests with no complete response within the timeout.",
    );
    for (labels, s) in sets {
        sample(out, &name, labels, s.timeouts);
    }
    let name = format!("{prefix}responses_total");
    family(out, &name, "counter", "Responses by HTTP status code.");
    for (labels, s) in sets {
        for (code, n) in s.status_codes.non_zero() {
            let code = code.to_string();
            let mut l = labels.clone();
            l.push(("code", &code));
            sample(out, &name, &l, n);
        }
    }
}

/// Renders the exposition text.
pub fn render_prometheus(m: &MetricsSnapshot<'_>) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let t = m.total;
    let g = m.generator;
    family(
        &mut out,
        "stampede_run_finished",
        "gauge",
        "1 once the run is over and these are its final numbers, else 0.",
    );
    sample(&mut out, "stampede_run_finished", &[], u8::from(m.finished));
    family(
        &mut out,
        "stampede_run_elapsed_seconds",
        "gauge",
        "Seconds of the run measured so far.",
    );
    sample(
        &mut out,
        "stampede_run_elapsed_seconds",
        &[],
        m.elapsed.as_secs_f64(),
    );
    counters(&mut out, "stampede_", &[(Vec::new(), t)]);
    for (name, help, v) in [
        ("stampede_sent_total", "Requests sent.", g.sends),
        (
            "stampede_late_sends_total",
            "Open model: sends that left more than 1 ms after their intended time.",
            g.late_sends,
        ),
        (
            "stampede_dropped_total",
            "Open model: scheduled requests never sent for want of a free connection.",
            g.dropped,
        ),
        (
            "stampede_connections_opened_total",
            "Connections opened.",
            t.connections_opened,
        ),
        (
            "stampede_received_bytes_total",
            "Response bytes received.",
            t.bytes_received,
        ),
        (
            "stampede_sent_bytes_total",
            "Request bytes sent.",
            t.bytes_sent,
        ),
    ] {
        family(&mut out, name, "counter", help);
        sample(&mut out, name, &[], v);
    }
    family(
        &mut out,
        "stampede_unfinished_requests",
        "gauge",
        "Requests still in flight when the run ended (0 while it runs).",
    );
    sample(&mut out, "stampede_unfinished_requests", &[], g.unfinished);
    let latency_help = if m.corrected {
        "Latency from each request's intended send time (corrected for coordinated omission)."
    } else {
        "Latency (closed model: service time, queueing before sending not included)."
    };
    family(
        &mut out,
        "stampede_latency_seconds",
        "histogram",
        latency_help,
    );
    histogram(&mut out, "stampede_latency_seconds", &[], &t.latency);
    family(
        &mut out,
        "stampede_service_time_seconds",
        "histogram",
        "Service time: actual send to the last byte of the response.",
    );
    histogram(
        &mut out,
        "stampede_service_time_seconds",
        &[],
        &t.service_time,
    );
    if !m.groups.is_empty() {
        let sets: Vec<(Vec<(&str, &str)>, &Stats)> = m
            .groups
            .iter()
            .map(|(key, s)| (vec![("group", *key)], *s))
            .collect();
        counters(&mut out, "stampede_group_", &sets);
        family(
            &mut out,
            "stampede_group_latency_seconds",
            "histogram",
            "Latency by group (see stampede_latency_seconds).",
        );
        for (labels, s) in &sets {
            histogram(
                &mut out,
                "stampede_group_latency_seconds",
                labels,
                &s.latency,
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::second_stats;
    use std::collections::BTreeMap;

    fn value(text: &str, series: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{series} missing"))
            .parse()
            .unwrap()
    }

    fn render(groups: &[(&str, &Stats)], total: &Stats) -> String {
        let generator = GeneratorStats {
            sends: 120,
            late_sends: 3,
            dropped: 2,
            ..GeneratorStats::default()
        };
        render_prometheus(&MetricsSnapshot {
            total,
            groups: groups.to_vec(),
            generator: &generator,
            elapsed: Duration::from_secs(3),
            finished: true,
            corrected: true,
        })
    }

    #[test]
    fn counters_and_histograms_match_the_stats() {
        let a = second_stats(100, 3);
        let b = second_stats(20, 150);
        let mut total = a.clone();
        total.merge(&b);
        let text = render(&[("a", &a), ("b\"q", &b)], &total);
        assert_eq!(
            value(&text, "stampede_requests_total"),
            total.requests as f64
        );
        assert_eq!(value(&text, "stampede_timeouts_total"), 2.0);
        assert_eq!(
            value(&text, "stampede_errors_total{class=\"http_5xx\"}"),
            12.0
        );
        assert_eq!(value(&text, "stampede_errors_total{class=\"reset\"}"), 2.0);
        assert_eq!(
            value(&text, "stampede_responses_total{code=\"200\"}"),
            108.0
        );
        assert_eq!(value(&text, "stampede_sent_total"), 120.0);
        assert_eq!(value(&text, "stampede_dropped_total"), 2.0);
        assert_eq!(value(&text, "stampede_run_finished"), 1.0);
        assert_eq!(
            value(&text, "stampede_group_requests_total{group=\"a\"}"),
            a.requests as f64
        );
        // Label values are escaped.
        assert_eq!(
            value(&text, "stampede_group_requests_total{group=\"b\\\"q\"}"),
            b.requests as f64
        );
        // Buckets are cumulative and end at the count.
        let count = total.latency.count() as f64;
        assert_eq!(value(&text, "stampede_latency_seconds_count"), count);
        assert_eq!(
            value(&text, "stampede_latency_seconds_bucket{le=\"+Inf\"}"),
            count
        );
        assert_eq!(
            value(&text, "stampede_latency_seconds_bucket{le=\"0.001\"}"),
            0.0
        );
        assert_eq!(
            value(&text, "stampede_latency_seconds_bucket{le=\"0.1\"}"),
            100.0
        );
        assert_eq!(
            value(&text, "stampede_latency_seconds_bucket{le=\"0.25\"}"),
            count
        );
        let sum = value(&text, "stampede_latency_seconds_sum");
        assert!(
            (sum - total.latency.mean_ms() * count / 1000.0).abs() < 0.01,
            "{sum}"
        );
    }

    #[test]
    fn each_family_is_declared_once_and_contiguous() {
        let a = second_stats(10, 3);
        let text = render(&[("a", &a), ("b", &a)], &a);
        let mut seen = BTreeMap::new();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                current = rest.split(' ').next().unwrap().to_string();
                assert!(
                    seen.insert(current.clone(), ()).is_none(),
                    "{current} twice"
                );
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(name.starts_with(&current), "{name} outside {current}");
        }
        assert!(seen.contains_key("stampede_group_latency_seconds"));
    }

    #[test]
    fn an_empty_run_has_zero_counters_and_no_group_families() {
        let text = render(&[], &Stats::new());
        assert_eq!(value(&text, "stampede_requests_total"), 0.0);
        assert_eq!(value(&text, "stampede_latency_seconds_count"), 0.0);
        assert!(!text.contains("stampede_group_"));
    }
}
