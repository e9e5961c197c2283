//! Scenario files: multi-step user journeys described in TOML (see `docs/scenarios.md`).

mod model;

pub use model::*;
