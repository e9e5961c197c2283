//! The page's fault section: each fault's before / during / after table and recovery.

use std::fmt::Write as _;

use stampede_analysis::faults::{fault_impacts, Recovery};
use stampede_result::RunResult;

use super::charts::Band;
use super::kit::{esc, table};

/// The shaded spans of the time charts: one per fault, labelled with its kind.
pub(crate) fn bands(r: &RunResult, run_end: f64) -> Vec<Band> {
    r.faults
        .iter()
        .map(|f| Band {
            from: f.start_s,
            to: f.end_s.unwrap_or(run_end),
            label: f.kind.clone(),
        })
        .collect()
}

/// The section (nothing without faults).
pub(crate) fn section(out: &mut String, r: &RunResult) {
    let impacts = fault_impacts(r);
    if impacts.is_empty() {
        return;
    }
    out.push_str("<h2>Faults</h2>\n");
    out.push_str(
        "<p class=\"note\">Shaded on the charts above. Each phase is made of whole seconds of \
         the run (a second a fault switched in belongs to no phase; other faults' seconds \
         are left out); percentiles come from the seconds' full histograms. Recovery: the \
         first whole second after the fault whose p99 and error rate are within 10% of \
         the worst second before it.</p>\n",
    );
    for i in &impacts {
        let _ = writeln!(out, "<h3>{}</h3>", esc(&crate::faults::heading(i)));
        table(out, &crate::faults::rows(i, crate::table::ms));
        let class = match i.recovery {
            Recovery::After { .. } => "ok",
            Recovery::NotRecovered | Recovery::StillOn => "warn",
            Recovery::NoData(_) => "note",
        };
        let _ = writeln!(
            out,
            "<p class=\"{class}\">{}</p>",
            esc(&i.recovery.to_string())
        );
    }
}
