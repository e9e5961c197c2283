//! The document `stampede usl --out FILE` writes: the points, what the fit predicts at
//! each, and the fit. Described by the committed JSON Schema [`USL_SCHEMA`]
//! (`crates/usl/schema/usl.schema.json`, whose `$defs/fit` is the [`UslFit`] object that
//! `stampede scale` writes too).

use serde::{Deserialize, Serialize};

use crate::UslFit;

/// The schema version this crate writes.
pub const USL_SCHEMA_VERSION: u32 = 1;

/// The committed JSON Schema of [`UslDocument`].
pub const USL_SCHEMA: &str = include_str!("../schema/usl.schema.json");

/// A fit and the points it was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UslDocument {
    /// [`USL_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The stampede that wrote it.
    pub stampede_version: String,
    /// Where the points came from (the input file as given).
    pub source: String,
    /// The points, in input order.
    pub points: Vec<FittedPoint>,
    /// The fit.
    pub fit: UslFit,
}

/// One measured point beside the model's value there.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FittedPoint {
    /// N (concurrency or node count).
    pub n: f64,
    /// Measured throughput.
    pub throughput: f64,
    /// The model's throughput at `n`.
    pub predicted: f64,
    /// `throughput` − `predicted`.
    pub residual: f64,
}

impl UslDocument {
    /// The document for `fit`, made from `points` read from `source`.
    pub fn new(source: &str, points: &[(f64, f64)], fit: UslFit) -> UslDocument {
        let points = points
            .iter()
            .map(|&(n, throughput)| {
                let predicted = fit.predict(n);
                FittedPoint {
                    n,
                    throughput,
                    predicted,
                    residual: throughput - predicted,
                }
            })
            .collect();
        UslDocument {
            schema_version: USL_SCHEMA_VERSION,
            stampede_version: env!("CARGO_PKG_VERSION").to_string(),
            source: source.to_string(),
            points,
            fit,
        }
    }
}
