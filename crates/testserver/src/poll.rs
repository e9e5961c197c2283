//! `/poll`: long-polling. A request is held until an event happens (`200` with
//! `{"event":N}`) or its `hold` elapses (`204 No Content`).
//!
//! Events are server-wide and periodic ([`TargetConfig::poll_event_every`]) or per request
//! (`event-after`). Event numbers count up from 1 across both kinds.
//!
//! [`TargetConfig::poll_event_every`]: crate::TargetConfig::poll_event_every

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};

use crate::body::ResponseBody;
use crate::instance::{Instance, Stats};
use crate::knobs::{for_each_known, parse_duration, MAX_DELAY};
use crate::reply::{bad_knob, plain_status, read_body};
use crate::TargetError;

/// The long-poll path.
pub(crate) const PATH: &str = "/poll";
/// How long a poll is held without a `hold` knob.
pub(crate) const DEFAULT_HOLD: Duration = Duration::from_secs(30);

/// The knobs of one long-poll request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PollKnobs {
    /// `hold`: answer `204` after this long without an event.
    pub(crate) hold: Duration,
    /// `event-after`: this request's own event comes after this long.
    pub(crate) event_after: Option<Duration>,
}

impl Default for PollKnobs {
    fn default() -> Self {
        PollKnobs {
            hold: DEFAULT_HOLD,
            event_after: None,
        }
    }
}

impl PollKnobs {
    /// Parses the query string (without the `?`), if any; unknown keys are ignored.
    pub(crate) fn parse(query: Option<&str>) -> Result<Self, TargetError> {
        let mut knobs = PollKnobs::default();
        for_each_known(query, &["hold", "event-after"], |key, value| {
            let d = parse_duration(key, value, MAX_DELAY)?;
            match key {
                "hold" => knobs.hold = d,
                _ => knobs.event_after = Some(d),
            }
            Ok(())
        })?;
        Ok(knobs)
    }
}

/// Counts a held poll while it lives (also when the client goes away and the request is
/// dropped).
struct WaitingGuard<'a>(&'a Stats);

impl<'a> WaitingGuard<'a> {
    fn new(stats: &'a Stats) -> Self {
        stats.polls_waiting.fetch_add(1, Ordering::Relaxed);
        WaitingGuard(stats)
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.polls_waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Holds a request on `/poll` until an event or the end of its hold.
///
/// The instance's error rate answers at once (errors are not held); its delay is a lower bound
/// on the answer time, measured from arrival.
pub(crate) async fn respond(
    instance: &Instance,
    req: Request<Incoming>,
    received: Instant,
) -> Result<Response<ResponseBody>, hyper::Error> {
    let knobs = PollKnobs::parse(req.uri().query());
    // Subscribe before anything can wait, so that no event after arrival is missed.
    let mut events = instance.stats.poll_events.subscribe();
    read_body(req.into_body(), false, &instance.stats).await?;
    let knobs = match knobs {
        Ok(k) => k,
        Err(e) => return Ok(bad_knob(&e)),
    };
    if let Some(status) = instance.draw_profile_error() {
        Instance::wait_since(received, instance.profile.delay).await;
        return Ok(plain_status(status));
    }

    let event = {
        let _waiting = WaitingGuard::new(&instance.stats);
        let hold = tokio::time::sleep_until(deadline(received, knobs.hold));
        let own = async {
            match knobs.event_after {
                Some(after) => tokio::time::sleep_until(deadline(received, after)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            Ok(()) = events.changed() => Some(*events.borrow_and_update()),
            () = own => Some(instance.stats.next_poll_event()),
            () = hold => None,
        }
    };
    Instance::wait_since(received, instance.profile.delay).await;

    Ok(match event {
        Some(n) => {
            let mut resp = Response::new(ResponseBody::full(Bytes::from(format!(
                "{{\"event\":{n}}}"
            ))));
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            resp
        }
        None => {
            let mut resp = Response::new(ResponseBody::full(Bytes::new()));
            *resp.status_mut() = StatusCode::NO_CONTENT;
            resp
        }
    })
}

/// `start + after` on the tokio clock, saturating far in the future.
fn deadline(start: Instant, after: Duration) -> tokio::time::Instant {
    let start = tokio::time::Instant::from_std(start);
    start
        .checked_add(after)
        .unwrap_or_else(|| start + MAX_DELAY)
}

/// Fires a server-wide event every `every`, the first one period after start, answering every
/// held poll.
pub(crate) async fn tick_events(stats: Arc<Stats>, every: Duration) {
    let first = tokio::time::Instant::from_std(stats.started) + every;
    let mut ticks = tokio::time::interval_at(first, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let n = stats.next_poll_event();
        stats.poll_events.send_replace(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knobs_parse() {
        assert_eq!(PollKnobs::parse(None).unwrap(), PollKnobs::default());
        let k = PollKnobs::parse(Some("hold=5s&event-after=200ms&delay=1s")).unwrap();
        assert_eq!(k.hold, Duration::from_secs(5));
        assert_eq!(k.event_after, Some(Duration::from_millis(200)));
        assert_eq!(
            PollKnobs::parse(Some("hold=0s")).unwrap().hold,
            Duration::ZERO
        );
        for (q, key) in [("hold=x", "hold"), ("event-after=2h", "event-after")] {
            let e = PollKnobs::parse(Some(q)).unwrap_err().to_string();
            assert!(e.contains(key), "{q}: {e}");
        }
    }
}
