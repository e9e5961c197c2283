//! The arrival schedule, pure and clock-free: records are put in time order within a
//! bounded window ([`Reorder`]), requests logged within one second are spread evenly
//! over it ([`Spread`]), and each record gets its send time ([`Pacer`]): its offset
//! from the first divided by the speed, with long gaps shortened, or its place in
//! order at a fixed rate; `--loop` starts the next pass where the last one ended.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

/// How recorded times become send times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Each request at its recorded offset from the first, divided by this factor.
    Speed(f64),
    /// In recorded order, evenly at this many requests per second.
    Rate(f64),
}

struct Keyed<T> {
    t: f64,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Keyed<T> {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl<T> Eq for Keyed<T> {}
impl<T> PartialOrd for Keyed<T> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Keyed<T> {
    fn cmp(&self, o: &Self) -> Ordering {
        self.t.total_cmp(&o.t).then(self.seq.cmp(&o.seq))
    }
}

/// Puts items in time order within a window of `window` items: an item is released
/// once `window` later-read items are held. An item that comes out earlier than one
/// already released (it was more than the window out of order) is released at the
/// released one's time and counted in `late`.
pub struct Reorder<T> {
    heap: BinaryHeap<Reverse<Keyed<T>>>,
    window: usize,
    seq: u64,
    last_out: Option<f64>,
    /// Items released later than their time because they were beyond the window.
    pub late: u64,
}

impl<T> Reorder<T> {
    /// An empty window holding at most `window` items (at least 1).
    pub fn new(window: usize) -> Self {
        Reorder {
            heap: BinaryHeap::new(),
            window: window.max(1),
            seq: 0,
            last_out: None,
            late: 0,
        }
    }

    /// Adds an item at time `t`; returns the earliest held item once the window is full.
    pub fn push(&mut self, t: f64, item: T) -> Option<(f64, T)> {
        self.seq += 1;
        self.heap.push(Reverse(Keyed {
            t,
            seq: self.seq,
            item,
        }));
        match self.heap.len() > self.window {
            true => self.pop(),
            false => None,
        }
    }

    /// Releases the earliest held item (at the end of the input).
    pub fn pop(&mut self) -> Option<(f64, T)> {
        let Reverse(k) = self.heap.pop()?;
        let t = match self.last_out {
            Some(last) if k.t < last => {
                self.late += 1;
                last
            }
            _ => k.t,
        };
        self.last_out = Some(t);
        Some((t, k.item))
    }
}

/// Spreads items logged within one whole second evenly over it: the k-th of n items of
/// second s is at s + k/n. Items with finer times pass through unchanged. A second is
/// held until the next one starts, at most `cap` items: a fuller second is released in
/// parts of `cap`, each spread over the whole second (counted in `crowded`).
pub struct Spread<T> {
    second: Option<f64>,
    group: Vec<T>,
    cap: usize,
    /// Parts released early because a second held more than `cap` items.
    pub crowded: u64,
}

impl<T> Spread<T> {
    /// An empty spreader holding at most `cap` items of one second (at least 1).
    pub fn new(cap: usize) -> Self {
        Spread {
            second: None,
            group: Vec::new(),
            cap: cap.max(1),
            crowded: 0,
        }
    }

    /// Adds an item at `t`; released items go to `out`.
    pub fn push(&mut self, t: f64, whole_second: bool, item: T, out: &mut VecDeque<(f64, T)>) {
        if !whole_second {
            self.flush(out);
            out.push_back((t, item));
            return;
        }
        let s = t.floor();
        if self.second != Some(s) {
            self.flush(out);
            self.second = Some(s);
        }
        self.group.push(item);
        if self.group.len() >= self.cap {
            self.crowded += 1;
            self.flush_group(out);
        }
    }

    /// Releases the second held (at the end of the input).
    pub fn flush(&mut self, out: &mut VecDeque<(f64, T)>) {
        self.flush_group(out);
        self.second = None;
    }

    fn flush_group(&mut self, out: &mut VecDeque<(f64, T)>) {
        let Some(s) = self.second else { return };
        let n = self.group.len() as f64;
        for (k, item) in self.group.drain(..).enumerate() {
            out.push_back((s + k as f64 / n, item));
        }
    }
}

/// Send times from recorded times (seconds, in order).
#[derive(Debug, Clone)]
pub struct Pacer {
    pace: Pace,
    max_gap: f64,
    prev: Option<f64>,
    /// Recorded time since the pass's first record, long gaps shortened.
    offset: f64,
    n: u64,
    /// Where the pass starts, in send time (seconds).
    base: f64,
    last: f64,
    /// Gaps longer than the bound that were shortened.
    pub shortened: u64,
    /// Recorded seconds removed by shortening.
    pub removed: f64,
}

impl Pacer {
    /// A pacer for `pace`, shortening recorded gaps longer than `max_gap` to it.
    pub fn new(pace: Pace, max_gap: Duration) -> Self {
        Pacer {
            pace,
            max_gap: max_gap.as_secs_f64(),
            prev: None,
            offset: 0.0,
            n: 0,
            base: 0.0,
            last: 0.0,
            shortened: 0,
            removed: 0.0,
        }
    }

    /// The send time (after the run's start) of the next record, recorded at `t`.
    pub fn place(&mut self, t: f64) -> Duration {
        let at = match self.pace {
            Pace::Speed(speed) => {
                if let Some(p) = self.prev {
                    let gap = (t - p).max(0.0);
                    if gap > self.max_gap {
                        self.shortened += 1;
                        self.removed += gap - self.max_gap;
                        self.offset += self.max_gap;
                    } else {
                        self.offset += gap;
                    }
                }
                self.prev = Some(self.prev.map_or(t, |p| p.max(t)));
                self.base + self.offset / speed
            }
            Pace::Rate(rate) => self.base + self.n as f64 / rate,
        };
        self.n += 1;
        self.last = at;
        Duration::from_secs_f64(at.max(0.0))
    }

    /// Starts the next pass (`--loop`) one mean gap after the last send (at a rate, one
    /// gap of the rate; a pass of one record, a second).
    pub fn next_pass(&mut self) {
        let step = match self.pace {
            Pace::Rate(rate) => 1.0 / rate,
            Pace::Speed(_) if self.n > 1 => (self.last - self.base) / (self.n - 1) as f64,
            Pace::Speed(_) => 1.0,
        };
        self.base = self.last + step.max(0.001);
        self.prev = None;
        self.offset = 0.0;
        self.n = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(d: Duration) -> f64 {
        d.as_secs_f64()
    }

    #[test]
    fn reorder_sorts_within_the_window_and_counts_the_rest() {
        let mut r = Reorder::new(2);
        let mut out = Vec::new();
        for (t, x) in [
            (3.0, 'c'),
            (1.0, 'a'),
            (2.0, 'b'),
            (5.0, 'e'),
            (4.0, 'd'),
            (0.5, 'z'),
        ] {
            out.extend(r.push(t, x));
        }
        while let Some(o) = r.pop() {
            out.push(o);
        }
        let order: String = out.iter().map(|o| o.1).collect();
        assert_eq!(order, "abczde");
        // 'z' was more than two records late: sent at 'c's time, and counted.
        assert_eq!(out[3], (3.0, 'z'));
        assert_eq!(r.late, 1);
    }

    #[test]
    fn requests_in_one_second_are_spread_evenly() {
        let mut s = Spread::new(100);
        let mut out = VecDeque::new();
        for (t, x) in [
            (10.0, 'a'),
            (10.0, 'b'),
            (10.0, 'c'),
            (10.0, 'd'),
            (11.0, 'e'),
        ] {
            s.push(t, true, x, &mut out);
        }
        s.push(11.25, false, 'f', &mut out);
        let got: Vec<(f64, char)> = out.into_iter().collect();
        assert_eq!(
            got,
            [
                (10.0, 'a'),
                (10.25, 'b'),
                (10.5, 'c'),
                (10.75, 'd'),
                (11.0, 'e'),
                (11.25, 'f')
            ]
        );
        let mut s = Spread::new(2);
        let mut out = VecDeque::new();
        for x in 0..5 {
            s.push(7.0, true, x, &mut out);
        }
        s.flush(&mut out);
        assert_eq!(out.len(), 5);
        assert_eq!(s.crowded, 2);
    }

    #[test]
    fn speed_divides_offsets_and_long_gaps_are_shortened() {
        let mut p = Pacer::new(Pace::Speed(2.0), Duration::from_secs(10));
        let at: Vec<f64> = [100.0, 101.0, 104.0, 134.0, 135.0]
            .iter()
            .map(|t| secs(p.place(*t)))
            .collect();
        // 30 s gap -> 10 s; then everything halved.
        assert_eq!(at, [0.0, 0.5, 2.0, 7.0, 7.5]);
        assert_eq!((p.shortened, p.removed), (1, 20.0));
        // The next pass starts one mean gap (7.5 / 4) after the last send.
        p.next_pass();
        assert_eq!(secs(p.place(500.0)), 7.5 + 7.5 / 4.0);
    }

    #[test]
    fn a_rate_keeps_the_order_and_spaces_evenly() {
        let mut p = Pacer::new(Pace::Rate(4.0), Duration::from_secs(10));
        let at: Vec<f64> = [5.0, 900.0, 901.0]
            .iter()
            .map(|t| secs(p.place(*t)))
            .collect();
        assert_eq!(at, [0.0, 0.25, 0.5]);
        p.next_pass();
        assert_eq!(secs(p.place(5.0)), 0.75);
    }

    #[test]
    fn times_never_go_backwards() {
        let mut p = Pacer::new(Pace::Speed(1.0), Duration::from_secs(10));
        let a = p.place(10.0);
        let b = p.place(9.0);
        let c = p.place(10.5);
        assert!(a <= b && b <= c, "{a:?} {b:?} {c:?}");
    }
}
