//! Reading measurements: CSV rows `N,X`, or the JSON that `stampede scale` writes
//! (`steps[].n`, `steps[].throughput`). Text in, points out; every error carries the line
//! and column it was found at (1-based), and the caller adds the file name.

use serde::Deserialize;

/// Input that is not a list of measurements.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct InputError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong there.
    pub message: String,
}

/// Reads CSV rows `N,X`: one optional header row first, `#` starts a comment, blank lines
/// and whitespace around fields are ignored.
pub fn parse_csv(text: &str) -> Result<Vec<(f64, f64)>, InputError> {
    let mut points = Vec::new();
    let mut header_allowed = true;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.split('#').next().unwrap_or("");
        if content.trim().is_empty() {
            continue;
        }
        let fields = fields(content);
        let fail = |column: usize, message: String| InputError {
            line,
            column,
            message,
        };
        if fields.len() != 2 {
            let column = fields.get(2).map_or(raw.chars().count() + 1, |f| f.0);
            return Err(fail(
                column,
                format!("expected 2 fields `N,X`, found {}", fields.len()),
            ));
        }
        let (n_col, n_text) = fields[0];
        let (x_col, x_text) = fields[1];
        if header_allowed && n_text.parse::<f64>().is_err() {
            header_allowed = false;
            continue;
        }
        header_allowed = false;
        let n = number(n_text, "N").map_err(|m| fail(n_col, m))?;
        let x = number(x_text, "X").map_err(|m| fail(x_col, m))?;
        if n <= 0.0 {
            return Err(fail(
                n_col,
                format!("N = {n_text}: N (concurrency or node count) must be greater than 0"),
            ));
        }
        if x < 0.0 {
            return Err(fail(
                x_col,
                format!("X = {x_text}: throughput cannot be negative"),
            ));
        }
        points.push((n, x));
    }
    Ok(points)
}

/// The comma-separated fields of a line, trimmed, each with its 1-based column.
fn fields(content: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    for piece in content.split(',') {
        let lead = piece.len() - piece.trim_start().len();
        let column = content[..start + lead].chars().count() + 1;
        out.push((column, piece.trim()));
        start += piece.len() + 1;
    }
    out
}

/// A finite number, or why not.
fn number(text: &str, what: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!("{what} = {text}: not a finite number")),
        Err(_) if text.is_empty() => Err(format!("{what} is empty")),
        Err(_) => Err(format!("{what} = {text:?}: not a number")),
    }
}

/// The part of a `stampede scale` document this reads; other fields are ignored.
#[derive(Deserialize)]
struct ScaleInput {
    steps: Vec<Step>,
}

/// One step: checked while it is read, so that an error points at it.
#[derive(Deserialize)]
#[serde(try_from = "RawStep")]
struct Step {
    n: f64,
    throughput: f64,
    /// Why `stampede scale` left the step out of its fit (the generator could not drive
    /// it, it was stopped, nothing succeeded): such a step is not a point of the curve.
    excluded: Option<String>,
}

#[derive(Deserialize)]
struct RawStep {
    n: f64,
    throughput: f64,
    #[serde(default)]
    excluded: Option<String>,
}

impl TryFrom<RawStep> for Step {
    type Error = String;

    fn try_from(s: RawStep) -> Result<Step, String> {
        if s.n <= 0.0 {
            return Err(format!("step with n = {}: n must be greater than 0", s.n));
        }
        if s.throughput < 0.0 {
            return Err(format!(
                "step with throughput = {}: throughput cannot be negative",
                s.throughput
            ));
        }
        Ok(Step {
            n: s.n,
            throughput: s.throughput,
            excluded: s.excluded,
        })
    }
}

/// Reads `steps[].n` and `steps[].throughput` from a `stampede scale` document, without
/// the steps the sweep left out of its fit (`steps[].excluded` set), as `stampede scale`'s
/// own fit does.
pub fn parse_scale_json(text: &str) -> Result<Vec<(f64, f64)>, InputError> {
    let input: ScaleInput = serde_json::from_str(text).map_err(|e| {
        let message = e.to_string();
        let message = match message.rsplit_once(" at line ") {
            Some((head, _)) => head.to_string(),
            None => message,
        };
        InputError {
            line: e.line(),
            column: e.column(),
            message,
        }
    })?;
    Ok(input
        .steps
        .into_iter()
        .filter(|s| s.excluded.is_none())
        .map(|s| (s.n, s.throughput))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_header_comments_and_whitespace() {
        let text =
            "# specsdm91\nload, throughput\n\n 1 , 64.9\n18,995.9  # peak later\n\t36,1652.4\r\n";
        assert_eq!(
            parse_csv(text).unwrap(),
            vec![(1.0, 64.9), (18.0, 995.9), (36.0, 1652.4)]
        );
        assert_eq!(parse_csv("1,2\n3,4").unwrap(), vec![(1.0, 2.0), (3.0, 4.0)]);
        assert_eq!(parse_csv("").unwrap(), vec![]);
    }

    #[test]
    fn csv_errors_name_line_and_column() {
        let e = |text: &str| parse_csv(text).unwrap_err().to_string();
        assert_eq!(e("N,X\n1,2\n4, abc\n"), "3:4: X = \"abc\": not a number");
        assert_eq!(e("1,2\nN,X\n"), "2:1: N = \"N\": not a number");
        assert_eq!(e("1,2,3\n"), "1:5: expected 2 fields `N,X`, found 3");
        assert_eq!(e("1,2\n7\n"), "2:2: expected 2 fields `N,X`, found 1");
        assert_eq!(
            e("0,5\n"),
            "1:1: N = 0: N (concurrency or node count) must be greater than 0"
        );
        assert_eq!(e("2,-5\n"), "1:3: X = -5: throughput cannot be negative");
        assert_eq!(e("2,NaN\n"), "1:3: X = NaN: not a finite number");
        assert_eq!(e("2,\n"), "1:3: X is empty");
    }

    #[test]
    fn scale_json_steps() {
        let text = r#"{"version": 1, "steps": [{"n": 1, "throughput": 10.5, "p99_ms": 3},
            {"n": 2, "throughput": 20}], "fit": null}"#;
        assert_eq!(
            parse_scale_json(text).unwrap(),
            vec![(1.0, 10.5), (2.0, 20.0)]
        );
        let e = |text: &str| parse_scale_json(text).unwrap_err().to_string();
        assert_eq!(
            e("{\"steps\": [{\"n\": 1}]}"),
            "1:19: missing field `throughput`"
        );
        assert_eq!(
            e("{\"steps\": [\n {\"n\": 1, \"throughput\": 2},\n {\"n\": 0, \"throughput\": 2}]}"),
            "3:27: step with n = 0: n must be greater than 0"
        );
        assert_eq!(e("{\"stepz\": []}"), "1:13: missing field `steps`");
        // A step `stampede scale` could not drive is not a point of the curve.
        let text = r#"{"steps": [{"n": 1, "throughput": 10, "excluded": null},
            {"n": 2, "throughput": 3, "excluded": "the generator could not drive this step"}]}"#;
        assert_eq!(parse_scale_json(text).unwrap(), vec![(1.0, 10.0)]);
        assert!(e("{\"steps\": [1,").starts_with("1:"));
    }
}
