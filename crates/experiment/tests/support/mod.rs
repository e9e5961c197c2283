//! Plans and targets for the experiment layer's end-to-end tests (127.0.0.1 only,
//! every run bounded in time).

#![allow(dead_code)] // each test file uses its own part

use std::net::{SocketAddr, TcpListener};
use std::num::NonZeroUsize;
use std::time::Duration;

use stampede_plan::{
    Arrival, HttpVersion, Load, RateProfile, RequestSpec, RunPlan, ScopedThreshold, StopCondition,
    Target, Threshold, ThresholdScope, TlsOptions,
};
use stampede_testserver::{TargetConfig, TargetHandle};

/// An open-model plan: `rate` req/s against `url` for `secs`, two threads.
pub(crate) fn open_plan(url: &str, rate: f64, secs: u64) -> RunPlan {
    RunPlan {
        target: Target::parse(url).unwrap(),
        request: RequestSpec::default(),
        load: Load::Open {
            profile: RateProfile {
                start_rate: rate,
                stages: Vec::new(),
            },
            arrival: Arrival::Uniform,
            max_connections: NonZeroUsize::new(200).unwrap(),
        },
        stop: StopCondition {
            duration: Some(Duration::from_secs(secs)),
            requests: None,
        },
        timeout: Duration::from_secs(2),
        threads: NonZeroUsize::new(2).unwrap(),
        keep_alive: true,
        group_by: None,
        connect_to: Vec::new(),
        tls: TlsOptions::default(),
        http: HttpVersion::Http1,
        thresholds: Vec::new(),
        abort_on_fail: false,
        timer_slack: stampede_plan::DEFAULT_TIMER_SLACK,
        journeys: None,
    }
    .validate()
    .unwrap()
}

/// Adds whole-run criteria to a plan.
pub(crate) fn with_thresholds(mut plan: RunPlan, texts: &[&str]) -> RunPlan {
    plan.thresholds
        .extend(texts.iter().map(|t| ScopedThreshold {
            scope: ThresholdScope::Total,
            threshold: Threshold::parse(t).unwrap(),
        }));
    plan
}

/// The built-in test server on a port of 127.0.0.1 chosen by the OS.
pub(crate) fn testserver() -> TargetHandle {
    let mut config = TargetConfig::new("127.0.0.1:0".parse().unwrap());
    config.threads = 1;
    TargetHandle::start(config).unwrap()
}

/// `http://ADDR/` of the test server's first instance.
pub(crate) fn url_of(target: &TargetHandle, path: &str) -> String {
    format!("http://{}{path}", target.addrs()[0])
}

/// A server that accepts connections and never answers (nor reads), for `secs`.
pub(crate) fn silent_server(secs: u64) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        listener.set_nonblocking(true).unwrap();
        let until = std::time::Instant::now() + Duration::from_secs(secs);
        while std::time::Instant::now() < until {
            match listener.accept() {
                Ok((s, _)) => held.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    addr
}
