//! The HTML report: one self-contained page (inline CSS, charts as inline SVG, no
//! script, no external reference), rendered from a [`RunResult`] alone so that a saved
//! result renders exactly as the live run did.

mod charts;
mod faults;
pub mod kit;
mod server;

use std::fmt::Write as _;

use stampede_analysis::Percentiles;

use crate::table::{bytes, group_row, marked, ms, observed, row, HEADERS};
use charts::Bars;
use kit::{esc, figure, settings, table, tile};
use stampede_result::{Core, RunResult};

/// The page's Content-Security-Policy: nothing may be loaded; inline styles only.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'";

/// Charts show at most this many groups (those with the most requests).
pub const MAX_CHART_GROUPS: usize = 12;

/// `2` for 2.0, `2.67` for 2.6666.
fn short_number(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

fn load_description(r: &RunResult) -> String {
    let c = &r.config;
    if c.model == "open" {
        let arrival = c.arrival.as_deref().unwrap_or("uniform");
        let unit = match c.scenario_file {
            Some(_) => "journeys/s",
            None => "req/s",
        };
        if c.stages.is_empty() {
            format!(
                "open model, {arrival} arrivals at {} {unit}",
                c.rate.unwrap_or(0.0)
            )
        } else {
            let stages: Vec<String> = c
                .stages
                .iter()
                .map(|s| format!("{}s:{}", short_number(s.duration_s), short_number(s.rate)))
                .collect();
            format!(
                "open model, {arrival} arrivals, stages {} ({unit})",
                stages.join(" ")
            )
        }
    } else if c.model == "replay" {
        match c.rate {
            Some(r) => format!("replay paced to {} req/s", short_number(r)),
            None => "replay at the recorded timing".to_string(),
        }
    } else if c.model == "fleet" {
        let mut s = format!("fleet of {}", counted(c.connections.unwrap_or(0), "client"));
        match c.every_s {
            Some(e) => {
                let _ = write!(s, ", each every {}s", short_number(e));
            }
            None => s.push_str(", each back to back"),
        }
        if let Some(h) = c.hold_s {
            let _ = write!(s, ", connections held {}s", short_number(h));
        }
        s
    } else if c.scenario_file.is_some() {
        format!(
            "closed model, {}",
            counted(c.connections.unwrap_or(0), "virtual user")
        )
    } else {
        format!(
            "closed model, {}",
            counted(c.connections.unwrap_or(0), "connection")
        )
    }
}

/// `1 client`, `2 clients`.
fn counted(n: usize, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        _ => format!("{n} {what}s"),
    }
}

fn header(out: &mut String, r: &RunResult) {
    let c = &r.config;
    let _ = writeln!(out, "<h1>stampede report</h1>");
    let _ = writeln!(
        out,
        "<p class=\"sub\">{} &middot; {} &middot; {:.1}s &middot; started {}</p>",
        esc(&c.subject()),
        esc(&load_description(r)),
        r.summary.elapsed_s,
        esc(&r.started_at)
    );
    if r.aborted {
        out.push_str(
            "<p class=\"warn\">INTERRUPTED: this run was stopped early; the numbers cover it up to the interruption.</p>\n",
        );
    }
    if let Some(line) = crate::workers::workers_summary(r) {
        let _ = writeln!(out, "<p class=\"sub\">{}</p>", esc(&line));
    }
    let partial = crate::workers::partial_lines(r);
    if !partial.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"warn\">{}</p>",
            partial
                .iter()
                .map(|l| esc(l.trim()))
                .collect::<Vec<_>>()
                .join("<br>")
        );
    }
    if !r.generator.warnings.is_empty() {
        let reasons: Vec<String> = r.generator.warnings.iter().map(|w| w.explain()).collect();
        let _ = writeln!(
            out,
            "<p class=\"warn\">WARNING: stampede itself limited this result: {}</p>",
            esc(&reasons.join("; "))
        );
    }
    let s = &r.summary.core;
    out.push_str("<div class=\"tiles\">");
    tile(out, "requests", &s.requests.to_string());
    let rate = match s.target_rate {
        Some(t) => format!("{:.1} / {:.1}", s.achieved_rate, t),
        None => format!("{:.1}", s.achieved_rate),
    };
    tile(
        out,
        if s.target_rate.is_some() {
            "achieved / target req/s"
        } else {
            "achieved req/s"
        },
        &rate,
    );
    tile(
        out,
        "errors + timeouts",
        &format!("{:.2}%", s.error_rate * 100.0),
    );
    tile(out, "p50 ms", &ms(s.latency_ms.p50));
    tile(out, "p99 ms", &ms(s.latency_ms.p99));
    tile(out, "p99.9 ms", &ms(s.latency_ms.p999));
    tile(out, "max ms", &ms(s.latency_ms.max));
    out.push_str("</div>\n");
}

fn summary(out: &mut String, r: &RunResult) {
    out.push_str("<h2>Summary</h2>\n");
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
    table(out, &rows);
    let _ = writeln!(
        out,
        "<p>Latency is {}.</p>",
        crate::table::latency_meaning(r)
    );
}

/// The pass/fail criteria and how the run did against each; rows of the summary whose
/// criteria failed are marked `✗` there too.
fn criteria(out: &mut String, r: &RunResult) {
    if r.thresholds.is_empty() {
        return;
    }
    let failed = r.thresholds.iter().filter(|t| !t.passed).count();
    let _ = writeln!(
        out,
        "<h2>Thresholds</h2>\n<p class=\"{}\">{}</p>",
        if failed == 0 { "ok" } else { "warn" },
        if failed == 0 {
            "All thresholds passed.".to_string()
        } else {
            format!(
                "{failed} of {} thresholds FAILED: the run exits with code 1.",
                r.thresholds.len()
            )
        }
    );
    let mut rows = vec![["row", "threshold", "observed", "verdict"]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()];
    for t in &r.thresholds {
        rows.push(vec![
            t.scope.clone().unwrap_or_else(|| "total".into()),
            t.threshold.clone(),
            observed(t),
            if t.passed { "pass" } else { "FAIL ✗" }.into(),
        ]);
    }
    settings(out, &rows);
}

fn time_charts(out: &mut String, r: &RunResult) {
    out.push_str("<h2>Over time</h2>\n");
    figure(
        out,
        "throughput",
        "Throughput: achieved vs target",
        "Requests finished in each second; in the open model, the arrivals the schedule asked for.",
        charts::throughput(r),
    );
    figure(
        out,
        "latency-over-time",
        "Latency percentiles per second",
        "Solid: latency (see the summary for the model); dashed: service time.",
        charts::latency_over_time(r),
    );
    server::charts(out, r);
    figure(
        out,
        "errors-over-time",
        "Errors and timeouts per second",
        "",
        charts::errors_over_time(r),
    );
}

fn distribution(out: &mut String, r: &RunResult) {
    out.push_str("<h2>Latency distribution</h2>\n");
    figure(
        out,
        "distribution",
        "Latency by percentile",
        "From the full HdrHistogram of the run. The x axis is 1/(1-q) on a log scale, so each step right is one more nine.",
        charts::distribution(r),
    );
}

/// The groups with the most requests, in key order.
fn chart_groups(r: &RunResult) -> Vec<&stampede_result::GroupDoc> {
    let mut groups: Vec<_> = r.groups.iter().collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.core.requests));
    groups.truncate(MAX_CHART_GROUPS);
    groups.sort_by(|a, b| a.key.cmp(&b.key));
    groups
}

fn short(key: &str) -> String {
    const MAX: usize = 18;
    if key.chars().count() <= MAX {
        key.to_string()
    } else {
        let mut s: String = key.chars().take(MAX - 1).collect();
        s.push('…');
        s
    }
}

fn groups(out: &mut String, r: &RunResult) {
    let Some(label) = &r.group_by else {
        return;
    };
    let _ = writeln!(out, "<h2>By {}</h2>", esc(label));
    let shown = chart_groups(r);
    if shown.is_empty() {
        out.push_str("<p class=\"note\">No group recorded a request.</p>\n");
        return;
    }
    let names: Vec<String> = shown.iter().map(|g| short(&g.key)).collect();
    let caption = if r.groups.len() > shown.len() {
        format!(
            "The {} groups with the most requests of {}.",
            shown.len(),
            r.groups.len()
        )
    } else {
        String::new()
    };
    let pick = |f: fn(&Core) -> f64| shown.iter().map(|g| f(&g.core)).collect::<Vec<f64>>();
    figure(
        out,
        "group-latency",
        "Latency by group",
        &caption,
        charts::bars(
            &names,
            &[
                Bars {
                    label: "p50".into(),
                    values: pick(|c| c.latency_ms.p50),
                },
                Bars {
                    label: "p90".into(),
                    values: pick(|c| c.latency_ms.p90),
                },
                Bars {
                    label: "p99".into(),
                    values: pick(|c| c.latency_ms.p99),
                },
                Bars {
                    label: "p99.9".into(),
                    values: pick(|c| c.latency_ms.p999),
                },
            ],
            "milliseconds",
            &|v| ms(*v),
        ),
    );
    figure(
        out,
        "group-errors",
        "Throughput and failures by group",
        &caption,
        charts::bars(
            &names,
            &[
                Bars {
                    label: "achieved req/s".into(),
                    values: pick(|c| c.achieved_rate),
                },
                Bars {
                    label: "errors + timeouts per s".into(),
                    values: shown
                        .iter()
                        .map(|g| g.core.achieved_rate * g.core.error_rate)
                        .collect(),
                },
            ],
            "per second",
            &|v| format!("{v:.0}"),
        ),
    );
}

fn phase_row(label: &str, p: &Percentiles) -> Vec<String> {
    vec![
        label.to_string(),
        ms(p.mean),
        ms(p.p50),
        ms(p.p90),
        ms(p.p99),
        ms(p.p999),
        ms(p.max),
    ]
}

fn phases(out: &mut String, r: &RunResult) {
    out.push_str("<h2>Timing phases</h2>\n");
    let mut list: Vec<(&str, &Percentiles)> = vec![("connect", &r.phases_ms.connect)];
    if r.config.url.starts_with("https") || r.config.url.starts_with("wss") {
        list.push(("tls handshake", &r.phases_ms.tls_handshake));
    }
    let websocket = r.summary.core.protocols.contains_key("websocket");
    if websocket {
        list.push(("upgrade", &r.phases_ms.upgrade));
    }
    // Only HTTP responses have a first byte apart from their last (a WebSocket-only run
    // has none; its messages' round trips are the service time).
    let http = r.summary.core.protocols.keys().any(|p| p != "websocket")
        || r.summary.core.protocols.is_empty();
    if http && r.phases_ms.ttfb != Percentiles::default() {
        list.push(("first byte", &r.phases_ms.ttfb));
    }
    list.push((
        match (websocket, http) {
            (true, false) => "message round trip",
            (true, true) => "total (service, messages and responses)",
            _ => "total (service)",
        },
        &r.phases_ms.total,
    ));
    if r.latency_model == "corrected" {
        list.push(("latency (corrected)", &r.summary.core.latency_ms));
    }
    let names: Vec<String> = list.iter().map(|(n, _)| n.to_string()).collect();
    let values = |f: fn(&Percentiles) -> f64| list.iter().map(|(_, p)| f(p)).collect();
    figure(
        out,
        "phases",
        "p50, p90 and p99 by phase",
        "Connect: each new connection's TCP handshake. First byte and total: from the actual send.",
        charts::bars(
            &names,
            &[
                Bars {
                    label: "p50".into(),
                    values: values(|p| p.p50),
                },
                Bars {
                    label: "p90".into(),
                    values: values(|p| p.p90),
                },
                Bars {
                    label: "p99".into(),
                    values: values(|p| p.p99),
                },
            ],
            "milliseconds",
            &|v| ms(*v),
        ),
    );
    let mut rows = vec![["ms", "avg", "p50", "p90", "p99", "p99.9", "max"]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()];
    rows.extend(list.iter().map(|(n, p)| phase_row(n, p)));
    table(out, &rows);
}

fn counts(out: &mut String, r: &RunResult) {
    out.push_str("<h2>Errors and status codes</h2>\n");
    if r.errors_by_class.is_empty() {
        out.push_str("<p>Errors by class: none.</p>\n");
    } else {
        let mut rows = vec![vec!["error class".to_string(), "count".into()]];
        rows.extend(
            r.errors_by_class
                .iter()
                .map(|(k, v)| vec![k.clone(), v.to_string()]),
        );
        table(out, &rows);
    }
    let _ = writeln!(
        out,
        "<p>Timeouts: {}.</p>",
        esc(&crate::table::timeout_meaning(r))
    );
    let mut rows = vec![vec!["status".to_string(), "responses".into()]];
    rows.extend(
        r.status_codes
            .iter()
            .map(|(k, v)| vec![k.clone(), v.to_string()]),
    );
    table(out, &rows);
}

fn generator(out: &mut String, r: &RunResult) {
    out.push_str("<h2>The generator itself</h2>\n");
    let g = &r.generator;
    let s = &r.summary;
    let busy: Vec<String> = g
        .worker_busy
        .iter()
        .map(|b| format!("{:.0}%", b * 100.0))
        .collect();
    let mut rows = vec![
        vec!["measure".to_string(), "value".into()],
        vec!["worker threads".into(), g.threads.to_string()],
        vec!["CPU seconds (process)".into(), format!("{:.2}", g.cpu_s)],
        vec!["worker busy".into(), busy.join(" ")],
        vec!["requests sent".into(), g.sends.to_string()],
        vec!["late sends".into(), s.late_sends.to_string()],
        vec!["dropped".into(), s.dropped.to_string()],
        vec!["unfinished".into(), s.unfinished.to_string()],
    ];
    if let Some(lag) = g.schedule_lag_ms {
        rows.push(vec![
            "send lag p50 / p99 / max ms".into(),
            format!("{} / {} / {}", ms(lag.p50), ms(lag.p99), ms(lag.max)),
        ]);
    }
    if let Some(rss) = g.peak_rss_bytes {
        rows.push(vec!["peak RSS".into(), bytes(rss)]);
    }
    rows.push(vec![
        "transfer".into(),
        format!(
            "{} received, {} sent, {} connections",
            bytes(s.core.bytes_received),
            bytes(s.core.bytes_sent),
            s.core.connections_opened
        ),
    ]);
    settings(out, &rows);
}

fn configuration(out: &mut String, r: &RunResult) {
    out.push_str("<h2>Configuration</h2>\n");
    let c = &r.config;
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let rows = vec![
        vec!["setting".to_string(), "value".into()],
        vec!["url".into(), c.url.clone()],
        vec!["method".into(), c.method.clone()],
        vec!["http".into(), c.http.clone()],
        vec!["load".into(), load_description(r)],
        vec![
            "max connections".into(),
            opt(c.max_connections.map(|n| n.to_string())),
        ],
        vec![
            "duration".into(),
            opt(c.duration_s.map(|d| format!("{d}s"))),
        ],
        vec![
            "request limit".into(),
            opt(c.requests.map(|n| n.to_string())),
        ],
        vec!["timeout".into(), format!("{} ms", c.timeout_ms)],
        vec!["threads".into(), c.threads.to_string()],
        vec!["keep-alive".into(), c.keep_alive.to_string()],
        vec!["group by".into(), opt(r.group_by.clone())],
        vec!["latency model".into(), r.latency_model.clone()],
        vec!["started".into(), r.started_at.clone()],
        vec!["stampede".into(), r.stampede_version.clone()],
    ];
    settings(out, &rows);
}

/// Renders the whole report as one HTML document. Charts that cannot be drawn (for
/// example a run without responses) are replaced by a one-line note.
pub fn render_html(r: &RunResult) -> String {
    let mut out = String::with_capacity(256 * 1024);
    kit::head(
        &mut out,
        &format!("stampede report: {}", r.config.subject()),
    );
    header(&mut out, r);
    summary(&mut out, r);
    criteria(&mut out, r);
    time_charts(&mut out, r);
    faults::section(&mut out, r);
    server::html_section(&mut out, r);
    distribution(&mut out, r);
    groups(&mut out, r);
    phases(&mut out, r);
    counts(&mut out, r);
    generator(&mut out, r);
    configuration(&mut out, r);
    let _ = writeln!(
        out,
        "<footer>Rendered by stampede {} from a result document (schema version {}).</footer>",
        esc(env!("CARGO_PKG_VERSION")),
        r.schema_version
    );
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{outcome, plan};
    use std::time::Duration;

    fn report(grouped: bool, empty: bool) -> (RunResult, String) {
        let r = stampede_analysis::assemble(&plan(grouped), &outcome(grouped, empty));
        let html = render_html(&r);
        (r, html)
    }

    /// Every `http://` or `https://` in the page is the SVG namespace or the run's own URL
    /// shown as text; nothing is fetched: no script, stylesheet, image or link.
    fn assert_self_contained(html: &str, url: &str) {
        let mut rest = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        rest = rest.replace(&esc(url), "");
        assert!(!rest.contains("http://"), "external reference");
        assert!(!rest.contains("https://"), "external reference");
        for needle in [
            "<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import",
        ] {
            assert!(!html.contains(needle), "{needle}");
        }
    }

    #[test]
    fn renders_every_chart_from_a_grouped_run() {
        let (r, html) = report(true, false);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains(&format!("content=\"{CSP}\"")));
        assert!(html.trim_end().ends_with("</html>"));
        // Throughput, latency over time, errors, distribution, two group charts, phases.
        assert_eq!(html.matches("<svg").count(), 7, "{html}");
        assert_eq!(html.matches("</svg>").count(), 7);
        assert!(!html.contains("Chart not drawn"));
        assert!(html.matches("<polyline").count() >= 10);
        assert!(html.matches("<rect").count() >= 20);
        // Group keys are escaped in tables and charts.
        assert!(html.contains("instance-&lt;2&gt;"));
        assert!(!html.contains("instance-<2>"));
        for text in [
            "Summary",
            "Configuration",
            "The generator itself",
            "http_5xx",
            "reset",
        ] {
            assert!(html.contains(text), "{text}");
        }
        assert_self_contained(&html, &r.config.url);
    }

    #[test]
    fn threshold_verdicts_are_listed_and_failed_rows_marked() {
        let (mut r, _) = report(true, false);
        let key = r.groups[0].key.clone();
        r.thresholds = vec![
            stampede_analysis::ThresholdOutcome {
                scope: None,
                threshold: "p99 < 200ms".into(),
                observed: Some(12.5),
                window_s: None,
                worst_window: None,
                passed: true,
            },
            stampede_analysis::ThresholdOutcome {
                scope: Some(key.clone()),
                threshold: "error_rate < 1%".into(),
                observed: Some(0.2),
                window_s: None,
                worst_window: None,
                passed: false,
            },
        ];
        let html = render_html(&r);
        assert!(html.contains("<h2>Thresholds</h2>"), "{html}");
        assert!(html.contains("1 of 2 thresholds FAILED"));
        assert!(html.contains("FAIL ✗") && html.contains(">pass<"));
        assert!(html.contains("20.000%"), "observed value in its unit");
        assert!(
            html.contains(&format!("{} ✗", esc(&key))),
            "failed row marked"
        );
        assert!(!html.contains("total ✗"));
        r.thresholds.clear();
        assert!(!render_html(&r).contains("<h2>Thresholds</h2>"));
    }

    #[test]
    fn fleets_and_virtual_users_are_not_called_connections() {
        let (mut r, _) = report(false, false);
        r.config.model = "fleet".into();
        r.config.connections = Some(100);
        r.config.every_s = Some(10.0);
        r.config.hold_s = Some(600.0);
        assert_eq!(
            load_description(&r),
            "fleet of 100 clients, each every 10s, connections held 600s"
        );
        r.config.model = "closed".into();
        r.config.scenario_file = Some("j.toml".into());
        r.config.connections = Some(1);
        assert_eq!(load_description(&r), "closed model, 1 virtual user");
        r.config.model = "open".into();
        r.config.rate = Some(5.0);
        r.config.stages.clear();
        assert!(load_description(&r).ends_with("at 5 journeys/s"));
    }

    #[test]
    fn websocket_runs_show_upgrade_and_message_round_trips() {
        let (mut r, _) = report(false, false);
        r.summary.core.protocols = [("websocket".to_string(), 10)].into();
        r.phases_ms.ttfb = Percentiles::default();
        r.phases_ms.upgrade.p50 = 1.5;
        let html = render_html(&r);
        let phases = &html[html.find("<h2>Timing phases</h2>").unwrap()..];
        assert!(phases.contains(">upgrade<"), "{phases}");
        assert!(phases.contains(">message round trip<"));
        assert!(!phases.contains(">first byte<"));
    }

    #[test]
    fn line_chart_legends_sit_above_the_plot() {
        let (r, _) = report(false, false);
        let svg = charts::throughput(&r).unwrap();
        let at = svg.find("achieved req/s").expect("legend text");
        let tag = &svg[svg[..at].rfind("<text").unwrap()..at];
        let y: f64 = tag
            .split("y=\"")
            .nth(1)
            .and_then(|v| v.split('"').next())
            .and_then(|v| v.parse().ok())
            .expect("y of the legend text");
        assert!(y < f64::from(charts::LEGEND_BAND), "legend at y={y}: {tag}");
    }

    /// Issue 12 item 9: a worker's CPU counts over the time its thread ran (drain
    /// included), so it is never shown as more than 100% busy.
    #[test]
    fn worker_busy_is_cpu_over_the_threads_own_time() {
        let mut o = outcome(false, false);
        // 5 s of sending, 6.4 s of CPU over a thread that ran 8 s (a long drain).
        o.worker_cpu = vec![Duration::from_millis(6400); 2];
        o.worker_wall = vec![Duration::from_secs(8); 2];
        let r = stampede_analysis::assemble(&plan(false), &o);
        assert_eq!(r.generator.worker_busy, [0.8, 0.8]);
        let html = render_html(&r);
        assert!(!html.contains("128%"));
    }

    #[test]
    fn an_ungrouped_run_has_no_group_charts() {
        let (r, html) = report(false, false);
        assert_eq!(html.matches("<svg").count(), 5);
        assert!(!html.contains("data-chart=\"group-latency\""));
        assert_self_contained(&html, &r.config.url);
    }

    #[test]
    fn a_run_without_responses_explains_the_missing_charts() {
        let (_, html) = report(false, true);
        assert!(html.contains("Chart not drawn: no response was received"));
        assert!(html.contains("data-chart=\"throughput\""));
    }

    #[test]
    fn a_broken_histogram_is_a_note_not_a_panic() {
        let mut r = stampede_analysis::assemble(&plan(false), &outcome(false, false));
        r.histograms.latency = "not base64!".into();
        r.series.clear();
        let html = render_html(&r);
        assert!(
            html.contains("the latency histogram cannot be read"),
            "{html}"
        );
    }

    #[test]
    fn a_saved_result_renders_the_same() {
        let r = stampede_analysis::assemble(&plan(true), &outcome(true, false));
        let back = RunResult::from_json(&r.to_json()).unwrap();
        assert_eq!(render_html(&back), render_html(&r));
    }
}
