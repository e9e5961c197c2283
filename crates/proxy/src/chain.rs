//! The toxics of one direction of one connection as a pure schedule: each chunk read is
//! turned into pieces with the time each may be written, and the chain says when the
//! connection must end. No sockets, no sleeping: the pump does the waiting.
//!
//! Toxiproxy runs each toxic as a goroutine passing chunks down a pipeline; a chunk carries
//! the time it was read. The same arithmetic here: a stage sees a piece at its `due` time and
//! emits it no earlier, in order.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::{Stream, Toxic, ToxicKind};

/// Data to write (or the end of the stream) no earlier than `due`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Piece {
    pub(crate) data: Bytes,
    /// The end of the stream: shut down the write side.
    pub(crate) eof: bool,
    pub(crate) due: Instant,
    /// When the chunk was read from the socket (Toxiproxy's chunk timestamp).
    pub(crate) read_at: Instant,
}

/// How a toxic ends a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Close both sockets (FIN).
    Close,
    /// Reset both sockets (RST, `SO_LINGER` 0).
    Reset,
}

#[derive(Debug)]
enum State {
    Latency { last_out: Option<Instant> },
    Bandwidth { clock: Option<Instant> },
    Slicer { last_out: Option<Instant> },
    LimitData,
    SlowClose,
    Timeout,
    ResetPeer { fired: bool },
}

#[derive(Debug)]
struct Stage {
    toxic: Toxic,
    state: State,
}

/// The toxics that apply to one direction of one connection, with their per-connection state.
#[derive(Debug)]
pub(crate) struct Chain {
    stream: Stream,
    stages: Vec<Stage>,
    /// Per toxic name: the toxic as it was when the dice were rolled, and the roll.
    rolls: HashMap<String, (Toxic, bool)>,
    /// Bytes passed per `limit_data` toxic name (kept when the chain is rebuilt, as
    /// Toxiproxy keeps the toxic's state).
    sent: HashMap<String, u64>,
    /// When each `timeout` toxic started on this connection.
    started: HashMap<String, Instant>,
    ending: Option<(Instant, End)>,
}

impl Chain {
    /// An empty chain for one direction.
    pub(crate) fn new(stream: Stream) -> Chain {
        Chain {
            stream,
            stages: Vec::new(),
            rolls: HashMap::new(),
            sent: HashMap::new(),
            started: HashMap::new(),
            ending: None,
        }
    }

    /// Rebuilds the stages from the proxy's toxics. A toxic's toxicity is rolled once per
    /// connection (again when the toxic is updated). Returns `Some(Close)` when a `timeout`
    /// toxic that held this connection was removed: Toxiproxy closes it then.
    pub(crate) fn rebuild(
        &mut self,
        toxics: &[Toxic],
        now: Instant,
        mut roll: impl FnMut() -> f64,
    ) -> Option<End> {
        let mine: Vec<&Toxic> = toxics.iter().filter(|t| t.stream == self.stream).collect();
        let timeout_removed = self.stages.iter().any(|s| {
            matches!(s.toxic.kind, ToxicKind::Timeout { .. })
                && !mine.iter().any(|t| t.name == s.toxic.name)
        });
        self.rolls
            .retain(|name, _| mine.iter().any(|t| &t.name == name));
        let old: HashMap<String, State> = std::mem::take(&mut self.stages)
            .into_iter()
            .filter(|s| mine.iter().any(|t| **t == s.toxic))
            .map(|s| (s.toxic.name, s.state))
            .collect();
        let mut old = old;
        for t in mine {
            let applies = match self.rolls.get(&t.name) {
                Some((seen, applies)) if seen == t => *applies,
                _ => {
                    let applies = t.toxicity >= 1.0 || roll() < t.toxicity;
                    self.rolls.insert(t.name.clone(), (t.clone(), applies));
                    applies
                }
            };
            if !applies {
                continue;
            }
            let state = old.remove(&t.name).unwrap_or_else(|| fresh(&t.kind));
            if let ToxicKind::Timeout { .. } = t.kind {
                self.started.entry(t.name.clone()).or_insert(now);
            }
            self.stages.push(Stage {
                toxic: t.clone(),
                state,
            });
        }
        // Endings armed by data (reset_peer, limit_data) stay; timeouts are re-armed.
        let timeouts: Vec<Instant> = self
            .stages
            .iter()
            .filter_map(|s| match s.toxic.kind {
                ToxicKind::Timeout { timeout_ms } if timeout_ms > 0 => {
                    Some(self.started[&s.toxic.name] + ms(timeout_ms))
                }
                _ => None,
            })
            .collect();
        if !self
            .stages
            .iter()
            .any(|s| matches!(s.state, State::ResetPeer { fired: true } | State::LimitData))
        {
            self.ending = None;
        }
        for at in timeouts {
            self.end_at(at, End::Close);
        }
        timeout_removed.then_some(End::Close)
    }

    /// No toxic applies: data may go straight through.
    pub(crate) fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// When and how the connection must end, if a toxic says so.
    pub(crate) fn ending(&self) -> Option<(Instant, End)> {
        self.ending
    }

    fn end_at(&mut self, at: Instant, how: End) {
        // A reset wins over a close at the same time; otherwise the earliest wins.
        match self.ending {
            Some((t, h)) if t < at || (t == at && h == End::Reset) => {}
            _ => self.ending = Some((at, how)),
        }
    }

    /// Runs a chunk read at `now` (or the end of the stream, `data == None`) through the
    /// stages and appends the resulting pieces to `out`.
    pub(crate) fn push(
        &mut self,
        data: Option<Bytes>,
        now: Instant,
        mut rand: impl FnMut(u64) -> u64,
        out: &mut VecDeque<Piece>,
    ) {
        let mut pieces = vec![Piece {
            eof: data.is_none(),
            data: data.unwrap_or_default(),
            due: now,
            read_at: now,
        }];
        let mut ends = Vec::new();
        for stage in &mut self.stages {
            let mut next = Vec::with_capacity(pieces.len());
            for p in pieces {
                stage_piece(stage, p, &mut self.sent, &mut rand, &mut next, &mut ends);
            }
            pieces = next;
        }
        for (at, how) in ends {
            self.end_at(at, how);
        }
        out.extend(pieces);
    }
}

fn fresh(kind: &ToxicKind) -> State {
    match kind {
        ToxicKind::Latency { .. } => State::Latency { last_out: None },
        ToxicKind::Bandwidth { .. } => State::Bandwidth { clock: None },
        ToxicKind::Slicer { .. } => State::Slicer { last_out: None },
        ToxicKind::LimitData { .. } => State::LimitData,
        ToxicKind::SlowClose { .. } => State::SlowClose,
        ToxicKind::Timeout { .. } => State::Timeout,
        ToxicKind::ResetPeer { .. } => State::ResetPeer { fired: false },
    }
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn later(a: Instant, b: Option<Instant>) -> Instant {
    b.map_or(a, |b| a.max(b))
}

/// One piece through one stage.
fn stage_piece(
    stage: &mut Stage,
    mut p: Piece,
    sent: &mut HashMap<String, u64>,
    rand: &mut impl FnMut(u64) -> u64,
    out: &mut Vec<Piece>,
    ends: &mut Vec<(Instant, End)>,
) {
    match (&stage.toxic.kind, &mut stage.state) {
        (
            &ToxicKind::Latency {
                latency_ms,
                jitter_ms,
            },
            State::Latency { last_out },
        ) => {
            if !p.eof {
                // Toxiproxy: latency + uniform(-jitter, jitter), from when the chunk was read.
                let delay = if jitter_ms > 0 {
                    (latency_ms + rand(2 * jitter_ms)).saturating_sub(jitter_ms)
                } else {
                    latency_ms
                };
                p.due = p.due.max(p.read_at + ms(delay));
            }
            p.due = later(p.due, *last_out);
            *last_out = Some(p.due);
            out.push(p);
        }
        (&ToxicKind::Bandwidth { rate_kb }, State::Bandwidth { clock }) => {
            if rate_kb == 0 || p.eof {
                p.due = later(p.due, *clock);
                out.push(p);
                return;
            }
            // rate KB/s = rate bytes per ms; pieces of at most 100 ms worth, as Toxiproxy.
            let max = (rate_kb * 100) as usize;
            let mut data = p.data.clone();
            while !data.is_empty() {
                let piece = data.split_to(data.len().min(max));
                let start = later(p.due, *clock);
                let cost = Duration::from_nanos(piece.len() as u64 * 1_000_000 / rate_kb);
                let due = start + cost;
                *clock = Some(due);
                out.push(Piece {
                    data: piece,
                    due,
                    ..p.clone()
                });
            }
        }
        (
            &ToxicKind::Slicer {
                average_size,
                size_variation,
                delay_us,
            },
            State::Slicer { last_out },
        ) => {
            let start = later(p.due, *last_out);
            if p.eof || average_size == 0 {
                p.due = start;
                *last_out = Some(start);
                out.push(p);
                return;
            }
            let mut cuts = Vec::new();
            slice(
                0,
                p.data.len() as u64,
                average_size,
                size_variation,
                rand,
                &mut cuts,
            );
            let mut due = start;
            for (i, w) in cuts.chunks(2).enumerate() {
                if i > 0 {
                    due += Duration::from_micros(delay_us);
                }
                out.push(Piece {
                    data: p.data.slice(w[0] as usize..w[1] as usize),
                    due,
                    ..p.clone()
                });
            }
            // Toxiproxy sleeps `delay` after each piece, the last one too.
            *last_out = Some(due + Duration::from_micros(delay_us));
        }
        (&ToxicKind::LimitData { bytes }, State::LimitData) => {
            let done = sent.entry(stage.toxic.name.clone()).or_insert(0);
            let remaining = bytes.saturating_sub(*done);
            if remaining == 0 {
                ends.push((p.due, End::Close));
                return;
            }
            if (p.data.len() as u64) > remaining {
                p.data.truncate(remaining as usize);
            }
            *done += p.data.len() as u64;
            let due = p.due;
            let eof = p.eof;
            if !p.data.is_empty() || eof {
                out.push(p);
            }
            if *done >= bytes {
                ends.push((due, End::Close));
            }
        }
        (&ToxicKind::SlowClose { delay_ms }, State::SlowClose) => {
            if p.eof {
                p.due += ms(delay_ms);
            }
            out.push(p);
        }
        (ToxicKind::Timeout { .. }, State::Timeout) => {
            // Data is swallowed; the end of the stream closes the connection.
            if p.eof {
                ends.push((p.due, End::Close));
            }
        }
        (&ToxicKind::ResetPeer { timeout_ms }, State::ResetPeer { fired }) => {
            // The first chunk (or the end) arms the reset; nothing passes.
            if !*fired {
                *fired = true;
                ends.push((p.due + ms(timeout_ms), End::Reset));
            }
        }
        _ => unreachable!("a stage's state is made from its kind"),
    }
}

/// Toxiproxy's slicer: halve the range, moving the cut by up to ± variation, until pieces
/// are within `variation` of the average. Pushes start/end pairs.
fn slice(
    start: u64,
    end: u64,
    avg: u64,
    var: u64,
    rand: &mut impl FnMut(u64) -> u64,
    out: &mut Vec<u64>,
) {
    if (end - start).saturating_sub(avg) <= var {
        out.extend([start, end]);
        return;
    }
    let mut mid = start + (end - start) / 2;
    if var > 0 {
        mid = (mid + rand(2 * var)).saturating_sub(var);
    }
    if mid <= start || mid >= end {
        out.extend([start, end]);
        return;
    }
    slice(start, mid, avg, var, rand, out);
    slice(mid, end, avg, var, rand, out);
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
