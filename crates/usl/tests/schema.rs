//! The documents this crate writes fit the committed JSON Schema, with and without a peak,
//! with and without standard errors; and the schema refuses what the types would not write.

use stampede_usl::datasets::{RAYTRACER, SPECSDM91};
use stampede_usl::{fit, UslDocument, USL_SCHEMA};

fn validate(value: &serde_json::Value) -> Vec<String> {
    let schema: serde_json::Value = serde_json::from_str(USL_SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

#[test]
fn documents_fit_the_committed_schema() {
    let sets: [&[(f64, f64)]; 4] = [
        // a peak
        &SPECSDM91,
        // no peak, κ = 0
        &RAYTRACER,
        // linear: σ = κ = 0, no limit
        &[(1.0, 5.0), (2.0, 10.0), (3.0, 15.0), (4.0, 20.0)],
        // 3 points: no standard errors, warnings
        &[(1.0, 10.0), (2.0, 18.0), (4.0, 28.0)],
    ];
    for points in sets {
        let doc = UslDocument::new("data.csv", points, fit(points).unwrap());
        let value = serde_json::to_value(&doc).unwrap();
        let errors = validate(&value);
        assert!(errors.is_empty(), "{errors:#?}\n{value:#}");
        let back: UslDocument = serde_json::from_value(value).unwrap();
        assert_eq!(back, doc);
    }
}

#[test]
fn the_schema_refuses_what_the_types_never_write() {
    let points = [(1.0, 10.0), (2.0, 18.0), (4.0, 28.0), (8.0, 40.0)];
    let good =
        serde_json::to_value(UslDocument::new("d.csv", &points, fit(&points).unwrap())).unwrap();
    for (path, bad) in [
        ("/fit/sigma", serde_json::json!(1.5)),
        ("/fit/kappa", serde_json::json!(-0.1)),
        ("/fit/shape", serde_json::json!("flat")),
        ("/fit/peak_n", serde_json::json!("none")),
        ("/schema_version", serde_json::json!(2)),
    ] {
        let mut doc = good.clone();
        *doc.pointer_mut(path).unwrap() = bad;
        assert!(!validate(&doc).is_empty(), "{path} accepted");
    }
    let mut doc = good.clone();
    doc["fit"].as_object_mut().unwrap().remove("lambda");
    assert!(!validate(&doc).is_empty(), "a fit without lambda accepted");
}
