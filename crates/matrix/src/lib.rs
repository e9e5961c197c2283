//! One test across variables, one table: `stampede matrix`.
//!
//! A matrix is a URL template with `{NAME}` placeholders (also in headers and
//! `--connect-to` addresses) and axes `NAME=V1,V2,...`; every cell of their cartesian
//! product is one run with the same load. Cells run one after another in a balanced
//! order ([`run_order`]), each after a short warm-up whose data is discarded
//! ([`run_matrix`]); the document ([`MatrixResult`]) keeps every cell's full result and,
//! per metric, which axis explains most of the variance across cells
//! ([`stampede_analysis::variance`]).
//!
//! ```
//! use stampede_matrix::{Axis, Matrix};
//!
//! let axes = vec![
//!     Axis::parse("origin=http://127.0.0.1:8080,https://127.0.0.1:8443").unwrap(),
//!     Axis::parse("resource=/,/stream").unwrap(),
//! ];
//! let m = Matrix::new("{origin}{resource}", axes, &[]).unwrap();
//! assert_eq!(m.cells().len(), 4);
//! assert_eq!(m.fill(3, "{origin}{resource}"), "https://127.0.0.1:8443/stream");
//! assert_eq!(m.label(3), "origin=https://127.0.0.1:8443 resource=/stream");
//! ```
#![deny(missing_docs)]

mod axes;
mod doc;
mod html;
mod order;
mod runner;
mod table;

pub use axes::{check_axes, check_templates, placeholders, substitute, Axis};
pub use doc::{
    attribute_all, AxisDoc, CellDoc, MatrixResult, Metric, MetricAttribution, WarmupDoc,
    MATRIX_SCHEMA, MATRIX_SCHEMA_VERSION, METRICS,
};
pub use html::render_matrix_html;
pub use order::{expand, imbalance, run_order, Cell};
pub use runner::{cell_plan, run_matrix, whole_seconds, Event, DEFAULT_WARMUP};
pub use table::{attribution_line, render_matrix_table, table_rows};

/// The most cells a matrix may have (each is a run of its own).
pub const MAX_CELLS: usize = 256;

/// Why a matrix is not valid. Every message names the flag to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MatrixError {
    /// An `--axis` value that does not parse.
    #[error("--axis '{spec}': {why}")]
    Axis {
        /// The flag's value.
        spec: String,
        /// What is wrong.
        why: String,
    },
    /// No `--axis` at all.
    #[error("at least one --axis NAME=V1,V2,... is needed")]
    NoAxis,
    /// Two axes with one name.
    #[error("--axis {0} is given twice")]
    DuplicateAxis(String),
    /// A `{NAME}` that no axis defines.
    #[error("{{{name}}} in {place} ('{text}') names no --axis")]
    UnknownPlaceholder {
        /// The placeholder's name.
        name: String,
        /// Where it is (`the URL`, `-H`, `--connect-to`).
        place: String,
        /// The text it is in.
        text: String,
    },
    /// An axis no placeholder uses (its cells would be the same test).
    #[error("--axis {0}: no {{{0}}} placeholder in the URL, -H or --connect-to uses it")]
    UnusedAxis(String),
    /// Too many cells.
    #[error("--axis: the matrix has {0} cells; at most {MAX_CELLS} (each is a run of its own)")]
    TooManyCells(usize),
}

/// A checked matrix: the URL template, the axes and their cells in display order.
#[derive(Debug, Clone)]
pub struct Matrix {
    url_template: String,
    axes: Vec<Axis>,
    cells: Vec<Cell>,
}

impl Matrix {
    /// Checks the axes against the URL template and the other templates (`(where,
    /// text)`, e.g. `("-H", "Host: {host}")`): every placeholder names an axis and
    /// every axis is used.
    pub fn new(
        url_template: &str,
        axes: Vec<Axis>,
        others: &[(&str, &str)],
    ) -> Result<Matrix, MatrixError> {
        check_axes(&axes)?;
        let mut templates = vec![("the URL", url_template)];
        templates.extend_from_slice(others);
        check_templates(&axes, &templates)?;
        Matrix::of_file(url_template, axes)
    }

    /// The matrix of a scenario file's `[matrix]` table: its levels change the file's
    /// targets and variables, so there are no placeholders to check. `source` (the file)
    /// takes the URL template's place in the document and pages.
    pub fn of_file(source: &str, axes: Vec<Axis>) -> Result<Matrix, MatrixError> {
        check_axes(&axes)?;
        let count = axes.iter().map(|a| a.values.len()).product::<usize>();
        if count > MAX_CELLS {
            return Err(MatrixError::TooManyCells(count));
        }
        let sizes: Vec<usize> = axes.iter().map(|a| a.values.len()).collect();
        Ok(Matrix {
            url_template: source.to_string(),
            cells: expand(&sizes),
            axes,
        })
    }

    /// The URL with its placeholders (a scenario file's path for [`Matrix::of_file`]).
    pub fn url_template(&self) -> &str {
        &self.url_template
    }

    /// The axes, in the order given.
    pub fn axes(&self) -> &[Axis] {
        &self.axes
    }

    /// The cells in display order.
    pub fn cells(&self) -> &[Cell] {
        &self.cells
    }

    /// Cell `i`'s (axis name, value) pairs, in axis order.
    pub fn values(&self, i: usize) -> Vec<(String, String)> {
        self.axes
            .iter()
            .zip(&self.cells[i].levels)
            .map(|(a, &l)| (a.name.clone(), a.values[l].clone()))
            .collect()
    }

    /// Cell `i` in words: `name=value name=value`.
    pub fn label(&self, i: usize) -> String {
        self.values(i)
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `text` with cell `i`'s values in its placeholders.
    pub fn fill(&self, i: usize, text: &str) -> String {
        let values = self.values(i);
        substitute(text, |name| {
            values
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_gets_its_own_values() {
        let axes = vec![
            Axis::parse("a=1,2").unwrap(),
            Axis::parse("b=x,y,z").unwrap(),
        ];
        let m = Matrix::new("http://h/{a}/{b}", axes, &[("-H", "X: {b}")]).unwrap();
        let urls: Vec<String> = (0..6).map(|i| m.fill(i, m.url_template())).collect();
        assert_eq!(
            urls,
            [
                "http://h/1/x",
                "http://h/1/y",
                "http://h/1/z",
                "http://h/2/x",
                "http://h/2/y",
                "http://h/2/z"
            ]
        );
        assert_eq!(m.fill(4, "X: {b}"), "X: y");
    }

    #[test]
    fn too_many_cells_are_refused() {
        let values: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        let spec = |n: &str| Axis::parse(&format!("{n}={}", values.join(","))).unwrap();
        let e = Matrix::new("http://h/{a}{b}", vec![spec("a"), spec("b")], &[]).unwrap_err();
        assert_eq!(e, MatrixError::TooManyCells(400));
    }
}
