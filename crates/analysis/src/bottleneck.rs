//! Bottleneck hints from one result: where throughput stopped following the offered rate
//! (the knee), which server series moved with p99 (Spearman rank correlation), and which
//! resource was saturated first at the knee. Each hint says its evidence; nothing is
//! named from too few seconds or from a flat series.

use stampede_result::{RunResult, SeriesPoint, ServerMetricDoc};

/// Fewer seconds than this name no correlation.
pub const MIN_SECONDS: usize = 5;
/// Throughput below this share of the offered rate is "not following".
pub const FOLLOW_SHARE: f64 = 0.9;
/// A `ratio` series (CPU busy) above this is saturated.
pub const SATURATED_RATIO: f64 = 0.9;

/// One hint.
#[derive(Debug, Clone, PartialEq)]
pub enum Hint {
    /// Throughput stopped following the offered rate while work piled up.
    Knee {
        /// The first second of the knee.
        second: u64,
        /// Evidence, in words.
        text: String,
    },
    /// The server series whose ranks follow p99's most closely.
    Correlated {
        /// Spearman's rho.
        rho: f64,
        /// Seconds compared.
        n: usize,
        /// Evidence, in words.
        text: String,
    },
    /// What was (or was not) saturated at the knee.
    Saturation {
        /// Evidence, in words.
        text: String,
    },
}

impl Hint {
    /// The hint in one sentence.
    pub fn text(&self) -> &str {
        match self {
            Hint::Knee { text, .. } | Hint::Correlated { text, .. } | Hint::Saturation { text } => {
                text
            }
        }
    }
}

/// A series' name with its labels: `network_received{device="eth0"}`.
pub fn series_label(m: &ServerMetricDoc) -> String {
    if m.labels.is_empty() {
        return m.name.clone();
    }
    let labels: Vec<String> = m
        .labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    format!("{}{{{}}}", m.name, labels.join(","))
}

/// Average ranks (ties share the mean of their positions), 1-based.
pub fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut out = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            out[k] = rank;
        }
        i = j + 1;
    }
    out
}

/// Spearman's rank correlation of paired values: Pearson's r of their average ranks;
/// `None` with fewer than two pairs or when either side is flat.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 {
        return None;
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let n = x.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// The whole seconds of a run (a last, partial second is left out).
fn full_seconds(r: &RunResult) -> &[SeriesPoint] {
    let whole = r.summary.elapsed_s.floor().max(0.0) as usize;
    &r.series[..r.series.len().min(whole)]
}

/// Requests in flight at the end of each second: arrivals the schedule asked for so far,
/// less those finished and those dropped (so both the sent-and-unanswered and those
/// still waiting for a connection). Open model only (`None` without a schedule).
pub fn in_flight(series: &[SeriesPoint]) -> Option<Vec<u64>> {
    let mut out = Vec::with_capacity(series.len());
    let (mut asked, mut gone) = (0.0, 0u64);
    for p in series {
        asked += p.target_rate?;
        gone += p.requests + p.dropped;
        out.push((asked.round() - gone as f64).max(0.0) as u64);
    }
    Some(out)
}

/// The knee: the first second (after the first) whose finished requests fell below
/// [`FOLLOW_SHARE`] of the offered rate while requests in flight ([`in_flight`]) grew,
/// and the next second too. `None` in the closed model.
pub fn knee(r: &RunResult) -> Option<Hint> {
    let s = full_seconds(r);
    let in_flight = in_flight(s)?;
    let behind = |t: usize| -> bool {
        let offered = s[t].target_rate.unwrap_or(0.0);
        offered >= 1.0 && (s[t].requests as f64) < FOLLOW_SHARE * offered
    };
    let piling = |t: usize| in_flight[t] > in_flight[t - 1] || s[t].dropped > 0;
    let t = (1..s.len().saturating_sub(1)).find(|&t| {
        behind(t) && behind(t + 1) && piling(t) && (piling(t + 1) || s[t + 1].dropped > 0)
    })?;
    let offered = s[t].target_rate.unwrap_or(0.0);
    let dropped: u64 = s[t..].iter().map(|p| p.dropped).sum();
    let text = format!(
        "knee at second {t}: the schedule offered {offered:.0} req/s and {} finished ({:.0}%), \
         while requests in flight grew from {} (second {}) to {} (second {}){}",
        s[t].requests,
        s[t].requests as f64 / offered * 100.0,
        in_flight[t - 1],
        t - 1,
        in_flight[t + 1],
        t + 1,
        if dropped > 0 {
            format!(
                "; {dropped} scheduled requests were dropped from then on for want of a connection"
            )
        } else {
            String::new()
        }
    );
    Some(Hint::Knee {
        second: t as u64,
        text,
    })
}

/// The server series whose per-second values rank most like p99's (largest |rho|),
/// over the whole seconds where both are known and requests finished.
pub fn most_correlated(r: &RunResult) -> Option<Hint> {
    if r.server_metrics.is_empty() {
        return None;
    }
    let s = full_seconds(r);
    let mut best: Option<(f64, usize, &ServerMetricDoc)> = None;
    for m in &r.server_metrics {
        let (x, y): (Vec<f64>, Vec<f64>) = s
            .iter()
            .enumerate()
            .filter(|(_, p)| p.requests > 0)
            .filter_map(|(t, p)| Some((m.values.get(t).copied().flatten()?, p.latency_ms.p99)))
            .unzip();
        if x.len() < MIN_SECONDS {
            continue;
        }
        if let Some(rho) = spearman(&x, &y) {
            if best.is_none_or(|(b, _, _)| rho.abs() > b.abs()) {
                best = Some((rho, x.len(), m));
            }
        }
    }
    let Some((rho, n, m)) = best else {
        return Some(Hint::Correlated {
            rho: 0.0,
            n: 0,
            text: format!(
                "no server series can be compared with p99: each has fewer than {MIN_SECONDS} \
                 whole seconds with a value, or did not change"
            ),
        });
    };
    let strength = match rho.abs() {
        a if a >= 0.7 => "strongly",
        a if a >= 0.4 => "moderately",
        _ => "weakly (no server series explains p99)",
    };
    let direction = if rho >= 0.0 { "with" } else { "against" };
    let text = format!(
        "{} ({}) moves {direction} p99 {strength}: Spearman rho = {rho:.2} over n = {n} seconds",
        series_label(m),
        m.source
    );
    Some(Hint::Correlated { rho, n, text })
}

/// What was saturated first at the knee: the `ratio` series (CPU busy) that first
/// exceeded [`SATURATED_RATIO`] up to the second after the knee, or that none did.
pub fn saturation(r: &RunResult, knee_second: u64) -> Option<Hint> {
    let last = knee_second as usize + 1;
    let ratios: Vec<&ServerMetricDoc> = r
        .server_metrics
        .iter()
        .filter(|m| m.unit.as_deref() == Some("ratio"))
        .collect();
    if ratios.is_empty() {
        return None;
    }
    let first = ratios
        .iter()
        .filter_map(|m| {
            let t = m
                .values
                .iter()
                .take(last + 1)
                .position(|v| v.is_some_and(|v| v > SATURATED_RATIO))?;
            Some((t, *m))
        })
        .min_by_key(|(t, _)| *t);
    let text = match first {
        Some((t, m)) => {
            let v = m.values[t].unwrap_or_default();
            if t == 0 && knee_second > 1 {
                return Some(Hint::Saturation {
                    text: format!(
                        "{} ({}) was already above {:.0}% in the first second ({:.0}%), long before \
                         the knee: the server was busy before this load built up",
                        series_label(m),
                        m.source,
                        SATURATED_RATIO * 100.0,
                        v * 100.0
                    ),
                });
            }
            let when = match t as i64 - knee_second as i64 {
                0 => "at the knee".to_string(),
                d if d < 0 => format!("{} s before the knee", -d),
                d => format!("{d} s after the knee"),
            };
            format!(
                "{} ({}) saturated first: {:.0}% > {:.0}% at second {t}, {when}",
                series_label(m),
                m.source,
                v * 100.0,
                SATURATED_RATIO * 100.0
            )
        }
        None => {
            let peak = ratios
                .iter()
                .flat_map(|m| {
                    m.values
                        .iter()
                        .take(last + 1)
                        .flatten()
                        .map(move |v| (*v, *m))
                })
                .max_by(|a, b| a.0.total_cmp(&b.0));
            match peak {
                Some((v, m)) => format!(
                    "no watched resource was saturated at the knee: {} peaked at {:.0}% up to second {last}",
                    series_label(m),
                    v * 100.0
                ),
                None => return None,
            }
        }
    };
    Some(Hint::Saturation { text })
}

/// The busiest `ratio` series (CPU busy) of a span of seconds: the one with the highest
/// mean over the seconds it has values for.
#[derive(Debug, Clone, PartialEq)]
pub struct Busiest {
    /// The series' name with its labels.
    pub label: String,
    /// Where it was read.
    pub source: String,
    /// Its mean (0-1) over `seconds`.
    pub mean: f64,
    /// Its highest second.
    pub peak: f64,
    /// Seconds with a value.
    pub seconds: usize,
}

impl Busiest {
    /// Whether its mean was above [`SATURATED_RATIO`].
    pub fn saturated(&self) -> bool {
        self.mean > SATURATED_RATIO
    }
}

/// The busiest `ratio` series of `metrics`; `None` when none has a value.
pub fn busiest(metrics: &[ServerMetricDoc]) -> Option<Busiest> {
    metrics
        .iter()
        .filter(|m| m.unit.as_deref() == Some("ratio"))
        .filter_map(|m| {
            let values: Vec<f64> = m.values.iter().flatten().copied().collect();
            if values.is_empty() {
                return None;
            }
            Some(Busiest {
                label: series_label(m),
                source: m.source.clone(),
                mean: values.iter().sum::<f64>() / values.len() as f64,
                peak: values.iter().copied().fold(f64::MIN, f64::max),
                seconds: values.len(),
            })
        })
        .max_by(|a, b| a.mean.total_cmp(&b.mean))
}

/// All hints of a run, knee first.
pub fn hints(r: &RunResult) -> Vec<Hint> {
    let mut out = Vec::new();
    if let Some(k) = knee(r) {
        let second = match &k {
            Hint::Knee { second, .. } => *second,
            _ => 0,
        };
        out.push(k);
        out.extend(saturation(r, second));
    }
    out.extend(most_correlated(r));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_ratio_series_is_the_highest_mean_over_its_values() {
        let doc = |name: &str, unit: &str, values: Vec<Option<f64>>| ServerMetricDoc {
            name: name.into(),
            labels: Default::default(),
            source: "http://x/metrics".into(),
            derived: String::new(),
            unit: Some(unit.into()),
            sampled: None,
            values,
        };
        let m = [
            doc("cpu_busy", "ratio", vec![Some(0.5), None, Some(1.0)]),
            doc("disk_busy", "ratio", vec![Some(0.7), Some(0.7)]),
            doc("memory_available", "bytes", vec![Some(9e9)]),
            doc("empty", "ratio", vec![None]),
        ];
        let b = busiest(&m).unwrap();
        assert_eq!(
            (b.label.as_str(), b.mean, b.peak, b.seconds),
            ("cpu_busy", 0.75, 1.0, 2)
        );
        assert!(!b.saturated());
        assert!(busiest(&m[2..]).is_none());
    }
    use stampede_result::PointPercentiles;

    fn point(t: u64, offered: f64, sends: u64, done: u64, p99: f64) -> SeriesPoint {
        SeriesPoint {
            t,
            requests: done,
            errors: 0,
            timeouts: 0,
            sends,
            target_rate: Some(offered),
            late_sends: 0,
            dropped: 0,
            latency_ms: PointPercentiles {
                p99,
                ..Default::default()
            },
            service_time_ms: PointPercentiles::default(),
            histograms: None,
        }
    }

    fn metric(name: &str, unit: &str, values: &[f64]) -> ServerMetricDoc {
        ServerMetricDoc {
            name: name.into(),
            labels: Default::default(),
            source: "http://127.0.0.1:9100/metrics".into(),
            derived: "value".into(),
            unit: Some(unit.into()),
            sampled: None,
            values: values.iter().map(|v| Some(*v)).collect(),
        }
    }

    /// A ramp 100..1000 req/s; the server keeps up to 600 req/s, then finishes 600 a
    /// second while the rest piles up; CPU busy follows the load and saturates at 600.
    fn ramp() -> RunResult {
        let mut r =
            RunResult::from_json(include_str!("../../result/tests/fixtures/v1-result.json"))
                .unwrap();
        r.series = (0..10u64)
            .map(|t| {
                let offered = 100.0 * (t + 1) as f64;
                let done = offered.min(600.0) as u64;
                point(
                    t,
                    offered,
                    offered as u64,
                    done,
                    2.0 + t as f64 / 10.0 + (offered - 600.0).max(0.0),
                )
            })
            .collect();
        r.summary.elapsed_s = 10.0;
        let cpu: Vec<f64> = (0..10)
            .map(|t| (0.15 * (t + 1) as f64).min(0.9 + 0.01 * t as f64))
            .collect();
        r.server_metrics = vec![
            metric("cpu_busy", "ratio", &cpu),
            metric("tcp_inuse", "sockets", &[5.0; 10]),
        ];
        r
    }

    #[test]
    fn ranks_share_ties_and_spearman_is_exact() {
        assert_eq!(ranks(&[10.0, 20.0, 20.0, 5.0]), vec![2.0, 3.5, 3.5, 1.0]);
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(spearman(&x, &[2.0, 4.0, 8.0, 16.0, 32.0]), Some(1.0));
        assert_eq!(spearman(&x, &[5.0, 4.0, 3.0, 2.0, 1.0]), Some(-1.0));
        // d = (0, 0, 1, -1, 0): 1 - 6*2/(5*24) = 0.9.
        let rho = spearman(&x, &[1.0, 2.0, 4.0, 3.0, 5.0]).unwrap();
        assert!((rho - 0.9).abs() < 1e-12);
        assert_eq!(spearman(&x, &[3.0; 5]), None, "flat");
    }

    #[test]
    fn the_knee_is_where_throughput_stops_following_and_work_piles_up() {
        let r = ramp();
        let Some(Hint::Knee { second, text }) = knee(&r) else {
            panic!("no knee")
        };
        // Offered 700 at second 6: 600 finished = 86% < 90%, in flight 0 -> 100 -> 300.
        assert_eq!(second, 6);
        assert!(
            text.contains("offered 700 req/s and 600 finished (86%)"),
            "{text}"
        );
        assert!(
            text.contains("from 0 (second 5) to 300 (second 7)"),
            "{text}"
        );
        // Requests waiting for a connection count as in flight though never sent.
        let mut waiting = ramp();
        for p in &mut waiting.series {
            p.sends = p.requests;
        }
        assert!(matches!(knee(&waiting), Some(Hint::Knee { second: 6, .. })));
        // Closed model (no schedule): no knee.
        let mut closed = ramp();
        closed.series[3].target_rate = None;
        assert_eq!(knee(&closed), None);
        // Keeping up all the way: no knee.
        let mut ok = ramp();
        for p in &mut ok.series {
            p.requests = p.sends;
        }
        assert_eq!(knee(&ok), None);
        // Throughput short for one second only: no knee.
        let mut blip = ok.clone();
        blip.series[4].requests = 100;
        assert_eq!(knee(&blip), None);
    }

    #[test]
    fn the_series_that_follows_p99_is_named_with_rho_and_n() {
        let r = ramp();
        let Some(Hint::Correlated { rho, n, text }) = most_correlated(&r) else {
            panic!("no correlation")
        };
        assert_eq!(n, 10);
        assert_eq!(rho, 1.0);
        assert!(
            text.starts_with("cpu_busy (http://127.0.0.1:9100/metrics) moves with p99 strongly"),
            "{text}"
        );
        // Too few seconds: nothing named.
        let mut short = r.clone();
        for m in &mut short.server_metrics {
            for v in m.values.iter_mut().skip(4) {
                *v = None;
            }
        }
        let hint = most_correlated(&short).unwrap();
        assert!(
            hint.text().starts_with("no server series"),
            "{}",
            hint.text()
        );
    }

    #[test]
    fn saturation_names_the_first_resource_past_its_limit() {
        let r = ramp();
        let hint = saturation(&r, 6).unwrap();
        // 0.96 at second 6 is the first above 90% (0.9 at second 5 is not).
        assert_eq!(
            hint.text(),
            "cpu_busy (http://127.0.0.1:9100/metrics) saturated first: 96% > 90% at second 6, at the knee"
        );
        let mut cool = r.clone();
        cool.server_metrics[0].values = vec![Some(0.4); 10];
        assert_eq!(
            saturation(&cool, 6).unwrap().text(),
            "no watched resource was saturated at the knee: cpu_busy peaked at 40% up to second 7"
        );
        assert_eq!(hints(&r).len(), 3);
        let mut busy = r.clone();
        busy.server_metrics[0].values = vec![Some(1.0); 10];
        assert!(saturation(&busy, 6)
            .unwrap()
            .text()
            .contains("was already above 90% in the first second (100%)"));
    }
}
