//! The HTML report's server metrics: one chart per unit on the run's time axis (under
//! the latency chart), then the series table, the sources and the bottleneck hints.

use std::fmt::Write as _;

use stampede_analysis::bottleneck::{hints, series_label};
use stampede_result::{RunResult, ServerMetricDoc};

use super::kit::{esc, figure, table, Series, XyChart};
use crate::server::{rows, source_line};

/// The HTML section: the series table, the sources and the hints.
pub(crate) fn html_section(out: &mut String, r: &RunResult) {
    if r.server_metrics.is_empty() && r.server_metric_sources.is_empty() {
        return;
    }
    out.push_str("<h2>Server metrics</h2>\n");
    if !r.server_metrics.is_empty() {
        table(out, &rows(r));
    }
    out.push_str("<ol class=\"sources\">\n");
    for s in &r.server_metric_sources {
        let _ = writeln!(out, "<li>{}</li>", esc(&source_line(s)));
    }
    out.push_str("</ol>\n");
    let hints = hints(r);
    if !hints.is_empty() {
        out.push_str("<h3>Bottleneck hints</h3>\n<ul class=\"hints\">\n");
        for h in hints {
            let _ = writeln!(out, "<li>{}</li>", esc(h.text()));
        }
        out.push_str("</ul>\n");
    }
}

/// Series drawn in one chart at most.
const MAX_LINES: usize = 8;

/// One chart per unit, on the time axis of the run's charts.
pub(crate) fn charts(out: &mut String, r: &RunResult) {
    let mut units: Vec<Option<&str>> = Vec::new();
    for m in &r.server_metrics {
        if !units.contains(&m.unit.as_deref()) {
            units.push(m.unit.as_deref());
        }
    }
    let sources = r
        .server_metrics
        .iter()
        .map(|m| &m.source)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    for (i, unit) in units.into_iter().enumerate() {
        let (scale, y_desc) = match unit {
            Some("ratio") => (100.0, "percent".to_string()),
            Some("bytes") => (1.0 / 1048576.0, "MiB".to_string()),
            Some("bytes/s") => (1.0 / 1048576.0, "MiB/s".to_string()),
            Some(u) => (1.0, u.to_string()),
            None => (1.0, "value".to_string()),
        };
        let of_unit: Vec<&ServerMetricDoc> = r
            .server_metrics
            .iter()
            .filter(|m| m.unit.as_deref() == unit)
            .collect();
        let series = of_unit
            .iter()
            .take(MAX_LINES)
            .map(|m| {
                let label = if sources > 1 {
                    format!("{} @ {}", series_label(m), m.source)
                } else {
                    series_label(m)
                };
                let points = m
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(t, v)| Some((t as f64 + 0.5, (*v)? * scale)))
                    .collect();
                Series::line(label, points)
            })
            .collect();
        let chart = XyChart {
            x_desc: "time since start (s)".into(),
            y_desc: y_desc.clone(),
            log_x: false,
            series,
            y_lines: Vec::new(),
        };
        let mut caption = "Read at the end of each second; counters as their rate over it. \
                           A second without a value (failed scrape) is skipped."
            .to_string();
        if of_unit.len() > MAX_LINES {
            let _ = write!(
                caption,
                " The first {MAX_LINES} of {} series are drawn.",
                of_unit.len()
            );
        }
        figure(
            out,
            &format!("server-metrics-{i}"),
            &format!("Server: {y_desc}"),
            &caption,
            crate::html::kit::xy_chart(&chart),
        );
    }
}
