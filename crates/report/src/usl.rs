//! `stampede usl`: the fit of the Universal Scalability Law as terminal text and as an HTML
//! page (measured points, fitted curve, linear ideal λN, N\*), both from the
//! [`UslDocument`] that `--out` writes.

use std::fmt::Write as _;

use stampede_usl::{sig, sig_digits, Shape, UslDocument, UslFit};

use crate::kit::{xy_chart, Page, Series, XyChart};

/// A reference line taller than this many times the highest measured point would flatten
/// the curve that matters, so it is cut there (the ideal) or left out (the λ/σ ceiling).
const HEADROOM: f64 = 1.3;

/// Digits of the measured and fitted values in the tables (the input's own, mostly).
const TABLE_DIGITS: u32 = 5;

/// A table cell.
fn cell(v: f64) -> String {
    sig_digits(v, TABLE_DIGITS)
}

/// The points, the coefficients with standard errors, the peak, the verdict and warnings.
pub fn render_usl_text(doc: &UslDocument) -> String {
    let f = &doc.fit;
    let mut out = String::new();
    let _ = writeln!(out, "USL fit of {}: {} points", doc.source, f.points);
    let _ = writeln!(
        out,
        "{:>10}  {:>12}  {:>12}  {:>12}",
        "N", "X measured", "X fitted", "residual"
    );
    for p in &doc.points {
        let _ = writeln!(
            out,
            "{:>10}  {:>12}  {:>12}  {:>12}",
            cell(p.n),
            cell(p.throughput),
            cell(p.predicted),
            cell(p.residual)
        );
    }
    let _ = writeln!(
        out,
        "\n{:<12}  {:>12}  {:>12}",
        "coefficient", "estimate", "std. error"
    );
    for (name, value, se) in coefficients(f) {
        let _ = writeln!(
            out,
            "{name:<12}  {:>12}  {:>12}",
            sig(value),
            se.map_or("-".into(), sig)
        );
    }
    let _ = writeln!(out, "{}", goodness(f));
    match f.peak_n {
        Some(_) => writeln!(out, "peak: {}", f.peak_text()),
        None => writeln!(out, "{}", f.peak_text()),
    }
    .expect("writing to a String");
    if let (Some(limit), Some(_)) = (f.limit_throughput, f.peak_n) {
        let _ = writeln!(out, "Amdahl ceiling without coherency: λ/σ={}", sig(limit));
    }
    let _ = writeln!(out, "verdict: {}", f.verdict);
    for w in &f.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

/// The coefficients in the order people read them: name, estimate, standard error.
fn coefficients(f: &UslFit) -> [(&'static str, f64, Option<f64>); 3] {
    [
        ("σ (sigma)", f.sigma, f.sigma_std_error),
        ("κ (kappa)", f.kappa, f.kappa_std_error),
        ("λ (lambda)", f.lambda, f.lambda_std_error),
    ]
}

/// "residual standard error 82.85 on 4 degrees of freedom, R² 0.9896".
fn goodness(f: &UslFit) -> String {
    let rse = match f.residual_std_error {
        Some(s) => format!(
            "residual standard error {} on {} degrees of freedom",
            sig(s),
            f.degrees_of_freedom
        ),
        None => "no residual standard error (0 degrees of freedom)".to_string(),
    };
    let r2 = f
        .r_squared
        .map_or("R² undefined (every X the same)".to_string(), |r| {
            format!("R² {}", sig(r))
        });
    format!("{rse}, {r2}")
}

/// The page: tiles, the chart, the verdict and warnings, the tables.
pub fn render_usl_html(doc: &UslDocument) -> String {
    let f = &doc.fit;
    let mut page = Page::new("Universal Scalability Law fit", &doc.source);
    let class = match f.shape {
        Shape::Linear => "ok",
        Shape::ContentionLimited => "",
        Shape::Retrograde => "warn",
    };
    page.para(class, &format!("Verdict: {}", f.verdict));
    for w in &f.warnings {
        page.para("warn", &format!("Warning: {w}"));
    }
    let opt = |v: Option<f64>| v.map_or("none".to_string(), sig);
    page.tiles(&[
        ("σ contention", sig(f.sigma)),
        ("κ coherency", sig(f.kappa)),
        ("λ per unit", sig(f.lambda)),
        ("N* peak", opt(f.peak_n)),
        ("X(N*)", opt(f.peak_throughput)),
        ("λ/σ ceiling", opt(f.limit_throughput)),
        ("R²", opt(f.r_squared)),
    ]);
    page.figure(
        "usl",
        "Throughput against N",
        "Measured points, the fitted X(N) = λN / (1 + σ(N−1) + κN(N−1)), the linear ideal λN \
         (dashed, cut above the data) and the peak N*.",
        xy_chart(&chart(doc)),
    );
    page.h2("Coefficients");
    let mut rows = vec![vec![
        "coefficient".into(),
        "estimate".into(),
        "std. error".into(),
    ]];
    for (name, value, se) in coefficients(f) {
        rows.push(vec![name.into(), sig(value), se.map_or("-".into(), sig)]);
    }
    page.table(&rows);
    page.para("", &format!("{}; peak: {}.", goodness(f), f.peak_text()));
    page.para(
        "note",
        "Bounded nonlinear least squares (σ, κ ∈ [0, 1], λ ≥ 0), in the convention of the R \
         package usl 2+. R² is a rough measure for a nonlinear fit; the residuals below say more.",
    );
    page.h2("Points");
    let mut rows = vec![vec![
        "N".into(),
        "X measured".into(),
        "X fitted".into(),
        "residual".into(),
    ]];
    for p in &doc.points {
        rows.push(vec![
            cell(p.n),
            cell(p.throughput),
            cell(p.predicted),
            cell(p.residual),
        ]);
    }
    page.table(&rows);
    page.finish(&format!("the USL fit of {}", doc.source))
}

/// Points, curve, ideal (cut at [`HEADROOM`] times the data), N\* and the λ/σ ceiling.
fn chart(doc: &UslDocument) -> XyChart {
    let f = &doc.fit;
    let measured: Vec<(f64, f64)> = doc.points.iter().map(|p| (p.n, p.throughput)).collect();
    let max_n = measured.iter().map(|p| p.0).fold(1.0, f64::max);
    let min_n = measured.iter().map(|p| p.0).fold(1.0, f64::min);
    let peak = f
        .peak_n
        .zip(f.peak_throughput)
        .filter(|(n, _)| *n >= 1.0 && *n <= 2.0 * max_n);
    let x_end = peak.map_or(max_n, |(n, _)| n.max(max_n)) * 1.1;
    let top = measured
        .iter()
        .map(|p| p.1)
        .chain(peak.map(|p| p.1))
        .fold(0.0, f64::max)
        * HEADROOM;
    let curve = (0..=200)
        .map(|i| min_n + (x_end - min_n) * f64::from(i) / 200.0)
        .map(|n| (n, f.predict(n)))
        .collect();
    let ideal_end = if f.lambda > 0.0 {
        x_end.min(top / f.lambda)
    } else {
        x_end
    };
    let mut series = vec![
        Series::points("measured", measured),
        Series::line("fitted X(N)", curve),
        Series::dashed(
            "linear ideal λN",
            vec![(min_n, f.lambda * min_n), (ideal_end, f.lambda * ideal_end)],
        ),
    ];
    if let Some((n, x)) = peak {
        series.push(Series::dashed(
            format!("N*={}", sig(n)),
            vec![(n, 0.0), (n, x)],
        ));
    }
    let y_lines = match f.limit_throughput {
        Some(limit) if f.peak_n.is_none() && limit <= top => {
            vec![(format!("λ/σ={}", sig(limit)), limit)]
        }
        _ => vec![],
    };
    XyChart {
        x_desc: "N".into(),
        y_desc: "throughput".into(),
        log_x: false,
        series,
        y_lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stampede_usl::datasets::SPECSDM91;

    fn doc(points: &[(f64, f64)]) -> UslDocument {
        UslDocument::new("specsdm91.csv", points, stampede_usl::fit(points).unwrap())
    }

    #[test]
    fn text_shows_coefficients_peak_and_verdict() {
        let text = render_usl_text(&doc(&SPECSDM91));
        for needle in [
            "USL fit of specsdm91.csv: 7 points",
            "σ (sigma)          0.02773      0.009122",
            "residual standard error 82.85 on 4 degrees of freedom, R² 0.9896",
            "peak: N*=96.52 (⌊N*⌋=96), X(N*)=1884",
            "verdict: retrograde past N*=96.52 (X=1884): adding more makes it slower",
        ] {
            assert!(text.contains(needle), "{needle:?} not in\n{text}");
        }
        assert!(!text.contains("warning"), "{text}");
    }

    #[test]
    fn page_has_the_chart_with_curve_ideal_and_peak() {
        let html = render_usl_html(&doc(&SPECSDM91));
        assert!(
            html.contains("data-chart=\"usl\"") && html.contains("<svg"),
            "{html}"
        );
        assert!(!html.contains("Chart not drawn"));
        for needle in [
            "linear ideal λN",
            "fitted X(N)",
            "N*=96.52",
            "Verdict: retrograde past N*=96.52",
        ] {
            assert!(html.contains(needle), "{needle:?} missing");
        }
        // the ideal is cut near the data: λN at N = 216 would be 19,440
        let c = chart(&doc(&SPECSDM91));
        let ideal = &c.series[2].points;
        assert!(ideal[1].1 <= 1884.0 * HEADROOM, "{ideal:?}");
    }

    #[test]
    fn no_peak_draws_the_ceiling_and_warnings_show() {
        // Amdahl's law, X = 100N / (1 + 0.2(N − 1)): κ = 0, ceiling λ/σ = 500
        let points = [
            (1.0, 100.0),
            (2.0, 166.67),
            (4.0, 250.0),
            (8.0, 333.33),
            (16.0, 400.0),
        ];
        let d = doc(&points);
        let c = chart(&d);
        assert_eq!(c.series.len(), 3, "no N* line without a peak: {c:?}");
        assert_eq!(c.y_lines.len(), 1, "{c:?}");
        assert!((c.y_lines[0].1 - 500.0).abs() < 0.5, "{c:?}");
        let html = render_usl_html(&d);
        assert!(html.contains("Warning: only 5 points"), "{html}");
        let text = render_usl_text(&d);
        assert!(text.contains("warning: only 5 points"), "{text}");
    }
}
