//! The built-in test server of stampede: an HTTP/1.1 and HTTP/2 echo server whose latency,
//! errors, body size, CPU cost and stalls are controlled per request (query knobs) and per
//! instance (fault profiles), with a WebSocket echo and a long-poll endpoint.
//!
//! An instance may go down and come back at given times (`down-at`, `up-at` in its
//! [`FaultProfile`]): while down, connects are refused and open connections are closed.
//!
//! A [`TargetHandle`] runs one or more named instances on a background thread with its own
//! tokio runtime. Every response carries `X-Served-By: <instance name>` so a load test can
//! attribute latency and errors to the instance that produced them, and
//! `X-Protocol: HTTP/1.1` or `HTTP/2`.
//!
//! Query knobs (all optional, unknown keys ignored, bad values answered with `400`):
//! `delay=20ms`, `jitter=10ms`, `status=503:0.05,500:0.01`, `size=1k`, `cpu=1ms`.
//! Target-wide scalability knobs ([`TargetConfig::serial_section`],
//! [`TargetConfig::coherency_delay`]) make contention and coherency costs that a
//! scalability sweep can measure.
//! The path `/echo` answers with the request body. See the crate README for details.
//!
//! Protocols: one port speaks HTTP/1.1 and HTTP/2 with prior knowledge (h2c); with
//! [`TargetConfig::tls`] it speaks TLS instead, offering `h2` and `http/1.1` through ALPN, with a
//! certificate generated at start ([`TlsSetup::SelfSigned`]) or loaded from PEM files.
//! `/ws` is a WebSocket echo (knobs `delay`, `drop`, `close-after`, `reject`) and `/poll` a
//! long-poll endpoint (knobs `hold`, `event-after`; periodic events with
//! [`TargetConfig::poll_event_every`]).
//!
//! A stateless JSON journey API serves multi-step scenarios: `POST /signup`, `POST /verify`,
//! `GET /me`, `PUT /picture` (bearer tokens checked by a keyed hash, nothing stored),
//! `GET /stream?page=N` (cacheable pages with `ETag`), `POST /checkin` and `GET /session`
//! (a `sid` cookie). See the crate README for the wire format.
//!
//! # Example
//!
//! ```no_run
//! use stampede_testserver::{FaultProfile, TargetConfig, TargetHandle};
//!
//! # fn main() -> Result<(), stampede_testserver::TargetError> {
//! let mut config = TargetConfig::new("127.0.0.1:0".parse().unwrap());
//! config.instances = 3;
//! // Instance 2 is slow and flaky; the others use the default (fault-free) profile.
//! let flaky = FaultProfile::default().parse_overrides("delay=50ms,error-rate=0.1")?;
//! config.instance_profiles.insert(2, flaky);
//!
//! let target = TargetHandle::start(config)?;
//! for (name, addr) in target.names().iter().zip(target.addrs()) {
//!     println!("{name} listening on http://{addr}/?delay=10ms&size=1k");
//! }
//! // ... run load against the addresses ...
//! println!("served {} responses", target.requests_served());
//! target.shutdown();
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod body;
mod clock;
mod error;
mod instance;
mod journey;
mod knobs;
mod outage;
mod poll;
mod profile;
mod reply;
mod scaling;
mod server;
mod stall;
mod tls;
mod ws;

pub use error::TargetError;
pub use outage::OutageEvent;
pub use profile::{FaultProfile, DEFAULT_ERROR_STATUS};
pub use server::{TargetConfig, TargetHandle, DEFAULT_BACKLOG};
pub use tls::{TlsSetup, SELF_SIGNED_NAMES};
