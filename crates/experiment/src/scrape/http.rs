//! One bounded HTTP exchange (plain `http://`, HTTP/1.0 so that the body ends at the
//! close): a GET is all a scrape and a Prometheus query need; one deadline over connect,
//! send and read.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The largest body read (a node exporter's page is ~100 kB).
const MAX_BODY: usize = 32 << 20;

/// Why a GET failed, in words fit for the report.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum GetError {
    /// Not an `http://` URL.
    #[error("{0}")]
    Url(String),
    /// Connect, send or read failed (refused, reset, timeout).
    #[error("{0}")]
    Io(String),
    /// An answer that is not HTTP, or not 200.
    #[error("{0}")]
    Http(String),
}

/// Checks that `url` is one this client can GET; says why not.
pub(crate) fn check_url(url: &str) -> Result<url::Url, GetError> {
    let u = url::Url::parse(url).map_err(|e| GetError::Url(format!("{url}: {e}")))?;
    if u.scheme() != "http" {
        return Err(GetError::Url(format!(
            "{url}: only http:// is supported for server metrics"
        )));
    }
    if u.host_str().is_none() {
        return Err(GetError::Url(format!("{url}: no host")));
    }
    Ok(u)
}

/// GETs `url` within `timeout`; the body of a 200 answer as text.
pub(crate) fn get(url: &url::Url, timeout: Duration) -> Result<String, GetError> {
    exchange(
        url,
        "GET",
        "Accept: text/plain;version=0.0.4, application/json\r\n",
        b"",
        timeout,
    )
}

fn exchange(
    url: &url::Url,
    method: &str,
    headers: &str,
    payload: &[u8],
    timeout: Duration,
) -> Result<String, GetError> {
    let deadline = Instant::now() + timeout;
    let io = |what: &str, e: std::io::Error| {
        let e = match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                format!("timed out after {} ms", timeout.as_millis())
            }
            _ => e.to_string(),
        };
        GetError::Io(format!("{what}: {e}"))
    };
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(80);
    let addr = (host.trim_start_matches('[').trim_end_matches(']'), port)
        .to_socket_addrs()
        .map_err(|e| io("resolve", e))?
        .next()
        .ok_or_else(|| GetError::Io(format!("resolve: no address for {host}")))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| io("connect", e))?;
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    stream
        .set_write_timeout(Some(left()))
        .map_err(|e| io("send", e))?;
    let target = &url[url::Position::BeforePath..url::Position::AfterQuery];
    let mut request = format!(
        "{method} {target} HTTP/1.0\r\nHost: {}\r\nUser-Agent: stampede\r\n{headers}\r\n",
        &url[url::Position::BeforeHost..url::Position::AfterPort]
    )
    .into_bytes();
    request.extend_from_slice(payload);
    stream.write_all(&request).map_err(|e| io("send", e))?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        if Instant::now() >= deadline {
            return Err(io("read", std::io::ErrorKind::TimedOut.into()));
        }
        stream
            .set_read_timeout(Some(left()))
            .map_err(|e| io("read", e))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io("read", e)),
        }
        if raw.len() > MAX_BODY {
            return Err(GetError::Http(format!(
                "answer larger than {} MiB",
                MAX_BODY >> 20
            )));
        }
    }
    body(&raw)
}

/// The body of a complete HTTP/1.x answer, if its status is 200.
fn body(raw: &[u8]) -> Result<String, GetError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(raw) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return Err(GetError::Http("the answer ended inside its headers".into()))
        }
        Err(e) => return Err(GetError::Http(format!("not an HTTP answer ({e})"))),
    };
    let code = response.code.unwrap_or(0);
    if code != 200 {
        return Err(GetError::Http(format!(
            "HTTP {code} {}",
            response.reason.unwrap_or_default()
        )));
    }
    for h in response.headers.iter() {
        let value = String::from_utf8_lossy(h.value).to_ascii_lowercase();
        if (h.name.eq_ignore_ascii_case("transfer-encoding") && value.contains("chunked"))
            || (h.name.eq_ignore_ascii_case("content-encoding") && value != "identity")
        {
            return Err(GetError::Http(format!(
                "unsupported {}: {value}",
                h.name.to_ascii_lowercase()
            )));
        }
    }
    String::from_utf8(raw[head..].to_vec())
        .map_err(|_| GetError::Http("the body is not UTF-8 text".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_judged() {
        assert_eq!(
            body(b"HTTP/1.0 200 OK\r\nA: b\r\n\r\nm 1\n").unwrap(),
            "m 1\n"
        );
        assert_eq!(
            body(b"HTTP/1.1 503 Service Unavailable\r\n\r\n").unwrap_err(),
            GetError::Http("HTTP 503 Service Unavailable".into())
        );
        assert!(body(b"SSH-2.0-OpenSSH\r\n").is_err());
        assert!(
            body(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nm 1\r\n").is_err()
        );
        assert!(check_url("https://x/metrics").is_err());
        assert!(check_url("http://127.0.0.1:9100/metrics").is_ok());
    }
}
