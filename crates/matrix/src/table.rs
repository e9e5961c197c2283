//! The matrix table: one row per cell in display order, then one line per metric naming
//! the axis that explains it.

use std::fmt::Write as _;

use stampede_analysis::variance::{Attribution, Better, Explained};
use stampede_report::{fmt_ms, layout};

use crate::doc::{CellDoc, MatrixResult, Metric, MetricAttribution, METRICS};

/// Under this share, no axis is named: the variance is in the interactions.
const NAMED_SHARE: f64 = 0.05;
/// Under this ratio between the worst and best level, a difference is not material.
const MATERIAL_RATIO: f64 = 1.05;
/// Over this unexplained share, the line says so.
const SAY_UNEXPLAINED: f64 = 0.2;

/// The table columns after the axes.
const COLUMNS: [&str; 9] = [
    "hits", "errors", "timeouts", "avg ms", "p50 ms", "p99 ms", "err+to %", "rate/s", "run",
];

/// The rows of the table (header first): axes' values, hits, errors, timeouts, avg,
/// p50, p99 (ms), (timeout + error) rate, achieved rate, run position.
pub fn table_rows(m: &MatrixResult) -> Vec<Vec<String>> {
    let mut header: Vec<String> = m.axes.iter().map(|a| a.name.clone()).collect();
    header.extend(COLUMNS.iter().map(|s| s.to_string()));
    let mut rows = vec![header];
    for cell in &m.cells {
        let mut row = m.levels(cell);
        row.extend(cell_figures(cell));
        rows.push(row);
    }
    rows
}

fn cell_figures(cell: &CellDoc) -> Vec<String> {
    let r = &cell.result;
    let c = &r.summary.core;
    let lat = |v: f64| {
        if c.latency_ms.max > 0.0 {
            fmt_ms(v)
        } else {
            "-".to_string()
        }
    };
    let mut run = format!("{}", cell.run_index + 1);
    if r.aborted {
        run.push_str(" (stopped)");
    }
    vec![
        c.requests.to_string(),
        c.errors.to_string(),
        c.timeouts.to_string(),
        lat(c.latency_ms.mean),
        lat(c.latency_ms.p50),
        lat(c.latency_ms.p99),
        match c.requests {
            0 => "-".to_string(),
            _ => format!("{:.2}", c.error_rate * 100.0),
        },
        match c.target_rate {
            Some(t) => format!("{:.1} / {:.1}", c.achieved_rate, t),
            None => format!("{:.1}", c.achieved_rate),
        },
        run,
    ]
}

/// The whole terminal output: what ran, the table, warnings, the attribution lines.
pub fn render_matrix_table(m: &MatrixResult) -> String {
    let mut out = String::new();
    let load = m.cells.first().map(|c| &c.result.config);
    let _ = writeln!(
        out,
        "matrix {} · {} cells{}{}",
        m.url_template,
        m.cells.len() + m.not_run.len(),
        load.map(|c| format!(" · {} model", c.model))
            .unwrap_or_default(),
        if m.warmup_s > 0.0 {
            format!(" · {:.1}s warm-up per cell (discarded)", m.warmup_s)
        } else {
            String::new()
        }
    );
    out.push_str(&layout(&table_rows(m)));
    if m.interrupted {
        let _ = writeln!(
            out,
            "INTERRUPTED: a partial matrix ({} of {} cells measured{}); the attribution covers the cells above",
            m.cells.len(),
            m.cells.len() + m.not_run.len(),
            if m.cells.iter().any(|c| c.result.aborted) {
                ", the last one stopped early"
            } else {
                ""
            }
        );
    }
    for cell in &m.cells {
        let w = &cell.result.generator.warnings;
        if !w.is_empty() {
            let reasons: Vec<String> = w.iter().map(|w| w.explain()).collect();
            let _ = writeln!(
                out,
                "WARNING: stampede itself limited cell {}: {}",
                m.levels(cell).join(" / "),
                reasons.join("; ")
            );
        }
    }
    out.push('\n');
    for a in &m.attribution {
        let _ = writeln!(out, "{}", attribution_line(a));
    }
    if let Some(note) = limited_note(m) {
        let _ = writeln!(out, "{note}");
    }
    out
}

/// When stampede itself limited some cells, the attribution may blame an axis for the
/// generator's own delay: says so, with how many cells.
pub(crate) fn limited_note(m: &MatrixResult) -> Option<String> {
    let limited = m
        .cells
        .iter()
        .filter(|c| !c.result.generator.warnings.is_empty())
        .count();
    (limited > 0).then(|| {
        format!(
            "NOTE: stampede itself limited {limited} of {} cells (WARNING above): their figures include the generator's own delay, so an axis named above may stand for it",
            m.cells.len()
        )
    })
}

/// One line per metric, e.g. `p99: protocol explains 97% of the variance (https 41×
/// http: 12.3 vs 0.30 ms)`.
pub fn attribution_line(a: &MetricAttribution) -> String {
    let Some(metric) = METRICS.iter().find(|m| m.key == a.metric) else {
        return format!("{}: unknown metric", a.metric);
    };
    let name = metric.label;
    match &a.attribution {
        Attribution::NotEnoughData { cells } => format!(
            "{name}: not attributed: {cells} cell{} with data, at least 2 are needed",
            if *cells == 1 { "" } else { "s" }
        ),
        Attribution::NoVariance { cells, value } => format!(
            "{name}: the same in all {cells} cells ({}): no axis makes a difference",
            value_text(metric, *value)
        ),
        Attribution::Explained(e) if e.share < NAMED_SHARE => format!(
            "{name}: no single axis explains it ({} at most, by {}): {:.0}% is in the interactions of the axes and noise",
            percent(e.share),
            e.axis,
            e.unexplained * 100.0
        ),
        Attribution::Explained(e) if e.ratio().is_some_and(|r| r < MATERIAL_RATIO) => format!(
            "{name}: less than {:.0}% apart across cells: no axis makes a material difference (the most: {}, {})",
            (MATERIAL_RATIO - 1.0) * 100.0,
            e.axis,
            comparison(metric, e)
        ),
        Attribution::Explained(e) => {
            let mut line = format!(
                "{name}: {} explains {} of the variance ({})",
                e.axis,
                percent(e.share),
                comparison(metric, e)
            );
            if e.unexplained > SAY_UNEXPLAINED {
                let _ = write!(
                    line,
                    "; {:.0}% is left to interactions and noise",
                    e.unexplained * 100.0
                );
            }
            line
        }
    }
}

fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

/// `https 41× http: 12.3 vs 0.30 ms`, or without a ratio `stream 2.2% vs hello 0.00%`.
fn comparison(metric: &Metric, e: &Explained) -> String {
    let worst = value_text(metric, e.worst_mean);
    let best = value_text(metric, e.best_mean);
    match e.ratio() {
        Some(r) => {
            let ratio = if r >= 10.0 {
                format!("{r:.0}×")
            } else {
                format!("{r:.1}×")
            };
            let direction = match metric.better {
                Better::Lower => "",
                Better::Higher => " lower than",
            };
            format!(
                "{} {ratio}{direction} {}: {worst} vs {best}",
                e.worst, e.best
            )
        }
        None => format!("{} {worst} vs {} {best}", e.worst, e.best),
    }
}

fn value_text(metric: &Metric, v: f64) -> String {
    match metric.unit {
        "ms" => format!("{} ms", fmt_ms(v)),
        "%" => format!("{v:.2}%"),
        _ => format!("{v:.1}{}", metric.unit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stampede_analysis::variance::attribute;

    fn line(metric: &str, values: &[(&str, &str, Option<f64>)]) -> String {
        let m = METRICS.iter().find(|m| m.key == metric).unwrap();
        let axes = ["protocol".to_string(), "resource".to_string()];
        let cells: Vec<(Vec<String>, Option<f64>)> = values
            .iter()
            .map(|(a, b, v)| (vec![a.to_string(), b.to_string()], *v))
            .collect();
        attribution_line(&MetricAttribution {
            metric: metric.into(),
            scale: m.scale,
            attribution: attribute(&axes, &cells, m.scale, m.better),
        })
    }

    #[test]
    fn the_smoking_gun_is_named_with_its_ratio() {
        let l = line(
            "p99",
            &[
                ("http", "/", Some(1.0)),
                ("http", "/s", Some(1.2)),
                ("https", "/", Some(41.0)),
                ("https", "/s", Some(49.2)),
            ],
        );
        assert_eq!(
            l,
            "p99: protocol explains 100% of the variance (https 41× http: 44.9 ms vs 1.10 ms)"
        );
    }

    #[test]
    fn rates_without_a_ratio_and_higher_is_better() {
        let l = line(
            "error_rate",
            &[
                ("http", "/", Some(0.0)),
                ("http", "/s", Some(2.0)),
                ("https", "/", Some(0.0)),
                ("https", "/s", Some(2.2)),
            ],
        );
        assert!(
            l.starts_with("(timeout + error) rate: resource explains 100%"),
            "{l}"
        );
        assert!(l.ends_with("(/s 2.10% vs / 0.00%)"), "{l}");
        let l = line(
            "achieved_rate",
            &[
                ("http", "/", Some(900.0)),
                ("http", "/s", Some(880.0)),
                ("https", "/", Some(300.0)),
                ("https", "/s", Some(310.0)),
            ],
        );
        assert!(l.contains("protocol explains"), "{l}");
        assert!(l.contains("https 2.9× lower than http"), "{l}");
    }

    #[test]
    fn no_data_no_variance_and_small_differences_name_no_culprit() {
        let l = line("p99", &[("http", "/", Some(3.0)), ("https", "/", None)]);
        assert_eq!(
            l,
            "p99: not attributed: 1 cell with data, at least 2 are needed"
        );
        let l = line(
            "error_rate",
            &[("http", "/", Some(0.0)), ("https", "/", Some(0.0))],
        );
        assert!(l.contains("the same in all 2 cells (0.00%)"), "{l}");
        let l = line(
            "achieved_rate",
            &[("http", "/", Some(100.0)), ("https", "/", Some(100.5))],
        );
        assert!(l.contains("less than 5% apart"), "{l}");
        // An interaction only: no axis is named.
        let l = line(
            "avg",
            &[
                ("http", "/", Some(1.0)),
                ("http", "/s", Some(3.0)),
                ("https", "/", Some(3.0)),
                ("https", "/s", Some(1.0)),
            ],
        );
        assert!(l.contains("no single axis explains it"), "{l}");
    }
}
