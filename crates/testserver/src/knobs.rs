//! Per-request knobs parsed from the query string.
//!
//! Parsing is a single pass over the query with no allocation unless a value is
//! percent-encoded; unknown keys are ignored and a bad value is an error that the server
//! answers with `400 Bad Request`.

use std::borrow::Cow;
use std::time::Duration;

use crate::TargetError;

/// Largest generated body (`size` knob): 64 MiB.
pub(crate) const MAX_SIZE: u64 = 64 << 20;
/// Longest `delay` or `jitter` knob: one hour.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(3600);
/// Longest `cpu` knob: one second of CPU burn per request.
pub(crate) const MAX_CPU: Duration = Duration::from_secs(1);
/// Most entries in one `status` mix.
pub(crate) const MAX_STATUS_ENTRIES: usize = 8;

/// A weighted status mix such as `503:0.05,500:0.01`: each code is answered with its
/// probability; the remainder gets the normal status.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct StatusMix {
    entries: [(u16, f64); MAX_STATUS_ENTRIES],
    len: usize,
}

impl StatusMix {
    /// Parses `code[:probability][,code[:probability]...]`; a code without a probability is
    /// always answered (probability 1). Probabilities must sum to at most 1.
    pub(crate) fn parse(value: &str) -> Result<Self, TargetError> {
        let bad = |reason: &str| TargetError::invalid("status", value, reason);
        let mut mix = StatusMix::default();
        let mut total = 0.0;
        for item in value.split(',') {
            let (code, prob) = match item.split_once(':') {
                Some((code, prob)) => (code, Some(prob)),
                None => (item, None),
            };
            let code = match code.trim().parse::<u16>() {
                Ok(c) if (200..=999).contains(&c) => c,
                _ => return Err(bad("status codes must be 200..=999")),
            };
            let prob = match prob {
                None => 1.0,
                Some(p) => match p.trim().parse::<f64>() {
                    Ok(p) if (0.0..=1.0).contains(&p) => p,
                    _ => return Err(bad("probabilities must be numbers between 0 and 1")),
                },
            };
            if mix.len == MAX_STATUS_ENTRIES {
                return Err(bad("at most 8 status entries are allowed"));
            }
            total += prob;
            if total > 1.0 + 1e-9 {
                return Err(bad("probabilities add up to more than 1"));
            }
            mix.entries[mix.len] = (code, prob);
            mix.len += 1;
        }
        Ok(mix)
    }

    /// The status chosen by the uniform draw `r` in `[0, 1)`, or `None` for "no override".
    pub(crate) fn pick(&self, r: f64) -> Option<u16> {
        let mut acc = 0.0;
        for &(code, prob) in &self.entries[..self.len] {
            acc += prob;
            if r < acc {
                return Some(code);
            }
        }
        None
    }

    /// Whether the mix has no entries.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The knobs of one request.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Knobs {
    /// `delay`: added to the profile delay.
    pub(crate) delay: Duration,
    /// `jitter`: extra delay drawn uniformly from `[0, jitter]`.
    pub(crate) jitter: Duration,
    /// `status`: the status mix.
    pub(crate) status: StatusMix,
    /// `size`: generated body length in bytes.
    pub(crate) size: Option<u64>,
    /// `cpu`: wall time to busy-loop on the worker.
    pub(crate) cpu: Duration,
}

impl Knobs {
    /// Parses the query string (without the `?`), if any.
    pub(crate) fn parse(query: Option<&str>) -> Result<Self, TargetError> {
        let mut knobs = Knobs::default();
        for_each_known(
            query,
            &["delay", "jitter", "status", "size", "cpu"],
            |key, value| {
                match key {
                    "delay" => knobs.delay = parse_duration(key, value, MAX_DELAY)?,
                    "jitter" => knobs.jitter = parse_duration(key, value, MAX_DELAY)?,
                    "cpu" => knobs.cpu = parse_duration(key, value, MAX_CPU)?,
                    "status" => knobs.status = StatusMix::parse(value)?,
                    "size" => knobs.size = Some(parse_size(value)?),
                    _ => unreachable!("filtered by `known`"),
                }
                Ok(())
            },
        )?;
        Ok(knobs)
    }
}

/// Calls `apply(key, value)` for every `key=value` pair of `query` whose key is in `known`,
/// in query order, with the value percent-decoded. Other keys are ignored; a known key with an
/// empty value or a malformed escape is an error.
pub(crate) fn for_each_known(
    query: Option<&str>,
    known: &[&str],
    mut apply: impl FnMut(&str, &str) -> Result<(), TargetError>,
) -> Result<(), TargetError> {
    let Some(query) = query else {
        return Ok(());
    };
    for pair in query.split('&') {
        let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
        if !known.contains(&key) {
            continue;
        }
        let value = percent_decode(raw)
            .ok_or_else(|| TargetError::invalid(key, raw, "bad percent-encoding in the value"))?;
        let value = value.as_ref();
        if value.is_empty() {
            return Err(TargetError::invalid(key, value, "a value is required"));
        }
        apply(key, value)?;
    }
    Ok(())
}

pub(crate) fn parse_duration(
    key: &str,
    value: &str,
    max: Duration,
) -> Result<Duration, TargetError> {
    let d = humantime::parse_duration(value)
        .map_err(|_| TargetError::invalid(key, value, "not a duration (use e.g. 20ms, 1s, 1m)"))?;
    if d > max {
        return Err(TargetError::invalid(
            key,
            value,
            format!("at most {} is allowed", humantime::format_duration(max)),
        ));
    }
    Ok(d)
}

/// Parses a byte count: a plain number, or a number with suffix `k` (KiB) or `m` (MiB).
pub(crate) fn parse_size(value: &str) -> Result<u64, TargetError> {
    let bad = |reason: &str| TargetError::invalid("size", value, reason);
    let (digits, unit) = match value.as_bytes().last() {
        Some(b'k' | b'K') => (&value[..value.len() - 1], 1024),
        Some(b'm' | b'M') => (&value[..value.len() - 1], 1024 * 1024),
        _ => (value, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("not a size (use e.g. 512, 1k, 2m)"));
    }
    match digits.parse::<u64>().ok().and_then(|n| n.checked_mul(unit)) {
        Some(n) if n <= MAX_SIZE => Ok(n),
        _ => Err(bad("at most 64m is allowed")),
    }
}

/// Decodes `%XX` escapes and `+` (space); borrows when there is nothing to decode.
/// Returns `None` on a malformed escape or invalid UTF-8.
fn percent_decode(raw: &str) -> Option<Cow<'_, str>> {
    if !raw.bytes().any(|b| b == b'%' || b == b'+') {
        return Some(Cow::Borrowed(raw));
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hi = (hex[0] as char).to_digit(16)?;
                let lo = (hex[1] as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn no_query_means_defaults() {
        assert_eq!(Knobs::parse(None).unwrap(), Knobs::default());
        assert_eq!(Knobs::parse(Some("")).unwrap(), Knobs::default());
    }

    #[test]
    fn all_knobs_parse() {
        let k = Knobs::parse(Some(
            "delay=20ms&jitter=10ms&status=503:0.05&size=1k&cpu=1ms",
        ))
        .unwrap();
        assert_eq!(k.delay, ms(20));
        assert_eq!(k.jitter, ms(10));
        assert_eq!(k.size, Some(1024));
        assert_eq!(k.cpu, ms(1));
        assert_eq!(k.status.pick(0.01), Some(503));
        assert_eq!(k.status.pick(0.06), None);
    }

    #[test]
    fn unknown_keys_are_ignored() {
        let k = Knobs::parse(Some("foo=bar&delay=5ms&flag&x=")).unwrap();
        assert_eq!(k.delay, ms(5));
    }

    #[test]
    fn bad_values_name_the_key() {
        for (q, key) in [
            ("delay=abc", "delay"),
            ("jitter=-1ms", "jitter"),
            ("cpu=5s", "cpu"),
            ("size=1g", "size"),
            ("size=65m", "size"),
            ("size=", "size"),
            ("status=42", "status"),
            ("delay", "delay"),
            ("delay=2h", "delay"),
        ] {
            let e = Knobs::parse(Some(q)).unwrap_err().to_string();
            assert!(e.contains(key), "{q}: {e}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0").unwrap(), 0);
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("1k").unwrap(), 1024);
        assert_eq!(parse_size("3K").unwrap(), 3072);
        assert_eq!(parse_size("2m").unwrap(), 2 << 20);
        assert_eq!(parse_size("64m").unwrap(), MAX_SIZE);
        assert!(parse_size("64m1").is_err());
        assert!(parse_size("k").is_err());
        assert!(parse_size("1.5k").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("18014398509481984k").is_err());
    }

    #[test]
    fn status_mix() {
        let m = StatusMix::parse("503:0.05,500:0.01").unwrap();
        assert_eq!(m.pick(0.0), Some(503));
        assert_eq!(m.pick(0.049), Some(503));
        assert_eq!(m.pick(0.055), Some(500));
        assert_eq!(m.pick(0.061), None);
        assert_eq!(m.pick(0.999), None);
        let always = StatusMix::parse("404").unwrap();
        assert_eq!(always.pick(0.0), Some(404));
        assert_eq!(always.pick(0.999_999), Some(404));
        assert!(StatusMix::default().is_empty());
        assert!(StatusMix::default().pick(0.0).is_none());
    }

    #[test]
    fn status_mix_rejects_bad_input() {
        assert!(StatusMix::parse("503:0.6,500:0.6").is_err());
        assert!(StatusMix::parse("503:1.5").is_err());
        assert!(StatusMix::parse("503:x").is_err());
        assert!(StatusMix::parse("99").is_err());
        assert!(StatusMix::parse("1000").is_err());
        assert!(StatusMix::parse("503,").is_err());
        assert!(StatusMix::parse(
            "500:0.1,501:0.1,502:0.1,503:0.1,504:0.1,505:0.1,506:0.1,507:0.1,508:0.1"
        )
        .is_err());
        assert!(StatusMix::parse("500:0.5,503:0.5").is_ok());
    }

    #[test]
    fn percent_encoded_values() {
        let k = Knobs::parse(Some("status=503%3A0.5%2C500%3A0.5&delay=1s+500ms")).unwrap();
        assert_eq!(k.status.pick(0.6), Some(500));
        assert_eq!(k.delay, ms(1500));
        assert!(Knobs::parse(Some("delay=%zz")).is_err());
        assert!(Knobs::parse(Some("delay=%2")).is_err());
    }
}
