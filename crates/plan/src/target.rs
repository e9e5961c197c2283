//! Where requests go: a parsed, checked URL.

use crate::PlanError;

/// URL scheme of the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// HTTP over TCP.
    Http,
    /// HTTP over TLS.
    Https,
    /// WebSocket over TCP.
    Ws,
    /// WebSocket over TLS.
    Wss,
}

impl Scheme {
    /// True for schemes that run over TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Scheme::Https | Scheme::Wss)
    }

    /// True for WebSocket schemes.
    pub fn is_websocket(self) -> bool {
        matches!(self, Scheme::Ws | Scheme::Wss)
    }
}

/// Where requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL as given.
    pub url: url::Url,
    /// Scheme.
    pub scheme: Scheme,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The value of the `Host` header.
    pub authority: String,
    /// Path and query sent in the request line, e.g. `/a?b=1`.
    pub path_and_query: String,
}

impl Target {
    /// Parses and checks a target URL.
    pub fn parse(text: &str) -> Result<Target, PlanError> {
        let bad = |reason: String| PlanError::Value {
            what: "url",
            value: text.to_string(),
            reason,
        };
        let url = url::Url::parse(text).map_err(|e| bad(e.to_string()))?;
        let scheme = match url.scheme() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            "ws" => Scheme::Ws,
            "wss" => Scheme::Wss,
            other => {
                return Err(bad(format!(
                    "scheme '{other}' is not supported (supported: http, https, ws, wss)"
                )))
            }
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_string(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            None => return Err(bad("missing host".into())),
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| bad("missing port".into()))?;
        let host_part = url.host_str().unwrap_or_default();
        let authority = match url.port() {
            Some(p) => format!("{host_part}:{p}"),
            None => host_part.to_string(),
        };
        let mut path_and_query = url.path().to_string();
        if let Some(q) = url.query() {
            path_and_query.push('?');
            path_and_query.push_str(q);
        }
        Ok(Target {
            url,
            scheme,
            host,
            port,
            authority,
            path_and_query,
        })
    }
}

impl TryFrom<&str> for Target {
    type Error = PlanError;

    fn try_from(text: &str) -> Result<Target, PlanError> {
        Target::parse(text)
    }
}

impl TryFrom<&String> for Target {
    type Error = PlanError;

    fn try_from(text: &String) -> Result<Target, PlanError> {
        Target::parse(text)
    }
}

impl TryFrom<String> for Target {
    type Error = PlanError;

    fn try_from(text: String) -> Result<Target, PlanError> {
        Target::parse(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_parsing() {
        let t = Target::parse("http://[::1]:9000/a/b?c=d").unwrap();
        assert_eq!(t.host, "::1");
        assert_eq!(t.authority, "[::1]:9000");
        assert_eq!(t.path_and_query, "/a/b?c=d");
        let t = Target::parse("http://example.test").unwrap();
        assert_eq!((t.port, t.authority.as_str()), (80, "example.test"));
        assert_eq!(t.path_and_query, "/");
        assert!(Target::parse("ftp://x/").is_err());
        let t = Target::parse("https://localhost/").unwrap();
        assert_eq!((t.port, t.scheme.is_tls()), (443, true));
        assert!(Target::parse("wss://h/ws").unwrap().scheme.is_websocket());
        assert!(Target::parse("not a url").is_err());
    }
}
