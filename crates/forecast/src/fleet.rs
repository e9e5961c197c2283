//! The fleet as given and the figures of each way of connecting it: one pure function
//! per figure, and [`Column::of`] that puts them together.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::price::Prices;

/// Seconds in a day.
pub const DAY_S: f64 = 86_400.0;
/// Days in the month that per-month figures use.
pub const MONTH_DAYS: f64 = 30.0;

/// How the devices' check-ins are placed in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    /// Aligned: every device checks in at the same instant (a timer started together,
    /// a cron at :00), so each interval begins with a burst of the whole fleet.
    None,
    /// Full jitter: each device checks in at a random point of the interval.
    Full,
}

/// Bytes on the wire around the payload, as assumed (application bytes: TCP/IP and TLS
/// are not counted).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Framing {
    /// HTTP/1.1 request line, headers and blank line of one request (polls and the
    /// WebSocket upgrade).
    pub request_head: u64,
    /// HTTP/1.1 status line, headers and blank line of one response.
    pub response_head: u64,
}

impl Default for Framing {
    /// 250 bytes per request head, 200 per response head: a small client's headers
    /// (host, user agent, content type and length, an auth token) and a server's (date,
    /// content type and length, one or two of its own).
    fn default() -> Self {
        Framing {
            request_head: 250,
            response_head: 200,
        }
    }
}

/// A WebSocket frame's header: 2 bytes, plus 2 or 8 for a length of 126 or more, plus
/// the 4-byte mask on frames from the client (RFC 6455 section 5.2).
pub fn ws_frame_header(payload: u64, masked: bool) -> u64 {
    let length = match payload {
        0..=125 => 0,
        126..=65_535 => 2,
        _ => 8,
    };
    2 + length + if masked { 4 } else { 0 }
}

/// A device fleet: who checks in, how often, and what each exchange carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// Devices.
    pub devices: u64,
    /// Time between one device's check-ins.
    pub every: Duration,
    /// How check-ins are placed in the interval.
    pub jitter: Jitter,
    /// The server's time to answer one check-in (for Little's law).
    pub service_time: Duration,
    /// Request body bytes of a check-in (and of a heartbeat message).
    pub payload: u64,
    /// Response body bytes (and of the heartbeat's reply).
    pub reply: u64,
    /// WebSockets: how long a connection is held before the device reconnects; `None`:
    /// held all day.
    pub hold: Option<Duration>,
    /// Polling with keep-alive: the server's (or load balancer's) idle timeout; a device
    /// that checks in less often than this reconnects every time.
    pub keep_alive_timeout: Duration,
    /// The short window over which a peak is stated as a rate.
    pub window: Duration,
    /// Header bytes assumed around each payload.
    pub framing: Framing,
}

impl Fleet {
    /// `devices` checking in every `every`, with the defaults of `stampede plan`:
    /// aligned, 50 ms service time, 1 KiB payload and reply, WebSockets held all day,
    /// a 60 s keep-alive idle timeout, peaks over 1 s, [`Framing::default`].
    pub fn new(devices: u64, every: Duration) -> Fleet {
        Fleet {
            devices,
            every,
            jitter: Jitter::None,
            service_time: Duration::from_millis(50),
            payload: 1024,
            reply: 1024,
            hold: None,
            keep_alive_timeout: Duration::from_secs(60),
            window: Duration::from_secs(1),
            framing: Framing::default(),
        }
    }
}

/// How a column's devices talk to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// HTTP polling, the connection kept alive between check-ins.
    PollKeepAlive,
    /// HTTP polling, a new connection for every check-in.
    PollNewConnection,
    /// A WebSocket held open, a heartbeat message per check-in and its reply.
    #[serde(rename = "websocket")]
    WebSocket,
}

impl Transport {
    /// All three, in display order.
    pub const ALL: [Transport; 3] = [
        Transport::PollKeepAlive,
        Transport::PollNewConnection,
        Transport::WebSocket,
    ];
}

/// Average check-ins per second: devices / interval.
pub fn average_rate(devices: u64, every: Duration) -> f64 {
    devices as f64 / every.as_secs_f64()
}

/// Check-ins per day at the average rate.
pub fn per_day(rate: f64) -> f64 {
    rate * DAY_S
}

/// A per-day figure over a 30-day month.
pub fn per_month(daily: f64) -> f64 {
    daily * MONTH_DAYS
}

/// Little's law: the mean number in the system is the arrival rate times the time each
/// one stays.
pub fn in_flight(rate: f64, stay: Duration) -> f64 {
    rate * stay.as_secs_f64()
}

/// WebSocket connections opened per day: each device reconnects every `hold`, or opens
/// once and holds it all day.
pub fn ws_connections_per_day(devices: u64, hold: Option<Duration>) -> f64 {
    match hold {
        Some(h) => devices as f64 * DAY_S / h.as_secs_f64(),
        None => devices as f64,
    }
}

/// Polling with keep-alive: a device keeps its connection while it checks in more often
/// than the idle timeout (one connection each, all day); otherwise the server has closed
/// it and every check-in opens a new one.
pub fn keep_alive_holds(every: Duration, idle_timeout: Duration) -> bool {
    every < idle_timeout
}

/// One way of connecting the fleet, every figure per day unless named otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// How the devices connect.
    pub transport: Transport,
    /// Check-ins per second on average (polls, or heartbeat messages).
    pub average_rate: f64,
    /// HTTP requests per day: polls, or the WebSocket upgrades.
    pub requests_per_day: f64,
    /// HTTP requests per 30-day month.
    pub requests_per_month: f64,
    /// WebSocket messages per day, both directions (a heartbeat and its reply); 0 for
    /// polling.
    pub messages_per_day: f64,
    /// Exchanges in flight on average (Little's law: rate × service time).
    pub in_flight: f64,
    /// Connections open on average.
    pub open_connections: f64,
    /// Connections opened per day.
    pub connections_per_day: f64,
    /// Connection-minutes per day (connections open × minutes).
    pub connection_minutes_per_day: f64,
    /// Bytes from the devices per day (payloads and the stated framing).
    pub bytes_up_per_day: f64,
    /// Bytes to the devices per day.
    pub bytes_down_per_day: f64,
    /// Cost per day from the prices given; `None` when none of this column's priced
    /// units has a price.
    pub cost_per_day: Option<f64>,
    /// Cost per 30-day month.
    pub cost_per_month: Option<f64>,
}

impl Column {
    /// The figures of `fleet` over `transport`, priced with `prices`.
    pub fn of(fleet: &Fleet, transport: Transport, prices: &Prices) -> Column {
        let rate = average_rate(fleet.devices, fleet.every);
        let checkins = per_day(rate);
        let f = &fleet.framing;
        let flight = in_flight(rate, fleet.service_time);
        let up_poll = checkins * (f.request_head + fleet.payload) as f64;
        let down_poll = checkins * (f.response_head + fleet.reply) as f64;
        let mut c = Column {
            transport,
            average_rate: rate,
            requests_per_day: checkins,
            requests_per_month: 0.0,
            messages_per_day: 0.0,
            in_flight: flight,
            open_connections: 0.0,
            connections_per_day: 0.0,
            connection_minutes_per_day: 0.0,
            bytes_up_per_day: up_poll,
            bytes_down_per_day: down_poll,
            cost_per_day: None,
            cost_per_month: None,
        };
        let held_all_day = fleet.devices as f64 * DAY_S / 60.0;
        match transport {
            Transport::PollKeepAlive if keep_alive_holds(fleet.every, fleet.keep_alive_timeout) => {
                c.open_connections = fleet.devices as f64;
                c.connections_per_day = fleet.devices as f64;
                c.connection_minutes_per_day = held_all_day;
            }
            Transport::PollKeepAlive | Transport::PollNewConnection => {
                // A connection lives for one exchange (a closed keep-alive connection is
                // the same as none): Little's law again.
                c.open_connections = flight;
                c.connections_per_day = checkins;
                c.connection_minutes_per_day = checkins * fleet.service_time.as_secs_f64() / 60.0;
            }
            Transport::WebSocket => {
                let connects = ws_connections_per_day(fleet.devices, fleet.hold);
                c.requests_per_day = connects;
                c.messages_per_day = 2.0 * checkins;
                c.open_connections = fleet.devices as f64;
                c.connections_per_day = connects;
                c.connection_minutes_per_day = held_all_day;
                c.bytes_up_per_day = checkins
                    * (fleet.payload + ws_frame_header(fleet.payload, true)) as f64
                    + connects * f.request_head as f64;
                c.bytes_down_per_day = checkins
                    * (fleet.reply + ws_frame_header(fleet.reply, false)) as f64
                    + connects * f.response_head as f64;
            }
        }
        c.cost_per_day = prices.cost(
            c.requests_per_day,
            c.messages_per_day,
            c.connection_minutes_per_day,
            transport == Transport::WebSocket,
        );
        c.cost_per_month = c.cost_per_day.map(per_month);
        c.requests_per_month = per_month(c.requests_per_day);
        c
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fleet holding its WebSockets for 10 minutes.
    pub(crate) fn fleet(devices: u64, every_s: u64) -> Fleet {
        Fleet {
            hold: Some(Duration::from_secs(600)),
            ..Fleet::new(devices, Duration::from_secs(every_s))
        }
    }

    #[test]
    fn a_hundred_devices_every_ten_seconds() {
        let rate = average_rate(100, Duration::from_secs(10));
        assert_eq!(rate, 10.0);
        assert_eq!(per_day(rate), 864_000.0);
        assert_eq!(per_month(per_day(rate)), 25_920_000.0);
        let c = Column::of(
            &fleet(100, 10),
            Transport::PollKeepAlive,
            &Prices::default(),
        );
        assert_eq!(c.requests_per_day, 864_000.0);
        // Little's law: 10 req/s × 50 ms.
        assert!((c.in_flight - 0.5).abs() < 1e-12);
    }

    #[test]
    fn a_thousand_websockets_held_ten_minutes() {
        assert_eq!(
            ws_connections_per_day(1000, Some(Duration::from_secs(600))),
            144_000.0
        );
        let c = Column::of(&fleet(1000, 10), Transport::WebSocket, &Prices::default());
        assert_eq!(c.connections_per_day, 144_000.0);
        assert_eq!(c.requests_per_day, 144_000.0);
        assert_eq!(c.open_connections, 1000.0);
        // A heartbeat and its reply per check-in.
        assert_eq!(c.messages_per_day, 2.0 * 8_640_000.0);
        assert_eq!(c.connection_minutes_per_day, 1_440_000.0);
        // 1,024-byte payloads: 4 bytes of length and 4 of mask up, 4 down.
        assert_eq!(c.bytes_up_per_day, 8_640_000.0 * 1032.0 + 144_000.0 * 250.0);
        assert_eq!(
            c.bytes_down_per_day,
            8_640_000.0 * 1028.0 + 144_000.0 * 200.0
        );
        // Held all day without --hold: one connection per device.
        assert_eq!(ws_connections_per_day(1000, None), 1000.0);
    }

    #[test]
    fn polling_connections_with_and_without_keep_alive() {
        let f = fleet(100, 10);
        let kept = Column::of(&f, Transport::PollKeepAlive, &Prices::default());
        assert_eq!(kept.open_connections, 100.0);
        assert_eq!(kept.connections_per_day, 100.0);
        assert_eq!(kept.bytes_up_per_day, 864_000.0 * (250.0 + 1024.0));
        let fresh = Column::of(&f, Transport::PollNewConnection, &Prices::default());
        assert_eq!(fresh.connections_per_day, 864_000.0);
        assert!((fresh.open_connections - 0.5).abs() < 1e-12);
        // Checking in every 2 minutes behind a 60 s idle timeout: keep-alive does not
        // hold, every check-in reconnects.
        let slow = Column::of(
            &fleet(100, 120),
            Transport::PollKeepAlive,
            &Prices::default(),
        );
        assert_eq!(slow.connections_per_day, 72_000.0);
    }

    #[test]
    fn frame_headers_follow_rfc_6455() {
        assert_eq!(ws_frame_header(125, false), 2);
        assert_eq!(ws_frame_header(125, true), 6);
        assert_eq!(ws_frame_header(126, true), 8);
        assert_eq!(ws_frame_header(65_536, false), 10);
    }
}
