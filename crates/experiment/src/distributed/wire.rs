//! The coordinator protocol's messages (version [`PROTOCOL_VERSION`]): JSON bodies of
//! HTTP POSTs from a worker to the coordinator, and the coordinator's answers. See
//! docs/distributed.md, "Coordinator protocol", for the exchange field by field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use stampede_metrics::{
    ErrorClass, GeneratorStats, LatencyHistogram, Protocol, SparseHistogram, Stats,
};

use stampede_plan::{ScopedThreshold, Threshold, ThresholdScope};

use crate::RunResult;

/// The protocol version this build speaks; a hello with another is refused.
pub const PROTOCOL_VERSION: u32 = 2;

/// Path of the hello.
pub(crate) const HELLO_PATH: &str = "/v1/hello";
/// Path of the per-second deltas.
pub(crate) const DELTAS_PATH: &str = "/v1/deltas";
/// Path of the final document.
pub(crate) const FINAL_PATH: &str = "/v1/final";

/// A worker's share of the run, `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardId {
    /// 0-based.
    pub index: u32,
    /// How many shards the run has.
    pub count: u32,
}

/// A worker introduces itself (once, before its deltas).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the worker.
    pub protocol: u32,
    /// The worker's shard, when it runs one (`--shard`); it becomes its index.
    pub shard: Option<ShardId>,
    /// Identifies the workload (scenario file or request flags): every worker of a run
    /// must send the same.
    pub scenario_hash: String,
    /// The request method (`GET`; for a scenario file, of its first request).
    pub method: String,
    /// The target URL (a scenario file's base URL), for the coordinator's live view.
    pub url: String,
    /// The worker's load, for the coordinator's live view (the coordinator sums them).
    pub load: ViewLoad,
    /// The run's planned duration, when it has one.
    pub duration_s: Option<f64>,
    /// The worker's wall clock when it sent the hello (Unix ms).
    pub clock_unix_ms: f64,
    /// The instant the worker waits for before starting (`--start-at`, Unix ms).
    pub start_at_unix_ms: Option<f64>,
    /// The worker's pass/fail criteria (its `--threshold` flags or its scenario file's):
    /// the coordinator judges them on the merged run, the worker does not judge its
    /// share. Every worker of a run must send the same.
    pub thresholds: Vec<WireThreshold>,
    /// The worker's `--abort-on-fail` (or its scenario file's): the coordinator stops
    /// every worker when a criterion fails on the merged data.
    pub abort_on_fail: bool,
}

/// A criterion as it travels: its text and where it applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireThreshold {
    /// The group (scenario step key) it judges; `None` for the whole run.
    pub group: Option<String>,
    /// The criterion as written (`p99 < 200ms`).
    pub criterion: String,
}

impl WireThreshold {
    /// The criterion of `t`.
    pub fn of(t: &ScopedThreshold) -> Self {
        WireThreshold {
            group: match &t.scope {
                ThresholdScope::Total => None,
                ThresholdScope::Group(g) => Some(g.clone()),
            },
            criterion: t.threshold.text.clone(),
        }
    }

    /// Parsed again; an error says which criterion does not parse.
    pub fn parse(&self) -> Result<ScopedThreshold, String> {
        let threshold = Threshold::parse(&self.criterion)
            .map_err(|e| format!("criterion '{}': {e}", self.criterion))?;
        Ok(ScopedThreshold {
            scope: match &self.group {
                None => ThresholdScope::Total,
                Some(g) => ThresholdScope::Group(g.clone()),
            },
            threshold,
        })
    }
}

/// A worker's load as the coordinator's live view needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum ViewLoad {
    /// Open model: the arrival rate over time.
    Open {
        /// Requests per second at time zero.
        start_rate: f64,
        /// Linear ramps `[duration_s, rate at its end]`, in order.
        stages: Vec<[f64; 2]>,
    },
    /// Closed model.
    Closed {
        /// Connections.
        connections: usize,
    },
    /// A device fleet.
    Fleet {
        /// Clients.
        clients: usize,
        /// Each client's interval between requests (s), when it has one.
        every_s: Option<f64>,
    },
    /// A scenario file's journeys (shown without a request schedule).
    Other,
}

/// The coordinator's answer to a hello.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelloReply {
    /// The worker's index in the run (its shard index when it has one), `None` when
    /// refused.
    pub worker: Option<u32>,
    /// Why the worker was refused (wrong protocol or scenario, run full).
    pub refused: Option<String>,
    /// The coordinator's wall clock when it answered (Unix ms).
    pub clock_unix_ms: f64,
}

/// A worker's clock against the coordinator's, estimated from the hello exchange as NTP
/// does: offset = coordinator clock − midpoint of the worker's send and receive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockEstimate {
    /// Coordinator clock minus worker clock (ms); the error is at most `rtt_ms / 2`.
    pub offset_ms: f64,
    /// Round trip of the hello (ms).
    pub rtt_ms: f64,
}

impl ClockEstimate {
    /// The estimate from the worker's send and receive times around a hello and the
    /// coordinator's reading in its answer (all Unix ms).
    pub fn from_exchange(sent_ms: f64, coordinator_ms: f64, received_ms: f64) -> Self {
        ClockEstimate {
            offset_ms: coordinator_ms - (sent_ms + received_ms) / 2.0,
            rtt_ms: (received_ms - sent_ms).max(0.0),
        }
    }
}

/// One or more completed seconds of a worker (more than one after a failed POST).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deltas {
    /// The index the hello gave.
    pub worker: u32,
    /// The worker's clock estimate.
    pub clock: Option<ClockEstimate>,
    /// The seconds, in order.
    pub seconds: Vec<SecondDelta>,
}

/// What one worker measured in one second of its run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecondDelta {
    /// Which second of the worker's run (0-based).
    pub second: u64,
    /// The second's requests, all groups.
    pub total: StatsDelta,
    /// The second's requests by group key (groups with no change left out).
    pub groups: BTreeMap<String, StatsDelta>,
    /// The generator's figures of the second.
    pub generator: GeneratorDelta,
}

/// The coordinator's answer to deltas and to the final document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// Stop the run now (a threshold failed on the merged data under
    /// `--abort-on-fail`, or the coordinator is stopping).
    pub stop: bool,
    /// Why, when `stop`.
    pub reason: Option<String>,
}

/// A worker's last message: its whole result document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Final {
    /// The index the hello gave.
    pub worker: u32,
    /// The worker's clock estimate.
    pub clock: Option<ClockEstimate>,
    /// The worker's wall clock when its run started (Unix ms).
    pub started_unix_ms: f64,
    /// The worker's own result (what its `--out` writes).
    pub result: Box<RunResult>,
}

/// [`Stats`] on the wire: counts, and histograms as the base64 of their non-zero buckets
/// ([`SparseHistogram`], microseconds), which merge without building a whole histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsDelta {
    /// Requests finished.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Timed-out requests.
    pub timeouts: u64,
    /// Errors by class name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors_by_class: BTreeMap<String, u64>,
    /// Responses by HTTP status code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub status_codes: BTreeMap<u16, u64>,
    /// Latency, service time, connect, TLS handshake, upgrade, time to first byte.
    pub histograms: [String; 6],
    /// Response bytes.
    pub bytes_received: u64,
    /// Request bytes.
    pub bytes_sent: u64,
    /// Connections opened.
    pub connections_opened: u64,
    /// Connections by negotiated protocol.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub protocols: BTreeMap<String, u64>,
}

/// [`GeneratorStats`] on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorDelta {
    /// Requests sent.
    pub sends: u64,
    /// Late sends.
    pub late_sends: u64,
    /// Dropped requests.
    pub dropped: u64,
    /// Requests unfinished when the drain ended.
    pub unfinished: u64,
    /// Actual minus intended send time, encoded as the histograms of [`StatsDelta`] are.
    pub schedule_lag: String,
}

/// A message that does not decode into the metrics it stands for.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WireError(pub String);

fn histogram(text: &str, what: &str) -> Result<SparseHistogram, WireError> {
    SparseHistogram::from_base64(text).map_err(|e| WireError(format!("{what}: {e}")))
}

fn sparse(h: &LatencyHistogram) -> String {
    SparseHistogram::of(h).to_base64()
}

/// Each `(name, count)` of `counts` with the member of `all` of that name; an unknown name
/// is an error, never a silent loss.
fn named<T: Copy, const N: usize>(
    counts: &BTreeMap<String, u64>,
    all: [T; N],
    name_of: fn(T) -> &'static str,
    what: &str,
) -> Result<Vec<(T, u64)>, WireError> {
    counts
        .iter()
        .map(|(name, n)| {
            all.iter()
                .find(|x| name_of(**x) == name)
                .map(|x| (*x, *n))
                .ok_or_else(|| WireError(format!("unknown {what} '{name}'")))
        })
        .collect()
}

/// The names of [`StatsDelta::histograms`], in order.
const HISTOGRAMS: [&str; 6] = [
    "latency",
    "service_time",
    "connect",
    "tls_handshake",
    "upgrade",
    "ttfb",
];

/// A [`StatsDelta`] read and checked: its names are known and its histograms whole, so
/// merging it cannot fail (a bad message merges nothing).
#[derive(Debug, Clone)]
pub struct CheckedStats {
    delta: StatsDelta,
    classes: Vec<(ErrorClass, u64)>,
    protocols: Vec<(Protocol, u64)>,
    histograms: [SparseHistogram; 6],
}

impl StatsDelta {
    /// Encodes `s`.
    pub fn encode(s: &Stats) -> Self {
        StatsDelta {
            requests: s.requests,
            errors: s.errors,
            timeouts: s.timeouts,
            errors_by_class: s
                .errors_by_class
                .non_zero()
                .map(|(c, n)| (c.as_str().to_string(), n))
                .collect(),
            status_codes: s.status_codes.non_zero().collect(),
            histograms: [
                &s.latency,
                &s.service_time,
                &s.connect,
                &s.tls_handshake,
                &s.upgrade,
                &s.ttfb,
            ]
            .map(sparse),
            bytes_received: s.bytes_received,
            bytes_sent: s.bytes_sent,
            connections_opened: s.connections_opened,
            protocols: s
                .protocols
                .non_zero()
                .map(|(p, n)| (p.as_str().to_string(), n))
                .collect(),
        }
    }

    /// Reads the names and histograms; an unknown class or protocol name or a bad
    /// histogram is an error, never a silent loss.
    pub fn check(self) -> Result<CheckedStats, WireError> {
        let classes = named(
            &self.errors_by_class,
            ErrorClass::ALL,
            ErrorClass::as_str,
            "error class",
        )?;
        let protocols = named(&self.protocols, Protocol::ALL, Protocol::as_str, "protocol")?;
        let mut histograms = Vec::with_capacity(6);
        for (text, what) in self.histograms.iter().zip(HISTOGRAMS) {
            histograms.push(histogram(text, what)?);
        }
        Ok(CheckedStats {
            histograms: histograms.try_into().expect("six histograms"),
            classes,
            protocols,
            delta: self,
        })
    }

    /// Decodes the stats (see [`StatsDelta::check`]).
    pub fn decode(&self) -> Result<Stats, WireError> {
        let mut s = Stats::new();
        self.clone().check()?.merge_into(&mut s);
        Ok(s)
    }
}

impl CheckedStats {
    /// Adds these stats to `s`.
    pub fn merge_into(&self, s: &mut Stats) {
        let d = &self.delta;
        s.requests += d.requests;
        s.errors += d.errors;
        s.timeouts += d.timeouts;
        for (class, n) in &self.classes {
            s.errors_by_class.add_n(*class, *n);
        }
        for (code, n) in &d.status_codes {
            s.status_codes.add_n(*code, *n);
        }
        let [a, b, c, e, f, g] = &self.histograms;
        a.add_to(&mut s.latency);
        b.add_to(&mut s.service_time);
        c.add_to(&mut s.connect);
        e.add_to(&mut s.tls_handshake);
        f.add_to(&mut s.upgrade);
        g.add_to(&mut s.ttfb);
        s.bytes_received += d.bytes_received;
        s.bytes_sent += d.bytes_sent;
        s.connections_opened += d.connections_opened;
        for (p, n) in &self.protocols {
            s.protocols.add_n(*p, *n);
        }
    }
}

/// [`Deltas`] read and checked: merging them cannot fail.
#[derive(Debug, Clone)]
pub struct CheckedDeltas {
    /// The index the hello gave.
    pub worker: u32,
    /// The worker's clock estimate.
    pub clock: Option<ClockEstimate>,
    /// The seconds, in order.
    pub seconds: Vec<CheckedSecond>,
}

/// A [`SecondDelta`] read and checked.
#[derive(Debug, Clone)]
pub struct CheckedSecond {
    /// Which second of the worker's run (0-based).
    pub second: u64,
    /// The second's requests, all groups.
    pub total: CheckedStats,
    /// The second's requests by group key.
    pub groups: Vec<(String, CheckedStats)>,
    /// The generator's figures of the second.
    pub generator: CheckedGenerator,
}

impl Deltas {
    /// Reads and checks every second (see [`StatsDelta::check`]).
    pub fn check(self) -> Result<CheckedDeltas, WireError> {
        let seconds = self
            .seconds
            .into_iter()
            .map(|s| {
                Ok(CheckedSecond {
                    second: s.second,
                    total: s.total.check()?,
                    groups: s
                        .groups
                        .into_iter()
                        .map(|(k, g)| Ok((k, g.check()?)))
                        .collect::<Result<_, WireError>>()?,
                    generator: s.generator.check()?,
                })
            })
            .collect::<Result<_, WireError>>()?;
        Ok(CheckedDeltas {
            worker: self.worker,
            clock: self.clock,
            seconds,
        })
    }
}

/// A [`GeneratorDelta`] read and checked.
#[derive(Debug, Clone)]
pub struct CheckedGenerator {
    delta: GeneratorDelta,
    schedule_lag: SparseHistogram,
}

impl GeneratorDelta {
    /// Encodes `g`.
    pub fn encode(g: &GeneratorStats) -> Self {
        GeneratorDelta {
            sends: g.sends,
            late_sends: g.late_sends,
            dropped: g.dropped,
            unfinished: g.unfinished,
            schedule_lag: sparse(&g.schedule_lag),
        }
    }

    /// Reads the histogram.
    pub fn check(self) -> Result<CheckedGenerator, WireError> {
        Ok(CheckedGenerator {
            schedule_lag: histogram(&self.schedule_lag, "schedule_lag")?,
            delta: self,
        })
    }
}

impl CheckedGenerator {
    /// Adds these figures to `g`.
    pub fn merge_into(&self, g: &mut GeneratorStats) {
        g.sends += self.delta.sends;
        g.late_sends += self.delta.late_sends;
        g.dropped += self.delta.dropped;
        g.unfinished += self.delta.unfinished;
        self.schedule_lag.add_to(&mut g.schedule_lag);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn stats_survive_the_wire() {
        let mut s = Stats::new();
        s.record_response(200, Duration::from_millis(3), Duration::from_millis(2));
        s.record_response(503, Duration::from_millis(9), Duration::from_millis(8));
        s.record_error(ErrorClass::ConnectRefused);
        s.record_timeout();
        s.record_connect(Duration::from_micros(300));
        s.protocols.add(Protocol::Http1);
        s.bytes_received = 512;
        let text = serde_json::to_string(&StatsDelta::encode(&s)).unwrap();
        let back: StatsDelta = serde_json::from_str(&text).unwrap();
        assert_eq!(back.decode().unwrap(), s);
        let mut bad = back.clone();
        bad.errors_by_class.insert("no_such_class".into(), 1);
        assert!(bad.decode().is_err());
    }

    #[test]
    fn clock_offset_is_the_midpoint_estimate() {
        // The worker is 250 ms behind; the exchange took 20 ms each way.
        let c = ClockEstimate::from_exchange(1_000.0, 1_270.0, 1_040.0);
        assert_eq!(c.offset_ms, 250.0);
        assert_eq!(c.rtt_ms, 40.0);
    }
}
