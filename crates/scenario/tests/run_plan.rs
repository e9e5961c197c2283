//! A `RunPlan` says exactly what runs: a scenario plan carries the file's journeys and
//! nothing made up for reports; what reports show comes from methods on the plan.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use stampede_plan::{
    GroupBy, HttpVersion, Load, RateProfile, RunPlan, ScopedThreshold, Threshold, ThresholdScope,
    Workload,
};
use stampede_scenario::{parse_str, JourneyLoad, Journeys};

fn journeys(text: &str) -> Arc<Journeys> {
    Arc::new(parse_str(Path::new("mixed.toml"), text).unwrap())
}

/// A closed `[load]` of 6 virtual users shared by weight (2 : 1) between two scenarios,
/// and a third scenario with its own open load.
const MIXED: &str = r#"
thresholds = ["p99 < 500ms"]

[load]
vus = 6
duration = "7s"
timeout = "3s"

[target]
base_url = "http://127.0.0.1:8080/api"

[[scenarios]]
name = "browse"
weight = 2
  [[scenarios.steps]]
  url = "/"

[[scenarios]]
name = "search"
  [[scenarios.steps]]
  url = "/search"

[[scenarios]]
name = "signup"
load = { model = "open", rate = 20, max_vus = 30 }
  [[scenarios.steps]]
  url = "/signup"
"#;

fn closed_vus(load: &JourneyLoad) -> f64 {
    match load {
        JourneyLoad::Closed { profile } => profile.peak_rate(),
        other => panic!("not closed: {other:?}"),
    }
}

#[test]
fn each_lane_says_its_load_and_whether_it_is_scheduled() {
    let j = journeys(MIXED);
    let lanes = j.lane_loads();
    assert_eq!(lanes.len(), 3);
    assert_eq!(closed_vus(&lanes[0]), 4.0);
    assert_eq!(closed_vus(&lanes[1]), 2.0);
    assert_eq!(
        lanes[2],
        JourneyLoad::Open {
            profile: RateProfile::constant(20.0),
            arrival: stampede_plan::Arrival::Uniform,
            max_vus: 30,
        }
    );
    let scheduled: Vec<bool> = lanes.iter().map(JourneyLoad::is_scheduled).collect();
    assert_eq!(scheduled, vec![false, false, true]);
    assert!(j.is_scheduled());
    // The report shows the open lane's load: the file's is closed, but a lane is open.
    assert_eq!(j.reported_load(), &lanes[2]);
}

#[test]
fn a_closed_file_is_not_scheduled_and_shows_its_own_load() {
    let closed = MIXED.replace(
        "load = { model = \"open\", rate = 20, max_vus = 30 }",
        "load = { vus = 1 }",
    );
    let j = journeys(&closed);
    assert!(!j.is_scheduled());
    assert!(j.lane_loads().iter().all(|l| !l.is_scheduled()));
    assert_eq!(closed_vus(j.reported_load()), 6.0);
    let plan = RunPlan::scenario_builder(j).build().unwrap();
    assert!(!plan.is_scheduled());
}

#[test]
fn scenario_plans_take_the_file_and_the_flags() {
    let j = journeys(MIXED);
    let plan = RunPlan::scenario_builder(j.clone()).build().unwrap();
    match &plan.workload {
        Workload::Journeys(inner) => assert!(Arc::ptr_eq(inner, &j)),
        Workload::Requests(w) => panic!("a scenario run became a request run: {w:?}"),
    }
    assert!(plan.requests().is_none());
    assert_eq!(plan.stop.duration, Some(Duration::from_secs(7)));
    assert_eq!(plan.timeout, Duration::from_secs(3));
    assert_eq!(plan.thresholds, j.thresholds);
    assert_eq!(plan.group_by(), Some(&GroupBy::Step));
    assert!(plan.is_scheduled());
    // Its schedule counts journeys, not requests: no request rate to report.
    assert_eq!(plan.schedule_profile(), None);
    assert_eq!(plan.target_rate(), None);
    assert_eq!(plan.url().as_str(), "http://127.0.0.1:8080/api");
    assert_eq!(
        plan.subject(),
        "scenario mixed.toml against http://127.0.0.1:8080/api"
    );

    // Flags override the file's duration; their thresholds come after the file's.
    let extra = ScopedThreshold {
        scope: ThresholdScope::Total,
        threshold: Threshold::parse("error_rate < 1%").unwrap(),
    };
    let plan = RunPlan::scenario_builder(j)
        .duration(Duration::from_secs(2))
        .requests(100)
        .threads(3)
        .keep_alive(false)
        .threshold(extra.clone())
        .build()
        .unwrap();
    assert_eq!(plan.stop.duration, Some(Duration::from_secs(2)));
    assert_eq!(plan.stop.requests.map(|n| n.get()), Some(100));
    assert_eq!(plan.threads.get(), 3);
    assert!(!plan.keep_alive);
    assert_eq!(plan.thresholds.len(), 2);
    assert_eq!(plan.thresholds[1], extra);
}

#[test]
fn request_plans_describe_themselves() {
    let plan = RunPlan::builder("https://example.test:8443/a?b=1")
        .method("post")
        .header("x-k", "v")
        .body("{}")
        .load(Load::Open {
            profile: RateProfile::constant(250.0),
            arrival: stampede_plan::Arrival::Poisson,
            max_connections: NonZeroUsize::new(8).unwrap(),
        })
        .http(HttpVersion::Http2 {
            streams: NonZeroUsize::new(4).unwrap(),
        })
        .connect_to(vec!["127.0.0.1:9000".parse().unwrap()])
        .group_by(Some(GroupBy::Peer))
        .build()
        .unwrap();
    let w = plan.requests().unwrap();
    assert_eq!(w.request.method, "POST");
    assert_eq!(w.request.headers, vec![("x-k".into(), "v".into())]);
    assert_eq!(w.request.body, b"{}");
    assert_eq!(w.target.port, 8443);
    assert_eq!(w.connect_to.len(), 1);
    assert!(plan.journeys().is_none());
    assert_eq!(plan.subject(), "POST https://example.test:8443/a?b=1");
    assert_eq!(plan.group_by(), Some(&GroupBy::Peer));
    assert!(plan.is_scheduled());
    assert_eq!(plan.target_rate(), Some(250.0));
    assert_eq!(plan.stop.duration, Some(stampede_plan::DEFAULT_DURATION));

    // A WebSocket URL needs a fleet, and speaks HTTP/1.1.
    let fleet = Load::Fleet {
        clients: NonZeroUsize::new(3).unwrap(),
        every: Some(Duration::from_millis(500)),
        hold: None,
    };
    let ws = RunPlan::builder("ws://127.0.0.1:9000/ws").load(fleet);
    assert_eq!(ws.clone().build().unwrap().target_rate(), Some(6.0));
    let h2 = ws.http(HttpVersion::Http2 {
        streams: NonZeroUsize::MIN,
    });
    assert!(h2.build().unwrap_err().to_string().contains("HTTP/1.1"));
}

#[test]
fn a_steered_rate_is_split_over_the_open_lanes_by_their_rates() {
    // Two open lanes (30 and 10 journeys/s) beside the closed ones of MIXED.
    let text = MIXED.replace(
        "load = { model = \"open\", rate = 20, max_vus = 30 }",
        "load = { model = \"open\", rate = 30, max_vus = 30 }",
    ) + r#"
[[scenarios]]
name = "second_open"
load = { model = "open", rate = 10 }
  [[scenarios.steps]]
  url = "/x"
"#;
    let j = journeys(&text);
    assert_eq!(j.open_shares(), vec![None, None, Some(0.75), Some(0.25)]);
    let stepped = j.at_open_rate(200.0);
    let lanes = stepped.lane_loads();
    let rate = |l: &JourneyLoad| match l {
        JourneyLoad::Open { profile, .. } => profile.clone(),
        other => panic!("not open: {other:?}"),
    };
    assert_eq!(rate(&lanes[2]), RateProfile::constant(150.0));
    assert_eq!(rate(&lanes[3]), RateProfile::constant(50.0));
    // Closed lanes keep their virtual users.
    assert_eq!(closed_vus(&lanes[0]), 4.0);
    assert_eq!(closed_vus(&lanes[1]), 2.0);
}

/// A sharded scenario plan keeps only its shard's rows of a `unique` feeder (row k goes
/// to shard k mod n), shares a `sequential` one whole, and lists the files the scenario
/// refers to (what `stampede kubernetes` ships).
#[test]
fn a_shard_gets_its_own_unique_rows() {
    let dir = tempfile::tempdir().unwrap();
    let rows: String = (0..10).map(|i| format!("u{i}\n")).collect();
    std::fs::write(dir.path().join("ids.csv"), format!("id\n{rows}")).unwrap();
    std::fs::write(dir.path().join("all.csv"), format!("id\n{rows}")).unwrap();
    let text = r#"
[target]
base_url = "http://127.0.0.1:8080"
[feeders.ids]
file = "ids.csv"
mode = "unique"
[feeders.all]
file = "all.csv"
[[scenarios]]
name = "s"
  [[scenarios.steps]]
  url = "/{{ ids.id }}/{{ all.id }}"
"#;
    let path = dir.path().join("s.toml");
    let j = Arc::new(parse_str(&path, text).unwrap());
    let written: Vec<&str> = j.files.iter().map(|f| f.written.as_str()).collect();
    assert_eq!(written, ["ids.csv", "all.csv"]);
    let mut rng = fastrand::Rng::with_seed(1);
    let mut seen = Vec::new();
    for i in 0..3 {
        let plan = RunPlan::scenario_builder(j.clone())
            .shard(stampede_plan::Shard::new(i, 3).unwrap())
            .build()
            .unwrap();
        let feeders = &plan.journeys().unwrap().feeders;
        assert_eq!(
            feeders[1].feeder.len(),
            10,
            "sequential rows are shared whole"
        );
        while let Some(row) = feeders[0].feeder.next_row(&mut rng) {
            seen.push(row[0].clone());
        }
    }
    seen.sort();
    let mut want: Vec<String> = (0..10).map(|i| format!("u{i}")).collect();
    want.sort();
    assert_eq!(seen, want, "every row once, over the three shards");
}
