//! The coordinator's HTTP endpoint (hyper, HTTP/1.1 and 1.0, on its own thread and
//! single-threaded runtime): three POST paths whose JSON bodies go to the [`Board`].

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

use super::board::Board;
use super::reporter::unix_ms;
use super::wire::{Deltas, Final, Hello, DELTAS_PATH, FINAL_PATH, HELLO_PATH};

/// The largest body accepted (a final result document with an hour of seconds).
const MAX_BODY: usize = 64 << 20;

/// The endpoint, served until dropped.
#[derive(Debug)]
pub(crate) struct Server {
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `listener` (already bound, non-blocking or not) for `board`.
    pub(crate) fn start(listener: TcpListener, board: Arc<Mutex<Board>>) -> std::io::Result<Self> {
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (tx, mut rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("stampede-coordinator".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    loop {
                        let (stream, _) = tokio::select! {
                            _ = &mut rx => return,
                            accepted = listener.accept() => match accepted {
                                Ok(a) => a,
                                Err(_) => continue,
                            },
                        };
                        let board = board.clone();
                        tokio::spawn(async move {
                            let service = hyper::service::service_fn(move |req| {
                                let board = board.clone();
                                async move { Ok::<_, Infallible>(answer(req, &board).await) }
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                });
            })?;
        Ok(Server {
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn respond(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// Decodes, hands to the board, encodes the answer; failures are 4xx with the reason.
async fn answer(req: Request<Incoming>, board: &Mutex<Board>) -> Response<Full<Bytes>> {
    if req.method() != Method::POST {
        return respond(StatusCode::METHOD_NOT_ALLOWED, "\"POST only\"".into());
    }
    let path = req.uri().path().to_string();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return respond(StatusCode::BAD_REQUEST, json_text(&e.to_string())),
    };
    let now = Instant::now();
    let mut board = board.lock().unwrap_or_else(PoisonError::into_inner);
    let result: Result<String, (StatusCode, String)> = match path.as_str() {
        HELLO_PATH => decode::<Hello>(&body).map(|h| {
            let reply = board.hello(h, now, unix_ms(SystemTime::now()));
            json(&reply)
        }),
        DELTAS_PATH => decode::<Deltas>(&body).and_then(|d| {
            board
                .deltas(d, now)
                .map(|r| json(&r))
                .map_err(|e| (StatusCode::CONFLICT, e.to_string()))
        }),
        FINAL_PATH => decode::<Final>(&body).and_then(|f| {
            board
                .finished(f, now)
                .map(|r| json(&r))
                .map_err(|e| (StatusCode::CONFLICT, e.to_string()))
        }),
        other => Err((StatusCode::NOT_FOUND, format!("no such path {other}"))),
    };
    match result {
        Ok(text) => respond(StatusCode::OK, text),
        Err((status, why)) => respond(status, json_text(&why)),
    }
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, (StatusCode, String)> {
    serde_json::from_slice(body).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("protocol messages serialize")
}

fn json_text(s: &str) -> String {
    json(&s)
}

/// Binds `addr` for the coordinator.
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
}
