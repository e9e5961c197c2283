//! Latency histograms: HdrHistogram with microsecond units and three significant digits.

use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

/// The largest latency a histogram tracks, in microseconds (one hour). Larger values
/// are recorded as this value.
pub const MAX_TRACKABLE_US: u64 = 3_600_000_000;

const SIGNIFICANT_DIGITS: u8 = 3;

/// Errors from reading or writing the HdrHistogram V2 wire form.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistogramError {
    /// The text is not valid base64.
    #[error("histogram is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The bytes are not a valid V2 (optionally deflated) histogram.
    #[error("histogram is not a valid HdrHistogram V2 encoding: {0}")]
    Decode(String),
    /// Merging failed because the other histogram's range does not fit.
    #[error("histograms cannot be merged: {0}")]
    Merge(String),
}

/// A latency distribution in microseconds with 0.1% relative precision, mergeable
/// without loss. Memory is fixed by the tracked range, not by the number of samples.
#[derive(Debug, Clone)]
pub struct LatencyHistogram(Histogram<u64>);

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for LatencyHistogram {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl LatencyHistogram {
    /// An empty histogram covering 1 µs to one hour.
    pub fn new() -> Self {
        let h = Histogram::new_with_bounds(1, MAX_TRACKABLE_US, SIGNIFICANT_DIGITS)
            .expect("static histogram bounds are valid");
        LatencyHistogram(h)
    }

    /// Records one latency, clamped to the tracked range.
    #[inline]
    pub fn record(&mut self, latency: Duration) {
        self.record_us(latency.as_micros().min(u128::from(MAX_TRACKABLE_US)) as u64);
    }

    /// Records one latency in microseconds, clamped to the tracked range.
    #[inline]
    pub fn record_us(&mut self, us: u64) {
        self.0.saturating_record(us.clamp(1, MAX_TRACKABLE_US));
    }

    /// Records `n` latencies of `us` microseconds, clamped to the tracked range.
    #[inline]
    pub fn record_n_us(&mut self, us: u64, n: u64) {
        self.0.saturating_record_n(us.clamp(1, MAX_TRACKABLE_US), n);
    }

    /// Removes every sample, keeping the memory of the counts.
    pub fn reset(&mut self) {
        self.0.reset();
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        // Both sides share the same bounds, so addition cannot fail.
        self.0
            .add(&other.0)
            .expect("histograms with equal bounds merge");
    }

    /// Removes the samples of `earlier`, a snapshot this histogram grew from (for the
    /// distribution of a window: cumulative now minus cumulative then). Counts that
    /// `earlier` must be an earlier snapshot of this histogram; otherwise the result is
    /// unspecified (but never a panic).
    pub fn subtract(&mut self, earlier: &LatencyHistogram) {
        // Equal bounds, and `earlier` never holds more than `self` per bucket when it is
        // an earlier snapshot of the same growing histogram.
        let _ = self.0.subtract(&earlier.0);
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// True when no sample was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value at quantile `q` (0.0..=1.0) in microseconds; 0 when empty.
    pub fn quantile_us(&self, q: f64) -> u64 {
        if self.0.is_empty() {
            return 0;
        }
        self.0.value_at_quantile(q)
    }

    /// The value at quantile `q` in milliseconds; 0 when empty.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.quantile_us(q) as f64 / 1000.0
    }

    /// The mean in milliseconds; 0 when empty.
    pub fn mean_ms(&self) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.mean() / 1000.0
    }

    /// The largest sample in milliseconds (to histogram precision); 0 when empty.
    pub fn max_ms(&self) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.max() as f64 / 1000.0
    }

    /// The smallest sample in milliseconds (to histogram precision); 0 when empty.
    pub fn min_ms(&self) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.min() as f64 / 1000.0
    }

    /// The standard HdrHistogram V2 compressed (deflate) encoding in base64, the form
    /// that HdrHistogram's log readers and plotters accept. Units are microseconds.
    pub fn to_v2_base64(&self) -> String {
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&self.0, &mut bytes)
            .expect("serializing into a Vec cannot fail");
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Reads the V2 (plain or deflate-compressed) base64 form written by any HdrHistogram.
    pub fn from_v2_base64(text: &str) -> Result<Self, HistogramError> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim())?;
        let read: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| HistogramError::Decode(format!("{e:?}")))?;
        let mut h = LatencyHistogram::new();
        h.0.add(&read)
            .map_err(|e| HistogramError::Merge(format!("{e:?}")))?;
        Ok(h)
    }

    /// The underlying HdrHistogram, for iteration over recorded values.
    pub fn inner(&self) -> &Histogram<u64> {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact nearest-rank percentile over sorted samples.
    fn exact(sorted: &[u64], q: f64) -> u64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
        sorted[rank - 1]
    }

    #[test]
    fn percentiles_match_exact_computation_within_precision() {
        let mut rng = fastrand::Rng::with_seed(7);
        // A known mixture: 20 ms + uniform jitter of 10 ms, plus a 1% tail near 900 ms.
        let mut samples: Vec<u64> = (0..200_000)
            .map(|_| {
                if rng.f64() < 0.01 {
                    900_000 + rng.u64(0..50_000)
                } else {
                    20_000 + rng.u64(0..10_000)
                }
            })
            .collect();
        // Spread the samples over four "threads" and merge, as the collector does.
        let mut parts = vec![LatencyHistogram::new(); 4];
        for (i, s) in samples.iter().enumerate() {
            parts[i % 4].record_us(*s);
        }
        let mut merged = LatencyHistogram::new();
        for p in &parts {
            merged.merge(p);
        }
        samples.sort_unstable();
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            let want = exact(&samples, q) as f64;
            let got = merged.quantile_us(q) as f64;
            assert!(
                (got - want).abs() / want <= 0.001,
                "q={q}: histogram {got} vs exact {want}"
            );
        }
        assert_eq!(merged.count(), samples.len() as u64);
    }

    #[test]
    fn v2_base64_round_trips() {
        let mut h = LatencyHistogram::new();
        for v in [1, 10, 100, 1_000, 10_000, 3_000_000] {
            h.record_us(v);
        }
        let text = h.to_v2_base64();
        // The V2 compressed cookie is 0x1c849304; base64 of it starts with "HISTFAAA".
        assert!(text.starts_with("HISTFAAA"), "{text}");
        let back = LatencyHistogram::from_v2_base64(&text).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn clamps_out_of_range_values() {
        let mut h = LatencyHistogram::new();
        h.record(Duration::from_secs(7200));
        h.record(Duration::ZERO);
        assert_eq!(h.count(), 2);
        assert!(h.max_ms() >= 3_599_000.0);
        assert!(LatencyHistogram::from_v2_base64("not base64!").is_err());
    }
}
