//! Named network profiles (`--profile 3g`): sets of toxics that give a connection the
//! latency, bandwidth and (approximated) loss of a mobile or Wi-Fi network.
//! docs/proxy.md lists each one with the source of its figures.

use crate::{Stream, Toxic, ToxicKind};

/// One named network profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// The `--profile` name.
    pub name: &'static str,
    /// Added round-trip latency, ms (applied downstream, once per request/response).
    pub latency_ms: u64,
    /// ± jitter, ms.
    pub jitter_ms: u64,
    /// Server-to-client bandwidth, KB/s (1 KB = 1000 bytes).
    pub down_kb: u64,
    /// Client-to-server bandwidth, KB/s.
    pub up_kb: u64,
    /// Packet loss, as a fraction (approximated, see [`LOSS_RETRANSMIT_MS`]).
    pub loss: f64,
    /// Where the figures come from.
    pub source: &'static str,
}

/// Toxiproxy has no packet-loss toxic, and a TCP proxy cannot drop packets: TCP hides a
/// lost segment behind a retransmission. What the client feels is a delay of at least one
/// retransmission timeout (Linux's minimum RTO is 200 ms). A profile with loss `p` adds a
/// latency toxic of this many ms to a fraction `p` of the connections: the tail latency a
/// lossy link gives, not its throughput collapse.
pub const LOSS_RETRANSMIT_MS: u64 = 200;

/// The built-in profiles.
pub const PROFILES: [Profile; 4] = [
    Profile {
        name: "slow-3g",
        latency_ms: 2000,
        jitter_ms: 0,
        down_kb: 50,
        up_kb: 50,
        loss: 0.0,
        source: "Chrome DevTools \"Slow 3G\": 500 kbit/s x 0.8 both ways, 400 ms x 5",
    },
    Profile {
        name: "3g",
        latency_ms: 562,
        jitter_ms: 0,
        down_kb: 180,
        up_kb: 84,
        loss: 0.0,
        source: "Chrome DevTools \"Fast 3G\" (since renamed \"Slow 4G\"): 1.6 Mbit/s x 0.9 down, \
                 750 kbit/s x 0.9 up (84.375 KB/s, rounded down), 150 ms x 3.75",
    },
    Profile {
        name: "lte",
        latency_ms: 165,
        jitter_ms: 0,
        down_kb: 1012,
        up_kb: 168,
        loss: 0.0,
        source: "Chrome DevTools \"Fast 4G\": 9 Mbit/s x 0.9 down, 1.5 Mbit/s x 0.9 up \
                 (rounded down to whole KB/s), 60 ms x 2.75",
    },
    Profile {
        name: "lossy-wifi",
        latency_ms: 150,
        jitter_ms: 80,
        down_kb: 250,
        up_kb: 250,
        loss: 0.05,
        source: "the \"Congested\" (home Wi-Fi) profile of bugnet.io's \"How to test your game \
                 on slow network connections\": 150 ms +/- 80 ms, 5% loss, 2 Mbit/s",
    },
];

impl Profile {
    /// The profile of this name.
    pub fn named(name: &str) -> Option<&'static Profile> {
        PROFILES.iter().find(|p| p.name == name)
    }

    /// The names, for error messages.
    pub fn names() -> String {
        PROFILES.map(|p| p.name).join(", ")
    }

    /// The profile as toxics, named `<profile>_<what>`.
    pub fn toxics(&self) -> Vec<Toxic> {
        let t = |what: &str, kind, stream, toxicity| Toxic {
            name: format!("{}_{what}", self.name),
            kind,
            stream,
            toxicity,
        };
        let mut out = vec![
            t(
                "latency",
                ToxicKind::Latency {
                    latency_ms: self.latency_ms,
                    jitter_ms: self.jitter_ms,
                },
                Stream::Downstream,
                1.0,
            ),
            t(
                "down",
                ToxicKind::Bandwidth {
                    rate_kb: self.down_kb,
                },
                Stream::Downstream,
                1.0,
            ),
            t(
                "up",
                ToxicKind::Bandwidth {
                    rate_kb: self.up_kb,
                },
                Stream::Upstream,
                1.0,
            ),
        ];
        if self.loss > 0.0 {
            out.push(t(
                "loss",
                ToxicKind::Latency {
                    latency_ms: LOSS_RETRANSMIT_MS,
                    jitter_ms: 0,
                },
                Stream::Downstream,
                self.loss,
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_well_formed() {
        for p in &PROFILES {
            let toxics = p.toxics();
            let mut names: Vec<_> = toxics.iter().map(|t| t.name.clone()).collect();
            names.dedup();
            assert_eq!(names.len(), toxics.len(), "{}", p.name);
            assert!(toxics.iter().all(|t| (0.0..=1.0).contains(&t.toxicity)));
        }
        let lossy = Profile::named("lossy-wifi").unwrap().toxics();
        assert_eq!(lossy.last().unwrap().toxicity, 0.05);
        assert!(Profile::named("5g").is_none());
        assert!(Profile::names().contains("lte"));
    }
}
