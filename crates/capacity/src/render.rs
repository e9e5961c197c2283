//! The capacity search for people: the step table and the result in words (terminal),
//! and the HTML page (offered vs achieved, p99 vs offered with the SLO lines).

use std::fmt::Write as _;

use stampede_plan::{Threshold, ThresholdMetric};
use stampede_report::kit::{xy_chart, Page, Series, XyChart};

use crate::controller::Verdict;
use crate::doc::{CapacityDoc, StepDoc, StepVerdict};
use crate::server::{busiest_cell, has_server_metrics, saturation_line};

/// A rate with thousands separators and no decimals.
fn rate(r: f64) -> String {
    let n = r.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn verdict_word(v: StepVerdict) -> &'static str {
    match v {
        StepVerdict::Pass => "pass",
        StepVerdict::Fail => "FAIL",
        StepVerdict::GeneratorLimited => "GENERATOR",
    }
}

/// The header of the step table.
pub const STEP_HEADERS: [&str; 10] = [
    "step", "phase", "offered", "achieved", "p50 ms", "p99 ms", "errors", "timeouts", "verdict",
    "failed",
];

/// One step's cells, as the terminal and the page show them.
pub fn step_cells(s: &StepDoc) -> Vec<String> {
    let c = &s.result.summary.core;
    let failed: Vec<String> = s
        .slos
        .iter()
        .filter(|o| !o.passed)
        .map(|o| o.label())
        .collect();
    let mut failed = failed.join(", ");
    if s.verdict == StepVerdict::Fail && failed.is_empty() {
        failed = "throughput".into();
    }
    if s.verdict == StepVerdict::GeneratorLimited {
        failed = "generator".into();
    }
    if !s.stable {
        failed.push_str(if failed.is_empty() {
            "(unstable)"
        } else {
            " (unstable)"
        });
    }
    vec![
        s.index.to_string(),
        format!("{:?}", s.phase).to_lowercase(),
        rate(s.offered_rate),
        rate(s.achieved_rate),
        format!("{:.2}", c.latency_ms.p50),
        format!("{:.2}", c.latency_ms.p99),
        c.errors.to_string(),
        c.timeouts.to_string(),
        verdict_word(s.verdict).to_string(),
        failed,
    ]
}

/// The result in one or two sentences.
pub fn conclusion(d: &CapacityDoc) -> String {
    let r = &d.result;
    let unit = &d.unit;
    let slos = d.slos.join(", ");
    let mut out = match (r.verdict, r.last_pass_rate, r.first_fail_rate) {
        (Verdict::Capacity, Some(lo), Some(hi)) => format!(
            "capacity at {slos}: between {} and {} {unit} ({:.1}% wide), confirmed at {}",
            rate(lo),
            rate(hi),
            100.0 * (hi - lo) / lo,
            rate(lo)
        ),
        (Verdict::GeneratorLimited, lo, _) => {
            let step = d.steps.last().map_or(0.0, |s| s.offered_rate);
            let mut s = format!(
                "generator-limited at {} {unit}: no capacity of the service can be named",
                rate(step)
            );
            if let Some(lo) = lo {
                let _ = write!(s, " (it met {slos} up to {} {unit})", rate(lo));
            }
            s
        }
        (Verdict::NoFailureUpToMax, lo, _) => format!(
            "no failure up to the maximum: {slos} held at every rate up to {} {unit}",
            rate(lo.unwrap_or_default())
        ),
        (Verdict::FailsAtMinimum, _, hi) => format!(
            "fails at the minimum: {slos} failed at every rate down to {} {unit}",
            rate(hi.unwrap_or_default())
        ),
        (verdict, lo, hi) => {
            let word = if verdict == Verdict::StepLimit {
                "step budget spent"
            } else {
                "stopped"
            };
            format!(
                "{word} before the interval was narrow enough: last pass {}, first fail {}",
                lo.map_or("none".into(), |v| format!("{} {unit}", rate(v))),
                hi.map_or("none".into(), |v| format!("{} {unit}", rate(v)))
            )
        }
    };
    if let Some(why) = &r.reason {
        let _ = write!(out, "\n  reason: {why}");
    }
    if let Some(k) = r.knee_rate {
        let _ = write!(
            out,
            "\n  latency knee: the median latency stayed within 2x its lowest-rate value up to {} {unit}",
            rate(k)
        );
    }
    let _ = write!(out, "\n  {} steps in {:.0} s", d.steps.len(), r.elapsed_s);
    out
}

/// The step table, header first; with a `busiest` column when steps carry server series.
pub fn step_rows(d: &CapacityDoc) -> Vec<Vec<String>> {
    let server = has_server_metrics(d);
    let mut header: Vec<String> = STEP_HEADERS.iter().map(|h| h.to_string()).collect();
    if server {
        header.push("busiest server resource".into());
    }
    let mut rows = vec![header];
    rows.extend(d.steps.iter().map(|s| {
        let mut cells = step_cells(s);
        if server {
            cells.push(busiest_cell(s));
        }
        cells
    }));
    rows
}

/// The terminal rendering: the step table and the conclusion.
pub fn render_text(d: &CapacityDoc) -> String {
    let rows = step_rows(d);
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!("capacity search: {} ({})\n", d.subject, d.unit);
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| match i {
                1 | 8 | 9 | 10 => format!("{c:<w$}", w = widths[i]),
                _ => format!("{c:>w$}", w = widths[i]),
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&conclusion(d));
    out.push('\n');
    if let Some(line) = saturation_line(d) {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// The latency SLOs on p99 or another latency metric, as (label, ms) lines.
fn latency_lines(d: &CapacityDoc) -> Vec<(String, f64)> {
    d.slos
        .iter()
        .filter_map(|text| Threshold::parse(text).ok())
        .filter(|t| matches!(t.metric, ThresholdMetric::Percentile(p) if (p - 99.0).abs() < 1e-9))
        .map(|t| (format!("SLO {}", t.text), t.value))
        .collect()
}

/// The HTML page.
pub fn render_html(d: &CapacityDoc) -> String {
    let mut page = Page::new(
        &format!("stampede capacity: {}", d.subject),
        &d.slos.join(", "),
    );
    let r = &d.result;
    page.tiles(&[
        ("verdict", format!("{:?}", r.verdict)),
        ("last pass", r.last_pass_rate.map_or("none".into(), rate)),
        ("first fail", r.first_fail_rate.map_or("none".into(), rate)),
        ("steps", d.steps.len().to_string()),
        ("elapsed", format!("{:.0} s", r.elapsed_s)),
    ]);
    let class = match r.verdict {
        Verdict::Capacity => "ok",
        _ => "warn",
    };
    for line in conclusion(d)
        .lines()
        .map(str::to_string)
        .chain(saturation_line(d))
    {
        page.para(class, line.trim());
    }
    page.h2("Steps");
    page.table(&step_rows(d));
    let mut by_rate: Vec<&StepDoc> = d.steps.iter().collect();
    by_rate.sort_by(|a, b| a.offered_rate.total_cmp(&b.offered_rate));
    let offered: Vec<(f64, f64)> = by_rate
        .iter()
        .map(|s| (s.offered_rate, s.offered_rate))
        .collect();
    let achieved: Vec<(f64, f64)> = by_rate
        .iter()
        .map(|s| (s.offered_rate, s.achieved_rate))
        .collect();
    page.h2("Charts");
    page.figure(
        "achieved",
        "Achieved vs offered rate",
        "Each point is one step's window; the dashed line is achieved = offered.",
        xy_chart(&XyChart {
            x_desc: format!("offered {}", d.unit),
            y_desc: format!("achieved {}", d.unit),
            log_x: false,
            series: vec![
                Series::dashed("offered", offered),
                Series::points("achieved", achieved),
            ],
            y_lines: Vec::new(),
        }),
    );
    let p99: Vec<(f64, f64)> = by_rate
        .iter()
        .filter(|s| s.result.summary.core.requests > 0)
        .map(|s| (s.offered_rate, s.result.summary.core.latency_ms.p99))
        .collect();
    page.figure(
        "p99",
        "p99 latency vs offered rate",
        "Each point is one step's window; red dashed lines are latency SLOs.",
        xy_chart(&XyChart {
            x_desc: format!("offered {}", d.unit),
            y_desc: "p99 latency (ms)".into(),
            log_x: false,
            series: vec![Series::points("p99", p99)],
            y_lines: latency_lines(d),
        }),
    );
    page.h2("Settings");
    let s = &d.settings;
    page.settings(&[
        vec!["setting".into(), "value".into()],
        vec!["start rate".into(), rate(s.start_rate)],
        vec!["max rate".into(), s.max_rate.map_or("none".into(), rate)],
        vec!["precision".into(), format!("{:.1}%", s.precision * 100.0)],
        vec![
            "step".into(),
            format!("{} s ({} s warm-up discarded)", s.step_s, s.warmup_s),
        ],
        vec!["longest window".into(), format!("{} s", s.max_window_s)],
        vec!["started".into(), d.started_at.clone()],
    ]);
    page.finish("a capacity document")
}
