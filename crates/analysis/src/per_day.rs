//! A fleet run extrapolated to a day: requests and bytes from the steady state (the
//! seconds after the fleet came online), connections from the fleet's hold and
//! keep-alive behaviour, never from the connections opened at start-up.

use stampede_result::RunResult;

/// Seconds in a day.
const DAY_S: f64 = 86_400.0;

/// Where the per-day connections come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ConnectionBasis {
    /// Every client reconnects after holding its connection `hold_s` seconds.
    Hold {
        /// Clients.
        clients: u64,
        /// Seconds each connection is held.
        hold_s: f64,
    },
    /// Keep-alive: each client keeps its connection all day; `reopened` connections
    /// were opened during the run beyond one per client (closed by the server, or after
    /// failures) and are extrapolated.
    KeepAlive {
        /// Clients.
        clients: u64,
        /// Connections opened beyond one per client.
        reopened: u64,
    },
    /// No keep-alive: one connection per request.
    PerRequest,
}

/// A fleet run's day.
#[derive(Debug, Clone, PartialEq)]
pub struct PerDay {
    /// Requests per second in the steady state.
    pub rate: f64,
    /// The whole seconds `[start, end)` the rate comes from; `None` when the run was
    /// too short to have a steady state after the first interval (the whole run's rate
    /// is used).
    pub steady: Option<(u64, u64)>,
    /// Requests per day: `rate × 86,400`.
    pub requests: f64,
    /// Bytes received per day: the run's bytes per request × requests per day.
    pub bytes_received: f64,
    /// Bytes sent per day, likewise.
    pub bytes_sent: f64,
    /// Connections opened per day.
    pub connections: f64,
    /// Why that many connections.
    pub basis: ConnectionBasis,
}

/// The day of a fleet run (`config.model == "fleet"`); `None` for other runs and for a
/// run without a finished request.
pub fn fleet_per_day(r: &RunResult) -> Option<PerDay> {
    let c = &r.config;
    if c.model != "fleet" || r.summary.core.requests == 0 {
        return None;
    }
    let s = &r.summary.core;
    // The fleet comes online over its first interval (clients are spread over it);
    // back-to-back clients are all on after the first second.
    let start = c.every_s.map_or(1, |e| e.ceil() as u64);
    let end = r.summary.elapsed_s.floor() as u64;
    let (rate, steady) = if end > start {
        let n: u64 = r
            .series
            .iter()
            .filter(|p| p.t >= start && p.t < end)
            .map(|p| p.requests)
            .sum();
        (n as f64 / (end - start) as f64, Some((start, end)))
    } else {
        (s.requests as f64 / r.summary.elapsed_s.max(1e-9), None)
    };
    let requests = rate * DAY_S;
    let per_request = |bytes: u64| bytes as f64 / s.requests as f64 * requests;
    let clients = c.connections.unwrap_or(0) as u64;
    let (connections, basis) = match (c.keep_alive, c.hold_s) {
        (false, _) => (requests, ConnectionBasis::PerRequest),
        (true, Some(h)) => (
            clients as f64 * DAY_S / h,
            ConnectionBasis::Hold { clients, hold_s: h },
        ),
        (true, None) => {
            let reopened = s.connections_opened.saturating_sub(clients);
            (
                clients as f64 + reopened as f64 * DAY_S / r.summary.elapsed_s.max(1e-9),
                ConnectionBasis::KeepAlive { clients, reopened },
            )
        }
    };
    Some(PerDay {
        rate,
        steady,
        requests,
        bytes_received: per_request(s.bytes_received),
        bytes_sent: per_request(s.bytes_sent),
        connections,
        basis,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fleets: 1,000 clients every 10 s for 20 s, 100 requests a second
    /// from the start (clients spread over the first interval), 1,000 connections
    /// opened at start-up.
    fn fleet_run(hold_s: Option<f64>, keep_alive: bool) -> RunResult {
        let mut r =
            RunResult::from_json(include_str!("../../result/tests/fixtures/v1-result.json"))
                .unwrap();
        r.config.model = "fleet".into();
        r.config.connections = Some(1000);
        r.config.every_s = Some(10.0);
        r.config.hold_s = hold_s;
        r.config.keep_alive = keep_alive;
        r.summary.elapsed_s = 20.0;
        r.summary.core.requests = 2000;
        r.summary.core.bytes_sent = 2000 * 50;
        r.summary.core.bytes_received = 2000 * 80;
        r.summary.core.connections_opened = if keep_alive { 1000 } else { 2000 };
        let point = r.series[0].clone();
        r.series = (0..20)
            .map(|t| {
                let mut p = point.clone();
                p.t = t;
                // A start-up blip the steady state leaves out.
                p.requests = if t < 10 { 150 } else { 100 };
                p
            })
            .collect();
        r
    }

    #[test]
    fn websockets_held_ten_minutes_open_144000_connections_a_day() {
        let d = fleet_per_day(&fleet_run(Some(600.0), true)).unwrap();
        assert_eq!(d.steady, Some((10, 20)));
        assert_eq!(d.rate, 100.0);
        assert_eq!(d.requests, 8_640_000.0);
        assert_eq!(d.connections, 144_000.0);
        assert_eq!(d.bytes_sent, 8_640_000.0 * 50.0);
        assert_eq!(
            d.basis,
            ConnectionBasis::Hold {
                clients: 1000,
                hold_s: 600.0
            }
        );
    }

    #[test]
    fn keep_alive_polling_holds_its_connections_all_day() {
        let d = fleet_per_day(&fleet_run(None, true)).unwrap();
        assert_eq!(d.connections, 1000.0);
        // Without keep-alive every request opens one.
        let d = fleet_per_day(&fleet_run(None, false)).unwrap();
        assert_eq!(d.connections, 8_640_000.0);
        assert_eq!(d.basis, ConnectionBasis::PerRequest);
        // Connections reopened during the run (the server closed them) count too.
        let mut r = fleet_run(None, true);
        r.summary.core.connections_opened = 1010;
        let d = fleet_per_day(&r).unwrap();
        assert_eq!(d.connections, 1000.0 + 10.0 * 86_400.0 / 20.0);
    }

    #[test]
    fn a_short_run_uses_the_whole_run() {
        let mut r = fleet_run(Some(600.0), true);
        r.summary.elapsed_s = 10.5;
        let d = fleet_per_day(&r).unwrap();
        assert_eq!(d.steady, None);
        assert!((d.rate - 2000.0 / 10.5).abs() < 1e-9);
        r.config.model = "closed".into();
        assert!(fleet_per_day(&r).is_none());
    }
}
