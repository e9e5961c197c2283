//! Toxics: what they are, their Toxiproxy JSON form and the `--toxic` spec syntax.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::ProxyError;

/// One fault on one direction of a proxy's connections.
#[derive(Clone, Debug, PartialEq)]
pub struct Toxic {
    /// Unique within its proxy; Toxiproxy's default is `<type>_<stream>`.
    pub name: String,
    /// What the toxic does, with its attributes.
    pub kind: ToxicKind,
    /// Which direction it applies to.
    pub stream: Stream,
    /// The fraction of connections it applies to, 0.0 to 1.0, decided per connection.
    pub toxicity: f64,
}

/// The direction of the data a toxic applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Client to upstream server.
    Upstream,
    /// Upstream server to client (Toxiproxy's default).
    Downstream,
}

/// Toxiproxy's toxic types and their attributes (milliseconds, KB = 1000 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToxicKind {
    /// Delay every chunk by `latency` ± `jitter` ms from when it was read.
    Latency {
        /// Added delay, ms.
        latency_ms: u64,
        /// Uniform jitter, ± ms.
        jitter_ms: u64,
    },
    /// Limit throughput to `rate` KB/s.
    Bandwidth {
        /// KB (1000 bytes) per second.
        rate_kb: u64,
    },
    /// Delay the close (EOF) by `delay` ms.
    SlowClose {
        /// ms.
        delay_ms: u64,
    },
    /// Stop all data and close the connection after `timeout` ms (0: never close).
    Timeout {
        /// ms.
        timeout_ms: u64,
    },
    /// Reset the connection (TCP RST) `timeout` ms after data arrives.
    ResetPeer {
        /// ms.
        timeout_ms: u64,
    },
    /// Slice each chunk into pieces of `average_size` ± `size_variation` bytes, `delay` µs apart.
    Slicer {
        /// Bytes.
        average_size: u64,
        /// Bytes.
        size_variation: u64,
        /// µs between pieces.
        delay_us: u64,
    },
    /// Close the connection after `bytes` bytes in this direction.
    LimitData {
        /// Bytes.
        bytes: u64,
    },
}

/// The toxic types, in Toxiproxy's names.
pub const TYPES: [&str; 7] = [
    "latency",
    "bandwidth",
    "slow_close",
    "timeout",
    "reset_peer",
    "slicer",
    "limit_data",
];

impl ToxicKind {
    /// Toxiproxy's `type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            ToxicKind::Latency { .. } => "latency",
            ToxicKind::Bandwidth { .. } => "bandwidth",
            ToxicKind::SlowClose { .. } => "slow_close",
            ToxicKind::Timeout { .. } => "timeout",
            ToxicKind::ResetPeer { .. } => "reset_peer",
            ToxicKind::Slicer { .. } => "slicer",
            ToxicKind::LimitData { .. } => "limit_data",
        }
    }

    /// The attributes object, with Toxiproxy's names.
    pub fn attributes(&self) -> Value {
        match *self {
            ToxicKind::Latency {
                latency_ms,
                jitter_ms,
            } => json!({"latency": latency_ms, "jitter": jitter_ms}),
            ToxicKind::Bandwidth { rate_kb } => json!({ "rate": rate_kb }),
            ToxicKind::SlowClose { delay_ms } => json!({ "delay": delay_ms }),
            ToxicKind::Timeout { timeout_ms } | ToxicKind::ResetPeer { timeout_ms } => {
                json!({ "timeout": timeout_ms })
            }
            ToxicKind::Slicer {
                average_size,
                size_variation,
                delay_us,
            } => {
                json!({"average_size": average_size, "size_variation": size_variation, "delay": delay_us})
            }
            ToxicKind::LimitData { bytes } => json!({ "bytes": bytes }),
        }
    }

    /// Builds a kind from its type name and attributes; missing attributes are 0 as in
    /// Toxiproxy, negative or fractional ones are an error.
    pub fn from_attributes(
        kind: &str,
        attrs: &Map<String, Value>,
    ) -> Result<ToxicKind, ProxyError> {
        let allowed: &[&str] = match kind {
            "latency" => &["latency", "jitter"],
            "bandwidth" => &["rate"],
            "slow_close" => &["delay"],
            "timeout" | "reset_peer" => &["timeout"],
            "slicer" => &["average_size", "size_variation", "delay"],
            "limit_data" => &["bytes"],
            other => return Err(ProxyError::InvalidToxicType(other.to_string())),
        };
        if let Some(unknown) = attrs.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ProxyError::BadToxic(format!(
                "unknown attribute `{unknown}` for {kind} (expected {})",
                allowed.join(", ")
            )));
        }
        let get = |name: &str| -> Result<u64, ProxyError> {
            match attrs.get(name) {
                None | Some(Value::Null) => Ok(0),
                Some(v) => v.as_u64().ok_or_else(|| {
                    ProxyError::BadToxic(format!(
                        "attribute `{name}` of {kind} must be a whole number >= 0, got {v}"
                    ))
                }),
            }
        };
        Ok(match kind {
            "latency" => ToxicKind::Latency {
                latency_ms: get("latency")?,
                jitter_ms: get("jitter")?,
            },
            "bandwidth" => ToxicKind::Bandwidth {
                rate_kb: get("rate")?,
            },
            "slow_close" => ToxicKind::SlowClose {
                delay_ms: get("delay")?,
            },
            "timeout" => ToxicKind::Timeout {
                timeout_ms: get("timeout")?,
            },
            "reset_peer" => ToxicKind::ResetPeer {
                timeout_ms: get("timeout")?,
            },
            "slicer" => ToxicKind::Slicer {
                average_size: get("average_size")?,
                size_variation: get("size_variation")?,
                delay_us: get("delay")?,
            },
            _ => ToxicKind::LimitData {
                bytes: get("bytes")?,
            },
        })
    }
}

/// Toxiproxy's JSON form of a toxic.
#[derive(Serialize, Deserialize)]
struct ToxicJson {
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    stream: Option<Stream>,
    #[serde(default)]
    toxicity: Option<f64>,
    #[serde(default)]
    attributes: Map<String, Value>,
}

impl Serialize for Toxic {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Value::Object(attributes) = self.kind.attributes() else {
            unreachable!("attributes are an object")
        };
        ToxicJson {
            name: Some(self.name.clone()),
            kind: Some(self.kind.type_name().to_string()),
            stream: Some(self.stream),
            toxicity: Some(self.toxicity),
            attributes,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Toxic {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = ToxicJson::deserialize(d)?;
        Toxic::from_json(raw).map_err(serde::de::Error::custom)
    }
}

impl Toxic {
    fn from_json(raw: ToxicJson) -> Result<Toxic, ProxyError> {
        let kind_name = raw
            .kind
            .ok_or_else(|| ProxyError::BadToxic("missing field `type`".into()))?;
        let kind = ToxicKind::from_attributes(&kind_name, &raw.attributes)?;
        let stream = raw.stream.unwrap_or(Stream::Downstream);
        let toxicity = raw.toxicity.unwrap_or(1.0);
        check_toxicity(toxicity)?;
        let name = raw
            .name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| default_name(&kind, stream));
        Ok(Toxic {
            name,
            kind,
            stream,
            toxicity,
        })
    }

    /// Reads a toxic from Toxiproxy's JSON (`{"type": "latency", "attributes": {...}}`).
    pub fn from_json_value(v: Value) -> Result<Toxic, ProxyError> {
        let raw: ToxicJson =
            serde_json::from_value(v).map_err(|e| ProxyError::BadToxic(e.to_string()))?;
        Toxic::from_json(raw)
    }

    /// A toxic with Toxiproxy's defaults: downstream, toxicity 1, named `<type>_<stream>`.
    pub fn new(kind: ToxicKind) -> Toxic {
        Toxic {
            name: default_name(&kind, Stream::Downstream),
            kind,
            stream: Stream::Downstream,
            toxicity: 1.0,
        }
    }
}

/// Toxiproxy's default toxic name.
pub(crate) fn default_name(kind: &ToxicKind, stream: Stream) -> String {
    let s = match stream {
        Stream::Upstream => "upstream",
        Stream::Downstream => "downstream",
    };
    format!("{}_{s}", kind.type_name())
}

/// A toxicity must be a fraction.
pub(crate) fn check_toxicity(t: f64) -> Result<(), ProxyError> {
    if (0.0..=1.0).contains(&t) {
        Ok(())
    } else {
        Err(ProxyError::BadToxic(format!(
            "toxicity must be between 0 and 1, got {t}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_uses_toxiproxy_names() {
        let v = json!({"name": "lag", "type": "latency", "stream": "upstream", "toxicity": 0.5,
                       "attributes": {"latency": 100, "jitter": 10}});
        let t = Toxic::from_json_value(v.clone()).unwrap();
        assert_eq!(
            t.kind,
            ToxicKind::Latency {
                latency_ms: 100,
                jitter_ms: 10
            }
        );
        assert_eq!(t.stream, Stream::Upstream);
        assert_eq!(serde_json::to_value(&t).unwrap(), v);
    }

    #[test]
    fn json_defaults_and_errors() {
        let t = Toxic::from_json_value(json!({"type": "bandwidth", "attributes": {"rate": 100}}))
            .unwrap();
        assert_eq!(t.name, "bandwidth_downstream");
        assert_eq!(t.toxicity, 1.0);
        let e = Toxic::from_json_value(json!({"type": "nope"})).unwrap_err();
        assert_eq!(e.http_status(), 400);
        assert!(e.to_string().contains("nope"));
        let e = Toxic::from_json_value(json!({"type": "latency", "attributes": {"latency": -5}}))
            .unwrap_err();
        assert!(e.to_string().contains(">= 0"), "{e}");
        let e = Toxic::from_json_value(json!({"type": "latency", "toxicity": 2.0})).unwrap_err();
        assert!(e.to_string().contains("toxicity"), "{e}");
    }
}
