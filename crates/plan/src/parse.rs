//! Parsers for flag values: durations, stages, headers.

use std::time::Duration;

use crate::{PlanError, Stage};

/// Parses a human duration such as `500ms`, `10s`, `2m`, `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, PlanError> {
    humantime::parse_duration(text.trim()).map_err(|e| PlanError::Value {
        what: "duration",
        value: text.to_string(),
        reason: format!("{e} (examples: 500ms, 10s, 2m)"),
    })
}

/// Parses a ramp stage `DURATION:RATE`, e.g. `30s:2000`: over 30 s the arrival rate
/// moves linearly from the previous stage's rate to 2000 requests per second.
pub fn parse_stage(text: &str) -> Result<Stage, PlanError> {
    let bad = |reason: &str| PlanError::Value {
        what: "stage",
        value: text.to_string(),
        reason: format!("{reason} (expected DURATION:RATE, e.g. 30s:2000)"),
    };
    let (d, r) = text.split_once(':').ok_or_else(|| bad("missing ':'"))?;
    let duration = parse_duration(d).map_err(|_| bad("bad duration"))?;
    let target_rate: f64 = r.trim().parse().map_err(|_| bad("bad rate"))?;
    if !target_rate.is_finite() || target_rate < 0.0 {
        return Err(bad("rate must be a non-negative number"));
    }
    if duration.is_zero() {
        return Err(bad("duration must be positive"));
    }
    Ok(Stage {
        duration,
        target_rate,
    })
}

/// Parses a header `Name: value`.
pub fn parse_header(text: &str) -> Result<(String, String), PlanError> {
    let bad = |reason: &str| PlanError::Value {
        what: "header",
        value: text.to_string(),
        reason: reason.to_string(),
    };
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| bad("expected 'Name: value'"))?;
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(bad("header name must be a non-empty HTTP token"));
    }
    let value = value.trim();
    if value.bytes().any(|b| b == b'\r' || b == b'\n') {
        return Err(bad("header value must not contain line breaks"));
    }
    Ok((name.to_string(), value.to_string()))
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        let e = parse_duration("ten").unwrap_err().to_string();
        assert!(e.contains("ten"), "{e}");
    }

    #[test]
    fn stages() {
        let s = parse_stage("10s:100").unwrap();
        assert_eq!(s.duration, Duration::from_secs(10));
        assert_eq!(s.target_rate, 100.0);
        assert!(parse_stage("10s").is_err());
        assert!(parse_stage("0s:5").is_err());
        assert!(parse_stage("1s:-5").is_err());
        assert!(parse_stage("1s:abc").is_err());
    }

    #[test]
    fn headers() {
        assert_eq!(
            parse_header("X-Test:  a b ").unwrap(),
            ("X-Test".to_string(), "a b".to_string())
        );
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("Bad Name: x").is_err());
        assert!(parse_header("X: a\r\nInjected: b").is_err());
    }
}
