//! Response bodies: small static ones, echoed bytes, and generated bodies that stream slices of
//! one shared static buffer, so no body is allocated per request.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

/// Length of the shared filler buffer; larger bodies repeat it.
const CHUNK: usize = 64 * 1024;

/// Printable filler: lines of 63 letters and a newline.
static FILLER: [u8; CHUNK] = {
    let mut buf = [0u8; CHUNK];
    let mut i = 0;
    while i < CHUNK {
        buf[i] = if i % 64 == 63 {
            b'\n'
        } else {
            b'a' + (i % 64 % 26) as u8
        };
        i += 1;
    }
    buf
};

/// The body of every response the target writes.
#[derive(Debug)]
pub(crate) enum ResponseBody {
    /// One in-memory chunk (static text or an echoed request body); `None` once sent.
    Full(Option<Bytes>),
    /// `remaining` bytes of filler, sent as slices of the static buffer.
    Filler {
        /// Bytes still to send.
        remaining: u64,
    },
}

impl ResponseBody {
    /// A body holding `bytes`.
    pub(crate) fn full(bytes: Bytes) -> Self {
        ResponseBody::Full((!bytes.is_empty()).then_some(bytes))
    }

    /// A generated body of exactly `len` bytes.
    pub(crate) fn filler(len: u64) -> Self {
        ResponseBody::Filler { remaining: len }
    }

    /// The exact body length.
    pub(crate) fn len(&self) -> u64 {
        match self {
            ResponseBody::Full(b) => b.as_ref().map_or(0, |b| b.len() as u64),
            ResponseBody::Filler { remaining } => *remaining,
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let frame = match self.get_mut() {
            ResponseBody::Full(b) => b.take(),
            ResponseBody::Filler { remaining } if *remaining == 0 => None,
            ResponseBody::Filler { remaining } => {
                let n = (*remaining).min(CHUNK as u64) as usize;
                *remaining -= n as u64;
                Some(Bytes::from_static(&FILLER[..n]))
            }
        };
        Poll::Ready(frame.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.len() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn collect(body: ResponseBody) -> Bytes {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(body.collect()).unwrap().to_bytes()
    }

    #[test]
    fn filler_has_exact_length_and_pattern() {
        for len in [
            0,
            1,
            63,
            64,
            CHUNK as u64,
            CHUNK as u64 + 1,
            3 * CHUNK as u64 + 7,
        ] {
            let body = ResponseBody::filler(len);
            assert_eq!(body.size_hint().exact(), Some(len));
            let bytes = collect(body);
            assert_eq!(bytes.len() as u64, len);
            if len > 64 {
                assert_eq!(&bytes[..3], b"abc");
                assert_eq!(bytes[63], b'\n');
            }
        }
    }

    #[test]
    fn full_body_round_trips() {
        assert_eq!(
            collect(ResponseBody::full(Bytes::from_static(b"ok\n"))),
            "ok\n"
        );
        let empty = ResponseBody::full(Bytes::new());
        assert!(empty.is_end_stream());
        assert_eq!(collect(empty).len(), 0);
    }
}
