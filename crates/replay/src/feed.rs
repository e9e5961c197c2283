//! [`Replay`]: the file read ahead on one reader thread into a bounded channel, from
//! which the engine's workers take arrivals without waiting on the disk or on gunzip
//! (a [`ReplaySource`] for the run plan).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use stampede_plan::{ReplayArrival, ReplaySource};

use crate::source::Source;
use crate::{Notes, OriginalTimes, ReplayError, ReplayOptions};

/// Arrivals read ahead of the engine, at most.
pub const READ_AHEAD: usize = 4096;

/// A replay in progress: its file is read on its own thread, ahead of the engine (by at
/// most [`READ_AHEAD`] arrivals), from the moment it is opened. The thread ends at the
/// end of the replay or once the `Replay` is dropped.
#[derive(Debug)]
pub struct Replay {
    source: Arc<Source>,
    arrivals: Receiver<ReplayArrival>,
    wakers: Arc<Wakers>,
}

impl Replay {
    /// Opens the file and reads enough to know its format (a HAR is read whole here, so
    /// its errors show before anything is sent), then starts reading ahead.
    pub fn open(options: ReplayOptions) -> Result<Replay, ReplayError> {
        let path = options.path.display().to_string();
        let source = Arc::new(Source::open(options)?);
        let (tx, arrivals) = crossbeam_channel::bounded(READ_AHEAD);
        let wakers = Arc::new(Wakers::default());
        let (s, w) = (source.clone(), wakers.clone());
        std::thread::Builder::new()
            .name("replay-reader".into())
            .spawn(move || read_ahead(&s, tx, &w))
            .map_err(|e| ReplayError::Open(path, format!("cannot start its reader: {e}")))?;
        Ok(Replay {
            source,
            arrivals,
            wakers,
        })
    }

    /// What was skipped or changed so far (the first pass's counts, of the arrivals the
    /// engine took: what was only read ahead does not count as replayed).
    pub fn notes(&self) -> Notes {
        self.source.notes()
    }

    /// The recorded response times per route (first pass, of the arrivals the engine
    /// took), when the file has them.
    pub fn original_times(&self) -> Vec<OriginalTimes> {
        self.source.original_times()
    }

    fn took(&self, got: Result<ReplayArrival, ()>) -> Option<ReplayArrival> {
        match got {
            Ok(a) => {
                self.source.taken.fetch_add(1, Ordering::SeqCst);
                Some(a)
            }
            Err(()) => {
                self.source.ran_out.store(true, Ordering::SeqCst);
                None
            }
        }
    }
}

impl ReplaySource for Replay {
    fn next_arrival(&self) -> Option<ReplayArrival> {
        self.took(self.arrivals.recv().map_err(|_| ()))
    }

    fn poll_next_arrival(&self, cx: &mut Context<'_>) -> Poll<Option<ReplayArrival>> {
        match self.arrivals.try_recv() {
            Ok(a) => return Poll::Ready(self.took(Ok(a))),
            Err(TryRecvError::Disconnected) => return Poll::Ready(self.took(Err(()))),
            Err(TryRecvError::Empty) => {}
        }
        // Not read yet: ask to be woken, then look again (the reader may have sent it
        // in between, before it saw the request).
        self.wakers.register(cx.waker());
        match self.arrivals.try_recv() {
            Ok(a) => Poll::Ready(self.took(Ok(a))),
            Err(TryRecvError::Disconnected) => Poll::Ready(self.took(Err(()))),
            Err(TryRecvError::Empty) => Poll::Pending,
        }
    }

    fn wait_ready(&self, limit: Duration) {
        // Once per run, before its clock starts: a short, paced wait is plain enough.
        let until = Instant::now() + limit;
        while self.arrivals.is_empty()
            && !self.source.read_all.load(Ordering::SeqCst)
            && Instant::now() < until
        {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The reader thread: reads arrivals into the channel until the replay is over or
/// nobody takes them any more.
fn read_ahead(source: &Source, tx: Sender<ReplayArrival>, wakers: &Wakers) {
    while let Some(a) = source.read_next() {
        if tx.send(a).is_err() {
            return;
        }
        wakers.wake();
    }
    // Closing the channel (after the arrivals in it) tells the takers it is over.
    source.read_all.store(true, Ordering::SeqCst);
    drop(tx);
    wakers.wake();
}

/// Workers waiting for an arrival not read yet.
#[derive(Debug, Default)]
struct Wakers {
    /// Set when a waker was added since the last wake (one atomic per arrival sent).
    waiting: AtomicBool,
    list: Mutex<Vec<Waker>>,
}

impl Wakers {
    fn register(&self, waker: &Waker) {
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        if !list.iter().any(|w| w.will_wake(waker)) {
            list.push(waker.clone());
        }
        drop(list);
        // A swap, not a store: it reads the reader's last swap, so an arrival sent
        // before that swap is seen by the look that follows.
        self.waiting.swap(true, Ordering::SeqCst);
    }

    fn wake(&self) {
        if self.waiting.swap(false, Ordering::SeqCst) {
            let list = std::mem::take(&mut *self.list.lock().unwrap_or_else(|e| e.into_inner()));
            list.into_iter().for_each(Waker::wake);
        }
    }
}
