//! Server-side metrics on the run's time axis (the CLI's `--server-metrics`,
//! `--server-metric`, `--prometheus` and `--query`): Prometheus exposition endpoints
//! scraped once per second from their own threads, and Prometheus `query_range` asked
//! after the run. What was read goes into the result's `server_metrics`, how reading
//! went into `server_metric_sources`; a failed scrape or query is counted, never fatal.

pub(crate) mod http;
mod query;
mod select;
mod text;

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use stampede_engine::{Control, LiveSecond};
use stampede_result::{MetricSourceDoc, ServerMetricDoc};

pub use select::Selector;
use select::Spec;
use text::Labels;

use crate::{Finish, Flow, Observer};

/// How long one scrape may take (the next one is due a second later).
pub const SCRAPE_TIMEOUT: Duration = Duration::from_millis(800);
/// How long one `query_range` may take.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct ServerMetricsConfig {
    /// Exposition endpoints to scrape every second (`http://host:9100/metrics`).
    pub endpoints: Vec<String>,
    /// Series to pick; empty: the node exporter defaults.
    pub picks: Vec<Selector>,
    /// A Prometheus server to ask after the run.
    pub prometheus: Option<String>,
    /// PromQL expressions for it.
    pub queries: Vec<String>,
}

/// A bad URL or a query without a server.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ServerMetricsError(String);

/// One scrape's readings, per spec.
struct Reading {
    at: Instant,
    per_spec: Vec<Vec<(Labels, [f64; 2])>>,
}

#[derive(Default)]
struct Tally {
    attempts: u64,
    failures: u64,
    first_error: Option<String>,
}

impl Tally {
    fn failed(&mut self, e: String) {
        self.failures += 1;
        self.first_error.get_or_insert(e);
    }
}

/// What an endpoint's thread shares with the observer.
#[derive(Default)]
struct Shared {
    /// Reading at second boundary `k`, `None` where the scrape failed or was missed.
    readings: Mutex<Vec<Option<Reading>>>,
    tally: Mutex<Tally>,
    /// The last boundary to read, once the run ended.
    stop: Mutex<Option<u64>>,
    wake: Condvar,
}

struct Endpoint {
    url: url::Url,
    source: String,
    shared: Arc<Shared>,
    specs: Vec<Spec>,
    thread: Option<JoinHandle<Vec<Spec>>>,
}

/// The observer: scraping threads from [`Observer::on_start`], the series and the
/// Prometheus queries at [`Observer::on_finish`].
pub struct ServerMetrics {
    endpoints: Vec<Endpoint>,
    prometheus: Option<url::Url>,
    /// The server's URL as given, for `source`.
    prometheus_source: String,
    queries: Vec<String>,
    /// The run's control: its time zero is second 0 of the series.
    control: Option<Arc<Control>>,
}

impl std::fmt::Debug for ServerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerMetrics")
            .field("endpoints", &self.endpoints.len())
            .field("queries", &self.queries)
            .finish()
    }
}

impl ServerMetrics {
    /// Checks the configuration (URLs are `http://`; queries need a server).
    pub fn new(config: ServerMetricsConfig) -> Result<Self, ServerMetricsError> {
        let specs = if config.picks.is_empty() {
            Spec::defaults()
        } else {
            config.picks.iter().cloned().map(Spec::picked).collect()
        };
        let mut endpoints = Vec::new();
        for e in &config.endpoints {
            endpoints.push(Endpoint {
                url: http::check_url(e).map_err(|e| ServerMetricsError(e.to_string()))?,
                source: e.clone(),
                shared: Arc::default(),
                specs: specs.clone(),
                thread: None,
            });
        }
        let prometheus = match &config.prometheus {
            Some(p) => Some(http::check_url(p).map_err(|e| ServerMetricsError(e.to_string()))?),
            None => None,
        };
        if prometheus.is_none() && !config.queries.is_empty() {
            return Err(ServerMetricsError("--query needs --prometheus URL".into()));
        }
        if prometheus.is_some() && config.queries.is_empty() {
            return Err(ServerMetricsError(
                "--prometheus needs at least one --query".into(),
            ));
        }
        Ok(ServerMetrics {
            endpoints,
            prometheus,
            prometheus_source: config.prometheus.clone().unwrap_or_default(),
            queries: config.queries,
            control: None,
        })
    }
}

/// Waits for the run's time zero (set by the engine once its workers are ready, which
/// may be much later than [`Observer::on_start`] with `--start-at`); `None` when told to
/// stop first.
fn time_zero(control: &Control, shared: &Shared) -> Option<Instant> {
    let mut stop = shared.stop.lock().expect("scrape lock");
    loop {
        if let Some(t0) = control.started() {
            return Some(t0);
        }
        if stop.is_some() {
            return None;
        }
        stop = shared
            .wake
            .wait_timeout(stop, Duration::from_millis(1))
            .expect("scrape lock")
            .0;
    }
}

/// Scrapes `url` at the run's time zero + k seconds (the boundaries of its seconds, so
/// that reading k + 1 ends second k of the series) until told the last boundary.
fn scrape_loop(
    url: url::Url,
    shared: Arc<Shared>,
    mut specs: Vec<Spec>,
    control: Arc<Control>,
) -> Vec<Spec> {
    let Some(t0) = time_zero(&control, &shared) else {
        return specs;
    };
    let mut k: u64 = 0;
    loop {
        let target = t0 + Duration::from_secs(k);
        let mut stop = shared.stop.lock().expect("scrape lock");
        while stop.is_none() {
            let now = Instant::now();
            if now >= target {
                break;
            }
            stop = shared
                .wake
                .wait_timeout(stop, target - now)
                .expect("scrape lock")
                .0;
        }
        if stop.is_some_and(|last| k > last) {
            return specs;
        }
        drop(stop);
        let reading = match http::get(&url, SCRAPE_TIMEOUT)
            .map_err(|e| e.to_string())
            .and_then(|body| {
                text::parse(&body).map_err(|e| format!("not the Prometheus text format: {e}"))
            }) {
            Ok(expo) => {
                for s in &mut specs {
                    s.settle(&expo);
                }
                shared.tally.lock().expect("scrape lock").attempts += 1;
                Some(Reading {
                    at: Instant::now(),
                    per_spec: specs.iter().map(|s| s.read(&expo)).collect(),
                })
            }
            Err(e) => {
                let mut t = shared.tally.lock().expect("scrape lock");
                t.attempts += 1;
                t.failed(e);
                None
            }
        };
        {
            let mut readings = shared.readings.lock().expect("scrape lock");
            let k = k as usize;
            if readings.len() <= k {
                readings.resize_with(k + 1, || None);
            }
            readings[k] = reading;
        }
        // A slow endpoint skips the boundaries it missed rather than catching up in a burst.
        let behind = (t0.elapsed().as_secs_f64() - 0.5).floor().max(0.0) as u64;
        k = (k + 1).max(behind + 1);
    }
}

/// The series of one endpoint over `n` seconds.
fn series_of(
    source: &str,
    specs: &[Spec],
    readings: &[Option<Reading>],
    n: usize,
) -> Vec<ServerMetricDoc> {
    let mut out = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let mut label_sets: Vec<&Labels> = Vec::new();
        for r in readings.iter().flatten() {
            for (l, _) in &r.per_spec[i] {
                if !label_sets.contains(&l) {
                    label_sets.push(l);
                }
            }
        }
        label_sets.sort();
        for labels in label_sets {
            let at = |k: usize| -> Option<(Instant, [f64; 2])> {
                let r = readings.get(k)?.as_ref()?;
                let v = r.per_spec[i].iter().find(|(l, _)| l == labels)?.1;
                Some((r.at, v))
            };
            let values = (0..n)
                .map(|t| {
                    let (end_at, end) = at(t + 1)?;
                    let start = at(t);
                    let dt = start.map_or(0.0, |(s, _)| (end_at - s).as_secs_f64());
                    spec.value(start.map(|s| s.1), end, dt).map(round4)
                })
                .collect();
            out.push(ServerMetricDoc {
                name: spec.name.clone(),
                labels: labels.clone(),
                source: source.to_string(),
                derived: spec.derived.clone(),
                unit: spec.unit.clone(),
                sampled: Some(spec.sampled()),
                values,
            });
        }
    }
    out
}

fn round4(v: f64) -> f64 {
    if v.abs() >= 1000.0 {
        (v * 100.0).round() / 100.0
    } else {
        (v * 10_000.0).round() / 10_000.0
    }
}

impl Observer for ServerMetrics {
    fn on_start(&mut self, control: &Arc<Control>) {
        self.control = Some(control.clone());
        for e in &mut self.endpoints {
            let (url, shared, specs) = (e.url.clone(), e.shared.clone(), e.specs.clone());
            let control = control.clone();
            e.thread = std::thread::Builder::new()
                .name("stampede-scrape".into())
                .spawn(move || scrape_loop(url, shared, specs, control))
                .ok();
        }
    }

    fn on_second(&mut self, _: &LiveSecond<'_>) -> Flow {
        Flow::Continue
    }

    fn on_finish(&mut self, finish: &mut Finish<'_>) {
        let n = finish.result.series.len();
        for e in &mut self.endpoints {
            *e.shared.stop.lock().expect("scrape lock") = Some(n as u64);
            e.shared.wake.notify_all();
        }
        let result = &mut *finish.result;
        for e in &mut self.endpoints {
            if let Some(specs) = e.thread.take().and_then(|t| t.join().ok()) {
                e.specs = specs;
            }
            let readings = e.shared.readings.lock().expect("scrape lock");
            let series = series_of(&e.source, &e.specs, &readings, n);
            let t = e.shared.tally.lock().expect("scrape lock");
            result.server_metric_sources.push(MetricSourceDoc {
                source: e.source.clone(),
                kind: "scrape".into(),
                attempts: t.attempts,
                failures: t.failures,
                first_error: t.first_error.clone(),
                series: series.len() as u64,
            });
            result.server_metrics.extend(series);
        }
        if let Some(base) = &self.prometheus {
            // The wall-clock instant of the run's time zero, so that sample `start + t + 1`
            // ends second t of the series.
            let wall_start = self
                .control
                .as_ref()
                .and_then(|c| c.started())
                .map_or(finish.outcome.started_at, crate::clock::wall_clock);
            for q in &self.queries {
                let (series, doc) = query::range(base, &self.prometheus_source, q, wall_start, n);
                result.server_metric_sources.push(doc);
                result.server_metrics.extend(series);
            }
        }
    }

    fn on_abandon(&mut self) {
        for e in &mut self.endpoints {
            *e.shared.stop.lock().expect("scrape lock") = Some(0);
            e.shared.wake.notify_all();
        }
    }
}

impl Drop for ServerMetrics {
    fn drop(&mut self) {
        self.on_abandon();
    }
}
