//! Toxiproxy's HTTP API (v2), so that Toxiproxy clients drive stampede's proxies unchanged:
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | /version | 200 `{"version": ...}` |
//! | POST | /reset | 204: every proxy enabled, every toxic removed |
//! | GET | /proxies | 200, proxies by name |
//! | POST | /proxies | 201 the proxy; 409 if the name exists |
//! | POST | /populate | 201 `{"proxies": [...]}` |
//! | GET, POST/PATCH, DELETE | /proxies/{proxy} | 200, 200, 204 |
//! | GET, POST | /proxies/{proxy}/toxics | 200 the list, 200 the toxic |
//! | GET, POST/PATCH, DELETE | /proxies/{proxy}/toxics/{toxic} | 200, 200, 204 |
//!
//! Errors are `{"error": "...", "status": N}` with that status, as Toxiproxy's.

mod registry;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;

pub use registry::{Answer, ApiError, Registry};

/// Largest request body accepted.
const MAX_BODY: usize = 1 << 20;

/// Serves the API on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, registry: Arc<Registry>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors or similar: keep the pace.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let registry = registry.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(req, registry.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    req: Request<Incoming>,
    registry: Arc<Registry>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let answer = answer(req, &registry).await;
    let (status, body) = match answer {
        Ok((status, body)) => (status, body),
        Err(e) => (e.status, Some(e.body())),
    };
    let mut resp = Response::builder().status(status);
    let body = match body {
        Some(v) => {
            resp = resp.header("content-type", "application/json");
            let mut text = serde_json::to_vec(&v).unwrap_or_default();
            text.push(b'\n');
            Bytes::from(text)
        }
        None => Bytes::new(),
    };
    Ok(resp
        .body(Full::new(body))
        .expect("a valid status and header"))
}

async fn answer(req: Request<Incoming>, registry: &Registry) -> Answer {
    // As Toxiproxy: refuse browsers, so a web page cannot drive the API (CSRF).
    let ua = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ua.starts_with("Mozilla/") {
        return Err(ApiError {
            status: 403,
            message: "User agent not allowed".into(),
        });
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Err(ApiError {
                status: 400,
                message: format!("bad request body: {e}"),
            })
        }
    };
    route(&method, &path, &body, registry).await
}

/// Dispatches one request.
pub async fn route(method: &Method, path: &str, body: &[u8], r: &Registry) -> Answer {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let update = method == Method::POST || method == Method::PATCH;
    match (parts.as_slice(), method) {
        (["version"], &Method::GET) => Ok((
            200,
            Some(json!({ "version": concat!("stampede-", env!("CARGO_PKG_VERSION")) })),
        )),
        (["reset"], &Method::POST) => r.reset().await,
        (["populate"], &Method::POST) => r.populate(body).await,
        (["proxies"], &Method::GET) => r.list().await,
        (["proxies"], &Method::POST) => r.create(body).await,
        (["proxies", p], &Method::GET) => r.get(p).await,
        (["proxies", p], _) if update => r.update(p, body).await,
        (["proxies", p], &Method::DELETE) => r.delete(p).await,
        (["proxies", p, "toxics"], &Method::GET) => r.toxics(p).await,
        (["proxies", p, "toxics"], &Method::POST) => r.add_toxic(p, body).await,
        (["proxies", p, "toxics", t], &Method::GET) => r.get_toxic(p, t).await,
        (["proxies", p, "toxics", t], _) if update => r.update_toxic(p, t, body).await,
        (["proxies", p, "toxics", t], &Method::DELETE) => r.delete_toxic(p, t).await,
        (
            ["version" | "reset" | "populate" | "proxies"]
            | ["proxies", _]
            | ["proxies", _, "toxics"]
            | ["proxies", _, "toxics", _],
            _,
        ) => Err(ApiError {
            status: 405,
            message: format!("method {method} not allowed on {path}"),
        }),
        _ => Err(ApiError {
            status: 404,
            message: format!("not found: {path}"),
        }),
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
