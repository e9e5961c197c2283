//! The scenario file as TOML sees it: every key the format allows, with the position of
//! every value that gets a semantic check later. `parse.rs` turns this into the model.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// A TOML table kept as a list of entries in file order, with the position of each key.
#[derive(Debug)]
pub(super) struct Entries<V>(pub(super) Vec<(Spanned<String>, V)>);

impl<V> Default for Entries<V> {
    fn default() -> Self {
        Entries(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Entries<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
            type Value = Entries<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<Spanned<String>>()? {
                    let v = map.next_value::<V>()?;
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V2(PhantomData))
    }
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) target: Option<Spanned<RawTarget>>,
    pub(super) targets: Option<Entries<Spanned<RawTarget>>>,
    pub(super) load: Option<Spanned<RawLoad>>,
    pub(super) options: Option<RawOptions>,
    pub(super) vars: Option<Entries<Spanned<String>>>,
    pub(super) feeders: Option<Entries<Spanned<RawFeeder>>>,
    pub(super) thresholds: Option<Vec<Spanned<String>>>,
    pub(super) scenarios: Option<Vec<Spanned<RawScenario>>>,
    /// `[matrix.AXIS] LEVEL = { ... }`: read by `stampede matrix` only.
    pub(super) matrix: Option<Spanned<RawMatrix>>,
}

/// `[matrix]`: axis name -> (level name -> level), in file order.
pub(super) type RawMatrix = Entries<Spanned<Entries<Spanned<RawLevel>>>>;

/// One level of a `[matrix.AXIS]` table: what it changes in a target, and variables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLevel {
    /// The target it changes (`[targets.NAME]`); the default target when absent.
    pub(super) target: Option<Spanned<String>>,
    pub(super) base_url: Option<Spanned<String>>,
    pub(super) headers: Option<Entries<Spanned<String>>>,
    pub(super) insecure: Option<bool>,
    pub(super) cacert: Option<Spanned<String>>,
    pub(super) cert: Option<Spanned<String>>,
    pub(super) key: Option<Spanned<String>>,
    pub(super) http2: Option<bool>,
    pub(super) streams: Option<Spanned<i64>>,
    pub(super) vars: Option<Entries<Spanned<String>>>,
}

/// `[target]` / `[targets.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    pub(super) base_url: Spanned<String>,
    pub(super) headers: Option<Entries<Spanned<String>>>,
    pub(super) insecure: Option<bool>,
    pub(super) cacert: Option<Spanned<String>>,
    pub(super) cert: Option<Spanned<String>>,
    pub(super) key: Option<Spanned<String>>,
    pub(super) http2: Option<bool>,
    pub(super) streams: Option<Spanned<i64>>,
}

/// `model = ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum RawModel {
    Open,
    Closed,
}

/// `arrival = ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum RawArrival {
    Uniform,
    Poisson,
}

/// `[load]` or a scenario's `load`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLoad {
    pub(super) model: Option<Spanned<RawModel>>,
    pub(super) rate: Option<Spanned<f64>>,
    pub(super) vus: Option<Spanned<i64>>,
    pub(super) start: Option<Spanned<f64>>,
    pub(super) stages: Option<Vec<Spanned<RawStage>>>,
    pub(super) arrival: Option<Spanned<RawArrival>>,
    pub(super) max_vus: Option<Spanned<i64>>,
    pub(super) duration: Option<Spanned<String>>,
    pub(super) timeout: Option<Spanned<String>>,
}

/// One ramp stage.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStage {
    pub(super) duration: Spanned<String>,
    pub(super) target: Spanned<f64>,
}

/// `[options]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOptions {
    pub(super) cookies: Option<bool>,
}

/// `mode = ...` of a feeder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum RawFeederMode {
    Sequential,
    Random,
    Unique,
}

/// `[feeders.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFeeder {
    pub(super) file: Spanned<String>,
    pub(super) mode: Option<RawFeederMode>,
}

/// `[[scenarios]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub(super) name: Spanned<String>,
    pub(super) weight: Option<Spanned<f64>>,
    pub(super) load: Option<Spanned<RawLoad>>,
    pub(super) steps: Option<Vec<Spanned<RawStep>>>,
}

/// A step: the union of the keys of every kind; `parse.rs` checks which belong together.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    pub(super) name: Option<Spanned<String>>,
    pub(super) method: Option<Spanned<String>>,
    pub(super) url: Option<Spanned<String>>,
    pub(super) headers: Option<Spanned<Entries<Spanned<String>>>>,
    pub(super) body: Option<Spanned<String>>,
    pub(super) body_file: Option<Spanned<String>>,
    pub(super) target: Option<Spanned<String>>,
    pub(super) extract: Option<Spanned<Entries<Spanned<RawExtract>>>>,
    pub(super) checks: Option<Spanned<RawChecks>>,
    pub(super) thresholds: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) think: Option<Spanned<RawThink>>,
    pub(super) ws_connect: Option<Spanned<String>>,
    pub(super) ws_send: Option<Spanned<String>>,
    pub(super) ws_expect: Option<Spanned<RawWsExpect>>,
    pub(super) ws_close: Option<Spanned<bool>>,
    pub(super) steps: Option<Spanned<Vec<Spanned<RawStep>>>>,
    pub(super) repeat: Option<Spanned<i64>>,
}

/// `think = "1s"`, `{ uniform = [a, b] }` or `{ exponential = mean }`.
#[derive(Debug)]
pub(super) enum RawThink {
    Fixed(String),
    Table(RawThinkTable),
}

/// The table form of `think`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawThinkTable {
    pub(super) uniform: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) exponential: Option<Spanned<String>>,
}

impl<'de> Deserialize<'de> for RawThink {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawThink;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a duration such as \"1s\", { uniform = [\"1s\", \"3s\"] } or { exponential = \"2s\" }",
                )
            }
            // A string arrives without its position; the caller's `Spanned<RawThink>` has it.
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawThink::Fixed(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawThinkTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawThink::Table)
            }
        }
        d.deserialize_any(V)
    }
}

/// One extraction: exactly one of `json`, `regex`, `header`, `status`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExtract {
    pub(super) json: Option<Spanned<String>>,
    pub(super) regex: Option<Spanned<String>>,
    pub(super) group: Option<Spanned<i64>>,
    pub(super) header: Option<Spanned<String>>,
    pub(super) status: Option<Spanned<bool>>,
}

/// `checks = { ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChecks {
    pub(super) status: Option<Spanned<toml::Value>>,
    pub(super) body_contains: Option<Spanned<String>>,
    pub(super) json: Option<Entries<Spanned<toml::Value>>>,
    pub(super) latency: Option<Spanned<String>>,
    pub(super) header: Option<Entries<Spanned<String>>>,
}

/// `ws_expect = { ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWsExpect {
    pub(super) contains: Option<Spanned<String>>,
    pub(super) json: Option<Entries<Spanned<toml::Value>>>,
    pub(super) timeout: Option<Spanned<String>>,
}
