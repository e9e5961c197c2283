//! One instance of the target (its name, faults and the counters shared by all
//! instances) and the waits every handler applies: response delays and stalls.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::header::HeaderValue;
use hyper::StatusCode;
use tokio::sync::watch;

use crate::outage::Outage;
use crate::scaling::Scaling;
use crate::stall::StallSchedule;
use crate::FaultProfile;

/// Counters shared by all instances of one target.
#[derive(Debug)]
pub(crate) struct Stats {
    /// When the target started; stall windows and poll events are measured from here.
    pub(crate) started: Instant,
    /// Instances going down and coming back, in the order they did.
    pub(crate) outages: std::sync::Mutex<Vec<crate::OutageEvent>>,
    /// Responses handed to the connection for writing.
    pub(crate) served: AtomicU64,
    /// Request body bytes read.
    pub(crate) body_bytes: AtomicU64,
    /// TCP connections accepted.
    pub(crate) connections: AtomicU64,
    /// TLS handshakes completed.
    pub(crate) tls_handshakes: AtomicU64,
    /// TLS handshakes completed by resuming a session.
    pub(crate) tls_resumed: AtomicU64,
    /// WebSocket upgrades completed.
    pub(crate) ws_upgrades: AtomicU64,
    /// WebSocket connections open now.
    pub(crate) ws_open: AtomicU64,
    /// WebSocket messages echoed.
    pub(crate) ws_messages: AtomicU64,
    /// WebSocket messages received but not echoed (`drop` knob).
    pub(crate) ws_dropped: AtomicU64,
    /// Long-poll requests being held now.
    pub(crate) polls_waiting: AtomicU64,
    /// Number of the last long-poll event (periodic or per request).
    pub(crate) poll_event_seq: AtomicU64,
    /// Periodic long-poll events: the number of the last one.
    pub(crate) poll_events: watch::Sender<u64>,
    /// Requests answered by the journey API (`/signup`, `/me`, `/stream`, ...).
    pub(crate) journey_requests: AtomicU64,
}

impl Stats {
    /// The next long-poll event number (1, 2, ...).
    pub(crate) fn next_poll_event(&self) -> u64 {
        self.poll_event_seq.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// One instance: its name, its faults and the shared counters.
#[derive(Debug)]
pub(crate) struct Instance {
    pub(crate) name: HeaderValue,
    pub(crate) profile: FaultProfile,
    pub(crate) stall: Option<StallSchedule>,
    /// When the instance is down (`down-at`, `up-at`), if ever.
    pub(crate) outage: Option<Outage>,
    /// True while the instance is down: its open connections close when it turns true.
    pub(crate) down: watch::Sender<bool>,
    pub(crate) stats: Arc<Stats>,
    /// The serial section and coherency knobs, shared by every instance.
    pub(crate) scaling: Arc<Scaling>,
}

impl Instance {
    /// Records that this instance, at `addr`, went down (`down`) or came back just now.
    pub(crate) fn record_outage(&self, addr: std::net::SocketAddr, down: bool) {
        let event = crate::OutageEvent {
            instance: self.name.to_str().unwrap_or_default().to_string(),
            addr,
            down,
            at: std::time::SystemTime::now(),
            since_start: self.stats.started.elapsed(),
        };
        if let Ok(mut log) = self.stats.outages.lock() {
            log.push(event);
        }
    }

    /// Draws the profile's error rate: `Some(status)` when this response is an injected error.
    pub(crate) fn draw_profile_error(&self) -> Option<StatusCode> {
        let profile = &self.profile;
        (profile.error_rate > 0.0 && fastrand::f64() < profile.error_rate).then(|| {
            // Valid by construction: profiles only admit 200..=999.
            StatusCode::from_u16(profile.effective_error_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        })
    }

    /// Sleeps until `delay` has passed since `since`, accurate to tens of microseconds
    /// (see [`clock`](crate::clock)).
    pub(crate) async fn wait_since(since: Instant, delay: Duration) {
        match since.checked_add(delay) {
            _ if delay.is_zero() => {}
            Some(at) => crate::clock::sleep_until(at).await,
            None => std::future::pending().await,
        }
    }

    /// Sleeps until the current stall window (if any) is over.
    pub(crate) async fn wait_out_stall(&self) {
        if let Some(stall) = self.stall {
            while let Some(wait) = stall.remaining(self.stats.started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
}
