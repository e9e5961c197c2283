//! `stampede plan --html`: the forecast as a self-contained page (the shared kit).

use stampede_forecast::{Forecast, Transport};

use crate::forecast::{count, fleet_line, notes, rows};
use crate::kit::{bar_chart, Page};

/// The page: tiles, one bar chart per quantity that differs between the ways of
/// connecting, the side-by-side table and the assumptions.
pub fn render_forecast_html(f: &Forecast) -> String {
    let fl = &f.fleet;
    let mut page = Page::new(
        "Fleet plan: polling vs held WebSockets",
        &format!(
            "{} devices, one check-in every {} s",
            count(fl.devices as f64),
            fl.every_s
        ),
    );
    page.para("", &fleet_line(f));
    let poll = f.column(Transport::PollKeepAlive);
    let ws = f.column(Transport::WebSocket);
    let mut tiles = vec![
        ("average rate /s", count(poll.average_rate)),
        ("aligned peak /s", count(f.peaks.aligned.rate)),
        ("jittered peak /s", count(f.peaks.jittered.rate)),
        ("polls per day", count(poll.requests_per_day)),
        ("WS connections per day", count(ws.connections_per_day)),
    ];
    if let Some(n) = f.instances.as_ref().and_then(|i| i.instances) {
        tiles.push(("instances at the peak", n.to_string()));
    }
    page.tiles(&tiles);
    let header = rows(f).swap_remove(0);
    let categories: Vec<String> = header[1..].to_vec();
    let per = |get: &dyn Fn(Transport) -> f64| -> Vec<f64> {
        Transport::ALL.iter().map(|t| get(*t)).collect()
    };
    page.figure(
        "traffic",
        "Requests and messages per day",
        "HTTP requests (polls, or WebSocket upgrades) and WebSocket messages (a heartbeat and its reply per check-in) per day, for each way of connecting the fleet.",
        bar_chart(
            &categories,
            &[
                ("HTTP requests".into(), per(&|t| f.column(t).requests_per_day)),
                ("WS messages".into(), per(&|t| f.column(t).messages_per_day)),
            ],
            "per day",
        ),
    );
    page.figure(
        "connections",
        "Connections opened per day",
        "Held connections open once per device; without keep-alive every check-in opens one; held WebSockets reconnect once per hold.",
        bar_chart(
            &categories,
            &[("opened".into(), per(&|t| f.column(t).connections_per_day))],
            "connections per day",
        ),
    );
    page.figure(
        "bytes",
        "Bytes per day",
        "Payloads plus the stated HTTP heads and WebSocket frame headers (TCP/IP and TLS not counted), in MiB.",
        bar_chart(
            &categories,
            &[
                ("up".into(), per(&|t| f.column(t).bytes_up_per_day / 1048576.0)),
                ("down".into(), per(&|t| f.column(t).bytes_down_per_day / 1048576.0)),
            ],
            "MiB per day",
        ),
    );
    if Transport::ALL
        .iter()
        .any(|t| f.column(*t).cost_per_day.is_some())
    {
        page.figure(
            "cost",
            "Cost per day",
            "From the prices given as flags; a way of connecting none of whose units has a price is drawn at 0 and shown as - in the table.",
            bar_chart(
                &categories,
                &[(
                    "cost".into(),
                    per(&|t| f.column(t).cost_per_day.unwrap_or(0.0)),
                )],
                "per day",
            ),
        );
    }
    page.h2("Side by side");
    page.table(&rows(f));
    page.h2("Peaks, assumptions and instances");
    for line in notes(f) {
        page.para("note", &line);
    }
    page.finish("stampede plan")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use stampede_forecast::{forecast, Fleet, Prices};

    use super::*;

    #[test]
    fn the_page_has_its_charts_table_and_notes() {
        let fleet = Fleet {
            hold: Some(Duration::from_secs(600)),
            ..Fleet::new(100, Duration::from_secs(10))
        };
        let prices = Prices {
            request: Some("1.00/M".parse().unwrap()),
            ..Prices::default()
        };
        let html = render_forecast_html(&forecast(&fleet, &prices, None));
        for id in ["traffic", "connections", "bytes", "cost"] {
            assert!(html.contains(&format!("data-chart=\"{id}\"")), "{id}");
        }
        assert!(html.contains("864,000") && html.contains("Side by side"));
        assert!(html.contains("peak, aligned: 100 check-ins in one instant"));
        // No price, no cost chart.
        let html = render_forecast_html(&forecast(&fleet, &Prices::default(), None));
        assert!(!html.contains("data-chart=\"cost\""));
    }
}
