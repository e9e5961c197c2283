//! How [`crate::merge`] combines server-side series and their sources.
//!
//! Shards of one run usually watch the same servers, so a series is one series across
//! shards when its `source`, `name`, `labels`, `derived` and `unit` agree. Its seconds
//! are aligned on each document's start, like the client series; where several shards
//! read a value for the same merged second, the merged value is the largest of them (a
//! reading of one server, not a sum; the largest keeps a saturation visible, and unlike
//! a mean it does not depend on how the merge is grouped). Seconds no shard read stay
//! null. Sources with the same `source` and `kind` add their attempts and failures; the
//! first error kept is the alphabetically first; `series` counts the merged series.

use std::collections::BTreeMap;

use crate::{MetricSourceDoc, RunResult, ServerMetricDoc};

type Key = (String, String, String, String, Option<String>);

fn key(m: &ServerMetricDoc) -> Key {
    let labels = serde_json::to_string(&m.labels).expect("labels serialize");
    (
        m.source.clone(),
        m.name.clone(),
        labels,
        m.derived.clone(),
        m.unit.clone(),
    )
}

/// The merged series: aligned by `offsets` (whole seconds after the earliest start).
pub(crate) fn series(results: &[RunResult], offsets: &[u64]) -> Vec<ServerMetricDoc> {
    let mut merged: BTreeMap<Key, ServerMetricDoc> = BTreeMap::new();
    for (r, &off) in results.iter().zip(offsets) {
        for m in &r.server_metrics {
            let entry = merged.entry(key(m)).or_insert_with(|| ServerMetricDoc {
                values: Vec::new(),
                ..m.clone()
            });
            let off = off as usize;
            if entry.values.len() < off + m.values.len() {
                entry.values.resize(off + m.values.len(), None);
            }
            for (i, v) in m.values.iter().enumerate() {
                let slot = &mut entry.values[off + i];
                *slot = match (*slot, *v) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            }
        }
    }
    merged.into_values().collect()
}

/// The merged sources, sorted by source and kind.
pub(crate) fn sources(results: &[RunResult], series: &[ServerMetricDoc]) -> Vec<MetricSourceDoc> {
    let mut merged: BTreeMap<(String, String), MetricSourceDoc> = BTreeMap::new();
    for s in results.iter().flat_map(|r| &r.server_metric_sources) {
        let e = merged
            .entry((s.source.clone(), s.kind.clone()))
            .or_insert_with(|| MetricSourceDoc {
                attempts: 0,
                failures: 0,
                first_error: None,
                series: 0,
                ..s.clone()
            });
        e.attempts += s.attempts;
        e.failures += s.failures;
        if let Some(err) = &s.first_error {
            if e.first_error.as_ref().is_none_or(|f| err < f) {
                e.first_error = Some(err.clone());
            }
        }
    }
    for e in merged.values_mut() {
        e.series = series.iter().filter(|m| m.source == e.source).count() as u64;
    }
    merged.into_values().collect()
}
