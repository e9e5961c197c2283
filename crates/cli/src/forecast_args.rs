//! The flags of `stampede plan`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use stampede_forecast::{Fleet, Framing, Headroom, Jitter, Price};

fn duration(s: &str) -> Result<Duration, String> {
    match stampede_plan::parse_duration(s) {
        Ok(d) if d > Duration::ZERO => Ok(d),
        Ok(_) => Err(format!("'{s}' must be longer than zero")),
        Err(e) => Err(e.to_string()),
    }
}

fn price(s: &str) -> Result<Price, String> {
    s.parse()
        .map_err(|e: stampede_forecast::price::PriceError| e.to_string())
}

fn headroom(s: &str) -> Result<Headroom, String> {
    s.parse()
        .map_err(|e: stampede_forecast::capacity::HeadroomError| e.to_string())
}

/// A byte count: `512`, `1k` (1,024), `2m` (MiB).
fn size(s: &str) -> Result<u64, String> {
    let (digits, unit) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 1024),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|n| *n <= 64 * 1024 * 1024)
        .ok_or_else(|| format!("'{s}' is not a size up to 64m (e.g. 200, 1k, 2m)"))
}

/// How check-ins are placed in their interval.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum JitterArg {
    /// Aligned: every device at the same instant.
    None,
    /// Each device at a random point of the interval.
    Full,
}

/// Which side the emitted scenario runs.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EmitArg {
    /// HTTP polling.
    Poll,
    /// Held WebSockets with a heartbeat.
    Ws,
}

/// `stampede plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Devices in the fleet (at most 10^12).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000_000))]
    pub devices: u64,
    /// Time between one device's check-ins (e.g. 10s).
    #[arg(long, value_parser = duration)]
    pub every: Duration,
    /// none: aligned check-ins (a burst of the whole fleet); full: each device at a
    /// random point of the interval. Both peaks are printed; this one is planned for.
    #[arg(long, value_enum, default_value = "none")]
    pub jitter: JitterArg,
    /// The server's time to answer one check-in (Little's law, and the latency --check
    /// expects).
    #[arg(long, value_parser = duration, default_value = "50ms")]
    pub service_time: Duration,
    /// Request body bytes of a check-in or heartbeat (e.g. 200, 1k).
    #[arg(long, value_parser = size, default_value = "1k")]
    pub payload: u64,
    /// Response body bytes (default: the payload, as an echo).
    #[arg(long, value_parser = size)]
    pub reply: Option<u64>,
    /// WebSockets: each device reconnects after holding its connection this long (e.g.
    /// 10m); without it, connections are held all day.
    #[arg(long, value_parser = duration)]
    pub hold: Option<Duration>,
    /// Polling with keep-alive: the server's idle timeout; devices checking in less
    /// often reconnect every time.
    #[arg(long, value_parser = duration, default_value = "60s")]
    pub keep_alive_timeout: Duration,
    /// The short window a peak is stated over as a rate.
    #[arg(long, value_parser = duration, default_value = "1s")]
    pub window: Duration,
    /// Bytes of an HTTP/1.1 request head (request line, headers, blank line).
    #[arg(long, default_value_t = Framing::default().request_head, value_name = "BYTES")]
    pub request_head: u64,
    /// Bytes of an HTTP/1.1 response head.
    #[arg(long, default_value_t = Framing::default().response_head, value_name = "BYTES")]
    pub response_head: u64,
    /// Price per HTTP request (polls and WebSocket upgrades), e.g. 1.00/M (per million).
    #[arg(long, value_parser = price, value_name = "PRICE")]
    pub price_request: Option<Price>,
    /// Price per minute a WebSocket is open, e.g. 0.25/M.
    #[arg(long, value_parser = price, value_name = "PRICE")]
    pub price_connection_minute: Option<Price>,
    /// Price per WebSocket message (either direction), e.g. 1.00/M.
    #[arg(long, value_parser = price, value_name = "PRICE")]
    pub price_message: Option<Price>,
    /// One instance's capacity: the JSON of `stampede capacity --out`.
    #[arg(long, value_name = "FILE")]
    pub capacity: Option<PathBuf>,
    /// Capacity kept free on each instance at the peak [default: 30%].
    #[arg(long, value_parser = headroom, requires = "capacity")]
    pub headroom: Option<Headroom>,
    /// Write a scenario file that runs the fleet for real (see --emit).
    #[arg(long, value_name = "FILE")]
    pub emit_scenario: Option<PathBuf>,
    /// The side the scenario runs: HTTP polling or held WebSockets.
    #[arg(long, value_enum, default_value = "poll", requires = "emit_scenario")]
    pub emit: EmitArg,
    /// The scenario's poll URL (POST of the payload).
    #[arg(
        long,
        default_value = "http://127.0.0.1:8080/echo",
        requires = "emit_scenario"
    )]
    pub url: String,
    /// The scenario's WebSocket URL.
    #[arg(
        long,
        default_value = "ws://127.0.0.1:8080/ws",
        requires = "emit_scenario"
    )]
    pub ws_url: String,
    /// How long the scenario runs.
    #[arg(short = 'd', long, value_parser = duration, default_value = "2m", requires = "emit_scenario")]
    pub duration: Duration,
    /// Write the forecast as JSON.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the forecast as a self-contained HTML page with charts.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Compare a run's result (`stampede run --out`) with this plan's prediction for
    /// it: exit 1 when a figure differs by more than 5%.
    #[arg(long, value_name = "RESULT.json", conflicts_with_all = ["emit_scenario", "capacity", "html", "out"])]
    pub check: Option<PathBuf>,
}

impl PlanArgs {
    pub(crate) fn fleet(&self) -> Fleet {
        Fleet {
            devices: self.devices,
            every: self.every,
            jitter: match self.jitter {
                JitterArg::None => Jitter::None,
                JitterArg::Full => Jitter::Full,
            },
            service_time: self.service_time,
            payload: self.payload,
            reply: self.reply.unwrap_or(self.payload),
            hold: self.hold,
            keep_alive_timeout: self.keep_alive_timeout,
            window: self.window,
            framing: Framing {
                request_head: self.request_head,
                response_head: self.response_head,
            },
        }
    }
}
