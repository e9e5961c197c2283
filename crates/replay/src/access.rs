//! Access-log lines: the nginx and Apache "combined" format, and nginx formats that add
//! `$request_time` (seconds with a millisecond fraction) or `$msec` (the log time as
//! epoch seconds with milliseconds) after the user agent; Apache's `%D` (microseconds)
//! with `--format apache`.
//!
//! ```text
//! 127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326 "-" "curl/8" 0.004 971211336.004
//! ```

use std::time::Duration;

use crate::record::{epoch_seconds, Record, Stamp};

/// How trailing fields are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFlavor {
    /// nginx: a trailing `D.DDD` is `$request_time`, `DDDDDDDDDD.DDD` is `$msec`.
    Nginx,
    /// Apache: as nginx, and a trailing integer is `%D` (microseconds).
    Apache,
}

/// Parses one line, or says what is wrong with it.
pub fn parse_line(line: &str, flavor: LogFlavor) -> Result<Record, String> {
    let open = line.find('[').ok_or("no [time] field")?;
    let close = open + line[open..].find(']').ok_or("unclosed [time] field")?;
    let local = parse_time_local(&line[open + 1..close])?;
    let mut rest = Fields(line[close + 1..].trim_start());
    let request = rest.quoted().ok_or("no quoted request after the time")?;
    let mut parts = request.split(' ');
    let (method, target) = match (parts.next(), parts.next()) {
        (Some(m), Some(t)) if is_method(m) && t.starts_with('/') => (m, t),
        _ => return Err(format!("request '{}' is not METHOD /path", clip(&request))),
    };
    let status = rest
        .word()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or("no status after the request")?;
    let _bytes = rest.word();
    let mut headers = Vec::new();
    for name in ["Referer", "User-Agent"] {
        match rest.quoted() {
            Some(v) if v != "-" && !v.is_empty() => headers.push((name.to_string(), v)),
            _ => {}
        }
    }
    let (mut msec, mut original) = (None, None);
    while let Some(field) = rest.field() {
        if let Some((whole, frac)) = field.split_once('.') {
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            if !(digits(whole) && digits(frac)) {
                continue;
            }
            let v: f64 = field.parse().map_err(|_| "bad number")?;
            if whole.len() >= 9 && frac.len() == 3 {
                msec = Some(v);
            } else if v < 86_400.0 {
                original = Some(Duration::from_secs_f64(v));
            }
        } else if flavor == LogFlavor::Apache && field.bytes().all(|b| b.is_ascii_digit()) {
            original = field.parse().ok().map(Duration::from_micros);
        }
    }
    // `$msec` is when the line was written, at the end of the request: its start is
    // that minus the request time.
    let time = match msec {
        Some(end) => Stamp {
            secs: end - original.map_or(0.0, |d| d.as_secs_f64()),
            whole_second: false,
        },
        None => Stamp {
            secs: local,
            whole_second: true,
        },
    };
    Ok(Record {
        time,
        method: method.to_string(),
        path: target.to_string(),
        host: None,
        headers,
        body: Vec::new(),
        status: Some(status),
        original,
    })
}

fn is_method(m: &str) -> bool {
    !m.is_empty() && m.len() <= 16 && m.bytes().all(|b| b.is_ascii_uppercase())
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// `10/Oct/2000:13:55:36 -0700` as epoch seconds.
fn parse_time_local(t: &str) -> Result<f64, String> {
    let bad = || format!("time '{}' is not DD/Mon/YYYY:HH:MM:SS +ZZZZ", clip(t));
    let (stamp, zone) = t.split_once(' ').ok_or_else(bad)?;
    let mut it = stamp.split(['/', ':']);
    let mut next = || it.next().ok_or_else(bad);
    let d: u32 = next()?.parse().map_err(|_| bad())?;
    let mon = next()?;
    let y: i64 = next()?.parse().map_err(|_| bad())?;
    let h: u32 = next()?.parse().map_err(|_| bad())?;
    let mi: u32 = next()?.parse().map_err(|_| bad())?;
    let s: u32 = next()?.parse().map_err(|_| bad())?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mo = MONTHS.iter().position(|m| *m == mon).ok_or_else(bad)? as u32 + 1;
    let offset = parse_offset(zone).ok_or_else(bad)?;
    epoch_seconds((y, mo, d), (h, mi, f64::from(s)), offset).ok_or_else(bad)
}

/// `+0200`, `-0700` or `+02:00` as seconds east of UTC.
pub(crate) fn parse_offset(z: &str) -> Option<i64> {
    let (sign, rest) = match z.as_bytes().first()? {
        b'+' => (1, &z[1..]),
        b'-' => (-1, &z[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i64 = digits[..2].parse().ok()?;
    let m: i64 = digits[2..].parse().ok()?;
    Some(sign * (h * 3600 + m * 60))
}

/// The fields after the time: quoted strings (with `\"` and `\\` escapes) and words.
struct Fields<'a>(&'a str);

impl Fields<'_> {
    fn quoted(&mut self) -> Option<String> {
        let s = self.0.trim_start();
        let body = s.strip_prefix('"')?;
        let mut out = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, e)) = chars.next() {
                        out.push(e);
                    }
                }
                '"' => {
                    self.0 = &body[i + 1..];
                    return Some(out);
                }
                c => out.push(c),
            }
        }
        None
    }

    fn word(&mut self) -> Option<&str> {
        let s = self.0.trim_start();
        if s.is_empty() {
            return None;
        }
        let end = s.find(char::is_whitespace).unwrap_or(s.len());
        self.0 = &s[end..];
        Some(&s[..end])
    }

    /// A word, or a quoted string skipped (returned as empty).
    fn field(&mut self) -> Option<&str> {
        if self.0.trim_start().starts_with('"') {
            return self.quoted().map(|_| "");
        }
        self.word()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMBINED: &str = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?x=1 HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;

    #[test]
    fn combined_lines_parse() {
        let r = parse_line(COMBINED, LogFlavor::Nginx).unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/apache_pb.gif?x=1");
        assert_eq!(r.status, Some(200));
        assert_eq!(r.time.secs, 971_211_336.0);
        assert!(r.time.whole_second);
        assert_eq!(r.original, None);
        assert_eq!(r.headers[1].0, "User-Agent");
        assert_eq!(r.headers[1].1, "Mozilla/4.08 [en] (Win98; I ;Nav)");
    }

    #[test]
    fn request_time_and_msec_are_read() {
        let line = format!("{COMBINED} 0.250 971211336.750");
        let r = parse_line(&line, LogFlavor::Nginx).unwrap();
        assert_eq!(r.original, Some(Duration::from_millis(250)));
        assert!(!r.time.whole_second);
        assert!((r.time.secs - 971_211_336.5).abs() < 1e-6);
        let only_time = format!("{COMBINED} 0.004");
        let r = parse_line(&only_time, LogFlavor::Nginx).unwrap();
        assert_eq!(r.original, Some(Duration::from_millis(4)));
        assert!(r.time.whole_second);
        let apache = format!("{COMBINED} 1234");
        let r = parse_line(&apache, LogFlavor::Apache).unwrap();
        assert_eq!(r.original, Some(Duration::from_micros(1234)));
        assert_eq!(
            parse_line(&apache, LogFlavor::Nginx).unwrap().original,
            None
        );
    }

    #[test]
    fn escaped_quotes_and_bad_lines() {
        let line =
            r#"::1 - - [01/Jan/2024:00:00:00 +0000] "POST /q HTTP/1.1" 201 0 "-" "say \"hi\"""#;
        let r = parse_line(line, LogFlavor::Apache).unwrap();
        assert_eq!(r.headers, vec![("User-Agent".into(), "say \"hi\"".into())]);
        let bad = [
            "",
            "garbage",
            r#"1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "-" 400 0 "-" "-""#,
            r#"1.2.3.4 - - [01/Foo/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 0"#,
            r#"1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" abc 0"#,
            r#"1.2.3.4 - - [01/Jan/2024:00:00:00 +0000"#,
        ];
        for b in bad {
            assert!(parse_line(b, LogFlavor::Nginx).is_err(), "{b}");
        }
    }
}
