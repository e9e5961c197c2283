//! Plans and targets for the experiment layer's end-to-end tests (127.0.0.1 only,
//! every run bounded in time).

#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::process::{Child, Command, Stdio};
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

/// A plain Python socket server that accepts connections and never answers (as in
/// issue 12), killed by its PID when dropped; it also ends by itself after `secs`.
pub(crate) struct SilentServer {
    child: Child,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
}

impl SilentServer {
    pub(crate) fn start(secs: u64) -> SilentServer {
        let script = format!(
            "import socket,sys,time\n\
             s=socket.socket()\n\
             s.bind(('127.0.0.1',0))\n\
             s.listen(50)\n\
             print(s.getsockname()[1],flush=True)\n\
             time.sleep({secs})\n"
        );
        let mut child = Command::new("python3")
            .args(["-c", &script])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line.trim().parse().expect("the port python3 printed");
        SilentServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
