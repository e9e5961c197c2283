//! Pass/fail criteria such as `p99 < 200ms` or `error_rate < 0.1%`.
//!
//! A criterion judges the whole run, or, written `METRIC OP VALUE over DURATION`
//! (`error_rate < 1% over 10s`), every window of that length: it fails as soon as one
//! window breaks it. A threshold is parsed once; `stampede-analysis` measures the metric
//! and [`Threshold::holds`] compares.

use std::fmt;
use std::time::Duration;

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThresholdMetric {
    /// Mean latency (ms).
    Mean,
    /// A latency percentile (ms), e.g. 99.0 or 99.9.
    Percentile(f64),
    /// Maximum latency (ms).
    Max,
    /// (errors + timeouts) / requests, as a fraction.
    ErrorRate,
    /// timeouts / requests, as a fraction.
    TimeoutRate,
    /// Requests counted.
    Requests,
    /// Achieved requests per second.
    Rate,
}

impl ThresholdMetric {
    /// True for latency metrics (values in milliseconds).
    pub fn is_latency(self) -> bool {
        matches!(self, Self::Mean | Self::Percentile(_) | Self::Max)
    }

    /// True for fractions (values may be written as percentages).
    pub fn is_fraction(self) -> bool {
        matches!(self, Self::ErrorRate | Self::TimeoutRate)
    }
}

/// The comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Comparison {
    fn symbol(self) -> &'static str {
        match self {
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }
}

/// One criterion: `metric op value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The metric.
    pub metric: ThresholdMetric,
    /// The comparison.
    pub op: Comparison,
    /// The bound: milliseconds for latency, a fraction for rates, a count otherwise.
    pub value: f64,
    /// `over DURATION`: judge every window of this length (whole seconds, at least 1 s)
    /// instead of the whole run.
    pub window: Option<Duration>,
    /// The text as written (normalised spacing), for reports.
    pub text: String,
}

const EXPECTED: &str =
    "expected METRIC OP VALUE [over DURATION], e.g. 'p99 < 200ms', 'mean <= 50ms', \
     'error_rate < 0.1%', 'error_rate < 1% over 10s', 'rate >= 900' (metrics: mean, p50, p90, p95, p99, p99.9, max, error_rate, timeout_rate, \
     requests, rate; operators: <, <=, >, >=)";

impl Threshold {
    /// Parses `METRIC OP VALUE` or `METRIC OP VALUE over DURATION`.
    pub fn parse(text: &str) -> Result<Threshold, String> {
        let (t, window) = split_window(text.trim())?;
        let op_at = t
            .find(['<', '>'])
            .ok_or_else(|| format!("no comparison in '{t}'; {EXPECTED}"))?;
        let (metric_text, rest) = t.split_at(op_at);
        let (op, value_text) = if let Some(v) = rest.strip_prefix("<=") {
            (Comparison::Le, v)
        } else if let Some(v) = rest.strip_prefix(">=") {
            (Comparison::Ge, v)
        } else if let Some(v) = rest.strip_prefix('<') {
            (Comparison::Lt, v)
        } else {
            (Comparison::Gt, &rest[1..])
        };
        let metric = parse_metric(metric_text.trim())?;
        let value = parse_value(metric, value_text.trim())?;
        let mut text = format!(
            "{} {} {}",
            metric_text.trim(),
            op.symbol(),
            value_text.trim()
        );
        if let Some((_, written)) = window {
            text.push_str(" over ");
            text.push_str(written);
        }
        Ok(Threshold {
            metric,
            op,
            value,
            window: window.map(|(w, _)| w),
            text,
        })
    }

    /// The window length in whole seconds, for windowed criteria.
    pub fn window_secs(&self) -> Option<u64> {
        self.window.map(|w| w.as_secs())
    }

    /// True when `observed` (in the metric's unit) satisfies the threshold.
    pub fn holds(&self, observed: f64) -> bool {
        match self.op {
            Comparison::Lt => observed < self.value,
            Comparison::Le => observed <= self.value,
            Comparison::Gt => observed > self.value,
            Comparison::Ge => observed >= self.value,
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Threshold {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Threshold::parse(s)
    }
}

/// A window and its text as written (`10s`).
type Window<'a> = (Duration, &'a str);

/// Splits `... over DURATION` into the criterion and its window (whole seconds, >= 1 s).
fn split_window(t: &str) -> Result<(&str, Option<Window<'_>>), String> {
    let Some(at) = t.find(" over ") else {
        if t.ends_with(" over") {
            return Err(format!("'over' needs a duration in '{t}'; {EXPECTED}"));
        }
        return Ok((t, None));
    };
    let (criterion, written) = (t[..at].trim_end(), t[at + 6..].trim());
    let window = humantime::parse_duration(written).map_err(|_| {
        format!("bad window '{written}' after 'over': expected a duration such as 10s or 1m")
    })?;
    if window < Duration::from_secs(1) || window.subsec_nanos() != 0 {
        return Err(format!(
            "bad window '{written}' after 'over': windows are whole seconds, at least 1s"
        ));
    }
    Ok((criterion, Some((window, written))))
}

fn parse_metric(m: &str) -> Result<ThresholdMetric, String> {
    Ok(match m {
        "mean" | "avg" => ThresholdMetric::Mean,
        "max" => ThresholdMetric::Max,
        "error_rate" => ThresholdMetric::ErrorRate,
        "timeout_rate" => ThresholdMetric::TimeoutRate,
        "requests" => ThresholdMetric::Requests,
        "rate" => ThresholdMetric::Rate,
        "p999" => ThresholdMetric::Percentile(99.9),
        _ => {
            let p = m
                .strip_prefix('p')
                .and_then(|n| n.parse::<f64>().ok())
                .filter(|p| *p > 0.0 && *p <= 100.0)
                .ok_or_else(|| format!("unknown metric '{m}'; {EXPECTED}"))?;
            ThresholdMetric::Percentile(p)
        }
    })
}

fn parse_value(metric: ThresholdMetric, v: &str) -> Result<f64, String> {
    let number = |s: &str| -> Result<f64, String> {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| format!("bad value '{v}'; {EXPECTED}"))
    };
    if metric.is_latency() {
        let d = humantime::parse_duration(v).map_err(|_| {
            format!("bad latency '{v}': expected a duration such as 200ms, 1.5s or 800us")
        });
        return match d {
            Ok(d) => Ok(d.as_secs_f64() * 1e3),
            Err(e) => {
                // Fractional units humantime does not take: "1.5s", "0.5ms".
                let split = v.find(|c: char| c.is_ascii_alphabetic()).ok_or(e.clone())?;
                let scale = match &v[split..] {
                    "us" | "µs" => 1e-3,
                    "ms" => 1.0,
                    "s" => 1e3,
                    _ => return Err(e),
                };
                Ok(number(&v[..split]).map_err(|_| e)? * scale)
            }
        };
    }
    if metric.is_fraction() {
        return match v.strip_suffix('%') {
            Some(p) => Ok(number(p)? / 100.0),
            None => number(v),
        };
    }
    number(v)
}

/// Where a threshold applies.
#[derive(Debug, Clone, PartialEq)]
pub enum ThresholdScope {
    /// All requests of the run.
    Total,
    /// One group's requests (a scenario step), by key.
    Group(String),
}

/// A threshold and its scope.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopedThreshold {
    /// Where.
    pub scope: ThresholdScope,
    /// What must hold.
    pub threshold: Threshold,
}

impl ScopedThreshold {
    /// `threshold` over all requests of the run.
    pub fn total(threshold: Threshold) -> Self {
        ScopedThreshold {
            scope: ThresholdScope::Total,
            threshold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_latency_rates_and_counts() {
        let t = Threshold::parse("p99 < 200ms").unwrap();
        assert_eq!(t.metric, ThresholdMetric::Percentile(99.0));
        assert_eq!(t.op, Comparison::Lt);
        assert_eq!(t.value, 200.0);
        assert!(t.holds(199.0) && !t.holds(200.0));

        let t = Threshold::parse("p99.9<=1.5s").unwrap();
        assert_eq!(t.metric, ThresholdMetric::Percentile(99.9));
        assert_eq!(t.value, 1500.0);
        assert_eq!(t.text, "p99.9 <= 1.5s");

        let t = Threshold::parse("error_rate < 0.1%").unwrap();
        assert!((t.value - 0.001).abs() < 1e-12);
        let t = Threshold::parse("error_rate < 0.02").unwrap();
        assert_eq!(t.value, 0.02);
        let t = Threshold::parse("rate >= 900").unwrap();
        assert!(t.holds(900.0) && !t.holds(899.9));
        assert_eq!(
            Threshold::parse("mean > 800us").unwrap().value,
            0.8,
            "microseconds"
        );
        assert_eq!(
            Threshold::parse("p999 < 1s").unwrap().metric,
            ThresholdMetric::Percentile(99.9)
        );
    }

    #[test]
    fn parses_windows() {
        let t = Threshold::parse("error_rate < 1% over 10s").unwrap();
        assert_eq!(t.metric, ThresholdMetric::ErrorRate);
        assert!((t.value - 0.01).abs() < 1e-12);
        assert_eq!(t.window, Some(Duration::from_secs(10)));
        assert_eq!(t.window_secs(), Some(10));
        assert_eq!(t.text, "error_rate < 1% over 10s");
        let t = Threshold::parse("  p99<200ms   over 1m ").unwrap();
        assert_eq!(t.window, Some(Duration::from_secs(60)));
        assert_eq!(t.text, "p99 < 200ms over 1m");
        assert_eq!(Threshold::parse("p99 < 200ms").unwrap().window, None);
        for bad in [
            "error_rate < 1% over",
            "error_rate < 1% over soon",
            "error_rate < 1% over 500ms",
            "error_rate < 1% over 1.5s",
        ] {
            let e = Threshold::parse(bad).unwrap_err();
            assert!(e.contains("over") || e.contains("window"), "{bad}: {e}");
        }
    }

    #[test]
    fn rejects_bad_thresholds_with_what_was_expected() {
        for bad in [
            "p99 200ms",
            "latency < 2s",
            "p99 < fast",
            "error_rate < lots",
            "p0 < 1ms",
            "p101 < 1ms",
            "rate >= -3",
        ] {
            let e = Threshold::parse(bad).unwrap_err();
            assert!(e.contains("expected"), "{bad}: {e}");
        }
    }
}
