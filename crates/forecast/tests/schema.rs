//! The plan document fits its committed JSON Schema, with and without prices and a
//! capacity.

use std::time::Duration;

use stampede_forecast::{forecast, Capacity, Fleet, Jitter, Prices, PLAN_SCHEMA};

#[test]
fn plans_fit_the_committed_schema() {
    let schema: serde_json::Value = serde_json::from_str(PLAN_SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let fleet = Fleet {
        jitter: Jitter::Full,
        reply: 200,
        ..Fleet::new(100, Duration::from_secs(10))
    };
    let priced = Prices {
        request: Some("1.00/M".parse().unwrap()),
        connection_minute: Some("0.25/M".parse().unwrap()),
        message: None,
    };
    let cap = Capacity {
        last_pass_rate: Some(12.0),
        verdict: "no_failure_up_to_max".into(),
    };
    let none = Capacity {
        last_pass_rate: None,
        verdict: "no_pass".into(),
    };
    let h = "30%".parse().unwrap();
    for f in [
        forecast(&fleet, &Prices::default(), None),
        forecast(&fleet, &priced, Some((&cap, h))),
        forecast(&fleet, &priced, Some((&none, h))),
    ] {
        let value = serde_json::to_value(&f).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:#?}\n{value:#}");
        let back: stampede_forecast::Forecast = serde_json::from_value(value).unwrap();
        assert_eq!(back, f);
    }
    // The schema is not vacuous: a column with a missing figure fails it.
    let mut value = serde_json::to_value(forecast(&fleet, &priced, None)).unwrap();
    value["columns"][0]
        .as_object_mut()
        .unwrap()
        .remove("bytes_up_per_day");
    assert!(!validator.is_valid(&value));
}
