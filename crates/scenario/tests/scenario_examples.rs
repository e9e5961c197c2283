//! The example in docs/scenarios.md and the one `stampede init` writes both parse, into the
//! model the documentation promises.

use std::time::Duration;

use stampede_plan::{Arrival, Check};
use stampede_scenario::{parse_str, JourneyLoad, Step, ThinkTime, ThresholdScope, EXAMPLE};

fn docs_example() -> String {
    let doc = include_str!("../../../docs/scenarios.md");
    let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let len = doc[start..].find("```").expect("end of the block");
    doc[start..start + len].to_string()
}

#[test]
fn docs_example_parses() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("users.csv"),
        "email,name\nada@example.test,Ada\nbob@example.test,Bob\n",
    )
    .unwrap();
    let j = parse_str(&dir.path().join("journey.toml"), &docs_example()).unwrap();

    assert_eq!(j.targets.len(), 1);
    assert_eq!(j.targets[0].name, "default");
    assert_eq!(j.targets[0].headers.len(), 1);
    match &j.load {
        JourneyLoad::Open {
            profile,
            arrival,
            max_vus,
        } => {
            assert_eq!(profile.start_rate, 10.0);
            assert_eq!(profile.stages.len(), 5);
            assert_eq!(profile.peak_rate(), 500.0);
            assert_eq!(*arrival, Arrival::Poisson);
            assert_eq!(*max_vus, 5000);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(j.duration, Duration::from_secs(82));
    assert_eq!(j.timeout, Duration::from_secs(10));
    assert!(j.cookies);
    assert_eq!(j.feeders.len(), 1);
    assert_eq!(j.feeders[0].columns.len(), 2);
    assert_eq!(j.vars.name(j.feeders[0].columns[0]), "users.email");
    assert_eq!(j.initial.len(), 1);

    assert_eq!(j.scenarios.len(), 2);
    let signup = &j.scenarios[0];
    assert_eq!((signup.name.as_str(), signup.weight), ("signup", 3.0));
    assert_eq!(signup.steps.len(), 4);
    let Step::Request(first) = &signup.steps[0] else {
        panic!()
    };
    assert_eq!(first.key, "signup / sign up");
    assert_eq!(first.method, "POST");
    assert_eq!(first.extract.len(), 3);
    assert!(matches!(first.checks[1], Check::JsonExists { .. }));
    assert!(matches!(
        signup.steps[1],
        Step::Think(ThinkTime::Uniform(a, b)) if a == Duration::from_millis(500) && b == Duration::from_secs(2)
    ));
    let Step::Group { repeat, steps, .. } = &signup.steps[3] else {
        panic!()
    };
    assert_eq!(*repeat, 3);
    let Step::Request(page) = &steps[0] else {
        panic!()
    };
    assert_eq!(page.key, "signup / page");

    let live = &j.scenarios[1];
    assert!(matches!(live.steps[0], Step::WsConnect(_)));
    assert!(matches!(live.steps[1], Step::WsSend(_)));
    let Step::WsExpect(echo) = &live.steps[2] else {
        panic!()
    };
    assert_eq!(echo.key, "live / echo");
    assert_eq!(echo.timeout, Duration::from_secs(5));
    assert!(matches!(live.steps[3], Step::WsClose));

    let scopes: Vec<_> = j.thresholds.iter().map(|t| t.scope.clone()).collect();
    assert_eq!(
        scopes,
        [
            ThresholdScope::Total,
            ThresholdScope::Total,
            ThresholdScope::Group("signup / verify".into())
        ]
    );
}

#[test]
fn docs_example_needs_its_csv() {
    let dir = tempfile::tempdir().unwrap();
    let e = parse_str(&dir.path().join("journey.toml"), &docs_example()).unwrap_err();
    assert!(e.message.contains("users.csv"), "{e}");
}

#[test]
fn init_example_parses_without_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let j = parse_str(&dir.path().join("stampede.toml"), EXAMPLE).unwrap();
    assert_eq!(j.scenarios.len(), 2);
    assert!(j.feeders.is_empty());
    assert_eq!(j.targets[0].base.port, 8080);
    assert_eq!(j.duration, Duration::from_secs(27));
}

#[test]
fn json_exists_check() {
    use stampede_plan::ResponseView;
    let check = Check::json_exists("$.token").unwrap();
    let ok = ResponseView::new(201, &[], br#"{"token": null}"#);
    assert_eq!(check.evaluate(&ok, Duration::ZERO), Ok(()));
    let missing = ResponseView::new(201, &[], br#"{"user_id": 1}"#);
    assert_eq!(
        check.evaluate(&missing, Duration::ZERO),
        Err("$.token not found".to_string())
    );
    assert_eq!(check.describe(), "$.token exists");
    assert!(Check::json_exists("token").is_err());
}
