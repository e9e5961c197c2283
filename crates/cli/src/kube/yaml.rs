//! A small YAML writer for JSON values: block mappings and sequences, plain scalars
//! where YAML reads them back as the same string, double-quoted JSON strings (valid
//! YAML) elsewhere, and literal blocks (`|`) for multi-line text such as a scenario
//! file. What it writes parses back to the same value (checked in tests with PyYAML and
//! `kubernetes-validate`).

use serde_json::Value;

/// `value` as one YAML document (no `---`), ending with a newline.
pub(crate) fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(_) | Value::Array(_) => block(value, 0, &mut out),
        scalar => {
            out.push_str(&inline(scalar, 0));
            out.push('\n');
        }
    }
    out
}

/// Writes a mapping or sequence at `indent`, each entry on its own line.
fn block(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                out.push_str(&pad);
                out.push_str(&key(k));
                out.push(':');
                nested(v, indent, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                match item {
                    // The first key on the dash's line, the rest under it.
                    Value::Object(map) if !map.is_empty() => {
                        let mut inner = String::new();
                        block(item, indent + 2, &mut inner);
                        out.push(' ');
                        out.push_str(&inner[indent + 2..]);
                    }
                    _ => nested(item, indent, out),
                }
            }
        }
        _ => unreachable!("block() takes mappings and sequences"),
    }
}

/// The value after `key:` or `-`: inline for scalars and empty collections, else on
/// the following lines, indented.
fn nested(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            block(v, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            block(v, indent + 2, out);
        }
        _ => {
            out.push(' ');
            out.push_str(&inline(v, indent + 2));
            out.push('\n');
        }
    }
}

/// A scalar or an empty collection on one line (a literal block spans the next lines,
/// indented by `indent`).
fn inline(v: &Value, indent: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s, indent),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

/// Words YAML 1.1 readers take for booleans or null.
const RESERVED: &[&str] = &[
    "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
];

/// True when `s` reads back as this very string without quotes.
fn plain(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_ascii_alphabetic()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c) || c == ':')
        && !s.ends_with(':')
        && !s.contains(": ")
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str())
}

fn key(k: &str) -> String {
    match plain(k) && !k.contains(':') {
        true => k.to_string(),
        false => quoted(k),
    }
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

fn string(s: &str, indent: usize) -> String {
    if plain(s) {
        return s.to_string();
    }
    let literal = s.contains('\n')
        && !s.starts_with([' ', '\t', '\n'])
        && s.chars().all(|c| c == '\n' || c == '\t' || !c.is_control())
        && !s.contains('\u{feff}')
        && s.lines().all(|l| !l.ends_with([' ', '\t']));
    if !literal {
        return quoted(s);
    }
    let body = s.trim_end_matches('\n');
    let chomp = match s.len() - body.len() {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let pad = " ".repeat(indent);
    let mut out = format!("|{chomp}");
    for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes() {
        let v = json!({
            "apiVersion": "v1",
            "n": 3,
            "flag": true,
            "list": ["run", "--shard", "auto/4", "0.0.0.0:7070", "yes", ""],
            "empty": {},
            "none": [],
            "items": [{"key": "a", "path": "b"}, {"x": {"y": 1}}],
            "text": "a = 1\n\nb = \"two\"\n",
        });
        let y = to_yaml(&v);
        // serde_json's maps keep their keys sorted; `n` and `y` are YAML 1.1 booleans.
        let want = "\
apiVersion: v1
empty: {}
flag: true
items:
  - key: a
    path: b
  - x:
      \"y\": 1
list:
  - run
  - \"--shard\"
  - auto/4
  - \"0.0.0.0:7070\"
  - \"yes\"
  - \"\"
\"n\": 3
none: []
text: |
  a = 1

  b = \"two\"
";
        assert_eq!(y, want);
    }

    #[test]
    fn strings_that_need_care() {
        assert_eq!(
            string("no trailing\nnewline", 2),
            "|-\n  no trailing\n  newline"
        );
        assert_eq!(string("two\n\n", 0), "|+\ntwo\n");
        // Leading blanks, trailing blanks and control characters fall back to quotes.
        assert_eq!(string(" x\ny", 2), "\" x\\ny\"");
        assert_eq!(string("x \ny", 2), "\"x \\ny\"");
        assert_eq!(string("a\u{7}\nb", 2), "\"a\\u0007\\nb\"");
        assert_eq!(string("a: b", 0), "\"a: b\"");
        assert_eq!(string("True", 0), "\"True\"");
        assert_eq!(key("app.kubernetes.io/name"), "app.kubernetes.io/name");
        assert_eq!(key("users.csv"), "users.csv");
        assert_eq!(key("1.csv"), "\"1.csv\"");
    }
}
