//! WebSocket connections for fleet runs and scenario steps: connect and upgrade (the one
//! handshake of the engine), send messages on a schedule
//! (or back to back), match replies, hold the connection, reconnect.
//!
//! Each message carries a prefix `stampede:<seq>:` so an echo is matched to its send;
//! a reply without the prefix answers the oldest outstanding message (a matched reply
//! from a server that does not echo). A message with no reply within the request
//! timeout counts as a timeout; when a connection drops, the caller counts its unanswered
//! messages as `ws_dropped` errors.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use stampede_metrics::ErrorClass;
use stampede_plan::Target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::generate_request;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use crate::http1::classify_io;
use crate::link::{Connector, Failure, OnOpen};
use crate::stream::Stream;

/// The largest upgrade response head we read.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// Small buffers: a device fleet is thousands of mostly idle sockets. The read buffer
/// fits the messages this run sends (an echo comes back the same size); larger frames
/// still arrive whole, the buffer grows for them.
fn config(read_buffer: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        .write_buffer_size(0)
        .max_write_buffer_size(1 << 20)
        .max_message_size(Some(16 << 20))
}

/// The upgrade request, prepared once.
pub struct WsRequest {
    url: String,
    host: String,
    headers: Vec<(String, String)>,
    payload: String,
    /// The connection's initial read buffer: room for one reply to our message.
    read_buffer: usize,
}

impl WsRequest {
    /// The upgrade request and message of a fleet run against `target`.
    pub fn new(target: &Target, headers: &[(String, String)], body: &[u8]) -> Self {
        let payload = if body.is_empty() {
            "ping".to_string()
        } else {
            String::from_utf8_lossy(body).into_owned()
        };
        // "stampede:<seq>:" and the frame header.
        let read_buffer = (payload.len() + 48)
            .next_power_of_two()
            .clamp(1024, 64 * 1024);
        WsRequest {
            url: target.url.to_string(),
            host: target.authority.clone(),
            headers: headers.to_vec(),
            payload,
            read_buffer,
        }
    }

    /// The upgrade request of one scenario virtual user: its rendered `url` and
    /// headers. Its messages are the steps' own, so the read buffer is a default size.
    pub fn for_user(url: String, host: String, headers: Vec<(String, String)>) -> Self {
        WsRequest {
            url,
            host,
            headers,
            payload: String::new(),
            read_buffer: 4 * 1024,
        }
    }

    fn request(&self) -> Result<http::Request<()>, tungstenite::Error> {
        let mut req = self.url.as_str().into_client_request()?;
        let h = req.headers_mut();
        if let Ok(v) = http::HeaderValue::from_str(&self.host) {
            h.insert(http::header::HOST, v);
        }
        for (name, value) in &self.headers {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(value),
            ) {
                h.insert(n, v);
            }
        }
        Ok(req)
    }
}

/// An open WebSocket with its bookkeeping.
pub struct WsConn {
    ws: WebSocketStream<Stream>,
    next_seq: u64,
    /// Sent and not yet answered: (seq, intended, sent).
    outstanding: VecDeque<(u64, Instant, Instant)>,
    /// The peer's row, under `--group-by peer`.
    pub peer_group: Option<usize>,
}

/// What happened while waiting on a connection.
pub enum WsEvent {
    /// A reply matched a send: (intended, sent, reply bytes).
    Answered(Instant, Instant, usize),
    /// A frame that is not a reply (ping, pong, unmatched).
    Other,
    /// The connection ended without our asking.
    Dropped(Failure),
}

/// Connects and upgrades; records connect and TLS times. Returns the connection and
/// the upgrade time. The caller counts the protocol: only an upgraded connection is a
/// WebSocket.
pub async fn open(
    connector: &Connector,
    req: &WsRequest,
    on_open: &mut impl OnOpen,
) -> Result<(WsConn, std::time::Duration), Failure> {
    let opened = connector.open(connector.next_peer()).await?;
    let request = req.request().map_err(|e| fail(ErrorClass::WsUpgrade, e))?;
    let peer_group = on_open.opened(&opened, None);
    let t0 = Instant::now();
    let ws = upgrade(opened.stream, request, req.read_buffer).await?;
    Ok((
        WsConn {
            ws,
            next_seq: 0,
            outstanding: VecDeque::new(),
            peer_group,
        },
        t0.elapsed(),
    ))
}

/// The client side of the HTTP/1.1 upgrade (RFC 6455 section 4.1). Done here rather
/// than by tungstenite's handshake, whose 4 KiB read buffer would stay with every
/// connection: here the response is read into a short-lived buffer, and the
/// connection keeps only `read_buffer` bytes (plus any frames that came with the
/// response).
async fn upgrade(
    mut stream: Stream,
    request: http::Request<()>,
    read_buffer: usize,
) -> Result<WebSocketStream<Stream>, Failure> {
    let io_fail = |e: std::io::Error| fail(classify_io(std::io::Error::new(e.kind(), "")), e);
    let (head, key) = generate_request(request).map_err(|e| fail(ErrorClass::WsUpgrade, e))?;
    stream.write_all(&head).await.map_err(io_fail)?;
    stream.flush().await.map_err(io_fail)?;
    let mut buf = Vec::with_capacity(1024);
    let tail = loop {
        if buf.len() == buf.capacity() {
            if buf.len() >= MAX_RESPONSE_HEAD {
                return Err(fail(
                    ErrorClass::WsUpgrade,
                    "upgrade response head too large",
                ));
            }
            buf.reserve(buf.len());
        }
        if stream.read_buf(&mut buf).await.map_err(io_fail)? == 0 {
            return Err(fail(
                ErrorClass::WsUpgrade,
                "connection closed before the upgrade response",
            ));
        }
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&buf) {
            Ok(httparse::Status::Partial) => continue,
            Ok(httparse::Status::Complete(len)) => {
                check_upgrade(&response, &key)?;
                // Frames that came with the response, in a buffer of their own size.
                break buf[len..].to_vec();
            }
            Err(e) => return Err(fail(ErrorClass::WsUpgrade, format!("bad response: {e}"))),
        }
    };
    drop(buf);
    Ok(
        WebSocketStream::from_partially_read(stream, tail, Role::Client, Some(config(read_buffer)))
            .await,
    )
}

/// The checks RFC 6455 asks of the client: 101, `Upgrade: websocket`,
/// `Connection: upgrade` and the accept key derived from ours.
fn check_upgrade(response: &httparse::Response<'_, '_>, key: &str) -> Result<(), Failure> {
    let code = response.code.unwrap_or(0);
    if code != 101 {
        let reason = response.reason.unwrap_or("");
        return Err(fail(
            ErrorClass::WsUpgrade,
            format!("server answered {code} {reason}, not 101 Switching Protocols"),
        ));
    }
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let has_token = |name: &str, token: &str| {
        header(name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if !has_token("upgrade", "websocket") {
        return Err(fail(
            ErrorClass::WsUpgrade,
            "no `Upgrade: websocket` in the response",
        ));
    }
    if !has_token("connection", "upgrade") {
        return Err(fail(
            ErrorClass::WsUpgrade,
            "no `Connection: upgrade` in the response",
        ));
    }
    if header("sec-websocket-accept") != Some(derive_accept_key(key.as_bytes()).as_bytes()) {
        return Err(fail(ErrorClass::WsUpgrade, "wrong Sec-WebSocket-Accept"));
    }
    Ok(())
}

fn fail(class: ErrorClass, e: impl std::fmt::Display) -> Failure {
    Failure {
        class,
        detail: Some(format!("WebSocket: {e}")),
        peer: None,
    }
}

impl WsConn {
    /// Sends one message intended at `intended`; returns when it left and its size.
    pub async fn send(
        &mut self,
        intended: Instant,
        req: &WsRequest,
    ) -> Result<(Instant, usize), Failure> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let text = format!("stampede:{seq}:{}", req.payload);
        let len = text.len();
        let sent = Instant::now();
        self.ws
            .send(Message::text(text))
            .await
            .map_err(|e| fail(ErrorClass::WsDropped, e))?;
        self.outstanding.push_back((seq, intended, sent));
        Ok((sent, len))
    }

    /// The socket itself, for scenario steps that send and match their own messages.
    pub fn socket(&mut self) -> &mut WebSocketStream<Stream> {
        &mut self.ws
    }

    /// The oldest unanswered send: (intended, sent).
    pub fn oldest(&self) -> Option<(Instant, Instant)> {
        self.outstanding.front().map(|(_, i, s)| (*i, *s))
    }

    /// Forgets the oldest unanswered send (it timed out).
    pub fn expire_oldest(&mut self) {
        self.outstanding.pop_front();
    }

    /// Messages sent and not answered.
    pub fn pending(&self) -> usize {
        self.outstanding.len()
    }

    /// Waits for the next frame.
    pub async fn next(&mut self) -> WsEvent {
        match self.ws.next().await {
            Some(Ok(Message::Text(t))) => self.answer(t.as_bytes()),
            Some(Ok(Message::Binary(b))) => self.answer(&b),
            Some(Ok(Message::Close(frame))) => WsEvent::Dropped(fail(
                ErrorClass::WsDropped,
                format!("server closed the connection ({frame:?})"),
            )),
            Some(Ok(_)) => WsEvent::Other,
            Some(Err(e)) => WsEvent::Dropped(fail(ErrorClass::WsDropped, e)),
            None => WsEvent::Dropped(fail(ErrorClass::WsDropped, "connection closed")),
        }
    }

    fn answer(&mut self, data: &[u8]) -> WsEvent {
        let seq = data
            .strip_prefix(b"stampede:")
            .and_then(|rest| rest.split(|b| *b == b':').next())
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.parse::<u64>().ok());
        let index = match seq {
            Some(seq) => self.outstanding.iter().position(|(s, _, _)| *s == seq),
            None if !self.outstanding.is_empty() => Some(0),
            None => None,
        };
        match index.and_then(|i| self.outstanding.remove(i)) {
            Some((_, intended, sent)) => WsEvent::Answered(intended, sent, data.len()),
            None => WsEvent::Other,
        }
    }

    /// Closes politely, waiting briefly for the server's close.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            let _ = self.ws.close(None).await;
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}
