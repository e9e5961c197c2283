//! CSV data feeders: rows of test data handed out to virtual users.
//!
//! The first row of the file names the columns; a template refers to a value as
//! `{{ feeder_name.column }}`. A [`Feeder`] is loaded once and shared by every worker
//! thread (through an `Arc`); its cursor is atomic.
//!
//! ```
//! use stampede_script::feeder::{Feeder, FeederMode};
//!
//! let users = Feeder::from_rows(
//!     "users",
//!     vec!["email".into(), "password".into()],
//!     vec![vec!["a@example.test".into(), "pw-a".into()], vec!["b@example.test".into(), "pw-b".into()]],
//!     FeederMode::Sequential,
//! )
//! .unwrap();
//! let mut rng = fastrand::Rng::with_seed(1);
//! assert_eq!(users.next_row(&mut rng).unwrap()[0], "a@example.test");
//! assert_eq!(users.next_row(&mut rng).unwrap()[0], "b@example.test");
//! assert_eq!(users.next_row(&mut rng).unwrap()[0], "a@example.test"); // wraps around
//! ```

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// How a [`Feeder`] picks the next row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeederMode {
    /// Rows in file order, shared by all virtual users; wraps around after the last row.
    Sequential,
    /// A uniformly random row on each call.
    Random,
    /// Each call gets a row no other call got; `None` once every row has been handed out.
    Unique,
}

/// A feeder file (or set of rows) that cannot be used: which file, which line when known,
/// and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", path.display(), LineSuffix(*line))]
pub struct FeederError {
    /// The CSV file (for [`Feeder::from_rows`], `<feeder NAME>`).
    pub path: PathBuf,
    /// The 1-based line of the problem, when it is about one line.
    pub line: Option<u64>,
    /// What is wrong.
    pub message: String,
}

struct LineSuffix(Option<u64>);

impl fmt::Display for LineSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(line) => write!(f, ":{line}"),
            None => Ok(()),
        }
    }
}

/// Rows of string values with named columns, handed out per [`FeederMode`].
#[derive(Debug)]
pub struct Feeder {
    name: String,
    mode: FeederMode,
    columns: Vec<String>,
    /// Row-major: row `i` is `cells[i * columns.len()..(i + 1) * columns.len()]`.
    cells: Vec<String>,
    rows: usize,
    cursor: AtomicUsize,
}

impl Feeder {
    /// Loads a CSV file whose first row names the columns.
    ///
    /// A missing or unreadable file, an empty file, a file with a header but no rows, an
    /// empty or duplicate column name, and a row whose field count differs from the header's
    /// (the error names its line) are errors. Header names are trimmed; values are kept as
    /// they are.
    pub fn load(name: &str, path: &Path, mode: FeederMode) -> Result<Feeder, FeederError> {
        let err = |line: Option<u64>, message: String| FeederError {
            path: path.to_path_buf(),
            line,
            message,
        };
        let file = std::fs::File::open(path)
            .map_err(|e| err(None, format!("cannot open feeder file: {e}")))?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .trim(csv::Trim::Headers)
            .from_reader(std::io::BufReader::new(file));
        let csv_err = |e: csv::Error| {
            let line = e.position().map(csv::Position::line);
            let message = match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => format!(
                    "row has {len} field{}, expected {expected_len} (the header's column count)",
                    if *len == 1 { "" } else { "s" }
                ),
                csv::ErrorKind::Utf8 { err, .. } => format!("not UTF-8: {err}"),
                _ => e.to_string(),
            };
            err(line, message)
        };
        let headers = reader.headers().map_err(csv_err)?.clone();
        if headers.is_empty() {
            return Err(err(
                None,
                "empty file; expected a header row naming the columns".into(),
            ));
        }
        let columns: Vec<String> = headers.iter().map(str::to_string).collect();
        check_columns(&columns).map_err(|m| err(Some(1), m))?;
        let mut cells = Vec::new();
        let mut rows = 0;
        let mut record = csv::StringRecord::new();
        while reader.read_record(&mut record).map_err(csv_err)? {
            cells.extend(record.iter().map(str::to_string));
            rows += 1;
        }
        if rows == 0 {
            return Err(err(
                None,
                "no data rows; expected at least one row after the header".into(),
            ));
        }
        Ok(Self::new(name, mode, columns, cells, rows))
    }

    /// Builds a feeder from rows in memory (for tests and generated data). The errors are
    /// those of [`Feeder::load`], with lines counted as if the header were line 1.
    pub fn from_rows(
        name: &str,
        columns: Vec<String>,
        rows: Vec<Vec<String>>,
        mode: FeederMode,
    ) -> Result<Feeder, FeederError> {
        let err = |line: Option<u64>, message: String| FeederError {
            path: PathBuf::from(format!("<feeder {name}>")),
            line,
            message,
        };
        if columns.is_empty() {
            return Err(err(None, "no columns".into()));
        }
        check_columns(&columns).map_err(|m| err(Some(1), m))?;
        if rows.is_empty() {
            return Err(err(None, "no data rows; expected at least one row".into()));
        }
        let n = rows.len();
        let mut cells = Vec::with_capacity(n * columns.len());
        for (i, row) in rows.into_iter().enumerate() {
            if row.len() != columns.len() {
                return Err(err(
                    Some(i as u64 + 2),
                    format!(
                        "row has {} fields, expected {} (the column count)",
                        row.len(),
                        columns.len()
                    ),
                ));
            }
            cells.extend(row);
        }
        Ok(Self::new(name, mode, columns, cells, n))
    }

    fn new(
        name: &str,
        mode: FeederMode,
        columns: Vec<String>,
        cells: Vec<String>,
        rows: usize,
    ) -> Self {
        Feeder {
            name: name.to_string(),
            mode,
            columns,
            cells,
            rows,
            cursor: AtomicUsize::new(0),
        }
    }

    /// The feeder's name, as used in templates (`{{ name.column }}`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How rows are handed out.
    pub fn mode(&self) -> FeederMode {
        self.mode
    }

    /// The column names, in file order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The index of column `name` in each row.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The number of data rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether there are no data rows (never true for a feeder that loaded).
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// For a [`FeederMode::Unique`] feeder, a fresh feeder with the rows dealt to part
    /// `index` of `count` (rows `index`, `index + count`, ...; the parts together hold
    /// every row once); `None` for the other modes, whose rows every part may use. A
    /// part may be empty: its first [`Feeder::next_row`] then returns `None`.
    pub fn dealt(&self, index: usize, count: usize) -> Option<Feeder> {
        if self.mode != FeederMode::Unique {
            return None;
        }
        let width = self.columns.len();
        let mut cells = Vec::with_capacity(self.cells.len() / count.max(1) + width);
        let mut rows = 0;
        for r in (index..self.rows).step_by(count.max(1)) {
            cells.extend_from_slice(self.row(r));
            rows += 1;
        }
        Some(Feeder {
            name: self.name.clone(),
            mode: self.mode,
            columns: self.columns.clone(),
            cells,
            rows,
            cursor: AtomicUsize::new(0),
        })
    }

    /// The next row per [`FeederMode`]; `None` only for [`FeederMode::Unique`] once every
    /// row has been handed out. `rng` is used by [`FeederMode::Random`] only.
    pub fn next_row(&self, rng: &mut fastrand::Rng) -> Option<&[String]> {
        if self.rows == 0 {
            return None;
        }
        let index = match self.mode {
            FeederMode::Sequential => self.cursor.fetch_add(1, Ordering::Relaxed) % self.rows,
            FeederMode::Random => rng.usize(..self.rows),
            FeederMode::Unique => {
                // Stop counting at `rows` so that the cursor never wraps around.
                self.cursor
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |i| {
                        (i < self.rows).then_some(i + 1)
                    })
                    .ok()?
            }
        };
        Some(self.row(index))
    }

    fn row(&self, index: usize) -> &[String] {
        let width = self.columns.len();
        &self.cells[index * width..(index + 1) * width]
    }
}

fn check_columns(columns: &[String]) -> Result<(), String> {
    let mut seen = HashSet::new();
    for (i, c) in columns.iter().enumerate() {
        if c.is_empty() {
            return Err(format!("column {} has an empty name", i + 1));
        }
        if !seen.insert(c.as_str()) {
            return Err(format!("duplicate column name '{c}'"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn numbers(n: usize, mode: FeederMode) -> Feeder {
        let rows = (0..n)
            .map(|i| vec![i.to_string(), format!("v{i}")])
            .collect();
        Feeder::from_rows("nums", strings(&["n", "v"]), rows, mode).unwrap()
    }

    fn csv_file(text: &str) -> tempfile::NamedTempFile {
        use std::io::Write;
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn sequential_wraps_around() {
        let f = numbers(3, FeederMode::Sequential);
        let mut rng = fastrand::Rng::with_seed(1);
        let got: Vec<String> = (0..7)
            .map(|_| f.next_row(&mut rng).unwrap()[0].clone())
            .collect();
        assert_eq!(got, strings(&["0", "1", "2", "0", "1", "2", "0"]));
    }

    #[test]
    fn random_covers_rows() {
        let f = numbers(4, FeederMode::Random);
        let mut rng = fastrand::Rng::with_seed(1);
        let mut seen = HashSet::new();
        for _ in 0..200 {
            let row = f.next_row(&mut rng).unwrap();
            assert_eq!(row[1], format!("v{}", row[0]));
            seen.insert(row[0].clone());
        }
        assert_eq!(seen.len(), 4);
    }

    #[test]
    fn unique_is_distinct_across_threads_then_exhausted() {
        let f = Arc::new(numbers(1000, FeederMode::Unique));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let f = Arc::clone(&f);
                std::thread::spawn(move || {
                    let mut rng = fastrand::Rng::with_seed(t);
                    let mut got = Vec::new();
                    while let Some(row) = f.next_row(&mut rng) {
                        got.push(row[0].clone());
                    }
                    got
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.join().unwrap());
        }
        assert_eq!(all.len(), 1000);
        let distinct: HashSet<_> = all.iter().collect();
        assert_eq!(distinct.len(), 1000);
        let mut rng = fastrand::Rng::new();
        assert!(f.next_row(&mut rng).is_none());
        assert!(f.next_row(&mut rng).is_none(), "stays exhausted");
    }

    #[test]
    fn accessors() {
        let f = numbers(2, FeederMode::Unique);
        assert_eq!(f.name(), "nums");
        assert_eq!(f.mode(), FeederMode::Unique);
        assert_eq!(f.columns(), strings(&["n", "v"]).as_slice());
        assert_eq!(f.column_index("v"), Some(1));
        assert_eq!(f.column_index("x"), None);
        assert_eq!(f.len(), 2);
        assert!(!f.is_empty());
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Feeder>();
    }

    #[test]
    fn loads_csv() {
        let file = csv_file("email, password\na@example.test,\"p,w\"\nb@example.test,x\n");
        let f = Feeder::load("users", file.path(), FeederMode::Sequential).unwrap();
        assert_eq!(f.columns(), strings(&["email", "password"]).as_slice());
        assert_eq!(f.len(), 2);
        let mut rng = fastrand::Rng::new();
        assert_eq!(
            f.next_row(&mut rng).unwrap(),
            strings(&["a@example.test", "p,w"]).as_slice()
        );
    }

    #[test]
    fn ragged_row_names_its_line() {
        let file = csv_file("a,b\n1,2\n3,4\n5\n");
        let e = Feeder::load("f", file.path(), FeederMode::Sequential).unwrap_err();
        assert_eq!(e.line, Some(4));
        assert_eq!(e.path, file.path());
        assert_eq!(
            e.message,
            "row has 1 field, expected 2 (the header's column count)"
        );
        assert_eq!(
            e.to_string(),
            format!("{}:4: {}", file.path().display(), e.message)
        );
        let e = Feeder::from_rows(
            "f",
            strings(&["a", "b"]),
            vec![strings(&["1", "2"]), strings(&["1", "2", "3"])],
            FeederMode::Random,
        )
        .unwrap_err();
        assert_eq!(e.line, Some(3));
        assert_eq!(
            e.to_string(),
            "<feeder f>:3: row has 3 fields, expected 2 (the column count)"
        );
    }

    #[test]
    fn load_errors() {
        let missing = Path::new("/nonexistent/stampede/users.csv");
        let e = Feeder::load("f", missing, FeederMode::Sequential).unwrap_err();
        assert_eq!(e.path, missing);
        assert_eq!(e.line, None);
        assert!(e.message.starts_with("cannot open feeder file"), "{e}");

        let e = Feeder::load("f", csv_file("").path(), FeederMode::Sequential).unwrap_err();
        assert!(e.message.starts_with("empty file"), "{e}");

        let e = Feeder::load("f", csv_file("a,b\n").path(), FeederMode::Sequential).unwrap_err();
        assert!(e.message.starts_with("no data rows"), "{e}");

        let e =
            Feeder::load("f", csv_file("a,a\n1,2\n").path(), FeederMode::Sequential).unwrap_err();
        assert_eq!(
            (e.line, e.message.as_str()),
            (Some(1), "duplicate column name 'a'")
        );

        let e =
            Feeder::load("f", csv_file("a,\n1,2\n").path(), FeederMode::Sequential).unwrap_err();
        assert_eq!(
            (e.line, e.message.as_str()),
            (Some(1), "column 2 has an empty name")
        );

        let e = Feeder::load(
            "f",
            csv_file("a\n\u{0}\n\u{ff}\n").path(),
            FeederMode::Sequential,
        );
        assert!(e.is_ok(), "valid UTF-8 is fine");
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, b"a\nok\n\xff\n").unwrap();
        let e = Feeder::load("f", f.path(), FeederMode::Sequential).unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.starts_with("not UTF-8"), "{e}");
    }

    #[test]
    fn from_rows_errors() {
        let e = Feeder::from_rows("f", vec![], vec![], FeederMode::Unique).unwrap_err();
        assert_eq!(e.message, "no columns");
        let e = Feeder::from_rows("f", strings(&["a"]), vec![], FeederMode::Unique).unwrap_err();
        assert!(e.message.starts_with("no data rows"));
    }
}
