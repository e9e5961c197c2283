//! The HTML report's server metrics: one chart per unit on the run's time axis (under
//! the latency chart), then the series table, the sources and the bottleneck hints.

use std::fmt::Write as _;

use stampede_analysis::bottleneck::{hints, series_label};
use stampede_result::{RunResult, Sampled, ServerMetricDoc};

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

/// Where second `t`'s value goes on the run's time axis, as an offset from `t`: a reading
/// at the second's end at `t + 1`, where it was measured; a rate or share over the second
/// at its middle, `t + 0.5`, where the run's own per-second lines put their seconds.
/// Documents from before `sampled` existed are drawn at the middle, as they were.
fn placement(sampled: Option<Sampled>) -> f64 {
    match sampled {
        Some(Sampled::EndOfSecond) => 1.0,
        Some(Sampled::OverSecond) | None => 0.5,
    }
}

/// A series' points on the run's time axis (seconds since its start), values times
/// `scale`; seconds without a value are left out.
fn points(m: &ServerMetricDoc, scale: f64) -> Vec<(f64, f64)> {
    let at = placement(m.sampled);
    m.values
        .iter()
        .enumerate()
        .filter_map(|(t, v)| Some((t as f64 + at, (*v)? * scale)))
        .collect()
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
                Series::line(label, points(m, scale))
            })
            .collect();
        let chart = XyChart {
            x_desc: "time since start".into(),
            y_desc: y_desc.clone(),
            log_x: false,
            series,
            y_lines: Vec::new(),
        };
        let mut caption = "Gauges (and query_range samples) where they were read, at the end \
                           of each second; counters and CPU busy as their rate over the second, \
                           at its middle, as the run's own per-second lines. A second without a \
                           value (failed scrape) is skipped."
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
            super::charts::over_run_time(r, &chart),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(sampled: Option<Sampled>) -> ServerMetricDoc {
        ServerMetricDoc {
            name: "x".into(),
            labels: Default::default(),
            source: "http://127.0.0.1:9100/metrics".into(),
            derived: "value".into(),
            unit: None,
            sampled,
            values: vec![Some(1.0), None, Some(3.0)],
        }
    }

    #[test]
    fn a_reading_goes_where_it_was_read_and_a_rate_at_its_seconds_middle() {
        // Second 0's gauge was read at the end of second 0: 1 s after the start.
        assert_eq!(
            points(&series(Some(Sampled::EndOfSecond)), 2.0),
            [(1.0, 2.0), (3.0, 6.0)]
        );
        // A rate over [0, 1) sits at 0.5 s, as the run's own lines put their seconds.
        assert_eq!(
            points(&series(Some(Sampled::OverSecond)), 1.0),
            [(0.5, 1.0), (2.5, 3.0)]
        );
        assert_eq!(points(&series(None), 1.0), [(0.5, 1.0), (2.5, 3.0)]);
    }

    /// The x tick labels of the chart `name` in `html`.
    fn x_ticks(html: &str, name: &str) -> Vec<String> {
        let start = html
            .find(&format!("data-chart=\"{name}\""))
            .unwrap_or_else(|| panic!("no chart {name}"));
        let end = start + html[start..].find("</figure>").expect("figure end");
        html[start..end]
            .split("</text>")
            .filter_map(|t| t.rsplit('>').next().map(str::trim))
            .filter(|t| t.ends_with('s') && t[..t.len() - 1].parse::<f64>().is_ok())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn server_charts_share_the_run_charts_time_axis() {
        use crate::testing::{outcome, plan};
        let mut r = stampede_analysis::assemble(&plan(false), &outcome(false, false));
        let mut m = series(Some(Sampled::EndOfSecond));
        m.values = vec![Some(1.0); r.series.len()];
        r.server_metrics = vec![m];
        let html = crate::render_html(&r);
        let (run, server) = (
            x_ticks(&html, "throughput"),
            x_ticks(&html, "server-metrics-0"),
        );
        assert!(run.contains(&"0s".to_string()), "{run:?}");
        assert_eq!(server, run, "the server chart's time axis is the run's");
    }
}
