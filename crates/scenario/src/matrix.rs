//! A scenario file's `[matrix]` table: axes whose levels change target options and
//! variables. Each cell is the file with its levels applied, validated like any file;
//! the values a level sets keep their positions, so an error points into the table.
//!
//! ```toml
//! [matrix.protocol]
//! http = { base_url = "http://127.0.0.1:8080" }
//! https = { base_url = "https://127.0.0.1:8443", insecure = true }
//!
//! [matrix.version]
//! h1 = {}
//! h2 = { http2 = true }
//! ```

use std::path::{Path, PathBuf};

use toml::Spanned;

use super::parse::{parse_raw, validate};
use super::raw::{Entries, RawFile, RawLevel, RawTarget};
use super::{Journeys, ScenarioError};

/// The most levels an axis may have.
const MAX_LEVELS: usize = 64;

/// One axis of a file's matrix: its name and its levels' names, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileAxis {
    /// The `AXIS` of `[matrix.AXIS]`.
    pub name: String,
    /// The level names (the keys of the axis table).
    pub levels: Vec<String>,
}

/// A scenario file with a `[matrix]` table. [`ScenarioMatrix::cell`] gives one cell's
/// validated journeys.
#[derive(Debug, Clone)]
pub struct ScenarioMatrix {
    path: PathBuf,
    text: String,
    axes: Vec<FileAxis>,
}

/// Reads a scenario file that has a `[matrix]` table and checks the table's shape (names,
/// levels, keys). Cells are validated by [`ScenarioMatrix::cell`].
pub fn load_matrix(path: &Path) -> Result<ScenarioMatrix, ScenarioError> {
    parse_matrix_str(path, &read(path)?)
}

/// A scenario file as it is: plain journeys, or a matrix of them.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum ScenarioFile {
    /// A file without a `[matrix]` table.
    Plain(Journeys),
    /// A file with one.
    Matrix(ScenarioMatrix),
}

/// Reads a scenario file with or without a `[matrix]` table (`stampede check`).
pub fn load_any(path: &Path) -> Result<ScenarioFile, ScenarioError> {
    let text = read(path)?;
    if parse_raw(path, &text)?.matrix.is_some() {
        parse_matrix_str(path, &text).map(ScenarioFile::Matrix)
    } else {
        super::parse_str(path, &text).map(ScenarioFile::Plain)
    }
}

fn read(path: &Path) -> Result<String, ScenarioError> {
    std::fs::read_to_string(path).map_err(|e| ScenarioError {
        path: path.to_path_buf(),
        line: 1,
        column: 1,
        message: format!("cannot read the file: {e}"),
    })
}

/// [`load_matrix`] on the text of a file.
pub fn parse_matrix_str(path: &Path, text: &str) -> Result<ScenarioMatrix, ScenarioError> {
    let raw = parse_raw(path, text)?;
    let err = |offset: usize, m: String| ScenarioError::at(path, text, offset, m);
    let Some(table) = &raw.matrix else {
        return Err(err(
            0,
            "no [matrix] table: add [matrix.AXIS] tables whose levels change the target, e.g. `[matrix.protocol]` with `http = { base_url = \"http://...\" }` (see docs/matrix.md)".into(),
        ));
    };
    if table.get_ref().0.is_empty() {
        return Err(err(
            table.span().start,
            "[matrix] has no axis: add [matrix.AXIS] tables".into(),
        ));
    }
    let mut axes = Vec::new();
    for (name, levels) in &table.get_ref().0 {
        if !is_name(name.get_ref()) {
            return Err(err(
                name.span().start,
                format!(
                    "'{}' is not an axis name: letters, digits and '_', not starting with a digit",
                    name.get_ref()
                ),
            ));
        }
        let list = &levels.get_ref().0;
        if list.is_empty() {
            return Err(err(
                levels.span().start,
                format!("axis '{}' has no level", name.get_ref()),
            ));
        }
        if list.len() > MAX_LEVELS {
            return Err(err(
                levels.span().start,
                format!(
                    "axis '{}' has {} levels; at most {MAX_LEVELS}",
                    name.get_ref(),
                    list.len()
                ),
            ));
        }
        if list.iter().all(|(_, l)| sets_nothing(l.get_ref())) {
            return Err(err(
                levels.span().start,
                format!(
                    "no level of axis '{}' changes anything: its cells would be the same test",
                    name.get_ref()
                ),
            ));
        }
        axes.push(FileAxis {
            name: name.get_ref().clone(),
            levels: list.iter().map(|(k, _)| k.get_ref().clone()).collect(),
        });
    }
    let m = ScenarioMatrix {
        path: path.to_path_buf(),
        text: text.to_string(),
        axes,
    };
    Ok(m)
}

impl ScenarioMatrix {
    /// The axes, in file order.
    pub fn axes(&self) -> &[FileAxis] {
        &self.axes
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The journeys of the cell that takes level `levels[a]` of axis `a`, validated like a
    /// file of its own. A message about a value set by a level points at that level and
    /// says which cell it was.
    pub fn cell(&self, levels: &[usize]) -> Result<Journeys, ScenarioError> {
        assert_eq!(levels.len(), self.axes.len(), "one level per axis");
        let (path, text) = (self.path.as_path(), self.text.as_str());
        let mut raw = parse_raw(path, text)?;
        let table = raw
            .matrix
            .take()
            .expect("checked by load_matrix")
            .into_inner();
        let label = self.label(levels);
        let in_cell = |mut e: ScenarioError| {
            e.message = format!("{} (matrix cell {label})", e.message);
            e
        };
        for ((_, axis), &l) in table.0.into_iter().zip(levels) {
            let level = axis.into_inner().0.into_iter().nth(l).expect("level index");
            apply(path, text, &mut raw, level.1).map_err(in_cell)?;
        }
        validate(path, text, raw).map_err(in_cell)
    }

    /// Every cell's levels, the first axis varying slowest.
    pub fn cells(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new()];
        for axis in &self.axes {
            out = out
                .into_iter()
                .flat_map(|prefix| {
                    (0..axis.levels.len()).map(move |l| {
                        let mut cell = prefix.clone();
                        cell.push(l);
                        cell
                    })
                })
                .collect();
        }
        out
    }

    /// A cell in words: `axis=level axis=level`.
    pub fn label(&self, levels: &[usize]) -> String {
        self.axes
            .iter()
            .zip(levels)
            .map(|(a, &l)| format!("{}={}", a.name, a.levels[l]))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// True for `[A-Za-z_][A-Za-z0-9_]*`.
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn sets_nothing(l: &RawLevel) -> bool {
    l.base_url.is_none()
        && l.headers.as_ref().is_none_or(|h| h.0.is_empty())
        && l.insecure.is_none()
        && l.cacert.is_none()
        && l.cert.is_none()
        && l.key.is_none()
        && l.http2.is_none()
        && l.streams.is_none()
        && l.vars.as_ref().is_none_or(|v| v.0.is_empty())
}

/// Applies one level to the file: target options replace the target's (headers and
/// variables entry by entry).
fn apply(
    path: &Path,
    text: &str,
    raw: &mut RawFile,
    level: Spanned<RawLevel>,
) -> Result<(), ScenarioError> {
    let start = level.span().start;
    let level = level.into_inner();
    if let Some(vars) = level.vars {
        merge_entries(raw.vars.get_or_insert_with(Entries::default), vars, false);
    }
    let changes_target = level.base_url.is_some()
        || level.headers.as_ref().is_some_and(|h| !h.0.is_empty())
        || level.insecure.is_some()
        || level.cacert.is_some()
        || level.cert.is_some()
        || level.key.is_some()
        || level.http2.is_some()
        || level.streams.is_some();
    if !changes_target {
        return Ok(());
    }
    let target = target_of(raw, level.target.as_ref()).ok_or_else(|| {
        let (offset, what) = match &level.target {
            Some(t) => (
                t.span().start,
                format!("no target '{}' in the file", t.get_ref()),
            ),
            None => (start, "the file has no target".to_string()),
        };
        ScenarioError::at(
            path,
            text,
            offset,
            format!(
                "{what} for this level to change; define it with its common settings ([target] or [targets.NAME])"
            ),
        )
    })?;
    let t = target.get_mut();
    if let Some(v) = level.base_url {
        t.base_url = v;
    }
    if let Some(h) = level.headers {
        merge_entries(t.headers.get_or_insert_with(Entries::default), h, true);
    }
    if level.insecure.is_some() {
        t.insecure = level.insecure;
    }
    if level.http2.is_some() {
        t.http2 = level.http2;
    }
    if level.cacert.is_some() {
        t.cacert = level.cacert;
    }
    if level.cert.is_some() {
        t.cert = level.cert;
    }
    if level.key.is_some() {
        t.key = level.key;
    }
    if level.streams.is_some() {
        t.streams = level.streams;
    }
    Ok(())
}

/// The target a level changes: the named one, else the default ([target], else
/// [targets.default], else the first), as the file's own validation picks it.
fn target_of<'r>(
    raw: &'r mut RawFile,
    name: Option<&Spanned<String>>,
) -> Option<&'r mut Spanned<RawTarget>> {
    let wanted = name.map(|n| n.get_ref().as_str());
    if matches!(wanted, None | Some("default")) && raw.target.is_some() {
        return raw.target.as_mut();
    }
    let list = &mut raw.targets.as_mut()?.0;
    let i = match wanted {
        Some(n) => list.iter().position(|(k, _)| k.get_ref() == n)?,
        None => list
            .iter()
            .position(|(k, _)| k.get_ref() == "default")
            .unwrap_or(0),
    };
    list.get_mut(i).map(|(_, t)| t)
}

/// Puts `new`'s entries into `into`: an entry with the same key (ASCII case ignored when
/// `fold_case`, as for header names) is replaced, others appended.
fn merge_entries(
    into: &mut Entries<Spanned<String>>,
    new: Entries<Spanned<String>>,
    fold_case: bool,
) {
    let same = |a: &str, b: &str| {
        if fold_case {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    for (k, v) in new.0 {
        match into
            .0
            .iter_mut()
            .find(|(old, _)| same(old.get_ref(), k.get_ref()))
        {
            Some(slot) => *slot = (k, v),
            None => into.0.push((k, v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[target]
base_url = "http://127.0.0.1:1"
headers = { x-env = "base", accept = "*/*" }

[vars]
path = "/"

[matrix.origin]
plain = {}
tls = { base_url = "https://127.0.0.1:2", insecure = true, http2 = true }

[matrix.resource]
root = {}
slow = { vars = { path = "/slow" }, headers = { X-Env = "slow" } }

[[scenarios]]
name = "one"
  [[scenarios.steps]]
  url = "{{path}}"
"#;

    fn matrix(text: &str) -> ScenarioMatrix {
        parse_matrix_str(Path::new("m.toml"), text).unwrap()
    }

    #[test]
    fn each_cell_is_the_file_with_its_levels_applied() {
        let m = matrix(FILE);
        assert_eq!(m.cells(), [[0, 0], [0, 1], [1, 0], [1, 1]]);
        assert_eq!(m.axes()[0].levels, ["plain", "tls"]);
        assert_eq!(m.axes()[1].name, "resource");
        let base = m.cell(&[0, 0]).unwrap();
        assert_eq!(base.targets[0].base.port, 1);
        let cell = m.cell(&[1, 1]).unwrap();
        let t = &cell.targets[0];
        assert_eq!(t.base.port, 2);
        assert!(matches!(t.http, stampede_plan::HttpVersion::Http2 { .. }));
        assert!(matches!(
            base.targets[0].http,
            stampede_plan::HttpVersion::Http1
        ));
        assert_eq!(m.label(&[1, 1]), "origin=tls resource=slow");
        let env: Vec<_> = t
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("x-env"))
            .collect();
        assert_eq!(env.len(), 1, "{:?}", t.headers);
        assert_ne!(format!("{:?}", base), format!("{:?}", cell));
    }

    #[test]
    fn a_plain_load_refuses_a_matrix_and_a_matrix_load_needs_one() {
        let e = crate::parse_str(Path::new("m.toml"), FILE).unwrap_err();
        assert!(e.message.contains("stampede matrix"), "{e}");
        assert_eq!(e.line, 9);
        let no = "[target]\nbase_url = \"http://h\"\n";
        let e = parse_matrix_str(Path::new("m.toml"), no).unwrap_err();
        assert!(e.message.contains("no [matrix] table"), "{e}");
    }

    #[test]
    fn bad_tables_and_bad_levels_say_where() {
        let bad = |from: &str, to: &str| {
            let text = FILE.replace(from, to);
            match parse_matrix_str(Path::new("m.toml"), &text) {
                Err(e) => e,
                Ok(m) => {
                    let last: Vec<usize> = m.axes().iter().map(|a| a.levels.len() - 1).collect();
                    m.cell(&last).unwrap_err()
                }
            }
        };
        let e = bad("insecure = true", "insecure = true, proxy = 1");
        assert!(e.message.contains("unknown field `proxy`"), "{e}");
        assert_eq!(e.line, 11);
        let e = bad("https://127.0.0.1:2", "ftp://x");
        assert!(
            e.message.contains("base_url")
                && e.message.contains("matrix cell origin=tls resource=slow"),
            "{e}"
        );
        assert_eq!((e.line, e.column), (11, 20));
        let e = bad("[matrix.resource]", "[matrix.2r]");
        assert!(e.message.contains("not an axis name"), "{e}");
        let e = bad(
            "root = {}\nslow = { vars = { path = \"/slow\" }, headers = { X-Env = \"slow\" } }",
            "a = {}\nb = {}",
        );
        assert!(e.message.contains("changes anything"), "{e}");
        let e = bad("tls = { base_url", "tls = { target = \"api\", base_url");
        assert!(e.message.contains("no target 'api'"), "{e}");
    }
}
