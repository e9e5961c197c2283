//! The `--toxic` spec syntax: `latency=100ms,jitter=10ms,stream=upstream,toxicity=0.5`.

use std::time::Duration;

use crate::toxic::{check_toxicity, default_name, TYPES};
use crate::{ProxyError, Stream, Toxic, ToxicKind};

impl Toxic {
    /// Parses the `--toxic` syntax: comma-separated `key=value` pairs. A key that is a toxic
    /// type (`latency=100ms`, `bandwidth=100KB`, `slow_close=1s`, `timeout=5s`,
    /// `reset_peer=0s`, `slicer=64B`, `limit_data=10KB`) starts a new toxic with its main
    /// attribute; the pairs after it set its other attributes (`jitter=`, `variation=`,
    /// `delay=`) and options (`stream=upstream|downstream`, `toxicity=0.5`, `name=`).
    /// Durations take humantime units (`ms`, `s`, `us`); sizes take `B`, `KB`, `MB` (powers of
    /// 1000, as Toxiproxy's `rate` is in KB/s).
    pub fn parse_spec(spec: &str) -> Result<Vec<Toxic>, ProxyError> {
        parse(spec)
    }
}

/// Parses a spec into its toxics (see [`Toxic::parse_spec`]).
pub(crate) fn parse(spec: &str) -> Result<Vec<Toxic>, ProxyError> {
    let mut out: Vec<(Toxic, bool)> = Vec::new();
    for part in spec.split(',').map(str::trim) {
        let bad = |why: String| ProxyError::BadToxic(format!("`{part}` in `{spec}`: {why}"));
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| bad("expected key=value".into()))?;
        let (key, value) = (key.trim(), value.trim());
        if TYPES.contains(&key) {
            out.push((Toxic::new(main_attribute(key, value).map_err(bad)?), false));
            continue;
        }
        let Some((toxic, named)) = out.last_mut() else {
            return Err(bad(format!(
                "a spec starts with a toxic type ({})",
                TYPES.join(", ")
            )));
        };
        set_option(toxic, named, key, value).map_err(bad)?;
    }
    if out.is_empty() {
        return Err(ProxyError::BadToxic(format!("empty toxic spec `{spec}`")));
    }
    Ok(out
        .into_iter()
        .map(|(mut t, named)| {
            if !named {
                t.name = default_name(&t.kind, t.stream);
            }
            t
        })
        .collect())
}

fn main_attribute(kind: &str, v: &str) -> Result<ToxicKind, String> {
    Ok(match kind {
        "latency" => ToxicKind::Latency {
            latency_ms: millis(v)?,
            jitter_ms: 0,
        },
        "bandwidth" => {
            let bytes = size(v.trim_end_matches("/s"))?;
            if bytes < 1000 || bytes % 1000 != 0 {
                return Err("bandwidth is a whole number of KB/s (1 KB = 1000 bytes)".into());
            }
            ToxicKind::Bandwidth {
                rate_kb: bytes / 1000,
            }
        }
        "slow_close" => ToxicKind::SlowClose {
            delay_ms: millis(v)?,
        },
        "timeout" => ToxicKind::Timeout {
            timeout_ms: millis(v)?,
        },
        "reset_peer" => ToxicKind::ResetPeer {
            timeout_ms: millis(v)?,
        },
        "slicer" => ToxicKind::Slicer {
            average_size: size(v)?,
            size_variation: 0,
            delay_us: 0,
        },
        _ => ToxicKind::LimitData { bytes: size(v)? },
    })
}

fn set_option(t: &mut Toxic, named: &mut bool, key: &str, v: &str) -> Result<(), String> {
    match (key, &mut t.kind) {
        ("stream", _) => {
            t.stream = match v {
                "upstream" | "up" => Stream::Upstream,
                "downstream" | "down" => Stream::Downstream,
                _ => return Err("stream is upstream or downstream".into()),
            }
        }
        ("toxicity", _) => {
            t.toxicity = v
                .parse()
                .map_err(|_| "toxicity is a number from 0 to 1".to_string())?;
            check_toxicity(t.toxicity).map_err(|e| e.to_string())?;
        }
        ("name", _) if !v.is_empty() => {
            t.name = v.to_string();
            *named = true;
        }
        ("jitter", ToxicKind::Latency { jitter_ms, .. }) => *jitter_ms = millis(v)?,
        ("variation" | "size_variation", ToxicKind::Slicer { size_variation, .. }) => {
            *size_variation = size(v)?
        }
        ("delay", ToxicKind::Slicer { delay_us, .. }) => {
            *delay_us = u64::try_from(duration(v)?.as_micros()).map_err(|e| e.to_string())?
        }
        _ => {
            return Err(format!(
                "unknown option `{key}` for {} (options: stream, toxicity, name{})",
                t.kind.type_name(),
                match t.kind {
                    ToxicKind::Latency { .. } => ", jitter",
                    ToxicKind::Slicer { .. } => ", variation, delay",
                    _ => "",
                }
            ))
        }
    }
    Ok(())
}

fn duration(v: &str) -> Result<Duration, String> {
    humantime::parse_duration(v).map_err(|e| format!("`{v}` is not a duration like 100ms: {e}"))
}

fn millis(v: &str) -> Result<u64, String> {
    let d = duration(v)?;
    if d.subsec_nanos() % 1_000_000 != 0 {
        return Err(format!("`{v}`: whole milliseconds only"));
    }
    u64::try_from(d.as_millis()).map_err(|e| e.to_string())
}

/// A size in bytes: `512`, `512B`, `100KB`, `1MB` (powers of 1000).
fn size(v: &str) -> Result<u64, String> {
    let upper = v.to_ascii_uppercase();
    let (num, mult) = if let Some(n) = upper.strip_suffix("MB") {
        (n, 1_000_000)
    } else if let Some(n) = upper.strip_suffix("KB") {
        (n, 1000)
    } else {
        (upper.strip_suffix('B').unwrap_or(&upper), 1)
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{v}` is not a size like 100KB (B, KB, MB)"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{v}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        let t = parse("latency=100ms,jitter=10ms").unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(
            t[0].kind,
            ToxicKind::Latency {
                latency_ms: 100,
                jitter_ms: 10
            }
        );
        assert_eq!(t[0].name, "latency_downstream");
        let t = parse("bandwidth=100KB,stream=upstream,toxicity=0.5").unwrap();
        assert_eq!(t[0].kind, ToxicKind::Bandwidth { rate_kb: 100 });
        assert_eq!((t[0].stream, t[0].toxicity), (Stream::Upstream, 0.5));
        assert_eq!(t[0].name, "bandwidth_upstream");
        let t = parse("latency=2s,reset_peer=0s,toxicity=0.01,name=drop").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].name, "drop");
        assert_eq!(t[0].toxicity, 1.0);
        let t = parse("slicer=64B,variation=16,delay=50us").unwrap();
        assert_eq!(
            t[0].kind,
            ToxicKind::Slicer {
                average_size: 64,
                size_variation: 16,
                delay_us: 50
            }
        );
        assert_eq!(
            parse("limit_data=1MB").unwrap()[0].kind,
            ToxicKind::LimitData { bytes: 1_000_000 }
        );
    }

    #[test]
    fn spec_errors_name_the_part() {
        for (spec, needle) in [
            ("jitter=10ms", "starts with a toxic type"),
            ("latency=fast", "`latency=fast`"),
            ("latency=100ms,rate=3", "unknown option `rate`"),
            ("bandwidth=1500B", "whole number of KB/s"),
            ("latency=1ms,toxicity=1.5", "toxicity"),
            ("latency", "key=value"),
            ("packetloss=1", "starts with a toxic type"),
        ] {
            let e = parse(spec).unwrap_err().to_string();
            assert!(e.contains(needle), "{spec}: {e}");
        }
    }
}
