//! The fault proxy: a TCP proxy that injects faults ("toxics") into the connections it
//! forwards, with the semantics and attribute names of Shopify's Toxiproxy, and Toxiproxy's
//! HTTP API so that existing Toxiproxy clients drive it unchanged.
//!
//! ```no_run
//! # async fn demo() -> Result<(), stampede_proxy::ProxyError> {
//! use stampede_proxy::{Proxy, Toxic};
//! let proxy = Proxy::start("web", "127.0.0.1:0".parse().unwrap(), "127.0.0.1:8080".into()).await?;
//! for toxic in Toxic::parse_spec("latency=100ms,jitter=10ms")? {
//!     proxy.add_toxic(toxic)?;
//! }
//! println!("connect to {}", proxy.listen_addr());
//! proxy.shutdown().await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod api;
mod chain;
mod conn;
mod error;
mod profiles;
mod proxy;
mod spec;
mod toxic;

pub use error::ProxyError;
pub use profiles::{Profile, LOSS_RETRANSMIT_MS, PROFILES};
pub use proxy::Proxy;
pub use toxic::{Stream, Toxic, ToxicKind, TYPES};
