//! Shard arithmetic, property-tested: the shards of a run are disjoint and together
//! are exactly the whole run (arrival times, dealt users and clients, unique CSV rows).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use stampede_plan::schedule::Schedule;
use stampede_plan::{Arrival, Feeder, FeederMode, RateProfile, Shard, Stage};

/// A rate profile of up to three stages (ramps up and down, holds).
fn profile() -> impl Strategy<Value = RateProfile> {
    (
        0.0f64..400.0,
        prop::collection::vec((1u64..4_000, 0.0f64..400.0), 0..4),
    )
        .prop_map(|(start, stages)| RateProfile {
            start_rate: start,
            stages: stages
                .into_iter()
                .map(|(ms, rate)| Stage {
                    duration: Duration::from_millis(ms),
                    target_rate: rate,
                })
                .collect(),
        })
        .prop_filter("some rate", |p| p.peak_rate() > 1.0)
}

/// Every send time of `(stream, streams)` before `until`.
fn times(p: &RateProfile, stream: usize, streams: usize, until: Duration) -> Vec<Duration> {
    Schedule::new(p, Arrival::Uniform, stream, streams, 7)
        .take_while(|t| *t < until)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The union of every shard's (and every worker's) uniform arrivals is the unsharded
    /// schedule, time for time: none lost, none twice; each shard holds within 1 of
    /// total / n.
    #[test]
    fn shards_partition_the_schedule(
        p in profile(),
        n in 1usize..9,
        threads in 1usize..5,
        secs in 1u64..8,
    ) {
        let until = Duration::from_secs(secs);
        let whole = times(&p, 0, 1, until);
        let mut union = Vec::with_capacity(whole.len());
        for i in 0..n {
            let shard = Shard::new(i, n).unwrap();
            let mut mine = Vec::new();
            for w in 0..threads {
                let (stream, streams) = shard.stream(w, threads);
                mine.extend(times(&p, stream, streams, until));
            }
            let fair = whole.len() as f64 / n as f64;
            prop_assert!((mine.len() as f64 - fair).abs() < 1.0,
                "shard {i}/{n}: {} of {}", mine.len(), whole.len());
            prop_assert_eq!(mine.len(), shard.share_of(whole.len()));
            union.extend(mine);
        }
        union.sort();
        prop_assert_eq!(union, whole);
    }

    /// Users, clients and request limits are dealt: every item to exactly one shard.
    #[test]
    fn counts_are_dealt(total in 0usize..5_000, n in 1usize..50) {
        let mut seen = vec![false; total];
        let mut sum = 0;
        for i in 0..n {
            let shard = Shard::new(i, n).unwrap();
            for k in shard.deal(total) {
                prop_assert!(!seen[k], "item {} dealt twice", k);
                seen[k] = true;
            }
            sum += shard.share_of_u64(total as u64);
        }
        prop_assert!(seen.iter().all(|s| *s));
        prop_assert_eq!(sum, total as u64);
    }

    /// A unique feeder's rows, dealt over the shards and drained by each: no row lost,
    /// none used twice.
    #[test]
    fn unique_rows_are_dealt(rows in 1usize..300, n in 1usize..12) {
        let feeder = Feeder::from_rows(
            "ids",
            vec!["id".into()],
            (0..rows).map(|r| vec![r.to_string()]).collect(),
            FeederMode::Unique,
        )
        .unwrap();
        let mut used = HashSet::new();
        let mut rng = fastrand::Rng::with_seed(1);
        for i in 0..n {
            let part = Arc::new(feeder.dealt(i, n).expect("a unique feeder is dealt"));
            while let Some(row) = part.next_row(&mut rng) {
                prop_assert!(used.insert(row[0].clone()), "row {} used twice", row[0]);
            }
        }
        prop_assert_eq!(used.len(), rows);
    }
}

#[test]
fn other_feeders_are_shared_whole() {
    let f = Feeder::from_rows(
        "f",
        vec!["a".into()],
        vec![vec!["x".into()]],
        FeederMode::Sequential,
    )
    .unwrap();
    assert!(f.dealt(0, 2).is_none());
}

/// Poisson arrivals: each of the n·T streams is an independent process at 1/(n·T) of
/// the rate, so the shards together carry the whole rate.
#[test]
fn poisson_shards_sum_to_the_rate() {
    let p = RateProfile::constant(2_000.0);
    let until = Duration::from_secs(20);
    let n = 4;
    let total: usize = (0..n)
        .map(|i| {
            let (stream, streams) = Shard::new(i, n).unwrap().stream(0, 1);
            Schedule::new(&p, Arrival::Poisson, stream, streams, 99)
                .take_while(|t| *t < until)
                .count()
        })
        .sum();
    // 40,000 expected, standard deviation 200.
    assert!((total as f64 - 40_000.0).abs() < 1_000.0, "{total}");
}
