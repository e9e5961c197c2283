//! Integration tests for TLS, HTTP/2 (h2 and h2c), the `/ws` echo and `/poll` long-polling,
//! against a real target on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use stampede_testserver::{FaultProfile, TargetConfig, TargetHandle, TlsSetup};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// Upper bound on any single network step of these tests.
const STEP: Duration = Duration::from_secs(4);

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn start(config: TargetConfig) -> TargetHandle {
    TargetHandle::start(config).expect("start target")
}

fn tls_target() -> TargetHandle {
    let mut config = TargetConfig::new(local());
    config.tls = Some(TlsSetup::SelfSigned);
    start(config)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(pem: &str) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(cert.expect("PEM certificate")).unwrap();
    }
    roots
}

/// A client trusting `ca_pem`, offering `alpn`.
fn client_config(ca_pem: &str, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots(ca_pem))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

async fn tls_connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    name: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(name.to_owned()).unwrap();
    timeout(STEP, TlsConnector::from(config).connect(name, tcp))
        .await
        .expect("TLS handshake finishes in time")
}

/// The rustls error inside an I/O error from tokio-rustls.
fn rustls_error(err: &std::io::Error) -> &rustls::Error {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .unwrap_or_else(|| panic!("not a rustls error: {err:?}"))
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one HTTP/1.1 request on `io` and reads the response (Content-Length bodies only).
async fn http1<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S, method: &str, path: &str) -> Resp {
    let head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
    io.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = timeout(STEP, io.read(&mut chunk))
            .await
            .expect("response in time")
            .unwrap();
        assert!(n > 0, "connection closed before the response head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let mut resp = Resp {
        status,
        headers,
        body: buf[head_end..].to_vec(),
    };
    let len: usize = resp
        .header("content-length")
        .map_or(0, |v| v.parse().unwrap());
    while resp.body.len() < len {
        let mut chunk = vec![0u8; len - resp.body.len()];
        let n = timeout(STEP, io.read(&mut chunk)).await.unwrap().unwrap();
        assert!(n > 0, "connection closed inside the body");
        resp.body.extend_from_slice(&chunk[..n]);
    }
    resp
}

async fn get(addr: SocketAddr, path: &str) -> Resp {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    http1(&mut tcp, "GET", path).await
}

/// Sends one request over an HTTP/2 connection; returns status, headers and body.
async fn h2_request<S>(
    io: S,
    method: &str,
    path: &str,
    body: &[u8],
) -> (http::response::Parts, Bytes)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (client, conn) = timeout(STEP, h2::client::handshake(io))
        .await
        .unwrap()
        .expect("h2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut client = client.ready().await.unwrap();
    let req = http::Request::builder()
        .method(method)
        .uri(format!("http://localhost{path}"))
        .body(())
        .unwrap();
    let (resp, mut send) = client.send_request(req, body.is_empty()).unwrap();
    if !body.is_empty() {
        send.send_data(Bytes::copy_from_slice(body), true).unwrap();
    }
    let resp = timeout(STEP, resp).await.unwrap().expect("h2 response");
    let (parts, mut recv) = resp.into_parts();
    let mut data = Vec::new();
    while let Some(chunk) = timeout(STEP, recv.data()).await.unwrap() {
        let chunk = chunk.unwrap();
        let _ = recv.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    (parts, Bytes::from(data))
}

fn header<'a>(parts: &'a http::response::Parts, name: &str) -> &'a str {
    parts.headers.get(name).unwrap().to_str().unwrap()
}

// ---------------------------------------------------------------------------------------------
// TLS

#[tokio::test]
async fn tls_http1_request_with_the_generated_certificate() {
    let target = tls_target();
    assert_eq!(target.scheme(), "https");
    let pem = target
        .certificate_pem()
        .expect("a certificate PEM")
        .to_owned();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let addr = target.addrs()[0];
    // By name (SNI) and by IP address: the certificate covers both.
    for name in ["localhost", "127.0.0.1"] {
        let config = client_config(&pem, &[b"http/1.1"]);
        let mut tls = tls_connect(addr, config, name).await.expect("handshake");
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        let resp = http1(&mut tls, "GET", "/?size=10&status=404").await;
        assert_eq!(resp.status, 404);
        assert_eq!(resp.body.len(), 10);
        assert_eq!(resp.header("x-protocol"), Some("HTTP/1.1"));
        assert_eq!(resp.header("x-served-by"), Some("target-1"));
        // Keep-alive over TLS.
        let again = http1(&mut tls, "GET", "/").await;
        assert_eq!(again.body, b"ok\n");
    }
    assert_eq!(target.tls_handshakes(), 2);
    assert_eq!(target.requests_served(), 4);
}

#[tokio::test]
async fn tls_alpn_negotiates_h2_and_serves_http2() {
    let target = tls_target();
    let pem = target.certificate_pem().unwrap().to_owned();
    let config = client_config(&pem, &[b"h2", b"http/1.1"]);
    let tls = tls_connect(target.addrs()[0], config, "localhost")
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (parts, body) = h2_request(tls, "GET", "/?size=1k&delay=5ms", b"").await;
    assert_eq!(parts.status, 200);
    assert_eq!(parts.version, http::Version::HTTP_2);
    assert_eq!(header(&parts, "x-protocol"), "HTTP/2");
    assert_eq!(header(&parts, "x-served-by"), "target-1");
    assert_eq!(body.len(), 1024);
}

#[tokio::test]
async fn tls_without_http2_offers_only_http11() {
    let mut config = TargetConfig::new(local());
    config.tls = Some(TlsSetup::SelfSigned);
    config.http2 = false;
    let target = start(config);
    let pem = target.certificate_pem().unwrap().to_owned();
    let client = client_config(&pem, &[b"h2", b"http/1.1"]);
    let mut tls = tls_connect(target.addrs()[0], client, "localhost")
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(http1(&mut tls, "GET", "/").await.status, 200);
}

#[tokio::test]
async fn tls_wrong_name_or_untrusted_certificate_fails() {
    let target = tls_target();
    let pem = target.certificate_pem().unwrap().to_owned();
    let addr = target.addrs()[0];
    let err = tls_connect(addr, client_config(&pem, &[]), "example.com")
        .await
        .expect_err("a name the certificate does not cover");
    assert!(
        matches!(
            rustls_error(&err),
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. }
            )
        ),
        "{err}"
    );

    // A different target's CA does not vouch for this one.
    let other = tls_target();
    let other_pem = other.certificate_pem().unwrap().to_owned();
    assert_ne!(pem, other_pem);
    let err = tls_connect(addr, client_config(&other_pem, &[]), "localhost")
        .await
        .expect_err("an untrusted certificate");
    assert!(
        matches!(
            rustls_error(&err),
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
        ),
        "{err}"
    );
    assert_eq!(target.tls_handshakes(), 0);
}

#[tokio::test]
async fn tls_sessions_resume_with_tickets() {
    let target = tls_target();
    let pem = target.certificate_pem().unwrap().to_owned();
    let config = client_config(&pem, &[b"http/1.1"]);
    for _ in 0..2 {
        let mut tls = tls_connect(target.addrs()[0], Arc::clone(&config), "localhost")
            .await
            .unwrap();
        // Reading the response also receives the session ticket.
        assert_eq!(http1(&mut tls, "GET", "/").await.status, 200);
    }
    assert_eq!(target.tls_handshakes(), 2);
    assert_eq!(target.tls_resumed(), 1);
}

/// A CA and a certificate signed by it, as PEM (certificate, key).
fn issue(ca: &rcgen::Certificate, ca_key: &rcgen::KeyPair, names: &[&str]) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let cert = rcgen::CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, ca, ca_key)
        .unwrap();
    (cert.pem(), key.serialize_pem())
}

fn new_ca() -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    (params.self_signed(&key).unwrap(), key)
}

#[tokio::test]
async fn tls_from_files_with_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let (server_ca, server_ca_key) = new_ca();
    let (cert_pem, key_pem) = issue(&server_ca, &server_ca_key, &["localhost"]);
    let (client_ca, client_ca_key) = new_ca();
    let (client_cert, client_key) = issue(&client_ca, &client_ca_key, &["client"]);
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let mut config = TargetConfig::new(local());
    config.tls = Some(TlsSetup::Files {
        cert: write("cert.pem", &cert_pem),
        key: write("key.pem", &key_pem),
    });
    config.tls_client_ca = Some(write("client-ca.pem", &client_ca.pem()));
    let target = start(config);
    assert_eq!(target.certificate_pem(), Some(cert_pem.as_str()));
    let out = dir.path().join("out.pem");
    target.write_certificate_pem(&out).unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), cert_pem);
    let addr = target.addrs()[0];
    let ca_pem = server_ca.pem();

    // Without a client certificate the server refuses the handshake (with TLS 1.3 the client
    // sees it at its first read; writing first could race the server's close into a reset).
    let refused = async {
        let mut tls = tls_connect(addr, client_config(&ca_pem, &[]), "localhost").await?;
        let mut buf = [0u8; 64];
        tls.read(&mut buf).await
    };
    let err = timeout(STEP, refused).await.unwrap().expect_err("refused");
    assert!(
        matches!(
            rustls_error(&err),
            rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired)
        ),
        "{err}"
    );

    let with_cert = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots(&ca_pem))
        .with_client_auth_cert(
            vec![CertificateDer::from_pem_slice(client_cert.as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(client_key.as_bytes()).unwrap(),
        )
        .unwrap();
    let mut tls = tls_connect(addr, Arc::new(with_cert), "localhost")
        .await
        .unwrap();
    assert_eq!(http1(&mut tls, "GET", "/").await.status, 200);
}

#[test]
fn tls_setup_errors_are_reported_at_start() {
    let mut config = TargetConfig::new(local());
    config.tls = Some(TlsSetup::Files {
        cert: "/nonexistent/cert.pem".into(),
        key: "/nonexistent/key.pem".into(),
    });
    let err = TargetHandle::start(config).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/cert.pem"), "{err}");

    let plain = start(TargetConfig::new(local()));
    assert_eq!(plain.scheme(), "http");
    assert_eq!(plain.certificate_pem(), None);
    assert!(plain.write_certificate_pem("/nonexistent/x.pem").is_err());
}

// ---------------------------------------------------------------------------------------------
// HTTP/2 over plain TCP (h2c, prior knowledge)

#[tokio::test]
async fn h2c_prior_knowledge_serves_every_knob() {
    let mut config = TargetConfig::new(local());
    config.instances = 2;
    let target = start(config);
    let addr = target.addrs()[1];
    let tcp = || async move { TcpStream::connect(addr).await.unwrap() };

    let (parts, body) = h2_request(tcp().await, "GET", "/", b"").await;
    assert_eq!(parts.status, 200);
    assert_eq!(header(&parts, "x-protocol"), "HTTP/2");
    assert_eq!(header(&parts, "x-served-by"), "target-2");
    assert_eq!(body, "ok\n");

    let started = Instant::now();
    let (parts, body) =
        h2_request(tcp().await, "GET", "/?delay=50ms&status=503&size=3k", b"").await;
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(parts.status, 503);
    assert_eq!(header(&parts, "content-length"), "3072");
    assert_eq!(body.len(), 3072);

    let (parts, body) = h2_request(tcp().await, "POST", "/echo", b"hello h2").await;
    assert_eq!(parts.status, 200);
    assert_eq!(body, "hello h2");

    let (parts, body) = h2_request(tcp().await, "GET", "/?delay=soon", b"").await;
    assert_eq!(parts.status, 400);
    assert!(String::from_utf8_lossy(&body).contains("delay"));

    // HTTP/1.1 still works on the same port.
    let resp = get(addr, "/").await;
    assert_eq!(resp.header("x-protocol"), Some("HTTP/1.1"));
    assert_eq!(target.body_bytes_received(), 8);
}

#[tokio::test]
async fn h2c_is_refused_without_http2() {
    let mut config = TargetConfig::new(local());
    config.http2 = false;
    let target = start(config);
    let tcp = TcpStream::connect(target.addrs()[0]).await.unwrap();
    let attempt = async {
        let (mut client, conn) = h2::client::handshake(tcp).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = http::Request::get("http://localhost/").body(()).unwrap();
        let (resp, _) = client.send_request(req, true)?;
        resp.await
    };
    assert!(timeout(STEP, attempt).await.unwrap().is_err());
    assert_eq!(get(target.addrs()[0], "/").await.status, 200);
}

#[tokio::test]
async fn h2_serves_concurrent_streams_on_one_connection() {
    let target = start(TargetConfig::new(local()));
    let tcp = TcpStream::connect(target.addrs()[0]).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let started = Instant::now();
    let mut waits = Vec::new();
    for _ in 0..20 {
        let mut client = client.clone().ready().await.unwrap();
        let req = http::Request::get("http://localhost/?delay=200ms")
            .body(())
            .unwrap();
        let (resp, _) = client.send_request(req, true).unwrap();
        waits.push(resp);
    }
    for resp in waits {
        assert_eq!(timeout(STEP, resp).await.unwrap().unwrap().status(), 200);
    }
    // Twenty 200 ms requests in parallel, not in series.
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(target.connections_accepted(), 1);
    assert_eq!(target.requests_served(), 20);
}

// ---------------------------------------------------------------------------------------------
// WebSocket

type Ws<S> = tokio_tungstenite::WebSocketStream<S>;

async fn ws_connect(addr: SocketAddr, query: &str) -> Result<Ws<TcpStream>, WsError> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let url = format!("ws://{addr}/ws{query}");
    let (ws, resp) = timeout(STEP, tokio_tungstenite::client_async(url, tcp))
        .await
        .expect("upgrade answered in time")?;
    assert_eq!(resp.status(), 101);
    assert_eq!(resp.headers()["x-served-by"], "target-1");
    Ok(ws)
}

async fn next_message<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut Ws<S>) -> Message {
    timeout(STEP, ws.next())
        .await
        .expect("a message in time")
        .expect("stream open")
        .expect("no error")
}

/// Waits (bounded) until `cond` holds.
async fn eventually(cond: impl Fn() -> bool) {
    let deadline = Instant::now() + STEP;
    while !cond() {
        assert!(Instant::now() < deadline, "condition not reached in time");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn ws_echoes_text_binary_and_answers_pings() {
    let target = start(TargetConfig::new(local()));
    let mut ws = ws_connect(target.addrs()[0], "").await.unwrap();
    eventually(|| target.ws_open() == 1).await;

    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(next_message(&mut ws).await, Message::text("hello"));
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(
        next_message(&mut ws).await,
        Message::binary(vec![1u8, 2, 3])
    );
    ws.send(Message::Ping(Bytes::from_static(b"p")))
        .await
        .unwrap();
    assert_eq!(
        next_message(&mut ws).await,
        Message::Pong(Bytes::from_static(b"p"))
    );

    // A burst comes back in order.
    for i in 0..50 {
        ws.feed(Message::text(i.to_string())).await.unwrap();
    }
    ws.flush().await.unwrap();
    for i in 0..50 {
        assert_eq!(next_message(&mut ws).await, Message::text(i.to_string()));
    }
    // Counted after each send completes, which may be just after the client has the echo.
    eventually(|| target.ws_messages() == 52).await;
    assert_eq!(target.ws_upgrades(), 1);

    ws.close(None).await.unwrap();
    eventually(|| target.ws_open() == 0).await;
}

#[tokio::test]
async fn ws_delay_knob_delays_each_echo() {
    let target = start(TargetConfig::new(local()));
    let mut ws = ws_connect(target.addrs()[0], "?delay=100ms").await.unwrap();
    let sent = Instant::now();
    for m in ["a", "b", "c", "d"] {
        ws.send(Message::text(m)).await.unwrap();
    }
    for m in ["a", "b", "c", "d"] {
        assert_eq!(next_message(&mut ws).await, Message::text(m));
    }
    let rtt = sent.elapsed();
    // Pipelined: all four arrive about 100 ms after sending, not 400 ms.
    assert!(rtt >= Duration::from_millis(100), "{rtt:?}");
    assert!(rtt < Duration::from_millis(350), "{rtt:?}");
}

#[tokio::test]
async fn ws_drop_one_echoes_nothing() {
    let target = start(TargetConfig::new(local()));
    let mut ws = ws_connect(target.addrs()[0], "?drop=1").await.unwrap();
    for _ in 0..3 {
        ws.send(Message::text("lost")).await.unwrap();
    }
    // Pings are still answered, so the connection itself is alive.
    ws.send(Message::Ping(Bytes::new())).await.unwrap();
    assert!(matches!(next_message(&mut ws).await, Message::Pong(_)));
    assert!(timeout(Duration::from_millis(200), ws.next())
        .await
        .is_err());
    assert_eq!(target.ws_dropped(), 3);
    assert_eq!(target.ws_messages(), 0);
}

#[tokio::test]
async fn ws_reject_and_bad_upgrades_are_answered() {
    let target = start(TargetConfig::new(local()));
    let addr = target.addrs()[0];
    match ws_connect(addr, "?reject=1").await {
        Err(WsError::Http(resp)) => {
            assert_eq!(resp.status(), 403);
            assert_eq!(resp.headers()["x-served-by"], "target-1");
        }
        other => panic!("expected 403, got {other:?}"),
    }
    match ws_connect(addr, "?drop=2").await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status(), 400),
        other => panic!("expected 400, got {other:?}"),
    }
    // A plain GET on /ws is not an upgrade.
    let resp = get(addr, "/ws").await;
    assert_eq!(resp.status, 400);
    assert!(String::from_utf8_lossy(&resp.body).contains("Upgrade"));
    assert_eq!(target.ws_upgrades(), 0);
}

#[tokio::test]
async fn ws_close_after_closes_the_socket() {
    let target = start(TargetConfig::new(local()));
    // The server's clock for `close-after` starts after this one.
    let before = Instant::now();
    let mut ws = ws_connect(target.addrs()[0], "?close-after=150ms")
        .await
        .unwrap();
    match next_message(&mut ws).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected a close frame, got {other:?}"),
    }
    assert!(before.elapsed() >= Duration::from_millis(150));
    // The client answers the close; then the stream ends.
    assert!(timeout(STEP, ws.next()).await.unwrap().is_none());
    eventually(|| target.ws_open() == 0).await;
}

#[tokio::test]
async fn ws_over_tls() {
    let target = tls_target();
    let pem = target.certificate_pem().unwrap().to_owned();
    let addr = target.addrs()[0];
    // WebSocket upgrades are HTTP/1.1: a client offering h2 still gets it via http/1.1.
    let tls = tls_connect(addr, client_config(&pem, &[b"http/1.1"]), "localhost")
        .await
        .unwrap();
    let url = format!("wss://localhost:{}/ws", addr.port());
    let (mut ws, _) = timeout(STEP, tokio_tungstenite::client_async(url, tls))
        .await
        .unwrap()
        .unwrap();
    ws.send(Message::text("secure")).await.unwrap();
    assert_eq!(next_message(&mut ws).await, Message::text("secure"));
}

#[tokio::test]
async fn ws_upgrade_follows_the_fault_profile() {
    let mut config = TargetConfig::new(local());
    config.default_profile = FaultProfile::default()
        .parse_overrides("error-rate=1,error-status=502")
        .unwrap();
    let target = start(config);
    match ws_connect(target.addrs()[0], "").await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status(), 502),
        other => panic!("expected 502, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Long-polling

#[tokio::test]
async fn poll_answers_204_when_the_hold_elapses() {
    let target = start(TargetConfig::new(local()));
    let started = Instant::now();
    let resp = get(target.addrs()[0], "/poll?hold=200ms").await;
    let held = started.elapsed();
    assert_eq!(resp.status, 204);
    assert!(resp.body.is_empty());
    assert!(held >= Duration::from_millis(200), "{held:?}");
    assert!(held < Duration::from_secs(1), "{held:?}");
    assert_eq!(resp.header("x-served-by"), Some("target-1"));
    assert_eq!(target.polls_waiting(), 0);
}

#[tokio::test]
async fn poll_event_after_answers_earlier() {
    let target = start(TargetConfig::new(local()));
    let started = Instant::now();
    let resp = get(target.addrs()[0], "/poll?hold=3s&event-after=100ms").await;
    let held = started.elapsed();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, br#"{"event":1}"#);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert!(held >= Duration::from_millis(100), "{held:?}");
    assert!(held < Duration::from_secs(1), "{held:?}");
    // Bad knobs are named.
    let bad = get(target.addrs()[0], "/poll?hold=forever").await;
    assert_eq!(bad.status, 400);
    assert!(String::from_utf8_lossy(&bad.body).contains("hold"));
}

#[tokio::test]
async fn poll_event_every_answers_all_held_polls() {
    let mut config = TargetConfig::new(local());
    config.poll_event_every = Some(Duration::from_millis(400));
    let target = start(config);
    let addr = target.addrs()[0];
    let polls: Vec<_> = (0..3)
        .map(|_| tokio::spawn(async move { get(addr, "/poll?hold=4s").await }))
        .collect();
    eventually(|| target.polls_waiting() == 3).await;
    let mut bodies = Vec::new();
    for poll in polls {
        let resp = poll.await.unwrap();
        assert_eq!(resp.status, 200);
        bodies.push(String::from_utf8(resp.body).unwrap());
    }
    // One event answered all three.
    assert!(bodies.iter().all(|b| b == &bodies[0]), "{bodies:?}");
    assert!(bodies[0].starts_with(r#"{"event":"#));
    assert_eq!(target.polls_waiting(), 0);

    // Over HTTP/2 too.
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (parts, body) = h2_request(tcp, "GET", "/poll?hold=3s", b"").await;
    assert_eq!(parts.status, 200);
    assert_eq!(header(&parts, "x-protocol"), "HTTP/2");
    assert!(body.starts_with(br#"{"event":"#));
}

#[tokio::test]
async fn poll_waits_out_stalls() {
    let mut config = TargetConfig::new(local());
    config.default_profile = FaultProfile::default()
        .parse_overrides("stall=300ms,stall-every=400ms")
        .unwrap();
    let before_start = Instant::now();
    let target = start(config);
    // The hold ends at about 400 ms, inside the first stall window [400 ms, 700 ms) of the
    // target's clock, which started after `before_start`.
    let resp = get(target.addrs()[0], "/poll?hold=400ms").await;
    assert_eq!(resp.status, 204);
    assert!(before_start.elapsed() >= Duration::from_millis(700));
}
