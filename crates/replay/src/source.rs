//! [`Source`]: a file read into arrivals, through the reorder window, the spread of
//! whole seconds and the pacer; [`Replay`](crate::Replay) runs it on a reader thread.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use stampede_plan::ReplayArrival;

use crate::input::Input;
use crate::notes::Notes;
use crate::record::Record;
use crate::route::route_of;
use crate::schedule::{Pace, Pacer, Reorder, Spread};
use crate::{Filter, Format, ReplayError};

/// Routes whose original times are kept; later ones share `(other)`.
const MAX_ROUTES: usize = 256;
/// Recorded response times above an hour count as an hour (microseconds).
const MAX_RECORDED_US: u64 = 3_600_000_000;
/// Requests of one log second held at once to be spread over it.
const SPREAD_CAP: usize = 100_000;

/// How a file is replayed.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The file (gzip detected by its magic bytes).
    pub path: PathBuf,
    /// Its format, or [`Format::Auto`].
    pub format: Format,
    /// Recorded times divided by a speed, or a fixed rate.
    pub pace: Pace,
    /// Recorded gaps longer than this are shortened to it.
    pub max_gap: Duration,
    /// Records held to put the file in time order.
    pub window: usize,
    /// Start again at the end (until the run's duration, request count or Ctrl-C).
    pub repeat: bool,
    /// Records must pass all of these.
    pub filters: Vec<Filter>,
    /// HAR: hosts replayed besides the first entry's (`*`: all).
    pub include_hosts: Vec<String>,
    /// Headers added to every request (`-H`).
    pub extra_headers: Vec<(String, String)>,
    /// Fold every arrival's route ([`ReplayArrival::route`]): for `--group-by route`.
    /// Without it `route` is empty, and only records with a recorded response time are
    /// folded (for [`Replay::original_times`](crate::Replay::original_times)).
    pub routes: bool,
}

struct State {
    input: Input,
    reorder: Reorder<Record>,
    spread: Spread<Record>,
    ready: VecDeque<(f64, Record)>,
    pacer: Pacer,
    eof: bool,
    pass: u64,
    sent_this_pass: u64,
    first_host: Option<String>,
    notes: Notes,
    /// Arrivals made so far, over all passes (the next one's sequence number).
    made: u64,
    /// Arrivals made in the first pass.
    first_pass: u64,
    /// First-pass arrivals with a recorded time, by sequence number, not yet known to
    /// be taken: their times count once they are.
    untaken: VecDeque<(u64, String, u64)>,
    original: BTreeMap<String, Histogram<u64>>,
    done: bool,
}

/// A file being read into arrivals. What was read ahead is not counted as replayed:
/// [`Source::taken`] says how many arrivals were taken, in the order they were made.
#[derive(Debug)]
pub(crate) struct Source {
    options: ReplayOptions,
    state: Mutex<State>,
    /// Arrivals taken by the engine.
    pub(crate) taken: AtomicU64,
    /// The engine asked for more after the last one.
    pub(crate) ran_out: AtomicBool,
    /// The reader is done: every arrival has been read.
    pub(crate) read_all: AtomicBool,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").field("pass", &self.pass).finish()
    }
}

/// The recorded response times of one route.
#[derive(Debug, Clone, PartialEq)]
pub struct OriginalTimes {
    /// `METHOD /pattern`.
    pub route: String,
    /// Requests with a recorded time.
    pub count: u64,
    /// Median, in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, in milliseconds.
    pub p99_ms: f64,
}

impl Source {
    /// Opens the file and reads enough to know its format (a HAR is read whole here, so
    /// its errors show before anything is sent).
    pub(crate) fn open(options: ReplayOptions) -> Result<Source, ReplayError> {
        let mut notes = Notes {
            window: options.window,
            max_gap_s: options.max_gap.as_secs_f64(),
            ..Notes::default()
        };
        let input = Input::open(&options, &mut notes)?;
        let state = State {
            input,
            reorder: Reorder::new(options.window),
            spread: Spread::new(SPREAD_CAP),
            ready: VecDeque::new(),
            pacer: Pacer::new(options.pace, options.max_gap),
            eof: false,
            pass: 0,
            sent_this_pass: 0,
            first_host: None,
            notes,
            made: 0,
            first_pass: 0,
            untaken: VecDeque::new(),
            original: BTreeMap::new(),
            done: false,
        };
        Ok(Source {
            options,
            state: Mutex::new(state),
            taken: AtomicU64::new(0),
            ran_out: AtomicBool::new(false),
            read_all: AtomicBool::new(false),
        })
    }

    /// What was skipped or changed so far (the first pass's counts); records are those
    /// taken. A failed reopen counts once the engine ran out of arrivals because of it.
    pub(crate) fn notes(&self) -> Notes {
        let mut s = self.lock();
        self.settle(&mut s);
        let mut n = s.notes.clone();
        n.records = s.first_pass.min(self.taken.load(Ordering::SeqCst));
        if !self.ran_out.load(Ordering::SeqCst) {
            n.reopen_error = None;
        }
        n.late = s.reorder.late;
        n.crowded = s.spread.crowded;
        n.shortened = s.pacer.shortened;
        n.removed_s = s.pacer.removed;
        n
    }

    /// The recorded response times per route (first pass, arrivals taken), when the
    /// file has them.
    pub(crate) fn original_times(&self) -> Vec<OriginalTimes> {
        let mut s = self.lock();
        self.settle(&mut s);
        s.original
            .iter()
            .map(|(route, h)| OriginalTimes {
                route: route.clone(),
                count: h.len(),
                p50_ms: h.value_at_quantile(0.5) as f64 / 1000.0,
                p99_ms: h.value_at_quantile(0.99) as f64 / 1000.0,
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts the recorded times of the first-pass arrivals taken since the last call.
    fn settle(&self, s: &mut State) {
        let taken = self.taken.load(Ordering::SeqCst);
        while s.untaken.front().is_some_and(|(seq, _, _)| *seq < taken) {
            let (_, route, us) = s.untaken.pop_front().expect("checked");
            let key = match s.original.len() < MAX_ROUTES || s.original.contains_key(&route) {
                true => route,
                false => "(other)".to_string(),
            };
            let h = s.original.entry(key).or_insert_with(|| {
                Histogram::new_with_bounds(1, MAX_RECORDED_US, 3).expect("valid bounds")
            });
            h.saturating_record(us);
        }
    }

    fn arrival(&self, s: &mut State, t: f64, r: Record) -> ReplayArrival {
        let at = s.pacer.place(t);
        s.sent_this_pass += 1;
        let recorded = r.original.filter(|_| s.pass == 0);
        let route = match self.options.routes || recorded.is_some() {
            true => route_of(&r.method, &r.path),
            false => String::new(),
        };
        if s.pass == 0 {
            s.first_pass += 1;
            if let Some(d) = recorded {
                let us = (d.as_micros() as u64).clamp(1, MAX_RECORDED_US);
                s.untaken.push_back((s.made, route.clone(), us));
            }
        }
        s.made += 1;
        self.settle(s);
        let mut headers = r.headers;
        headers.extend(self.options.extra_headers.iter().cloned());
        ReplayArrival {
            at,
            method: r.method,
            path: r.path,
            headers,
            body: r.body,
            route,
        }
    }

    /// The next record of the file that is replayed; `None` at the end (or where the
    /// input broke off).
    fn read(&self, s: &mut State) -> Option<Record> {
        loop {
            let record = s.input.next_record(s.pass == 0, &mut s.notes)?;
            if let Some(keep) = self.keep(s, &record) {
                if !keep {
                    continue;
                }
            }
            return Some(record);
        }
    }

    /// Whether a record is replayed, counting those that are not (first pass).
    fn keep(&self, s: &mut State, r: &Record) -> Option<bool> {
        let count = s.pass == 0;
        if let Some(host) = &r.host {
            let first = s.first_host.get_or_insert_with(|| host.clone());
            let hosts = &self.options.include_hosts;
            let ok = host == first
                || hosts
                    .iter()
                    .any(|h| h == "*" || h.eq_ignore_ascii_case(host));
            if !ok {
                if count {
                    s.notes.other_hosts += 1;
                    if s.notes.other_host_names.len() < 5 {
                        s.notes.other_host_names.insert(host.clone());
                    }
                }
                return Some(false);
            }
        }
        if !self.options.filters.iter().all(|f| f.passes(r)) {
            if count {
                s.notes.filtered += 1;
            }
            return Some(false);
        }
        if count {
            let has = |n: &str| r.headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n));
            if r.host.is_some() && !has("cookie") && !has("authorization") {
                s.notes.no_credentials += 1;
            }
            let bodied = matches!(r.method.as_str(), "POST" | "PUT" | "PATCH");
            if r.host.is_none() && bodied {
                s.notes.bodiless += 1;
            }
        }
        Some(true)
    }
}

impl Source {
    /// The next arrival, read from the file; `None` when the replay is over.
    pub(crate) fn read_next(&self) -> Option<ReplayArrival> {
        let mut guard = self.lock();
        let s = &mut *guard;
        loop {
            if let Some((t, r)) = s.ready.pop_front() {
                return Some(self.arrival(s, t, r));
            }
            if s.done {
                return None;
            }
            if !s.eof {
                match self.read(s) {
                    Some(r) => {
                        let t = r.time.secs;
                        if let Some((t, r)) = s.reorder.push(t, r) {
                            let whole = r.time.whole_second;
                            s.spread.push(t, whole, r, &mut s.ready);
                        }
                    }
                    None => {
                        while let Some((t, r)) = s.reorder.pop() {
                            let whole = r.time.whole_second;
                            s.spread.push(t, whole, r, &mut s.ready);
                        }
                        s.spread.flush(&mut s.ready);
                        s.eof = true;
                    }
                }
                continue;
            }
            // The end of a pass: another one with --loop, unless this one was empty or
            // the input broke off.
            if !self.options.repeat || s.sent_this_pass == 0 || s.notes.read_error.is_some() {
                s.done = true;
                continue;
            }
            let mut notes = Notes::default();
            match Input::open(&self.options, &mut notes) {
                Ok(input) => s.input = input,
                Err(e) => {
                    s.notes.reopen_error = Some((s.pass + 1, e.to_string()));
                    s.done = true;
                    continue;
                }
            }
            s.pass += 1;
            s.sent_this_pass = 0;
            s.first_host = None;
            s.eof = false;
            s.reorder = Reorder::new(self.options.window);
            s.pacer.next_pass();
        }
    }
}
