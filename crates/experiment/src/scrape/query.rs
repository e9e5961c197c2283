//! After the run: a Prometheus server's `/api/v1/query_range` over the run's window at
//! one-second steps. The sample at `start + t + 1` (the end of second `t`) is second
//! `t`'s value, as for scrapes.

use std::time::SystemTime;

use serde::Deserialize;
use stampede_result::{MetricSourceDoc, Sampled, ServerMetricDoc};

use super::text::Labels;
use super::{http, QUERY_TIMEOUT};

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<Matrix>,
}

#[derive(Deserialize)]
struct Matrix {
    metric: Labels,
    values: Vec<(f64, String)>,
}

/// Asks `base` for `query` over `n` seconds from `start`: the series, and how it went.
pub(super) fn range(
    base: &url::Url,
    base_text: &str,
    query: &str,
    start: SystemTime,
    n: usize,
) -> (Vec<ServerMetricDoc>, MetricSourceDoc) {
    let source = format!("{base_text} query {query}");
    let mut doc = MetricSourceDoc {
        source: source.clone(),
        kind: "prometheus".into(),
        attempts: 1,
        failures: 0,
        first_error: None,
        series: 0,
    };
    let t0 = start
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let t0 = (t0 * 1000.0).round() / 1000.0;
    let mut url = base.clone();
    url.set_path(&format!(
        "{}/api/v1/query_range",
        base.path().trim_end_matches('/')
    ));
    url.query_pairs_mut()
        .clear()
        .append_pair("query", query)
        .append_pair("start", &format!("{t0:.3}"))
        .append_pair("end", &format!("{:.3}", t0 + n as f64))
        .append_pair("step", "1");
    let answer = http::get(&url, QUERY_TIMEOUT)
        .map_err(|e| e.to_string())
        .and_then(|body| {
            serde_json::from_str::<Answer>(&body)
                .map_err(|e| format!("not a Prometheus API answer: {e}"))
        })
        .and_then(|a| match (a.status.as_str(), a.data) {
            ("success", Some(d)) if d.result_type == "matrix" => Ok(d.result),
            ("success", Some(d)) => Err(format!("a {} answer, not a matrix", d.result_type)),
            _ => Err(format!(
                "Prometheus said: {}",
                a.error.unwrap_or_else(|| a.status.clone())
            )),
        });
    let matrices = match answer {
        Ok(m) => m,
        Err(e) => {
            doc.failures = 1;
            doc.first_error = Some(e);
            return (Vec::new(), doc);
        }
    };
    let series: Vec<ServerMetricDoc> = matrices
        .into_iter()
        .map(|m| to_doc(m, &source, query, t0, n))
        .collect();
    doc.series = series.len() as u64;
    (series, doc)
}

fn to_doc(m: Matrix, source: &str, query: &str, t0: f64, n: usize) -> ServerMetricDoc {
    let mut labels = m.metric;
    let name = labels
        .remove("__name__")
        .unwrap_or_else(|| query.to_string());
    let mut values = vec![None; n];
    for (ts, v) in m.values {
        let end = (ts - t0).round();
        if end < 1.0 || end > n as f64 {
            continue;
        }
        let v: Option<f64> = v.parse().ok().filter(|v: &f64| v.is_finite());
        values[end as usize - 1] = v;
    }
    ServerMetricDoc {
        name,
        labels,
        source: source.to_string(),
        derived: format!("query_range({query}), step 1s"),
        unit: None,
        // An expression evaluated at the end of each second (a rate() over its own range).
        sampled: Some(Sampled::EndOfSecond),
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_land_on_the_second_they_end() {
        let m: Matrix = serde_json::from_str(
            r#"{"metric":{"__name__":"up","job":"node"},"values":[[100.0,"1"],[101.0,"0.5"],[102.0,"NaN"],[103.0,"7"]]}"#,
        )
        .unwrap();
        let d = to_doc(m, "s", "up", 100.0, 2);
        assert_eq!(d.name, "up");
        assert_eq!(d.labels["job"], "node");
        assert_eq!(d.values, vec![Some(0.5), None]);
    }
}
