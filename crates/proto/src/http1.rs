//! A lean HTTP/1.1 client connection: the request is encoded once, responses are parsed
//! in place with `httparse` and their bodies are counted and discarded.
//!
//! stampede owns this layer instead of using hyper's client because a load generator
//! sends one fixed request millions of times: pre-encoding it and skipping header maps,
//! body streams and per-request allocations is what keeps CPU per request below wrk's.

use std::io;
use std::time::Instant;

use stampede_metrics::ErrorClass;
use stampede_plan::{RequestSpec, Target};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest response head accepted.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Largest response body accepted; larger bodies are a [`ErrorClass::TooLarge`] failure.
pub const MAX_BODY_BYTES: u64 = 1 << 30;
const MAX_HEADERS: usize = 64;
/// Initial read buffer: a quarter page, enough for small API responses, so that ten thousand
/// idle connections cost little memory. It grows (up to [`MAX_HEAD_BYTES`]) for large
/// heads and for bodies, where bigger reads mean fewer system calls.
const INITIAL_BUF: usize = 1024;
/// Read buffer size used while discarding a large body.
const BODY_BUF: usize = 64 * 1024;

/// Encodes the request once: request line, `Host`, `User-Agent`, user headers, body.
pub fn encode_request(target: &Target, spec: &RequestSpec, keep_alive: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + spec.body.len());
    encode_parts(
        &mut out,
        &spec.method,
        &target.path_and_query,
        &target.authority,
        spec.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())),
        &spec.body,
        keep_alive,
    );
    out
}

/// Appends a request to `out`: request line, `Host` and `User-Agent` (unless `headers`
/// has them), `Connection: close` without keep-alive, `headers`, `Content-Length` where
/// needed, and the body.
pub fn encode_parts<'h>(
    out: &mut Vec<u8>,
    method: &str,
    path_and_query: &str,
    authority: &str,
    headers: impl Iterator<Item = (&'h str, &'h [u8])> + Clone,
    body: &[u8],
    keep_alive: bool,
) {
    let has = |name: &str| headers.clone().any(|(n, _)| n.eq_ignore_ascii_case(name));
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path_and_query.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !has("host") {
        push_header(out, "Host", authority.as_bytes());
    }
    if !has("user-agent") {
        push_header(
            out,
            "User-Agent",
            concat!("stampede/", env!("CARGO_PKG_VERSION")).as_bytes(),
        );
    }
    if !keep_alive && !has("connection") {
        push_header(out, "Connection", b"close");
    }
    for (name, value) in headers.clone() {
        push_header(out, name, value);
    }
    let needs_length = !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH");
    if needs_length && !has("content-length") {
        push_header(out, "Content-Length", body.len().to_string().as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// What stampede keeps of one response.
#[derive(Debug, Clone, Copy)]
pub struct ResponseMeta {
    /// HTTP status.
    pub status: u16,
    /// When the first response byte arrived.
    pub first_byte: Instant,
    /// Response bytes read (head and body).
    pub bytes: u64,
    /// Whether the connection may carry another request.
    pub reusable: bool,
}

/// The parts of a response a scenario step reads: every header and the body (up to
/// `body_limit` bytes; the rest is read and counted but not kept).
#[derive(Debug, Default)]
pub struct Kept {
    /// Headers in order, names lower-case.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body (de-chunked), at most `body_limit` bytes.
    pub body: Vec<u8>,
    /// How much body to keep.
    pub body_limit: usize,
}

impl Kept {
    /// An empty record that keeps up to `body_limit` body bytes.
    pub fn new(body_limit: usize) -> Self {
        Kept {
            body_limit,
            ..Kept::default()
        }
    }

    fn clear(&mut self) {
        self.headers.clear();
        self.body.clear();
    }

    /// Keeps `bytes` of the body, up to the body limit.
    pub fn keep_body(&mut self, bytes: &[u8]) {
        let room = self.body_limit.saturating_sub(self.body.len());
        self.body.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

/// One HTTP/1.1 connection over any byte stream (TCP now; TLS later).
#[derive(Debug)]
pub struct Http1Conn<S> {
    io: S,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    capture: Option<Vec<u8>>,
    captured: Vec<u8>,
    /// What the TLS layer said when a read or write failed with a TLS error (an alert
    /// from the server after the handshake, such as a refused client certificate).
    failure_detail: Option<String>,
}

/// Framing of a response body.
enum Body {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Http1Conn<S> {
    /// Wraps a connected stream. When `capture` names a header, its value in each
    /// response is kept and available from [`Http1Conn::captured`].
    pub fn new(io: S, capture: Option<&str>) -> Self {
        Http1Conn {
            io,
            buf: vec![0; INITIAL_BUF].into_boxed_slice(),
            start: 0,
            end: 0,
            capture: capture.map(|c| c.as_bytes().to_ascii_lowercase()),
            captured: Vec::new(),
            failure_detail: None,
        }
    }

    /// Takes the words of the TLS layer about the last failure, if it said any.
    pub fn take_failure_detail(&mut self) -> Option<String> {
        self.failure_detail.take()
    }

    /// Classifies a failed read or write, keeping the TLS layer's words.
    fn io_failure(detail: &mut Option<String>, e: io::Error) -> ErrorClass {
        if let Some(tls) = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            *detail = Some(format!("TLS: {tls}"));
            return crate::tls::classify_tls(&e);
        }
        classify_io(e)
    }

    /// The value of the captured header in the last response (empty if absent).
    pub fn captured(&self) -> &[u8] {
        &self.captured
    }

    /// Writes `request` and reads one complete response. `head_request` is true for
    /// HEAD, whose responses have no body.
    pub async fn exchange(
        &mut self,
        request: &[u8],
        head_request: bool,
    ) -> Result<ResponseMeta, ErrorClass> {
        self.exchange_keeping(request, head_request, None).await
    }

    /// Like [`Http1Conn::exchange`], and when `kept` is given, records the final
    /// response's headers and body into it.
    pub async fn exchange_keeping(
        &mut self,
        request: &[u8],
        head_request: bool,
        mut kept: Option<&mut Kept>,
    ) -> Result<ResponseMeta, ErrorClass> {
        let detail = &mut self.failure_detail;
        self.io
            .write_all(request)
            .await
            .map_err(|e| Self::io_failure(detail, e))?;
        // TLS buffers records until flushed; for plain TCP this is free.
        self.io
            .flush()
            .await
            .map_err(|e| Self::io_failure(detail, e))?;
        loop {
            if let Some(k) = kept.as_deref_mut() {
                k.clear();
            }
            let meta = self
                .read_response(head_request, kept.as_deref_mut())
                .await?;
            // Interim 1xx responses precede the real one.
            if !(100..200).contains(&meta.status) || meta.status == 101 {
                return Ok(meta);
            }
        }
    }

    async fn fill(&mut self) -> Result<usize, ErrorClass> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < MAX_HEAD_BYTES {
                let mut bigger = vec![0; (self.buf.len() * 2).min(MAX_HEAD_BYTES)];
                bigger[..self.end].copy_from_slice(&self.buf[..self.end]);
                self.buf = bigger.into_boxed_slice();
            } else {
                return Err(ErrorClass::TooLarge);
            }
        }
        let detail = &mut self.failure_detail;
        let n = self
            .io
            .read(&mut self.buf[self.end..])
            .await
            .map_err(|e| Self::io_failure(detail, e))?;
        self.end += n;
        Ok(n)
    }

    async fn read_response(
        &mut self,
        head_request: bool,
        mut kept: Option<&mut Kept>,
    ) -> Result<ResponseMeta, ErrorClass> {
        let mut first_byte = None;
        if self.end > self.start {
            first_byte = Some(Instant::now());
        }
        let mut bytes = 0u64;
        // Parse the head.
        let (status, body, reusable, head_len) = loop {
            if self.end > self.start {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut resp = httparse::Response::new(&mut headers);
                match resp.parse(&self.buf[self.start..self.end]) {
                    Ok(httparse::Status::Complete(len)) => {
                        let status = resp.code.unwrap_or(0);
                        let (body, reusable) =
                            framing(&self.capture, &mut self.captured, &resp, head_request)?;
                        if let Some(k) = kept.as_deref_mut() {
                            k.headers.extend(
                                resp.headers
                                    .iter()
                                    .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec())),
                            );
                        }
                        break (status, body, reusable, len);
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(httparse::Error::TooManyHeaders) => return Err(ErrorClass::TooLarge),
                    Err(_) => return Err(ErrorClass::Malformed),
                }
            }
            if self.end - self.start >= MAX_HEAD_BYTES {
                return Err(ErrorClass::TooLarge);
            }
            let n = self.fill().await?;
            if n == 0 {
                return Err(ErrorClass::ClosedEarly);
            }
            first_byte.get_or_insert_with(Instant::now);
        };
        self.start += head_len;
        bytes += head_len as u64;
        let mut reusable = reusable;
        match body {
            Body::None => {}
            Body::Length(n) => bytes += self.discard(n, kept).await?,
            Body::Chunked => bytes += self.discard_chunked(kept).await?,
            Body::UntilClose => {
                bytes += self.discard_until_close(kept).await?;
                reusable = false;
            }
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(ResponseMeta {
            status,
            first_byte: first_byte.unwrap_or_else(Instant::now),
            bytes,
            reusable,
        })
    }

    /// Reads `n` body bytes, keeping them in `kept` if given.
    async fn discard(
        &mut self,
        mut n: u64,
        mut kept: Option<&mut Kept>,
    ) -> Result<u64, ErrorClass> {
        let total = n;
        loop {
            let have = (self.end - self.start) as u64;
            let take = have.min(n) as usize;
            if let Some(k) = kept.as_deref_mut() {
                k.keep_body(&self.buf[self.start..self.start + take]);
            }
            if have >= n {
                self.start += n as usize;
                return Ok(total);
            }
            n -= have;
            self.start = 0;
            self.end = 0;
            if n > self.buf.len() as u64 && self.buf.len() < BODY_BUF {
                self.buf = vec![0; BODY_BUF].into_boxed_slice();
            }
            if self.fill().await? == 0 {
                return Err(ErrorClass::ClosedEarly);
            }
        }
    }

    async fn discard_until_close(
        &mut self,
        mut kept: Option<&mut Kept>,
    ) -> Result<u64, ErrorClass> {
        let mut total = (self.end - self.start) as u64;
        loop {
            if let Some(k) = kept.as_deref_mut() {
                k.keep_body(&self.buf[self.start..self.end]);
            }
            self.start = 0;
            self.end = 0;
            let n = self.fill().await?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
            if total > MAX_BODY_BYTES {
                return Err(ErrorClass::TooLarge);
            }
        }
    }

    /// Reads a CRLF-terminated line in the buffer, returning its length without CRLF.
    async fn line(&mut self) -> Result<usize, ErrorClass> {
        loop {
            if let Some(pos) = self.buf[self.start..self.end]
                .windows(2)
                .position(|w| w == b"\r\n")
            {
                return Ok(pos);
            }
            if self.end - self.start > 4096 {
                return Err(ErrorClass::Malformed);
            }
            if self.fill().await? == 0 {
                return Err(ErrorClass::ClosedEarly);
            }
        }
    }

    async fn discard_chunked(&mut self, mut kept: Option<&mut Kept>) -> Result<u64, ErrorClass> {
        let mut total = 0u64;
        loop {
            let len = self.line().await?;
            let line = &self.buf[self.start..self.start + len];
            let size_text = line.split(|b| *b == b';').next().unwrap_or_default();
            let size = std::str::from_utf8(size_text)
                .ok()
                .and_then(|s| u64::from_str_radix(s.trim(), 16).ok())
                .ok_or(ErrorClass::Malformed)?;
            self.start += len + 2;
            total += len as u64 + 2;
            if size == 0 {
                // Trailer section: lines until an empty one.
                loop {
                    let len = self.line().await?;
                    self.start += len + 2;
                    total += len as u64 + 2;
                    if len == 0 {
                        return Ok(total);
                    }
                }
            }
            if total + size > MAX_BODY_BYTES {
                return Err(ErrorClass::TooLarge);
            }
            total += self.discard(size, kept.as_deref_mut()).await?;
            let crlf = self.line().await?;
            if crlf != 0 {
                return Err(ErrorClass::Malformed);
            }
            self.start += 2;
            total += 2;
        }
    }
}

/// Works out body framing and connection reuse from the head (RFC 9112 §6).
fn framing(
    capture: &Option<Vec<u8>>,
    captured: &mut Vec<u8>,
    resp: &httparse::Response<'_, '_>,
    head_request: bool,
) -> Result<(Body, bool), ErrorClass> {
    let status = resp.code.unwrap_or(0);
    let mut reusable = resp.version == Some(1);
    let mut length: Option<u64> = None;
    let mut chunked = false;
    if capture.is_some() {
        captured.clear();
    }
    for h in resp.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or(ErrorClass::Malformed)?;
            if length.is_some_and(|l| l != v) {
                return Err(ErrorClass::Malformed);
            }
            length = Some(v);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = h
                .value
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in h.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    reusable = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    reusable = true;
                }
            }
        }
        if let Some(capture) = capture {
            if name.eq_ignore_ascii_case(capture) {
                captured.extend_from_slice(h.value);
            }
        }
    }
    let body = if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
        Body::None
    } else if chunked {
        Body::Chunked
    } else if let Some(n) = length {
        if n > MAX_BODY_BYTES {
            return Err(ErrorClass::TooLarge);
        }
        Body::Length(n)
    } else {
        Body::UntilClose
    };
    Ok((body, reusable))
}

/// Maps an I/O failure during an exchange to its class.
pub fn classify_io(e: io::Error) -> ErrorClass {
    match e.kind() {
        io::ErrorKind::ConnectionReset => ErrorClass::Reset,
        io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::NotConnected => ErrorClass::ClosedEarly,
        io::ErrorKind::InvalidData => ErrorClass::Malformed,
        _ => ErrorClass::Io,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target::parse("http://127.0.0.1:8080/p?q=1").unwrap()
    }

    #[test]
    fn encodes_requests() {
        let spec = RequestSpec::default();
        let r = encode_request(&target(), &spec, true);
        assert_eq!(
            String::from_utf8(r).unwrap(),
            format!(
                "GET /p?q=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: stampede/{}\r\n\r\n",
                env!("CARGO_PKG_VERSION")
            )
        );
        let spec = RequestSpec {
            method: "POST".into(),
            headers: vec![("host".into(), "h".into()), ("X-A".into(), "1".into())],
            body: b"hello".to_vec(),
        };
        let r = String::from_utf8(encode_request(&target(), &spec, false)).unwrap();
        assert!(r.starts_with("POST /p?q=1 HTTP/1.1\r\nUser-Agent"), "{r}");
        assert!(
            r.contains("Connection: close\r\nhost: h\r\nX-A: 1\r\nContent-Length: 5\r\n\r\nhello")
        );
    }

    /// Runs one exchange against a scripted server reply on an in-memory duplex pipe.
    async fn exchange_with(reply: &'static [u8], close: bool) -> Result<ResponseMeta, ErrorClass> {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let mut conn = Http1Conn::new(client, Some("x-served-by"));
        let srv = tokio::spawn(async move {
            let mut req = [0u8; 1024];
            let _ = server.read(&mut req).await;
            // Split the reply in two writes to exercise partial parsing.
            let mid = reply.len() / 2;
            server.write_all(&reply[..mid]).await.unwrap();
            tokio::task::yield_now().await;
            server.write_all(&reply[mid..]).await.unwrap();
            if !close {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        });
        let r = conn.exchange(b"GET / HTTP/1.1\r\n\r\n", false).await;
        if let Ok(m) = &r {
            if m.status == 200 && !reply.is_empty() && reply.windows(6).any(|w| w == b"inst-1") {
                assert_eq!(conn.captured(), b"inst-1");
            }
        }
        srv.abort();
        r
    }

    #[tokio::test]
    async fn parses_content_length() {
        let m = exchange_with(
            b"HTTP/1.1 200 OK\r\nX-Served-By: inst-1\r\nContent-Length: 5\r\n\r\nhello",
            false,
        )
        .await
        .unwrap();
        assert_eq!(m.status, 200);
        assert!(m.reusable);
        assert_eq!(m.bytes, 64);
    }

    #[tokio::test]
    async fn parses_chunked_with_trailers() {
        let m = exchange_with(
            b"HTTP/1.1 503 No\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
            false,
        )
        .await
        .unwrap();
        assert_eq!(m.status, 503);
        assert!(m.reusable);
    }

    #[tokio::test]
    async fn body_until_close() {
        let m = exchange_with(b"HTTP/1.0 200 OK\r\n\r\nsome body", true)
            .await
            .unwrap();
        assert_eq!(m.status, 200);
        assert!(!m.reusable);
    }

    #[tokio::test]
    async fn connection_close_is_honoured() {
        let m = exchange_with(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            false,
        )
        .await
        .unwrap();
        assert!(!m.reusable);
    }

    #[tokio::test]
    async fn classifies_failures() {
        assert_eq!(
            exchange_with(b"garbage garbage\r\n\r\n", true)
                .await
                .unwrap_err(),
            ErrorClass::Malformed
        );
        assert_eq!(
            exchange_with(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", true)
                .await
                .unwrap_err(),
            ErrorClass::ClosedEarly
        );
        assert_eq!(
            exchange_with(b"", true).await.unwrap_err(),
            ErrorClass::ClosedEarly
        );
        assert_eq!(
            exchange_with(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", true)
                .await
                .unwrap_err(),
            ErrorClass::Malformed
        );
        assert_eq!(
            exchange_with(
                b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
                true
            )
            .await
            .unwrap_err(),
            ErrorClass::TooLarge
        );
    }

    #[tokio::test]
    async fn skips_interim_responses_and_keeps_pipelined_bytes() {
        let m = exchange_with(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
            false,
        )
        .await
        .unwrap();
        assert_eq!(m.status, 204);
    }

    async fn keep_from(reply: &'static [u8], limit: usize) -> (ResponseMeta, Kept) {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let mut conn = Http1Conn::new(client, None);
        let srv = tokio::spawn(async move {
            let mut req = [0u8; 1024];
            let _ = server.read(&mut req).await;
            for part in reply.chunks(7) {
                server.write_all(part).await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        let mut kept = Kept::new(limit);
        let meta = conn
            .exchange_keeping(b"GET / HTTP/1.1\r\n\r\n", false, Some(&mut kept))
            .await
            .unwrap();
        srv.abort();
        (meta, kept)
    }

    #[tokio::test]
    async fn keeps_headers_and_bodies_when_asked() {
        let (m, k) = keep_from(
            b"HTTP/1.1 201 Created\r\nContent-Length: 11\r\nSet-Cookie: a=1\r\n\r\n{\"id\": 42}\n",
            1024,
        )
        .await;
        assert_eq!(m.status, 201);
        assert_eq!(k.body, b"{\"id\": 42}\n");
        assert!(k
            .headers
            .contains(&("set-cookie".to_string(), b"a=1".to_vec())));

        let (_, k) = keep_from(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            1024,
        )
        .await;
        assert_eq!(k.body, b"hello world");

        // Beyond the limit the body is read but not kept.
        let (m, k) = keep_from(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
            4,
        )
        .await;
        assert_eq!(k.body, b"0123");
        assert!(m.bytes >= 10);
    }
}
