//! Value parsers of the flags: text into durations, stages, headers, groupings and rates
//! at the edge, with the message clap shows next to the flag.

use std::time::Duration;

use stampede_plan::{parse_duration, parse_header, parse_stage, GroupBy, Stage};

pub(crate) fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}
pub(crate) fn stage(s: &str) -> Result<Stage, String> {
    parse_stage(s).map_err(|e| e.to_string())
}
pub(crate) fn header(s: &str) -> Result<(String, String), String> {
    parse_header(s).map_err(|e| e.to_string())
}
pub(crate) fn group_by(s: &str) -> Result<GroupBy, String> {
    GroupBy::parse(s).map_err(|e| e.to_string())
}
pub(crate) fn rate(s: &str) -> Result<f64, String> {
    let r: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if r.is_finite() && r > 0.0 {
        Ok(r)
    } else {
        Err(format!(
            "'{s}' must be a positive number of requests per second"
        ))
    }
}
