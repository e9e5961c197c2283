//! A cookie jar per virtual user (RFC 6265, the parts a load test needs): cookies are
//! kept per target, matched by path, replaced by name, removed by `Max-Age=0` or an
//! `Expires` date in the past, and expire after `Max-Age` (which wins) or at `Expires`.
//! `Domain` is not needed: a jar never crosses targets.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
struct Cookie {
    target: usize,
    name: String,
    value: String,
    path: String,
    expires: Option<Instant>,
}

/// The cookies one virtual user holds.
#[derive(Debug, Default)]
pub struct CookieJar {
    cookies: Vec<Cookie>,
}

/// At most this many cookies per user (a misbehaving server cannot grow memory).
const MAX_COOKIES: usize = 64;

impl CookieJar {
    /// True when no cookie is held for `target`.
    pub fn is_empty_for(&self, target: usize) -> bool {
        !self.cookies.iter().any(|c| c.target == target)
    }

    /// Stores a `Set-Cookie` value received for a request to `request_path`.
    pub fn store(&mut self, target: usize, request_path: &str, header: &[u8], now: Instant) {
        let Ok(text) = std::str::from_utf8(header) else {
            return;
        };
        let mut parts = text.split(';');
        let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else {
            return;
        };
        let name = name.trim();
        if name.is_empty() {
            return;
        }
        let mut path = None;
        let mut expires = None;
        let mut delete = false;
        let mut max_age = false;
        for attr in parts {
            let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("path") && v.starts_with('/') {
                path = Some(v.to_string());
            } else if k.eq_ignore_ascii_case("max-age") {
                match v.parse::<i64>() {
                    Ok(s) if s <= 0 => (delete, max_age) = (true, true),
                    Ok(s) => {
                        (delete, max_age) = (false, true);
                        expires = Some(now + Duration::from_secs(s as u64));
                    }
                    Err(_) => {}
                }
            } else if k.eq_ignore_ascii_case("expires") && !max_age {
                // RFC 6265 §5.3: Max-Age wins over Expires, whatever their order.
                if let Some(at) = cookie_date(v) {
                    let unix = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs() as i64);
                    match at - unix {
                        left if left <= 0 => delete = true,
                        left => {
                            delete = false;
                            expires = Some(now + Duration::from_secs(left as u64));
                        }
                    }
                }
            }
        }
        let path = path.unwrap_or_else(|| default_path(request_path));
        self.cookies
            .retain(|c| !(c.target == target && c.name == name && c.path == path));
        if delete {
            return;
        }
        if self.cookies.len() >= MAX_COOKIES {
            self.cookies.remove(0);
        }
        self.cookies.push(Cookie {
            target,
            name: name.to_string(),
            value: value.trim().to_string(),
            path,
            expires,
        });
    }

    /// The `Cookie` header value for a request to `target` at `path`, if any cookie
    /// applies; longer paths first, as RFC 6265 §5.4 asks.
    pub fn header(&mut self, target: usize, path: &str, now: Instant) -> Option<String> {
        self.cookies.retain(|c| c.expires.is_none_or(|e| e > now));
        let path = path.split('?').next().unwrap_or("/");
        let mut matching: Vec<&Cookie> = self
            .cookies
            .iter()
            .filter(|c| c.target == target && path_matches(path, &c.path))
            .collect();
        if matching.is_empty() {
            return None;
        }
        matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        let mut out = String::new();
        for c in matching {
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(&c.name);
            out.push('=');
            out.push_str(&c.value);
        }
        Some(out)
    }
}

/// RFC 6265 §5.1.1: a cookie date (`Thu, 01 Jan 1970 00:00:00 GMT` and its many
/// variants) as seconds since the Unix epoch; `None` when it is not one.
fn cookie_date(text: &str) -> Option<i64> {
    let (mut time, mut day, mut month, mut year) = (None, None, None, None);
    let tokens = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
        .filter(|t| !t.is_empty());
    for token in tokens {
        let digits = token.bytes().take_while(u8::is_ascii_digit).count();
        if time.is_none() {
            let hms: Vec<&str> = token.splitn(3, ':').collect();
            if hms.len() == 3 {
                let field = |f: &str| {
                    let n = f.bytes().take_while(u8::is_ascii_digit).count();
                    (1..=2).contains(&n).then(|| f[..n].parse::<i64>().ok())?
                };
                if let (Some(h), Some(m), Some(s)) = (field(hms[0]), field(hms[1]), field(hms[2])) {
                    time = Some((h, m, s));
                    continue;
                }
            }
        }
        if day.is_none() && (1..=2).contains(&digits) {
            day = token[..digits].parse::<i64>().ok();
            continue;
        }
        if month.is_none() && token.len() >= 3 {
            const MONTHS: [&str; 12] = [
                "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
            ];
            let prefix = token[..3].to_ascii_lowercase();
            if let Some(i) = MONTHS.iter().position(|m| *m == prefix) {
                month = Some(i as i64 + 1);
                continue;
            }
        }
        if year.is_none() && (2..=4).contains(&digits) {
            year = token[..digits].parse::<i64>().ok();
        }
    }
    let (h, mi, s) = time?;
    let (day, month, mut year) = (day?, month?, year?);
    if (70..=99).contains(&year) {
        year += 1900;
    } else if (0..=69).contains(&year) {
        year += 2000;
    }
    if !(1..=31).contains(&day) || year < 1601 || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + mi * 60 + s)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// RFC 6265 §5.1.4: the directory of the request path.
fn default_path(request_path: &str) -> String {
    let path = request_path.split('?').next().unwrap_or("/");
    match path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => path[..i].to_string(),
    }
}

/// RFC 6265 §5.1.4 path-match.
fn path_matches(request: &str, cookie: &str) -> bool {
    request == cookie
        || (request.starts_with(cookie)
            && (cookie.ends_with('/') || request.as_bytes().get(cookie.len()) == Some(&b'/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_replaces_matches_and_expires() {
        let now = Instant::now();
        let mut jar = CookieJar::default();
        assert!(jar.is_empty_for(0));
        jar.store(0, "/login", b"sid=abc; Path=/; HttpOnly", now);
        jar.store(0, "/api/items?x=1", b"pref=dark", now);
        jar.store(1, "/", b"other=1", now);
        assert_eq!(jar.header(0, "/", now).as_deref(), Some("sid=abc"));
        assert_eq!(
            jar.header(0, "/api/list", now).as_deref(),
            Some("pref=dark; sid=abc"),
            "default path is the request's directory; longer paths first"
        );
        assert_eq!(jar.header(0, "/apix", now).as_deref(), Some("sid=abc"));
        jar.store(0, "/", b"sid=def; Path=/", now);
        assert_eq!(jar.header(0, "/", now).as_deref(), Some("sid=def"));
        jar.store(0, "/", b"sid=; Max-Age=0; Path=/", now);
        assert_eq!(jar.header(0, "/", now), None);
        jar.store(0, "/", b"short=1; Max-Age=1", now);
        assert!(jar.header(0, "/", now).is_some());
        assert_eq!(jar.header(0, "/", now + Duration::from_secs(2)), None);
        assert_eq!(jar.header(1, "/", now).as_deref(), Some("other=1"));
        jar.store(0, "/", b"garbage", now);
        jar.store(0, "/", b"=novalue", now);
        assert!(!jar.is_empty_for(1));
    }

    #[test]
    fn expires_deletes_or_expires_and_max_age_wins() {
        let now = Instant::now();
        let mut jar = CookieJar::default();
        jar.store(0, "/", b"sid=abc; Path=/", now);
        jar.store(
            0,
            "/",
            b"sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            now,
        );
        assert_eq!(jar.header(0, "/", now), None, "a date in the past deletes");
        jar.store(
            0,
            "/",
            b"sid=abc; expires=Fri, 31-Dec-2100 23:59:59 GMT",
            now,
        );
        assert_eq!(jar.header(0, "/", now).as_deref(), Some("sid=abc"));
        assert!(jar.cookies[0].expires.is_some());
        jar.store(
            0,
            "/",
            b"a=1; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            now,
        );
        jar.store(
            0,
            "/",
            b"b=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60",
            now,
        );
        assert_eq!(
            jar.header(0, "/", now).as_deref(),
            Some("sid=abc; a=1; b=1"),
            "Max-Age wins over Expires"
        );
        jar.store(0, "/", b"c=1; Expires=garbage", now);
        assert_eq!(
            jar.header(0, "/", now).as_deref(),
            Some("sid=abc; a=1; b=1; c=1")
        );
    }

    #[test]
    fn cookie_dates() {
        assert_eq!(cookie_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            cookie_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            cookie_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(cookie_date("Sun Nov  6 08:49:37 1994"), Some(784_111_777));
        assert_eq!(
            cookie_date("Wed, 29 Feb 2040 12:00:00 GMT"),
            Some(2_214_129_600)
        );
        assert_eq!(cookie_date("tomorrow"), None);
        assert_eq!(cookie_date("Sun, 06 Nov 1994 25:49:37 GMT"), None);
    }

    #[test]
    fn is_bounded() {
        let now = Instant::now();
        let mut jar = CookieJar::default();
        for i in 0..1000 {
            jar.store(0, "/", format!("c{i}=v").as_bytes(), now);
        }
        assert_eq!(jar.cookies.len(), MAX_COOKIES);
    }
}
