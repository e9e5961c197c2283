//! The scale document as text: the step table, the fit and the verdict.

use std::fmt::Write as _;

use stampede_usl::sig;

use crate::{ScaleDoc, StepDoc, SweepKind};

/// The header of the step table.
fn header(kind: SweepKind) -> [&'static str; 8] {
    let n = match kind {
        SweepKind::Concurrency => "N",
        SweepKind::Instances => "instances",
    };
    [
        n,
        "throughput/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "model/s",
        "residual",
        "",
    ]
}

/// One step as table cells (the last one marks a step left out of the fit).
pub(crate) fn step_cells(s: &StepDoc) -> [String; 8] {
    let opt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), sig);
    [
        s.n.to_string(),
        sig(round1(s.throughput)),
        sig(s.p50_ms),
        sig(s.p99_ms),
        s.errors.to_string(),
        opt(s.predicted.map(round1)),
        opt(s.residual.map(round1)),
        if s.included() {
            String::new()
        } else {
            "left out".to_string()
        },
    ]
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The steps as a table, one line per step.
pub fn render_steps(doc: &ScaleDoc) -> String {
    let mut rows: Vec<[String; 8]> = vec![header(doc.kind).map(String::from)];
    rows.extend(doc.steps.iter().map(step_cells));
    let widths: Vec<usize> = (0..8)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c == 7 {
                let _ = write!(line, "  {cell}");
            } else {
                let _ = write!(line, "{cell:>w$}  ", w = widths[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The whole text report: the table, the fit, the steps left out and the verdict.
pub fn render_scale(doc: &ScaleDoc) -> String {
    let mut out = render_steps(doc);
    out.push('\n');
    match &doc.fit {
        Some(f) => {
            let pm = |v: f64, e: Option<f64>| match e {
                Some(e) => format!("{} ± {}", sig(v), sig(e)),
                None => sig(v),
            };
            let _ = writeln!(
                out,
                "fit: σ={}  κ={}  λ={} req/s  R²={}  ({} steps)",
                pm(f.sigma, f.sigma_std_error),
                pm(f.kappa, f.kappa_std_error),
                pm(f.lambda, f.lambda_std_error),
                f.r_squared
                    .map_or_else(|| "-".into(), |r| format!("{r:.4}")),
                f.points,
            );
            let _ = writeln!(out, "peak: {}", f.peak_text());
            for w in &f.warnings {
                let _ = writeln!(out, "warning: {w}");
            }
        }
        None => {
            let why = doc.fit_error.as_deref().unwrap_or("no usable steps");
            let _ = writeln!(out, "fit: none ({why})");
        }
    }
    for s in doc.steps.iter().filter(|s| !s.included()) {
        let why = s.excluded.as_deref().unwrap_or_default();
        let n = match doc.kind {
            SweepKind::Concurrency => format!("N={}", s.n),
            SweepKind::Instances => format!("{} instance(s)", s.n),
        };
        let _ = writeln!(out, "left out of the fit: {n}: {why}");
    }
    let _ = writeln!(out, "verdict: {}", doc.verdict);
    out
}
