//! WebSocket clients for fleet runs: connect and upgrade, send messages on a schedule
//! (or back to back), match replies, hold the connection, reconnect.
//!
//! Each message carries a prefix `stampede:<seq>:` so an echo is matched to its send;
//! a reply without the prefix answers the oldest outstanding message (a matched reply
//! from a server that does not echo). A message with no reply within the request
//! timeout counts as a timeout; a connection that drops counts as a `ws_dropped` error.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use stampede_metrics::{ErrorClass, Protocol};
use stampede_plan::Target;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use crate::http1::classify_io;
use crate::link::{Connector, Failure, OnOpen};
use crate::stream::Stream;

/// Small buffers: a device fleet is thousands of mostly idle sockets.
pub(crate) fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(1 << 20)
        .max_message_size(Some(16 << 20))
}

/// The upgrade request, prepared once.
pub(crate) struct WsRequest {
    url: String,
    host: String,
    headers: Vec<(String, String)>,
    payload: String,
}

impl WsRequest {
    pub(crate) fn new(target: &Target, headers: &[(String, String)], body: &[u8]) -> Self {
        let payload = if body.is_empty() {
            "ping".to_string()
        } else {
            String::from_utf8_lossy(body).into_owned()
        };
        WsRequest {
            url: target.url.to_string(),
            host: target.authority.clone(),
            headers: headers.to_vec(),
            payload,
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
pub(crate) struct WsConn {
    ws: WebSocketStream<Stream>,
    next_seq: u64,
    /// Sent and not yet answered: (seq, intended, sent).
    outstanding: VecDeque<(u64, Instant, Instant)>,
    pub peer_group: Option<usize>,
}

/// What happened while waiting on a connection.
pub(crate) enum WsEvent {
    /// A reply matched a send: (intended, sent, reply bytes).
    Answered(Instant, Instant, usize),
    /// A frame that is not a reply (ping, pong, unmatched).
    Other,
    /// The connection ended without our asking.
    Dropped(Failure),
}

/// Connects, upgrades and records connect, TLS and upgrade times.
pub(crate) async fn open(
    connector: &Connector,
    n: usize,
    req: &WsRequest,
    on_open: &mut impl OnOpen,
) -> Result<(WsConn, std::time::Duration), Failure> {
    let opened = connector.open(n).await?;
    let request = req.request().map_err(|e| fail(ErrorClass::WsUpgrade, e))?;
    let peer_group = on_open.opened(&opened, Protocol::WebSocket);
    let t0 = Instant::now();
    let (ws, _response) =
        tokio_tungstenite::client_async_with_config(request, opened.stream, Some(config()))
            .await
            .map_err(|e| match e {
                tungstenite::Error::Io(io) => {
                    let class = classify_io(std::io::Error::new(io.kind(), ""));
                    fail(class, io)
                }
                other => fail(ErrorClass::WsUpgrade, other),
            })?;
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

fn fail(class: ErrorClass, e: impl std::fmt::Display) -> Failure {
    Failure {
        class,
        sent: None,
        detail: Some(format!("WebSocket: {e}")),
    }
}

impl WsConn {
    /// Sends one message intended at `intended`; returns when it left and its size.
    pub(crate) async fn send(
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

    /// The oldest unanswered send: (intended, sent).
    pub(crate) fn oldest(&self) -> Option<(Instant, Instant)> {
        self.outstanding.front().map(|(_, i, s)| (*i, *s))
    }

    /// Forgets the oldest unanswered send (it timed out).
    pub(crate) fn expire_oldest(&mut self) {
        self.outstanding.pop_front();
    }

    /// Messages sent and not answered.
    pub(crate) fn pending(&self) -> usize {
        self.outstanding.len()
    }

    /// Waits for the next frame.
    pub(crate) async fn next(&mut self) -> WsEvent {
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
    pub(crate) async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            let _ = self.ws.close(None).await;
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}
