//! The "per day" line under a fleet run's table.

use stampede_analysis::per_day::{ConnectionBasis, PerDay};

use crate::units::{bytes, counted};

/// A fleet's day: requests and bytes from the steady state, connections from the
/// fleet's hold and keep-alive behaviour, each with its basis.
pub(crate) fn per_day_line(d: &PerDay) -> String {
    let basis = match d.steady {
        Some((a, b)) => format!("steady state, seconds {a}-{b}"),
        None => "whole run: too short for a steady state after the first interval".into(),
    };
    let connections = match d.basis {
        ConnectionBasis::Hold { clients, hold_s } => format!(
            "{} reconnecting every {hold_s}s",
            counted(clients, "client")
        ),
        ConnectionBasis::KeepAlive { clients, reopened: 0 } => format!(
            "keep-alive: {} each held all day, none reopened during the run",
            counted(clients, "client")
        ),
        ConnectionBasis::KeepAlive { clients, reopened } => format!(
            "keep-alive: {} each held all day, plus the {reopened} reopened during the run, extrapolated",
            counted(clients, "client")
        ),
        ConnectionBasis::PerRequest => "no keep-alive: one per request".into(),
    };
    format!(
        "per day at the {basis} ({:.1} req/s): {:.0} requests, {} received, {} sent (the run's bytes per request); {:.0} connections opened ({connections})\n",
        d.rate,
        d.requests,
        bytes(d.bytes_received as u64),
        bytes(d.bytes_sent as u64),
        d.connections.round()
    )
}
