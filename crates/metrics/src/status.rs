//! HTTP status code tallies.

/// A count per HTTP status code (100..=599), stored flat so recording never allocates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCounts(Box<[u64; 500]>);

impl Default for StatusCounts {
    fn default() -> Self {
        StatusCounts(Box::new([0; 500]))
    }
}

impl StatusCounts {
    /// Adds one response with `status`. Codes outside 100..=599 are counted as 599.
    pub fn add(&mut self, status: u16) {
        self.add_n(status, 1);
    }

    /// Adds `n` responses with `status` (clamped as [`StatusCounts::add`] does).
    pub fn add_n(&mut self, status: u16, n: u64) {
        let i = usize::from(status.clamp(100, 599) - 100);
        self.0[i] += n;
    }

    /// Sets every count to zero, in place.
    pub fn reset(&mut self) {
        self.0.fill(0);
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &StatusCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }

    /// Removes the counts of `earlier`, a snapshot these counts grew from.
    pub fn subtract(&mut self, earlier: &StatusCounts) {
        for (a, b) in self.0.iter_mut().zip(earlier.0.iter()) {
            *a = a.saturating_sub(*b);
        }
    }

    /// Codes with a non-zero count, ascending.
    pub fn non_zero(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (i as u16 + 100, *n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_merges() {
        let mut a = StatusCounts::default();
        a.add(200);
        a.add(200);
        a.add(503);
        let mut b = StatusCounts::default();
        b.add(503);
        b.add(700);
        a.merge(&b);
        let v: Vec<_> = a.non_zero().collect();
        assert_eq!(v, vec![(200, 2), (503, 2), (599, 1)]);
    }
}
