//! Shard arithmetic: which part of a run one of `n` generator processes applies.
//!
//! A run split into `n` shards gives shard `i` the segment `[i/n, (i+1)/n)` of the
//! whole. As in k6's execution segments, the segment is applied *striped*, not as a
//! contiguous block: of the whole run's arrivals `0, 1, 2, ...` shard `i` takes
//! `i, i+n, i+2n, ...` (for equal segments k6's striped offsets reduce to exactly this),
//! so each shard's own arrivals stay evenly spread over the run at `1/n` of the rate,
//! the shards' schedules are disjoint and together they are the whole schedule. Among
//! any first `N` arrivals shard `i` holds `⌈(N−i)/n⌉`, within 1 of `N/n`.
//!
//! Inside a shard, worker thread `w` of `T` takes every `T`-th of the shard's arrivals,
//! so the run is `n·T` streams and stream `i + n·w` takes arrivals `i + n·w + k·n·T`
//! ([`Shard::stream`]).
//!
//! Countable things are dealt the same way ([`Shard::deal`]): closed-model users and
//! their ramp ranks, fleet clients (keeping their global index, so each client's phase
//! is the one it has in the whole run), a request limit, and the rows of a `unique` CSV
//! feeder. Nothing is lost and nothing is used twice.
//!
//! ```
//! use stampede_plan::Shard;
//! let s = Shard::parse("1/3").unwrap();
//! assert_eq!(s.deal(10).collect::<Vec<_>>(), [1, 4, 7]);
//! assert_eq!(s.share_of(10), 3);
//! assert_eq!(s.to_string(), "1/3");
//! assert!(Shard::parse("3/3").is_err());
//! ```

use std::fmt;

use crate::PlanError;

/// Shard `index` of `count` (`0 <= index < count`); [`Shard::WHOLE`] is the unsharded run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: usize,
    count: usize,
}

impl Default for Shard {
    fn default() -> Self {
        Shard::WHOLE
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The largest shard count accepted.
pub const MAX_SHARDS: usize = 100_000;

impl Shard {
    /// The whole run: shard 0 of 1.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`; an error unless `index < count <= MAX_SHARDS`.
    pub fn new(index: usize, count: usize) -> Result<Shard, PlanError> {
        let text = format!("{index}/{count}");
        let bad = |reason: String| PlanError::Value {
            what: "--shard",
            value: text.clone(),
            reason,
        };
        if count == 0 || count > MAX_SHARDS {
            return Err(bad(format!(
                "the shard count must be between 1 and {MAX_SHARDS}"
            )));
        }
        if index >= count {
            return Err(bad(format!(
                "the index counts from 0, so it must be below {count}"
            )));
        }
        Ok(Shard { index, count })
    }

    /// Parses `I/N`, e.g. `0/4`.
    pub fn parse(text: &str) -> Result<Shard, PlanError> {
        let bad = || PlanError::Value {
            what: "--shard",
            value: text.to_string(),
            reason: "expected I/N with 0 <= I < N, e.g. 0/4 (or auto/N in an Indexed Job)".into(),
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let i: usize = i.trim().parse().map_err(|_| bad())?;
        let n: usize = n.trim().parse().map_err(|_| bad())?;
        Shard::new(i, n)
    }

    /// This shard's index, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The number of shards.
    pub fn count(&self) -> usize {
        self.count
    }

    /// True for the unsharded run.
    pub fn is_whole(&self) -> bool {
        self.count == 1
    }

    /// The items of `0..total` this shard takes: `index, index + count, ...`.
    pub fn deal(&self, total: usize) -> std::iter::StepBy<std::ops::Range<usize>> {
        (self.index.min(total)..total).step_by(self.count)
    }

    /// How many of `total` items this shard takes: `⌈(total − index) / count⌉`.
    pub fn share_of(&self, total: usize) -> usize {
        total.saturating_sub(self.index).div_ceil(self.count)
    }

    /// [`Shard::share_of`] for a 64-bit count (a request limit).
    pub fn share_of_u64(&self, total: u64) -> u64 {
        total
            .saturating_sub(self.index as u64)
            .div_ceil(self.count as u64)
    }

    /// Worker `worker` of `threads` in this shard as one stream of the whole run:
    /// `(stream, streams)` = `(index + count·worker, count·threads)`. A schedule built
    /// for that stream of that many takes exactly this worker's arrivals.
    pub fn stream(&self, worker: usize, threads: usize) -> (usize, usize) {
        (
            self.index + self.count * worker,
            self.count * threads.max(1),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_errors() {
        assert_eq!(Shard::parse("0/1").unwrap(), Shard::WHOLE);
        assert_eq!(Shard::parse(" 2 / 5 ").unwrap().index(), 2);
        for bad in ["", "1", "a/2", "2/2", "0/0", "-1/2", "1/x", "0/100001"] {
            let e = Shard::parse(bad).unwrap_err().to_string();
            assert!(e.contains("--shard"), "{bad}: {e}");
        }
        assert!(Shard::parse("4/4")
            .unwrap_err()
            .to_string()
            .contains("below 4"));
    }

    #[test]
    fn dealing_covers_everything_once() {
        for n in 1..=7 {
            for total in 0..40 {
                let mut seen = vec![0u8; total];
                for i in 0..n {
                    let s = Shard::new(i, n).unwrap();
                    let mine: Vec<usize> = s.deal(total).collect();
                    assert_eq!(mine.len(), s.share_of(total));
                    assert_eq!(s.share_of_u64(total as u64), mine.len() as u64);
                    let fair = total as f64 / n as f64;
                    assert!((mine.len() as f64 - fair).abs() < 1.0, "{i}/{n} of {total}");
                    for k in mine {
                        seen[k] += 1;
                    }
                }
                assert!(seen.iter().all(|c| *c == 1), "n={n} total={total}");
            }
        }
    }

    #[test]
    fn streams_are_distinct_and_complete() {
        let (n, t) = (3, 4);
        let mut streams: Vec<usize> = (0..n)
            .flat_map(|i| (0..t).map(move |w| Shard::new(i, n).unwrap().stream(w, t).0))
            .collect();
        streams.sort();
        assert_eq!(streams, (0..n * t).collect::<Vec<_>>());
        assert_eq!(Shard::WHOLE.stream(2, 4), (2, 4));
    }
}
