//! One proxied connection: dial the upstream, pump both directions through the toxics.
//!
//! With no toxic on a direction, a pump is a plain copy through one reused buffer (no
//! allocation per read). With toxics, chunks are scheduled by the direction's [`Chain`] and
//! written when due, while reading goes on (bounded by `MAX_QUEUED`), so latency does not
//! cut throughput, as in Toxiproxy's pipeline.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::chain::{Chain, End, Piece};
use crate::{Stream, Toxic};

/// What every connection of a proxy follows: its toxics (in the order they were added) and
/// whether the proxy is enabled. Connections watch it, so a change reaches open ones.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) toxics: Arc<Vec<Toxic>>,
    pub(crate) enabled: bool,
    /// Where new connections go.
    pub(crate) upstream: Arc<str>,
    /// Bumped to close every open connection (the upstream changed).
    pub(crate) generation: u64,
}

/// Bytes read per call.
const CHUNK: usize = 64 * 1024;
/// Bytes held back by toxics before the pump stops reading (backpressure): the memory a
/// direction of a toxic connection may hold, and what bounds its throughput under latency
/// (1 MiB per 100 ms of latency is 10 MiB/s).
const MAX_QUEUED: usize = 1024 * 1024;

/// Forwards one client connection until both sides are done or a toxic ends it.
pub(crate) async fn serve(mut client: TcpStream, config: watch::Receiver<Config>) {
    let upstream = config.borrow().upstream.clone();
    // As Toxiproxy: if the upstream cannot be reached, the client's connection is closed.
    let Ok(mut server) = TcpStream::connect(&*upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let end = {
        let (mut cr, mut cw) = client.split();
        let (mut sr, mut sw) = server.split();
        let up = pump(&mut cr, &mut sw, Stream::Upstream, config.clone());
        let down = pump(&mut sr, &mut cw, Stream::Downstream, config);
        tokio::pin!(up, down);
        // A direction that ended normally (EOF passed on) leaves the other one running.
        tokio::select! {
            e = &mut up => match e { None => down.await, e => e },
            e = &mut down => match e { None => up.await, e => e },
        }
    };
    if end == Some(End::Reset) {
        let _ = client.set_zero_linger();
        let _ = server.set_zero_linger();
    }
}

/// Copies `src` to `dst` through the direction's toxics. `None`: the stream ended and the
/// end was passed on (write side shut down); `Some(end)`: the connection must end.
async fn pump(
    src: &mut ReadHalf<'_>,
    dst: &mut WriteHalf<'_>,
    stream: Stream,
    mut config: watch::Receiver<Config>,
) -> Option<End> {
    let mut rng = fastrand::Rng::new();
    let mut chain = Chain::new(stream);
    let (toxics, generation) = {
        let c = config.borrow_and_update();
        (c.toxics.clone(), c.generation)
    };
    if let Some(end) = chain.rebuild(&toxics, Instant::now(), || rng.f64()) {
        return Some(end);
    }
    let mut buf = BytesMut::with_capacity(CHUNK);
    let mut queue: VecDeque<Piece> = VecDeque::new();
    let mut queued = 0usize;
    let mut read_done = false;
    loop {
        let now = Instant::now();
        while queue.front().is_some_and(|p| p.due <= now) {
            let p = queue.pop_front().expect("front exists");
            queued -= p.data.len();
            let written = if p.eof {
                dst.shutdown().await
            } else {
                dst.write_all(&p.data).await
            };
            if written.is_err() {
                return Some(End::Close);
            }
            if p.eof {
                return None;
            }
        }
        let ending = chain.ending();
        if let Some((at, how)) = ending {
            if at <= Instant::now() {
                return Some(how);
            }
        }
        let wake = match (queue.front().map(|p| p.due), ending.map(|e| e.0)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            biased;
            changed = config.changed() => {
                if changed.is_err() {
                    return Some(End::Close); // the proxy is gone
                }
                let c = config.borrow_and_update().clone();
                if !c.enabled || c.generation != generation {
                    return Some(End::Close);
                }
                if let Some(end) = chain.rebuild(&c.toxics, Instant::now(), || rng.f64()) {
                    return Some(end);
                }
            }
            () = sleep_until(wake) => {}
            read = src.read_buf(&mut buf), if !read_done && queued < MAX_QUEUED => {
                let now = Instant::now();
                match read {
                    Ok(0) | Err(_) => {
                        read_done = true;
                        chain.push(None, now, |n| rng.u64(0..n.max(1)), &mut queue);
                    }
                    Ok(_) if chain.is_empty() && queue.is_empty() => {
                        // The fast path: straight through, the buffer reused.
                        if dst.write_all(&buf).await.is_err() {
                            return Some(End::Close);
                        }
                        buf.clear();
                    }
                    Ok(_) => {
                        let before = queue.len();
                        chain.push(Some(buf.split().freeze()), now, |n| rng.u64(0..n.max(1)), &mut queue);
                        queued += queue.iter().skip(before).map(|p| p.data.len()).sum::<usize>();
                        buf.reserve(CHUNK);
                    }
                }
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
