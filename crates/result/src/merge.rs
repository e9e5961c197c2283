//! The exact merge of result documents.
//!
//! Shards of one run (several processes or machines applying parts of one load), or runs
//! of one experiment, merge into one document:
//!
//! * Counts (requests, errors, timeouts, bytes, connections, sends, late sends, drops,
//!   unfinished, scheduled arrivals, error classes, status codes, protocols) are sums.
//! * Histograms are HdrHistogram additions, in total, per group (by key) and per second
//!   (by second index, aligned on each document's `started_at`: a shard that started two
//!   seconds after the earliest one adds its second 0 to the merged second 2). Every
//!   percentile is recomputed from the merged histograms.
//! * `started_at` is the earliest start; `elapsed_s` the latest end measured from it;
//!   rates are recomputed over that span (`target_rate` from the summed `scheduled`).
//! * `config`: what defines the workload (URL, method, model, arrival, scenario file,
//!   keep-alive, HTTP version and streams, timeout, fleet timings) must agree; the load
//!   figures (rate, stage rates, connections, max connections, request limit, threads)
//!   are sums, and `duration_s` is the longest. Stages must have the same durations.
//!   `latency_model` and `group_by` must agree too: mixing them would be a lie.
//! * Verdicts: `aborted` if any shard was aborted; a threshold passes only if it passed
//!   in every shard, with the worst shard's observed value (the highest for `<`/`<=`,
//!   the lowest for `>`/`>=`). Generator warnings and watched servers are the union of
//!   the shards' (each is a fact about one generator or one process), the generator's
//!   threads and CPU seconds are sums, its peak RSS the largest; the first error sample
//!   of a class is the alphabetically first of the shards' samples.
//! * Server series (`server_metrics`) are aligned by second like the client series;
//!   a second read by several shards keeps the largest reading, and sources add their
//!   attempts and failures (see `merge_server.rs`).
//! * `shard` is the union of the shards' (the same count; a shard twice is an error) and
//!   `start` the common planned start with the error furthest from zero (see
//!   `merge_shard.rs`).
//! * Lists whose order means something (groups, thresholds) keep the shards' order when
//!   every shard has the same list, and are sorted otherwise.
//!
//! The output does not depend on the order or grouping of the inputs:
//! `merge([a, b, c])`, `merge([c, a, b])` and `merge([merge([a, b]), c])` are equal.
//! Only version-2 documents merge (version 1 keeps no per-group or per-second
//! histograms).

use stampede_metrics::{HistogramError, LatencyHistogram};
use std::collections::{BTreeMap, BTreeSet};

use crate::figures::{round2, round3};
use crate::{
    Core, FaultDoc, GeneratorDoc, GroupDoc, Histograms, Percentiles, Phases, PointHistograms,
    RunConfig, RunResult, SeriesPoint, StageDoc, SummaryDoc, ThresholdOutcome, SCHEMA_VERSION,
};

/// Why documents could not be merged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no results to merge")]
    Empty,
    /// A document of a version that keeps no per-group or per-second histograms.
    #[error(
        "result {index}: schema_version {version} cannot be merged without loss \
         (version {SCHEMA_VERSION} keeps the histograms a merge needs; rerun with this stampede)"
    )]
    Version {
        /// Position of the document in the input.
        index: usize,
        /// Its `schema_version`.
        version: u32,
    },
    /// A histogram the merge needs is missing.
    #[error("result {index}: {what} has no histograms")]
    MissingHistograms {
        /// Position of the document in the input.
        index: usize,
        /// Which part (`group KEY`, `second T`, `schedule_lag`).
        what: String,
    },
    /// A histogram did not decode.
    #[error("result {index}: histogram of {what}: {source}")]
    Histogram {
        /// Position of the document in the input.
        index: usize,
        /// Which histogram.
        what: String,
        /// The decoder's error.
        source: HistogramError,
    },
    /// `started_at` is not an RFC 3339 time.
    #[error("result {index}: started_at '{value}' is not an RFC 3339 time")]
    StartedAt {
        /// Position of the document in the input.
        index: usize,
        /// The value found.
        value: String,
    },
    /// One shard of a run appears in two documents (or twice in one).
    #[error("result {index}: shard {shard} is already in an earlier result; merging it twice would count its requests twice")]
    DuplicateShard {
        /// Position of the document in the input.
        index: usize,
        /// The shard, `I/N`.
        shard: String,
    },
    /// Two documents describe different workloads.
    #[error("results differ in {field}: {first} vs {other}; only runs of one workload merge")]
    Mismatch {
        /// The field that differs.
        field: &'static str,
        /// Its value in the first document.
        first: String,
        /// Its value in a later one.
        other: String,
    },
}

/// Merges `results` into one document: exact sums and HDR additions, in total, per
/// group and per second. See the [module documentation](self) for how each field
/// combines.
pub fn merge(results: &[RunResult]) -> Result<RunResult, MergeError> {
    let first = results.first().ok_or(MergeError::Empty)?;
    let mut starts = Vec::with_capacity(results.len());
    for (index, r) in results.iter().enumerate() {
        if r.schema_version < SCHEMA_VERSION {
            return Err(MergeError::Version {
                index,
                version: r.schema_version,
            });
        }
        let start = humantime::parse_rfc3339(&r.started_at).map_err(|_| MergeError::StartedAt {
            index,
            value: r.started_at.clone(),
        })?;
        starts.push(start);
        same("latency_model", &first.latency_model, &r.latency_model)?;
        same("group_by", &first.group_by, &r.group_by)?;
    }
    let t0 = *starts.iter().min().expect("at least one result");
    let offsets: Vec<u64> = starts
        .iter()
        .map(|s| s.duration_since(t0).unwrap_or_default().as_secs())
        .collect();
    let elapsed = results
        .iter()
        .zip(&offsets)
        .map(|(r, off)| round3(*off as f64 + r.summary.elapsed_s))
        .fold(0.0, f64::max);

    let mut total = Tally::default();
    let mut schedule_lag: Option<LatencyHistogram> = None;
    let mut groups: BTreeMap<String, Tally> = BTreeMap::new();
    let mut seconds: BTreeMap<u64, Second> = BTreeMap::new();
    for (index, (r, off)) in results.iter().zip(&offsets).enumerate() {
        total.add_core(&r.summary.core, &r.errors_by_class, &r.status_codes);
        total.add_histograms(index, "the run", &r.histograms)?;
        if r.generator.schedule_lag_ms.is_some() {
            let text = present(r.histograms.schedule_lag.as_deref(), index, "schedule_lag")?;
            add_to(
                schedule_lag.get_or_insert_with(LatencyHistogram::new),
                index,
                "schedule_lag",
                text,
            )?;
        }
        for g in &r.groups {
            let what = format!("group {}", g.key);
            let h = present(g.histograms.as_ref(), index, &what)?;
            let tally = groups.entry(g.key.clone()).or_default();
            tally.add_core(&g.core, &g.errors_by_class, &g.status_codes);
            tally.add_histograms(index, &what, h)?;
        }
        for p in &r.series {
            let what = format!("second {}", p.t);
            let h = present(p.histograms.as_ref(), index, &what)?;
            seconds
                .entry(p.t + off)
                .or_insert_with(Second::new)
                .add(index, &what, p, h)?;
        }
    }

    let group_order = union_order(results.iter().map(|r| {
        r.groups
            .iter()
            .map(|g| g.key.clone())
            .collect::<Vec<String>>()
    }));
    let scheduled = results
        .iter()
        .filter_map(|r| r.summary.scheduled)
        .reduce(|a, b| a + b);
    let target_rate = scheduled
        .filter(|_| elapsed > 0.0)
        .map(|n| round2(n as f64 / elapsed));
    let server_metrics = crate::merge_server::series(results, &offsets);
    Ok(RunResult {
        schema_version: SCHEMA_VERSION,
        stampede_version: joined(results.iter().map(|r| r.stampede_version.as_str())),
        started_at: humantime::format_rfc3339_seconds(t0).to_string(),
        aborted: results.iter().any(|r| r.aborted),
        config: merge_config(results)?,
        latency_model: first.latency_model.clone(),
        summary: SummaryDoc {
            core: total.core(elapsed, target_rate),
            elapsed_s: elapsed,
            late_sends: results.iter().map(|r| r.summary.late_sends).sum(),
            dropped: results.iter().map(|r| r.summary.dropped).sum(),
            unfinished: results.iter().map(|r| r.summary.unfinished).sum(),
            scheduled,
        },
        phases_ms: Phases {
            connect: Percentiles::of(&total.hist.connect),
            tls_handshake: Percentiles::of(&total.hist.tls_handshake),
            upgrade: Percentiles::of(&total.hist.upgrade),
            ttfb: Percentiles::of(&total.hist.ttfb),
            total: Percentiles::of(&total.hist.service_time),
        },
        errors_by_class: total.errors_by_class.clone(),
        error_samples: {
            let mut samples: BTreeMap<String, String> = BTreeMap::new();
            for (class, text) in results.iter().flat_map(|r| &r.error_samples) {
                let e = samples.entry(class.clone()).or_insert_with(|| text.clone());
                if text < e {
                    e.clone_from(text);
                }
            }
            samples
        },
        status_codes: total.status_codes.clone(),
        group_by: first.group_by.clone(),
        groups: group_order
            .into_iter()
            .map(|key| {
                let t = &groups[&key];
                // What the shards say of the row itself (they run one plan: the first).
                let described = results
                    .iter()
                    .flat_map(|r| &r.groups)
                    .find(|g| g.key == key);
                GroupDoc {
                    core: t.core(elapsed, None),
                    errors_by_class: t.errors_by_class.clone(),
                    status_codes: t.status_codes.clone(),
                    histograms: Some(t.hist.encode(None)),
                    latency_model: described.and_then(|g| g.latency_model.clone()),
                    timeout_ms: described.and_then(|g| g.timeout_ms),
                    key,
                }
            })
            .collect(),
        series: seconds.into_iter().map(|(t, s)| s.point(t)).collect(),
        generator: merge_generator(results, schedule_lag.as_ref()),
        histograms: total.hist.encode(schedule_lag.as_ref()),
        servers: sorted_union(results.iter().flat_map(|r| &r.servers)),
        thresholds: merge_thresholds(results),
        server_metric_sources: crate::merge_server::sources(results, &server_metrics),
        // A coordinator describes the workers of one live run; a merge of documents has
        // none (the coordinator that merges live writes its own).
        coordinator: None,
        server_metrics,
        shard: crate::merge_shard::shards(results)?,
        start: crate::merge_shard::start(results),
        // Shards of one replay read the same file: the first one's account of it.
        replay: results.iter().find_map(|r| r.replay.clone()),
        faults: merge_faults(results, &offsets),
    })
}

/// The histograms of `what` in document `index`, or the error that says they are missing.
fn present<T>(h: Option<T>, index: usize, what: &str) -> Result<T, MergeError> {
    h.ok_or_else(|| MergeError::MissingHistograms {
        index,
        what: what.to_string(),
    })
}

fn same<T: PartialEq + std::fmt::Debug>(
    field: &'static str,
    first: &T,
    other: &T,
) -> Result<(), MergeError> {
    if first == other {
        Ok(())
    } else {
        Err(MergeError::Mismatch {
            field,
            first: format!("{first:?}"),
            other: format!("{other:?}"),
        })
    }
}

fn add_to(
    h: &mut LatencyHistogram,
    index: usize,
    what: &str,
    text: &str,
) -> Result<(), MergeError> {
    let other = LatencyHistogram::from_v2_base64(text).map_err(|source| MergeError::Histogram {
        index,
        what: what.to_string(),
        source,
    })?;
    h.merge(&other);
    Ok(())
}

/// The six histograms of a run or a group.
#[derive(Debug, Default)]
struct HistSet {
    latency: LatencyHistogram,
    service_time: LatencyHistogram,
    connect: LatencyHistogram,
    tls_handshake: LatencyHistogram,
    upgrade: LatencyHistogram,
    ttfb: LatencyHistogram,
}

impl HistSet {
    fn encode(&self, schedule_lag: Option<&LatencyHistogram>) -> Histograms {
        Histograms {
            unit: "us".to_string(),
            latency: self.latency.to_v2_base64(),
            service_time: self.service_time.to_v2_base64(),
            connect: self.connect.to_v2_base64(),
            tls_handshake: self.tls_handshake.to_v2_base64(),
            ttfb: self.ttfb.to_v2_base64(),
            upgrade: self.upgrade.to_v2_base64(),
            schedule_lag: schedule_lag.map(LatencyHistogram::to_v2_base64),
        }
    }
}

/// Counts and histograms of the run or of one group, summed over documents.
#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    errors: u64,
    timeouts: u64,
    bytes_received: u64,
    bytes_sent: u64,
    connections_opened: u64,
    protocols: BTreeMap<String, u64>,
    errors_by_class: BTreeMap<String, u64>,
    status_codes: BTreeMap<String, u64>,
    hist: HistSet,
}

fn add_counts(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, n) in from {
        *into.entry(k.clone()).or_default() += n;
    }
}

impl Tally {
    fn add_core(
        &mut self,
        c: &Core,
        classes: &BTreeMap<String, u64>,
        statuses: &BTreeMap<String, u64>,
    ) {
        self.requests += c.requests;
        self.errors += c.errors;
        self.timeouts += c.timeouts;
        self.bytes_received += c.bytes_received;
        self.bytes_sent += c.bytes_sent;
        self.connections_opened += c.connections_opened;
        add_counts(&mut self.protocols, &c.protocols);
        add_counts(&mut self.errors_by_class, classes);
        add_counts(&mut self.status_codes, statuses);
    }

    fn add_histograms(&mut self, index: usize, of: &str, h: &Histograms) -> Result<(), MergeError> {
        let h_ = &mut self.hist;
        for (into, name, text) in [
            (&mut h_.latency, "latency", &h.latency),
            (&mut h_.service_time, "service_time", &h.service_time),
            (&mut h_.connect, "connect", &h.connect),
            (&mut h_.tls_handshake, "tls_handshake", &h.tls_handshake),
            (&mut h_.upgrade, "upgrade", &h.upgrade),
            (&mut h_.ttfb, "ttfb", &h.ttfb),
        ] {
            add_to(into, index, &format!("{of}, {name}"), text)?;
        }
        Ok(())
    }

    fn core(&self, elapsed: f64, target_rate: Option<f64>) -> Core {
        Core {
            requests: self.requests,
            errors: self.errors,
            timeouts: self.timeouts,
            error_rate: match self.requests {
                0 => 0.0,
                n => (self.errors + self.timeouts) as f64 / n as f64,
            },
            achieved_rate: if elapsed > 0.0 {
                round2(self.requests as f64 / elapsed)
            } else {
                0.0
            },
            target_rate,
            latency_ms: Percentiles::of(&self.hist.latency),
            service_time_ms: Percentiles::of(&self.hist.service_time),
            bytes_received: self.bytes_received,
            bytes_sent: self.bytes_sent,
            connections_opened: self.connections_opened,
            protocols: self.protocols.clone(),
        }
    }
}

/// One merged second.
#[derive(Debug)]
struct Second {
    requests: u64,
    errors: u64,
    timeouts: u64,
    sends: u64,
    late_sends: u64,
    dropped: u64,
    target_rate: Option<f64>,
    latency: LatencyHistogram,
    service_time: LatencyHistogram,
}

impl Second {
    fn new() -> Self {
        Second {
            requests: 0,
            errors: 0,
            timeouts: 0,
            sends: 0,
            late_sends: 0,
            dropped: 0,
            target_rate: None,
            latency: LatencyHistogram::new(),
            service_time: LatencyHistogram::new(),
        }
    }

    fn add(
        &mut self,
        index: usize,
        what: &str,
        p: &SeriesPoint,
        h: &PointHistograms,
    ) -> Result<(), MergeError> {
        self.requests += p.requests;
        self.errors += p.errors;
        self.timeouts += p.timeouts;
        self.sends += p.sends;
        self.late_sends += p.late_sends;
        self.dropped += p.dropped;
        if let Some(r) = p.target_rate {
            // Rates are kept to two decimals: rounding each sum keeps it exact.
            self.target_rate = Some(round2(self.target_rate.unwrap_or(0.0) + r));
        }
        add_to(
            &mut self.latency,
            index,
            &format!("{what}, latency"),
            &h.latency,
        )?;
        add_to(
            &mut self.service_time,
            index,
            &format!("{what}, service_time"),
            &h.service_time,
        )?;
        Ok(())
    }

    fn point(self, t: u64) -> SeriesPoint {
        let pct = |h: &LatencyHistogram| {
            [
                h.quantile_ms(0.5),
                h.quantile_ms(0.9),
                h.quantile_ms(0.99),
                h.max_ms(),
            ]
            .into()
        };
        SeriesPoint {
            t,
            requests: self.requests,
            errors: self.errors,
            timeouts: self.timeouts,
            sends: self.sends,
            target_rate: self.target_rate,
            late_sends: self.late_sends,
            dropped: self.dropped,
            latency_ms: pct(&self.latency),
            service_time_ms: pct(&self.service_time),
            histograms: Some(PointHistograms {
                latency: self.latency.to_v2_base64(),
                service_time: self.service_time.to_v2_base64(),
            }),
        }
    }
}

/// One list when every input has the same, else the sorted union. Either way the
/// answer does not depend on the order or grouping of the inputs.
fn union_order<T: Ord + Clone>(lists: impl Iterator<Item = Vec<T>>) -> Vec<T> {
    let lists: Vec<Vec<T>> = lists.collect();
    if lists.windows(2).all(|w| w[0] == w[1]) {
        return lists.into_iter().next().unwrap_or_default();
    }
    lists
        .into_iter()
        .flatten()
        .collect::<BTreeSet<T>>()
        .into_iter()
        .collect()
}

/// Every distinct element, in the order of their JSON text.
fn sorted_union<'a, T: serde::Serialize + Clone + 'a>(
    items: impl Iterator<Item = &'a T>,
) -> Vec<T> {
    let keyed: BTreeMap<String, T> = items
        .map(|t| {
            let key = serde_json::to_string(t).expect("document parts serialize");
            (key, t.clone())
        })
        .collect();
    keyed.into_values().collect()
}

/// Distinct versions joined with ` + ` (a merge of merges stays flat).
fn joined<'a>(versions: impl Iterator<Item = &'a str>) -> String {
    let set: BTreeSet<&str> = versions.flat_map(|v| v.split(" + ")).collect();
    set.into_iter().collect::<Vec<_>>().join(" + ")
}

fn sum_opt<T: std::ops::Add<Output = T> + Copy>(
    values: impl Iterator<Item = Option<T>>,
) -> Option<T> {
    values.flatten().reduce(|a, b| a + b)
}

fn merge_config(results: &[RunResult]) -> Result<RunConfig, MergeError> {
    let first = &results[0].config;
    for r in &results[1..] {
        let c = &r.config;
        same(
            "config.scenario_file",
            &first.scenario_file,
            &c.scenario_file,
        )?;
        same("config.url", &first.url, &c.url)?;
        same("config.method", &first.method, &c.method)?;
        same("config.model", &first.model, &c.model)?;
        same("config.arrival", &first.arrival, &c.arrival)?;
        same("config.keep_alive", &first.keep_alive, &c.keep_alive)?;
        same("config.http", &first.http, &c.http)?;
        same("config.streams", &first.streams, &c.streams)?;
        same("config.timeout_ms", &first.timeout_ms, &c.timeout_ms)?;
        same("config.every_s", &first.every_s, &c.every_s)?;
        same("config.hold_s", &first.hold_s, &c.hold_s)?;
        let durations = |c: &RunConfig| c.stages.iter().map(|s| s.duration_s).collect::<Vec<_>>();
        same("config.stages", &durations(first), &durations(c))?;
    }
    let configs = || results.iter().map(|r| &r.config);
    Ok(RunConfig {
        rate: sum_opt(configs().map(|c| c.rate)).map(round2),
        stages: first
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| StageDoc {
                duration_s: s.duration_s,
                rate: round2(configs().map(|c| c.stages[i].rate).sum()),
            })
            .collect(),
        connections: sum_opt(configs().map(|c| c.connections)),
        max_connections: sum_opt(configs().map(|c| c.max_connections)),
        duration_s: configs().filter_map(|c| c.duration_s).reduce(f64::max),
        requests: sum_opt(configs().map(|c| c.requests)),
        threads: configs().map(|c| c.threads).sum(),
        ..first.clone()
    })
}

fn merge_generator(results: &[RunResult], schedule_lag: Option<&LatencyHistogram>) -> GeneratorDoc {
    // Worker figures in a canonical order (busiest first): which shard a worker ran in
    // is not part of the document.
    let mut workers: Vec<(f64, f64)> = results
        .iter()
        .flat_map(|r| {
            let g = &r.generator;
            g.worker_cpu_s
                .iter()
                .copied()
                .zip(g.worker_busy.iter().copied())
        })
        .collect();
    workers.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.total_cmp(&a.1)));
    GeneratorDoc {
        threads: results.iter().map(|r| r.generator.threads).sum(),
        cpu_s: results
            .iter()
            .map(|r| r.generator.cpu_s)
            .fold(0.0, |a, b| round3(a + b)),
        worker_cpu_s: workers.iter().map(|w| w.0).collect(),
        worker_busy: workers.iter().map(|w| w.1).collect(),
        sends: results.iter().map(|r| r.generator.sends).sum(),
        schedule_lag_ms: schedule_lag.map(Percentiles::of),
        peak_rss_bytes: results
            .iter()
            .filter_map(|r| r.generator.peak_rss_bytes)
            .max(),
        warnings: sorted_union(results.iter().flat_map(|r| &r.generator.warnings)),
    }
}

/// Every shard's faults on the merged time axis (shifted by the shard's start), in start
/// order; a fault that several shards report alike is kept once.
fn merge_faults(results: &[RunResult], offsets: &[u64]) -> Vec<FaultDoc> {
    let mut faults: Vec<FaultDoc> = Vec::new();
    for (r, &off) in results.iter().zip(offsets) {
        for f in &r.faults {
            let shifted = FaultDoc {
                start_s: round3(f.start_s + off as f64),
                end_s: f.end_s.map(|e| round3(e + off as f64)),
                ..f.clone()
            };
            if !faults.contains(&shifted) {
                faults.push(shifted);
            }
        }
    }
    faults.sort_by(|a, b| {
        (a.start_s.total_cmp(&b.start_s))
            .then_with(|| {
                a.end_s
                    .unwrap_or(f64::INFINITY)
                    .total_cmp(&b.end_s.unwrap_or(f64::INFINITY))
            })
            .then_with(|| (&a.kind, &a.spec, &a.target).cmp(&(&b.kind, &b.spec, &b.target)))
    });
    faults
}

/// True when a larger observed value is worse for this threshold text (`p99 < 200ms`).
fn lower_is_better(threshold: &str) -> bool {
    !(threshold.contains('>'))
}

fn merge_thresholds(results: &[RunResult]) -> Vec<ThresholdOutcome> {
    let key = |t: &ThresholdOutcome| (t.scope.clone(), t.threshold.clone());
    let order = union_order(
        results
            .iter()
            .map(|r| r.thresholds.iter().map(key).collect::<Vec<_>>()),
    );
    order
        .into_iter()
        .map(|(scope, threshold)| {
            let all: Vec<&ThresholdOutcome> = results
                .iter()
                .flat_map(|r| &r.thresholds)
                .filter(|t| t.scope == scope && t.threshold == threshold)
                .collect();
            let passed = all.iter().all(|t| t.passed);
            // The worst shard's value: among the failures when there are some; a shard
            // without data (observed null) makes the merged verdict "no data" too.
            let candidates: Vec<&ThresholdOutcome> = all
                .iter()
                .copied()
                .filter(|t| passed || !t.passed)
                .collect();
            let values = candidates.iter().map(|t| t.observed);
            let observed = if values.clone().any(|v| v.is_none()) {
                None
            } else if lower_is_better(&threshold) {
                Some(values.flatten().fold(f64::NEG_INFINITY, f64::max))
            } else {
                Some(values.flatten().fold(f64::INFINITY, f64::min))
            };
            // Windows are per shard: the worst shard's worst window.
            let worst = candidates
                .iter()
                .filter_map(|t| t.worst_window)
                .reduce(|a, b| match lower_is_better(&threshold) {
                    true if b.observed > a.observed => b,
                    false if b.observed < a.observed => b,
                    _ => a,
                });
            ThresholdOutcome {
                scope,
                threshold,
                observed,
                passed,
                window_s: all.iter().find_map(|t| t.window_s),
                worst_window: worst,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_order_keeps_a_common_order_and_sorts_otherwise() {
        let same = union_order([vec!["b", "a"], vec!["b", "a"]].into_iter());
        assert_eq!(same, vec!["b", "a"]);
        let mixed = union_order([vec!["b", "a"], vec!["c"]].into_iter());
        assert_eq!(mixed, vec!["a", "b", "c"]);
    }

    #[test]
    fn versions_join_flat() {
        assert_eq!(joined(["0.2", "0.1 + 0.2", "0.1"].into_iter()), "0.1 + 0.2");
    }

    #[test]
    fn threshold_direction() {
        assert!(lower_is_better("p99 < 200ms"));
        assert!(!lower_is_better("rate >= 100"));
    }
}
