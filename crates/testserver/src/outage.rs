//! Instance outages: an instance that goes down at one time since server start and comes
//! back at another (`down-at`, `up-at`). While down its listener is closed, so connects
//! are refused, and the connections it had open are closed.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

/// When an instance is down: `[down_at, up_at)` from server start (`up_at` `None`: for
/// good).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outage {
    down_at: Duration,
    up_at: Option<Duration>,
}

impl Outage {
    /// The outage of a profile, or `None` when it has no `down_at`.
    pub(crate) fn new(down_at: Option<Duration>, up_at: Option<Duration>) -> Option<Self> {
        Some(Outage {
            down_at: down_at?,
            up_at,
        })
    }

    /// True when the instance is down `elapsed` after server start.
    pub(crate) fn is_down(&self, elapsed: Duration) -> bool {
        elapsed >= self.down_at && self.up_at.is_none_or(|up| elapsed < up)
    }

    /// The next time (since server start) after `elapsed` when the instance goes down or
    /// comes back, or `None` when nothing changes any more.
    pub(crate) fn next_change(&self, elapsed: Duration) -> Option<Duration> {
        [Some(self.down_at), self.up_at]
            .into_iter()
            .flatten()
            .find(|&t| t > elapsed)
    }
}

/// An instance going down or coming back, as it happened: when its listener was closed
/// (connects refused from then on, open connections closed) or bound again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutageEvent {
    /// The instance's name (`target-2`).
    pub instance: String,
    /// Its address.
    pub addr: SocketAddr,
    /// True: it went down; false: it came back.
    pub down: bool,
    /// The wall-clock time of the change.
    pub at: SystemTime,
    /// The time of the change since the target started.
    pub since_start: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn down_between_down_at_and_up_at() {
        let o = Outage::new(Some(s(10)), Some(s(20))).unwrap();
        assert!(!o.is_down(s(0)));
        assert!(!o.is_down(Duration::from_millis(9_999)));
        assert!(o.is_down(s(10)));
        assert!(o.is_down(Duration::from_millis(19_999)));
        assert!(!o.is_down(s(20)));
        assert!(!o.is_down(s(100)));
        assert_eq!(o.next_change(s(0)), Some(s(10)));
        assert_eq!(o.next_change(s(10)), Some(s(20)));
        assert_eq!(o.next_change(s(15)), Some(s(20)));
        assert_eq!(o.next_change(s(20)), None);
    }

    #[test]
    fn without_up_at_down_for_good() {
        let o = Outage::new(Some(s(1)), None).unwrap();
        assert!(o.is_down(s(1000)));
        assert_eq!(o.next_change(s(2)), None);
        assert_eq!(Outage::new(None, Some(s(3))), None);
    }
}
