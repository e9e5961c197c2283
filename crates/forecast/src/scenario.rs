//! The scenario file that verifies a plan with a real run (docs/scenarios.md): the
//! fleet polling every interval, or holding WebSockets with a heartbeat.
//!
//! Every device is a virtual user of a closed model. Aligned check-ins start the whole
//! fleet at t=0; jittered ones bring the devices online evenly over the first interval
//! (even spacing stands in for random jitter: same average, no random bursts). After
//! each exchange a device thinks for the interval minus the planned service time, so
//! that it checks in once per interval when the server answers as planned.

use std::fmt::Write as _;
use std::time::Duration;

use crate::fleet::{Fleet, Jitter};

/// Which side of the plan the scenario runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// HTTP polling: `POST` the payload to the URL every interval.
    Poll,
    /// A WebSocket held for the hold time, a heartbeat every interval.
    WebSocket,
}

/// Scenario names and step names, which `check` looks for in a result.
pub const POLL_ROW: &str = "poll / checkin";
/// The WebSocket upgrade's row.
pub const CONNECT_ROW: &str = "ws / connect";
/// The heartbeat round trip's row.
pub const HEARTBEAT_ROW: &str = "ws / heartbeat";

/// The body of a check-in: exactly `bytes` bytes (JSON from 12 bytes on).
pub fn payload(bytes: u64) -> String {
    let n = bytes as usize;
    if n < 12 {
        return "x".repeat(n);
    }
    format!("{{\"pad\":\"{}\"}}", "x".repeat(n - 10))
}

/// `scheme://authority` and the rest (path and query, `/` when empty) of a URL.
fn split_url(url: &str) -> (String, String) {
    let start = url.find("://").map_or(0, |i| i + 3);
    match url[start..].find('/') {
        Some(i) => (url[..start + i].to_string(), url[start + i..].to_string()),
        None => (url.to_string(), "/".to_string()),
    }
}

fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// The think time after an exchange: the interval minus the planned service time (at
/// least 1 ms).
pub fn think(fleet: &Fleet) -> Duration {
    fleet
        .every
        .saturating_sub(fleet.service_time)
        .max(Duration::from_millis(1))
}

/// Heartbeats per WebSocket connection: the hold time in intervals (at least one);
/// without a hold, enough for the whole run.
pub fn heartbeats_per_connection(fleet: &Fleet, duration: Duration) -> u64 {
    let every = fleet.every.as_secs_f64();
    match fleet.hold {
        Some(h) => ((h.as_secs_f64() / every).round() as u64).max(1),
        None => (duration.as_secs_f64() / every).ceil() as u64 + 1,
    }
}

/// The scenario file's text. `url` is the poll URL (`http://host/path?query`), or for
/// the WebSocket side the `ws://` or `http://` URL of the WebSocket endpoint; `command`
/// is the command line that made it, for the header comment.
pub fn emit(fleet: &Fleet, side: Side, url: &str, duration: Duration, command: &str) -> String {
    let (origin, path) = split_url(url);
    let origin = origin
        .replacen("ws://", "http://", 1)
        .replacen("wss://", "https://", 1);
    let mut s = String::new();
    let _ = writeln!(s, "# Emitted by: {command}");
    let _ = writeln!(
        s,
        "# Runs the plan's fleet for real; then compare with the plan:\n#   stampede run FILE -o result.json\n#   {} --check result.json",
        command.split(" --emit").next().unwrap_or(command)
    );
    s.push_str("# Each device is a virtual user; after each exchange it thinks for the interval\n# minus the planned service time, so it checks in once per interval.\n");
    if side == Side::Poll {
        s.push_str(
            "# `stampede run FILE --no-keep-alive` verifies the new-connection column instead.\n",
        );
    }
    let _ = writeln!(
        s,
        "\n[target]\nbase_url = \"{origin}\"\n\n[load]\nmodel = \"closed\""
    );
    match fleet.jitter {
        Jitter::None => {
            let _ = writeln!(
                s,
                "# Aligned: the whole fleet starts at t=0.\nvus = {}",
                fleet.devices
            );
        }
        Jitter::Full => {
            let _ = writeln!(
                s,
                "# Jittered: devices come online evenly over the first interval.\nstart = 0\nstages = [{{ duration = \"{}\", target = {} }}]",
                ms(fleet.every),
                fleet.devices
            );
        }
    }
    let _ = writeln!(s, "duration = \"{}\"", ms(duration));
    let think = ms(think(fleet));
    let body = payload(fleet.payload);
    match side {
        Side::Poll => {
            let _ = write!(
                s,
                "\n[[scenarios]]\nname = \"poll\"\n\n  [[scenarios.steps]]\n  name = \"checkin\"\n  method = \"POST\"\n  url = \"{path}\"\n  headers = {{ content-type = \"application/json\" }}\n  body = '{body}'\n  checks = {{ status = 200 }}\n\n  [[scenarios.steps]]\n  think = \"{think}\"\n"
            );
        }
        Side::WebSocket => {
            let repeat = heartbeats_per_connection(fleet, duration);
            let hold = match fleet.hold {
                Some(h) => format!(
                    "held for {} (then reconnects)",
                    humantime::format_duration(h)
                ),
                None => "held for the whole run".to_string(),
            };
            let expect = if body.is_empty() {
                String::new()
            } else {
                "contains = \"x\", ".to_string()
            };
            let _ = write!(
                s,
                "\n[[scenarios]]\nname = \"ws\"\n\n  [[scenarios.steps]]\n  name = \"connect\"\n  ws_connect = \"{path}\"\n\n  # {repeat} heartbeats: the connection is {hold}.\n  [[scenarios.steps]]\n  name = \"heartbeats\"\n  repeat = {repeat}\n  steps = [\n    {{ ws_send = '{body}' }},\n    {{ name = \"heartbeat\", ws_expect = {{ {expect}timeout = \"10s\" }} }},\n    {{ think = \"{think}\" }},\n  ]\n\n  [[scenarios.steps]]\n  ws_close = true\n"
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::tests::fleet;

    #[test]
    fn payloads_have_the_planned_size() {
        for n in [0, 5, 12, 100, 1024] {
            assert_eq!(payload(n).len(), n as usize);
        }
        assert_eq!(payload(16), "{\"pad\":\"xxxxxx\"}");
    }

    #[test]
    fn urls_split_into_origin_and_path() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/echo?delay=5ms"),
            ("http://127.0.0.1:8080".into(), "/echo?delay=5ms".into())
        );
        assert_eq!(split_url("ws://h:1"), ("ws://h:1".into(), "/".into()));
    }

    #[test]
    fn the_websocket_side_reconnects_after_the_hold() {
        let mut f = fleet(100, 10);
        f.jitter = Jitter::Full;
        let text = emit(
            &f,
            Side::WebSocket,
            "ws://127.0.0.1:9/ws",
            Duration::from_secs(60),
            "stampede plan",
        );
        assert!(text.contains("base_url = \"http://127.0.0.1:9\""), "{text}");
        assert!(text.contains("repeat = 60"), "{text}");
        assert!(
            text.contains("stages = [{ duration = \"10000ms\", target = 100 }]"),
            "{text}"
        );
        assert!(text.contains("think = \"9950ms\""), "{text}");
    }
}
