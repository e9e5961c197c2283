//! The coordinator's bookkeeping, without sockets or sleeping: who said hello, what
//! each worker reported, which merged seconds are complete, who is lost. The server
//! feeds it messages; the coordinator's loop asks it, with the time, what is ready.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use stampede_metrics::{GeneratorStats, Stats};

use super::wire::{CheckedDeltas, ClockEstimate, Final, Hello, HelloReply, Reply, WireError};
use super::PROTOCOL_VERSION;

/// One worker as the coordinator knows it.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) hello: Hello,
    pub(crate) clock: Option<ClockEstimate>,
    pub(crate) last_seen: Instant,
    /// The last second it reported (live).
    pub(crate) last_second: Option<u64>,
    /// Seconds it reported.
    pub(crate) seconds: u64,
    pub(crate) state: SlotState,
}

/// Where a worker is.
#[derive(Debug)]
pub(crate) enum SlotState {
    /// Reporting.
    Running,
    /// Sent its result.
    Finished(Box<Final>),
    /// Stopped reporting; why.
    Lost(String),
}

/// The seconds of all workers merged so far, one bucket per second of the run.
#[derive(Debug, Default)]
pub(crate) struct Bucket {
    pub(crate) total: Stats,
    pub(crate) groups: BTreeMap<String, Stats>,
    pub(crate) generator: GeneratorStats,
    /// The workers merged in.
    pub(crate) from: BTreeSet<u32>,
}

/// Everything the coordinator knows (see the module documentation).
#[derive(Debug)]
pub(crate) struct Board {
    expected: u32,
    lost_after: Duration,
    pub(crate) slots: BTreeMap<u32, Slot>,
    buckets: BTreeMap<u64, Bucket>,
    /// The next second to hand to the live view.
    next_second: u64,
    /// Set when the run is to stop; told to every worker in its next answer.
    pub(crate) stop: Option<String>,
    /// Seconds that arrived after they had been shown (merged in the result, not live).
    pub(crate) late_seconds: u64,
}

impl Board {
    pub(crate) fn new(expected: u32, lost_after: Duration) -> Self {
        Board {
            expected,
            lost_after,
            slots: BTreeMap::new(),
            buckets: BTreeMap::new(),
            next_second: 0,
            stop: None,
            late_seconds: 0,
        }
    }

    /// True once every expected worker said hello.
    pub(crate) fn all_arrived(&self) -> bool {
        self.slots.len() as u32 == self.expected
    }

    /// A worker introduces itself: it gets its index (its shard's, else the lowest
    /// free one) or is refused with a reason.
    pub(crate) fn hello(&mut self, h: Hello, now: Instant, clock_unix_ms: f64) -> HelloReply {
        let refuse = |why: String| HelloReply {
            worker: None,
            refused: Some(why),
            clock_unix_ms,
        };
        if h.protocol != PROTOCOL_VERSION {
            return refuse(format!(
                "protocol version {} (this coordinator speaks {PROTOCOL_VERSION})",
                h.protocol
            ));
        }
        if let Some(e) = h.thresholds.iter().find_map(|t| t.parse().err()) {
            return refuse(e);
        }
        if let Some(first) = self.slots.values().next() {
            if first.hello.scenario_hash != h.scenario_hash {
                return refuse(format!(
                    "another workload (scenario hash {} where the run's is {})",
                    h.scenario_hash, first.hello.scenario_hash
                ));
            }
            if first.hello.thresholds != h.thresholds
                || first.hello.abort_on_fail != h.abort_on_fail
            {
                return refuse(format!(
                    "other criteria ({}) than the run's ({}): every worker must send the same",
                    criteria_text(&h),
                    criteria_text(&first.hello)
                ));
            }
        }
        let index = match h.shard {
            Some(s) if s.count != self.expected => {
                return refuse(format!(
                    "shard {}/{} in a run of {} workers",
                    s.index, s.count, self.expected
                ))
            }
            Some(s) if self.slots.contains_key(&s.index) => {
                return refuse(format!("shard {}/{} already reported", s.index, s.count))
            }
            Some(s) => s.index,
            None => match (0..self.expected).find(|i| !self.slots.contains_key(i)) {
                Some(i) => i,
                None => return refuse(format!("all {} workers are here", self.expected)),
            },
        };
        self.slots.insert(
            index,
            Slot {
                hello: h,
                clock: None,
                last_seen: now,
                last_second: None,
                seconds: 0,
                state: SlotState::Running,
            },
        );
        HelloReply {
            worker: Some(index),
            refused: None,
            clock_unix_ms,
        }
    }

    fn reply(&self) -> Reply {
        Reply {
            stop: self.stop.is_some(),
            reason: self.stop.clone(),
        }
    }

    fn running_slot(&mut self, worker: u32, now: Instant) -> Result<&mut Slot, WireError> {
        let slot = self
            .slots
            .get_mut(&worker)
            .ok_or_else(|| WireError(format!("worker {worker} never said hello")))?;
        match &slot.state {
            SlotState::Running => {
                slot.last_seen = now;
                Ok(slot)
            }
            SlotState::Finished(_) => Err(WireError(format!("worker {worker} already finished"))),
            SlotState::Lost(why) => Err(WireError(format!(
                "worker {worker} was reported lost ({why}); its share stays out of the result"
            ))),
        }
    }

    /// Merges a worker's seconds (read and checked before the board is locked) into
    /// their buckets as they arrive.
    pub(crate) fn deltas(&mut self, d: CheckedDeltas, now: Instant) -> Result<Reply, WireError> {
        let next_second = self.next_second;
        let slot = self.running_slot(d.worker, now)?;
        if d.clock.is_some() {
            slot.clock = d.clock;
        }
        let mut late = 0;
        let mut fresh = Vec::new();
        for s in d.seconds {
            if slot.last_second.is_some_and(|l| s.second <= l) {
                continue; // a retry of a second already merged
            }
            slot.last_second = Some(s.second);
            slot.seconds += 1;
            if s.second < next_second {
                late += 1;
            } else {
                fresh.push(s);
            }
        }
        self.late_seconds += late;
        for s in fresh {
            let b = self.buckets.entry(s.second).or_default();
            s.total.merge_into(&mut b.total);
            for (k, g) in &s.groups {
                match b.groups.get_mut(k) {
                    Some(stats) => g.merge_into(stats),
                    None => g.merge_into(b.groups.entry(k.clone()).or_default()),
                }
            }
            s.generator.merge_into(&mut b.generator);
            b.from.insert(d.worker);
        }
        Ok(self.reply())
    }

    /// A worker's final document.
    pub(crate) fn finished(&mut self, f: Final, now: Instant) -> Result<Reply, WireError> {
        let slot = self.running_slot(f.worker, now)?;
        if f.clock.is_some() {
            slot.clock = f.clock;
        }
        slot.state = SlotState::Finished(Box::new(f));
        Ok(self.reply())
    }

    /// Marks as lost every running worker silent for longer than `lost_after`; returns
    /// the newly lost, with the reason.
    pub(crate) fn find_lost(&mut self, now: Instant) -> Vec<(u32, String)> {
        let mut lost = Vec::new();
        for (i, slot) in &mut self.slots {
            if matches!(slot.state, SlotState::Running)
                && now.saturating_duration_since(slot.last_seen) > self.lost_after
            {
                let why = format!(
                    "no message for {:.0} s after second {}",
                    now.saturating_duration_since(slot.last_seen).as_secs_f64(),
                    slot.last_second
                        .map_or_else(|| "none".to_string(), |s| s.to_string())
                );
                slot.state = SlotState::Lost(why.clone());
                lost.push((*i, why));
            }
        }
        lost
    }

    /// The next merged second, when every worker has reported it (or finished before
    /// it, or is lost). Nothing before every worker said hello.
    pub(crate) fn next_ready(&mut self) -> Option<(u64, Bucket)> {
        if !self.all_arrived() {
            return None;
        }
        let s = self.next_second;
        let mut any = false;
        for slot in self.slots.values() {
            let reported = slot.last_second.is_some_and(|l| l >= s);
            any |= reported;
            let waiting = match slot.state {
                SlotState::Running => !reported,
                SlotState::Finished(_) | SlotState::Lost(_) => false,
            };
            if waiting {
                return None;
            }
        }
        if !any {
            return None; // past everyone's last second
        }
        self.next_second += 1;
        Some((s, self.buckets.remove(&s).unwrap_or_default()))
    }

    /// True when every expected worker finished or was lost.
    pub(crate) fn done(&self) -> bool {
        self.all_arrived()
            && self
                .slots
                .values()
                .all(|s| !matches!(s.state, SlotState::Running))
    }
}

/// A hello's criteria as a refusal lists them: `'p99 < 200ms', 'requests > 5' on s/page,
/// --abort-on-fail`, or `none`.
fn criteria_text(h: &Hello) -> String {
    let mut l: Vec<String> = h
        .thresholds
        .iter()
        .map(|t| match &t.group {
            Some(g) => format!("'{}' on {g}", t.criterion),
            None => format!("'{}'", t.criterion),
        })
        .collect();
    if h.abort_on_fail {
        l.push("--abort-on-fail".into());
    }
    if l.is_empty() {
        "none".into()
    } else {
        l.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::distributed::wire::{
        Deltas, GeneratorDelta, SecondDelta, ShardId, StatsDelta, WireThreshold,
    };

    fn hello(shard: Option<u32>) -> Hello {
        Hello {
            protocol: PROTOCOL_VERSION,
            shard: shard.map(|index| ShardId { index, count: 2 }),
            scenario_hash: "h".into(),
            method: "GET".into(),
            url: "http://127.0.0.1/".into(),
            load: super::super::wire::ViewLoad::Other,
            duration_s: Some(2.0),
            clock_unix_ms: 0.0,
            start_at_unix_ms: None,
            thresholds: Vec::new(),
            abort_on_fail: false,
        }
    }

    fn second(second: u64, requests: u64) -> SecondDelta {
        let mut s = Stats::new();
        for i in 0..requests {
            s.record_response(200, Duration::from_millis(i + 1), Duration::from_millis(1));
        }
        SecondDelta {
            second,
            total: StatsDelta::encode(&s),
            groups: BTreeMap::new(),
            generator: GeneratorDelta::encode(&GeneratorStats::default()),
        }
    }

    fn deltas(worker: u32, seconds: Vec<SecondDelta>) -> CheckedDeltas {
        Deltas {
            worker,
            clock: None,
            seconds,
        }
        .check()
        .unwrap()
    }

    #[test]
    fn a_second_is_shown_when_every_worker_reported_it() {
        let t0 = Instant::now();
        let mut b = Board::new(2, Duration::from_secs(3));
        assert_eq!(b.hello(hello(Some(1)), t0, 0.0).worker, Some(1));
        b.deltas(deltas(1, vec![second(0, 3)]), t0).unwrap();
        assert!(b.next_ready().is_none(), "worker 0 has not said hello");
        assert_eq!(b.hello(hello(Some(0)), t0, 0.0).worker, Some(0));
        assert!(
            b.next_ready().is_none(),
            "worker 0 has not reported second 0"
        );
        b.deltas(deltas(0, vec![second(0, 2), second(1, 1)]), t0)
            .unwrap();
        let (s, bucket) = b.next_ready().unwrap();
        assert_eq!((s, bucket.total.requests, bucket.from.len()), (0, 5, 2));
        assert!(b.next_ready().is_none());
        // A retried POST does not count twice.
        b.deltas(deltas(0, vec![second(1, 1)]), t0).unwrap();
        b.deltas(deltas(1, vec![second(1, 4)]), t0).unwrap();
        assert_eq!(b.next_ready().unwrap().1.total.requests, 5);
    }

    #[test]
    fn a_silent_worker_is_lost_and_no_longer_waited_for() {
        let t0 = Instant::now();
        let mut b = Board::new(2, Duration::from_secs(3));
        b.hello(hello(None), t0, 0.0);
        b.hello(hello(None), t0, 0.0);
        b.deltas(deltas(0, vec![second(0, 1)]), t0).unwrap();
        assert!(b.find_lost(t0 + Duration::from_secs(2)).is_empty());
        b.deltas(
            deltas(1, vec![second(0, 1), second(1, 1)]),
            t0 + Duration::from_secs(2),
        )
        .unwrap();
        let lost = b.find_lost(t0 + Duration::from_secs(4));
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].0, 0);
        assert!(b.deltas(deltas(0, vec![second(1, 1)]), t0).is_err());
        assert_eq!(b.next_ready().unwrap().0, 0);
        assert_eq!(b.next_ready().unwrap().1.total.requests, 1);
        assert!(!b.done());
        assert!(b.find_lost(t0 + Duration::from_secs(9)).len() == 1);
        assert!(b.done());
    }

    #[test]
    fn wrong_workers_are_refused() {
        let t0 = Instant::now();
        let mut b = Board::new(2, Duration::from_secs(3));
        let mut other = hello(Some(0));
        other.protocol = 99;
        assert!(b
            .hello(other, t0, 0.0)
            .refused
            .unwrap()
            .contains("protocol"));
        b.hello(hello(Some(0)), t0, 0.0);
        assert!(b
            .hello(hello(Some(0)), t0, 0.0)
            .refused
            .unwrap()
            .contains("already"));
        let mut other = hello(Some(1));
        other.scenario_hash = "x".into();
        assert!(b
            .hello(other, t0, 0.0)
            .refused
            .unwrap()
            .contains("workload"));
        let criterion = |text: &str| WireThreshold {
            group: None,
            criterion: text.into(),
        };
        let mut judged = hello(Some(1));
        judged.thresholds = vec![criterion("requests <= 5")];
        let why = b.hello(judged, t0, 0.0).refused.unwrap();
        assert!(
            why.contains("other criteria ('requests <= 5') than the run's (none)"),
            "{why}"
        );
        let mut garbled = hello(Some(1));
        garbled.thresholds = vec![criterion("p99 ~ 5ms")];
        let why = b.hello(garbled, t0, 0.0).refused.unwrap();
        assert!(why.contains("criterion 'p99 ~ 5ms'"), "{why}");
        let mut three = hello(Some(1));
        three.shard = Some(ShardId { index: 1, count: 3 });
        assert!(b.hello(three, t0, 0.0).refused.is_some());
        b.stop = Some("threshold 'requests <= 1' failed".into());
        b.hello(hello(None), t0, 0.0);
        assert!(b.hello(hello(None), t0, 0.0).refused.is_some(), "full");
        assert!(b.deltas(deltas(1, vec![second(0, 1)]), t0).unwrap().stop);
    }
}
