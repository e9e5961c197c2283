//! HAR 1.2 files (`log.entries[].request`): method, URL, headers and `postData`.
//!
//! A HAR is one JSON document whose entries need not be in time order, so it is read
//! whole; but only the parts a replay sends are kept (serde skips responses and their
//! bodies, which make most of a HAR's size, without storing them).

use std::io::Read;
use std::time::Duration;

use serde::Deserialize;

use crate::access::parse_offset;
use crate::record::{epoch_seconds, Record, Stamp};

#[derive(Deserialize)]
struct Har {
    log: Log,
}

#[derive(Deserialize)]
struct Log {
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    started_date_time: String,
    #[serde(default)]
    time: Option<f64>,
    request: Request,
    #[serde(default)]
    response: Option<Response>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    method: String,
    url: String,
    #[serde(default)]
    headers: Vec<Header>,
    #[serde(default)]
    post_data: Option<PostData>,
}

#[derive(Deserialize)]
struct Header {
    name: String,
    value: String,
}

#[derive(Deserialize)]
struct PostData {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    status: Option<i64>,
}

/// Headers the request path writes itself, and HTTP/2 pseudo-headers.
fn is_own_header(name: &str) -> bool {
    name.starts_with(':')
        || [
            "host",
            "content-length",
            "connection",
            "transfer-encoding",
            "keep-alive",
            "proxy-connection",
        ]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
}

/// One HAR entry that could not be used: its index and why.
pub type BadEntry = (usize, String);

/// The HAR's entries as records (in file order), and those that could not be read.
pub fn read_har(reader: impl Read) -> Result<(Vec<Record>, Vec<BadEntry>), String> {
    let har: Har = serde_json::from_reader(reader).map_err(|e| e.to_string())?;
    let mut records = Vec::with_capacity(har.log.entries.len());
    let mut bad = Vec::new();
    for (i, e) in har.log.entries.into_iter().enumerate() {
        match record(e) {
            Ok(r) => records.push(r),
            Err(why) => bad.push((i, why)),
        }
    }
    Ok((records, bad))
}

fn record(e: Entry) -> Result<Record, String> {
    let secs = parse_iso8601(&e.started_date_time)
        .ok_or_else(|| format!("startedDateTime '{}' is not ISO 8601", e.started_date_time))?;
    let (host, path) = split_url(&e.request.url)
        .ok_or_else(|| format!("url '{}' is not http(s)://host/path", e.request.url))?;
    let method = e.request.method.to_ascii_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!("method '{}' is not a method", e.request.method));
    }
    let headers = e
        .request
        .headers
        .into_iter()
        .filter(|h| !is_own_header(&h.name))
        .map(|h| (h.name, h.value))
        .collect();
    Ok(Record {
        time: Stamp {
            secs,
            whole_second: false,
        },
        method,
        path,
        host: Some(host),
        headers,
        body: e
            .request
            .post_data
            .and_then(|p| p.text)
            .unwrap_or_default()
            .into_bytes(),
        status: e
            .response
            .and_then(|r| r.status)
            .and_then(|s| u16::try_from(s).ok()),
        original: e
            .time
            .filter(|t| t.is_finite() && *t >= 0.0)
            .map(|ms| Duration::from_secs_f64(ms / 1000.0)),
    })
}

/// `http://host:port/path?q` → (`host:port`, `/path?q`).
fn split_url(url: &str) -> Option<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if host.is_empty() {
        return None;
    }
    Some((host.to_ascii_lowercase(), path.to_string()))
}

/// `2024-01-02T03:04:05.678Z` (or `+01:00`, fractions of any length) as epoch seconds.
fn parse_iso8601(t: &str) -> Option<f64> {
    let (date, time) = t.split_once('T')?;
    let mut d = date.split('-');
    let y: i64 = d.next()?.parse().ok()?;
    let mo: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    let (clock, offset) = if let Some(c) = time.strip_suffix('Z') {
        (c, 0)
    } else {
        let i = time.rfind(['+', '-'])?;
        (&time[..i], parse_offset(&time[i..])?)
    };
    let mut c = clock.split(':');
    let h: u32 = c.next()?.parse().ok()?;
    let mi: u32 = c.next()?.parse().ok()?;
    let s: f64 = c.next()?.parse().ok()?;
    epoch_seconds((y, mo, day), (h, mi, s), offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_become_records() {
        let har = r#"{"log": {"version": "1.2", "creator": {"name": "t", "version": "1"},
          "entries": [
            {"startedDateTime": "2024-01-02T03:04:05.500+01:00", "time": 12.5,
             "request": {"method": "POST", "url": "http://api.example:8080/v1/items?x=1",
               "httpVersion": "HTTP/1.1",
               "headers": [{"name": "Host", "value": "api.example"}, {"name": ":authority", "value": "a"},
                           {"name": "X-Trace", "value": "42"}, {"name": "Content-Length", "value": "7"}],
               "postData": {"mimeType": "application/json", "text": "{\"a\":1}"}},
             "response": {"status": 201, "content": {"size": 9, "text": "big body"}}},
            {"startedDateTime": "yesterday", "request": {"method": "GET", "url": "http://x/"}},
            {"startedDateTime": "2024-01-02T02:04:06Z", "request": {"method": "GET", "url": "ftp://x/"}}
          ]}}"#;
        let (records, bad) = read_har(har.as_bytes()).unwrap();
        assert_eq!(records.len(), 1);
        let r = &records[0];
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/v1/items?x=1")
        );
        assert_eq!(r.host.as_deref(), Some("api.example:8080"));
        assert_eq!(r.headers, vec![("X-Trace".to_string(), "42".to_string())]);
        assert_eq!(r.body, b"{\"a\":1}");
        assert_eq!(r.status, Some(201));
        assert_eq!(r.original, Some(Duration::from_micros(12_500)));
        // 2024-01-02T02:04:05.5Z
        assert!(
            (r.time.secs - 1_704_161_045.5).abs() < 1e-6,
            "{}",
            r.time.secs
        );
        assert_eq!(bad.iter().map(|b| b.0).collect::<Vec<_>>(), [1, 2]);
        assert!(read_har(&b"{\"log\": 3}"[..]).is_err());
    }
}
