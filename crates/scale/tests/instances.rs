//! `--instances` against real targets: two built-in targets, each with its own serial
//! section of 10 ms (at most 100 req/s each), searched for their capacity at
//! `p99 < 300ms` (loose, so that a loaded machine's send lag cannot fail it: only the
//! queue of an overloaded lock can) with one and then both of them: two instances take twice what one does
//! (within 25%, the search's precision plus a loaded machine's noise), and each step carries
//! its whole capacity search. About a minute: every capacity step is 1 s warm-up + 5 s.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use stampede_capacity::{SearchSpec, Settings};
use stampede_plan::{Arrival, Load, RateProfile, RunPlan, Threshold};
use stampede_scale::{parse_steps, sweep, InstanceSteps, ScaleDoc, SweepKind};
use stampede_testserver::{TargetConfig, TargetHandle};

#[test]
fn two_instances_with_their_own_lock_take_twice_the_capacity_of_one() {
    let targets: Vec<TargetHandle> = (0..2)
        .map(|_| {
            let mut c = TargetConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
            c.serial_section = Duration::from_millis(10);
            TargetHandle::start(c).unwrap()
        })
        .collect();
    let addrs: Vec<SocketAddr> = targets.iter().map(|t| t.addrs()[0]).collect();
    let base = RunPlan::builder(format!("http://{}/", addrs[0]).as_str())
        .load(Load::Open {
            profile: RateProfile::constant(50.0),
            arrival: Arrival::Uniform,
            max_connections: NonZeroUsize::new(200).unwrap(),
        })
        .build()
        .unwrap();
    let settings = Settings {
        start: 50.0,
        max_rate: Some(400.0),
        min_rate: 5.0,
        precision: 0.25,
        max_steps: 8,
    };
    let search = SearchSpec {
        plan: base,
        slos: vec![Threshold::parse("p99 < 300ms").unwrap()],
        settings,
        warmup: Duration::from_secs(1),
        window: Duration::from_secs(5),
        max_window: Duration::from_secs(10),
    };
    let mut steps = InstanceSteps::new(
        search,
        addrs,
        Arc::new(AtomicBool::new(false)),
        Box::new(|k, s| eprintln!("{k}: {} {:?} {:?}", s.offered_rate, s.phase, s.verdict)),
    )
    .unwrap();
    let measured = sweep(&parse_steps("1,2").unwrap(), &mut steps, &mut |_| {}).unwrap();
    let doc = ScaleDoc::new(
        SweepKind::Instances,
        "two targets".into(),
        1.0,
        5.0,
        measured,
    );
    println!("{}", stampede_scale::render_scale(&doc));
    let (one, two) = (&doc.steps[0], &doc.steps[1]);
    assert!(
        one.included() && two.included(),
        "{:?} {:?}",
        one.excluded,
        two.excluded
    );
    assert!(
        (50.0..=100.0).contains(&one.throughput),
        "{}",
        one.throughput
    );
    let ratio = two.throughput / one.throughput;
    assert!(
        (1.5..=2.5).contains(&ratio),
        "{} / {}",
        two.throughput,
        one.throughput
    );
    for s in &doc.steps {
        let search = s.capacity.as_ref().unwrap();
        assert!(!search.steps.is_empty());
        assert_eq!(s.throughput, search.result.last_pass_rate.unwrap());
    }
}
