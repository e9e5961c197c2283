//! A virtual user's state: its variables, counter, random numbers, connections,
//! cookie jar and WebSocket.

use std::time::{Duration, Instant, SystemTime};

use stampede_plan::{FeederMode, RenderContext, Template, VarId};
use stampede_proto::cookies::CookieJar;
use stampede_proto::http1::Kept;
use stampede_proto::link::Slot;
use stampede_proto::ws::WsConn;

use super::JourneyRuntime;
use crate::deadline::Deadline;
use crate::state::Backoff;

/// One virtual user's state.
pub(super) struct Vu {
    pub(super) id: u64,
    pub(super) iteration: u64,
    pub(super) counter: u64,
    pub(super) vars: Vec<Option<String>>,
    pub(super) rng: fastrand::Rng,
    /// One request slot per target.
    pub(super) slots: Vec<Option<Slot>>,
    pub(super) ws: Option<WsConn>,
    /// When the last WebSocket message left.
    pub(super) ws_sent: Option<Instant>,
    pub(super) jar: CookieJar,
    pub(super) kept: Kept,
    /// The request timeout's timer.
    pub(super) deadline: Deadline,
    /// Reused for rendering.
    pub(super) scratch: Vec<u8>,
    /// Think time slept in the current iteration.
    pub(super) thought: Duration,
    /// Closed-lane users back off while they fail fast; open-lane users run once.
    pub(super) backoff: Option<Backoff>,
}

impl Vu {
    pub(super) fn new(id: u64, seed: u64, rt: &JourneyRuntime) -> Self {
        Vu {
            id,
            iteration: 0,
            counter: 0,
            vars: vec![None; rt.journeys.vars.len()],
            rng: fastrand::Rng::with_seed(seed ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            slots: (0..rt.targets.len()).map(|_| None).collect(),
            ws: None,
            ws_sent: None,
            jar: CookieJar::default(),
            kept: Kept::new(0),
            deadline: Deadline::default(),
            scratch: Vec::new(),
            thought: Duration::ZERO,
            backoff: None,
        }
    }

    /// What templates see: this user's variables, counter and random numbers.
    fn context(&mut self) -> RenderContext<'_> {
        RenderContext {
            vars: &self.vars,
            rng: &mut self.rng,
            counter: &mut self.counter,
            vu: self.id,
            iteration: self.iteration,
            now: SystemTime::now(),
        }
    }

    pub(super) fn render(&mut self, t: &Template) -> Result<String, VarId> {
        t.render_string(&mut self.context())
    }

    pub(super) fn render_into(&mut self, t: &Template, out: &mut Vec<u8>) -> Result<(), VarId> {
        t.render(&mut self.context(), out)
    }

    /// Takes feeder rows, then renders `[vars]` in order (they may use feeder columns
    /// and the vars above them); once per iteration. `fresh` for a new user: only then
    /// does a `unique` feeder hand out a row. False when a unique feeder has no row left.
    pub(super) fn begin(&mut self, rt: &JourneyRuntime, fresh: bool) -> bool {
        for f in &rt.journeys.feeders {
            if f.feeder.mode() == FeederMode::Unique && !fresh {
                continue;
            }
            let Some(row) = f.feeder.next_row(&mut self.rng) else {
                return false;
            };
            for (var, value) in f.columns.iter().zip(row) {
                self.vars[var.0 as usize] = Some(value.clone());
            }
        }
        for (id, t) in &rt.journeys.initial {
            self.vars[id.0 as usize] = self.render(t).ok();
        }
        true
    }
}
