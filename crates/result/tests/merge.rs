//! The merge is exact and does not depend on the order or grouping of its inputs.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use stampede_metrics::{LatencyHistogram, Stats};
use stampede_result::{
    merge, Core, FaultDoc, GeneratorDoc, GroupDoc, Histograms, MergeError, MetricSourceDoc,
    Percentiles, Phases, PointHistograms, PointPercentiles, RunConfig, RunResult, SeriesPoint,
    ServerMetricDoc, ShardDoc, StartDoc, SummaryDoc, ThresholdOutcome, SCHEMA_VERSION,
};

const KEYS: [&str; 3] = ["instance-1", "instance-2", "instance-3"];

/// One generated shard: when it started (seconds after the earliest possible start),
/// and per second, per group key, the latencies (µs) and statuses of its requests.
#[derive(Debug, Clone)]
struct Shard {
    start: u64,
    seconds: Vec<BTreeMap<usize, Vec<(u64, u16)>>>,
}

fn shard() -> impl Strategy<Value = Shard> {
    let request = (1u64..2_000_000, prop_oneof![Just(200u16), Just(503u16)]);
    let group = prop::collection::vec(request, 0..20);
    let second = prop::collection::btree_map(0usize..KEYS.len(), group, 0..3);
    (0u64..3, prop::collection::vec(second, 1..4))
        .prop_map(|(start, seconds)| Shard { start, seconds })
}

fn hist(h: &LatencyHistogram) -> String {
    h.to_v2_base64()
}

fn histograms(s: &Stats, lag: Option<&LatencyHistogram>) -> Histograms {
    Histograms {
        unit: "us".into(),
        latency: hist(&s.latency),
        service_time: hist(&s.service_time),
        connect: hist(&s.connect),
        tls_handshake: hist(&s.tls_handshake),
        ttfb: hist(&s.ttfb),
        upgrade: hist(&s.upgrade),
        schedule_lag: lag.map(hist),
    }
}

fn counts<K: ToString>(it: impl Iterator<Item = (K, u64)>) -> BTreeMap<String, u64> {
    it.map(|(k, n)| (k.to_string(), n)).collect()
}

fn core(s: &Stats, elapsed: f64, target_rate: Option<f64>) -> Core {
    Core {
        requests: s.requests,
        errors: s.errors,
        timeouts: s.timeouts,
        error_rate: s.failure_rate(),
        achieved_rate: (s.requests as f64 / elapsed * 100.0).round() / 100.0,
        target_rate,
        latency_ms: Percentiles::of(&s.latency),
        service_time_ms: Percentiles::of(&s.service_time),
        bytes_received: s.bytes_received,
        bytes_sent: s.bytes_sent,
        connections_opened: s.connections_opened,
        protocols: counts(s.protocols.non_zero().map(|(p, n)| (p.as_str(), n))),
    }
}

fn record(s: &mut Stats, us: u64, status: u16) {
    let d = Duration::from_micros(us);
    s.record_response(status, d, d / 2);
    s.ttfb.record(d / 3);
    s.bytes_received += 100;
    s.bytes_sent += 40;
}

/// A version-2 document of one shard, built the way the analysis assembles one.
fn document(shard: &Shard, rate: f64) -> RunResult {
    let elapsed = shard.seconds.len() as f64;
    let mut total = Stats::new();
    let mut lag = LatencyHistogram::new();
    let mut groups: BTreeMap<usize, Stats> = BTreeMap::new();
    let mut series = Vec::new();
    for (t, second) in shard.seconds.iter().enumerate() {
        let mut this = Stats::new();
        for (key, requests) in second {
            let g = groups.entry(*key).or_default();
            for (us, status) in requests {
                record(&mut this, *us, *status);
                record(g, *us, *status);
                lag.record_us(us / 100);
            }
        }
        this.record_connect(Duration::from_micros(100 + t as u64));
        total.merge(&this);
        let pct = |h: &LatencyHistogram| -> PointPercentiles {
            [
                h.quantile_ms(0.5),
                h.quantile_ms(0.9),
                h.quantile_ms(0.99),
                h.max_ms(),
            ]
            .into()
        };
        series.push(SeriesPoint {
            t: t as u64,
            requests: this.requests,
            errors: this.errors,
            timeouts: 0,
            sends: this.requests,
            target_rate: Some(rate),
            late_sends: 0,
            dropped: 0,
            latency_ms: pct(&this.latency),
            service_time_ms: pct(&this.service_time),
            histograms: Some(PointHistograms {
                latency: hist(&this.latency),
                service_time: hist(&this.service_time),
            }),
        });
    }
    let classes = |s: &Stats| counts(s.errors_by_class.non_zero().map(|(c, n)| (c.as_str(), n)));
    let statuses = |s: &Stats| counts(s.status_codes.non_zero());
    RunResult {
        schema_version: SCHEMA_VERSION,
        stampede_version: "0.1.0".into(),
        started_at: format!("2026-11-29T14:00:0{}Z", shard.start),
        aborted: false,
        config: RunConfig {
            scenario_file: None,
            url: "http://127.0.0.1:8080/".into(),
            method: "GET".into(),
            model: "open".into(),
            rate: Some(rate),
            stages: Vec::new(),
            arrival: Some("uniform".into()),
            connections: None,
            every_s: None,
            hold_s: None,
            max_connections: Some(10),
            duration_s: Some(elapsed),
            requests: None,
            timeout_ms: 1000.0,
            threads: 1,
            keep_alive: true,
            http: "http1".into(),
            streams: None,
        },
        latency_model: "corrected".into(),
        summary: SummaryDoc {
            core: core(&total, elapsed, Some(rate)),
            elapsed_s: elapsed,
            late_sends: 0,
            dropped: 0,
            unfinished: 0,
            scheduled: Some((rate * elapsed) as u64),
        },
        phases_ms: Phases {
            connect: Percentiles::of(&total.connect),
            tls_handshake: Percentiles::of(&total.tls_handshake),
            upgrade: Percentiles::of(&total.upgrade),
            ttfb: Percentiles::of(&total.ttfb),
            total: Percentiles::of(&total.service_time),
        },
        errors_by_class: classes(&total),
        error_samples: BTreeMap::new(),
        status_codes: statuses(&total),
        group_by: Some("X-Served-By".into()),
        groups: groups
            .iter()
            .map(|(k, s)| GroupDoc {
                key: KEYS[*k].into(),
                core: core(s, elapsed, None),
                errors_by_class: classes(s),
                status_codes: statuses(s),
                histograms: Some(histograms(s, None)),
                latency_model: None,
                timeout_ms: None,
            })
            .collect(),
        series,
        generator: GeneratorDoc {
            threads: 1,
            cpu_s: 0.125 * elapsed,
            worker_cpu_s: vec![0.125 * elapsed],
            worker_busy: vec![0.125],
            sends: total.requests,
            schedule_lag_ms: Some(Percentiles::of(&lag)),
            peak_rss_bytes: Some(20 << 20),
            warnings: Vec::new(),
        },
        histograms: histograms(&total, Some(&lag)),
        servers: Vec::new(),
        // A server series read by every shard: requests of the second / 10, unread
        // (failed scrape) in seconds whose count is odd.
        server_metrics: vec![ServerMetricDoc {
            name: "cpu_busy".into(),
            labels: BTreeMap::new(),
            source: "http://127.0.0.1:9100/metrics".into(),
            derived: "value".into(),
            unit: Some("ratio".into()),
            sampled: None,
            values: shard
                .seconds
                .iter()
                .map(|s| s.values().map(Vec::len).sum::<usize>())
                .map(|n| (n % 2 == 0).then_some(n as f64 / 10.0))
                .collect(),
        }],
        coordinator: None,
        faults: vec![FaultDoc {
            kind: "latency".into(),
            spec: "at 1s for 1s: latency 50ms".into(),
            target: "proxy 127.0.0.1:9000 -> 127.0.0.1:8080".into(),
            start_s: 1.002,
            end_s: shard.start.is_multiple_of(2).then_some(2.001),
        }],
        server_metric_sources: vec![MetricSourceDoc {
            source: "http://127.0.0.1:9100/metrics".into(),
            kind: "scrape".into(),
            attempts: shard.seconds.len() as u64 + 1,
            failures: shard.start % 2,
            first_error: (shard.start % 2 == 1)
                .then(|| format!("connect: refused {}", shard.start)),
            series: 1,
        }],
        thresholds: vec![ThresholdOutcome {
            scope: None,
            threshold: "p99 < 1000ms".into(),
            observed: Some(total.latency.quantile_ms(0.99)),
            window_s: None,
            worst_window: None,
            passed: total.latency.quantile_ms(0.99) < 1000.0,
        }],
        shard: None,
        start: None,
        replay: None,
    }
}

fn decode(text: &str) -> LatencyHistogram {
    LatencyHistogram::from_v2_base64(text).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn merge_is_exact_and_independent_of_order_and_grouping(
        shards in prop::collection::vec(shard(), 1..5),
        rates in prop::collection::vec(0u32..400, 5),
        order_seed in any::<u64>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let docs: Vec<RunResult> = shards
            .iter()
            .zip(&rates)
            .map(|(s, r)| document(s, f64::from(*r) * 2.5))
            .collect();
        let merged = merge(&docs).unwrap();

        // Any order.
        let mut shuffled = docs.clone();
        fastrand::Rng::with_seed(order_seed).shuffle(&mut shuffled);
        prop_assert_eq!(&merge(&shuffled).unwrap(), &merged);
        // Any grouping: merge the two parts first, then the two merges.
        let at = cut.index(docs.len() + 1);
        if at > 0 && at < docs.len() {
            let parts = [merge(&shuffled[..at]).unwrap(), merge(&shuffled[at..]).unwrap()];
            prop_assert_eq!(&merge(&parts).unwrap(), &merged);
        }

        // Exact: counts are sums and histograms hold every sample.
        let mut all = LatencyHistogram::new();
        let mut by_second: BTreeMap<u64, (u64, LatencyHistogram)> = BTreeMap::new();
        let mut by_key: BTreeMap<&str, u64> = BTreeMap::new();
        for s in &shards {
            for (t, second) in s.seconds.iter().enumerate() {
                let slot = by_second
                    .entry(s.start + t as u64)
                    .or_insert_with(|| (0, LatencyHistogram::new()));
                for (key, requests) in second {
                    *by_key.entry(KEYS[*key]).or_default() += requests.len() as u64;
                    for (us, _) in requests {
                        all.record_us(*us);
                        slot.0 += 1;
                        slot.1.record_us(*us);
                    }
                }
            }
        }
        prop_assert_eq!(merged.summary.core.requests, all.count());
        prop_assert_eq!(decode(&merged.histograms.latency), all.clone());
        prop_assert_eq!(merged.summary.core.latency_ms, Percentiles::of(&all));
        let earliest = shards.iter().map(|s| s.start).min().unwrap();
        for p in &merged.series {
            let (n, h) = &by_second[&(p.t + earliest)];
            prop_assert_eq!(p.requests, *n);
            prop_assert_eq!(&decode(&p.histograms.as_ref().unwrap().latency), h);
            prop_assert_eq!(p.latency_ms.p99, h.quantile_ms(0.99));
        }
        let keys: BTreeMap<&str, u64> = merged
            .groups
            .iter()
            .map(|g| (g.key.as_str(), g.core.requests))
            .collect();
        prop_assert_eq!(keys, by_key);
        let scheduled: u64 = docs.iter().map(|d| d.summary.scheduled.unwrap()).sum();
        prop_assert_eq!(merged.summary.scheduled, Some(scheduled));
        prop_assert_eq!(merged.generator.threads, docs.len());
    }
}

#[test]
fn shards_that_started_later_add_to_later_seconds() {
    let one = |start: u64| Shard {
        start,
        seconds: vec![BTreeMap::from([(0, vec![(1_000, 200)])]); 2],
    };
    let docs = [document(&one(0), 100.0), document(&one(2), 100.0)];
    let m = merge(&docs).unwrap();
    assert_eq!(m.started_at, "2026-11-29T14:00:00Z");
    assert_eq!(m.summary.elapsed_s, 4.0);
    let per_second: Vec<(u64, u64)> = m.series.iter().map(|p| (p.t, p.requests)).collect();
    assert_eq!(per_second, vec![(0, 1), (1, 1), (2, 1), (3, 1)]);
    // 400 arrivals scheduled over 4 s.
    assert_eq!(m.summary.core.target_rate, Some(100.0));
    assert_eq!(m.config.rate, Some(200.0), "the shards' rates add up");
    let faults: Vec<(f64, Option<f64>)> = m.faults.iter().map(|f| (f.start_s, f.end_s)).collect();
    assert_eq!(
        faults,
        vec![(1.002, Some(2.001)), (3.002, Some(4.001))],
        "each shard's fault on the merged time axis"
    );
}

#[test]
fn server_series_align_by_second_and_keep_the_largest_reading() {
    let shard = |start: u64, n: usize| Shard {
        start,
        seconds: vec![BTreeMap::from([(0, vec![(1_000, 200); n])]); 2],
    };
    // Shard a reads 0.2 in seconds 0 and 1; shard b starts a second later and reads 0.4
    // in its seconds 0 and 1 (merged seconds 1 and 2).
    let m = merge(&[document(&shard(0, 2), 10.0), document(&shard(1, 4), 10.0)]).unwrap();
    assert_eq!(m.server_metrics.len(), 1);
    assert_eq!(
        m.server_metrics[0].values,
        vec![Some(0.2), Some(0.4), Some(0.4)]
    );
    // Sources add their attempts and failures, and keep the first error.
    let s = &m.server_metric_sources[0];
    assert_eq!((s.attempts, s.failures, s.series), (6, 1, 1));
    assert_eq!(s.first_error.as_deref(), Some("connect: refused 1"));
    // A failed scrape (null) never hides another shard's reading.
    let m = merge(&[document(&shard(0, 3), 10.0), document(&shard(0, 2), 10.0)]).unwrap();
    assert_eq!(m.server_metrics[0].values, vec![Some(0.2), Some(0.2)]);
}

#[test]
fn merge_refuses_what_it_cannot_merge_exactly() {
    let s = Shard {
        start: 0,
        seconds: vec![BTreeMap::new()],
    };
    assert!(matches!(merge(&[]), Err(MergeError::Empty)));
    let mut other = document(&s, 10.0);
    other.config.url = "http://127.0.0.1:9090/".into();
    let err = merge(&[document(&s, 10.0), other]).unwrap_err();
    assert!(err.to_string().contains("config.url"), "{err}");
    let mut closed = document(&s, 10.0);
    closed.latency_model = "service_time".into();
    assert!(matches!(
        merge(&[document(&s, 10.0), closed]),
        Err(MergeError::Mismatch {
            field: "latency_model",
            ..
        })
    ));
    let v1 = RunResult::from_json(include_str!("fixtures/v1-result.json")).unwrap();
    let err = merge(&[v1]).unwrap_err();
    assert!(
        err.to_string()
            .contains("schema_version 1 cannot be merged"),
        "{err}"
    );
}

#[test]
fn thresholds_pass_only_when_every_shard_passed() {
    let s = Shard {
        start: 0,
        seconds: vec![BTreeMap::new()],
    };
    let mut a = document(&s, 10.0);
    let mut b = document(&s, 10.0);
    a.thresholds[0].observed = Some(900.0);
    b.thresholds[0].observed = Some(1200.0);
    b.thresholds[0].passed = false;
    let m = merge(&[a, b]).unwrap();
    assert_eq!(m.thresholds.len(), 1);
    assert!(!m.thresholds[0].passed);
    assert_eq!(m.thresholds[0].observed, Some(1200.0));
}

#[test]
fn shards_are_united_once_and_the_planned_start_kept() {
    let mk = |i: usize, error_ms: f64| {
        let one = Shard {
            start: 0,
            seconds: vec![BTreeMap::from([(0, vec![(1_000, 200)])])],
        };
        let mut d = document(&one, 10.0);
        d.shard = Some(ShardDoc {
            count: 3,
            indexes: vec![i],
        });
        d.start = Some(StartDoc {
            planned_at: "2026-11-29T14:00:00.000000Z".into(),
            error_ms,
        });
        d
    };
    let m = merge(&[mk(2, 0.4), mk(0, -1.5)]).unwrap();
    assert_eq!(
        m.shard,
        Some(ShardDoc {
            count: 3,
            indexes: vec![0, 2]
        })
    );
    assert_eq!(m.start.as_ref().unwrap().error_ms, -1.5);
    let all = merge(&[m.clone(), mk(1, 0.1)]).unwrap();
    assert_eq!(all.shard.unwrap().indexes, vec![0, 1, 2]);
    let twice = merge(&[m, mk(2, 0.0)]).unwrap_err().to_string();
    assert!(twice.contains("shard 2/3 is already"), "{twice}");
    let mut other = mk(1, 0.0);
    other.shard = Some(ShardDoc {
        count: 4,
        indexes: vec![1],
    });
    assert!(merge(&[mk(0, 0.0), other])
        .unwrap_err()
        .to_string()
        .contains("shard.count"));
    // A different planned start: no common start to report.
    let mut late = mk(1, 0.0);
    late.start.as_mut().unwrap().planned_at = "2026-11-29T14:00:05Z".into();
    assert_eq!(merge(&[mk(0, 0.0), late]).unwrap().start, None);
}

#[test]
fn documents_and_merges_fit_the_committed_schema() {
    let schema: serde_json::Value = serde_json::from_str(stampede_result::RESULT_SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let s = Shard {
        start: 1,
        seconds: vec![BTreeMap::from([(1, vec![(5_000, 503), (70, 200)])]); 3],
    };
    let doc = document(&s, 20.0);
    let merged = merge(&[doc.clone(), document(&s, 30.0)]).unwrap();
    for d in [doc, merged] {
        let value: serde_json::Value = serde_json::from_str(&d.to_json()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
        assert_eq!(RunResult::from_json(&d.to_json()).unwrap(), d);
    }
}
