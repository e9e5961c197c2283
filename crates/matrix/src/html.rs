//! The matrix page (`stampede matrix --html FILE`): the table, the attribution lines and
//! one bar chart per metric, clustered by the axis that explains the metric.

use stampede_analysis::variance::Attribution;
use stampede_report::kit::{bar_chart, Page};

use crate::doc::{MatrixResult, Metric, METRICS};
use crate::table::{attribution_line, limited_note, table_rows};

/// Renders the self-contained page of a matrix document.
pub fn render_matrix_html(m: &MatrixResult) -> String {
    let mut page = Page::new("stampede matrix", &m.url_template);
    let first = m.cells.first().map(|c| &c.result.config);
    page.tiles(&[
        ("cells", format!("{}", m.cells.len() + m.not_run.len())),
        ("model", first.map_or("-".into(), |c| c.model.clone())),
        (
            "each cell",
            first
                .and_then(|c| c.duration_s)
                .map_or("-".into(), |d| format!("{d:.1} s")),
        ),
        ("warm-up (discarded)", format!("{:.0} s", m.warmup_s)),
    ]);
    if m.interrupted {
        page.para(
            "warn",
            &format!(
                "Interrupted: a partial matrix ({} of {} cells measured). The attribution covers the cells shown.",
                m.cells.len(),
                m.cells.len() + m.not_run.len()
            ),
        );
    }
    page.h2("Cells");
    page.table(&table_rows(m));
    page.para(
        "note",
        "Rows in axis order; 'run' is the cell's position in the balanced run order. Latency in ms (corrected for coordinated omission in the open model).",
    );
    for cell in &m.cells {
        let w = &cell.result.generator.warnings;
        if !w.is_empty() {
            let reasons: Vec<String> = w.iter().map(|w| w.explain()).collect();
            page.para(
                "warn",
                &format!(
                    "stampede itself limited cell {}: {}",
                    m.levels(cell).join(" / "),
                    reasons.join("; ")
                ),
            );
        }
    }
    page.h2("Which axis explains each metric");
    for a in &m.attribution {
        page.para("", &attribution_line(a));
    }
    if let Some(note) = limited_note(m) {
        page.para("warn", &note);
    }
    page.para(
        "note",
        "Share of the variance across cells explained by each axis' level means (main effects, one-way ANOVA); latencies on a log scale (ratios of geometric means).",
    );
    page.h2("Metrics by axis");
    for metric in &METRICS {
        let (categories, series, caption) = chart_data(m, metric);
        page.figure(
            metric.key,
            &format!("{} by {}", metric.label, axis_of(m, metric)),
            &caption,
            bar_chart(
                &categories,
                &series,
                &format!("{} ({})", metric.label, metric.unit),
            ),
        );
    }
    page.finish("a stampede matrix document")
}

/// The axis a metric's chart clusters by: the one that explains it, else the first.
fn axis_of(m: &MatrixResult, metric: &Metric) -> String {
    m.attribution
        .iter()
        .find(|a| a.metric == metric.key)
        .and_then(|a| match &a.attribution {
            Attribution::Explained(e) => Some(e.axis.clone()),
            _ => None,
        })
        .or_else(|| m.axes.first().map(|a| a.name.clone()))
        .unwrap_or_default()
}

type ChartData = (Vec<String>, Vec<(String, Vec<f64>)>, String);

/// Categories (the clustering axis' values), one series per combination of the other
/// axes, and a caption naming cells drawn without data.
fn chart_data(m: &MatrixResult, metric: &Metric) -> ChartData {
    let axis = axis_of(m, metric);
    let Some(cluster) = m.axes.iter().find(|a| a.name == axis) else {
        return (Vec::new(), Vec::new(), String::new());
    };
    let others = |cell: &crate::doc::CellDoc| -> String {
        let rest: Vec<String> = m
            .axes
            .iter()
            .filter(|a| a.name != axis)
            .map(|a| cell.axes.get(&a.name).cloned().unwrap_or_default())
            .collect();
        if rest.is_empty() {
            metric.label.to_string()
        } else {
            rest.join(" / ")
        }
    };
    let mut series: Vec<(String, Vec<f64>)> = Vec::new();
    let mut missing = Vec::new();
    for cell in &m.cells {
        let label = others(cell);
        let Some(level) = cell
            .axes
            .get(&axis)
            .and_then(|v| cluster.values.iter().position(|x| x == v))
        else {
            continue;
        };
        let i = match series.iter().position(|(l, _)| *l == label) {
            Some(i) => i,
            None => {
                series.push((label, vec![0.0; cluster.values.len()]));
                series.len() - 1
            }
        };
        match (metric.value)(&cell.result) {
            Some(v) => series[i].1[level] = v,
            None => missing.push(m.levels(cell).join(" / ")),
        }
    }
    let caption = if missing.is_empty() {
        String::new()
    } else {
        format!("No data (drawn as 0): {}.", missing.join(", "))
    };
    (cluster.values.clone(), series, caption)
}
