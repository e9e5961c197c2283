//! The faults of a run (`--fault`): for each, a before / during / after table and the
//! recovery time, in the terminal and on the HTML page (computed by
//! `stampede_analysis::faults` from the document alone).

use std::fmt::Write as _;

use stampede_analysis::faults::{fault_impacts, FaultImpact, Phase};
use stampede_result::RunResult;

/// How a millisecond figure is written (`crate::table::ms`, passed in so that this module
/// does not depend on the table that calls it).
pub(crate) type FmtMs = fn(f64) -> String;

/// The table's header row.
const HEADERS: [&str; 8] = [
    "phase", "seconds", "rate/s", "p50 ms", "p99 ms", "errors", "timeouts", "err+to %",
];

/// One line naming a fault and when it was on: `latency 200ms: on 2.003s to 4.001s (proxy ...)`.
pub(crate) fn heading(i: &FaultImpact) -> String {
    let f = &i.fault;
    let end = match f.end_s {
        Some(e) => format!("{e:.3}s"),
        None => "the end of the run".into(),
    };
    format!(
        "fault '{}': on from {:.3}s to {end} ({})",
        f.spec, f.start_s, f.target
    )
}

/// The before / during / after rows (a header first); a phase without whole seconds says
/// so instead of numbers.
pub(crate) fn rows(i: &FaultImpact, ms: FmtMs) -> Vec<Vec<String>> {
    let mut rows = vec![HEADERS.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    for (name, phase) in [
        ("before", &i.before),
        ("during", &i.during),
        ("after", &i.after),
    ] {
        rows.push(match phase {
            Some(p) => phase_row(name, p, ms),
            None => {
                let mut r = vec![name.to_string(), "none".into()];
                r.resize(HEADERS.len(), "-".into());
                r
            }
        });
    }
    rows
}

fn phase_row(name: &str, p: &Phase, ms: FmtMs) -> Vec<String> {
    let opt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), ms);
    vec![
        name.to_string(),
        format!("{}..{}s", p.start_s, p.end_s),
        format!("{:.1}", p.rate),
        opt(p.p50_ms),
        opt(p.p99_ms),
        p.errors.to_string(),
        p.timeouts.to_string(),
        p.error_rate()
            .map_or_else(|| "-".to_string(), |e| format!("{:.2}", e * 100.0)),
    ]
}

/// The terminal's fault section (empty without faults), laid out by `layout`.
pub(crate) fn text(r: &RunResult, layout: fn(&[Vec<String>]) -> String, ms: FmtMs) -> String {
    let mut out = String::new();
    for i in fault_impacts(r) {
        let _ = writeln!(out, "{}", heading(&i));
        for line in layout(&rows(&i, ms)).lines() {
            let _ = writeln!(out, "  {line}");
        }
        let _ = writeln!(out, "  {}", i.recovery);
    }
    if !out.is_empty() {
        out.push_str(
            "  (whole seconds only: a second the fault switched in belongs to no phase; \
             recovery: p99 and error rate within 10% of the worst second before)\n",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{outcome, plan};
    use stampede_result::FaultDoc;

    /// Five seconds at 2, 3, 4, 5 and 6 ms, a fault on from 2.0 s to 3.0 s.
    fn with_fault(end_s: Option<f64>) -> RunResult {
        let mut r = stampede_analysis::assemble(&plan(false), &outcome(false, false));
        r.faults = vec![FaultDoc {
            kind: "latency".into(),
            spec: "at 2s for 1s: latency 1ms".into(),
            target: "proxy 127.0.0.1:1 -> 127.0.0.1:2".into(),
            start_s: 2.0,
            end_s,
        }];
        r
    }

    #[test]
    fn terminal_table_has_each_phase_and_the_recovery() {
        let text = crate::render_table(&with_fault(Some(3.0)));
        assert!(
            text.contains("fault 'at 2s for 1s: latency 1ms': on from 2.000s to 3.000s"),
            "{text}"
        );
        let line = |name: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(name))
                .unwrap_or_else(|| panic!("no {name} row in {text}"))
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(line("before")[1], "0..2s");
        assert_eq!(line("during")[1], "2..3s");
        assert_eq!(line("after")[1], "3..5s");
        let r = with_fault(Some(3.0));
        let before = (r.series[0].requests + r.series[1].requests) as f64 / 2.0;
        assert_eq!(line("before")[2], format!("{before:.1}"));
        // The later seconds are slower than before: p99 never back within 10%.
        assert!(
            text.contains("not recovered by the end of the run"),
            "{text}"
        );
        let still_on = crate::render_table(&with_fault(None));
        assert!(still_on.contains("to the end of the run"), "{still_on}");
        assert!(still_on.contains("fault still on at the end of the run"));
    }

    #[test]
    fn page_shades_the_fault_and_shows_its_table() {
        let html = crate::render_html(&with_fault(Some(3.0)));
        assert!(html.contains("<h2>Faults</h2>"), "no fault section");
        assert!(html.contains("<td>during</td>"));
        // One shaded band labelled with the kind on each of the three time charts.
        let label = "fill=\"#D62728\">\nlatency";
        assert_eq!(html.matches(label).count(), 3, "band labels");
        assert_eq!(html.matches("opacity=\"0.12\" fill=\"#D62728\"").count(), 3);
        let mut plain = with_fault(None);
        plain.faults.clear();
        let plain = crate::render_html(&plain);
        assert!(!plain.contains("<h2>Faults</h2>"));
        assert!(!plain.contains(label));
    }
}
