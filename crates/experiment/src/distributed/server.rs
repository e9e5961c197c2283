//! The coordinator's HTTP endpoint (hyper, HTTP/1.1 keep-alive and 1.0, on its own
//! runtime of up to [`MAX_THREADS`] threads): three POST paths whose JSON bodies go to the [`Board`].

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
use super::wire::{CheckedDeltas, Deltas, Final, Hello, DELTAS_PATH, FINAL_PATH, HELLO_PATH};

/// The largest body accepted (a final result document with an hour of seconds).
const MAX_BODY: usize = 64 << 20;
/// The most threads that read workers' messages (the merge itself is one at a time).
const MAX_THREADS: usize = 4;
/// Connections waiting to be accepted: every worker connects at once at the start, and
/// the kernel's default backlog of 128 would make the rest retry their SYN a second later.
const BACKLOG: i32 = 4096;

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
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("stampede-coordinator")
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
    // Read and check the message before taking the board: only the merge itself is
    // serialized, the decoding runs on every thread of the runtime.
    let message = match path.as_str() {
        HELLO_PATH => decode::<Hello>(&body).map(Message::Hello),
        DELTAS_PATH => decode::<Deltas>(&body).and_then(|d| {
            d.check()
                .map(Message::Deltas)
                .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))
        }),
        FINAL_PATH => decode::<Final>(&body).map(|f| Message::Final(Box::new(f))),
        other => Err((StatusCode::NOT_FOUND, format!("no such path {other}"))),
    };
    let now = Instant::now();
    let result = message.and_then(|message| {
        let mut board = board.lock().unwrap_or_else(PoisonError::into_inner);
        let conflict = |e: super::wire::WireError| (StatusCode::CONFLICT, e.to_string());
        match message {
            Message::Hello(h) => Ok(json(&board.hello(h, now, unix_ms(SystemTime::now())))),
            Message::Deltas(d) => board.deltas(d, now).map(|r| json(&r)).map_err(conflict),
            Message::Final(f) => board.finished(*f, now).map(|r| json(&r)).map_err(conflict),
        }
    });
    match result {
        Ok(text) => respond(StatusCode::OK, text),
        Err((status, why)) => respond(status, json_text(&why)),
    }
}

/// A worker's message, read and checked.
enum Message {
    Hello(Hello),
    Deltas(CheckedDeltas),
    Final(Box<Final>),
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

/// Binds `addr` for the coordinator, with room for every worker's connection at once.
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}
