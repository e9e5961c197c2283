//! A compact, cheap-to-merge form of a [`LatencyHistogram`]: only its non-zero buckets.
//!
//! A histogram covering 1 µs to an hour at three significant digits has about 23,000
//! buckets (184 KB), of which a second of load fills a few thousand. The HdrHistogram V2
//! form is the interchange format (other libraries read it), but decoding it builds the
//! whole array and adding it walks every bucket. This form lists the non-zero buckets
//! only, so that merging costs one addition per bucket that holds a sample and nothing
//! is allocated on the receiving side.
//!
//! Bytes: LEB128 varint of the total count, then per non-zero bucket in ascending order
//! the varint of its lowest value minus the previous bucket's (the first: minus 0) and the
//! varint of its count. Exact: a bucket's lowest value lands in that same bucket.

use base64::Engine as _;

use crate::histogram::{HistogramError, LatencyHistogram, MAX_TRACKABLE_US};

/// A histogram's non-zero buckets, checked when read (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparseHistogram {
    /// Each non-zero bucket's lowest value and its count, ascending.
    buckets: Vec<(u64, u64)>,
    count: u64,
}

impl SparseHistogram {
    /// The non-zero buckets of `h`.
    pub fn of(h: &LatencyHistogram) -> Self {
        let inner = h.inner();
        let buckets = inner
            .iter_recorded()
            .map(|b| {
                (
                    inner.lowest_equivalent(b.value_iterated_to()),
                    b.count_at_value(),
                )
            })
            .collect();
        SparseHistogram {
            buckets,
            count: inner.len(),
        }
    }

    /// The bytes (see the module documentation).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(8 + 3 * self.buckets.len());
        put_varint(&mut bytes, self.count);
        let mut previous = 0;
        for (value, n) in &self.buckets {
            put_varint(&mut bytes, value - previous);
            put_varint(&mut bytes, *n);
            previous = *value;
        }
        bytes
    }

    /// The base64 of the bytes.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.to_bytes())
    }

    /// Reads the base64 form, checking it as [`SparseHistogram::from_bytes`] does.
    pub fn from_base64(text: &str) -> Result<Self, HistogramError> {
        Self::from_bytes(&base64::engine::general_purpose::STANDARD.decode(text)?)
    }

    /// Reads the bytes. Every bucket must be in range and ascending, every count
    /// non-zero, and the counts must sum to the total: a message that would merge
    /// differently from what its sender measured is refused whole.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, HistogramError> {
        let bad = |why: &str| HistogramError::Decode(format!("sparse histogram: {why}"));
        let mut rest = bytes;
        let count = take_varint(&mut rest).ok_or_else(|| bad("no total"))?;
        // Two bytes at least per bucket.
        let mut buckets = Vec::with_capacity(rest.len() / 2);
        let mut value = 0u64;
        let mut sum = 0u64;
        while !rest.is_empty() {
            let step = take_varint(&mut rest).ok_or_else(|| bad("truncated bucket"))?;
            let n = take_varint(&mut rest).ok_or_else(|| bad("truncated count"))?;
            if step == 0 && !buckets.is_empty() {
                return Err(bad("buckets out of order"));
            }
            value = value
                .checked_add(step)
                .filter(|v| *v <= MAX_TRACKABLE_US)
                .ok_or_else(|| bad("value beyond the tracked range"))?;
            if n == 0 {
                return Err(bad("a listed bucket with no count"));
            }
            sum = sum.checked_add(n).ok_or_else(|| bad("count overflow"))?;
            buckets.push((value, n));
        }
        if sum != count {
            return Err(bad(&format!("counts sum to {sum}, total says {count}")));
        }
        Ok(SparseHistogram { buckets, count })
    }

    /// The number of samples.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Adds every bucket to `h`: the same as merging the histogram this was made of.
    pub fn add_to(&self, h: &mut LatencyHistogram) {
        for (value, n) in &self.buckets {
            h.record_n_us(*value, *n);
        }
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The next LEB128 varint of `rest`, advancing it; `None` when truncated or longer
/// than a u64.
#[inline]
fn take_varint(rest: &mut &[u8]) -> Option<u64> {
    // Most counts and steps fit in one byte.
    if let Some((&b, tail)) = rest.split_first() {
        if b < 0x80 {
            *rest = tail;
            return Some(u64::from(b));
        }
    }
    let mut v = 0u64;
    for (i, b) in rest.iter().enumerate().take(10) {
        let bits = u64::from(b & 0x7f);
        if i == 9 && bits > 1 {
            return None;
        }
        v |= bits << (7 * i);
        if b & 0x80 == 0 {
            *rest = &rest[i + 1..];
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn sample(seed: u64, n: u64) -> LatencyHistogram {
        let mut h = LatencyHistogram::new();
        let mut x = seed;
        for _ in 0..n {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            // Spread over six decades, including the clamp at an hour.
            let us = 1 + (x >> 40) % 1_000 * 10u64.pow(((x >> 20) % 7) as u32);
            h.record(Duration::from_micros(us));
        }
        h
    }

    #[test]
    fn adding_the_sparse_form_equals_merging_the_histogram() {
        for (seed, n) in [(1, 0), (2, 1), (3, 1_000), (4, 100_000)] {
            let h = sample(seed, n);
            let wire = SparseHistogram::from_base64(&SparseHistogram::of(&h).to_base64()).unwrap();
            assert_eq!(wire.count(), n);
            let mut merged = sample(seed + 10, 500);
            let mut expected = merged.clone();
            expected.merge(&h);
            wire.add_to(&mut merged);
            assert_eq!(merged, expected, "seed {seed}");
        }
    }

    #[test]
    fn a_damaged_form_is_refused() {
        let good = SparseHistogram::of(&sample(5, 200)).to_bytes();
        assert!(SparseHistogram::from_bytes(&good).is_ok());
        let mut wrong_total = good.clone();
        wrong_total[0] ^= 1;
        assert!(SparseHistogram::from_bytes(&wrong_total).is_err());
        assert!(SparseHistogram::from_bytes(&good[..good.len() - 1]).is_err());
        assert!(SparseHistogram::from_bytes(&[]).is_err());
        // A value beyond an hour, a zero count, a bucket repeated.
        for bad in [
            vec![1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 1],
            vec![0, 5, 0],
            vec![2, 5, 1, 0, 1],
        ] {
            assert!(SparseHistogram::from_bytes(&bad).is_err(), "{bad:?}");
        }
    }
}
