//! A worker's connection to its coordinator: one HTTP/1.1 keep-alive connection
//! (hyper's client) for every message of the run, opened again after a failure. One
//! connection rather than one per message: a thousand workers reporting each second
//! would otherwise cost the coordinator a thousand accepts a second, and a burst of
//! them at the same instant overflows its accept queue.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The largest answer read (answers are a few hundred bytes).
const MAX_ANSWER: usize = 1 << 20;

/// A connection to the coordinator at one `http://HOST:PORT` (see the module
/// documentation). Use it from inside a Tokio runtime with time enabled.
#[derive(Debug)]
pub struct Channel {
    host: String,
    port: u16,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Channel {
    /// A channel to `base` (`http://HOST:PORT`, checked by the caller); nothing is
    /// connected yet.
    pub fn new(base: &url::Url) -> Self {
        Channel {
            host: base
                .host_str()
                .unwrap_or_default()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: base.port_or_known_default().unwrap_or(80),
            sender: None,
        }
    }

    /// Opens the connection unless one is open and usable, within `timeout`.
    pub async fn connect(&mut self, timeout: Duration) -> Result<(), String> {
        tokio::time::timeout(timeout, self.open())
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "connect: timed out after {} ms",
                    timeout.as_millis()
                ))
            })
    }

    async fn open(&mut self) -> Result<(), String> {
        if self.sender.as_ref().is_some_and(|s| !s.is_closed()) {
            return Ok(());
        }
        self.sender = None;
        let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        tokio::spawn(connection);
        self.sender = Some(sender);
        Ok(())
    }

    /// POSTs `body` as JSON to `path` and reads the JSON answer of a 200, all within
    /// `timeout`. After any failure the connection is dropped; the next call opens a
    /// new one.
    pub async fn post<T: Serialize + ?Sized, R: DeserializeOwned>(
        &mut self,
        path: &str,
        body: &T,
        timeout: Duration,
    ) -> Result<R, String> {
        let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let answer = tokio::time::timeout(timeout, self.exchange(path, body))
            .await
            .unwrap_or_else(|_| Err(format!("timed out after {} ms", timeout.as_millis())));
        if answer.is_err() {
            self.sender = None;
        }
        answer
    }

    async fn exchange<R: DeserializeOwned>(
        &mut self,
        path: &str,
        body: Vec<u8>,
    ) -> Result<R, String> {
        self.open().await?;
        let sender = self.sender.as_mut().expect("connected above");
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(hyper::header::HOST, format!("{}:{}", self.host, self.port))
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("send: {e}"))?;
        let status = response.status();
        let text = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| format!("read: {e}"))?
            .to_bytes();
        if status != StatusCode::OK {
            return Err(format!(
                "HTTP {}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&text).trim()
            ));
        }
        serde_json::from_slice(&text).map_err(|e| format!("answer: {e}"))
    }
}
