//! Documents of every readable version are read; unknown versions are refused clearly.

use stampede_result::{ReadError, RunResult, SCHEMA_VERSION};

/// Written by `stampede run --out` before version 2 (three seconds at 200 req/s against
/// two built-in server instances, grouped by `X-Served-By`, one threshold).
const V1: &str = include_str!("fixtures/v1-result.json");

#[test]
fn version_1_documents_are_read_without_the_new_fields() {
    let r = RunResult::from_json(V1).unwrap();
    assert_eq!(r.schema_version, 1);
    assert_eq!(r.summary.core.requests, 600);
    assert_eq!(r.groups.len(), 2);
    assert!(r.groups.iter().all(|g| g.histograms.is_none()));
    assert!(r.series.iter().all(|p| p.histograms.is_none()));
    assert_eq!(r.summary.scheduled, None);
    assert!(r.histograms.upgrade.is_empty());
    assert_eq!(r.thresholds.len(), 1);
}

#[test]
fn unknown_versions_are_refused_with_a_reason() {
    let newer = V1.replacen("\"schema_version\": 1", "\"schema_version\": 99", 1);
    assert_ne!(newer, V1);
    let err = RunResult::from_json(&newer).unwrap_err();
    assert!(matches!(err, ReadError::Version { found: 99 }));
    let text = err.to_string();
    assert!(text.contains("schema_version 99"), "{text}");
    assert!(text.contains(&format!("1 to {SCHEMA_VERSION}")), "{text}");
    assert!(RunResult::from_json("{\"schema_version\": 2}").is_err());
}
