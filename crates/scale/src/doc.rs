//! The scale document (`stampede scale --out`): the steps, the fit and the verdict.

use serde::{Deserialize, Serialize};
use stampede_usl::{Shape, UslFit};

use crate::StepDoc;

/// The version of the document's shape that this build writes.
pub const SCALE_SCHEMA_VERSION: u32 = 1;

/// The JSON Schema of [`ScaleDoc`], committed beside the code and checked in tests. Its
/// `$defs.result` stands for a run result document (`result.schema.json` of
/// `stampede-result`) and `$defs.fit` for the fit object (`stampede usl --out`'s `fit`).
pub const SCALE_SCHEMA: &str = include_str!("../schema/scale.schema.json");

/// What a sweep varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepKind {
    /// Concurrent connections or virtual users (closed model).
    Concurrency,
    /// Instances of the system (the first `n` of a list of addresses).
    Instances,
}

/// A whole sweep: what `stampede scale --out` writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleDoc {
    /// [`SCALE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The stampede version that measured it.
    pub stampede_version: String,
    /// What `n` counts.
    pub kind: SweepKind,
    /// What was loaded, in a few words (`GET http://...`).
    pub subject: String,
    /// Seconds of each step dropped before its measured window.
    pub warmup_s: f64,
    /// Seconds of each step's measured window, as asked for.
    pub duration_s: f64,
    /// The steps in the order they ran.
    pub steps: Vec<StepDoc>,
    /// The Universal Scalability Law fitted to the included steps (the same object as
    /// `stampede usl --out` writes); `null` when it could not be fitted.
    pub fit: Option<UslFit>,
    /// Why there is no fit (too few usable steps, no convergence); `null` with a fit.
    pub fit_error: Option<String>,
    /// What the curve does: the fit's shape, unless the measurements contradict a
    /// retrograde fit (see the verdict); `null` without a fit.
    pub shape: Option<Shape>,
    /// The answer in one line: the fit's verdict, or why there is none.
    pub verdict: String,
}

impl ScaleDoc {
    /// Fits the included steps, fills each step's prediction and residual, and says the
    /// verdict.
    pub fn new(
        kind: SweepKind,
        subject: String,
        warmup_s: f64,
        duration_s: f64,
        mut steps: Vec<StepDoc>,
    ) -> ScaleDoc {
        let points: Vec<(f64, f64)> = steps
            .iter()
            .filter(|s| s.included())
            .map(|s| (s.n as f64, s.throughput))
            .collect();
        let (fit, fit_error) = match stampede_usl::fit(&points) {
            Ok(fit) => (Some(fit), None),
            Err(e) => (None, Some(e.to_string())),
        };
        if let Some(fit) = &fit {
            for s in &mut steps {
                let predicted = fit.predict(s.n as f64);
                s.predicted = Some(predicted);
                s.residual = Some(s.throughput - predicted);
            }
        }
        let (shape, verdict) = match (&fit, &fit_error) {
            (Some(fit), _) => {
                let included: Vec<&StepDoc> = steps.iter().filter(|s| s.included()).collect();
                let (shape, verdict) = crate::verdict::verdict(fit, &included);
                (Some(shape), verdict)
            }
            (None, e) => (
                None,
                format!("no fit: {}", e.as_deref().unwrap_or_default()),
            ),
        };
        let excluded = steps.len() - points.len();
        let verdict = if excluded > 0 {
            format!(
                "{verdict} ({excluded} of {} steps left out of the fit; each says why)",
                steps.len()
            )
        } else {
            verdict
        };
        ScaleDoc {
            schema_version: SCALE_SCHEMA_VERSION,
            stampede_version: env!("CARGO_PKG_VERSION").to_string(),
            kind,
            subject,
            warmup_s,
            duration_s,
            steps,
            fit,
            fit_error,
            shape,
            verdict,
        }
    }

    /// Pretty JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the scale document always serializes")
    }

    /// Reads a document written by [`ScaleDoc::to_json`].
    pub fn from_json(text: &str) -> Result<ScaleDoc, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The steps the fit used.
    pub fn included(&self) -> impl Iterator<Item = &StepDoc> {
        self.steps.iter().filter(|s| s.included())
    }
}
