//! The outage log: what `stampede target --outage-log FILE` writes as its instances go
//! down and come back, one JSON object a line (JSON Lines, schema
//! [`OUTAGE_LOG_SCHEMA`]), with wall-clock times, so that `stampede run --outage-log FILE`
//! can put the outages on its own clock (`faults[]`).
//!
//! ```
//! use stampede_result::{parse_outage_log, OutageChange};
//!
//! let log = r#"{"version":1,"instance":"target-2","addr":"127.0.0.1:8081","event":"down","at":"2026-11-30T00:10:03.001Z","since_start_s":3.001}"#;
//! let events = parse_outage_log(log).unwrap();
//! assert_eq!(events[0].event, OutageChange::Down);
//! ```

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// The version every line of an outage log carries.
pub const OUTAGE_LOG_VERSION: u32 = 1;

/// The JSON Schema of one line of an outage log ([`OutageEventDoc`]).
pub const OUTAGE_LOG_SCHEMA: &str = include_str!("../schema/outage-log.schema.json");

/// Down or up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutageChange {
    /// The instance went down: its listener closed (connects refused), its connections
    /// closed.
    Down,
    /// It came back: listening on the same address again.
    Up,
}

/// One line of an outage log: an instance going down or coming back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutageEventDoc {
    /// [`OUTAGE_LOG_VERSION`].
    pub version: u32,
    /// The instance's name (`target-2`, its `X-Served-By`).
    pub instance: String,
    /// Its address (`127.0.0.1:8081`).
    pub addr: String,
    /// `down` or `up`.
    pub event: OutageChange,
    /// When it happened: RFC 3339, UTC, milliseconds (`2026-11-30T00:10:03.001Z`).
    pub at: String,
    /// When it happened in seconds since the target started.
    pub since_start_s: f64,
}

impl OutageEventDoc {
    /// The event's wall-clock time (checked by [`parse_outage_log`]).
    pub fn at(&self) -> SystemTime {
        humantime::parse_rfc3339(&self.at).unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// A line of an outage log that is not one event.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct OutageLogError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// The events of an outage log, in file order; blank lines are skipped.
pub fn parse_outage_log(text: &str) -> Result<Vec<OutageEventDoc>, OutageLogError> {
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let error = |column: usize, message: String| OutageLogError {
            line: i + 1,
            column,
            message,
        };
        let event: OutageEventDoc =
            serde_json::from_str(line).map_err(|e| error(e.column().max(1), e.to_string()))?;
        if event.version != OUTAGE_LOG_VERSION {
            return Err(error(
                1,
                format!(
                    "version {} is not readable (this stampede reads version {OUTAGE_LOG_VERSION})",
                    event.version
                ),
            ));
        }
        if humantime::parse_rfc3339(&event.at).is_err() {
            return Err(error(
                line.find(&event.at).map_or(1, |c| c + 1),
                format!("at '{}' is not an RFC 3339 UTC time", event.at),
            ));
        }
        events.push(event);
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOWN: &str = r#"{"version":1,"instance":"target-2","addr":"127.0.0.1:8081","event":"down","at":"2026-11-30T00:10:03.001Z","since_start_s":3.001}"#;

    #[test]
    fn lines_round_trip_and_blank_lines_are_skipped() {
        let events =
            parse_outage_log(&format!("{DOWN}\n\n{}\n", DOWN.replace("down", "up"))).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(
            (events[0].event, events[1].event),
            (OutageChange::Down, OutageChange::Up)
        );
        assert_eq!(serde_json::to_string(&events[0]).unwrap(), DOWN);
        let at = events[0]
            .at()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap();
        assert_eq!(at.as_millis() % 1000, 1);
    }

    #[test]
    fn bad_lines_name_line_and_column() {
        let e = |text: &str| parse_outage_log(text).unwrap_err().to_string();
        assert!(e(&format!("{DOWN}\n{{\"version\":1,")).starts_with("line 2, column "));
        assert!(e(&DOWN.replace("\"down\"", "\"sideways\"")).contains("unknown variant"));
        assert!(e(&DOWN.replace("\"version\":1", "\"version\":9")).contains("version 9"));
        let bad_time = e(&DOWN.replace("2026-11-30T00:10:03.001Z", "yesterday"));
        assert!(bad_time.starts_with("line 1, column 81:"), "{bad_time}");
        assert!(e(&DOWN.replace("}", ",\"x\":1}")).contains("unknown field"));
    }

    #[test]
    fn lines_validate_against_the_committed_schema() {
        let schema: serde_json::Value = serde_json::from_str(OUTAGE_LOG_SCHEMA).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let event = &parse_outage_log(DOWN).unwrap()[0];
        let line = serde_json::to_value(event).unwrap();
        assert!(validator.is_valid(&line), "{line}");
        let mut bad = line.clone();
        bad["event"] = "sideways".into();
        assert!(!validator.is_valid(&bad));
    }
}
