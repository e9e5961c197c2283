//! `--filter`: which records are replayed. Each filter is `method=GET,POST`,
//! `status=2xx,404` or `path=REGEX` (a regular expression searched in the path and
//! query); a record is replayed when it passes every filter.

use crate::record::Record;

/// One `--filter` expression.
#[derive(Debug, Clone)]
pub enum Filter {
    /// The method is one of these.
    Method(Vec<String>),
    /// The recorded status matches one of these (`2xx` is a class).
    Status(Vec<StatusPattern>),
    /// The path and query match this expression.
    Path(regex::Regex),
}

/// `404` or a class like `2xx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPattern {
    /// Exactly this code.
    Code(u16),
    /// Any code of this hundred (2 for `2xx`).
    Class(u16),
}

impl Filter {
    /// Parses `KEY=VALUE`.
    pub fn parse(text: &str) -> Result<Filter, String> {
        let bad = |why: &str| format!("--filter '{text}': {why}");
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| bad("expected method=GET,POST, status=2xx,404 or path=REGEX"))?;
        match key.trim() {
            "method" => Ok(Filter::Method(
                value
                    .split(',')
                    .map(|m| m.trim().to_ascii_uppercase())
                    .collect(),
            )),
            "status" => value
                .split(',')
                .map(|s| {
                    let s = s.trim();
                    if let Some(c) = s.strip_suffix("xx").and_then(|c| c.parse().ok()) {
                        return Ok(StatusPattern::Class(c));
                    }
                    s.parse()
                        .map(StatusPattern::Code)
                        .map_err(|_| bad("a status is a code (404) or a class (2xx)"))
                })
                .collect::<Result<_, _>>()
                .map(Filter::Status),
            "path" => regex::Regex::new(value)
                .map(Filter::Path)
                .map_err(|e| bad(&e.to_string())),
            other => Err(bad(&format!(
                "unknown key '{other}' (method, status or path)"
            ))),
        }
    }

    /// True when `r` passes. A status filter passes no record without a status.
    pub fn passes(&self, r: &Record) -> bool {
        match self {
            Filter::Method(ms) => ms.contains(&r.method),
            Filter::Status(ps) => r.status.is_some_and(|s| {
                ps.iter().any(|p| match *p {
                    StatusPattern::Code(c) => c == s,
                    StatusPattern::Class(c) => s / 100 == c,
                })
            }),
            Filter::Path(re) => re.is_match(&r.path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Stamp;

    #[test]
    fn filters_parse_and_pass() {
        let r = Record {
            time: Stamp {
                secs: 0.0,
                whole_second: true,
            },
            method: "POST".into(),
            path: "/api/users/7".into(),
            host: None,
            headers: vec![],
            body: vec![],
            status: Some(201),
            original: None,
        };
        let pass = |f: &str| Filter::parse(f).unwrap().passes(&r);
        assert!(pass("method=get,post"));
        assert!(!pass("method=GET"));
        assert!(pass("status=2xx"));
        assert!(!pass("status=404,5xx"));
        assert!(pass("path=^/api/"));
        assert!(!pass("path=^/static"));
        for bad in ["nope", "host=x", "status=abc", "path=("] {
            assert!(Filter::parse(bad).is_err(), "{bad}");
        }
    }
}
