//! The scale document as a self-contained HTML page (the report kit): the verdict, the fit,
//! a chart of the measured points, the fitted curve, the linear ideal and N*, and the steps.

use stampede_report::kit::{xy_chart, Page, Series, XyChart};
use stampede_usl::sig;

use crate::render::step_cells;
use crate::{ScaleDoc, SweepKind};

/// Points drawn along the fitted curve.
const CURVE_POINTS: usize = 200;

/// Renders the page; `source` names what it was rendered from (a file, or "this sweep").
pub fn render_scale_html(doc: &ScaleDoc, source: &str) -> String {
    let mut page = Page::new("Will it scale?", &doc.subject);
    // Green only for a linear sweep: a ceiling or a peak is news to act on.
    let class = if doc.shape == Some(stampede_usl::Shape::Linear) {
        "ok"
    } else {
        "warn"
    };
    page.para(class, &doc.verdict);
    if let Some(f) = &doc.fit {
        let peak = f.peak_n.map_or_else(|| "none (κ=0)".to_string(), sig);
        page.tiles(&[
            ("σ (contention)", sig(f.sigma)),
            ("κ (coherency)", sig(f.kappa)),
            ("λ (req/s at N=1)", sig(f.lambda)),
            ("peak N*", peak),
            (
                "R²",
                f.r_squared
                    .map_or_else(|| "-".into(), |r| format!("{r:.4}")),
            ),
        ]);
        for w in &f.warnings {
            page.para("warn", w);
        }
    }
    let x_desc = match doc.kind {
        SweepKind::Concurrency => "N (concurrent connections or virtual users)",
        SweepKind::Instances => "instances",
    };
    page.figure(
        "scale",
        "Throughput against N",
        "Measured steps (markers; steps left out of the fit apart), the fitted Universal \
         Scalability Law curve, the linear ideal λN (drawn up to 1.5× the highest \
         measurement) and the peak N*.",
        xy_chart(&chart(doc, x_desc)),
    );
    page.h2("Steps");
    let mut rows = vec![vec![
        "N".to_string(),
        "throughput/s".into(),
        "p50 ms".into(),
        "p99 ms".into(),
        "errors".into(),
        "model/s".into(),
        "residual".into(),
        "left out because".into(),
    ]];
    for s in &doc.steps {
        let mut cells = step_cells(s).to_vec();
        cells[7] = s.excluded.clone().unwrap_or_default();
        rows.push(cells);
    }
    page.table(&rows);
    page.settings(&[
        vec!["setting".into(), "value".into()],
        vec![
            "warm-up per step".into(),
            format!("{} s", sig(doc.warmup_s)),
        ],
        vec![
            "measured per step".into(),
            format!("{} s", sig(doc.duration_s)),
        ],
    ]);
    page.finish(source)
}

/// The chart's series.
fn chart(doc: &ScaleDoc, x_desc: &str) -> XyChart {
    let measured: Vec<(f64, f64)> = doc.included().map(|s| (s.n as f64, s.throughput)).collect();
    let left_out: Vec<(f64, f64)> = doc
        .steps
        .iter()
        .filter(|s| !s.included())
        .map(|s| (s.n as f64, s.throughput))
        .collect();
    let mut series = vec![Series::points("measured", measured)];
    if !left_out.is_empty() {
        series.push(Series::points("left out of the fit", left_out));
    }
    let max_n = doc.steps.iter().map(|s| s.n).max().unwrap_or(1) as f64;
    let top = doc.steps.iter().map(|s| s.throughput).fold(0.0, f64::max);
    if let Some(f) = &doc.fit {
        let curve = (0..=CURVE_POINTS)
            .map(|i| {
                let n = 1.0 + (max_n - 1.0) * i as f64 / CURVE_POINTS as f64;
                (n, f.predict(n))
            })
            .collect();
        series.push(Series::line("USL fit", curve));
        if f.lambda > 0.0 {
            let end = max_n.min((1.5 * top / f.lambda).max(1.0));
            series.push(Series::dashed(
                "linear ideal λN",
                vec![(1.0, f.lambda), (end, f.lambda * end)],
            ));
        }
        if let (Some(n), Some(x)) = (f.peak_n, f.peak_throughput) {
            if (1.0..=max_n).contains(&n) {
                series.push(Series::dashed(
                    format!("N*={}", sig(n)),
                    vec![(n, 0.0), (n, x)],
                ));
            }
        }
    }
    let y_desc = match doc.kind {
        SweepKind::Concurrency => "successful responses/s",
        SweepKind::Instances => "capacity at the SLO (req/s)",
    };
    XyChart {
        x_desc: x_desc.into(),
        y_desc: y_desc.into(),
        log_x: false,
        series,
        y_lines: Vec::new(),
    }
}
