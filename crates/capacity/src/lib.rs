//! `stampede capacity`: how much can it take before it breaks the SLO?
//!
//! The search offers a rate, judges the step on its own window (a warm-up slice of the
//! step discarded, never on what came before), and moves the rate: doubling until a step
//! fails, then bisecting between the last pass and the first failure down to a
//! precision, then holding the final rate once more to confirm it. It is one run of the
//! experiment layer, steered through its [`Control`](stampede_experiment::Control):
//! connections stay open between steps.
//!
//! A step the generator could not drive (it could not send what was offered, or its own
//! lateness accounts for the latency) is not a capacity: the search stops and says
//! "generator-limited" with the reason, instead of naming a number about the service.
//!
//! The parts: [`controller`] (the pure search), [`judge`] (one step's verdict), the
//! steered run ([`search`]), the document ([`CapacityDoc`], `schema/capacity.schema.json`)
//! and its renderings ([`render_text`], [`render_html`]).
#![deny(missing_docs)]

pub mod controller;
mod doc;
pub mod judge;
mod render;
mod search;
mod server;

pub use controller::{Phase, Settings, Verdict};
pub use doc::{
    knee, CapacityDoc, OutcomeDoc, SettingsDoc, StepDoc, StepVerdict, CAPACITY_SCHEMA,
    CAPACITY_SCHEMA_VERSION,
};
pub use render::{conclusion, render_html, render_text, step_cells, step_rows, STEP_HEADERS};
pub use search::{search, validate, OnStep, SearchSpec, SpecError};
pub use server::{attach_server_metrics, busiest_cell, has_server_metrics, saturation_line};
