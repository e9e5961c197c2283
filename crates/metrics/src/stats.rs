//! Request counters and latency histograms for one group over one interval.

use std::time::Duration;

use crate::{ClassCounts, ErrorClass, LatencyHistogram, ProtocolCounts, StatusCounts};

/// What happened to the requests of one group (or of the whole run) over some span of
/// time. Every field merges by addition, so per-thread and per-interval stats combine
/// without loss.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Requests that finished: successes, errors and timeouts.
    pub requests: u64,
    /// Failed requests (transport failures and HTTP statuses >= 400).
    pub errors: u64,
    /// Requests that got no complete response within the request timeout.
    pub timeouts: u64,
    /// Errors by class.
    pub errors_by_class: ClassCounts,
    /// Responses by HTTP status code.
    pub status_codes: StatusCounts,
    /// Response latency: from the intended send time in the open model (corrected for
    /// coordinated omission), equal to service time in the closed model.
    pub latency: LatencyHistogram,
    /// Service time: from the actual send to the last byte of the response.
    pub service_time: LatencyHistogram,
    /// TCP connect time of each new connection.
    pub connect: LatencyHistogram,
    /// TLS handshake time of each new TLS connection.
    pub tls_handshake: LatencyHistogram,
    /// WebSocket upgrade time: upgrade request sent to `101 Switching Protocols`.
    pub upgrade: LatencyHistogram,
    /// Time from the actual send to the first byte of the response.
    pub ttfb: LatencyHistogram,
    /// Response bytes received (head and body).
    pub bytes_received: u64,
    /// Request bytes sent.
    pub bytes_sent: u64,
    /// Connections opened.
    pub connections_opened: u64,
    /// Connections opened, by negotiated protocol.
    pub protocols: ProtocolCounts,
}

impl Stats {
    /// Empty stats.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a complete response. Statuses >= 400 also count as errors of their class.
    #[inline]
    pub fn record_response(&mut self, status: u16, latency: Duration, service_time: Duration) {
        self.requests += 1;
        self.status_codes.add(status);
        if let Some(class) = ErrorClass::for_status(status) {
            self.errors += 1;
            self.errors_by_class.add(class);
        }
        self.latency.record(latency);
        self.service_time.record(service_time);
    }

    /// Records an answered message (WebSocket): a success without an HTTP status.
    #[inline]
    pub fn record_message(&mut self, latency: Duration, service_time: Duration) {
        self.requests += 1;
        self.latency.record(latency);
        self.service_time.record(service_time);
    }

    /// Records a request that failed without a complete response.
    #[inline]
    pub fn record_error(&mut self, class: ErrorClass) {
        self.requests += 1;
        self.errors += 1;
        self.errors_by_class.add(class);
    }

    /// Records a request that timed out.
    #[inline]
    pub fn record_timeout(&mut self) {
        self.requests += 1;
        self.timeouts += 1;
    }

    /// Records a new connection and its connect time.
    #[inline]
    pub fn record_connect(&mut self, took: Duration) {
        self.connections_opened += 1;
        self.connect.record(took);
    }

    /// Successful responses (not errors, not timeouts).
    pub fn successes(&self) -> u64 {
        self.requests - self.errors - self.timeouts
    }

    /// (errors + timeouts) / requests; 0 when there were no requests.
    pub fn failure_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            (self.errors + self.timeouts) as f64 / self.requests as f64
        }
    }

    /// Empties the stats in place, keeping their memory (the histograms' counts) for
    /// reuse: a worker's stats are recycled every interval instead of reallocated.
    pub fn reset(&mut self) {
        let Stats {
            requests,
            errors,
            timeouts,
            errors_by_class,
            status_codes,
            latency,
            service_time,
            connect,
            tls_handshake,
            upgrade,
            ttfb,
            bytes_received,
            bytes_sent,
            connections_opened,
            protocols,
        } = self;
        for n in [
            requests,
            errors,
            timeouts,
            bytes_received,
            bytes_sent,
            connections_opened,
        ] {
            *n = 0;
        }
        *errors_by_class = ClassCounts::default();
        status_codes.reset();
        for h in [latency, service_time, connect, tls_handshake, upgrade, ttfb] {
            h.reset();
        }
        *protocols = ProtocolCounts::default();
    }

    /// Adds everything in `other`.
    pub fn merge(&mut self, other: &Stats) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.timeouts += other.timeouts;
        self.errors_by_class.merge(&other.errors_by_class);
        self.status_codes.merge(&other.status_codes);
        self.latency.merge(&other.latency);
        self.service_time.merge(&other.service_time);
        self.connect.merge(&other.connect);
        self.tls_handshake.merge(&other.tls_handshake);
        self.upgrade.merge(&other.upgrade);
        self.ttfb.merge(&other.ttfb);
        self.bytes_received += other.bytes_received;
        self.bytes_sent += other.bytes_sent;
        self.connections_opened += other.connections_opened;
        self.protocols.merge(&other.protocols);
    }

    /// Removes `earlier`, a snapshot these stats grew from (cumulative now minus
    /// cumulative then: what happened in between), so that `earlier.merge(&delta)`
    /// gives these stats back.
    pub fn subtract(&mut self, earlier: &Stats) {
        self.requests = self.requests.saturating_sub(earlier.requests);
        self.errors = self.errors.saturating_sub(earlier.errors);
        self.timeouts = self.timeouts.saturating_sub(earlier.timeouts);
        self.errors_by_class.subtract(&earlier.errors_by_class);
        self.status_codes.subtract(&earlier.status_codes);
        self.latency.subtract(&earlier.latency);
        self.service_time.subtract(&earlier.service_time);
        self.connect.subtract(&earlier.connect);
        self.tls_handshake.subtract(&earlier.tls_handshake);
        self.upgrade.subtract(&earlier.upgrade);
        self.ttfb.subtract(&earlier.ttfb);
        self.bytes_received = self.bytes_received.saturating_sub(earlier.bytes_received);
        self.bytes_sent = self.bytes_sent.saturating_sub(earlier.bytes_sent);
        self.connections_opened = self
            .connections_opened
            .saturating_sub(earlier.connections_opened);
        self.protocols.subtract(&earlier.protocols);
    }
}

/// What the load generator observed about itself: how well it kept to the schedule.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeneratorStats {
    /// Requests sent.
    pub sends: u64,
    /// Open model: sends that left later than the lateness threshold after their
    /// intended time.
    pub late_sends: u64,
    /// Open model: scheduled requests never sent because no connection was free
    /// before they would have timed out.
    pub dropped: u64,
    /// Requests still in flight when the run's drain time ran out.
    pub unfinished: u64,
    /// Open model: actual send time minus intended send time.
    pub schedule_lag: LatencyHistogram,
}

impl GeneratorStats {
    /// Empties the stats in place, keeping the histogram's memory.
    pub fn reset(&mut self) {
        self.sends = 0;
        self.late_sends = 0;
        self.dropped = 0;
        self.unfinished = 0;
        self.schedule_lag.reset();
    }

    /// Adds everything in `other`.
    pub fn merge(&mut self, other: &GeneratorStats) {
        self.sends += other.sends;
        self.late_sends += other.late_sends;
        self.dropped += other.dropped;
        self.unfinished += other.unfinished;
        self.schedule_lag.merge(&other.schedule_lag);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtract_undoes_merge() {
        let mut earlier = Stats::new();
        earlier.record_response(200, Duration::from_millis(5), Duration::from_millis(4));
        earlier.record_connect(Duration::from_millis(1));
        let mut delta = Stats::new();
        delta.record_response(503, Duration::from_millis(7), Duration::from_millis(6));
        delta.record_error(ErrorClass::ClosedEarly);
        delta.record_timeout();
        delta.protocols.add(crate::Protocol::Http2);
        delta.bytes_sent = 9;
        let mut now = earlier.clone();
        now.merge(&delta);
        now.subtract(&earlier);
        assert_eq!(now, delta);
    }

    #[test]
    fn reset_empties_in_place() {
        let mut s = Stats::new();
        s.record_response(200, Duration::from_millis(5), Duration::from_millis(4));
        s.record_response(503, Duration::from_millis(5), Duration::from_millis(4));
        s.record_error(ErrorClass::ClosedEarly);
        s.record_timeout();
        s.record_connect(Duration::from_millis(1));
        s.tls_handshake.record(Duration::from_millis(2));
        s.upgrade.record(Duration::from_millis(2));
        s.ttfb.record(Duration::from_millis(2));
        s.protocols.add(crate::Protocol::Http1);
        s.bytes_received = 10;
        s.bytes_sent = 10;
        s.reset();
        assert_eq!(s, Stats::new());
        let mut g = GeneratorStats {
            sends: 3,
            late_sends: 1,
            dropped: 1,
            unfinished: 1,
            ..GeneratorStats::default()
        };
        g.schedule_lag.record(Duration::from_millis(3));
        g.reset();
        assert_eq!(g, GeneratorStats::default());
    }

    #[test]
    fn errors_and_timeouts_are_separate() {
        let mut s = Stats::new();
        s.record_response(200, Duration::from_millis(5), Duration::from_millis(4));
        s.record_response(503, Duration::from_millis(5), Duration::from_millis(4));
        s.record_error(ErrorClass::ClosedEarly);
        s.record_timeout();
        assert_eq!(s.requests, 4);
        assert_eq!(s.errors, 2);
        assert_eq!(s.timeouts, 1);
        assert_eq!(s.successes(), 1);
        assert!((s.failure_rate() - 0.75).abs() < 1e-9);
        assert_eq!(s.errors_by_class.get(ErrorClass::Status5xx), 1);
        assert_eq!(s.latency.count(), 2);
    }

    #[test]
    fn merge_is_lossless() {
        let mut a = Stats::new();
        let mut b = Stats::new();
        let mut both = Stats::new();
        for i in 0..1000u64 {
            let d = Duration::from_micros(100 + i * 37);
            let target = if i % 3 == 0 { &mut a } else { &mut b };
            target.record_response(200, d, d / 2);
            both.record_response(200, d, d / 2);
        }
        a.merge(&b);
        assert_eq!(a, both);
    }
}
