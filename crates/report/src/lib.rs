//! Everything stampede shows to people and machines.
//!
//! A run becomes one [`RunResult`] document (the JSON contract, see [`json`]); the
//! terminal table is rendered from that same document, so a saved result renders exactly
//! as the live run did.
#![deny(missing_docs)]

pub mod json;
mod table;

pub use json::RunResult;
pub use table::render_table;

/// The JSON Schema of [`RunResult`], committed beside the code and checked in tests.
pub const RESULT_SCHEMA: &str = include_str!("../schema/result.schema.json");
