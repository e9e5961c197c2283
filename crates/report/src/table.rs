//! The terminal table: one row per group plus a total row, then errors, statuses,
//! timing phases and the generator's own health.

use std::fmt::Write as _;

use stampede_analysis::Percentiles;

use stampede_result::{Core, RunResult};

pub(crate) use crate::units::{bytes, counted};

pub(crate) const HEADERS: [&str; 13] = [
    "", "requests", "errors", "timeouts", "avg ms", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms",
    "max ms", "err+to %", "rate/s", "proto",
];

/// A latency in ms as the tables print it: 3 significant digits, at most 2 decimals.
pub fn ms(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

pub(crate) fn row(label: &str, c: &Core) -> Vec<String> {
    let rate = match c.target_rate {
        Some(t) => format!("{:.1} / {:.1}", c.achieved_rate, t),
        None => format!("{:.1}", c.achieved_rate),
    };
    let mut cells = vec![
        label.to_string(),
        c.requests.to_string(),
        c.errors.to_string(),
        c.timeouts.to_string(),
    ];
    cells.extend(latency_cells(&c.latency_ms));
    cells.extend([
        match c.requests {
            0 => "-".to_string(),
            _ => format!("{:.2}", c.error_rate * 100.0),
        },
        rate,
        protocols(c),
    ]);
    cells
}

/// Mean, p50, p90, p99, p99.9 and max; `-` each when there was no sample (a recorded
/// sample is at least 1 µs, so a maximum of zero means none).
fn latency_cells(p: &Percentiles) -> Vec<String> {
    let values = [p.mean, p.p50, p.p90, p.p99, p.p999, p.max];
    if p.max == 0.0 {
        return values.iter().map(|_| "-".to_string()).collect();
    }
    values.iter().map(|&v| ms(v)).collect()
}

/// A group's row. Connections are attributed to groups only when grouping by peer; for
/// groups without their own connections (grouping by header or scenario step) the proto
/// column shows the run's protocol when the run negotiated only one, so every request of
/// the group went over it.
pub(crate) fn group_row(label: &str, g: &Core, run: &Core) -> Vec<String> {
    let mut cells = row(label, g);
    if g.protocols.is_empty() && run.protocols.len() == 1 {
        cells[HEADERS.len() - 1] = protocols(run);
    }
    cells
}

/// The protocols the row's connections negotiated, e.g. `h2` or `http/1.1+h2`.
fn protocols(c: &Core) -> String {
    let names: Vec<&str> = c.protocols.keys().map(String::as_str).collect();
    if names.is_empty() {
        "-".to_string()
    } else {
        names.join("+")
    }
}

/// Lays out rows with right-aligned numeric columns and a left-aligned first column.
pub fn layout(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i == 0 {
                let _ = write!(line, "{cell:<w$}", w = widths[0]);
            } else {
                let _ = write!(line, "  {cell:>w$}", w = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn phase_row(label: &str, p: &Percentiles) -> Vec<String> {
    let mut cells = vec![label.to_string()];
    cells.extend(latency_cells(p));
    cells
}

/// A row label, with `✗` when one of its thresholds failed.
pub(crate) fn marked(r: &RunResult, scope: Option<&str>) -> String {
    let label = scope.unwrap_or("total");
    let failed = r
        .thresholds
        .iter()
        .any(|t| !t.passed && t.scope.as_deref() == scope);
    if failed {
        format!("{label} ✗")
    } else {
        label.to_string()
    }
}

/// What the latency column measures, as a phrase.
pub(crate) fn latency_meaning(r: &RunResult) -> &'static str {
    match r.latency_model.as_str() {
        "corrected" => {
            "measured from each request's intended send time (corrected for coordinated omission)"
        }
        "mixed" => {
            "measured from the intended send time for the first step of open-model scenarios (corrected for coordinated omission) and as service time for every other row; the total mixes both"
        }
        _ => "service time (closed model: time queued before sending is not included)",
    }
}

/// The timeout count and what it means: the run's timeout, and any row's own wait.
pub(crate) fn timeout_meaning(r: &RunResult) -> String {
    let mut s = format!(
        "{} (no complete response within {} ms",
        r.summary.core.timeouts, r.config.timeout_ms
    );
    for g in &r.groups {
        if let Some(t) = g.timeout_ms {
            let _ = write!(s, "; {}: {} ms", g.key, t);
        }
    }
    s.push(')');
    s
}

/// A threshold's observed value in its unit.
pub(crate) fn observed(t: &stampede_analysis::ThresholdOutcome) -> String {
    let metric = t
        .threshold
        .split([' ', '<', '>'])
        .next()
        .unwrap_or_default();
    let Some(v) = t.observed else {
        return "no data".to_string();
    };
    let value = match metric {
        "error_rate" | "timeout_rate" => format!("{:.3}%", v * 100.0),
        "requests" => format!("{v:.0}"),
        "rate" => format!("{v:.1}/s"),
        _ => format!("{} ms", ms(v)),
    };
    match t.worst_window {
        Some(w) => format!("{value} in {}s-{}s", w.start_s, w.end_s),
        None => value,
    }
}

/// Renders the result as the end-of-run text table.
pub fn render_table(r: &RunResult) -> String {
    let mut out = String::new();
    let c = &r.config;
    let load = match c.model.as_str() {
        "open" => {
            let mut s = format!(
                "open model, {} arrivals",
                c.arrival.as_deref().unwrap_or("uniform")
            );
            let unit = if c.scenario_file.is_some() {
                "journeys/s"
            } else {
                "req/s"
            };
            if c.stages.is_empty() {
                let _ = write!(s, " at {} {unit}", c.rate.unwrap_or(0.0));
            } else {
                let stages: Vec<String> = c
                    .stages
                    .iter()
                    .map(|st| format!("{}s:{}", (st.duration_s * 1000.0).round() / 1000.0, st.rate))
                    .collect();
                let _ = write!(s, ", stages {}", stages.join(" "));
            }
            s
        }
        "replay" => match c.rate {
            Some(r) => format!("paced to {r} req/s"),
            None => "recorded timing".to_string(),
        },
        "fleet" => {
            let mut s = format!(
                "fleet of {}",
                counted(c.connections.unwrap_or(0) as u64, "client")
            );
            match c.every_s {
                Some(e) => {
                    let _ = write!(s, " every {e}s");
                }
                None => s.push_str(" back to back"),
            }
            if let Some(h) = c.hold_s {
                let _ = write!(s, ", reconnecting every {h}s");
            }
            s
        }
        _ if c.scenario_file.is_some() => {
            format!(
                "closed model, {}",
                counted(c.connections.unwrap_or(0) as u64, "virtual user")
            )
        }
        _ => format!(
            "closed model, {}",
            counted(c.connections.unwrap_or(0) as u64, "connection")
        ),
    };
    let what = c.subject();
    let _ = writeln!(
        out,
        "{}  {}  {:.1}s  {}{}",
        what,
        load,
        r.summary.elapsed_s,
        counted(c.threads as u64, "thread"),
        if c.keep_alive { "" } else { "  no keep-alive" }
    );
    out.push_str(&crate::sharding::shard_lines(r));
    if r.aborted {
        out.push_str("INTERRUPTED: partial results up to the interruption\n");
    }
    out.push_str(&crate::workers::workers_lines(r));
    out.push('\n');

    let mut rows = vec![HEADERS.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    if let Some(label) = &r.group_by {
        rows[0][0] = label.clone();
        for g in &r.groups {
            rows.push(group_row(
                &marked(r, Some(&g.key)),
                &g.core,
                &r.summary.core,
            ));
        }
    }
    rows.push(row(&marked(r, None), &r.summary.core));
    out.push_str(&layout(&rows));
    out.push('\n');
    let _ = writeln!(out, "latency is {}", latency_meaning(r));

    let mut phases = vec![vec![
        "timing (ms)".to_string(),
        "avg".into(),
        "p50".into(),
        "p90".into(),
        "p99".into(),
        "p99.9".into(),
        "max".into(),
    ]];
    phases.push(phase_row("connect", &r.phases_ms.connect));
    if r.config.url.starts_with("https") || r.config.url.starts_with("wss") {
        phases.push(phase_row("tls handshake", &r.phases_ms.tls_handshake));
    }
    if r.config.url.starts_with("ws") {
        phases.push(phase_row("ws upgrade", &r.phases_ms.upgrade));
        phases.push(phase_row("message rtt", &r.phases_ms.total));
    } else {
        phases.push(phase_row("first byte", &r.phases_ms.ttfb));
    }
    if !r.config.url.starts_with("ws") {
        phases.push(phase_row("total (service)", &r.phases_ms.total));
    }
    if r.latency_model == "corrected" {
        phases.push(phase_row("latency (corrected)", &r.summary.core.latency_ms));
    }
    out.push_str(&layout(&phases));
    out.push('\n');

    if r.errors_by_class.is_empty() {
        out.push_str("errors by class: none\n");
    } else {
        let parts: Vec<String> = r
            .errors_by_class
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(out, "errors by class: {}", parts.join(", "));
        for (class, text) in &r.error_samples {
            let _ = writeln!(out, "  first {class}: {text}");
        }
    }
    if r.summary.core.timeouts > 0 {
        let _ = writeln!(out, "timeouts: {}", timeout_meaning(r));
    }
    let parts: Vec<String> = r
        .status_codes
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(
        out,
        "status codes: {}",
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        }
    );
    let s = &r.summary;
    let _ = writeln!(
        out,
        "transfer: {} received, {} sent, {} opened",
        bytes(s.core.bytes_received),
        bytes(s.core.bytes_sent),
        counted(s.core.connections_opened, "connection")
    );

    for srv in &r.servers {
        let _ = writeln!(
            out,
            "server pid {} ({}): {:.2} CPU-s ({:.0}% of a core){}, peak RSS {}",
            srv.pid,
            srv.command,
            srv.cpu_s,
            srv.cpu_share * 100.0,
            srv.cpu_per_request_us
                .map(|us| format!(", {us:.1} µs CPU per request"))
                .unwrap_or_default(),
            bytes(srv.peak_rss_bytes)
        );
    }
    out.push_str(&crate::server::text(r, layout));
    out.push_str(&crate::faults::text(r, layout, ms));
    if let Some(d) = stampede_analysis::per_day::fleet_per_day(r) {
        out.push_str(&crate::per_day::per_day_line(&d));
    }
    if !r.thresholds.is_empty() {
        let failed = r.thresholds.iter().filter(|t| !t.passed).count();
        let _ = writeln!(
            out,
            "thresholds: {}",
            if failed == 0 {
                "all passed".to_string()
            } else {
                format!("{failed} of {} FAILED", r.thresholds.len())
            }
        );
        for t in &r.thresholds {
            let _ = writeln!(
                out,
                "  {} {}{}  (observed {})",
                if t.passed { "pass" } else { "FAIL" },
                t.scope
                    .as_deref()
                    .map(|s| format!("[{s}] "))
                    .unwrap_or_default(),
                t.threshold,
                observed(t)
            );
        }
    }
    let g = &r.generator;
    let busy: Vec<String> = g
        .worker_busy
        .iter()
        .map(|b| format!("{:.0}%", b * 100.0))
        .collect();
    let mut gen = format!(
        "generator: {}, {:.2} CPU-s, worker busy {}",
        counted(g.threads as u64, "thread"),
        g.cpu_s,
        busy.join(" ")
    );
    if c.model == "open" {
        let lag = g.schedule_lag_ms.unwrap_or_default();
        let _ = write!(
            gen,
            ", late sends {}, dropped {}, send lag p99 {} ms",
            s.late_sends,
            s.dropped,
            ms(lag.p99)
        );
        // What the lag can account for of the latency measured (the warning below, if
        // any, says whether it matters).
        let latency = s.core.latency_ms.p99;
        if latency > 0.0 {
            let _ = write!(gen, " ({:.0}% of latency p99)", lag.p99 / latency * 100.0);
        }
    }
    if s.unfinished > 0 {
        let _ = write!(gen, ", unfinished {}", s.unfinished);
    }
    if let Some(rss) = g.peak_rss_bytes {
        let _ = write!(gen, ", peak RSS {}", bytes(rss));
    }
    out.push_str(&gen);
    out.push('\n');
    if !g.warnings.is_empty() {
        let reasons: Vec<String> = g.warnings.iter().map(|w| w.explain()).collect();
        let _ = writeln!(
            out,
            "WARNING: stampede itself limited this result: {}",
            reasons.join("; ")
        );
    }
    out
}
