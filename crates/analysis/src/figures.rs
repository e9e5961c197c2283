//! Every figure of a result beyond latency and rates, so that a comparison shows all
//! that both results have: counts, bytes, connections, timing phases, schedule keeping,
//! the watched servers' and the generator's CPU, and a fleet's day. None is gated.

use stampede_result::RunResult;

use crate::per_day::fleet_per_day;
use crate::Percentiles;

/// A timing phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// TCP connect.
    Connect,
    /// TLS handshake.
    TlsHandshake,
    /// WebSocket upgrade.
    Upgrade,
    /// Time to first byte.
    FirstByte,
}

/// How a figure is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A count.
    Count,
    /// Milliseconds.
    Ms,
    /// Microseconds.
    Us,
    /// Bytes.
    Bytes,
    /// Seconds.
    Seconds,
    /// Per second.
    Rate,
}

/// A figure a result may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Figure {
    /// The measured span.
    Elapsed,
    /// Errors.
    Errors,
    /// Timeouts.
    Timeouts,
    /// The schedule's average rate (open model).
    TargetRate,
    /// Mean latency.
    LatencyMean,
    /// Mean service time.
    ServiceMean,
    /// A phase's median (when both runs have samples of it).
    PhaseP50(Phase),
    /// A phase's 99th percentile.
    PhaseP99(Phase),
    /// Response bytes.
    BytesReceived,
    /// Request bytes.
    BytesSent,
    /// Response bytes per finished request.
    BytesReceivedPerRequest,
    /// Request bytes per finished request.
    BytesSentPerRequest,
    /// Connections opened.
    ConnectionsOpened,
    /// Late sends (open model and fleets).
    LateSends,
    /// Dropped requests.
    Dropped,
    /// Requests unfinished at the end.
    Unfinished,
    /// The watched servers' CPU seconds.
    ServerCpu,
    /// The watched servers' CPU microseconds per request.
    ServerCpuPerRequest,
    /// The largest peak RSS of the watched servers.
    ServerPeakRss,
    /// The generator's CPU seconds.
    GeneratorCpu,
    /// The generator's CPU microseconds per request.
    GeneratorCpuPerRequest,
    /// A fleet's requests per day (steady state).
    RequestsPerDay,
    /// A fleet's response bytes per day.
    BytesReceivedPerDay,
    /// A fleet's request bytes per day.
    BytesSentPerDay,
    /// A fleet's connections opened per day (its hold and keep-alive behaviour).
    ConnectionsPerDay,
}

impl Figure {
    /// A label for people.
    pub fn label(self) -> String {
        let phase = |p: Phase| match p {
            Phase::Connect => "connect",
            Phase::TlsHandshake => "tls handshake",
            Phase::Upgrade => "ws upgrade",
            Phase::FirstByte => "first byte",
        };
        match self {
            Figure::Elapsed => "elapsed s".into(),
            Figure::Errors => "errors".into(),
            Figure::Timeouts => "timeouts".into(),
            Figure::TargetRate => "target rate/s".into(),
            Figure::LatencyMean => "latency mean ms".into(),
            Figure::ServiceMean => "service mean ms".into(),
            Figure::PhaseP50(p) => format!("{} p50 ms", phase(p)),
            Figure::PhaseP99(p) => format!("{} p99 ms", phase(p)),
            Figure::BytesReceived => "bytes received".into(),
            Figure::BytesSent => "bytes sent".into(),
            Figure::BytesReceivedPerRequest => "bytes received per request".into(),
            Figure::BytesSentPerRequest => "bytes sent per request".into(),
            Figure::ConnectionsOpened => "connections opened".into(),
            Figure::LateSends => "late sends".into(),
            Figure::Dropped => "dropped".into(),
            Figure::Unfinished => "unfinished".into(),
            Figure::ServerCpu => "server CPU-s".into(),
            Figure::ServerCpuPerRequest => "server CPU µs per request".into(),
            Figure::ServerPeakRss => "server peak RSS".into(),
            Figure::GeneratorCpu => "generator CPU-s".into(),
            Figure::GeneratorCpuPerRequest => "generator CPU µs per request".into(),
            Figure::RequestsPerDay => "requests per day".into(),
            Figure::BytesReceivedPerDay => "bytes received per day".into(),
            Figure::BytesSentPerDay => "bytes sent per day".into(),
            Figure::ConnectionsPerDay => "connections opened per day".into(),
        }
    }

    /// The unit it is shown in.
    pub fn unit(self) -> Unit {
        match self {
            Figure::Elapsed | Figure::ServerCpu | Figure::GeneratorCpu => Unit::Seconds,
            Figure::TargetRate => Unit::Rate,
            Figure::LatencyMean
            | Figure::ServiceMean
            | Figure::PhaseP50(_)
            | Figure::PhaseP99(_) => Unit::Ms,
            Figure::BytesReceived
            | Figure::BytesSent
            | Figure::BytesReceivedPerRequest
            | Figure::BytesSentPerRequest
            | Figure::ServerPeakRss
            | Figure::BytesReceivedPerDay
            | Figure::BytesSentPerDay => Unit::Bytes,
            Figure::ServerCpuPerRequest | Figure::GeneratorCpuPerRequest => Unit::Us,
            _ => Unit::Count,
        }
    }
}

/// The figures `r` has, in report order: a figure without data (a phase without a
/// sample, servers not watched, a run that is not a fleet) is left out.
pub fn figures_of(r: &RunResult) -> Vec<(Figure, f64)> {
    let s = &r.summary;
    let c = &s.core;
    let mut out = vec![
        (Figure::Elapsed, s.elapsed_s),
        (Figure::Errors, c.errors as f64),
        (Figure::Timeouts, c.timeouts as f64),
    ];
    if let Some(t) = c.target_rate {
        out.push((Figure::TargetRate, t));
    }
    let sampled = |p: &Percentiles| p.max > 0.0;
    if sampled(&c.latency_ms) {
        out.push((Figure::LatencyMean, c.latency_ms.mean));
        out.push((Figure::ServiceMean, c.service_time_ms.mean));
    }
    let p = &r.phases_ms;
    for (phase, v) in [
        (Phase::Connect, &p.connect),
        (Phase::TlsHandshake, &p.tls_handshake),
        (Phase::Upgrade, &p.upgrade),
        (Phase::FirstByte, &p.ttfb),
    ] {
        if sampled(v) {
            out.push((Figure::PhaseP50(phase), v.p50));
            out.push((Figure::PhaseP99(phase), v.p99));
        }
    }
    out.push((Figure::BytesReceived, c.bytes_received as f64));
    out.push((Figure::BytesSent, c.bytes_sent as f64));
    if c.requests > 0 {
        let n = c.requests as f64;
        out.push((Figure::BytesReceivedPerRequest, c.bytes_received as f64 / n));
        out.push((Figure::BytesSentPerRequest, c.bytes_sent as f64 / n));
    }
    out.push((Figure::ConnectionsOpened, c.connections_opened as f64));
    if r.config.model != "closed" {
        out.push((Figure::LateSends, s.late_sends as f64));
        out.push((Figure::Dropped, s.dropped as f64));
    }
    out.push((Figure::Unfinished, s.unfinished as f64));
    if !r.servers.is_empty() {
        let cpu: f64 = r.servers.iter().map(|x| x.cpu_s).sum();
        out.push((Figure::ServerCpu, cpu));
        if c.requests > 0 {
            out.push((Figure::ServerCpuPerRequest, cpu * 1e6 / c.requests as f64));
        }
        let rss = r
            .servers
            .iter()
            .map(|x| x.peak_rss_bytes)
            .max()
            .unwrap_or(0);
        out.push((Figure::ServerPeakRss, rss as f64));
    }
    out.push((Figure::GeneratorCpu, r.generator.cpu_s));
    if c.requests > 0 {
        out.push((
            Figure::GeneratorCpuPerRequest,
            r.generator.cpu_s * 1e6 / c.requests as f64,
        ));
    }
    if let Some(d) = fleet_per_day(r) {
        out.push((Figure::RequestsPerDay, d.requests));
        out.push((Figure::BytesReceivedPerDay, d.bytes_received));
        out.push((Figure::BytesSentPerDay, d.bytes_sent));
        out.push((Figure::ConnectionsPerDay, d.connections));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_without_data_are_left_out() {
        let mut r =
            RunResult::from_json(include_str!("../../result/tests/fixtures/v1-result.json"))
                .unwrap();
        r.servers.clear();
        let names: Vec<Figure> = figures_of(&r).into_iter().map(|(f, _)| f).collect();
        assert!(names.contains(&Figure::BytesReceived));
        assert!(names.contains(&Figure::ConnectionsOpened));
        assert!(!names.contains(&Figure::ServerCpuPerRequest));
        assert!(!names.contains(&Figure::RequestsPerDay));
        r.servers.push(stampede_result::ServerDoc {
            pid: 1,
            command: "nginx".into(),
            cpu_s: 1.5,
            cpu_share: 0.15,
            cpu_per_request_us: None,
            peak_rss_bytes: 10 << 20,
        });
        let cpu = figures_of(&r)
            .into_iter()
            .find(|(f, _)| *f == Figure::ServerCpuPerRequest)
            .unwrap()
            .1;
        assert!((cpu - 1.5e6 / r.summary.core.requests as f64).abs() < 1e-6);
    }
}
