//! Synthetic runs for the unit tests of the renderers.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::time::{Duration, SystemTime};

use stampede_metrics::RunOutcome;
use stampede_metrics::{ErrorClass, GeneratorStats, IntervalPoint, Stats};
use stampede_plan::{GroupBy, Load, RateProfile, RunPlan, Stage};

/// An open-model plan ramping to 100 req/s over 2 s, then holding for 3 s.
pub(crate) fn plan(grouped: bool) -> RunPlan {
    RunPlan::builder("http://127.0.0.1:8080/api?delay=2ms")
        .load(Load::Open {
            profile: RateProfile {
                start_rate: 0.0,
                stages: vec![
                    Stage {
                        duration: Duration::from_secs(2),
                        target_rate: 100.0,
                    },
                    Stage {
                        duration: Duration::from_secs(3),
                        target_rate: 100.0,
                    },
                ],
            },
            arrival: stampede_plan::Arrival::Uniform,
            max_connections: NonZeroUsize::new(10).unwrap(),
        })
        .duration(Duration::from_secs(5))
        .timeout(Duration::from_secs(1))
        .threads(2)
        .group_by(grouped.then(|| GroupBy::Header("X-Served-By".into())))
        .build()
        .unwrap()
}

/// Stats of one second: `n` responses around `ms` milliseconds, every tenth a 503,
/// plus one reset and one timeout.
pub(crate) fn second_stats(n: u64, ms: u64) -> Stats {
    let mut s = Stats::new();
    for i in 0..n {
        let status = if i % 10 == 9 { 503 } else { 200 };
        let lat = Duration::from_micros(ms * 1000 + i * 37);
        s.record_response(status, lat, lat * 3 / 4);
    }
    s.record_error(ErrorClass::Reset);
    s.record_timeout();
    s.record_connect(Duration::from_micros(150));
    s.bytes_received += n * 100;
    s.bytes_sent += n * 50;
    s
}

/// A whole run: five seconds, with two groups when `grouped`; `requests = 0` in every
/// second when `empty`.
pub(crate) fn outcome(grouped: bool, empty: bool) -> RunOutcome {
    let mut total = Stats::new();
    let mut generator = GeneratorStats::default();
    let mut series = Vec::new();
    let mut groups: BTreeMap<String, Stats> = BTreeMap::new();
    for second in 0..5u64 {
        let s = if empty {
            Stats::new()
        } else {
            second_stats(20 * (second + 1), 2 + second)
        };
        let g = GeneratorStats {
            sends: s.requests,
            late_sends: second,
            ..GeneratorStats::default()
        };
        if grouped && !empty {
            groups.entry("instance-1".into()).or_default().merge(&s);
            groups
                .entry("instance-<2>".into())
                .or_default()
                .merge(&second_stats(5, 40));
            total.merge(&second_stats(5, 40));
        }
        total.merge(&s);
        generator.merge(&g);
        series.push(IntervalPoint::new(second, &s, &g));
    }
    RunOutcome {
        started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        elapsed: Duration::from_secs(5),
        total,
        groups: groups.into_iter().collect(),
        generator,
        series,
        aborted: false,
        threads: 2,
        worker_cpu: vec![Duration::from_millis(100); 2],
        worker_wall: vec![Duration::from_millis(1000); 2],
        process_cpu: Duration::from_millis(250),
        peak_rss_bytes: Some(20 << 20),
        error_samples: BTreeMap::new(),
        scheduled_groups: Vec::new(),
        group_timeouts: Vec::new(),
        start: None,
    }
}
