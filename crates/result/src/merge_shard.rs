//! The merge of what documents say about sharding and a planned start.
//!
//! * `shard`: every document that has one must name the same shard count; the merged
//!   document holds the union of their shards. A shard present twice is an error (its
//!   requests would count twice). Documents without `shard` (unsharded runs, or runs of
//!   one experiment) add nothing to it.
//! * `start`: kept when every document has one with the same `planned_at`; the merged
//!   `error_ms` is the one furthest from zero. Otherwise absent.

use std::collections::BTreeSet;

use crate::{MergeError, RunResult, ShardDoc, StartDoc};

/// The shards the merged document holds.
pub(crate) fn shards(results: &[RunResult]) -> Result<Option<ShardDoc>, MergeError> {
    let mut count: Option<usize> = None;
    let mut indexes = BTreeSet::new();
    for (index, r) in results.iter().enumerate() {
        let Some(s) = &r.shard else { continue };
        match count {
            Some(c) if c != s.count => {
                return Err(MergeError::Mismatch {
                    field: "shard.count",
                    first: c.to_string(),
                    other: s.count.to_string(),
                })
            }
            _ => count = Some(s.count),
        }
        for i in &s.indexes {
            if !indexes.insert(*i) {
                return Err(MergeError::DuplicateShard {
                    index,
                    shard: format!("{i}/{}", s.count),
                });
            }
        }
    }
    Ok(count.map(|count| ShardDoc {
        count,
        indexes: indexes.into_iter().collect(),
    }))
}

/// The planned start, when every document shares it.
pub(crate) fn start(results: &[RunResult]) -> Option<StartDoc> {
    let first = results.first()?.start.as_ref()?;
    let mut out = first.clone();
    for r in results {
        let s = r.start.as_ref()?;
        if s.planned_at != first.planned_at {
            return None;
        }
        if s.error_ms.abs() > out.error_ms.abs() {
            out.error_ms = s.error_ms;
        }
    }
    Some(out)
}
