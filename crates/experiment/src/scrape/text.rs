//! A strict parser of the Prometheus text exposition format (version 0.0.4): the
//! samples and the `# TYPE` of each metric family. Written here rather than taken from
//! a crate: the format is small, and a strict parser can say the line and column of
//! what it could not read (a garbage endpoint must be reported, not half-read).

use std::collections::{BTreeMap, HashMap};

/// A series' labels, by name.
pub(crate) type Labels = BTreeMap<String, String>;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: Labels,
    pub(crate) value: f64,
}

/// A whole exposition.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Exposition {
    pub(crate) samples: Vec<Sample>,
    /// `# TYPE` of each family (`counter`, `gauge`, `untyped`, ...).
    pub(crate) types: HashMap<String, String>,
}

impl Exposition {
    /// Samples named `name`.
    pub(crate) fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }
}

/// What could not be read, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}, column {column}: {what}")]
pub(crate) struct ParseError {
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) what: String,
}

/// Parses an exposition.
pub(crate) fn parse(text: &str) -> Result<Exposition, ParseError> {
    let mut e = Exposition::default();
    for (i, line) in text.lines().enumerate() {
        let err = |column: usize, what: &str| ParseError {
            line: i + 1,
            column: column + 1,
            what: what.to_string(),
        };
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            let mut words = comment.split_whitespace();
            if words.next() == Some("TYPE") {
                match (words.next(), words.next()) {
                    (Some(name), Some(kind)) => {
                        e.types.insert(name.to_string(), kind.to_string());
                    }
                    _ => return Err(err(0, "# TYPE needs a metric name and a type")),
                }
            }
            continue;
        }
        let mut c = Cursor { s: line, at: 0 };
        let (name, labels) = c.series().map_err(|(col, what)| err(col, &what))?;
        c.spaces();
        let start = c.at;
        let word = c.word();
        let value = parse_value(word).ok_or_else(|| err(start, "expected a number"))?;
        c.spaces();
        let ts_at = c.at;
        let ts = c.word();
        if !ts.is_empty() && ts.parse::<i64>().is_err() {
            return Err(err(
                ts_at,
                "expected a timestamp in milliseconds or the line's end",
            ));
        }
        c.spaces();
        if c.at < line.len() {
            return Err(err(c.at, "unexpected text after the sample"));
        }
        e.samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    Ok(e)
}

fn parse_value(word: &str) -> Option<f64> {
    match word {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        w if w.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) && !w.is_empty() => {
            w.parse().ok()
        }
        _ => None,
    }
}

/// Reads `name{labels}` from the start of a line (also used for `--server-metric`).
pub(crate) struct Cursor<'a> {
    pub(crate) s: &'a str,
    pub(crate) at: usize,
}

type Fail = (usize, String);

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.s[self.at..].chars().next()
    }

    fn spaces(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.at += 1;
        }
    }

    fn word(&mut self) -> &str {
        let start = self.at;
        while self.peek().is_some_and(|c| !c.is_whitespace()) {
            self.at += self.peek().map_or(1, char::len_utf8);
        }
        &self.s[start..self.at]
    }

    fn ident(&mut self, colons: bool) -> Result<String, Fail> {
        let start = self.at;
        while let Some(c) = self.peek() {
            let ok = c.is_ascii_alphabetic()
                || c == '_'
                || (colons && c == ':')
                || (self.at > start && c.is_ascii_digit());
            if !ok {
                break;
            }
            self.at += 1;
        }
        if self.at == start {
            return Err((start, "expected a name".to_string()));
        }
        Ok(self.s[start..self.at].to_string())
    }

    fn expect(&mut self, want: char) -> Result<(), Fail> {
        if self.peek() == Some(want) {
            self.at += 1;
            Ok(())
        } else {
            Err((self.at, format!("expected '{want}'")))
        }
    }

    fn quoted(&mut self) -> Result<String, Fail> {
        self.expect('"')?;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err((self.at, "unterminated label value".to_string()));
            };
            self.at += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let e = self.peek();
                    self.at += e.map_or(0, char::len_utf8);
                    match e {
                        Some('n') => out.push('\n'),
                        Some('\\') => out.push('\\'),
                        Some('"') => out.push('"'),
                        _ => return Err((self.at - 1, "unknown escape".to_string())),
                    }
                }
                c => out.push(c),
            }
        }
    }

    /// `name` or `name{a="x",b="y"}`.
    pub(crate) fn series(&mut self) -> Result<(String, Labels), Fail> {
        let name = self.ident(true)?;
        let mut labels = Labels::new();
        if self.peek() == Some('{') {
            self.at += 1;
            loop {
                self.spaces();
                if self.peek() == Some('}') {
                    self.at += 1;
                    break;
                }
                let label = self.ident(false)?;
                self.spaces();
                self.expect('=')?;
                self.spaces();
                let value = self.quoted()?;
                labels.insert(label, value);
                self.spaces();
                match self.peek() {
                    Some(',') => self.at += 1,
                    Some('}') => {}
                    _ => return Err((self.at, "expected ',' or '}'".to_string())),
                }
            }
        }
        Ok((name, labels))
    }

    /// True at the end of the text.
    pub(crate) fn done(&self) -> bool {
        self.at >= self.s.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_node_exporter_lines() {
        let e = parse(
            "# HELP node_cpu_seconds_total Seconds.\n# TYPE node_cpu_seconds_total counter\n\
             node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 2300.24\n\
             node_memory_MemAvailable_bytes 2.3796563968e+10\n\
             weird{path=\"a\\\"b\\\\c\\n\",} +Inf 1700000000000\n",
        )
        .unwrap();
        assert_eq!(e.types["node_cpu_seconds_total"], "counter");
        assert_eq!(e.samples.len(), 3);
        assert_eq!(e.samples[0].labels["mode"], "idle");
        assert_eq!(e.samples[1].value, 2.3796563968e10);
        assert_eq!(e.samples[2].labels["path"], "a\"b\\c\n");
        assert!(e.samples[2].value.is_infinite());
    }

    #[test]
    fn garbage_is_refused_with_its_place() {
        let err = parse("ok 1\n<html><body>hello</body></html>\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 1));
        let err = parse("m{a=\"x\" b=\"y\"} 1\n").unwrap_err();
        assert_eq!((err.line, err.column), (1, 9));
        assert!(parse("m 12abc\n").is_err());
        assert!(parse("m 1 2 3\n").is_err());
        assert!(parse("m{a=\"x} 1\n").is_err());
    }
}
