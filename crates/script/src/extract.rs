//! Extracting values from responses: JSONPath (RFC 9535), regex, header and status.
//!
//! ```
//! use stampede_script::extract::{Extractor, ResponseView};
//!
//! let headers = vec![("x-request-id".to_string(), b"abc".to_vec())];
//! let resp = ResponseView::new(201, &headers, br#"{"token":"t-1","user":{"id":7}}"#);
//! assert_eq!(Extractor::json_path("$.token").unwrap().apply(&resp).as_deref(), Some("t-1"));
//! assert_eq!(Extractor::json_path("$.user").unwrap().apply(&resp).as_deref(), Some(r#"{"id":7}"#));
//! assert_eq!(Extractor::regex(r#""id":(\d+)"#, None).unwrap().apply(&resp).as_deref(), Some("7"));
//! assert_eq!(Extractor::header("X-Request-Id").unwrap().apply(&resp).as_deref(), Some("abc"));
//! assert_eq!(Extractor::status().apply(&resp).as_deref(), Some("201"));
//! ```

use std::cell::OnceCell;
use std::fmt;

use serde_json_path::JsonPath;

/// A received response as extractors and checks see it. The body is parsed as JSON on
/// first use, at most once, however many extractors and checks ask.
pub struct ResponseView<'a> {
    status: u16,
    headers: &'a [(String, Vec<u8>)],
    body: &'a [u8],
    json: OnceCell<Option<serde_json::Value>>,
}

impl fmt::Debug for ResponseView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseView")
            .field("status", &self.status)
            .field("headers", &self.headers.len())
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl<'a> ResponseView<'a> {
    /// A view of a response; header names are expected in lower case.
    pub fn new(status: u16, headers: &'a [(String, Vec<u8>)], body: &'a [u8]) -> Self {
        ResponseView {
            status,
            headers,
            body,
            json: OnceCell::new(),
        }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The value of the first header with this name (compared ASCII case-insensitively).
    pub fn header(&self, lower_name: &str) -> Option<&'a [u8]> {
        let headers: &'a [(String, Vec<u8>)] = self.headers;
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(lower_name))
            .map(|(_, v)| v.as_slice())
    }

    /// The body bytes.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The body parsed as JSON; `None` when it is not JSON.
    pub fn json(&self) -> Option<&serde_json::Value> {
        self.json
            .get_or_init(|| serde_json::from_slice(self.body).ok())
            .as_ref()
    }
}

/// Takes one value out of a response.
#[derive(Debug, Clone)]
pub enum Extractor {
    /// The first node a JSONPath query selects in the JSON body.
    JsonPath {
        /// The query as written.
        expr: String,
        /// The compiled query.
        query: JsonPath,
    },
    /// A capture group of the first regex match in the body.
    Regex {
        /// The compiled pattern (matched against the body's bytes).
        regex: regex::bytes::Regex,
        /// The capture group to take (0 = the whole match).
        group: usize,
    },
    /// The value of a header.
    Header {
        /// The header name, in lower case.
        name: String,
    },
    /// The status code as decimal text.
    Status,
}

impl Extractor {
    /// A JSONPath (RFC 9535) extractor; `Err` holds the parser's message.
    pub fn json_path(expr: &str) -> Result<Extractor, String> {
        let query = JsonPath::parse(expr).map_err(|e| e.to_string())?;
        Ok(Extractor::JsonPath {
            expr: expr.to_string(),
            query,
        })
    }

    /// A regex extractor taking capture `group`; by default group 1 when the pattern has a
    /// capture group, else the whole match. A group the pattern does not have is an error.
    pub fn regex(pattern: &str, group: Option<usize>) -> Result<Extractor, String> {
        let regex = regex::bytes::Regex::new(pattern).map_err(|e| e.to_string())?;
        let groups = regex.captures_len() - 1;
        let group = group.unwrap_or(usize::from(groups > 0));
        if group > groups {
            return Err(format!(
                "capture group {group} does not exist: the pattern has {groups} capture group{}",
                if groups == 1 { "" } else { "s" }
            ));
        }
        Ok(Extractor::Regex { regex, group })
    }

    /// A header extractor; `name` must be a valid header name (any case).
    pub fn header(name: &str) -> Result<Extractor, String> {
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(format!(
                "bad header name '{name}'; expected a non-empty HTTP token such as x-request-id"
            ));
        }
        Ok(Extractor::Header {
            name: name.to_ascii_lowercase(),
        })
    }

    /// The status code extractor.
    pub fn status() -> Extractor {
        Extractor::Status
    }

    /// The first match: JSON strings without quotes, other JSON values as compact JSON;
    /// header values and regex matches as text (invalid UTF-8 replaced). `None` = no match.
    pub fn apply(&self, resp: &ResponseView<'_>) -> Option<String> {
        match self {
            Extractor::JsonPath { query, .. } => {
                let node = query.query(resp.json()?).first()?;
                Some(json_text(node))
            }
            Extractor::Regex { regex, group } => {
                let m = regex.captures(resp.body())?.get(*group)?;
                Some(String::from_utf8_lossy(m.as_bytes()).into_owned())
            }
            Extractor::Header { name } => {
                Some(String::from_utf8_lossy(resp.header(name)?).into_owned())
            }
            Extractor::Status => Some(itoa::Buffer::new().format(resp.status()).to_string()),
        }
    }

    /// A short description for messages, such as `json $.token` or `header x-request-id`.
    pub fn describe(&self) -> String {
        match self {
            Extractor::JsonPath { expr, .. } => format!("json {expr}"),
            Extractor::Regex { regex, group } => {
                format!("regex {:?} group {group}", regex.as_str())
            }
            Extractor::Header { name } => format!("header {name}"),
            Extractor::Status => "status".to_string(),
        }
    }
}

/// JSON strings without quotes, other values as compact JSON.
pub(crate) fn json_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] =
        br#"{"token":"t-1","n":3,"ok":true,"items":[{"id":"a"},{"id":"b"}],"nil":null}"#;

    fn headers() -> Vec<(String, Vec<u8>)> {
        vec![
            ("content-type".into(), b"application/json".to_vec()),
            ("set-cookie".into(), b"a=1".to_vec()),
            ("set-cookie".into(), b"b=2".to_vec()),
        ]
    }

    fn get(e: &Extractor, body: &[u8]) -> Option<String> {
        let h = headers();
        e.apply(&ResponseView::new(200, &h, body))
    }

    #[test]
    fn view_parses_json_once() {
        let h = headers();
        let v = ResponseView::new(204, &h, BODY);
        assert_eq!(v.status(), 204);
        assert_eq!(v.body(), BODY);
        assert_eq!(v.header("content-type"), Some(&b"application/json"[..]));
        assert_eq!(v.header("Content-Type"), Some(&b"application/json"[..]));
        assert_eq!(v.header("set-cookie"), Some(&b"a=1"[..]), "the first one");
        assert_eq!(v.header("x-nope"), None);
        let first = v.json().unwrap() as *const serde_json::Value;
        assert_eq!(
            v.json().unwrap() as *const _,
            first,
            "parsed once, then cached"
        );
        assert!(ResponseView::new(200, &[], b"not json").json().is_none());
        assert!(ResponseView::new(200, &[], b"").json().is_none());
        assert!(format!("{v:?}").contains("204"));
    }

    #[test]
    fn json_path() {
        let e = |p: &str| get(&Extractor::json_path(p).unwrap(), BODY);
        assert_eq!(e("$.token").as_deref(), Some("t-1"));
        assert_eq!(e("$.n").as_deref(), Some("3"));
        assert_eq!(e("$.ok").as_deref(), Some("true"));
        assert_eq!(e("$.nil").as_deref(), Some("null"));
        assert_eq!(e("$.items[1].id").as_deref(), Some("b"));
        assert_eq!(e("$.items[*].id").as_deref(), Some("a"), "the first match");
        assert_eq!(e("$.items[0]").as_deref(), Some(r#"{"id":"a"}"#));
        assert_eq!(e("$..id").as_deref(), Some("a"));
        assert_eq!(e("$.missing"), None);
        assert_eq!(
            get(&Extractor::json_path("$.token").unwrap(), b"<html>"),
            None
        );
        let err = Extractor::json_path("$.[").unwrap_err();
        assert!(!err.is_empty());
        assert!(Extractor::json_path("token").is_err(), "must start at $");
        assert_eq!(Extractor::json_path("$.a").unwrap().describe(), "json $.a");
    }

    #[test]
    fn regex() {
        let e = Extractor::regex(r#""token":"([^"]+)""#, None).unwrap();
        assert_eq!(get(&e, BODY).as_deref(), Some("t-1"));
        let whole = Extractor::regex(r"t-\d", None).unwrap();
        assert_eq!(get(&whole, BODY).as_deref(), Some("t-1"));
        let g0 = Extractor::regex(r#""token":"([^"]+)""#, Some(0)).unwrap();
        assert_eq!(get(&g0, BODY).as_deref(), Some(r#""token":"t-1""#));
        let g2 = Extractor::regex(r#""id":"(a)"|"id":"(b)""#, Some(2)).unwrap();
        assert_eq!(
            get(&g2, BODY),
            None,
            "group 2 did not take part in the first match"
        );
        assert_eq!(get(&e, b"nothing here"), None);
        assert_eq!(get(&whole, b"\xff t-9 \xfe").as_deref(), Some("t-9"));
        assert_eq!(
            Extractor::regex("(a)", Some(2)).unwrap_err(),
            "capture group 2 does not exist: the pattern has 1 capture group"
        );
        assert!(Extractor::regex("a", Some(1))
            .unwrap_err()
            .contains("has 0 capture groups"));
        assert!(Extractor::regex("(", None).is_err());
        assert!(e.describe().starts_with("regex "));
    }

    #[test]
    fn header_and_status() {
        let e = Extractor::header("Content-Type").unwrap();
        assert_eq!(get(&e, b"").as_deref(), Some("application/json"));
        assert_eq!(e.describe(), "header content-type");
        assert_eq!(get(&Extractor::header("x-none").unwrap(), b""), None);
        assert!(Extractor::header("").is_err());
        assert!(Extractor::header("bad name").is_err());
        assert!(Extractor::header("x:y").is_err());
        let resp = ResponseView::new(503, &[], b"");
        assert_eq!(Extractor::status().apply(&resp).as_deref(), Some("503"));
        assert_eq!(Extractor::status().describe(), "status");
    }
}
