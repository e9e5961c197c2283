//! Checks (assertions) on a step's response. A failed check is counted, not fatal.
//!
//! ```
//! use std::time::Duration;
//! use stampede_script::check::{Check, StatusMatch};
//! use stampede_script::extract::ResponseView;
//!
//! let resp = ResponseView::new(503, &[], br#"{"ok":false}"#);
//! let status = Check::Status(StatusMatch::parse("2xx").unwrap());
//! assert_eq!(status.describe(), "status is 2xx");
//! assert_eq!(status.evaluate(&resp, Duration::ZERO).unwrap_err(), "status 503, expected 2xx");
//! let ok = Check::json_equals("$.ok", serde_json::json!(true)).unwrap();
//! assert_eq!(ok.evaluate(&resp, Duration::ZERO).unwrap_err(), "$.ok is false, expected true");
//! ```

use std::fmt;
use std::time::Duration;

use serde_json::Value;
use serde_json_path::JsonPath;

use crate::extract::ResponseView;

/// Which status codes a [`Check::Status`] accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusMatch {
    /// Exactly this code.
    Code(u16),
    /// A class: `2` for `2xx` (100 * class ..= 100 * class + 99).
    Class(u8),
    /// Any of these.
    AnyOf(Vec<StatusMatch>),
}

impl StatusMatch {
    /// Exactly `c`.
    pub fn code(c: u16) -> Self {
        StatusMatch::Code(c)
    }

    /// Parses `201` (a code from 100 to 599) or `2xx` (a class from `1xx` to `5xx`, `x` in
    /// any case).
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let bad = || {
            format!("bad status '{text}'; expected a code from 100 to 599 (e.g. 201) or a class (e.g. 2xx)")
        };
        match t.as_bytes() {
            [c @ b'1'..=b'5', x1, x2]
                if x1.eq_ignore_ascii_case(&b'x') && x2.eq_ignore_ascii_case(&b'x') =>
            {
                Ok(StatusMatch::Class(c - b'0'))
            }
            [b'1'..=b'5', b'0'..=b'9', b'0'..=b'9'] => {
                Ok(StatusMatch::Code(t.parse().map_err(|_| bad())?))
            }
            _ => Err(bad()),
        }
    }

    /// Any of `v` (a single element is returned as it is).
    pub fn any_of(mut v: Vec<StatusMatch>) -> Self {
        if v.len() == 1 {
            v.pop().expect("one element")
        } else {
            StatusMatch::AnyOf(v)
        }
    }

    /// Whether `status` is accepted.
    pub fn matches(&self, status: u16) -> bool {
        match self {
            StatusMatch::Code(c) => *c == status,
            StatusMatch::Class(c) => status / 100 == u16::from(*c),
            StatusMatch::AnyOf(v) => v.iter().any(|m| m.matches(status)),
        }
    }
}

impl fmt::Display for StatusMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusMatch::Code(c) => write!(f, "{c}"),
            StatusMatch::Class(c) => write!(f, "{c}xx"),
            StatusMatch::AnyOf(v) => {
                for (i, m) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" or ")?;
                    }
                    write!(f, "{m}")?;
                }
                Ok(())
            }
        }
    }
}

impl From<u16> for StatusMatch {
    fn from(c: u16) -> Self {
        StatusMatch::Code(c)
    }
}

/// One assertion on a response.
#[derive(Debug, Clone)]
pub enum Check {
    /// The status is accepted by the match.
    Status(StatusMatch),
    /// The body contains this text.
    BodyContains(String),
    /// The first node the JSONPath selects equals `expected` (numbers compare by value, so
    /// `1` equals `1.0`).
    JsonEquals {
        /// The query as written.
        path: String,
        /// The compiled query.
        query: JsonPath,
        /// The value expected.
        expected: Value,
    },
    /// The JSONPath selects at least one node (`{ exists = true }` in a scenario file).
    JsonExists {
        /// The query as written.
        path: String,
        /// The compiled query.
        query: JsonPath,
    },
    /// The response took less than this.
    LatencyUnder(Duration),
    /// The header is present and its value contains this text.
    HeaderContains {
        /// The header name (any case).
        name: String,
        /// The text the value must contain.
        value: String,
    },
}

/// Longest JSON value quoted in full in a failure message.
const MAX_QUOTED: usize = 80;

impl Check {
    /// A [`Check::JsonEquals`]; `Err` holds the JSONPath parser's message.
    pub fn json_equals(path: &str, expected: Value) -> Result<Check, String> {
        let query = JsonPath::parse(path).map_err(|e| e.to_string())?;
        Ok(Check::JsonEquals {
            path: path.to_string(),
            query,
            expected,
        })
    }

    /// A [`Check::JsonExists`]; `Err` holds the JSONPath parser's message.
    pub fn json_exists(path: &str) -> Result<Check, String> {
        let query = JsonPath::parse(path).map_err(|e| e.to_string())?;
        Ok(Check::JsonExists {
            path: path.to_string(),
            query,
        })
    }

    /// `Ok`, or `Err` with a short reason such as `status 503, expected 2xx` or
    /// `$.ok is false, expected true`.
    pub fn evaluate(&self, resp: &ResponseView<'_>, latency: Duration) -> Result<(), String> {
        match self {
            Check::Status(m) => {
                if m.matches(resp.status()) {
                    Ok(())
                } else {
                    Err(format!("status {}, expected {m}", resp.status()))
                }
            }
            Check::BodyContains(text) => {
                if memchr::memmem::find(resp.body(), text.as_bytes()).is_some() {
                    Ok(())
                } else {
                    Err(format!("body does not contain {}", quote(text)))
                }
            }
            Check::JsonEquals {
                path,
                query,
                expected,
            } => {
                let Some(json) = resp.json() else {
                    return Err(format!(
                        "body is not JSON, expected {path} = {}",
                        short_json(expected)
                    ));
                };
                match query.query(json).first() {
                    None => Err(format!(
                        "{path} not found, expected {}",
                        short_json(expected)
                    )),
                    Some(v) if json_eq(v, expected) => Ok(()),
                    Some(v) => Err(format!(
                        "{path} is {}, expected {}",
                        short_json(v),
                        short_json(expected)
                    )),
                }
            }
            Check::JsonExists { path, query } => {
                let Some(json) = resp.json() else {
                    return Err(format!("body is not JSON, expected {path} to exist"));
                };
                if query.query(json).first().is_some() {
                    Ok(())
                } else {
                    Err(format!("{path} not found"))
                }
            }
            Check::LatencyUnder(bound) => {
                if latency < *bound {
                    Ok(())
                } else {
                    Err(format!(
                        "latency {}, expected < {}",
                        fmt_ms(latency),
                        fmt_ms(*bound)
                    ))
                }
            }
            Check::HeaderContains { name, value } => match resp.header(name) {
                None => Err(format!(
                    "header {} missing, expected it to contain {}",
                    name.to_ascii_lowercase(),
                    quote(value)
                )),
                Some(v) if memchr::memmem::find(v, value.as_bytes()).is_some() => Ok(()),
                Some(v) => Err(format!(
                    "header {} is {}, expected it to contain {}",
                    name.to_ascii_lowercase(),
                    quote(&String::from_utf8_lossy(v)),
                    quote(value)
                )),
            },
        }
    }

    /// What the check asserts, such as `status is 2xx` or `latency < 200ms`.
    pub fn describe(&self) -> String {
        match self {
            Check::Status(m) => format!("status is {m}"),
            Check::BodyContains(text) => format!("body contains {}", quote(text)),
            Check::JsonEquals { path, expected, .. } => {
                format!("{path} equals {}", short_json(expected))
            }
            Check::JsonExists { path, .. } => format!("{path} exists"),
            Check::LatencyUnder(d) => format!("latency < {}", fmt_ms(*d)),
            Check::HeaderContains { name, value } => {
                format!(
                    "header {} contains {}",
                    name.to_ascii_lowercase(),
                    quote(value)
                )
            }
        }
    }
}

/// Equality with numbers compared by value (`1 == 1.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || matches!((x.as_f64(), y.as_f64()), (Some(x), Some(y)) if x == y)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, a)| y.get(k).is_some_and(|b| json_eq(a, b)))
        }
        _ => a == b,
    }
}

/// Compact JSON, cut at [`MAX_QUOTED`] characters.
fn short_json(v: &Value) -> String {
    truncate(v.to_string())
}

/// A JSON-style quoted string, cut at [`MAX_QUOTED`] characters.
fn quote(s: &str) -> String {
    truncate(Value::from(s).to_string())
}

fn truncate(mut s: String) -> String {
    if let Some((i, _)) = s.char_indices().nth(MAX_QUOTED) {
        s.truncate(i);
        s.push('…');
    }
    s
}

/// Milliseconds: `200ms`, `0.25ms`, `1500ms`.
fn fmt_ms(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos.is_multiple_of(1_000_000) {
        format!("{}ms", nanos / 1_000_000)
    } else {
        let ms = format!("{:.3}", nanos as f64 / 1e6);
        format!("{}ms", ms.trim_end_matches('0').trim_end_matches('.'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn status_match() {
        assert!(StatusMatch::code(201).matches(201));
        assert!(!StatusMatch::code(201).matches(200));
        let ok = StatusMatch::parse("2xx").unwrap();
        assert_eq!(ok, StatusMatch::Class(2));
        assert!(ok.matches(200) && ok.matches(299) && !ok.matches(300) && !ok.matches(199));
        assert_eq!(StatusMatch::parse("4XX").unwrap(), StatusMatch::Class(4));
        assert_eq!(StatusMatch::parse(" 201 ").unwrap(), StatusMatch::Code(201));
        assert_eq!(StatusMatch::from(204), StatusMatch::Code(204));
        for bad in [
            "", "2x", "6xx", "0xx", "99", "600", "2000", "abc", "x2x", "20x",
        ] {
            let e = StatusMatch::parse(bad).unwrap_err();
            assert!(e.contains("expected a code from 100 to 599"), "{bad}: {e}");
        }
        let any = StatusMatch::any_of(vec![StatusMatch::code(200), StatusMatch::Class(3)]);
        assert!(any.matches(200) && any.matches(302) && !any.matches(201));
        assert_eq!(any.to_string(), "200 or 3xx");
        assert_eq!(
            StatusMatch::any_of(vec![StatusMatch::code(200)]),
            StatusMatch::Code(200)
        );
    }

    #[test]
    fn status_check() {
        let c = Check::Status(StatusMatch::Class(2));
        assert_eq!(c.describe(), "status is 2xx");
        assert_eq!(c.evaluate(&ResponseView::new(204, &[], b""), ms(1)), Ok(()));
        assert_eq!(
            c.evaluate(&ResponseView::new(503, &[], b""), ms(1)),
            Err("status 503, expected 2xx".into())
        );
    }

    #[test]
    fn body_contains() {
        let c = Check::BodyContains("\"ok\"".into());
        assert_eq!(c.describe(), r#"body contains "\"ok\"""#);
        assert_eq!(
            c.evaluate(&ResponseView::new(200, &[], br#"{"ok":1}"#), ms(1)),
            Ok(())
        );
        assert_eq!(
            c.evaluate(&ResponseView::new(200, &[], b"nope"), ms(1)),
            Err(r#"body does not contain "\"ok\"""#.into())
        );
        let long = Check::BodyContains("x".repeat(200));
        let e = long
            .evaluate(&ResponseView::new(200, &[], b""), ms(1))
            .unwrap_err();
        assert!(e.chars().count() < 120 && e.ends_with('…'), "{e}");
    }

    #[test]
    fn json_equals() {
        let body = br#"{"ok":false,"n":1,"user":{"id":7,"tags":["a"]},"s":"x"}"#;
        let resp = ResponseView::new(200, &[], body);
        let eval = |path: &str, v: serde_json::Value| {
            Check::json_equals(path, v).unwrap().evaluate(&resp, ms(1))
        };
        assert_eq!(eval("$.ok", json!(false)), Ok(()));
        assert_eq!(eval("$.n", json!(1.0)), Ok(()), "numbers compare by value");
        assert_eq!(eval("$.user", json!({"tags": ["a"], "id": 7.0})), Ok(()));
        assert_eq!(eval("$.s", json!("x")), Ok(()));
        assert_eq!(
            eval("$.ok", json!(true)),
            Err("$.ok is false, expected true".into())
        );
        assert_eq!(
            eval("$.s", json!("y")),
            Err(r#"$.s is "x", expected "y""#.into())
        );
        assert_eq!(
            eval("$.n", json!("1")),
            Err(r#"$.n is 1, expected "1""#.into())
        );
        assert_eq!(
            eval("$.user", json!({"id": 7})).unwrap_err(),
            r#"$.user is {"id":7,"tags":["a"]}, expected {"id":7}"#
        );
        assert_eq!(
            eval("$.nope", json!(1)),
            Err("$.nope not found, expected 1".into())
        );
        let c = Check::json_equals("$.ok", json!(true)).unwrap();
        assert_eq!(c.describe(), "$.ok equals true");
        assert_eq!(
            c.evaluate(&ResponseView::new(200, &[], b"<html>"), ms(1)),
            Err("body is not JSON, expected $.ok = true".into())
        );
        assert!(Check::json_equals("$[", json!(1)).is_err());
    }

    #[test]
    fn latency_under() {
        let c = Check::LatencyUnder(ms(200));
        assert_eq!(c.describe(), "latency < 200ms");
        let resp = ResponseView::new(200, &[], b"");
        assert_eq!(c.evaluate(&resp, Duration::from_micros(199_999)), Ok(()));
        assert_eq!(
            c.evaluate(&resp, ms(200)),
            Err("latency 200ms, expected < 200ms".into())
        );
        assert_eq!(
            c.evaluate(&resp, Duration::from_micros(312_450)),
            Err("latency 312.45ms, expected < 200ms".into())
        );
        assert_eq!(
            Check::LatencyUnder(Duration::from_secs(2)).describe(),
            "latency < 2000ms"
        );
        assert_eq!(
            Check::LatencyUnder(Duration::from_micros(250)).describe(),
            "latency < 0.25ms"
        );
    }

    #[test]
    fn header_contains() {
        let h = vec![(
            "content-type".to_string(),
            b"application/json; charset=utf-8".to_vec(),
        )];
        let resp = ResponseView::new(200, &h, b"");
        let c = |name: &str, value: &str| Check::HeaderContains {
            name: name.into(),
            value: value.into(),
        };
        assert_eq!(c("Content-Type", "json").evaluate(&resp, ms(1)), Ok(()));
        assert_eq!(
            c("Content-Type", "json").describe(),
            r#"header content-type contains "json""#
        );
        assert_eq!(
            c("content-type", "xml").evaluate(&resp, ms(1)),
            Err(r#"header content-type is "application/json; charset=utf-8", expected it to contain "xml""#.into())
        );
        assert_eq!(
            c("x-cache", "HIT").evaluate(&resp, ms(1)),
            Err("header x-cache missing, expected it to contain \"HIT\"".into())
        );
    }
}
