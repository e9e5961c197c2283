//! `stampede plan --check RESULT.json`: what the plan predicts for the run that was
//! made (its devices, its duration) against what the run measured.

use serde::{Deserialize, Serialize};
use stampede_result::{Core, RunResult};

use crate::fleet::{Fleet, Jitter, Transport};
use crate::scenario::{heartbeats_per_connection, CONNECT_ROW, HEARTBEAT_ROW, POLL_ROW};

/// A measured figure within this fraction of the prediction agrees with it.
pub const TOLERANCE: f64 = 0.05;

/// One compared figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// What it is, with its unit.
    pub name: String,
    /// The plan's prediction for this run.
    pub predicted: f64,
    /// What the run measured.
    pub measured: f64,
    /// (measured − predicted) / predicted; `None` when the prediction is 0.
    pub relative: Option<f64>,
    /// Within [`TOLERANCE`] (or both zero).
    pub agrees: bool,
}

impl Figure {
    fn new(name: &str, predicted: f64, measured: f64) -> Figure {
        let relative = (predicted != 0.0).then(|| (measured - predicted) / predicted);
        Figure {
            name: name.to_string(),
            predicted,
            measured,
            relative,
            agrees: relative.map_or(measured == 0.0, |r| r.abs() <= TOLERANCE),
        }
    }
}

/// The comparison of a run with the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// The side the run tested.
    pub transport: Transport,
    /// The run's sending window, seconds.
    pub duration_s: f64,
    /// Every compared figure.
    pub figures: Vec<Figure>,
    /// The run's (errors + timeouts) / requests: a run with failures is not the
    /// fleet the plan describes.
    pub error_rate: f64,
    /// Polling runs: the measured bytes of a request head and of a response head
    /// (bytes per check-in minus the payload and reply), to set `--request-head` and
    /// `--response-head` from; `None` for WebSockets or a run without check-ins.
    pub measured_heads: Option<(f64, f64)>,
    /// The plan's request head bytes (`--request-head`).
    pub request_head: u64,
    /// The plan's response head bytes (`--response-head`).
    pub response_head: u64,
}

impl Check {
    /// True when every figure agrees.
    pub fn agrees(&self) -> bool {
        self.figures.iter().all(|f| f.agrees)
    }
}

/// A result the plan cannot be checked against.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// Neither an emitted scenario's run nor a fleet run (`--clients`).
    #[error("the result is neither a run of a scenario emitted by `stampede plan --emit-scenario` (rows `{POLL_ROW}` or `{HEARTBEAT_ROW}`) nor a fleet run (`stampede run URL --clients N --every T`)")]
    NotAFleet,
    /// The run had another number of devices.
    #[error("the run had {run} devices and the plan --devices {plan}: check it against a plan of the same fleet")]
    Devices {
        /// Devices (virtual users or clients) of the run.
        run: u64,
        /// Devices of the plan.
        plan: u64,
    },
    /// The run's interval differs from the plan's.
    #[error("the run's clients sent every {run_s}s and the plan --every {plan_s}s")]
    Interval {
        /// The run's interval.
        run_s: f64,
        /// The plan's.
        plan_s: f64,
    },
}

/// Start offsets of the devices within the first interval: all at 0 when aligned; else
/// evenly spread (the middle of each device's slot).
fn offsets(devices: u64, every_s: f64, aligned: bool) -> impl Iterator<Item = f64> {
    (0..devices).map(move |i| match aligned {
        true => 0.0,
        false => (i as f64 + 0.5) * every_s / devices as f64,
    })
}

/// Events a device starting at `offset` has in `[offset, duration)` once every
/// `period`: `ceil((duration − offset) / period)`.
pub fn events_in_run(offset: f64, period: f64, duration: f64) -> u64 {
    if duration <= offset {
        0
    } else {
        ((duration - offset) / period).ceil() as u64
    }
}

/// Compares `run` with what `fleet` predicts for it.
pub fn check(fleet: &Fleet, run: &RunResult) -> Result<Check, CheckError> {
    let row = |key: &str| run.groups.iter().find(|g| g.key == key).map(|g| &g.core);
    let s = &run.summary.core;
    let c = &run.config;
    let keep_alive = c.keep_alive;
    // The row of the check-ins, whether it is a WebSocket, and whether the devices
    // were aligned (a plain fleet run spreads its clients over the first interval).
    let (checkins, ws, aligned): (&Core, bool, bool) = if let Some(r) = row(POLL_ROW) {
        (r, false, fleet.jitter == Jitter::None)
    } else if let Some(r) = row(HEARTBEAT_ROW) {
        (r, true, fleet.jitter == Jitter::None)
    } else if c.model == "fleet" && c.every_s.is_some() {
        (s, c.url.starts_with("ws"), false)
    } else {
        return Err(CheckError::NotAFleet);
    };
    let devices = c.connections.unwrap_or(0) as u64;
    if devices != fleet.devices {
        return Err(CheckError::Devices {
            run: devices,
            plan: fleet.devices,
        });
    }
    let every = fleet.every.as_secs_f64();
    if let Some(e) = c.every_s.filter(|e| (e - every).abs() > 1e-9) {
        return Err(CheckError::Interval {
            run_s: e,
            plan_s: every,
        });
    }
    let d = c.duration_s.unwrap_or(run.summary.elapsed_s);
    let predicted: u64 = offsets(devices, every, aligned)
        .map(|o| events_in_run(o, every, d))
        .sum();
    let transport = match (ws, keep_alive) {
        (true, _) => Transport::WebSocket,
        (false, true) => Transport::PollKeepAlive,
        (false, false) => Transport::PollNewConnection,
    };
    let connections = match transport {
        Transport::WebSocket => {
            let cycle = match (c.model.as_str(), c.hold_s) {
                ("fleet", Some(h)) => h,
                ("fleet", None) => f64::INFINITY,
                _ => {
                    heartbeats_per_connection(fleet, fleet.every.mul_f64(d / every)) as f64 * every
                }
            };
            offsets(devices, every, aligned)
                .map(|o| events_in_run(o, cycle, d))
                .sum::<u64>() as f64
        }
        Transport::PollKeepAlive => devices as f64,
        Transport::PollNewConnection => predicted as f64,
    };
    let n = predicted as f64;
    // Bytes as stampede counts them: HTTP heads and bodies; WebSocket message payloads.
    let f = &fleet.framing;
    let (sent, received) = match ws {
        true => (n * fleet.payload as f64, n * fleet.reply as f64),
        false => (
            n * (f.request_head + fleet.payload) as f64,
            n * (f.response_head + fleet.reply) as f64,
        ),
    };
    let measured_connections = match row(CONNECT_ROW) {
        Some(r) => r.requests - r.errors - r.timeouts,
        None => s.connections_opened,
    };
    let figures = vec![
        Figure::new(
            "check-ins per second over the run",
            n / d,
            checkins.requests as f64 / d,
        ),
        Figure::new(
            "connections opened",
            connections,
            measured_connections as f64,
        ),
        Figure::new("bytes sent", sent, s.bytes_sent as f64),
        Figure::new("bytes received", received, s.bytes_received as f64),
        Figure::new(
            "latency p50 ms",
            fleet.service_time.as_secs_f64() * 1e3,
            checkins.latency_ms.p50,
        ),
    ];
    let done = checkins.requests as f64;
    let measured_heads = (!ws && done > 0.0).then(|| {
        (
            s.bytes_sent as f64 / done - fleet.payload as f64,
            s.bytes_received as f64 / done - fleet.reply as f64,
        )
    });
    Ok(Check {
        transport,
        duration_s: d,
        figures,
        error_rate: s.error_rate,
        measured_heads,
        request_head: f.request_head,
        response_head: f.response_head,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_count_what_fits_in_the_run() {
        assert_eq!(events_in_run(0.0, 1.0, 5.0), 5);
        assert_eq!(events_in_run(0.5, 1.0, 5.0), 5);
        assert_eq!(events_in_run(0.5, 2.0, 5.0), 3);
        assert_eq!(events_in_run(6.0, 1.0, 5.0), 0);
        // 100 devices every 10 s, evenly spread, over 20 s: 200 check-ins.
        let n: u64 = offsets(100, 10.0, false)
            .map(|o| events_in_run(o, 10.0, 20.0))
            .sum();
        assert_eq!(n, 200);
    }

    #[test]
    fn figures_agree_within_five_percent() {
        assert!(Figure::new("x", 100.0, 104.9).agrees);
        assert!(!Figure::new("x", 100.0, 94.0).agrees);
        assert!(Figure::new("x", 0.0, 0.0).agrees);
        assert!(!Figure::new("x", 0.0, 1.0).agrees);
    }
}
