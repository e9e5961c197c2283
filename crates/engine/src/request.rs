//! The one request path. Every HTTP request of every driver (the closed and open
//! models, fleets, scenario steps) goes through [`perform`]: count it in flight, connect
//! if the slot has no connection, send, count it as sent when it leaves, measure
//! lateness at the actual send, record the outcome in its row, classify a failure and
//! decide whether the connection stays. Drivers add only their own parts: pacing and
//! back-off, and for scenario steps rendering, cookies, checks and extraction.

use std::time::{Duration, Instant};

use stampede_metrics::ErrorClass;
use stampede_plan::GroupBy;

use crate::deadline::Deadline;
use crate::state::{Local, LocalOpen, LocalRef, Shared};
use stampede_proto::http1::Kept;
use stampede_proto::link::{Connector, PreparedRequest, Slot};

/// What one request sends and where its outcome goes: the run's own request
/// ([`RunRequest`], of no size at all) or a scenario step's ([`StepRequest`]). Generic,
/// so that the connection tasks of plain runs carry nothing that only steps need.
pub(crate) trait Request {
    /// The request, in the forms the slot's protocol needs.
    fn request<'a>(&'a self, shared: &'a Shared) -> &'a PreparedRequest;
    /// The request, and where to keep the response's headers and body (scenario steps
    /// that check, extract or store cookies).
    fn sending<'a>(&'a mut self, shared: &'a Shared)
        -> (&'a PreparedRequest, Option<&'a mut Kept>);
    /// How to open a connection when the slot has none.
    fn connector<'a>(&'a self, shared: &'a Shared) -> &'a Connector;
    /// The row the outcome goes to: a scenario step's own row, or `None` for the run's
    /// `--group-by` rule (a response header, the peer, or no row).
    fn step(&self) -> Option<usize>;
}

/// The run's own request, on the run's connector.
pub(crate) struct RunRequest;

impl Request for RunRequest {
    fn request<'a>(&'a self, shared: &'a Shared) -> &'a PreparedRequest {
        &shared.request
    }
    fn connector<'a>(&'a self, shared: &'a Shared) -> &'a Connector {
        &shared.connector
    }
    fn step(&self) -> Option<usize> {
        None
    }
    fn sending<'a>(
        &'a mut self,
        shared: &'a Shared,
    ) -> (&'a PreparedRequest, Option<&'a mut Kept>) {
        (&shared.request, None)
    }
}

/// A scenario step's request: rendered (or prepared once), on its target's connector,
/// recorded in the step's row.
pub(crate) struct StepRequest<'a> {
    pub request: &'a PreparedRequest,
    pub connector: &'a Connector,
    pub step: usize,
    pub kept: Option<&'a mut Kept>,
}

impl Request for StepRequest<'_> {
    fn request<'a>(&'a self, _: &'a Shared) -> &'a PreparedRequest {
        self.request
    }
    fn connector<'a>(&'a self, _: &'a Shared) -> &'a Connector {
        self.connector
    }
    fn step(&self) -> Option<usize> {
        Some(self.step)
    }
    fn sending<'a>(&'a mut self, _: &'a Shared) -> (&'a PreparedRequest, Option<&'a mut Kept>) {
        (self.request, self.kept.as_deref_mut())
    }
}

/// How a request ended; it is already recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A complete response.
    Answered {
        /// Its status code.
        status: u16,
        /// Its recorded latency.
        latency: Duration,
    },
    /// No complete response. `fresh`: on a connection opened for this request, so
    /// nothing has answered yet: the caller backs off before it tries again.
    Failed { class: ErrorClass, fresh: bool },
    /// Connected, but no complete response within the request timeout.
    TimedOut,
}

impl Outcome {
    /// True when the request failed before a first response on a new connection: a
    /// loop that would retry at once must back off.
    pub(crate) fn backs_off(&self) -> bool {
        matches!(self, Outcome::Failed { fresh: true, .. })
    }
}

/// Sends one request on `slot` (connecting first if needed) and records its outcome.
/// `intended` is when the request should have left, for requests that have an intended
/// send time (the open model, fleets with an interval, an open lane's arrival): its
/// latency counts from it (corrected for coordinated omission), and its lateness is
/// measured when the generator starts on it, at `started`, before any connect: setting up
/// a connection (TCP, TLS, HTTP/2) is the service's time, in the latency and the connect
/// and handshake phases, not the generator's lateness (with `--no-keep-alive` every
/// request would otherwise look late by its handshake). `None` for unscheduled sends,
/// whose latency is service time. `started` is the clock read just before the call: the send
/// time on a live connection (one clock read less per request).
pub(crate) async fn perform(
    shared: &Shared,
    local: &LocalRef,
    slot: &mut Slot,
    deadline: &mut Deadline,
    mut what: impl Request,
    intended: Option<Instant>,
    started: Instant,
) -> Outcome {
    let fresh = !slot.is_connected();
    local.borrow_mut().in_flight += 1;
    let result = deadline
        .run(started + shared.timeout, async {
            // Scoped so that nothing but the exchange itself is held while it runs: this
            // future sits inline in every connection task.
            let exchange = {
                // On a live connection the request leaves now, at `started`.
                let sent = match slot.is_connected() {
                    true => started,
                    false => {
                        let mut on_open = LocalOpen(local);
                        let connect = slot.connect(what.connector(shared), &mut on_open);
                        // Boxed: connecting (TCP, TLS, HTTP/2 handshake) is rare and its
                        // state is large; out of line it does not bloat every task.
                        if let Err(f) = Box::pin(connect).await {
                            // An attempt that never left still counts, once.
                            local.borrow_mut().snap.generator.sends += 1;
                            return Err(f);
                        }
                        Instant::now()
                    }
                };
                let (request, kept) = what.sending(shared);
                local.borrow_mut().leaving(
                    request.wire_len(slot.is_http2()),
                    intended.map(|i| started.saturating_duration_since(i)),
                    shared.late_threshold,
                );
                slot.exchange_keeping(request, kept, Some(sent))
            };
            exchange.await
        })
        .await;
    let done = Instant::now();
    let bytes_out = what.request(shared).wire_len(slot.is_http2());
    let mut l = local.borrow_mut();
    l.in_flight -= 1;
    l.last_completion = Some(done);
    // The row: a step's own; by header (failures without a response have none); or
    // the peer (a failure before the connection was up belongs to the peer it was
    // opened to).
    let step = what.step();
    let by_header = step.is_none() && matches!(shared.group_by, Some(GroupBy::Header(_)));
    let group = match step {
        Some(g) => Some(g),
        None if by_header => None,
        None => match slot.peer_group() {
            Some(g) => Some(g),
            None => l.failed_peer_group(slot.last_peer),
        },
    };
    let failed_group = |l: &mut Local| match by_header {
        true => Some(l.group_index(b"")),
        false => group,
    };
    match result {
        Ok(Ok(x)) => {
            let group = match by_header {
                true => Some(l.group_index(&slot.captured)),
                false => group,
            };
            let service = done - x.sent;
            let latency = intended.map_or(service, |i| done - i);
            let ttfb = x.meta.first_byte.saturating_duration_since(x.sent);
            let status = x.meta.status;
            l.snap.total.record_response(status, latency, service);
            l.snap.total.ttfb.record(ttfb);
            l.snap.total.bytes_received += x.meta.bytes;
            if let Some(g) = group {
                let s = &mut l.snap.groups[g].1;
                s.record_response(status, latency, service);
                s.ttfb.record(ttfb);
                s.bytes_received += x.meta.bytes;
                s.bytes_sent += bytes_out;
            }
            l.sample_status(status);
            drop(l);
            if !(x.meta.reusable && shared.keep_alive) {
                slot.disconnect();
            }
            Outcome::Answered { status, latency }
        }
        Ok(Err(f)) => {
            let group = failed_group(&mut l);
            l.record(group, |s| s.record_error(f.class));
            if let (Some(g), true) = (group, slot.is_connected()) {
                l.snap.groups[g].1.bytes_sent += bytes_out;
            }
            l.sample(f.class, f.detail);
            drop(l);
            // A reset stream leaves an HTTP/2 connection usable.
            if f.class != ErrorClass::StreamReset {
                slot.disconnect();
            }
            Outcome::Failed {
                class: f.class,
                fresh,
            }
        }
        Err(_elapsed) if !slot.is_connected() => {
            // The deadline passed before the connection was ready: an attempt that
            // never left.
            l.snap.generator.sends += 1;
            let group = failed_group(&mut l);
            l.record(group, |s| s.record_error(ErrorClass::ConnectTimeout));
            l.sample(
                ErrorClass::ConnectTimeout,
                Some(format!("not connected within {:?}", shared.timeout)),
            );
            Outcome::Failed {
                class: ErrorClass::ConnectTimeout,
                fresh,
            }
        }
        Err(_elapsed) => {
            let group = failed_group(&mut l);
            l.record(group, |s| s.record_timeout());
            if let Some(g) = group {
                l.snap.groups[g].1.bytes_sent += bytes_out;
            }
            drop(l);
            slot.disconnect();
            Outcome::TimedOut
        }
    }
}
