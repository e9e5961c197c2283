//! `--start-at`: the wall-clock instant of a run's time zero, shared by its shards.

use std::time::{Duration, SystemTime};

use crate::{parse_duration, PlanError};

/// How far in the past a `--start-at` instant may be and still be accepted (the run then
/// starts at once and records how late it was); anything older is refused.
pub const START_AT_TOLERANCE: Duration = Duration::from_secs(1);

/// Parses `--start-at`: an RFC 3339 instant (`2026-11-29T21:00:00Z`, fractional seconds
/// allowed) or `+DURATION` from `now` (`+30s`). An instant more than
/// [`START_AT_TOLERANCE`] before `now` is an error.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use stampede_plan::parse_start_at;
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
/// assert_eq!(parse_start_at("+30s", now).unwrap(), now + Duration::from_secs(30));
/// let at = parse_start_at("2027-01-15T08:00:00.5Z", now).unwrap();
/// assert_eq!(at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis(), 1_800_000_000_500);
/// assert!(parse_start_at("2020-01-01T00:00:00Z", now).is_err());
/// ```
pub fn parse_start_at(text: &str, now: SystemTime) -> Result<SystemTime, PlanError> {
    let t = text.trim();
    let bad = |reason: String| PlanError::Value {
        what: "--start-at",
        value: text.to_string(),
        reason,
    };
    let at = match t.strip_prefix('+') {
        Some(d) => now + parse_duration(d).map_err(|e| bad(e.to_string()))?,
        None => humantime::parse_rfc3339_weak(t).map_err(|_| {
            bad(
                "expected an RFC 3339 time such as 2026-11-29T21:00:00Z, or +DURATION such as +30s"
                    .into(),
            )
        })?,
    };
    if let Ok(ago) = now.duration_since(at) {
        if ago > START_AT_TOLERANCE {
            return Err(bad(format!(
                "that is {:.1} s in the past; give a later time or +DURATION (an instant \
                 less than {} s past starts at once)",
                ago.as_secs_f64(),
                START_AT_TOLERANCE.as_secs()
            )));
        }
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_errors() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(
            parse_start_at("+1m", now).unwrap(),
            now + Duration::from_secs(60)
        );
        // Just past: accepted (the run starts at once and records the error).
        let recent = humantime::format_rfc3339(now - Duration::from_millis(500)).to_string();
        assert!(parse_start_at(&recent, now).is_ok());
        let e = parse_start_at("2027-13-01T00:00:00Z", now)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--start-at") && e.contains("RFC 3339"), "{e}");
        let e = parse_start_at("+soon", now).unwrap_err().to_string();
        assert!(e.contains("--start-at '+soon'"), "{e}");
        let old = humantime::format_rfc3339(now - Duration::from_secs(5)).to_string();
        let e = parse_start_at(&old, now).unwrap_err().to_string();
        assert!(e.contains("5.0 s in the past"), "{e}");
    }
}
