//! TLS, HTTP/2, WebSocket, fleets and long polls against the built-in target on
//! 127.0.0.1.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use stampede_engine::{run, Control, RunOutcome};
use stampede_metrics::{ErrorClass, Protocol};
use stampede_plan::{HttpVersion, Load, RequestsDraft, RunPlan, RunPlanBuilder, TlsOptions};
use stampede_testserver::{TargetConfig, TargetHandle, TlsSetup};

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

struct Tls {
    target: TargetHandle,
    _dir: tempfile::TempDir,
    ca: std::path::PathBuf,
}

fn tls_target() -> Tls {
    tls_target_with(|_| {})
}

fn tls_target_with(configure: impl FnOnce(&mut TargetConfig)) -> Tls {
    let mut c = TargetConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    c.tls = Some(TlsSetup::SelfSigned);
    configure(&mut c);
    let target = TargetHandle::start(c).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    target.write_certificate_pem(&ca).unwrap();
    Tls {
        target,
        _dir: dir,
        ca,
    }
}

fn plain_target() -> TargetHandle {
    TargetHandle::start(TargetConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)))).unwrap()
}

/// A plan for `url` under `load`, bounded by `requests` or a `.duration(..)`.
fn plan(url: &str, load: Load) -> RunPlanBuilder<RequestsDraft> {
    RunPlan::builder(url)
        .load(load)
        .timeout(Duration::from_secs(2))
        .threads(2)
}

const TWO_S: Duration = Duration::from_secs(2);

const INSECURE: TlsOptions = TlsOptions {
    insecure: true,
    ca_file: None,
    client_cert: None,
    no_resume: false,
};

fn closed(n: usize) -> Load {
    Load::Closed {
        connections: NonZeroUsize::new(n).unwrap(),
    }
}

fn requests(p: RunPlanBuilder<RequestsDraft>, n: u64) -> RunPlanBuilder<RequestsDraft> {
    p.requests(n)
}

fn go(p: RunPlanBuilder<RequestsDraft>) -> RunOutcome {
    run(&p.build().unwrap(), Control::new(), |_| {}).unwrap()
}

fn protocols(o: &RunOutcome) -> Vec<(Protocol, u64)> {
    o.total.protocols.non_zero().collect()
}

#[test]
fn https_keep_alive_pays_one_handshake_per_connection() {
    let _s = serial();
    let t = tls_target();
    let url = format!("https://localhost:{}/", t.target.addrs()[0].port());
    let p = requests(plan(&url, closed(4)), 400)
        .tls(TlsOptions {
            ca_file: Some(t.ca.clone()),
            ..TlsOptions::default()
        })
        .connect_to(t.target.addrs().to_vec());
    let ka = go(p.clone());
    assert_eq!(ka.total.requests, 400);
    assert_eq!(ka.total.errors, 0, "{:?}", ka.error_samples);
    assert_eq!(ka.total.tls_handshake.count(), 4);
    assert_eq!(protocols(&ka), vec![(Protocol::Http1, 4)]);

    // A full handshake per request is clearly slower than keep-alive.
    let p = p.keep_alive(false);
    let per_request = go(p.clone());
    assert_eq!(
        per_request.total.errors, 0,
        "{:?}",
        per_request.error_samples
    );
    assert_eq!(per_request.total.tls_handshake.count(), 400);
    let (a, b) = (
        ka.total.latency.quantile_ms(0.5),
        per_request.total.latency.quantile_ms(0.5),
    );
    assert!(
        b > 2.0 * a,
        "keep-alive p50 {a} ms vs per-request handshake p50 {b} ms"
    );

    // Session resumption: on by default, off on request.
    let before = t.target.tls_resumed();
    go(p.clone());
    assert!(t.target.tls_resumed() > before, "no session was resumed");
    let p = p.tls(TlsOptions {
        ca_file: Some(t.ca.clone()),
        no_resume: true,
        ..TlsOptions::default()
    });
    let before = t.target.tls_resumed();
    go(p);
    assert_eq!(t.target.tls_resumed(), before);
}

#[test]
fn tls_failures_are_classified() {
    let _s = serial();
    let t = tls_target();
    let port = t.target.addrs()[0].port();
    // No CA given: the built-in web roots do not trust the test CA.
    let p = requests(plan(&format!("https://localhost:{port}/"), closed(1)), 3);
    let o = go(p);
    assert_eq!(o.total.errors_by_class.get(ErrorClass::TlsCertificate), 3);
    // Trusted CA but a name the certificate does not carry.
    let p = requests(plan(&format!("https://wrong.test:{port}/"), closed(1)), 3)
        .tls(TlsOptions {
            ca_file: Some(t.ca.clone()),
            ..TlsOptions::default()
        })
        .connect_to(t.target.addrs().to_vec());
    let o = go(p);
    assert_eq!(o.total.errors_by_class.get(ErrorClass::TlsName), 3);
    assert!(o.error_samples[&ErrorClass::TlsName].contains("certificate"));
    // An https URL against a plain HTTP server.
    let plain = plain_target();
    let url = format!("https://127.0.0.1:{}/", plain.addrs()[0].port());
    let p = requests(plan(&url, closed(1)), 3).tls(INSECURE);
    let o = go(p);
    assert_eq!(o.total.errors_by_class.get(ErrorClass::TlsHandshake), 3);
    // --http2 against a server that only does http/1.1: it refuses our ALPN list with
    // the no_application_protocol alert.
    let h1_only = tls_target_with(|c| c.http2 = false);
    let url = format!("https://localhost:{}/", h1_only.target.addrs()[0].port());
    let p = requests(plan(&url, closed(1)), 3)
        .tls(TlsOptions {
            ca_file: Some(h1_only.ca.clone()),
            ..TlsOptions::default()
        })
        .connect_to(h1_only.target.addrs().to_vec())
        .http(HttpVersion::Http2 {
            streams: NonZeroUsize::new(1).unwrap(),
        });
    let o = go(p);
    assert_eq!(o.total.errors_by_class.get(ErrorClass::AlpnMismatch), 3);
    assert_eq!(o.total.errors, 3);
    assert_eq!(protocols(&o), vec![]);
    // --insecure accepts the untrusted certificate.
    let p = requests(plan(&format!("https://localhost:{port}/"), closed(1)), 3)
        .tls(INSECURE)
        .connect_to(t.target.addrs().to_vec());
    assert_eq!(go(p).total.errors, 0);
}

#[test]
fn http2_over_tls_and_h2c_multiplex_streams() {
    let _s = serial();
    let t = tls_target();
    let url = format!("https://localhost:{}/", t.target.addrs()[0].port());
    let p = requests(plan(&url, closed(2)), 1000)
        .tls(TlsOptions {
            ca_file: Some(t.ca.clone()),
            ..TlsOptions::default()
        })
        .connect_to(t.target.addrs().to_vec())
        .http(HttpVersion::Http2 {
            streams: NonZeroUsize::new(8).unwrap(),
        });
    let o = go(p);
    assert_eq!(o.total.requests, 1000);
    assert_eq!(o.total.errors, 0, "{:?}", o.error_samples);
    assert_eq!(protocols(&o), vec![(Protocol::Http2, 2)]);
    assert_eq!(t.target.connections_accepted(), 2);

    let plain = plain_target();
    let p = requests(
        plan(&format!("http://{}/", plain.addrs()[0]), closed(1)),
        500,
    )
    .http(HttpVersion::Http2 {
        streams: NonZeroUsize::new(4).unwrap(),
    });
    let o = go(p);
    assert_eq!(o.total.requests, 500);
    assert_eq!(o.total.errors, 0, "{:?}", o.error_samples);
    assert_eq!(protocols(&o), vec![(Protocol::Http2, 1)]);
}

fn fleet(clients: usize, every: Option<u64>, hold: Option<u64>) -> Load {
    Load::Fleet {
        clients: NonZeroUsize::new(clients).unwrap(),
        every: every.map(Duration::from_millis),
        hold: hold.map(Duration::from_millis),
    }
}

#[test]
fn websocket_fleet_measures_round_trips_and_reconnects() {
    let _s = serial();
    let t = plain_target();
    let url = format!("ws://{}/ws", t.addrs()[0]);
    // 20 devices, a message every 100 ms, reconnecting every 500 ms, for 2 s.
    let o = go(plan(&url, fleet(20, Some(100), Some(500))).duration(TWO_S));
    assert_eq!(o.total.errors, 0, "{:?}", o.error_samples);
    assert_eq!(o.generator.sends, 400);
    assert!(o.total.requests >= 380, "{}", o.total.requests);
    assert!(o.total.latency.count() >= 380);
    assert!(o.total.upgrade.count() >= 60, "{}", o.total.upgrade.count());
    assert!(o.total.connections_opened >= 60);
    assert_eq!(protocols(&o)[0].0, Protocol::WebSocket);

    // The echo delay shows in the round trip.
    let slow = format!("ws://{}/ws?delay=30ms", t.addrs()[0]);
    let o = go(plan(&slow, fleet(4, None, None)).duration(TWO_S));
    assert!(o.total.service_time.quantile_ms(0.5) >= 30.0);

    // Every counted WebSocket is an upgrade the server made, and vice versa.
    assert_eq!(
        protocols(&o),
        vec![(Protocol::WebSocket, o.total.connections_opened)]
    );

    // A refused upgrade is a classified error, and its connection is not a WebSocket.
    let reject = format!("ws://{}/ws?reject=1", t.addrs()[0]);
    let upgrades = t.ws_upgrades();
    let o = go(requests(plan(&reject, fleet(2, None, None)), 10));
    assert_eq!(o.total.errors_by_class.get(ErrorClass::WsUpgrade), 10);
    assert!(o.error_samples[&ErrorClass::WsUpgrade].contains("not 101"));
    assert_eq!(o.total.connections_opened, 10);
    assert_eq!(protocols(&o), vec![]);
    assert_eq!(t.ws_upgrades(), upgrades);
}

#[test]
fn websocket_replies_larger_than_the_read_buffer_arrive_whole() {
    let _s = serial();
    let t = plain_target();
    let url = format!("ws://{}/ws", t.addrs()[0]);
    // 100 KB messages: well past the connection's initial read buffer.
    let p = requests(plan(&url, fleet(2, None, None)), 20).body(vec![b'x'; 100_000]);
    let o = go(p);
    assert_eq!(o.total.errors, 0, "{:?}", o.error_samples);
    assert_eq!(o.total.requests, 20);
    assert!(o.total.bytes_received >= 20 * 100_000);
}

#[test]
fn websocket_drops_are_counted_when_the_server_dies() {
    let _s = serial();
    let t = plain_target();
    let url = format!("ws://{}/ws", t.addrs()[0]);
    let p = plan(&url, fleet(10, Some(50), None)).duration(TWO_S);
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        t.shutdown();
    });
    let o = go(p);
    killer.join().unwrap();
    assert!(o.total.requests > 100);
    let dropped = o.total.errors_by_class.get(ErrorClass::WsDropped);
    let refused = o.total.errors_by_class.get(ErrorClass::ConnectRefused);
    assert!(dropped >= 10, "dropped {dropped}");
    assert!(
        refused > 0,
        "reconnects after the drop were refused: {refused}"
    );
}

#[test]
fn http_fleet_polls_on_schedule() {
    let _s = serial();
    let t = plain_target();
    // 50 devices every 200 ms for 2 s: 500 requests, on 50 connections.
    let o = go(plan(
        &format!("http://{}/", t.addrs()[0]),
        fleet(50, Some(200), None),
    )
    .duration(TWO_S));
    assert_eq!(o.generator.sends, 500);
    assert_eq!(o.total.requests + o.generator.unfinished, 500);
    assert!(o.total.requests >= 475, "{}", o.total.requests);
    assert_eq!(o.total.connections_opened, 50);
    assert_eq!(o.total.errors, 0);
}

#[test]
fn long_polls_hold_without_errors() {
    let _s = serial();
    let t = plain_target();
    let url = format!("http://{}/poll?hold=300ms", t.addrs()[0]);
    let o = go(plan(&url, fleet(10, None, None)).duration(TWO_S));
    assert_eq!(o.total.errors, 0);
    assert_eq!(o.total.timeouts, 0);
    // Each poll is held ~300 ms: about 6 cycles per client in 2 s.
    assert!(
        o.total.requests >= 50 && o.total.requests <= 80,
        "{}",
        o.total.requests
    );
    assert!(o.total.service_time.quantile_ms(0.5) >= 300.0);
    let statuses: Vec<u16> = o.total.status_codes.non_zero().map(|(s, _)| s).collect();
    assert_eq!(statuses, vec![204]);
}
