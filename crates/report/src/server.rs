//! Server-side series (`server_metrics`) under the table: mean and max per series, how
//! reading each source went, the bottleneck hints (the HTML report's section is
//! `html/server.rs`).

use std::fmt::Write as _;

use stampede_analysis::bottleneck::{hints, series_label};
use stampede_result::{MetricSourceDoc, RunResult, ServerMetricDoc};

use crate::units::bytes;

/// A value in its unit's words: `62.5%`, `21.4 GiB`, `1.2 MiB/s`, `346`.
fn shown(v: f64, unit: Option<&str>) -> String {
    match unit {
        Some("ratio") => format!("{:.1}%", v * 100.0),
        Some("bytes") => bytes(v.max(0.0) as u64),
        Some("bytes/s") => format!("{}/s", bytes(v.max(0.0) as u64)),
        Some(u) => format!("{} {u}", number(v)),
        None => number(v),
    }
}

fn number(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Mean and max over the seconds that have a value, and how many do.
fn mean_max(m: &ServerMetricDoc) -> Option<(f64, f64, usize)> {
    let known: Vec<f64> = m.values.iter().flatten().copied().collect();
    if known.is_empty() {
        return None;
    }
    let mean = known.iter().sum::<f64>() / known.len() as f64;
    let max = known.iter().copied().fold(f64::MIN, f64::max);
    Some((mean, max, known.len()))
}

/// The rows of the series table (header first).
pub(crate) fn rows(r: &RunResult) -> Vec<Vec<String>> {
    let mut rows = vec![vec![
        "server series".to_string(),
        "mean".into(),
        "max".into(),
        "seconds".into(),
        "from".into(),
    ]];
    for m in &r.server_metrics {
        let (mean, max, known) = match mean_max(m) {
            Some((mean, max, n)) => (
                shown(mean, m.unit.as_deref()),
                shown(max, m.unit.as_deref()),
                n,
            ),
            None => ("-".into(), "-".into(), 0),
        };
        rows.push(vec![
            series_label(m),
            mean,
            max,
            format!("{known}/{}", m.values.len()),
            match r
                .server_metric_sources
                .iter()
                .position(|s| s.source == m.source)
            {
                Some(i) => format!("[{}]", i + 1),
                None => m.source.clone(),
            },
        ]);
    }
    rows
}

/// How reading one source went, in a line.
pub(crate) fn source_line(s: &MetricSourceDoc) -> String {
    let verb = if s.kind == "scrape" {
        "scraped"
    } else {
        "asked"
    };
    let mut line = format!(
        "{}: {verb} {} time{}, {} failed, {} series",
        s.source,
        s.attempts,
        if s.attempts == 1 { "" } else { "s" },
        s.failures,
        s.series
    );
    if let Some(e) = &s.first_error {
        let _ = write!(line, " (first failure: {e})");
    }
    if s.series == 0 && s.failures < s.attempts && s.kind == "scrape" {
        line.push_str(" (no series matched: pick some with --server-metric)");
    }
    line
}

/// The terminal lines: the series table, the sources, the hints. Empty without server
/// metrics.
pub(crate) fn text(r: &RunResult, layout: impl Fn(&[Vec<String>]) -> String) -> String {
    if r.server_metrics.is_empty() && r.server_metric_sources.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    if !r.server_metrics.is_empty() {
        out.push_str(&layout(&rows(r)));
    }
    for (i, s) in r.server_metric_sources.iter().enumerate() {
        let _ = writeln!(out, "server metrics [{}] {}", i + 1, source_line(s));
    }
    for h in hints(r) {
        let _ = writeln!(out, "hint: {}", h.text());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_in_their_units() {
        assert_eq!(shown(0.625, Some("ratio")), "62.5%");
        assert_eq!(shown(3.0 * 1048576.0, Some("bytes/s")), "3.0 MiB/s");
        assert_eq!(shown(346.0, Some("sockets")), "346 sockets");
        assert_eq!(shown(0.25, None), "0.250");
        let m = ServerMetricDoc {
            name: "x".into(),
            labels: Default::default(),
            source: "s".into(),
            derived: "value".into(),
            unit: None,
            sampled: None,
            values: vec![Some(1.0), None, Some(3.0)],
        };
        assert_eq!(mean_max(&m), Some((2.0, 3.0, 2)));
    }

    fn with_metrics() -> RunResult {
        use crate::testing::{outcome, plan};
        let mut r = stampede_analysis::assemble(&plan(false), &outcome(false, false));
        let n = r.series.len();
        let metric = |name: &str, unit: &str, f: &dyn Fn(usize) -> Option<f64>| ServerMetricDoc {
            name: name.into(),
            labels: Default::default(),
            source: "http://127.0.0.1:9100/metrics".into(),
            derived: "value".into(),
            unit: Some(unit.into()),
            sampled: None,
            values: (0..n).map(f).collect(),
        };
        r.server_metrics = vec![
            metric("cpu_busy", "ratio", &|t| Some(0.1 * t as f64)),
            metric("tcp_inuse", "sockets", &|t| (t != 1).then_some(10.0)),
        ];
        r.server_metric_sources = vec![MetricSourceDoc {
            source: "http://127.0.0.1:9100/metrics".into(),
            kind: "scrape".into(),
            attempts: n as u64 + 1,
            failures: 1,
            first_error: Some("connect: Connection refused".into()),
            series: 2,
        }];
        r
    }

    #[test]
    fn the_table_and_the_page_show_each_series_and_its_source() {
        let r = with_metrics();
        let text = crate::render_table(&r);
        assert!(text.contains("cpu_busy"), "{text}");
        assert!(text.contains("10 sockets"), "{text}");
        assert!(
            text.contains("1 failed, 2 series (first failure: connect: Connection refused)"),
            "{text}"
        );
        let html = crate::render_html(&r);
        let latency = html.find("data-chart=\"latency-over-time\"").unwrap();
        let cpu = html.find("data-chart=\"server-metrics-0\"").unwrap();
        let errors = html.find("data-chart=\"errors-over-time\"").unwrap();
        assert!(
            latency < cpu && cpu < errors,
            "server charts sit under the latency chart"
        );
        assert!(html.contains("data-chart=\"server-metrics-1\""));
        assert!(!html[cpu..errors].contains("Chart not drawn"));
        assert!(html.contains("<h2>Server metrics</h2>"));
        // Without server metrics: no section, no charts.
        let mut plain = r.clone();
        plain.server_metrics.clear();
        plain.server_metric_sources.clear();
        assert!(!crate::render_html(&plain).contains("Server metrics"));
        assert!(!crate::render_table(&plain).contains("server metrics"));
    }
}
