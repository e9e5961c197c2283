//! Sharded runs in the engine against the built-in target: each shard applies exactly
//! its share (connections, fleet clients, a request limit, open-model arrivals), and a
//! run told to start at an instant starts then.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::{Duration, SystemTime};

use stampede_engine::{run, Control, RunOutcome};
use stampede_plan::{Arrival, Load, RateProfile, RunPlan, Shard};
use stampede_testserver::{TargetConfig, TargetHandle};

fn go(plan: &RunPlan) -> RunOutcome {
    run(plan, Control::new(), |_| {}).unwrap()
}

fn nz(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

/// One run of `load` as shard `i` of `n` for `secs`, with an optional request limit.
fn shard(url: &str, load: &Load, i: usize, n: usize, requests: Option<u64>) -> RunOutcome {
    let mut p = RunPlan::builder(url)
        .load(load.clone())
        .threads(2)
        .timeout(Duration::from_secs(2))
        .shard(Shard::new(i, n).unwrap());
    p = match requests {
        Some(r) => p.requests(r),
        None => p.duration(Duration::from_millis(1_000)),
    };
    go(&p.build().unwrap())
}

#[test]
fn each_shard_applies_exactly_its_share() {
    let t = TargetHandle::start(TargetConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)))).unwrap();
    let url = format!("http://{}/", t.addrs()[0]);

    // Five users dealt over two shards: 3 and 2 connections (keep-alive, no errors).
    let closed = Load::Closed { connections: nz(5) };
    let opened: Vec<u64> = (0..2)
        .map(|i| shard(&url, &closed, i, 2, None).total.connections_opened)
        .collect();
    assert_eq!(opened, [3, 2]);

    // Five fleet clients: 3 and 2, each polling on its own connection.
    let fleet = Load::Fleet {
        clients: nz(5),
        every: Some(Duration::from_millis(250)),
        hold: None,
    };
    let opened: Vec<u64> = (0..2)
        .map(|i| shard(&url, &fleet, i, 2, None).total.connections_opened)
        .collect();
    assert_eq!(opened, [3, 2]);

    // A request limit of 101: 51 and 50.
    let sent: Vec<u64> = (0..2)
        .map(|i| shard(&url, &closed, i, 2, Some(101)).total.requests)
        .collect();
    assert_eq!(sent, [51, 50]);

    // 300 arrivals in the second, striped over three shards: 100 each.
    let open = Load::Open {
        profile: RateProfile::constant(300.0),
        arrival: Arrival::Uniform,
        max_connections: nz(100),
    };
    let sent: Vec<u64> = (0..3)
        .map(|i| {
            let out = shard(&url, &open, i, 3, None);
            out.total.requests + out.generator.unfinished
        })
        .collect();
    assert_eq!(sent, [100, 100, 100]);
}

#[test]
fn a_run_starts_at_its_instant() {
    let t = TargetHandle::start(TargetConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)))).unwrap();
    let url = format!("http://{}/", t.addrs()[0]);
    let at = SystemTime::now() + Duration::from_millis(400);
    let plan = RunPlan::builder(url.as_str())
        .load(Load::Closed { connections: nz(1) })
        .duration(Duration::from_millis(300))
        .start_at(Some(at))
        .build()
        .unwrap();
    let out = go(&plan);
    assert_eq!(out.started_at, at);
    let start = out.start.expect("the start is recorded");
    assert_eq!(start.planned, at);
    assert!(
        start.error_s.abs() < 0.05,
        "started {} s off",
        start.error_s
    );
    // Nothing was sent before the instant: the run still lasted its 300 ms after it.
    assert!(SystemTime::now() >= at + Duration::from_millis(300));
    assert!(out.total.requests > 0);
}
