//! Load models: open (arrivals on a schedule), closed (connections back to back), fleets.

use std::num::NonZeroUsize;
use std::time::Duration;

/// How arrivals are spaced in the open model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arrival {
    /// Evenly spaced at the current rate.
    #[default]
    Uniform,
    /// A Poisson process at the current rate (exponential gaps).
    Poisson,
}

/// One ramp stage: over `duration`, the rate moves linearly to `target_rate`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    /// How long the stage lasts.
    pub duration: Duration,
    /// Requests per second at the end of the stage.
    pub target_rate: f64,
}

/// Arrival rate over time: starts at `start_rate`, follows `stages` in order, then
/// holds the last rate.
#[derive(Debug, Clone, PartialEq)]
pub struct RateProfile {
    /// Requests per second at time zero.
    pub start_rate: f64,
    /// Linear ramps, in order.
    pub stages: Vec<Stage>,
}

impl RateProfile {
    /// A constant rate.
    pub fn constant(rate: f64) -> Self {
        RateProfile {
            start_rate: rate,
            stages: Vec::new(),
        }
    }

    /// Total length of all stages.
    pub fn stages_duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// The rate at `t` after the start, in requests per second.
    pub fn rate_at(&self, t: Duration) -> f64 {
        let mut from = self.start_rate;
        let mut elapsed = Duration::ZERO;
        for s in &self.stages {
            if t < elapsed + s.duration {
                let f = (t - elapsed).as_secs_f64() / s.duration.as_secs_f64();
                return from + (s.target_rate - from) * f;
            }
            elapsed += s.duration;
            from = s.target_rate;
        }
        from
    }

    /// The highest rate anywhere in the profile.
    pub fn peak_rate(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| s.target_rate)
            .fold(self.start_rate, f64::max)
    }
}

/// The workload model.
#[derive(Debug, Clone, PartialEq)]
pub enum Load {
    /// Open model: requests arrive on a schedule, whatever the responses do.
    Open {
        /// The arrival rate over time.
        profile: RateProfile,
        /// How arrivals are spaced.
        arrival: Arrival,
        /// Upper bound on connections opened to serve the schedule.
        max_connections: NonZeroUsize,
    },
    /// Closed model: a fixed number of connections each send back to back.
    Closed {
        /// Concurrent connections (virtual users).
        connections: NonZeroUsize,
    },
    /// A fleet of devices: each client keeps its own connection (HTTP keep-alive or a
    /// WebSocket), sends every `every` on its own schedule (or back to back when
    /// `None`), and reconnects after `hold`.
    Fleet {
        /// Number of clients (devices).
        clients: NonZeroUsize,
        /// Interval between one client's requests or messages.
        every: Option<Duration>,
        /// Reconnect after holding a connection this long.
        hold: Option<Duration>,
    },
    /// A replay of recorded traffic: each arrival is its own request, sent at its own
    /// time (`stampede replay`), on a pool of connections as in the open model.
    Replay {
        /// The arrivals, in time order.
        feed: crate::ReplayFeed,
        /// `--rate`: the arrivals are paced to this many per second (for the report's
        /// target rate); `None` when they keep their recorded times.
        rate: Option<f64>,
        /// Upper bound on connections opened to keep the arrivals' times.
        max_connections: NonZeroUsize,
    },
}

impl Load {
    /// True when requests have intended send times (open model, or a fleet with an
    /// interval), so latency is measured from the intended time.
    pub fn is_scheduled(&self) -> bool {
        matches!(
            self,
            Load::Open { .. } | Load::Fleet { every: Some(_), .. } | Load::Replay { .. }
        )
    }

    /// The arrival rate intended over time: the open model's profile, or a fleet's
    /// clients / interval; `None` when there is no schedule (closed model, back-to-back
    /// fleets).
    pub fn schedule_profile(&self) -> Option<RateProfile> {
        match self {
            Load::Open { profile, .. } => Some(profile.clone()),
            Load::Replay { rate: Some(r), .. } => Some(RateProfile::constant(*r)),
            Load::Fleet {
                clients,
                every: Some(every),
                ..
            } => Some(RateProfile::constant(
                clients.get() as f64 / every.as_secs_f64(),
            )),
            _ => None,
        }
    }

    /// The intended rate at the start, or `None` when there is no schedule.
    pub fn target_rate(&self) -> Option<f64> {
        self.schedule_profile().map(|p| p.start_rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_rate_follows_stages() {
        let p = RateProfile {
            start_rate: 0.0,
            stages: vec![
                Stage {
                    duration: Duration::from_secs(10),
                    target_rate: 100.0,
                },
                Stage {
                    duration: Duration::from_secs(10),
                    target_rate: 100.0,
                },
            ],
        };
        assert_eq!(p.rate_at(Duration::from_secs(5)), 50.0);
        assert_eq!(p.rate_at(Duration::from_secs(15)), 100.0);
        assert_eq!(p.rate_at(Duration::from_secs(50)), 100.0);
        assert_eq!(p.stages_duration(), Duration::from_secs(20));
    }

    #[test]
    fn schedules() {
        let fleet = Load::Fleet {
            clients: NonZeroUsize::new(20).unwrap(),
            every: Some(Duration::from_secs(2)),
            hold: None,
        };
        assert!(fleet.is_scheduled());
        assert_eq!(fleet.target_rate(), Some(10.0));
        let closed = Load::Closed {
            connections: NonZeroUsize::MIN,
        };
        assert!(!closed.is_scheduled());
        assert_eq!(closed.schedule_profile(), None);
    }
}
