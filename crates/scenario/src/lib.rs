//! Scenario files: multi-step user journeys described in TOML (see `docs/scenarios.md`),
//! read into the validated model of `stampede_plan::scenario`.
//!
//! [`load_file`] and [`parse_str`] read a file into validated [`Journeys`]: templates,
//! JSONPath and regexes are compiled, CSV feeders loaded, and every variable a template
//! uses is known to be set before it is used. Errors name the file, line and column.
//!
//! ```
//! use std::path::Path;
//! use stampede_scenario::parse_str;
//!
//! let text = r#"
//! [target]
//! base_url = "http://127.0.0.1:8080"
//!
//! [[scenarios]]
//! name = "home"
//!   [[scenarios.steps]]
//!   url = "/"
//! "#;
//! let journeys = parse_str(Path::new("home.toml"), text).unwrap();
//! assert_eq!(journeys.scenarios[0].name, "home");
//!
//! let err = parse_str(Path::new("home.toml"), "[target]\nbase_url = 1\n").unwrap_err();
//! assert_eq!((err.line, err.column), (2, 12));
//! ```
#![deny(missing_docs)]

use std::fmt;
use std::path::{Path, PathBuf};

mod matrix;
mod parse;
mod raw;

pub use matrix::{load_any, load_matrix, parse_matrix_str, FileAxis, ScenarioFile, ScenarioMatrix};

pub use stampede_plan::scenario::*;

/// The commented example that `stampede init` writes. It runs against the built-in target
/// (`stampede target --listen 127.0.0.1:8080`) and needs no other file.
pub const EXAMPLE: &str = include_str!("example.toml");

/// Why a scenario file was rejected: where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", path.display())]
pub struct ScenarioError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

/// Reads and validates a scenario file. Relative paths in it (feeder files, `body_file`,
/// `cacert`, `cert`, `key`) are resolved against the file's directory.
pub fn load_file(path: &Path) -> Result<Journeys, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        path: path.to_path_buf(),
        line: 1,
        column: 1,
        message: format!("cannot read the file: {e}"),
    })?;
    parse_str(path, &text)
}

/// Validates the text of a scenario file. `path` names the file in messages, and its
/// directory is where relative paths in the file are resolved.
pub fn parse_str(path: &Path, text: &str) -> Result<Journeys, ScenarioError> {
    parse::parse(path, text)
}

/// Line and column (1-based, column in characters) of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

impl ScenarioError {
    pub(crate) fn at(path: &Path, text: &str, offset: usize, message: impl fmt::Display) -> Self {
        let (line, column) = line_column(text, offset);
        ScenarioError {
            path: path.to_path_buf(),
            line,
            column,
            message: message.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_characters() {
        let t = "ab\ncé d\n";
        assert_eq!(line_column(t, 0), (1, 1));
        assert_eq!(line_column(t, 3), (2, 1));
        // 'é' is two bytes; the space after it is column 3.
        assert_eq!(line_column(t, 6), (2, 3));
        assert_eq!(line_column(t, 100), (3, 1));
    }

    #[test]
    fn example_parses() {
        let j = parse_str(Path::new("stampede.toml"), EXAMPLE).unwrap();
        assert!(!j.scenarios.is_empty());
    }
}
