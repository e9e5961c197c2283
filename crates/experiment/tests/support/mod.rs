//! Plans and targets for the experiment layer's end-to-end tests (127.0.0.1 only,
//! every run bounded in time).

#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use stampede_plan::{Arrival, Load, RateProfile, RunPlan, ScopedThreshold, Threshold};
use stampede_testserver::{TargetConfig, TargetHandle};

/// An open-model plan: `rate` req/s against `url` for `secs`, two threads, at most 200
/// connections.
pub(crate) fn open_plan(url: &str, rate: f64, secs: u64) -> RunPlan {
    open_plan_with(url, rate, secs, 200)
}

/// [`open_plan`] with room for `max_connections`.
pub(crate) fn open_plan_with(url: &str, rate: f64, secs: u64, max_connections: usize) -> RunPlan {
    RunPlan::builder(url)
        .load(Load::Open {
            profile: RateProfile {
                start_rate: rate,
                stages: Vec::new(),
            },
            arrival: Arrival::Uniform,
            max_connections: NonZeroUsize::new(max_connections).unwrap(),
        })
        .duration(Duration::from_secs(secs))
        .timeout(Duration::from_secs(2))
        .threads(2)
        .build()
        .unwrap()
}

/// Adds whole-run criteria to a plan.
pub(crate) fn with_thresholds(mut plan: RunPlan, texts: &[&str]) -> RunPlan {
    let parsed = texts.iter().map(|t| Threshold::parse(t).unwrap());
    plan.thresholds.extend(parsed.map(ScopedThreshold::total));
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
