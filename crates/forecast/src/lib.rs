//! What a fleet of devices will do to a back end: the arithmetic of polling (with and
//! without keep-alive) and of held WebSockets side by side, as pure functions.
//!
//! ```
//! use std::time::Duration;
//! use stampede_forecast::{forecast, Fleet, Prices, Transport};
//!
//! // 100 devices every 10 s, WebSockets held 10 minutes; the rest as `stampede plan`.
//! let fleet = Fleet {
//!     hold: Some(Duration::from_secs(600)),
//!     ..Fleet::new(100, Duration::from_secs(10))
//! };
//! let f = forecast(&fleet, &Prices::default(), None);
//! let poll = f.column(Transport::PollKeepAlive);
//! assert_eq!(poll.average_rate, 10.0);
//! assert_eq!(poll.requests_per_day, 864_000.0);
//! assert_eq!(f.peaks.aligned.in_window, 100.0); // the whole fleet in one instant
//! ```
//!
//! The emitted scenario files ([`scenario`]) verify a plan with a real run, and
//! [`check`] compares that run's result with the plan's prediction.
#![deny(missing_docs)]

pub mod capacity;
pub mod check;
pub mod fleet;
pub mod peak;
pub mod price;
pub mod scenario;

use serde::{Deserialize, Serialize};

pub use capacity::{instances_needed, Capacity, CapacityError, Headroom};
pub use fleet::{Column, Fleet, Framing, Jitter, Transport};
pub use peak::Peak;
pub use price::{Price, Prices};

/// Shape version of the plan document.
pub const SCHEMA_VERSION: u32 = 1;

/// The plan document's JSON Schema.
pub const PLAN_SCHEMA: &str = include_str!("../schema/plan.schema.json");

/// The fleet as the document records it (seconds and bytes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetDoc {
    /// Devices.
    pub devices: u64,
    /// Seconds between one device's check-ins.
    pub every_s: f64,
    /// `none` (aligned) or `full`.
    pub jitter: Jitter,
    /// The service time assumed, milliseconds.
    pub service_time_ms: f64,
    /// Request body bytes per check-in or heartbeat.
    pub payload_bytes: u64,
    /// Response body bytes per check-in or heartbeat reply.
    pub reply_bytes: u64,
    /// Seconds a WebSocket is held before reconnecting; null: all day.
    pub hold_s: Option<f64>,
    /// The idle timeout of kept-alive HTTP connections, seconds.
    pub keep_alive_timeout_s: f64,
    /// Header bytes assumed around each payload.
    pub framing: Framing,
}

/// Both peaks, whichever jitter the fleet has.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Peaks {
    /// Every device at once.
    pub aligned: Peak,
    /// Check-ins spread at random over the interval.
    pub jittered: Peak,
}

/// Instances needed at the fleet's peak.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instances {
    /// The capacity file's figures.
    pub capacity: Capacity,
    /// The headroom kept, as a fraction.
    pub headroom: f64,
    /// The peak rate planned for (the fleet's jitter), req/s.
    pub peak_rate: f64,
    /// Instances needed; null when the capacity file has no passing rate.
    pub instances: Option<u64>,
    /// True when the capacity is a measured edge; false when the last passing rate is a
    /// lower bound (so the instances are an upper bound).
    pub exact: bool,
}

/// A whole forecast: what `stampede plan --out` writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// Shape version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The fleet.
    pub fleet: FleetDoc,
    /// The prices given.
    pub prices: Prices,
    /// Aligned and jittered peaks.
    pub peaks: Peaks,
    /// Polling with keep-alive, polling with a new connection each, held WebSockets.
    pub columns: Vec<Column>,
    /// Instances at the peak (`--capacity`).
    pub instances: Option<Instances>,
}

impl Forecast {
    /// The column of a transport.
    pub fn column(&self, t: Transport) -> &Column {
        self.columns
            .iter()
            .find(|c| c.transport == t)
            .expect("every transport has a column")
    }

    /// The peak of the fleet's own jitter.
    pub fn planned_peak(&self) -> &Peak {
        match self.fleet.jitter {
            Jitter::None => &self.peaks.aligned,
            Jitter::Full => &self.peaks.jittered,
        }
    }
}

/// The forecast of `fleet`, priced, and with instances when a capacity is given.
pub fn forecast(
    fleet: &Fleet,
    prices: &Prices,
    capacity: Option<(&Capacity, Headroom)>,
) -> Forecast {
    let peaks = Peaks {
        aligned: peak::aligned_burst(fleet.devices, fleet.every, fleet.window),
        jittered: peak::jittered_peak(fleet.devices, fleet.every, fleet.window),
    };
    let mut f = Forecast {
        schema_version: SCHEMA_VERSION,
        fleet: FleetDoc {
            devices: fleet.devices,
            every_s: fleet.every.as_secs_f64(),
            jitter: fleet.jitter,
            service_time_ms: fleet.service_time.as_secs_f64() * 1e3,
            payload_bytes: fleet.payload,
            reply_bytes: fleet.reply,
            hold_s: fleet.hold.map(|h| h.as_secs_f64()),
            keep_alive_timeout_s: fleet.keep_alive_timeout.as_secs_f64(),
            framing: fleet.framing,
        },
        prices: *prices,
        peaks,
        columns: Transport::ALL
            .iter()
            .map(|t| Column::of(fleet, *t, prices))
            .collect(),
        instances: None,
    };
    if let Some((c, headroom)) = capacity {
        let peak_rate = f.planned_peak().rate;
        f.instances = Some(Instances {
            capacity: c.clone(),
            headroom: headroom.fraction(),
            peak_rate,
            instances: c
                .last_pass_rate
                .map(|r| instances_needed(peak_rate, r, headroom)),
            exact: c.is_exact(),
        });
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_follow_the_fleet_jitter() {
        let mut fleet = fleet::tests::fleet(1000, 10);
        let cap = Capacity {
            last_pass_rate: Some(150.0),
            verdict: "capacity".into(),
        };
        let h: Headroom = "30%".parse().unwrap();
        // Aligned: 1,000 in one instant, 1,000 req/s over 1 s; 105 usable per instance.
        let f = forecast(&fleet, &Prices::default(), Some((&cap, h)));
        let i = f.instances.as_ref().unwrap();
        assert_eq!(i.peak_rate, 1000.0);
        assert_eq!(i.instances, Some(10));
        assert!(i.exact);
        // Jittered: the busiest second is far lower, so fewer instances.
        fleet.jitter = Jitter::Full;
        let f = forecast(&fleet, &Prices::default(), Some((&cap, h)));
        let i = f.instances.unwrap();
        assert!(
            i.peak_rate < 200.0 && i.peak_rate > 100.0,
            "{}",
            i.peak_rate
        );
        assert_eq!(i.instances, Some((i.peak_rate / 105.0).ceil() as u64));
    }
}
