//! Server series in a capacity search: each step's window gets its slice of the series
//! read during the search (`--server-metrics`, `--prometheus`), and the step table says
//! which resource was busiest, and whether it was saturated, when the SLOs first failed.

use stampede_analysis::bottleneck::{busiest, Busiest, SATURATED_RATIO};
use stampede_result::RunResult;

use crate::doc::{CapacityDoc, StepDoc, StepVerdict};

/// Gives every step the seconds of its window from the whole search run's server
/// series (value `t` is the run's second `t`), and the sources with how reading went.
pub fn attach_server_metrics(steps: &mut [StepDoc], run: &RunResult) {
    if run.server_metrics.is_empty() && run.server_metric_sources.is_empty() {
        return;
    }
    for s in steps {
        let from = s.window_start_s as usize;
        let to = from + s.window_s as usize;
        s.result.server_metrics = run
            .server_metrics
            .iter()
            .map(|m| {
                let mut m = m.clone();
                m.values = (from..to)
                    .map(|t| m.values.get(t).copied().flatten())
                    .collect();
                m
            })
            .collect();
        s.result.server_metric_sources = run.server_metric_sources.clone();
    }
}

/// Whether any step carries server series (the table then has a column for them).
pub fn has_server_metrics(d: &CapacityDoc) -> bool {
    d.steps.iter().any(|s| !s.result.server_metrics.is_empty())
}

/// The step table's cell: the busiest resource's mean over the window (`cpu_busy 93%
/// SATURATED`), `-` without a value.
pub fn busiest_cell(s: &StepDoc) -> String {
    match busiest(&s.result.server_metrics) {
        Some(b) => format!(
            "{} {:.0}%{}",
            b.label,
            b.mean * 100.0,
            if b.saturated() { " SATURATED" } else { "" }
        ),
        None => "-".into(),
    }
}

/// What the server's resources did at the first step that failed its SLOs (the lowest
/// failing rate): the busiest, saturated or not. `None` without a failing step or
/// without a `ratio` series in it.
pub fn saturation_line(d: &CapacityDoc) -> Option<String> {
    let first_fail = d
        .steps
        .iter()
        .filter(|s| s.verdict == StepVerdict::Fail)
        .min_by(|a, b| a.offered_rate.total_cmp(&b.offered_rate))?;
    let Busiest {
        label,
        source,
        mean,
        peak,
        seconds,
    } = busiest(&first_fail.result.server_metrics)?;
    let what = if mean > SATURATED_RATIO {
        format!(
            "{label} ({source}) was saturated: {:.0}% on average (> {:.0}%)",
            mean * 100.0,
            SATURATED_RATIO * 100.0
        )
    } else {
        format!(
            "no watched resource was saturated: the busiest, {label} ({source}), averaged {:.0}% (peak {:.0}%); look beyond the watched resources (locks, a pool, a dependency)",
            mean * 100.0,
            peak * 100.0
        )
    };
    Some(format!(
        "at the first failing step ({:.0} {}, {seconds} s of server data): {what}",
        first_fail.offered_rate, d.unit
    ))
}
