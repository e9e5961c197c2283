//! Axes (`--axis NAME=V1,V2`) and the `{NAME}` placeholders they fill.

use std::collections::BTreeSet;

use crate::MatrixError;

/// One variable of the matrix: a name and its values, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Axis {
    /// `[A-Za-z_][A-Za-z0-9_]*`.
    pub name: String,
    /// At least one value, none empty, no duplicates.
    pub values: Vec<String>,
}

impl Axis {
    /// Parses `NAME=V1,V2,...` (the value of one `--axis` flag).
    pub fn parse(spec: &str) -> Result<Axis, MatrixError> {
        let bad = |why: String| MatrixError::Axis {
            spec: spec.to_string(),
            why,
        };
        let Some((name, values)) = spec.split_once('=') else {
            return Err(bad("expected NAME=V1,V2,... (no '=')".into()));
        };
        let name = name.trim();
        if !is_name(name) {
            return Err(bad(format!(
                "'{name}' is not an axis name: letters, digits and '_', not starting with a digit"
            )));
        }
        let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
        if let Some(i) = values.iter().position(String::is_empty) {
            return Err(bad(format!("value {} is empty", i + 1)));
        }
        let mut seen = BTreeSet::new();
        if let Some(dup) = values.iter().find(|v| !seen.insert(v.as_str())) {
            return Err(bad(format!("value '{dup}' is given twice")));
        }
        Ok(Axis {
            name: name.to_string(),
            values,
        })
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

/// Checks a set of axes: at least one, names unique.
pub fn check_axes(axes: &[Axis]) -> Result<(), MatrixError> {
    if axes.is_empty() {
        return Err(MatrixError::NoAxis);
    }
    let mut seen = BTreeSet::new();
    for a in axes {
        if !seen.insert(a.name.as_str()) {
            return Err(MatrixError::DuplicateAxis(a.name.clone()));
        }
    }
    Ok(())
}

/// The `{NAME}` placeholders of `text`, in order (repeats included). A `{` that does not
/// open `{NAME}` with a valid name (a JSON body, `{}`) is text, not a placeholder.
pub fn placeholders(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if is_name(&after[..close]) => {
                out.push(&after[..close]);
                rest = &after[close + 1..];
            }
            _ => rest = after,
        }
    }
    out
}

/// Replaces every `{NAME}` of `text` with the value `value_of(NAME)` gives (a name it
/// does not know stays as written).
pub fn substitute<'a>(text: &str, value_of: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if is_name(&after[..close]) => match value_of(&after[..close]) {
                Some(v) => {
                    out.push_str(v);
                    rest = &after[close + 1..];
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            },
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Checks the templates against the axes: every placeholder names an axis, and every
/// axis appears in at least one template. Each template is `(where, text)`, e.g.
/// `("the URL", "{origin}/")` or `("-H", "Host: {host}")`; `where` names it in errors.
pub fn check_templates(axes: &[Axis], templates: &[(&str, &str)]) -> Result<(), MatrixError> {
    let known: BTreeSet<&str> = axes.iter().map(|a| a.name.as_str()).collect();
    let mut used = BTreeSet::new();
    for (place, text) in templates {
        for name in placeholders(text) {
            if !known.contains(name) {
                return Err(MatrixError::UnknownPlaceholder {
                    name: name.to_string(),
                    place: place.to_string(),
                    text: text.to_string(),
                });
            }
            used.insert(name);
        }
    }
    match axes.iter().find(|a| !used.contains(a.name.as_str())) {
        Some(a) => Err(MatrixError::UnusedAxis(a.name.clone())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_parse_with_their_values_in_order() {
        let a = Axis::parse("origin=http://127.0.0.1:8080, https://127.0.0.1:8443").unwrap();
        assert_eq!(a.name, "origin");
        assert_eq!(
            a.values,
            ["http://127.0.0.1:8080", "https://127.0.0.1:8443"]
        );
        assert_eq!(Axis::parse("_r2=/").unwrap().values, ["/"]);
    }

    #[test]
    fn bad_axes_say_why() {
        let why = |s: &str| Axis::parse(s).unwrap_err().to_string();
        assert!(why("origin").contains("no '='"), "{}", why("origin"));
        assert!(why("2x=a").contains("not an axis name"));
        assert!(why("a-b=a").contains("not an axis name"));
        assert!(why("a=x,,y").contains("value 2 is empty"));
        assert!(why("a=").contains("value 1 is empty"));
        assert!(why("a=x,y,x").contains("'x' is given twice"));
        assert!(why("a=x,").starts_with("--axis 'a=x,'"), "{}", why("a=x,"));
        let dup = [Axis::parse("a=1").unwrap(), Axis::parse("a=2").unwrap()];
        assert!(check_axes(&dup).unwrap_err().to_string().contains("twice"));
        assert!(check_axes(&[]).is_err());
    }

    #[test]
    fn placeholders_are_names_in_braces_only() {
        assert_eq!(
            placeholders("{origin}{resource}?q={origin}"),
            ["origin", "resource", "origin"]
        );
        assert!(placeholders(r#"{"a": 1} {} { x } {1a}"#).is_empty());
        assert_eq!(placeholders("{{a}}"), ["a"]);
    }

    #[test]
    fn substitution_fills_every_placeholder() {
        let v = |n: &str| match n {
            "origin" => Some("http://h:1"),
            "r" => Some("/x"),
            _ => None,
        };
        assert_eq!(substitute("{origin}{r}?a={r}", v), "http://h:1/x?a=/x");
        assert_eq!(substitute(r#"{"k": "{r}"}"#, v), r#"{"k": "/x"}"#);
        assert_eq!(substitute("{nope}/{", v), "{nope}/{");
    }

    #[test]
    fn templates_must_use_every_axis_and_only_axes() {
        let axes = [
            Axis::parse("origin=a,b").unwrap(),
            Axis::parse("r=/,/s").unwrap(),
        ];
        check_templates(&axes, &[("the URL", "{origin}{r}")]).unwrap();
        check_templates(&axes, &[("the URL", "{origin}/"), ("-H", "X-R: {r}")]).unwrap();
        let e = check_templates(&axes, &[("the URL", "{origin}/")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--axis r: no {r} placeholder in the URL, -H or --connect-to uses it"
        );
        let e =
            check_templates(&axes, &[("-H", "X: {host}"), ("the URL", "{origin}{r}")]).unwrap_err();
        assert!(e.to_string().contains("{host} in -H"), "{e}");
    }
}
