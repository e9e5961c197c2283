//! Closed-model steps: `N` connections (or `N` virtual users of a scenario file) sending
//! back to back, each step a run of its own, judged after a warm-up.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::sync::Mutex;

use stampede_experiment::{Control, Flow, LiveSecond, Observer, RunResult, Window};
use stampede_plan::scenario::JourneyLoad;
use stampede_plan::{Load, RateProfile, RunPlan, Workload};

use crate::{ScaleError, StepDoc, StepRunner};

/// Runs each step as a closed-model run of `warmup + duration` (the warm-up counted in
/// whole seconds, rounded up) on a copy of a base plan whose load is replaced: `N` keep-alive connections for a URL, `N` virtual users for a
/// scenario file (split over its scenarios by weight; their own loads are replaced too).
#[derive(Debug)]
pub struct ClosedSteps {
    base: RunPlan,
    warmup: Duration,
    duration: Duration,
    stop: Arc<AtomicBool>,
}

impl ClosedSteps {
    /// Steps of `base` measured for `duration` after a `warmup`, both rounded up to whole
    /// seconds (a window is made of the run's seconds). Setting `stop` (a signal handler's
    /// flag) stops the step under way within a second.
    pub fn new(
        base: RunPlan,
        warmup: Duration,
        duration: Duration,
        stop: Arc<AtomicBool>,
    ) -> Result<ClosedSteps, ScaleError> {
        if duration.is_zero() {
            return Err(ScaleError::Plan(
                "the step duration must be positive".into(),
            ));
        }
        if let Workload::Requests(w) = &base.workload {
            if !matches!(w.load, Load::Closed { .. }) {
                return Err(ScaleError::Plan(
                    "a sweep is closed-model: the base plan must be closed-model".into(),
                ));
            }
        }
        // A window is whole seconds of the run.
        let whole = |d: Duration| Duration::from_secs(d.as_secs_f64().ceil() as u64);
        Ok(ClosedSteps {
            base,
            warmup: whole(warmup),
            duration: whole(duration),
            stop,
        })
    }

    /// The warm-up of each step (whole seconds).
    pub fn warmup(&self) -> Duration {
        self.warmup
    }

    /// The measured window of each step (whole seconds).
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The plan of the step of size `n`.
    pub fn plan(&self, n: NonZeroUsize) -> RunPlan {
        let mut plan = self.base.clone();
        match &mut plan.workload {
            Workload::Requests(w) => w.load = Load::Closed { connections: n },
            Workload::Journeys(j) => {
                let j = Arc::make_mut(j);
                j.load = JourneyLoad::Closed {
                    profile: RateProfile::constant(n.get() as f64),
                };
                for s in &mut j.scenarios {
                    s.load = None;
                }
                j.duration = self.warmup + self.duration;
            }
        }
        plan.stop.duration = Some(self.warmup + self.duration);
        plan.stop.requests = None;
        plan.abort_on_fail = false;
        plan
    }
}

impl StepRunner for ClosedSteps {
    /// Runs the step for `warmup + duration` and judges the result document of the
    /// seconds after the warm-up (the window), marked aborted when the step was stopped.
    fn run_step(&mut self, n: NonZeroUsize) -> Result<StepDoc, ScaleError> {
        Ok(StepDoc::judge(n.get() as u64, self.window(n)?))
    }
}

impl ClosedSteps {
    /// The result document of the window of the step of size `n`.
    fn window(&mut self, n: NonZeroUsize) -> Result<RunResult, ScaleError> {
        let plan = self.plan(n);
        let recorder = Measured::new(self.warmup, self.duration);
        let window = recorder.window.clone();
        let observers: Vec<Box<dyn Observer>> =
            vec![Box::new(recorder), Box::new(StopFlag(self.stop.clone()))];
        let finished = stampede_experiment::run(&plan, observers, &Control::new())?;
        let window = window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(window) = window.as_ref() else {
            // Stopped during the warm-up: nothing was measured.
            let mut result = finished.result;
            result.aborted = true;
            return Ok(result);
        };
        // The window's document describes what it measured: `duration` of this step.
        let mut measured = plan;
        measured.stop.duration = Some(self.duration);
        let mut result = window.result(&measured);
        result.aborted = finished.result.aborted;
        Ok(result)
    }
}

/// Stops the step under way once the flag is set.
pub(crate) struct StopFlag(pub(crate) Arc<AtomicBool>);

impl Observer for StopFlag {
    fn on_second(&mut self, _live: &LiveSecond<'_>) -> Flow {
        if self.0.load(Ordering::Relaxed) {
            Flow::Stop {
                reason: "stopped by the user".into(),
                failed: None,
            }
        } else {
            Flow::Continue
        }
    }
}

/// Records the seconds `[warmup, warmup + duration)` of a step into a [`Window`], and not
/// the drain after the end of sending: in the closed model the drain is the responses to
/// the last requests of every connection, and counting them over the window's seconds would
/// report more throughput than was sustained (a 10 ms serial section measured 107 req/s).
struct Measured {
    from: u64,
    until: u64,
    window: Arc<Mutex<Option<Window>>>,
}

impl Measured {
    fn new(warmup: Duration, duration: Duration) -> Measured {
        let from = warmup.as_secs();
        Measured {
            from,
            until: from + duration.as_secs(),
            window: Arc::new(Mutex::new(None)),
        }
    }
}

impl Observer for Measured {
    fn on_start(&mut self, _control: &Arc<Control>) {
        if self.from == 0 {
            *self.window.lock().expect("window lock") = Some(Window::start());
        }
    }

    fn on_second(&mut self, live: &LiveSecond<'_>) -> Flow {
        let mut window = self.window.lock().expect("window lock");
        if (self.from..self.until).contains(&live.second) {
            window.get_or_insert_with(Window::start).add(live);
        } else if live.second + 1 == self.from {
            // The warm-up's last second: the window starts with the next one.
            *window = Some(Window::start());
        }
        Flow::Continue
    }
}
