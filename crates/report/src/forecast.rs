//! `stampede plan`: the fleet forecast side by side, and `--check` against a run.

use std::fmt::Write as _;

use stampede_forecast::check::{Check, TOLERANCE};
use stampede_forecast::fleet::ws_frame_header;
use stampede_forecast::{Column, Forecast, Jitter, Peak, Transport};

use crate::table::{bytes, layout};

/// A count with thousands separators: `25,920,000`; below 10 with two decimals.
pub(crate) fn count(x: f64) -> String {
    if x.abs() < 10.0 && x.fract() != 0.0 {
        return format!("{x:.2}");
    }
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if x < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// A checked figure: one decimal below 1,000.
fn figure(x: f64) -> String {
    if x.abs() < 1000.0 && x.fract() != 0.0 {
        format!("{x:.1}")
    } else {
        count(x)
    }
}

fn seconds(s: f64) -> String {
    humantime::format_duration(std::time::Duration::from_secs_f64(s)).to_string()
}

fn title(t: Transport, f: &Forecast) -> String {
    match t {
        Transport::PollKeepAlive => "poll, keep-alive".into(),
        Transport::PollNewConnection => "poll, new connection".into(),
        Transport::WebSocket => match f.fleet.hold_s {
            Some(h) => format!("WebSocket held {}", seconds(h)),
            None => "WebSocket held all day".into(),
        },
    }
}

fn money(x: Option<f64>) -> String {
    match x {
        None => "-".into(),
        Some(v) if v >= 100.0 => count(v),
        Some(v) => format!("{v:.2}"),
    }
}

fn bits_per_second(bytes_per_day: f64) -> String {
    let b = bytes_per_day * 8.0 / 86_400.0;
    if b >= 1e9 {
        format!("{:.2} Gbit/s", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.2} Mbit/s", b / 1e6)
    } else {
        format!("{:.1} kbit/s", b / 1e3)
    }
}

fn peak_line(p: &Peak) -> String {
    let window = seconds(p.window_s);
    match p.jitter {
        Jitter::None => format!(
            "aligned: {} check-ins in one instant, {}/s over {window}",
            count(p.in_window),
            count(p.rate)
        ),
        Jitter::Full => format!(
            "jittered: {} check-ins in the busiest {window} window of a day, {}/s{}",
            count(p.in_window),
            count(p.rate),
            p.quantile
                .map(|q| format!(" ({:.4}% quantile of a binomial count)", q * 100.0))
                .unwrap_or_default()
        ),
    }
}

/// The fleet in one line.
pub(crate) fn fleet_line(f: &Forecast) -> String {
    let fl = &f.fleet;
    format!(
        "fleet: {} devices checking in every {}, {}; service time {} ms; payload {} B, reply {} B",
        count(fl.devices as f64),
        seconds(fl.every_s),
        match fl.jitter {
            Jitter::None => "aligned (every device at the same instant)",
            Jitter::Full => "jittered (each at a random point of the interval)",
        },
        fl.service_time_ms,
        fl.payload_bytes,
        fl.reply_bytes
    )
}

/// The side-by-side table: a header row, then one row per figure.
pub(crate) fn rows(f: &Forecast) -> Vec<Vec<String>> {
    let cols: Vec<&Column> = Transport::ALL.iter().map(|t| f.column(*t)).collect();
    let mut rows = vec![std::iter::once(String::new())
        .chain(cols.iter().map(|c| title(c.transport, f)))
        .collect::<Vec<_>>()];
    let mut add = |label: &str, cell: &dyn Fn(&Column) -> String| {
        rows.push(
            std::iter::once(label.to_string())
                .chain(cols.iter().map(|c| cell(c)))
                .collect(),
        );
    };
    add("average rate", &|c| match c.transport {
        Transport::WebSocket => format!("{} msg/s", count(c.average_rate)),
        _ => format!("{} req/s", count(c.average_rate)),
    });
    add("HTTP requests per day", &|c| count(c.requests_per_day));
    add("HTTP requests per month", &|c| count(c.requests_per_month));
    add("WS messages per day", &|c| match c.transport {
        Transport::WebSocket => count(c.messages_per_day),
        _ => "-".into(),
    });
    add("in flight (Little)", &|c| count(c.in_flight));
    add("open connections", &|c| count(c.open_connections));
    add("connections opened per day", &|c| {
        count(c.connections_per_day)
    });
    add("connection-minutes per day", &|c| {
        count(c.connection_minutes_per_day)
    });
    add("bytes up per day", &|c| bytes(c.bytes_up_per_day as u64));
    add("bytes down per day", &|c| {
        bytes(c.bytes_down_per_day as u64)
    });
    add("bandwidth up / down", &|c| {
        format!(
            "{} / {}",
            bits_per_second(c.bytes_up_per_day),
            bits_per_second(c.bytes_down_per_day)
        )
    });
    add("cost per day", &|c| money(c.cost_per_day));
    add("cost per month", &|c| money(c.cost_per_month));
    rows
}

/// The peaks, the assumptions and the instances, one line each.
pub(crate) fn notes(f: &Forecast) -> Vec<String> {
    let fl = &f.fleet;
    let mut out = Vec::new();
    let planned = f.planned_peak();
    for p in [&f.peaks.aligned, &f.peaks.jittered] {
        let mark = if std::ptr::eq(p, planned) {
            " (planned for)"
        } else {
            ""
        };
        out.push(format!("peak, {}{mark}", peak_line(p)));
    }
    out.push(format!(
        "in flight: Little's law, average rate × {} ms; an aligned burst puts all {} devices in flight at once",
        fl.service_time_ms,
        count(fl.devices as f64)
    ));
    out.push(format!(
        "bytes: payloads plus HTTP/1.1 heads of {} B per request and {} B per response (also the WebSocket upgrade's), WebSocket frame headers of {} B up (masked) and {} B down; TCP/IP and TLS not counted",
        fl.framing.request_head,
        fl.framing.response_head,
        ws_frame_header(fl.payload_bytes, true),
        ws_frame_header(fl.reply_bytes, false)
    ));
    out.push(format!(
        "keep-alive: {}",
        if fl.every_s < fl.keep_alive_timeout_s {
            format!(
                "each device keeps one connection all day (it checks in every {}, within the {} idle timeout)",
                seconds(fl.every_s),
                seconds(fl.keep_alive_timeout_s)
            )
        } else {
            format!(
                "the {} idle timeout closes a connection before the next check-in, so every check-in opens one",
                seconds(fl.keep_alive_timeout_s)
            )
        }
    ));
    out.push(format!(
        "WebSockets: one heartbeat and its reply per check-in (2 messages), {}",
        match fl.hold_s {
            Some(h) => format!(
                "each device reconnects every {} (one upgrade request each)",
                seconds(h)
            ),
            None => "one connection per device all day".into(),
        }
    ));
    let p = &f.prices;
    let mut priced = Vec::new();
    if let Some(x) = p.request {
        priced.push(format!("HTTP requests (polls and upgrades) at {x}"));
    }
    if let Some(x) = p.message {
        priced.push(format!("WebSocket messages at {x}"));
    }
    if let Some(x) = p.connection_minute {
        priced.push(format!("WebSocket connection-minutes at {x}"));
    }
    out.push(format!(
        "cost: {}",
        if priced.is_empty() {
            "no price given (--price-request, --price-message, --price-connection-minute)".into()
        } else {
            priced.join(", ")
        }
    ));
    if let Some(i) = &f.instances {
        let cap = &i.capacity;
        let text = match (i.instances, cap.last_pass_rate) {
            (Some(n), Some(r)) => format!(
                "{}{n} at the {} peak of {}/s: one instance passed the SLO up to {}/s (verdict `{}`), at most {:.0}% loaded ({:.0}% headroom) that is {}/s each{}",
                if i.exact { "" } else { "at most " },
                match f.fleet.jitter {
                    Jitter::None => "aligned",
                    Jitter::Full => "jittered",
                },
                count(i.peak_rate),
                count(r),
                cap.verdict,
                (1.0 - i.headroom) * 100.0,
                i.headroom * 100.0,
                count(r * (1.0 - i.headroom)),
                if i.exact {
                    ""
                } else {
                    "; the capacity search did not find the edge, so its last passing rate is a lower bound of the capacity"
                }
            ),
            _ => format!(
                "unknown: the capacity result has no passing rate (verdict `{}`)",
                cap.verdict
            ),
        };
        out.push(format!("instances: {text}"));
    }
    out
}

/// The forecast as a terminal table with the assumptions it rests on.
pub fn render_forecast(f: &Forecast) -> String {
    let mut out = fleet_line(f);
    out.push_str("\n\n");
    out.push_str(&layout(&rows(f)));
    out.push('\n');
    for line in notes(f) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The check of a run against the plan: one row per figure, then the verdict.
pub fn render_check(c: &Check) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "checking a {} run of {:.1}s against the plan's prediction for it (agrees within {:.0}%)\n",
        match c.transport {
            Transport::PollKeepAlive => "polling (keep-alive)",
            Transport::PollNewConnection => "polling (new connection each)",
            Transport::WebSocket => "WebSocket",
        },
        c.duration_s,
        TOLERANCE * 100.0
    );
    let mut rows = vec![vec![
        String::new(),
        "plan".into(),
        "measured".into(),
        "change".into(),
        String::new(),
    ]];
    for f in &c.figures {
        rows.push(vec![
            f.name.clone(),
            figure(f.predicted),
            figure(f.measured),
            f.relative
                .map_or("n/a".into(), |r| format!("{:+.1}%", r * 100.0)),
            if f.agrees { "agrees" } else { "DIFFERS" }.into(),
        ]);
    }
    out.push_str(&layout(&rows));
    out.push('\n');
    out.push_str("bytes as stampede counts them: HTTP heads and bodies, WebSocket message payloads (no frame headers, no upgrade)\n");
    if let Some((req, resp)) = c.measured_heads {
        let _ = writeln!(
            out,
            "measured heads: {req:.0} B per request, {resp:.0} B per response (the plan's --request-head and --response-head assume {} and {})",
            c.request_head, c.response_head
        );
    }
    if c.error_rate > 0.0 {
        let _ = writeln!(
            out,
            "note: {:.2}% of the run's requests failed; the plan assumes every check-in is answered",
            c.error_rate * 100.0
        );
    }
    let differ: Vec<&str> = c
        .figures
        .iter()
        .filter(|f| !f.agrees)
        .map(|f| f.name.as_str())
        .collect();
    if differ.is_empty() {
        out.push_str("AGREES: every figure within 5% of the plan\n");
    } else {
        let _ = writeln!(out, "DIFFERS: {}", differ.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_have_separators() {
        assert_eq!(count(25_920_000.0), "25,920,000");
        assert_eq!(count(864.0), "864");
        assert_eq!(count(0.5), "0.50");
        assert_eq!(count(1000.0), "1,000");
    }
}
