//! Capacity searches against the built-in test server (127.0.0.1, bounded): a service
//! with a known capacity, and a generator asked for more than it can send.

use std::num::NonZeroUsize;
use std::time::Duration;

use stampede_capacity::{
    search, validate, SearchSpec, Settings, StepVerdict, Verdict, CAPACITY_SCHEMA,
};
use stampede_experiment::Control;
use stampede_plan::{Arrival, Load, RateProfile, RunPlan, Threshold};
use stampede_testserver::{TargetConfig, TargetHandle};

/// The searches compete for the two cores: one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn target(serial_section: Duration) -> TargetHandle {
    let mut config = TargetConfig::new("127.0.0.1:0".parse().unwrap());
    config.threads = 1;
    config.serial_section = serial_section;
    TargetHandle::start(config).unwrap()
}

fn spec(url: &str, slos: &[&str], start: f64, threads: usize) -> SearchSpec {
    let plan = RunPlan::builder(url)
        .load(Load::Open {
            profile: RateProfile {
                start_rate: start,
                stages: Vec::new(),
            },
            arrival: Arrival::Uniform,
            max_connections: NonZeroUsize::new(2000).unwrap(),
        })
        .timeout(Duration::from_secs(2))
        .threads(threads)
        .build()
        .unwrap();
    SearchSpec {
        plan,
        slos: slos.iter().map(|t| Threshold::parse(t).unwrap()).collect(),
        settings: Settings {
            start,
            max_rate: None,
            min_rate: 10.0,
            precision: 0.15,
            max_steps: 12,
        },
        warmup: Duration::from_secs(1),
        window: Duration::from_secs(5),
        max_window: Duration::from_secs(7),
    }
}

/// Every request holds the target's one serial section for 1 ms (waiting, not burning
/// CPU): it cannot serve more than 1,000 requests a second, and past that its queue (and
/// latency) grows without bound.
#[test]
fn the_latency_knee_is_found_below_a_known_service_capacity() {
    let _one = serial();
    let server = target(Duration::from_millis(1));
    let url = format!("http://{}/", server.addrs()[0]);
    let spec = spec(&url, &["p99 < 25ms"], 300.0, 1);
    validate(&spec).unwrap();
    let doc = search(spec, Vec::new(), Control::new(), Box::new(|_| {})).unwrap();
    let text = stampede_capacity::render_text(&doc);
    eprintln!("{text}");
    assert_eq!(doc.result.verdict, Verdict::Capacity, "{text}");
    let (lo, hi) = (
        doc.result.last_pass_rate.unwrap(),
        doc.result.first_fail_rate.unwrap(),
    );
    assert!(
        lo < 1000.0,
        "the knee is below the service's capacity: {text}"
    );
    assert!(hi <= 1000.0 * 1.15, "{text}");
    assert!((hi - lo) / lo <= 0.15, "{text}");
    // p99 climbs: the failing steps' p99 is far above the first step's.
    let first = doc.steps[0].result.summary.core.latency_ms.p99;
    let worst_fail = doc
        .steps
        .iter()
        .filter(|s| s.verdict == StepVerdict::Fail)
        .map(|s| s.result.summary.core.latency_ms.p99)
        .fold(0.0, f64::max);
    assert!(worst_fail > 25.0 && worst_fail > 5.0 * first, "{text}");
    // Every step holds its own window's document; the server counted at least as much.
    let counted: u64 = doc
        .steps
        .iter()
        .map(|s| s.result.summary.core.requests)
        .sum();
    assert!(
        server.requests_served() >= counted,
        "{} < {counted}",
        server.requests_served()
    );
    let json: serde_json::Value = serde_json::from_str(&doc.to_json()).unwrap();
    let schema: serde_json::Value = serde_json::from_str(CAPACITY_SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let result_schema: serde_json::Value =
        serde_json::from_str(stampede_result::RESULT_SCHEMA).unwrap();
    let result_validator = jsonschema::validator_for(&result_schema).unwrap();
    for step in json["steps"].as_array().unwrap() {
        assert!(result_validator.is_valid(&step["result"]));
    }
    server.shutdown();
}

/// One generator thread asked for 100,000 req/s cannot send them: the search names no
/// capacity.
#[test]
fn a_generator_that_cannot_send_the_offered_rate_names_no_capacity() {
    let _one = serial();
    let server = target(Duration::ZERO);
    let url = format!("http://{}/", server.addrs()[0]);
    let doc = search(
        spec(&url, &["error_rate < 1%"], 100_000.0, 1),
        Vec::new(),
        Control::new(),
        Box::new(|_| {}),
    )
    .unwrap();
    let text = stampede_capacity::render_text(&doc);
    eprintln!("{text}");
    assert_eq!(doc.result.verdict, Verdict::GeneratorLimited, "{text}");
    assert_eq!(doc.steps.len(), 1, "{text}");
    assert_eq!(doc.steps[0].verdict, StepVerdict::GeneratorLimited);
    assert!(
        text.contains("generator-limited at 100,000 requests/s"),
        "{text}"
    );
    let reason = doc.result.reason.as_deref().unwrap();
    assert!(reason.contains("scheduled"), "{reason}");
    server.shutdown();
}

#[test]
fn bad_specs_are_refused_before_anything_is_sent() {
    let url = "http://127.0.0.1:9/";
    let mut s = spec(url, &[], 100.0, 1);
    assert!(validate(&s).unwrap_err().0.contains("at least one SLO"));
    s = spec(url, &["error_rate < 1% over 10s"], 100.0, 1);
    assert!(validate(&s).unwrap_err().0.contains("its own window"));
    s = spec(url, &["p99 < 1s"], 100.0, 1);
    s.window = Duration::from_secs(3);
    assert!(validate(&s).unwrap_err().0.contains("at least 5 seconds"));
}

/// A scenario file's open lanes follow the steered rate (journeys per second, split by
/// the lanes' shares: see `Journeys::open_shares`), step after step.
#[test]
fn a_scenario_search_steers_journeys_per_second_over_its_open_lanes() {
    let _one = serial();
    let server = target(Duration::ZERO);
    let text = format!(
        r#"
[target]
base_url = "http://{}"
[[scenarios]]
name = "many"
load = {{ model = "open", start = 30 }}
  [[scenarios.steps]]
  url = "/many"
[[scenarios]]
name = "few"
load = {{ model = "open", start = 10 }}
  [[scenarios.steps]]
  url = "/few"
"#,
        server.addrs()[0]
    );
    let journeys = stampede_scenario::parse_str(std::path::Path::new("two.toml"), &text).unwrap();
    let plan = RunPlan::scenario_builder(std::sync::Arc::new(journeys))
        .threads(1)
        .build()
        .unwrap();
    let mut s = spec("http://127.0.0.1:9/", &["error_rate < 1%"], 40.0, 1);
    s.plan = plan;
    s.settings.max_rate = Some(80.0);
    validate(&s).unwrap();
    let doc = search(s, Vec::new(), Control::new(), Box::new(|_| {})).unwrap();
    let text = stampede_capacity::render_text(&doc);
    eprintln!("{text}");
    assert_eq!(doc.unit, "journeys/s");
    assert_eq!(doc.result.verdict, Verdict::NoFailureUpToMax, "{text}");
    let rates: Vec<f64> = doc.steps.iter().map(|s| s.offered_rate).collect();
    assert_eq!(rates, [40.0, 80.0]);
    for step in &doc.steps {
        let got = step.result.summary.core.requests as f64 / step.window_s as f64;
        assert!(
            (got - step.offered_rate).abs() <= 0.05 * step.offered_rate,
            "{text}"
        );
    }
    server.shutdown();
}
