//! [`Replay`]: the file read ahead on one reader thread into a bounded channel, from
//! which the engine's workers take arrivals without waiting on the disk or on gunzip
//! (a [`ReplaySource`] for the run plan).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use stampede_plan::{ReplayArrival, ReplaySource};

use crate::source::Source;
use crate::{Notes, OriginalTimes, ReplayError, ReplayOptions};

/// Arrivals read ahead of the engine, at most.
pub const READ_AHEAD: usize = 4096;

/// Once the read-ahead is full, the reader sleeps until this many arrivals were taken,
/// then refills them at once: one wake-up per [`REFILL`] arrivals, not one per arrival
/// (on a generator core the reader shares, each wake-up was a context switch), in a batch
/// short enough (tens of microseconds) not to hold up a send.
const REFILL: usize = 64;

/// A replay in progress: its file is read on its own thread, ahead of the engine (by at
/// most [`READ_AHEAD`] arrivals), from the moment it is opened. The thread ends at the
/// end of the replay or once the `Replay` is dropped.
#[derive(Debug)]
pub struct Replay {
    source: Arc<Source>,
    arrivals: Receiver<ReplayArrival>,
    wakers: Arc<Wakers>,
    refill: Arc<Refill>,
}

impl Replay {
    /// Opens the file and reads enough to know its format (a HAR is read whole here, so
    /// its errors show before anything is sent), then starts reading ahead.
    pub fn open(options: ReplayOptions) -> Result<Replay, ReplayError> {
        let path = options.path.display().to_string();
        let source = Arc::new(Source::open(options)?);
        let (tx, arrivals) = crossbeam_channel::bounded(READ_AHEAD);
        let wakers = Arc::new(Wakers::default());
        let refill = Arc::new(Refill::default());
        let (s, w, r) = (source.clone(), wakers.clone(), refill.clone());
        std::thread::Builder::new()
            .name("replay-reader".into())
            .spawn(move || read_ahead(&s, tx, &w, &r))
            .map_err(|e| ReplayError::Open(path, format!("cannot start its reader: {e}")))?;
        Ok(Replay {
            source,
            arrivals,
            wakers,
            refill,
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
                self.refill.taken(&self.arrivals);
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
fn read_ahead(source: &Source, tx: Sender<ReplayArrival>, wakers: &Wakers, refill: &Refill) {
    let _ = refill.reader.set(std::thread::current());
    while let Some(mut a) = source.read_next() {
        loop {
            match tx.try_send(a) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(back)) => {
                    a = back;
                    refill.wait(&tx);
                }
            }
        }
        wakers.wake();
    }
    // Closing the channel (after the arrivals in it) tells the takers it is over.
    source.read_all.store(true, Ordering::SeqCst);
    drop(tx);
    wakers.wake();
}

/// The reader's sleep while the read-ahead is full, until [`REFILL`] arrivals were taken.
#[derive(Debug, Default)]
struct Refill {
    /// Set by the reader before it sleeps; cleared by the taker that wakes it.
    waiting: AtomicBool,
    /// The reader thread, set by itself first thing.
    reader: OnceLock<Thread>,
}

impl Refill {
    /// A bound on one sleep, so that a reader nobody takes from any more (the `Replay`
    /// dropped) sees that and ends.
    const NAP: Duration = Duration::from_millis(50);

    fn room(len: usize) -> bool {
        len <= READ_AHEAD - REFILL
    }

    /// The reader: sleeps unless there is room for a refill already.
    fn wait(&self, tx: &Sender<ReplayArrival>) {
        // A swap, not a store: ordered with the takers' swaps, so either a taker sees
        // `waiting` after it took, or the look at the length below sees what it took.
        self.waiting.swap(true, Ordering::SeqCst);
        if !Self::room(tx.len()) {
            std::thread::park_timeout(Self::NAP);
        }
        self.waiting.store(false, Ordering::SeqCst);
    }

    /// A taker, after it took: wakes the reader once there is room for a refill.
    fn taken(&self, rx: &Receiver<ReplayArrival>) {
        if self.waiting.load(Ordering::SeqCst)
            && Self::room(rx.len())
            && self.waiting.swap(false, Ordering::SeqCst)
        {
            if let Some(reader) = self.reader.get() {
                reader.unpark();
            }
        }
    }
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
