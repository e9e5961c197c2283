//! The model of a scenario file: multi-step user journeys (see `docs/scenarios.md`).
//!
//! [`Journeys`] is what a scenario file says, validated: templates, JSONPath and regexes
//! compiled, CSV feeders loaded, every variable a template uses known to be set before it
//! is used. Reading a file into it is the `stampede-scenario` crate's job.

mod model;

pub use crate::threshold::{ScopedThreshold, ThresholdScope};
pub use model::{
    DataFile, FeederUse, JourneyLoad, JourneyTarget, Journeys, RequestStep, Scenario, Step,
    ThinkTime, WsConnectStep, WsExpectStep, WsSendStep,
};
