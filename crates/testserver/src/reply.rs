//! Building blocks every handler (echo, journey API, WebSocket, long poll) answers with:
//! plain responses, knob application (delay, CPU, status) and body reading.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

use crate::body::ResponseBody;
use crate::instance::{Instance, Stats};
use crate::knobs::{Knobs, MAX_SIZE};
use crate::TargetError;

/// Body of successful responses without a `size` knob.
const OK_BODY: &[u8] = b"ok\n";
/// Body of 4xx/5xx responses without a `size` knob.
const ERROR_BODY: &[u8] = b"error\n";

/// A plain-text response with `status`.
pub(crate) fn text_response(status: StatusCode, text: impl Into<Bytes>) -> Response<ResponseBody> {
    let mut resp = Response::new(ResponseBody::full(text.into()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// `400 Bad Request` naming the bad knob.
pub(crate) fn bad_knob(e: &TargetError) -> Response<ResponseBody> {
    text_response(StatusCode::BAD_REQUEST, format!("{e}\n"))
}

/// A response with `status` and the default body (`ok\n` or `error\n`).
pub(crate) fn plain_status(status: StatusCode) -> Response<ResponseBody> {
    let body = if status.as_u16() >= 400 {
        ERROR_BODY
    } else {
        OK_BODY
    };
    let mut resp = Response::new(ResponseBody::full(Bytes::from_static(body)));
    *resp.status_mut() = status;
    resp
}

/// Waits until `profile delay + delay + jitter + coherency wait` has passed since `received`,
/// holds the serial section (both knobs: see [`scaling`](crate::scaling)), burns `cpu`, then
/// draws the status: `Some` when the profile's error rate or the `status` knob overrides the
/// normal status of the response, `None` otherwise.
pub(crate) async fn apply_knobs(
    instance: &Instance,
    knobs: &Knobs,
    received: Instant,
) -> Option<StatusCode> {
    let jitter = if knobs.jitter.is_zero() {
        Duration::ZERO
    } else {
        let nanos = u64::try_from(knobs.jitter.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    };
    let in_flight = instance.scaling.enter();
    let delay = instance
        .profile
        .delay
        .saturating_add(knobs.delay)
        .saturating_add(jitter)
        .saturating_add(instance.scaling.coherency_wait(in_flight.seen));
    Instance::wait_since(received, delay).await;
    instance.scaling.serial_section().await;
    if !knobs.cpu.is_zero() {
        burn_cpu(knobs.cpu);
    }
    drop(in_flight);

    if let Some(status) = instance.draw_profile_error() {
        return Some(status);
    }
    if knobs.status.is_empty() {
        return None;
    }
    knobs.status.pick(fastrand::f64()).map(|code| {
        // Valid by construction: knobs only admit 200..=999.
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    })
}

/// Busy-loops on the current worker for `duration` of wall time.
fn burn_cpu(duration: Duration) {
    let start = Instant::now();
    let mut x = 0u64;
    while start.elapsed() < duration {
        for _ in 0..64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

/// What was read from a request body.
#[derive(Debug, PartialEq)]
pub(crate) enum RequestBody {
    /// Read and discarded.
    Discarded,
    /// Kept for `/echo`.
    Echo(Bytes),
    /// Too large to echo (read and discarded).
    TooLarge,
}

/// Reads the whole request body, counting its bytes; keeps it only when `keep` is set.
pub(crate) async fn read_body(
    mut body: Incoming,
    keep: bool,
    stats: &Stats,
) -> Result<RequestBody, hyper::Error> {
    let mut total = 0u64;
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue; // trailers
        };
        total += data.len() as u64;
        stats
            .body_bytes
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        if !keep || total > MAX_SIZE {
            continue;
        }
        match (&first, &mut joined) {
            (None, _) => first = Some(data),
            (Some(_), Some(buf)) => buf.extend_from_slice(&data),
            (Some(f), None) => {
                let mut buf = BytesMut::with_capacity(f.len() + data.len());
                buf.extend_from_slice(f);
                buf.extend_from_slice(&data);
                joined = Some(buf);
            }
        }
    }
    Ok(if !keep {
        RequestBody::Discarded
    } else if total > MAX_SIZE {
        RequestBody::TooLarge
    } else {
        RequestBody::Echo(joined.map_or_else(|| first.unwrap_or_default(), BytesMut::freeze))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burn_cpu_takes_its_time() {
        let start = Instant::now();
        burn_cpu(Duration::from_millis(5));
        assert!(start.elapsed() >= Duration::from_millis(5));
    }
}
