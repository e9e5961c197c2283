//! One request path: plain runs and scenario steps measure, count and keep connections
//! the same way. Against the built-in target on 127.0.0.1.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stampede_engine::{run, Control, RunOutcome, MAX_GROUPS};
use stampede_metrics::ErrorClass;
use stampede_plan::{GroupBy, Load, RateProfile, RunPlan, TlsOptions};
use stampede_testserver::{TargetConfig, TargetHandle, TlsSetup};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn plain_target() -> TargetHandle {
    TargetHandle::start(TargetConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)))).unwrap()
}

fn tls_target() -> TargetHandle {
    let mut c = TargetConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    c.tls = Some(TlsSetup::SelfSigned);
    TargetHandle::start(c).unwrap()
}

/// Runs a scenario file given as text.
fn scenario(text: &str, keep_alive: bool) -> RunOutcome {
    let journeys = stampede_scenario::parse_str(Path::new("test.toml"), text)
        .unwrap_or_else(|e| panic!("{e}"));
    let plan = RunPlan::scenario_builder(Arc::new(journeys))
        .threads(2)
        .keep_alive(keep_alive)
        .build()
        .unwrap();
    run(&plan, Control::new(), |_| {}).unwrap()
}

fn group<'a>(o: &'a RunOutcome, key: &str) -> &'a stampede_metrics::Stats {
    &o.groups
        .iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no row {key:?} in {:?}", keys(o)))
        .1
}

fn keys(o: &RunOutcome) -> Vec<&str> {
    o.groups.iter().map(|(k, _)| k.as_str()).collect()
}

/// Issue 9 defect a: `--no-keep-alive` holds for scenario steps as for URL runs: every
/// request on its own connection (it used to be 2 connections for ~97,000 requests).
#[test]
fn scenario_steps_honour_no_keep_alive() {
    let _s = serial();
    let t = plain_target();
    let text = format!(
        "[target]\nbase_url = \"http://{}\"\n[load]\nvus = 2\nduration = \"1s\"\n\
         [[scenarios]]\nname = \"s\"\n  [[scenarios.steps]]\n  name = \"get\"\n  url = \"/\"\n",
        t.addrs()[0]
    );
    let accepted = t.connections_accepted();
    let o = scenario(&text, false);
    let finished = o.total.requests;
    assert!(finished > 20, "{finished} requests");
    assert_eq!(o.total.errors, 0, "{:?}", o.error_samples);
    // Requests still in flight at the end had their own connections too.
    assert_eq!(
        o.total.connections_opened,
        finished + o.generator.unfinished,
        "connections vs requests"
    );
    assert_eq!(
        t.connections_accepted() - accepted,
        o.total.connections_opened
    );
    // With keep-alive, the two users keep their two connections.
    let o = scenario(&text, true);
    assert!(
        o.total.connections_opened <= 2,
        "{}",
        o.total.connections_opened
    );
}

/// Issue 9 defect c: lateness means one thing, in plain and scenario runs alike: how late
/// the generator started on a request. Without keep-alive every send first connects (TCP
/// and TLS); that is the service's time (latency, connect and handshake phases), not the
/// generator's lateness, which would otherwise blame the generator (or CPU contention)
/// for every handshake.
#[test]
fn lateness_is_measured_before_connecting_in_plain_and_scenario_runs() {
    let _s = serial();
    let t = tls_target();
    let url = format!("https://{}/", t.addrs()[0]);
    let plain = RunPlan::builder(url.as_str())
        .load(Load::Open {
            profile: RateProfile {
                start_rate: 50.0,
                stages: Vec::new(),
            },
            arrival: stampede_plan::Arrival::Uniform,
            max_connections: NonZeroUsize::new(100).unwrap(),
        })
        .tls(TlsOptions {
            insecure: true,
            ..TlsOptions::default()
        })
        .keep_alive(false)
        .threads(2)
        .duration(Duration::from_secs(1))
        .build()
        .unwrap();
    let p = run(&plain, Control::new(), |_| {}).unwrap();
    let text = format!(
        "[target]\nbase_url = \"https://{}\"\ninsecure = true\n\
         [load]\nmodel = \"open\"\nrate = 50\nduration = \"1s\"\n\
         [[scenarios]]\nname = \"s\"\n  [[scenarios.steps]]\n  name = \"get\"\n  url = \"/\"\n",
        t.addrs()[0]
    );
    let s = scenario(&text, false);
    for (what, o) in [("plain", &p), ("scenario", &s)] {
        assert_eq!(o.total.errors, 0, "{what}: {:?}", o.error_samples);
        let lag = o.generator.schedule_lag.quantile_us(0.5);
        let handshake = o.total.tls_handshake.quantile_us(0.5);
        assert!(o.generator.schedule_lag.count() >= 45, "{what}");
        assert!(
            lag < handshake,
            "{what}: send lag p50 {lag} µs must not include the TLS handshake (p50 {handshake} µs)"
        );
        // The handshake is still in the latency, measured from the intended send time.
        assert!(o.total.latency.quantile_us(0.5) >= handshake, "{what}");
    }
}

/// Issue 9 defect d: in a file with an open and a closed lane, only the open lane's
/// arrivals are scheduled sends: their row is the one with a corrected latency, the
/// send-lag histogram holds only their sends, and the closed lane's row measures
/// service time.
#[test]
fn mixed_lanes_keep_their_own_latency_model() {
    let _s = serial();
    let t = plain_target();
    let text = format!(
        "[target]\nbase_url = \"http://{}\"\n[load]\nvus = 1\nduration = \"1s\"\n\
         [[scenarios]]\nname = \"arrivals\"\nload = {{ model = \"open\", rate = 40 }}\n\
           [[scenarios.steps]]\n  name = \"first\"\n  url = \"/\"\n\
           [[scenarios.steps]]\n  name = \"second\"\n  url = \"/\"\n\
         [[scenarios]]\nname = \"users\"\nload = {{ model = \"closed\", vus = 2 }}\n\
           [[scenarios.steps]]\n  name = \"loop\"\n  url = \"/\"\n\
           [[scenarios.steps]]\n  think = \"10ms\"\n",
        t.addrs()[0]
    );
    let o = scenario(&text, true);
    assert_eq!(o.total.errors, 0, "{:?}", o.error_samples);
    assert_eq!(o.scheduled_groups, vec!["arrivals / first".to_string()]);
    let first = group(&o, "arrivals / first");
    let looped = group(&o, "users / loop");
    assert!(
        looped.requests > first.requests,
        "the closed lane sends more"
    );
    let lagged = o.generator.schedule_lag.count();
    assert!(
        lagged >= first.requests && lagged <= first.requests + o.generator.unfinished,
        "send lag of {lagged} sends; the open lane's first step sent {}",
        first.requests
    );
    assert!(o.generator.sends > lagged, "every send counts as sent");
    // Unscheduled rows: latency is service time.
    assert_eq!(looped.latency, looped.service_time);
    assert_eq!(group(&o, "arrivals / second").latency, {
        group(&o, "arrivals / second").service_time.clone()
    });
}

/// Issue 12 item 9: HTTP/2 scenario steps count the bytes they send (they counted
/// almost none: only HTTP/1.1 bytes were counted).
#[test]
fn http2_scenario_steps_count_their_sent_bytes() {
    let _s = serial();
    let t = plain_target();
    let text = format!(
        "[target]\nbase_url = \"http://{}\"\nhttp2 = true\n[load]\nvus = 1\nduration = \"500ms\"\n\
         [[scenarios]]\nname = \"s\"\n  [[scenarios.steps]]\n  name = \"get\"\n  url = \"/\"\n  \
         headers = {{ x-name = \"stampede\" }}\n",
        t.addrs()[0]
    );
    let o = scenario(&text, true);
    assert_eq!(o.total.errors, 0, "{:?}", o.error_samples);
    assert!(o.total.requests > 10);
    let per_request = o.total.bytes_sent / (o.total.requests + o.generator.unfinished);
    // :method GET, :scheme http, :authority 127.0.0.1:port, :path /, user-agent, x-name.
    assert!(per_request >= 60, "{per_request} bytes per request");
    assert_eq!(
        group(&o, "s / get").bytes_sent,
        per_request * group(&o, "s / get").requests
    );
}

/// Issue 12 item 9: a `ws_expect` step waits for its own timeout, and the run says so
/// for its row (the run-wide timeout was reported instead).
#[test]
fn ws_expect_keeps_its_own_timeout() {
    let _s = serial();
    let t = plain_target();
    // `drop=1`: the server never echoes, so every expectation times out.
    let text = format!(
        "[target]\nbase_url = \"http://{}\"\n[load]\nvus = 1\nduration = \"1s\"\n\
         [[scenarios]]\nname = \"ws\"\n\
           [[scenarios.steps]]\n  ws_connect = \"/ws?drop=1\"\n  name = \"open\"\n\
           [[scenarios.steps]]\n  ws_send = \"hello\"\n\
           [[scenarios.steps]]\n  name = \"echo\"\n  ws_expect = {{ contains = \"hello\", timeout = \"300ms\" }}\n",
        t.addrs()[0]
    );
    let started = std::time::Instant::now();
    let o = scenario(&text, true);
    let echo = group(&o, "ws / echo");
    assert!(echo.timeouts >= 2, "{} timeouts in 1 s", echo.timeouts);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        o.group_timeouts,
        vec![("ws / echo".to_string(), Duration::from_millis(300))]
    );
    // The upgrade went through our own handshake and counted as a WebSocket.
    assert!(group(&o, "ws / open").upgrade.count() >= 1);
}

/// Issue 12 item 9: a request counts as sent (with its bytes) when it leaves, so long
/// polls in flight show as sent in the very second they left ("sent 0" before).
#[test]
fn requests_count_as_sent_when_they_leave() {
    let _s = serial();
    let t = plain_target();
    let url = format!("http://{}/poll?hold=1500ms", t.addrs()[0]);
    let plan = RunPlan::builder(url.as_str())
        .load(Load::Fleet {
            clients: NonZeroUsize::new(5).unwrap(),
            every: None,
            hold: None,
        })
        .timeout(Duration::from_secs(3))
        .threads(2)
        .duration(Duration::from_millis(1200))
        .build()
        .unwrap();
    let mut first = None;
    let o = run(&plan, Control::new(), |s| {
        if s.second == 0 {
            first = Some((
                s.interval_generator.sends,
                s.interval.bytes_sent,
                s.interval.requests,
            ));
        }
    })
    .unwrap();
    let (sends, bytes, done) = first.expect("a first second");
    assert_eq!(done, 0, "no poll completes within the first second");
    assert_eq!(sends, 5, "five polls left in the first second");
    assert!(bytes >= 5 * 40, "{bytes} bytes sent in the first second");
    assert_eq!(o.total.requests, 5);
}

/// Issue 12 item 9: the cap on distinct group keys holds for the run, not per worker
/// thread (two threads gave 512 rows).
#[test]
fn group_cap_holds_for_the_run() {
    let _s = serial();
    // 300 distinct peers on loopback that refuse connections: one row each under
    // `--group-by peer`, until the cap.
    let peers: Vec<SocketAddr> = (0..300u32)
        .map(|i| SocketAddr::from(([127, 0, 1 + (i / 250) as u8, 1 + (i % 250) as u8], 9)))
        .collect();
    let plan = RunPlan::builder("http://127.0.0.1:9/")
        .load(Load::Open {
            profile: RateProfile {
                start_rate: 2000.0,
                stages: Vec::new(),
            },
            arrival: stampede_plan::Arrival::Uniform,
            max_connections: NonZeroUsize::new(100).unwrap(),
        })
        .connect_to(peers)
        .group_by(Some(GroupBy::Peer))
        .threads(2)
        .requests(900)
        .build()
        .unwrap();
    let o = run(&plan, Control::new(), |_| {}).unwrap();
    assert_eq!(o.total.requests, 900);
    assert_eq!(
        o.total.errors_by_class.get(ErrorClass::ConnectRefused),
        900,
        "{:?}",
        o.error_samples
    );
    assert_eq!(o.groups.len(), MAX_GROUPS + 1, "256 peers and (other)");
    assert!(keys(&o).contains(&"(other)"));
    let rows: u64 = o.groups.iter().map(|(_, s)| s.requests).sum();
    assert_eq!(rows, 900);
}

/// Issue 12 item 9: a WebSocket that drops is not a request: unanswered messages fail,
/// but the drop itself adds none (a fleet showed 106.7 achieved of 100 asked).
#[test]
fn websocket_drops_are_not_requests() {
    let _s = serial();
    let t = plain_target();
    // The server closes every socket after 200 ms; devices send every 50 ms.
    let url = format!("ws://{}/ws?close-after=200ms", t.addrs()[0]);
    let plan = RunPlan::builder(url.as_str())
        .load(Load::Fleet {
            clients: NonZeroUsize::new(10).unwrap(),
            every: Some(Duration::from_millis(50)),
            hold: None,
        })
        .timeout(Duration::from_secs(2))
        .threads(2)
        .duration(Duration::from_secs(2))
        .build()
        .unwrap();
    let o = run(&plan, Control::new(), |_| {}).unwrap();
    let drops = o.error_samples.get(&ErrorClass::WsDropped);
    assert!(drops.is_some(), "the server's closes are seen");
    assert!(
        o.total.connections_opened >= 50,
        "reconnects after each close"
    );
    assert!(
        o.total.requests + o.generator.unfinished <= o.generator.sends,
        "{} requests and {} unfinished from {} messages sent",
        o.total.requests,
        o.generator.unfinished,
        o.generator.sends
    );
}
