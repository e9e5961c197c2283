//! The worker side: an [`Observer`] that streams each second to a coordinator
//! (`stampede run --report-to URL`) and sends the run's result document at the end.
//!
//! The run's thread only queues messages; a sender thread POSTs them over one
//! keep-alive connection ([`Channel`]), one POST per second (several seconds in one POST
//! after a failure), so that a slow or absent coordinator never stalls the engine. A coordinator that cannot be reached is retried
//! with exponential back-off (never a tight loop) and the run goes on with its own local
//! output; an answer that says stop stops the run through its [`Control`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use stampede_engine::LiveSecond;
use stampede_metrics::Stats;

use super::channel::Channel;
use super::wire::{
    ClockEstimate, Deltas, Final, GeneratorDelta, Hello, HelloReply, Reply, SecondDelta,
    StatsDelta, DELTAS_PATH, FINAL_PATH, HELLO_PATH,
};
use crate::{Control, Finish, Flow, Observer};

/// How long one POST may take.
const POST_TIMEOUT: Duration = Duration::from_secs(3);
/// The first retry's wait; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// How long the end of the run waits to hand its result to a coordinator it reached
/// (one that never answered gets one attempt: the run ends on time).
const FINAL_DEADLINE: Duration = Duration::from_secs(5);
/// Seconds kept while the coordinator is unreachable (then reporting gives up, and the
/// run keeps its local output).
const MAX_PENDING: usize = 600;

/// The wall clock now, in Unix milliseconds.
pub(crate) fn unix_ms(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

enum Message {
    Second(Box<SecondDelta>),
    Final(Box<super::wire::Final>),
}

/// Streams a run to a coordinator (see the module documentation).
pub struct Reporter {
    base: url::Url,
    hello: Option<Hello>,
    queue: Option<SyncSender<Message>>,
    thread: Option<JoinHandle<()>>,
    last_groups: BTreeMap<String, Stats>,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("base", &self.base)
            .finish()
    }
}

/// A `--report-to` URL that is not a plain `http://` address.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReportToError(String);

impl Reporter {
    /// A reporter to the coordinator at `base` (`http://HOST:PORT`); `hello` introduces
    /// this worker (its clock reading is taken when it is sent).
    pub fn new(base: &str, hello: Hello) -> Result<Self, ReportToError> {
        let base = crate::scrape::http::check_url(base)
            .map_err(|e| ReportToError(format!("--report-to {e}")))?;
        Ok(Reporter {
            base,
            hello: Some(hello),
            queue: None,
            thread: None,
            last_groups: BTreeMap::new(),
        })
    }

    fn send(&mut self, m: Message) {
        if let Some(q) = &self.queue {
            // A full queue means the sender is stuck in back-off: drop the newest second
            // rather than stall the run (the coordinator then marks this worker lost).
            let _ = q.try_send(m);
        }
    }
}

impl Observer for Reporter {
    fn on_start(&mut self, control: &Arc<Control>) {
        let (tx, rx) = mpsc::sync_channel(MAX_PENDING);
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            eprintln!("stampede: cannot start the reporting thread's runtime; no reporting");
            return;
        };
        let link = Link {
            channel: Channel::new(&self.base),
            runtime,
            base: self.base.clone(),
            hello: self.hello.take().expect("started once"),
            worker: None,
            clock: None,
            control: control.clone(),
            backoff: FIRST_BACKOFF,
            next_try: Instant::now(),
            failing: false,
            gave_up: false,
        };
        self.queue = Some(tx);
        self.thread = std::thread::Builder::new()
            .name("stampede-report".into())
            .spawn(move || link.run(rx))
            .ok();
    }

    fn on_second(&mut self, live: &LiveSecond<'_>) -> Flow {
        let mut groups = BTreeMap::new();
        for (key, now) in live.groups {
            let mut delta = now.clone();
            if let Some(before) = self.last_groups.get(key) {
                delta.subtract(before);
            }
            if delta.requests > 0 || delta.connections_opened > 0 {
                groups.insert(key.clone(), StatsDelta::encode(&delta));
            }
        }
        self.last_groups = live.groups.clone();
        self.send(Message::Second(Box::new(SecondDelta {
            second: live.second,
            total: StatsDelta::encode(live.interval),
            groups,
            generator: GeneratorDelta::encode(live.interval_generator),
        })));
        Flow::Continue
    }

    fn on_finish(&mut self, finish: &mut Finish<'_>) {
        self.send(Message::Final(Box::new(Final {
            worker: 0, // set by the sender, which knows the index
            clock: None,
            started_unix_ms: unix_ms(finish.outcome.started_at),
            result: Box::new(finish.result.clone()),
        })));
        self.queue = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn on_abandon(&mut self) {
        self.queue = None;
    }
}

/// The sender thread's side of the connection.
struct Link {
    channel: Channel,
    runtime: tokio::runtime::Runtime,
    base: url::Url,
    hello: Hello,
    worker: Option<u32>,
    clock: Option<ClockEstimate>,
    control: Arc<Control>,
    backoff: Duration,
    next_try: Instant,
    failing: bool,
    gave_up: bool,
}

impl Link {
    fn run(mut self, rx: Receiver<Message>) {
        let mut pending: VecDeque<SecondDelta> = VecDeque::new();
        loop {
            let wait = self
                .next_try
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(50));
            match rx.recv_timeout(wait) {
                Ok(Message::Second(d)) => {
                    if !self.gave_up {
                        pending.push_back(*d);
                    }
                }
                Ok(Message::Final(f)) => return self.finish(pending, *f),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if self.gave_up || pending.is_empty() || Instant::now() < self.next_try {
                continue;
            }
            if pending.len() > MAX_PENDING {
                eprintln!(
                    "stampede: the coordinator at {} was unreachable for {} s; \
                     no more reporting (this run keeps its local output)",
                    self.base,
                    pending.len()
                );
                self.gave_up = true;
                pending.clear();
                continue;
            }
            if self.flush(&mut pending).is_ok() {
                continue;
            }
        }
    }

    /// Sends what is pending, then the final document, within [`FINAL_DEADLINE`].
    fn finish(mut self, mut pending: VecDeque<SecondDelta>, mut last: Final) {
        if self.gave_up {
            return;
        }
        let deadline = if self.worker.is_some() {
            Instant::now() + FINAL_DEADLINE
        } else {
            Instant::now()
        };
        loop {
            let sent = self.flush(&mut pending).and_then(|()| {
                last.worker = self.worker.unwrap_or_default();
                last.clock = self.clock;
                self.post::<_, Reply>(FINAL_PATH, &last).map(|_| ())
            });
            match sent {
                Ok(()) => return,
                Err(e) if self.gave_up || Instant::now() + self.backoff > deadline => {
                    eprintln!(
                        "stampede: could not hand the result to the coordinator at {} ({e}); \
                         it is in this run's local output only",
                        self.base
                    );
                    return;
                }
                Err(_) => std::thread::sleep(self.backoff),
            }
        }
    }

    /// Says hello if not done yet, then POSTs the pending seconds.
    fn flush(&mut self, pending: &mut VecDeque<SecondDelta>) -> Result<(), String> {
        if self.worker.is_none() {
            self.say_hello()?;
        }
        if pending.is_empty() {
            return Ok(());
        }
        let deltas = Deltas {
            worker: self.worker.unwrap_or_default(),
            clock: self.clock,
            seconds: pending.iter().cloned().collect(),
        };
        let reply: Reply = self.post(DELTAS_PATH, &deltas)?;
        pending.clear();
        if reply.stop && !self.control.is_stopped() {
            eprintln!(
                "stampede: the coordinator stops the run: {}",
                reply.reason.as_deref().unwrap_or("no reason given")
            );
            self.control.stop();
        }
        Ok(())
    }

    fn say_hello(&mut self) -> Result<(), String> {
        // Connected first, so that the clock estimate's round trip is the hello's alone.
        if let Err(e) = self.runtime.block_on(self.channel.connect(POST_TIMEOUT)) {
            return Err(self.failed(e));
        }
        let sent = SystemTime::now();
        self.hello.clock_unix_ms = unix_ms(sent);
        let reply: HelloReply = self.post(HELLO_PATH, &self.hello.clone())?;
        let clock = ClockEstimate::from_exchange(
            self.hello.clock_unix_ms,
            reply.clock_unix_ms,
            unix_ms(SystemTime::now()),
        );
        match (reply.worker, reply.refused) {
            (Some(w), _) => {
                self.worker = Some(w);
                self.clock = Some(clock);
                Ok(())
            }
            (None, why) => {
                let why = why.unwrap_or_else(|| "no reason given".into());
                eprintln!(
                    "stampede: the coordinator at {} refused this worker: {why}; \
                     this run keeps its local output only",
                    self.base
                );
                self.gave_up = true;
                Err(why)
            }
        }
    }

    /// One POST; on failure the next attempt waits (doubling up to [`MAX_BACKOFF`]).
    fn post<T: serde::Serialize, R: serde::de::DeserializeOwned>(
        &mut self,
        path: &str,
        body: &T,
    ) -> Result<R, String> {
        match self
            .runtime
            .block_on(self.channel.post(path, body, POST_TIMEOUT))
        {
            Ok(r) => {
                if self.failing {
                    eprintln!("stampede: reaching the coordinator at {} again", self.base);
                }
                self.failing = false;
                self.backoff = FIRST_BACKOFF;
                Ok(r)
            }
            Err(e) => Err(self.failed(e)),
        }
    }

    /// Notes a failed attempt: said once, and the next waits (doubling up to
    /// [`MAX_BACKOFF`]).
    fn failed(&mut self, e: String) -> String {
        if !self.failing {
            eprintln!(
                "stampede: cannot reach the coordinator at {} ({e}); retrying with back-off",
                self.base
            );
        }
        self.failing = true;
        self.next_try = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        e
    }
}
