//! A cookie jar per virtual user (RFC 6265, the parts a load test needs): cookies are
//! kept per target, matched by path, replaced by name, removed by `Max-Age=0`, and expire
//! after `Max-Age`. `Domain` is not needed: a jar never crosses targets.

use std::time::{Duration, Instant};

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
pub(crate) struct CookieJar {
    cookies: Vec<Cookie>,
}

/// At most this many cookies per user (a misbehaving server cannot grow memory).
const MAX_COOKIES: usize = 64;

impl CookieJar {
    /// True when no cookie is held for `target`.
    pub(crate) fn is_empty_for(&self, target: usize) -> bool {
        !self.cookies.iter().any(|c| c.target == target)
    }

    /// Stores a `Set-Cookie` value received for a request to `request_path`.
    pub(crate) fn store(&mut self, target: usize, request_path: &str, header: &[u8], now: Instant) {
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
        for attr in parts {
            let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("path") && v.starts_with('/') {
                path = Some(v.to_string());
            } else if k.eq_ignore_ascii_case("max-age") {
                match v.parse::<i64>() {
                    Ok(s) if s <= 0 => delete = true,
                    Ok(s) => expires = Some(now + Duration::from_secs(s as u64)),
                    Err(_) => {}
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
    pub(crate) fn header(&mut self, target: usize, path: &str, now: Instant) -> Option<String> {
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
    fn is_bounded() {
        let now = Instant::now();
        let mut jar = CookieJar::default();
        for i in 0..1000 {
            jar.store(0, "/", format!("c{i}=v").as_bytes(), now);
        }
        assert_eq!(jar.cookies.len(), MAX_COOKIES);
    }
}
