//! The matrix result document (`stampede matrix --out FILE`) and the metrics the
//! attribution looks at.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use stampede_analysis::variance::{attribute, Attribution, Better, Scale};
use stampede_result::RunResult;

/// The version of the document's shape this build writes.
pub const MATRIX_SCHEMA_VERSION: u32 = 1;

/// The JSON Schema of [`MatrixResult`], committed beside the code and checked in tests.
/// A cell's `result` is described by the run result's own schema
/// (`stampede_result::RESULT_SCHEMA`).
pub const MATRIX_SCHEMA: &str = include_str!("../schema/matrix.schema.json");

/// One test across variables: every cell's full result and which axis explains each
/// metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixResult {
    /// [`MATRIX_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The stampede that wrote it.
    pub stampede_version: String,
    /// The URL with its `{NAME}` placeholders.
    pub url_template: String,
    /// The axes, in the order given (the table's column and row order).
    pub axes: Vec<AxisDoc>,
    /// Warm-up run before each cell, whose data is discarded (0 when none), in seconds.
    pub warmup_s: f64,
    /// True when the matrix was stopped (Ctrl-C) before every cell ran in full: the
    /// cell that was running is kept with `result.aborted` true, cells not started are in
    /// `not_run`.
    pub interrupted: bool,
    /// The measured cells, in display order (first axis slowest).
    pub cells: Vec<CellDoc>,
    /// Cells that never started, as axis name -> value.
    pub not_run: Vec<BTreeMap<String, String>>,
    /// One attribution per metric (see [`METRICS`]).
    pub attribution: Vec<MetricAttribution>,
}

/// One axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AxisDoc {
    /// Its name (`{NAME}` in the templates).
    pub name: String,
    /// Its values, in the order given.
    pub values: Vec<String>,
}

/// One cell: the axes' values and the run's full result document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellDoc {
    /// Axis name -> value.
    pub axes: BTreeMap<String, String>,
    /// Position in the run order (0 ran first).
    pub run_index: usize,
    /// The warm-up before it (not part of `result`).
    pub warmup: WarmupDoc,
    /// The cell's result, as `stampede run --out` writes it.
    pub result: RunResult,
}

/// What the discarded warm-up did (so that server-side counts can be reconciled).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarmupDoc {
    /// Its length: the first whole seconds of the cell's run (0: none).
    pub seconds: u64,
    /// Requests finished during it.
    pub requests: u64,
    /// Of them, errors.
    pub errors: u64,
    /// Of them, timeouts.
    pub timeouts: u64,
}

/// Which axis explains one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricAttribution {
    /// The metric's key (see [`METRICS`]).
    pub metric: String,
    /// The scale it was compared on.
    pub scale: Scale,
    /// The decomposition.
    pub attribution: Attribution,
}

/// One metric of a cell that the attribution compares.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// Key in the document (`p99`, `avg`, ...).
    pub key: &'static str,
    /// Words for the table and the page.
    pub label: &'static str,
    /// Unit as printed after a value (`ms`, `%`, `/s`).
    pub unit: &'static str,
    /// Compared on this scale.
    pub scale: Scale,
    /// Which direction is better.
    pub better: Better,
    /// The cell's value, `None` when it has no data for it.
    pub value: fn(&RunResult) -> Option<f64>,
}

/// Latency in ms, `None` without any response (a recorded sample is at least 1 µs, so a
/// maximum of zero means none).
fn latency(r: &RunResult, pick: fn(&stampede_result::Percentiles) -> f64) -> Option<f64> {
    let p = &r.summary.core.latency_ms;
    (p.max > 0.0).then(|| pick(p))
}

/// The metrics every matrix attributes, in the order the lines are printed.
pub const METRICS: [Metric; 5] = [
    Metric {
        key: "p99",
        label: "p99",
        unit: "ms",
        scale: Scale::Log,
        better: Better::Lower,
        value: |r| latency(r, |p| p.p99),
    },
    Metric {
        key: "p50",
        label: "p50",
        unit: "ms",
        scale: Scale::Log,
        better: Better::Lower,
        value: |r| latency(r, |p| p.p50),
    },
    Metric {
        key: "avg",
        label: "avg",
        unit: "ms",
        scale: Scale::Log,
        better: Better::Lower,
        value: |r| latency(r, |p| p.mean),
    },
    Metric {
        key: "error_rate",
        label: "(timeout + error) rate",
        unit: "%",
        scale: Scale::Linear,
        better: Better::Lower,
        value: |r| (r.summary.core.requests > 0).then_some(r.summary.core.error_rate * 100.0),
    },
    Metric {
        key: "achieved_rate",
        label: "achieved rate",
        unit: "/s",
        scale: Scale::Linear,
        better: Better::Higher,
        value: |r| (r.summary.elapsed_s > 0.0).then_some(r.summary.core.achieved_rate),
    },
];

/// Attributes every metric of [`METRICS`] over `cells`.
pub fn attribute_all(axes: &[AxisDoc], cells: &[CellDoc]) -> Vec<MetricAttribution> {
    let names: Vec<String> = axes.iter().map(|a| a.name.clone()).collect();
    METRICS
        .iter()
        .map(|m| {
            let data: Vec<(Vec<String>, Option<f64>)> = cells
                .iter()
                .map(|c| {
                    let levels = names
                        .iter()
                        .map(|n| c.axes.get(n).cloned().unwrap_or_default())
                        .collect();
                    (levels, (m.value)(&c.result))
                })
                .collect();
            MetricAttribution {
                metric: m.key.to_string(),
                scale: m.scale,
                attribution: attribute(&names, &data, m.scale, m.better),
            }
        })
        .collect()
}

impl MatrixResult {
    /// The document as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a matrix result serializes")
    }

    /// Reads a document written by [`MatrixResult::to_json`].
    pub fn from_json(text: &str) -> Result<MatrixResult, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The cell's value on each axis, in axis order.
    pub fn levels(&self, cell: &CellDoc) -> Vec<String> {
        self.axes
            .iter()
            .map(|a| cell.axes.get(&a.name).cloned().unwrap_or_default())
            .collect()
    }
}
