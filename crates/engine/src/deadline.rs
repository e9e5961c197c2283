//! A request deadline that re-arms lazily.
//!
//! `tokio::time::timeout` registers a timer for every request and removes it when the
//! response arrives: two timer-wheel operations per request on the hot path. A slot sends
//! one request at a time and each deadline is later than the one before, so one timer per
//! slot is enough: it stays armed at an old deadline, and when it fires, it either ends the
//! request (its deadline has passed) or moves to the current deadline. With responses much
//! faster than the timeout, the timer fires about once per timeout period, not once per
//! request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::time::Sleep;

/// The deadline passed before the future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elapsed;

/// One slot's deadline timer (allocated on first use).
#[derive(Debug, Default)]
pub(crate) struct Deadline {
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Deadline {
    /// Runs `fut` until it finishes or `at` passes.
    pub(crate) fn run<F: Future>(&mut self, at: Instant, fut: F) -> WithDeadline<'_, F> {
        let at_tokio = tokio::time::Instant::from_std(at);
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at_tokio)));
        if sleep.deadline() > at_tokio {
            // Earlier than the armed time (the first request, or a shorter timeout).
            sleep.as_mut().reset(at_tokio);
        }
        WithDeadline {
            fut,
            sleep: sleep.as_mut(),
            at,
        }
    }
}

pin_project_lite::pin_project! {
    /// A future bounded by a [`Deadline`]: written out by hand (not `async` with
    /// `select!`) because it sits inline in every connection task, where its size counts.
    pub(crate) struct WithDeadline<'a, F> {
        #[pin]
        fut: F,
        sleep: Pin<&'a mut Sleep>,
        at: Instant,
    }
}

impl<F: Future> Future for WithDeadline<'_, F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.fut.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        while this.sleep.as_mut().poll(cx).is_ready() {
            if Instant::now() >= *this.at {
                return Poll::Ready(Err(Elapsed));
            }
            // It was armed for an earlier request: move it to this one's deadline (and
            // poll again, which registers the waker for the new time).
            this.sleep
                .as_mut()
                .reset(tokio::time::Instant::from_std(*this.at));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn times_out_each_request_at_its_own_deadline() {
        let mut d = Deadline::default();
        let ms = Duration::from_millis;
        // Fast requests finish; the timer stays armed at the first deadline.
        for _ in 0..3 {
            let at = Instant::now() + ms(80);
            assert_eq!(d.run(at, async { 7 }).await, Ok(7));
        }
        // A request started later outlives the first deadline but not its own.
        tokio::time::sleep(ms(50)).await;
        let started = Instant::now();
        let at = started + ms(80);
        let out = d.run(at, tokio::time::sleep(ms(60))).await;
        assert_eq!(out, Ok(()), "re-armed to this request's deadline");
        // One that takes too long ends at its deadline, not before.
        let started = Instant::now();
        let out = d.run(started + ms(40), tokio::time::sleep(ms(500))).await;
        assert_eq!(out, Err(Elapsed));
        let took = started.elapsed();
        assert!(took >= ms(40) && took < ms(400), "{took:?}");
        // A shorter deadline than the armed one is honoured too.
        let started = Instant::now();
        let out = d.run(started + ms(10), tokio::time::sleep(ms(500))).await;
        assert_eq!(out, Err(Elapsed));
        assert!(started.elapsed() < ms(400));
    }
}
