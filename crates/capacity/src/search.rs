//! The search as one steered run: a [`Steerer`] observer holds the controller, watches
//! every second, discards each step's warm-up, judges the step on its own window, and
//! sets the next rate through the run's control, so connections stay open from one step
//! to the next. After a failing step it first pauses sending until every request in
//! flight has finished: an overloaded service's queue would otherwise make the next,
//! lower step fail too.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stampede_experiment::{Control, Flow, LiveSecond, Observer, RunError, Window};
use stampede_plan::{Load, RateProfile, RunPlan, Threshold, Workload};

use crate::controller::{Conclusion, Controller, Next, Phase, Settings, StepOutcome, Verdict};
use crate::doc::{knee, CapacityDoc, OutcomeDoc, SettingsDoc, StepDoc, StepVerdict};
use crate::judge::{judge, stability, StepFacts};

/// What to search and how.
#[derive(Debug, Clone)]
pub struct SearchSpec {
    /// The run to steer: an open-model URL plan (its rate is replaced step by step).
    pub plan: RunPlan,
    /// The SLOs every step must meet.
    pub slos: Vec<Threshold>,
    /// The controller's settings.
    pub settings: Settings,
    /// The warm-up discarded at the start of each step (whole seconds).
    pub warmup: Duration,
    /// The window judged after it (whole seconds, at least 5).
    pub window: Duration,
    /// How far an unstable window may be extended (whole seconds).
    pub max_window: Duration,
}

/// Called with every step as soon as it is judged (progress lines).
pub type OnStep = Box<dyn FnMut(&StepDoc) + Send>;

/// The step being run.
#[derive(Debug)]
struct Current {
    rate: f64,
    phase: Phase,
    warmup_left: u64,
    window: Option<Window>,
}

/// What the steerer shares with the caller.
#[derive(Debug, Default)]
struct Shared {
    steps: Vec<StepDoc>,
    conclusion: Option<Conclusion>,
}

/// The pause after a failing step: nothing is sent until every request in flight has
/// finished (at most the request timeout and a second), so that the next step does not
/// inherit the failing step's queue.
#[derive(Debug)]
struct Recovery {
    next: (f64, Phase),
    seconds: u64,
}

/// The observer that runs the search.
struct Steerer {
    spec: SearchSpec,
    controller: Controller,
    control: Option<Arc<Control>>,
    current: Current,
    recovering: Option<Recovery>,
    shared: Arc<Mutex<Shared>>,
    on_step: OnStep,
}

fn secs(d: Duration) -> u64 {
    d.as_secs_f64().ceil() as u64
}

impl Steerer {
    fn set_rate(&self, rate: f64) {
        if let Some(c) = &self.control {
            c.set_rate(rate);
        }
    }

    fn begin(&mut self, rate: f64, phase: Phase) {
        self.current = Current {
            rate,
            phase,
            warmup_left: secs(self.spec.warmup),
            window: None,
        };
    }

    /// Judges the finished window and records the step.
    fn finish_step(&mut self, window: Window) -> StepOutcome {
        let plan = step_plan(&self.spec.plan, self.current.rate, window.seconds());
        let result = window.result(&plan);
        let per_second: Vec<u64> = window
            .series()
            .iter()
            .map(|p| {
                if per_request(&plan) {
                    p.requests
                } else {
                    p.sends
                }
            })
            .collect();
        let (cv, stable) = stability(&per_second);
        let j = judge(
            &self.spec.slos,
            &StepFacts {
                offered: self.current.rate,
                seconds: window.seconds(),
                stats: window.stats(),
                // Scheduled sends only: a journey's later requests are not arrivals.
                sends: window.generator().schedule_lag.count(),
                dropped: window.generator().dropped,
                per_request: per_request(&plan),
                warnings: &result.generator.warnings,
                max_connections: max_connections(&plan),
                send_lag_p99_ms: window.generator().schedule_lag.quantile_ms(0.99),
            },
        );
        let step = StepDoc {
            index: self.shared.lock().expect("capacity lock").steps.len() + 1,
            phase: self.current.phase,
            offered_rate: self.current.rate,
            achieved_rate: j.achieved,
            window_start_s: window.first_second().unwrap_or_default(),
            window_s: window.seconds(),
            cv,
            stable,
            verdict: match j.outcome {
                StepOutcome::Pass => StepVerdict::Pass,
                StepOutcome::Fail => StepVerdict::Fail,
                StepOutcome::GeneratorLimited => StepVerdict::GeneratorLimited,
            },
            reason: j.reason,
            slos: j.slos,
            recovery_s: 0,
            result,
        };
        (self.on_step)(&step);
        self.shared.lock().expect("capacity lock").steps.push(step);
        j.outcome
    }
}

impl Observer for Steerer {
    fn on_start(&mut self, control: &Arc<Control>) {
        self.control = Some(control.clone());
    }

    fn on_second(&mut self, live: &LiveSecond<'_>) -> Flow {
        if let Some(r) = self.recovering.as_mut() {
            r.seconds += 1;
            let in_flight = live.generator.sends.saturating_sub(live.total.requests);
            if in_flight > 0 && r.seconds < secs(self.spec.plan.timeout) + 1 {
                return Flow::Continue;
            }
            let (seconds, (rate, phase)) = (r.seconds, r.next);
            self.recovering = None;
            if let Some(step) = self.shared.lock().expect("capacity lock").steps.last_mut() {
                step.recovery_s = seconds;
            }
            self.set_rate(rate);
            self.begin(rate, phase);
            return Flow::Continue;
        }
        if self.current.warmup_left > 0 {
            self.current.warmup_left -= 1;
            if self.current.warmup_left == 0 {
                self.current.window = Some(Window::start());
            }
            return Flow::Continue;
        }
        let Some(window) = self.current.window.as_mut() else {
            return Flow::Continue;
        };
        window.add(live);
        let n = window.seconds();
        if n < secs(self.spec.window) {
            return Flow::Continue;
        }
        let per_second: Vec<u64> = window.series().iter().map(|p| p.requests).collect();
        if !stability(&per_second).1 && n < secs(self.spec.max_window) {
            return Flow::Continue;
        }
        let window = self.current.window.take().expect("a window");
        let outcome = self.finish_step(window);
        match self.controller.record(outcome) {
            Next::Step { rate, phase } if outcome == StepOutcome::Fail => {
                self.set_rate(0.0);
                self.recovering = Some(Recovery {
                    next: (rate, phase),
                    seconds: 0,
                });
                Flow::Continue
            }
            Next::Step { rate, phase } => {
                self.set_rate(rate);
                self.begin(rate, phase);
                Flow::Continue
            }
            Next::Done(conclusion) => {
                self.shared.lock().expect("capacity lock").conclusion = Some(conclusion);
                Flow::Stop {
                    reason: "capacity search finished".into(),
                    failed: None,
                }
            }
        }
    }
}

fn per_request(plan: &RunPlan) -> bool {
    plan.requests().is_some()
}

fn max_connections(plan: &RunPlan) -> Option<usize> {
    match &plan.requests()?.load {
        Load::Open {
            max_connections, ..
        } => Some(max_connections.get()),
        _ => None,
    }
}

/// The plan as one step ran it: a constant `rate` for `seconds`.
fn step_plan(plan: &RunPlan, rate: f64, seconds: u64) -> RunPlan {
    let mut plan = plan.clone();
    match &mut plan.workload {
        Workload::Requests(w) => {
            if let Load::Open { profile, .. } = &mut w.load {
                *profile = RateProfile {
                    start_rate: rate,
                    stages: Vec::new(),
                };
            }
        }
        Workload::Journeys(j) => *j = Arc::new(j.at_open_rate(rate)),
    }
    plan.stop.duration = Some(Duration::from_secs(seconds));
    plan.stop.requests = None;
    plan
}

/// Why a spec cannot be searched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError(pub String);

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpecError {}

/// Checks a spec before anything is sent.
pub fn validate(spec: &SearchSpec) -> Result<(), SpecError> {
    let err = |m: &str| Err(SpecError(m.to_string()));
    let s = &spec.settings;
    if spec.slos.is_empty() {
        return err("a capacity search needs at least one SLO (--slo \"p99 < 200ms\")");
    }
    if let Some(t) = spec.slos.iter().find(|t| t.window.is_some()) {
        return Err(SpecError(format!(
            "SLO '{}': each step is judged on its own window; drop the 'over' part",
            t.text
        )));
    }
    if !(s.start.is_finite() && s.start > 0.0) {
        return err("--start must be a positive rate");
    }
    if s.max_rate.is_some_and(|m| !(m.is_finite() && m > 0.0)) {
        return err("--max-rate must be a positive rate");
    }
    if !(s.precision > 0.0 && s.precision < 1.0) {
        return err("--precision must be between 0% and 100%, e.g. 5%");
    }
    if s.max_steps < 2 {
        return err("--max-steps must be at least 2");
    }
    if secs(spec.window) < crate::judge::MIN_SAMPLES as u64 {
        return Err(SpecError(format!(
            "each step needs at least {} seconds after its warm-up (the stability rule's samples): lengthen --step or shorten --warmup",
            crate::judge::MIN_SAMPLES
        )));
    }
    if secs(spec.warmup) == 0 {
        return err("--warmup must be at least 1s: the rate change settles during it");
    }
    match (&spec.plan.requests(), spec.plan.journeys()) {
        (Some(w), _) if matches!(w.load, Load::Open { .. }) => Ok(()),
        (Some(_), _) => err("a capacity search steers the open model's rate"),
        (None, Some(j)) if j.open_shares().iter().any(Option::is_some) => Ok(()),
        _ => err(
            "a capacity search steers journeys per second: the scenario file needs an open-model load (rate = ...)",
        ),
    }
}

/// Runs the search: one run, steered step by step, stopped by `control` (Ctrl-C) or
/// when the search ends. Observers (a progress view) see every second of the run.
pub fn search(
    spec: SearchSpec,
    observers: Vec<Box<dyn Observer>>,
    control: Arc<Control>,
    on_step: OnStep,
) -> Result<CapacityDoc, RunError> {
    let started = Instant::now();
    let controller = Controller::new(spec.settings);
    let (first, phase) = controller.current();
    // Long enough for every step at its longest, plus a second of slack each.
    let bound = spec.settings.max_steps as u64 * (secs(spec.warmup) + secs(spec.max_window) + 1);
    let mut plan = step_plan(&spec.plan, first, bound);
    plan.thresholds.clear();
    plan.abort_on_fail = false;
    let shared = Arc::new(Mutex::new(Shared::default()));
    let mut steerer = Steerer {
        spec: spec.clone(),
        controller: controller.clone(),
        control: None,
        recovering: None,
        current: Current {
            rate: first,
            phase,
            warmup_left: 0,
            window: None,
        },
        shared: shared.clone(),
        on_step,
    };
    steerer.begin(first, phase);
    let mut all: Vec<Box<dyn Observer>> = vec![Box::new(steerer)];
    all.extend(observers);
    let finished = stampede_experiment::start_with(plan, all, control).wait()?;
    let mut shared = std::mem::take(&mut *shared.lock().expect("capacity lock"));
    crate::server::attach_server_metrics(&mut shared.steps, &finished.result);
    let conclusion = shared.conclusion.unwrap_or_else(|| {
        // The run ended first (Ctrl-C or the bound): the interval so far.
        let mut c = controller.clone();
        for s in &shared.steps {
            c.record(match s.verdict {
                StepVerdict::Pass => StepOutcome::Pass,
                StepVerdict::Fail => StepOutcome::Fail,
                StepVerdict::GeneratorLimited => StepOutcome::GeneratorLimited,
            });
        }
        c.conclude(Verdict::Aborted)
    });
    let reason = match conclusion.verdict {
        Verdict::GeneratorLimited => shared.steps.last().and_then(|s| s.reason.clone()),
        Verdict::FailsAtMinimum => shared.steps.last().and_then(|s| s.reason.clone()),
        Verdict::Aborted if finished.outcome.aborted => {
            Some("stopped before the search ended".into())
        }
        _ => None,
    };
    let s = spec.settings;
    Ok(CapacityDoc {
        schema_version: crate::doc::CAPACITY_SCHEMA_VERSION,
        kind: "capacity".into(),
        stampede_version: env!("CARGO_PKG_VERSION").into(),
        started_at: finished.result.started_at.clone(),
        subject: spec.plan.subject(),
        unit: if per_request(&spec.plan) {
            "requests/s"
        } else {
            "journeys/s"
        }
        .into(),
        slos: spec.slos.iter().map(|t| t.text.clone()).collect(),
        settings: SettingsDoc {
            start_rate: s.start,
            max_rate: s.max_rate,
            min_rate: s.min_rate,
            precision: s.precision,
            step_s: (secs(spec.warmup) + secs(spec.window)) as f64,
            warmup_s: secs(spec.warmup) as f64,
            max_window_s: secs(spec.max_window) as f64,
            max_steps: s.max_steps,
        },
        result: OutcomeDoc {
            verdict: conclusion.verdict,
            last_pass_rate: conclusion.last_pass,
            first_fail_rate: conclusion.first_fail,
            width: conclusion
                .last_pass
                .zip(conclusion.first_fail)
                .map(|(lo, hi)| (hi - lo) / lo),
            knee_rate: knee(&shared.steps),
            reason,
            elapsed_s: started.elapsed().as_secs_f64(),
        },
        steps: shared.steps,
    })
}
