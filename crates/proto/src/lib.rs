//! The protocols stampede speaks, behind one seam.
//!
//! Drivers (the engine's workers) see two things: a [`link::Connector`] that opens
//! connections (TCP, then TLS with ALPN, round-robin over the target's addresses) and a
//! [`link::Slot`], one request in flight at a time, with [`link::Slot::connect`] and
//! [`link::Slot::exchange_keeping`]. What the slot holds between requests is a
//! [`link::Link`], an enum with one variant per protocol (HTTP/1.1 on its own
//! connection, a handle on a shared HTTP/2 connection). A new protocol such as HTTP/3 is
//! a new module and a new `Link` variant behind a Cargo feature; the drivers do not
//! change. An enum rather than a trait object: no allocation and no dynamic call per
//! request, and no larger per-connection tasks.
//!
//! Each scenario virtual user keeps its cookies in a [`cookies::CookieJar`].
//!
//! WebSocket connections ([`ws`]) open through the same connector and upgrade with
//! stampede's own handshake (RFC 6455), for fleets and scenario steps alike.
#![deny(missing_docs)]

pub mod connect;
pub mod cookies;
pub mod http1;
pub mod link;
pub mod stream;
pub mod tls;
pub mod ws;
