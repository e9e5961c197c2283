//! Everything stampede shows to people and machines.
//!
//! Renderers only. A run becomes one [`RunResult`] document (the JSON contract, in
//! `stampede-result`, assembled by `stampede-analysis`); the terminal table
//! ([`render_table`]), the HTML report ([`render_html`]) and the comparison of two runs
//! ([`render_comparison`]) are rendered from that same document, so a saved result
//! renders exactly as the live run did. While a run goes on, [`live`]
//! draws the terminal dashboard and [`prometheus`] formats live metrics. A fit of the
//! Universal Scalability Law renders from its own document ([`render_usl_text`],
//! [`render_usl_html`]).
#![deny(missing_docs)]

mod compare;
mod faults;
mod forecast;
mod forecast_html;
mod html;
pub mod live;
mod per_day;
pub mod prometheus;
mod replay;
mod server;
mod sharding;
mod table;
#[cfg(test)]
mod testing;
mod units;
mod usl;
mod workers;

pub use compare::{compare_results, render_comparison};
pub use forecast::{render_check, render_forecast};
pub use forecast_html::render_forecast_html;
pub use html::{kit, render_html, CSP, MAX_CHART_GROUPS};
pub use prometheus::{render_prometheus, MetricsSnapshot};
pub use replay::{render_route_comparison, RouteComparison};
pub use stampede_result::RunResult;
pub use table::{layout, ms as fmt_ms, render_table};
pub use usl::{render_usl_html, render_usl_text};
