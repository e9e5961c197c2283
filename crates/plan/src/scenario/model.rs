//! The validated form of a scenario file: what the engine runs.
//!
//! The parser (`parse.rs`) turns TOML into these types once, before any load is sent:
//! templates are compiled, JSONPath and regexes are compiled, CSV feeders are loaded, and
//! every variable a template uses is known to be set by `[vars]`, a feeder, or an earlier
//! step's extraction.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::check::Check;
use crate::extract::Extractor;
use crate::feeder::Feeder;
use crate::template::{Template, VarId, VarTable};
use crate::threshold::ScopedThreshold;
use crate::{Arrival, HttpVersion, RateProfile, Shard, Stage, Target, TlsOptions};

/// A whole scenario file, validated.
#[derive(Debug, Clone)]
pub struct Journeys {
    /// The file it came from (for messages).
    pub path: PathBuf,
    /// Named targets; steps refer to them by index. Index 0 is the default.
    pub targets: Vec<JourneyTarget>,
    /// Every variable name used anywhere, interned.
    pub vars: VarTable,
    /// Values from `[vars]`, set at the start of every virtual user.
    pub initial: Vec<(VarId, Template)>,
    /// Data feeders, shared by all workers.
    pub feeders: Vec<FeederUse>,
    /// The scenarios, at least one.
    pub scenarios: Vec<Scenario>,
    /// The load applied when a scenario has none of its own (split by weight).
    pub load: JourneyLoad,
    /// How long the run lasts (sending stops then).
    pub duration: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// A cookie jar per virtual user (default on).
    pub cookies: bool,
    /// Run-wide and per-step pass/fail criteria.
    pub thresholds: Vec<ScopedThreshold>,
    /// Every file the scenario file refers to (feeders, bodies, certificates), in file
    /// order: what must travel with it to another machine.
    pub files: Vec<DataFile>,
}

/// A file a scenario file refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// The path as written in the scenario file (relative to it, or absolute).
    pub written: String,
    /// Where it was found.
    pub path: PathBuf,
}

impl Journeys {
    /// The load each scenario (lane) runs, in file order: its own, or its weight's share
    /// of the file-wide load.
    pub fn lane_loads(&self) -> Vec<JourneyLoad> {
        let shared_weight: f64 = self
            .scenarios
            .iter()
            .filter(|s| s.load.is_none())
            .map(|s| s.weight)
            .sum();
        self.scenarios
            .iter()
            .map(|s| match &s.load {
                Some(own) => own.clone(),
                None => self
                    .load
                    .scaled(s.weight / shared_weight.max(f64::MIN_POSITIVE)),
            })
            .collect()
    }

    /// True when any lane is open, so some requests have intended send times.
    pub fn is_scheduled(&self) -> bool {
        self.scenarios
            .iter()
            .any(|s| s.load.as_ref().unwrap_or(&self.load).is_scheduled())
    }

    /// Each lane's share of the journeys started per second by all open lanes (by their
    /// peak rates); `None` for closed lanes. A steered rate ([`Journeys::at_open_rate`],
    /// and the engine's rate control) is split by these shares.
    pub fn open_shares(&self) -> Vec<Option<f64>> {
        let loads = self.lane_loads();
        let peak = |l: &JourneyLoad| match l {
            JourneyLoad::Open { profile, .. } => Some(profile.peak_rate()),
            JourneyLoad::Closed { .. } => None,
        };
        let total: f64 = loads.iter().filter_map(peak).sum();
        let n = loads.iter().filter(|l| l.is_scheduled()).count().max(1) as f64;
        loads
            .iter()
            .map(|l| peak(l).map(|p| if total > 0.0 { p / total } else { 1.0 / n }))
            .collect()
    }

    /// The file with every open lane at a constant rate: `total` journeys per second
    /// split by [`Journeys::open_shares`]; closed lanes unchanged. What one step of a
    /// steered run (a capacity search) ran.
    pub fn at_open_rate(&self, total: f64) -> Journeys {
        let mut out = self.clone();
        let shares = self.open_shares();
        let loads = self.lane_loads();
        for ((scenario, load), share) in out.scenarios.iter_mut().zip(loads).zip(shares) {
            if let (
                JourneyLoad::Open {
                    arrival, max_vus, ..
                },
                Some(share),
            ) = (load, share)
            {
                scenario.load = Some(JourneyLoad::Open {
                    profile: RateProfile {
                        start_rate: total * share,
                        stages: Vec::new(),
                    },
                    arrival,
                    max_vus,
                });
            }
        }
        out
    }

    /// The file as shard `shard` runs it: every `unique` CSV feeder keeps only the rows
    /// dealt to this shard (row `k` goes to shard `k mod n`), so no row is used by two
    /// shards; sequential and random feeders are unchanged. Loads are not touched here:
    /// the engine stripes arrivals and deals closed-lane users by [`Shard`].
    pub fn dealt(&self, shard: Shard) -> Journeys {
        let mut out = self.clone();
        for f in &mut out.feeders {
            if let Some(dealt) = f.feeder.dealt(shard.index(), shard.count()) {
                f.feeder = Arc::new(dealt);
            }
        }
        out
    }

    /// The load a report shows for the whole file: the file-wide load, unless every
    /// scenario has its own (then the first scenario's); an open lane's when any lane is
    /// open and the choice is closed.
    pub fn reported_load(&self) -> &JourneyLoad {
        let shown = match self.scenarios.iter().all(|s| s.load.is_some()) {
            true => self.scenarios[0].load.as_ref().unwrap_or(&self.load),
            false => &self.load,
        };
        if shown.is_scheduled() {
            return shown;
        }
        let open_lane = self
            .scenarios
            .iter()
            .filter_map(|s| s.load.as_ref())
            .find(|l| l.is_scheduled());
        open_lane.unwrap_or(shown)
    }
}

/// One base URL with its defaults.
#[derive(Debug, Clone)]
pub struct JourneyTarget {
    /// Its name in the file (`"default"` for a lone `[target]`).
    pub name: String,
    /// The base URL; step URLs are appended to its path.
    pub base: Target,
    /// Headers sent with every request to this target.
    pub headers: Vec<(String, Template)>,
    /// TLS settings.
    pub tls: TlsOptions,
    /// HTTP/1.1 or HTTP/2.
    pub http: HttpVersion,
}

/// A feeder and the variables its columns fill.
#[derive(Debug, Clone)]
pub struct FeederUse {
    /// The loaded data.
    pub feeder: Arc<Feeder>,
    /// For each column, the variable `feeder_name.column`.
    pub columns: Vec<VarId>,
}

/// One named journey.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Unique name.
    pub name: String,
    /// Share of the file-wide load (positive); ignored when `load` is set.
    pub weight: f64,
    /// This scenario's own load, if it has one.
    pub load: Option<JourneyLoad>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// How journeys are started.
#[derive(Debug, Clone, PartialEq)]
pub enum JourneyLoad {
    /// New journeys (each a fresh virtual user) arrive at a rate, independent of how
    /// fast earlier ones finish.
    Open {
        /// Journeys started per second over time.
        profile: RateProfile,
        /// Uniform or Poisson gaps.
        arrival: Arrival,
        /// At most this many journeys in flight; arrivals beyond it are dropped and
        /// counted.
        max_vus: usize,
    },
    /// A number of virtual users, each running the journey again and again.
    Closed {
        /// Virtual users over time (`start_rate` and stage targets are VU counts).
        profile: RateProfile,
    },
}

impl JourneyLoad {
    /// True for the open model: each journey's first request has an intended send time,
    /// and its latency is measured from it.
    pub fn is_scheduled(&self) -> bool {
        matches!(self, JourneyLoad::Open { .. })
    }

    /// A share of this load: rates, virtual users and the in-flight cap times `share`.
    pub fn scaled(&self, share: f64) -> JourneyLoad {
        let scale = |p: &RateProfile| RateProfile {
            start_rate: p.start_rate * share,
            stages: p
                .stages
                .iter()
                .map(|s| Stage {
                    duration: s.duration,
                    target_rate: s.target_rate * share,
                })
                .collect(),
        };
        match self {
            JourneyLoad::Closed { profile } => JourneyLoad::Closed {
                profile: scale(profile),
            },
            JourneyLoad::Open {
                profile,
                arrival,
                max_vus,
            } => JourneyLoad::Open {
                profile: scale(profile),
                arrival: *arrival,
                max_vus: ((*max_vus as f64 * share).ceil() as usize).max(1),
            },
        }
    }
}

/// One step of a journey.
#[derive(Debug, Clone)]
pub enum Step {
    /// An HTTP request.
    Request(Box<RequestStep>),
    /// A pause.
    Think(ThinkTime),
    /// Open a WebSocket (closing any open one first).
    WsConnect(Box<WsConnectStep>),
    /// Send a text message on the open WebSocket.
    WsSend(WsSendStep),
    /// Wait for a message on the open WebSocket.
    WsExpect(WsExpectStep),
    /// Close the open WebSocket.
    WsClose,
    /// A named group of steps, run `repeat` times.
    Group {
        /// Name (for messages).
        name: String,
        /// How many times (at least 1).
        repeat: u32,
        /// The steps.
        steps: Vec<Step>,
    },
}

/// An HTTP request step.
#[derive(Debug, Clone)]
pub struct RequestStep {
    /// Unique key of this step: its row in the table, `"scenario / name"`.
    pub key: String,
    /// Index into [`Journeys::targets`].
    pub target: usize,
    /// Method, upper case.
    pub method: String,
    /// Path and query, appended to the target's base path (or a full URL path when it
    /// starts with `/` and the base path is `/`).
    pub path: Template,
    /// Headers of this step (after the target's).
    pub headers: Vec<(String, Template)>,
    /// Body, if any.
    pub body: Option<Template>,
    /// Values to take from the response.
    pub extract: Vec<(VarId, Extractor)>,
    /// Assertions; each failure is counted for this step.
    pub checks: Vec<Check>,
}

impl RequestStep {
    /// True when the response body must be kept (an extractor or a check reads it).
    pub fn needs_body(&self) -> bool {
        !self.extract.is_empty() || !self.checks.is_empty()
    }
}

/// How long a think step pauses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThinkTime {
    /// Always the same.
    Fixed(Duration),
    /// Uniform between two bounds (inclusive).
    Uniform(Duration, Duration),
    /// Exponential with this mean (a Poisson user).
    Exponential(Duration),
}

/// Opening a WebSocket.
#[derive(Debug, Clone)]
pub struct WsConnectStep {
    /// Row key, as for requests.
    pub key: String,
    /// Index into [`Journeys::targets`] (its scheme decides ws or wss).
    pub target: usize,
    /// Path and query of the upgrade request.
    pub path: Template,
    /// Headers of the upgrade request.
    pub headers: Vec<(String, Template)>,
}

/// Sending a message.
#[derive(Debug, Clone)]
pub struct WsSendStep {
    /// The message text.
    pub message: Template,
}

/// Waiting for a message.
#[derive(Debug, Clone)]
pub struct WsExpectStep {
    /// Row key: the round trip from the last send to the matching message is recorded
    /// under it.
    pub key: String,
    /// How long to wait.
    pub timeout: Duration,
    /// Messages that fail these are skipped (not errors) until one passes or time is up.
    pub matches: Vec<Check>,
    /// Values to take from the matching message (as a body).
    pub extract: Vec<(VarId, Extractor)>,
}
