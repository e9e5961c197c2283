//! `stampede compare`: two results side by side, with the changes and the verdict.

use std::fmt::Write as _;

use stampede_analysis::compare::{compare, Change, Comparison, Metric, RunFigures, Threshold};
use stampede_analysis::figures::Unit;

use crate::table::{bytes, layout, ms};
use crate::RunResult;

/// Compares `candidate` against `baseline` (see [`stampede_analysis::compare`]).
pub fn compare_results(
    baseline: &RunResult,
    candidate: &RunResult,
    threshold: Threshold,
) -> Comparison {
    compare(
        &RunFigures::of(baseline),
        &RunFigures::of(candidate),
        threshold,
    )
}

fn label(m: Metric) -> String {
    match m {
        Metric::Requests => "requests".into(),
        Metric::ErrorRate => "error rate %".into(),
        Metric::AchievedRate => "achieved rate/s".into(),
        Metric::Latency(q) => format!("latency {} ms", q.label()),
        Metric::ServiceTime(q) => format!("service {} ms", q.label()),
        Metric::Other(f) => f.label(),
    }
}

fn value(m: Metric, v: f64) -> String {
    match m {
        Metric::Requests => format!("{v:.0}"),
        Metric::ErrorRate => format!("{:.2}", v * 100.0),
        Metric::AchievedRate => format!("{v:.1}"),
        Metric::Latency(_) | Metric::ServiceTime(_) => ms(v),
        Metric::Other(f) => match f.unit() {
            Unit::Ms => ms(v),
            Unit::Bytes if v < 10_240.0 => format!("{v:.0} B"),
            Unit::Bytes => bytes(v.round() as u64),
            Unit::Seconds => format!("{v:.2}"),
            Unit::Rate | Unit::Us => format!("{v:.1}"),
            _ => format!("{v:.0}"),
        },
    }
}

fn delta(c: &Change) -> String {
    if c.metric == Metric::ErrorRate {
        return format!("{:+.2} pp", (c.after - c.before) * 100.0);
    }
    let timing = matches!(c.metric, Metric::Latency(_) | Metric::ServiceTime(_));
    match c.relative {
        Some(r) => format!("{:+.1}%", r * 100.0),
        // Zero latency stands for "no samples": nothing to compare.
        None if c.after == c.before && !timing => "0.0%".into(),
        None => "n/a".into(),
    }
}

fn verdict(c: &Change) -> &'static str {
    if c.regression {
        "REGRESSION"
    } else if !c.metric.is_gated() {
        "(info)"
    } else {
        ""
    }
}

/// Renders the comparison for a terminal: one header line per run, one row per metric,
/// the caveats, and the verdict as the last line.
pub fn render_comparison(
    baseline: (&str, &RunResult),
    candidate: (&str, &RunResult),
    cmp: &Comparison,
) -> String {
    let mut out = String::new();
    for (tag, (name, r)) in [("A", baseline), ("B", candidate)] {
        let _ = writeln!(
            out,
            "{tag}: {name}  ({}, {} model, {:.1}s, started {})",
            r.config.subject(),
            r.config.model,
            r.summary.elapsed_s,
            r.started_at
        );
    }
    out.push('\n');
    let mut rows = vec![vec![
        String::new(),
        "A".into(),
        "B".into(),
        "change".into(),
        String::new(),
    ]];
    for c in &cmp.changes {
        rows.push(vec![
            label(c.metric),
            value(c.metric, c.before),
            value(c.metric, c.after),
            delta(c),
            verdict(c).into(),
        ]);
    }
    out.push_str(&layout(&rows));
    out.push('\n');
    for caveat in &cmp.caveats {
        let _ = writeln!(out, "note: {}", caveat.explain());
    }
    let worse: Vec<String> = cmp
        .regressions()
        .map(|c| format!("{} ({})", label(c.metric), delta(c)))
        .collect();
    if worse.is_empty() {
        let _ = writeln!(
            out,
            "OK: no regression beyond {} (gated: latency p50-p99.9, error rate, achieved rate)",
            cmp.threshold
        );
    } else {
        let _ = writeln!(
            out,
            "REGRESSION beyond {}: {}",
            cmp.threshold,
            worse.join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{outcome, plan};

    #[test]
    fn renders_changes_and_the_verdict() {
        let a = stampede_analysis::assemble(&plan(false), &outcome(false, false));
        let mut b = a.clone();
        b.summary.core.latency_ms.p99 *= 1.5;
        let cmp = compare_results(&a, &b, Threshold::default());
        let text = render_comparison(("a.json", &a), ("b.json", &b), &cmp);
        assert!(text.starts_with("A: a.json"), "{text}");
        let p99 = text
            .lines()
            .find(|l| l.starts_with("latency p99 ms"))
            .unwrap();
        assert!(
            p99.contains("+50.0%") && p99.ends_with("REGRESSION"),
            "{p99}"
        );
        assert!(text
            .lines()
            .last()
            .unwrap()
            .starts_with("REGRESSION beyond 10%: latency p99 ms"));

        let same = compare_results(&a, &a, Threshold::default());
        let text = render_comparison(("a.json", &a), ("a.json", &a), &same);
        assert!(
            text.lines()
                .last()
                .unwrap()
                .starts_with("OK: no regression beyond 10%"),
            "{text}"
        );
        assert!(text.contains("+0.00 pp"));
    }

    #[test]
    fn shows_every_figure_both_results_have() {
        let a = stampede_analysis::assemble(&plan(false), &outcome(false, false));
        let mut b = a.clone();
        b.summary.core.bytes_received *= 2;
        b.summary.core.connections_opened += 3;
        let server = stampede_result::ServerDoc {
            pid: 7,
            command: "nginx".into(),
            cpu_s: 0.5,
            cpu_share: 0.1,
            cpu_per_request_us: None,
            peak_rss_bytes: 1 << 20,
        };
        let text = render_comparison(
            ("a.json", &a),
            ("b.json", &b),
            &compare_results(&a, &b, Threshold::default()),
        );
        let row = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_else(|| panic!("no {name} row:\n{text}"))
                .to_string()
        };
        assert!(row("bytes received  ").contains("+100.0%"), "{text}");
        assert!(row("bytes sent per request").contains("+0.0%"), "{text}");
        assert!(row("connections opened").ends_with("(info)"), "{text}");
        row("connect p50 ms");
        row("generator CPU-s");
        // Server CPU only when both results watched a server.
        assert!(!text.contains("server CPU"), "{text}");
        let (mut a2, mut b2) = (a.clone(), b.clone());
        a2.servers.push(server.clone());
        b2.servers.push(stampede_result::ServerDoc {
            cpu_s: 0.4,
            ..server
        });
        let text = render_comparison(
            ("a.json", &a2),
            ("b.json", &b2),
            &compare_results(&a2, &b2, Threshold::default()),
        );
        let cpu = text
            .lines()
            .find(|l| l.starts_with("server CPU µs per request"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(cpu.contains("-20.0%"), "{cpu}");
        // Informative rows do not fail the comparison.
        assert!(text.lines().last().unwrap().starts_with("OK"), "{text}");
    }
}
