//! `/ws`: a WebSocket echo reached by an HTTP/1.1 Upgrade.
//!
//! Text and binary messages are echoed, pings are answered (by tungstenite, while reading).
//! Knobs in the upgrade request's query: `delay` (before each echo), `drop` (probability that a
//! message is not echoed), `close-after` (the server closes the socket) and `reject` (refuse
//! the upgrade with `403`).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::header::{
    HeaderMap, HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::body::ResponseBody;
use crate::instance::{Instance, Stats};
use crate::knobs::{for_each_known, parse_duration, MAX_DELAY};
use crate::reply::{bad_knob, plain_status, text_response};
use crate::TargetError;

/// The WebSocket echo path.
pub(crate) const PATH: &str = "/ws";
/// Longest `close-after`: one day.
const MAX_CLOSE_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Messages waiting for their delayed echo before the server stops reading (backpressure).
const MAX_PENDING: usize = 1024;
/// Largest message accepted (and echoed).
const MAX_MESSAGE: usize = 16 << 20;
/// How long the server waits for the client's close frame after closing (`close-after`).
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The knobs of one WebSocket connection, from the upgrade request's query.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct WsKnobs {
    /// `delay`: how long after receipt each message is echoed.
    pub(crate) delay: Duration,
    /// `drop`: probability that a received message is silently not echoed.
    pub(crate) drop: f64,
    /// `close-after`: the server closes the connection this long after the upgrade.
    pub(crate) close_after: Option<Duration>,
    /// `reject`: answer the upgrade with `403`.
    pub(crate) reject: bool,
}

impl WsKnobs {
    /// Parses the query string (without the `?`), if any; unknown keys are ignored.
    pub(crate) fn parse(query: Option<&str>) -> Result<Self, TargetError> {
        let mut knobs = WsKnobs::default();
        for_each_known(
            query,
            &["delay", "drop", "close-after", "reject"],
            |key, value| {
                match key {
                    "delay" => knobs.delay = parse_duration(key, value, MAX_DELAY)?,
                    "drop" => {
                        knobs.drop = match value.parse::<f64>() {
                            Ok(p) if (0.0..=1.0).contains(&p) => p,
                            _ => {
                                return Err(TargetError::invalid(
                                    key,
                                    value,
                                    "must be a probability between 0 and 1",
                                ))
                            }
                        }
                    }
                    "close-after" => {
                        knobs.close_after = Some(parse_duration(key, value, MAX_CLOSE_AFTER)?)
                    }
                    "reject" => {
                        knobs.reject = match value {
                            "1" | "true" | "yes" => true,
                            "0" | "false" | "no" => false,
                            _ => return Err(TargetError::invalid(key, value, "use 1 or 0")),
                        }
                    }
                    _ => unreachable!("filtered by `known`"),
                }
                Ok(())
            },
        )?;
        Ok(knobs)
    }
}

/// Why a request on `/ws` is not a usable WebSocket upgrade, or `None` when it is.
fn upgrade_problem(req: &Request<Incoming>) -> Option<&'static str> {
    fn has_token(headers: &HeaderMap, name: hyper::header::HeaderName, token: &str) -> bool {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    }
    let headers = req.headers();
    if req.version() != Version::HTTP_11 {
        return Some("WebSocket needs an HTTP/1.1 Upgrade request");
    }
    if req.method() != Method::GET {
        return Some("a WebSocket upgrade must be a GET");
    }
    if !has_token(headers, UPGRADE, "websocket") || !has_token(headers, CONNECTION, "upgrade") {
        return Some("expected `Upgrade: websocket` and `Connection: Upgrade`");
    }
    None
}

/// Handles a request on `/ws`: validates it, applies the instance's delay and error rate, and
/// answers `101 Switching Protocols`, handing the connection to the echo loop.
pub(crate) async fn upgrade(
    instance: &Arc<Instance>,
    mut req: Request<Incoming>,
    received: Instant,
) -> Response<ResponseBody> {
    let knobs = match WsKnobs::parse(req.uri().query()) {
        Ok(k) => k,
        Err(e) => return bad_knob(&e),
    };
    Instance::wait_since(received, instance.profile.delay).await;
    if knobs.reject {
        return text_response(
            StatusCode::FORBIDDEN,
            "WebSocket upgrade rejected (reject knob)\n",
        );
    }
    if let Some(problem) = upgrade_problem(&req) {
        return text_response(StatusCode::BAD_REQUEST, format!("{problem}\n"));
    }
    if req.headers().get(SEC_WEBSOCKET_VERSION) != Some(&HeaderValue::from_static("13")) {
        let mut resp = text_response(
            StatusCode::UPGRADE_REQUIRED,
            "unsupported Sec-WebSocket-Version (only 13)\n",
        );
        resp.headers_mut()
            .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return resp;
    }
    let accept = match req.headers().get(SEC_WEBSOCKET_KEY) {
        Some(key) => derive_accept_key(key.as_bytes()),
        None => {
            return text_response(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key\n");
        }
    };
    // Base64 text, always a valid header value.
    let accept = HeaderValue::from_str(&accept).unwrap_or(HeaderValue::from_static(""));
    if let Some(status) = instance.draw_profile_error() {
        return plain_status(status);
    }

    let on_upgrade = hyper::upgrade::on(&mut req);
    let instance = Arc::clone(instance);
    tokio::spawn(async move {
        // Fails when the client goes away before the 101 is written.
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config()))
                .await;
        let _open = OpenGuard::new(&instance.stats);
        echo_loop(socket, &instance, knobs).await;
    });

    let mut resp = Response::new(ResponseBody::full(bytes::Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = resp.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    resp
}

/// Small buffers, so that thousands of idle sockets are cheap.
fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// Counts a WebSocket connection as open while it lives.
struct OpenGuard<'a>(&'a Stats);

impl<'a> OpenGuard<'a> {
    fn new(stats: &'a Stats) -> Self {
        stats.ws_upgrades.fetch_add(1, Ordering::Relaxed);
        stats.ws_open.fetch_add(1, Ordering::Relaxed);
        OpenGuard(stats)
    }
}

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.ws_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Echoes until the client closes, the connection fails, or `close-after` elapses.
///
/// Each message is echoed `delay` after it arrived; messages are pipelined, so a burst of
/// messages comes back as a burst `delay` later. Stall windows hold echoes like responses.
async fn echo_loop<S>(mut socket: WebSocketStream<S>, instance: &Instance, knobs: WsKnobs)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let stats = &instance.stats;
    let close_at = knobs.close_after.map(|d| tokio::time::Instant::now() + d);
    let mut pending: VecDeque<(tokio::time::Instant, Message)> = VecDeque::new();
    loop {
        let next_due = pending.front().map(|(due, _)| *due);
        tokio::select! {
            biased;
            () = sleep_until(close_at), if close_at.is_some() => {
                let frame = CloseFrame { code: CloseCode::Away, reason: "close-after".into() };
                if socket.close(Some(frame)).await.is_ok() {
                    // Read until the client's close frame arrives (or give up).
                    let _ = tokio::time::timeout(CLOSE_GRACE, async {
                        while let Some(Ok(_)) = socket.next().await {}
                    })
                    .await;
                }
                return;
            }
            () = sleep_until(next_due), if next_due.is_some() => {
                let Some((_, message)) = pending.pop_front() else { continue };
                if !send_echo(&mut socket, instance, message).await {
                    return;
                }
            }
            incoming = socket.next(), if pending.len() < MAX_PENDING => match incoming {
                Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                    if knobs.drop > 0.0 && fastrand::f64() < knobs.drop {
                        stats.ws_dropped.fetch_add(1, Ordering::Relaxed);
                    } else if knobs.delay.is_zero() && pending.is_empty() {
                        if !send_echo(&mut socket, instance, message).await {
                            return;
                        }
                    } else {
                        pending.push_back((tokio::time::Instant::now() + knobs.delay, message));
                    }
                }
                // Pings are answered by tungstenite; a close is answered likewise and the
                // stream ends after it.
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            },
        }
    }
}

/// Sleeps until `at`; never completes for `None` (guarded out in `select!`).
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Waits out a stall window, then sends one echo; `false` when the connection is gone.
async fn send_echo<S>(
    socket: &mut WebSocketStream<S>,
    instance: &Instance,
    message: Message,
) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    instance.wait_out_stall().await;
    if socket.send(message).await.is_err() {
        return false;
    }
    instance.stats.ws_messages.fetch_add(1, Ordering::Relaxed);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knobs_parse() {
        assert_eq!(WsKnobs::parse(None).unwrap(), WsKnobs::default());
        let k =
            WsKnobs::parse(Some("delay=20ms&drop=0.01&close-after=30s&reject=1&size=9")).unwrap();
        assert_eq!(k.delay, Duration::from_millis(20));
        assert_eq!(k.drop, 0.01);
        assert_eq!(k.close_after, Some(Duration::from_secs(30)));
        assert!(k.reject);
        assert!(!WsKnobs::parse(Some("reject=0")).unwrap().reject);
    }

    #[test]
    fn bad_knobs_name_the_key() {
        for (q, key) in [
            ("drop=2", "drop"),
            ("drop=x", "drop"),
            ("delay=soon", "delay"),
            ("close-after=2d", "close-after"),
            ("reject=maybe", "reject"),
            ("reject", "reject"),
        ] {
            let e = WsKnobs::parse(Some(q)).unwrap_err().to_string();
            assert!(e.contains(key), "{q}: {e}");
        }
    }
}
