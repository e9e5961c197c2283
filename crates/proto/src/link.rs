//! Connections as the worker sees them: how to open one (TCP, then TLS, then the HTTP
//! version) and how a request slot sends one request over it.
//!
//! A *slot* is one request in flight at a time. With HTTP/1.1 a slot owns its connection.
//! With HTTP/2, `streams` slots share one connection (an [`H2Cell`]), so N connections ×
//! S streams gives N·S concurrent requests.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustls::pki_types::ServerName;
use stampede_metrics::{ErrorClass, Protocol};
use stampede_plan::{RequestSpec, Target};
use tokio_rustls::TlsConnector;

use crate::connect::connect_tcp;
use crate::http1::{classify_io, Http1Conn, Kept, ResponseMeta, MAX_BODY_BYTES};
use crate::stream::Stream;
use crate::tls::classify_tls;

/// How to reach the target.
pub struct Connector {
    /// The target's addresses (at least one).
    pub addrs: Vec<SocketAddr>,
    /// TLS: the connector and the server name to verify; `None` for plain TCP.
    pub tls: Option<(TlsConnector, ServerName<'static>)>,
    /// How long a TCP connect may take.
    pub timeout: Duration,
    /// Connections opened so far by every worker: the next one goes to
    /// `addrs[opened % addrs.len()]`, so connections spread evenly over the addresses.
    pub opened: AtomicUsize,
}

/// A freshly opened stream and what opening it cost.
pub struct Opened {
    /// The connected stream.
    pub stream: Stream,
    /// The address it is connected to.
    pub peer: SocketAddr,
    /// TCP connect time.
    pub connect: Duration,
    /// TLS handshake time, for TLS connections.
    pub tls: Option<Duration>,
}

impl Connector {
    /// A connector for `addrs` (at least one).
    pub fn new(
        addrs: Vec<SocketAddr>,
        tls: Option<(TlsConnector, ServerName<'static>)>,
        timeout: Duration,
    ) -> Self {
        Connector {
            addrs,
            tls,
            timeout,
            opened: AtomicUsize::new(0),
        }
    }

    /// The address the next connection goes to (round-robin over all workers).
    pub fn next_peer(&self) -> SocketAddr {
        let n = self.opened.fetch_add(1, Ordering::Relaxed);
        self.addrs[n % self.addrs.len()]
    }

    /// Opens a connection to `peer`. A failure names the peer, so that it can be
    /// attributed to the instance that failed.
    pub async fn open(&self, peer: SocketAddr) -> Result<Opened, Failure> {
        self.open_inner(peer).await.map_err(|mut f| {
            f.peer = Some(peer);
            f
        })
    }

    async fn open_inner(&self, peer: SocketAddr) -> Result<Opened, Failure> {
        let t0 = Instant::now();
        let tcp = connect_tcp(peer, self.timeout)
            .await
            .map_err(|(class, detail)| Failure::detailed(class, detail))?;
        let connect = t0.elapsed();
        match &self.tls {
            None => Ok(Opened {
                stream: Stream::Tcp(tcp),
                peer,
                connect,
                tls: None,
            }),
            Some((connector, name)) => {
                let t1 = Instant::now();
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| Failure::detailed(classify_tls(&e), format!("TLS: {e}")))?;
                Ok(Opened {
                    stream: Stream::Tls(Box::new(tls)),
                    peer,
                    connect,
                    tls: Some(t1.elapsed()),
                })
            }
        }
    }
}

/// The request, prepared once per run in each protocol's form.
pub struct PreparedRequest {
    /// The HTTP/1.1 bytes (empty for a request built for HTTP/2 only).
    pub h1: Vec<u8>,
    /// A HEAD request: its response has no body.
    pub head: bool,
    h2: http::Request<()>,
    body: Bytes,
    /// The bytes an HTTP/2 send puts on the wire before compression: header names and
    /// values (the pseudo-headers included) and the body.
    h2_len: u64,
}

impl PreparedRequest {
    /// The run's request for `target`, in both forms.
    pub fn new(target: &Target, spec: &RequestSpec, keep_alive: bool) -> Self {
        let h2 = h2_head(
            target.scheme.is_tls(),
            &target.authority,
            &spec.method,
            &target.path_and_query,
            spec.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())),
        );
        PreparedRequest {
            h1: crate::http1::encode_request(target, spec, keep_alive),
            head: spec.method == "HEAD",
            h2_len: h2_len(&h2, spec.body.len()),
            h2,
            body: Bytes::from(spec.body.clone()),
        }
    }

    /// The request's size on the wire: its HTTP/1.1 bytes, or for HTTP/2 its header
    /// fields and body.
    pub fn wire_len(&self, http2: bool) -> u64 {
        match http2 {
            true => self.h2_len,
            false => self.h1.len() as u64,
        }
    }

    /// A request built per send (scenario steps with templates or cookies), in the one
    /// form the connection needs: HTTP/1.1 bytes, or an HTTP/2 head and body.
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts<'h>(
        tls: bool,
        authority: &str,
        method: &str,
        path_and_query: &str,
        headers: impl Iterator<Item = (&'h str, &'h [u8])> + Clone,
        body: Vec<u8>,
        http2: bool,
        keep_alive: bool,
    ) -> Self {
        if http2 {
            let h2 = h2_head(tls, authority, method, path_and_query, headers);
            PreparedRequest {
                h1: Vec::new(),
                head: method == "HEAD",
                h2_len: h2_len(&h2, body.len()),
                h2,
                body: Bytes::from(body),
            }
        } else {
            let mut h1 = Vec::with_capacity(160 + body.len());
            crate::http1::encode_parts(
                &mut h1,
                method,
                path_and_query,
                authority,
                headers,
                &body,
                keep_alive,
            );
            PreparedRequest {
                h1,
                head: method == "HEAD",
                h2: http::Request::new(()),
                body: Bytes::new(),
                h2_len: 0,
            }
        }
    }

    fn h2_request(&self) -> http::Request<()> {
        let mut r = http::Request::new(());
        *r.method_mut() = self.h2.method().clone();
        *r.uri_mut() = self.h2.uri().clone();
        *r.headers_mut() = self.h2.headers().clone();
        r
    }
}

/// The size of an HTTP/2 request before HPACK: each header field as name, value and
/// the 2 bytes of `": "` that HTTP/1.1 would spend (the measure used for responses),
/// the pseudo-headers included, and the body.
fn h2_len(head: &http::Request<()>, body: usize) -> u64 {
    let uri = head.uri();
    let pseudo = [
        (":method", head.method().as_str().len()),
        (":scheme", uri.scheme_str().map_or(0, str::len)),
        (
            ":authority",
            uri.authority().map_or(0, |a| a.as_str().len()),
        ),
        (
            ":path",
            uri.path_and_query().map_or(1, |p| p.as_str().len()),
        ),
    ];
    let pseudo: usize = pseudo.iter().map(|(n, v)| n.len() + v + 2).sum();
    let fields: usize = head
        .headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 2)
        .sum();
    (pseudo + fields + body) as u64
}

/// The HTTP/2 request head: `:authority` from the URL, no connection-specific headers.
fn h2_head<'h>(
    tls: bool,
    authority: &str,
    method: &str,
    path_and_query: &str,
    headers: impl Iterator<Item = (&'h str, &'h [u8])>,
) -> http::Request<()> {
    let scheme = if tls { "https" } else { "http" };
    let uri: http::Uri = format!("{scheme}://{authority}{path_and_query}")
        .parse()
        .unwrap_or_else(|_| http::Uri::from_static("/"));
    let mut h2 = http::Request::new(());
    *h2.method_mut() = http::Method::from_bytes(method.as_bytes()).unwrap_or(http::Method::GET);
    *h2.uri_mut() = uri;
    let map = h2.headers_mut();
    map.insert(
        http::header::USER_AGENT,
        http::HeaderValue::from_static(concat!("stampede/", env!("CARGO_PKG_VERSION"))),
    );
    for (name, value) in headers {
        // HTTP/2 carries the host in :authority and forbids connection headers.
        let lower = name.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "host" | "connection" | "keep-alive" | "transfer-encoding" | "upgrade"
        ) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(lower.as_bytes()),
            http::HeaderValue::from_bytes(value),
        ) {
            map.append(n, v);
        }
    }
    h2
}

/// An HTTP/2 connection shared by several slots.
#[derive(Default)]
pub struct H2Cell {
    conn: tokio::sync::Mutex<Option<H2Shared>>,
    generation: Cell<u64>,
}

#[derive(Clone)]
struct H2Shared {
    send: h2::client::SendRequest<Bytes>,
    generation: u64,
    peer_group: Option<usize>,
}

/// What a slot holds between requests.
pub enum Link {
    /// Not connected.
    None,
    /// An HTTP/1.1 connection owned by this slot.
    H1 {
        /// The connection.
        conn: Box<Http1Conn<Stream>>,
        /// Its peer's row, under `--group-by peer`.
        peer_group: Option<usize>,
    },
    /// A handle on a shared HTTP/2 connection.
    H2 {
        /// The handle that opens streams.
        send: h2::client::SendRequest<Bytes>,
        /// Which connection of the shared cell this is (a retired one is not reused).
        generation: u64,
        /// Its peer's row, under `--group-by peer`.
        peer_group: Option<usize>,
    },
}

/// What one exchange produced.
pub struct Exchange {
    /// Status, first byte, size and reuse of the response.
    pub meta: ResponseMeta,
    /// When the request left.
    pub sent: Instant,
}

/// A failed attempt: its class, the words of the
/// layer that failed, where they add to the class, and the peer it failed on, when that
/// is known and the connection never became a slot's link (a failed connect).
pub struct Failure {
    /// What failed.
    pub class: ErrorClass,
    /// The failing layer's words, where they add to the class.
    pub detail: Option<String>,
    /// The peer, when the failure was opening a connection to it.
    pub peer: Option<SocketAddr>,
}

impl Failure {
    /// A failure known only by its class.
    pub fn new(class: ErrorClass) -> Self {
        Failure {
            class,
            detail: None,
            peer: None,
        }
    }

    /// A failure with the failing layer's words.
    pub fn detailed(class: ErrorClass, detail: String) -> Self {
        Failure {
            class,
            detail: Some(detail),
            peer: None,
        }
    }
}

/// Called when a slot opens a new connection: records connect and TLS times and the
/// protocol, and returns the connection's peer group. `protocol` is `None` while it is
/// not settled (a WebSocket before its upgrade); the caller counts it once it is.
pub trait OnOpen {
    /// Records `opened` and returns its peer's row.
    fn opened(&mut self, opened: &Opened, protocol: Option<Protocol>) -> Option<usize>;
}

/// One request slot.
pub struct Slot {
    /// The connection, if any.
    pub link: Link,
    /// The shared HTTP/2 connection this slot uses, if in HTTP/2 mode.
    pub h2_cell: Option<Rc<H2Cell>>,
    /// The captured group header of the last response.
    pub captured: Vec<u8>,
    capture: Option<http::HeaderName>,
    /// The address of the last connection this slot tried to open: a connect that
    /// timed out is attributed to it.
    pub last_peer: Option<SocketAddr>,
}

impl Slot {
    /// A slot; HTTP/2 slots share `h2_cell`. `capture` names a response header to keep.
    pub fn new(h2_cell: Option<Rc<H2Cell>>, capture: Option<&str>) -> Self {
        Slot {
            link: Link::None,
            h2_cell,
            captured: Vec::new(),
            capture: capture.and_then(|c| http::HeaderName::from_bytes(c.as_bytes()).ok()),
            last_peer: None,
        }
    }

    /// True when this slot sends over HTTP/2.
    pub fn is_http2(&self) -> bool {
        self.h2_cell.is_some()
    }

    /// True when this slot has a live connection (or a handle on one).
    pub fn is_connected(&self) -> bool {
        !matches!(self.link, Link::None)
    }

    /// The peer group of the current connection.
    pub fn peer_group(&self) -> Option<usize> {
        match &self.link {
            Link::None => None,
            Link::H1 { peer_group, .. } | Link::H2 { peer_group, .. } => *peer_group,
        }
    }

    /// Ensures a connection: opens one (HTTP/1.1) or joins/creates the shared one
    /// (HTTP/2).
    pub async fn connect(
        &mut self,
        connector: &Connector,
        on_open: &mut impl OnOpen,
    ) -> Result<(), Failure> {
        if self.is_connected() {
            return Ok(());
        }
        let Some(cell) = self.h2_cell.clone() else {
            let peer = connector.next_peer();
            self.last_peer = Some(peer);
            let opened = connector.open(peer).await?;
            if let Some(p) = opened.stream.alpn().filter(|p| *p != b"http/1.1") {
                return Err(alpn_mismatch("http/1.1", p));
            }
            let peer_group = on_open.opened(&opened, Some(Protocol::Http1));
            let capture = self.capture.as_ref().map(|c| c.as_str());
            self.link = Link::H1 {
                conn: Box::new(Http1Conn::new(opened.stream, capture)),
                peer_group,
            };
            return Ok(());
        };
        let mut guard = cell.conn.lock().await;
        if guard.is_none() {
            let peer = connector.next_peer();
            self.last_peer = Some(peer);
            let opened = connector.open(peer).await?;
            if let Some(p) = opened.stream.alpn().filter(|p| *p != b"h2") {
                return Err(alpn_mismatch("h2", p));
            }
            let peer_group = on_open.opened(&opened, Some(Protocol::Http2));
            let (send, connection) = h2::client::Builder::new()
                .initial_window_size(1 << 20)
                .initial_connection_window_size(1 << 22)
                .handshake::<_, Bytes>(opened.stream)
                .await
                .map_err(|e| Failure::detailed(classify_h2_ref(&e), format!("HTTP/2: {e}")))?;
            tokio::task::spawn_local(async move {
                let _ = connection.await;
            });
            let generation = cell.generation.get() + 1;
            cell.generation.set(generation);
            *guard = Some(H2Shared {
                send,
                generation,
                peer_group,
            });
        }
        let shared = guard.clone().expect("set above");
        self.link = Link::H2 {
            send: shared.send,
            generation: shared.generation,
            peer_group: shared.peer_group,
        };
        Ok(())
    }

    /// Drops this slot's connection; for HTTP/2 also retires the shared connection so
    /// the next slot opens a fresh one.
    pub fn disconnect(&mut self) {
        if let (Link::H2 { generation, .. }, Some(cell)) = (&self.link, &self.h2_cell) {
            if let Ok(mut guard) = cell.conn.try_lock() {
                if guard.as_ref().is_some_and(|s| s.generation == *generation) {
                    *guard = None;
                }
            }
        }
        self.link = Link::None;
    }

    /// Sends one request on the connection and reads the whole response; when `kept` is
    /// given, records the response's headers and body into it. `sent` is when the
    /// request leaves, if the caller just read the clock (saves a clock read per
    /// request); otherwise it is read here.
    pub async fn exchange_keeping(
        &mut self,
        req: &PreparedRequest,
        kept: Option<&mut Kept>,
        sent: Option<Instant>,
    ) -> Result<Exchange, Failure> {
        match &mut self.link {
            Link::None => Err(Failure::new(ErrorClass::Io)),
            Link::H1 { conn, .. } => {
                let sent = sent.unwrap_or_else(Instant::now);
                let meta = conn
                    .exchange_keeping(&req.h1, req.head, kept)
                    .await
                    .map_err(|class| Failure {
                        class,
                        detail: conn.take_failure_detail(),
                        peer: None,
                    })?;
                if self.capture.is_some() {
                    self.captured.clear();
                    self.captured.extend_from_slice(conn.captured());
                }
                Ok(Exchange { meta, sent })
            }
            // Boxed: the HTTP/2 path's state is large, and keeping it out of line keeps
            // every HTTP/1.1 connection task small.
            Link::H2 { send, .. } => {
                let send = send.clone();
                Box::pin(Self::exchange_h2(
                    send,
                    &self.capture,
                    &mut self.captured,
                    req,
                    kept,
                ))
                .await
            }
        }
    }

    async fn exchange_h2(
        send: h2::client::SendRequest<Bytes>,
        capture: &Option<http::HeaderName>,
        captured: &mut Vec<u8>,
        req: &PreparedRequest,
        mut kept: Option<&mut Kept>,
    ) -> Result<Exchange, Failure> {
        {
            {
                let mut ready = send.ready().await.map_err(h2_failure)?;
                let sent = Instant::now();
                let fail = h2_failure;
                let (response, mut stream) = ready
                    .send_request(req.h2_request(), req.body.is_empty())
                    .map_err(fail)?;
                if !req.body.is_empty() {
                    stream.send_data(req.body.clone(), true).map_err(fail)?;
                }
                let response = response.await.map_err(fail)?;
                let first_byte = Instant::now();
                let status = response.status().as_u16();
                if let Some(name) = capture {
                    captured.clear();
                    if let Some(v) = response.headers().get(name) {
                        captured.extend_from_slice(v.as_bytes());
                    }
                }
                if let Some(k) = kept.as_deref_mut() {
                    k.headers.clear();
                    k.body.clear();
                    k.headers.extend(
                        response
                            .headers()
                            .iter()
                            .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec())),
                    );
                }
                let mut bytes: u64 = response
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.as_str().len() + v.len() + 2) as u64)
                    .sum();
                let mut body = response.into_body();
                while let Some(chunk) = body.data().await {
                    let chunk = chunk.map_err(fail)?;
                    bytes += chunk.len() as u64;
                    let _ = body.flow_control().release_capacity(chunk.len());
                    if let Some(k) = kept.as_deref_mut() {
                        k.keep_body(&chunk);
                    }
                    if bytes > MAX_BODY_BYTES {
                        return Err(Failure::new(ErrorClass::TooLarge));
                    }
                }
                Ok(Exchange {
                    meta: ResponseMeta {
                        status,
                        first_byte,
                        bytes,
                        reusable: true,
                    },
                    sent,
                })
            }
        }
    }
}

/// Classifies an HTTP/2 failure.
fn classify_h2_ref(e: &h2::Error) -> ErrorClass {
    if e.is_go_away() {
        ErrorClass::GoAway
    } else if e.is_reset() {
        ErrorClass::StreamReset
    } else if let Some(io) = e.get_io() {
        classify_io(std::io::Error::new(io.kind(), ""))
    } else {
        ErrorClass::Malformed
    }
}

fn h2_failure(e: h2::Error) -> Failure {
    Failure {
        class: classify_h2_ref(&e),
        detail: Some(format!("HTTP/2: {e}")),
        peer: None,
    }
}

fn alpn_mismatch(wanted: &str, got: &[u8]) -> Failure {
    Failure::detailed(
        ErrorClass::AlpnMismatch,
        format!(
            "asked for {wanted}, server chose {}",
            String::from_utf8_lossy(got)
        ),
    )
}

/// A prepared TLS connector for the run, if the scheme needs one.
pub fn tls_connector(
    config: Option<Arc<rustls::ClientConfig>>,
    host: &str,
) -> Result<Option<(TlsConnector, ServerName<'static>)>, crate::tls::TlsSetupError> {
    match config {
        None => Ok(None),
        Some(c) => Ok(Some((
            TlsConnector::from(c),
            crate::tls::server_name(host)?,
        ))),
    }
}
