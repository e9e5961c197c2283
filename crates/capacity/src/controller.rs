//! The search itself, as a pure state machine: given each step's outcome, which rate to
//! try next, and when to stop. No sockets, no clock: unit-tested with simulated steps.
//!
//! 1. **Ramp**: from the start rate, double after every passing step (never above the
//!    maximum) until a step fails.
//! 2. **Descend**: when the very first step fails, halve until one passes (never below
//!    the minimum).
//! 3. **Bisect** between the highest passing rate below the lowest failing one and that
//!    failing rate, until they are within the precision of each other.
//! 4. **Confirm**: hold the last passing rate once more. A pass ends the search; a
//!    failure makes that rate the new lowest failing one and the search goes on below it.
//!
//! A step the generator could not drive ends the search at once: no capacity of the
//! system under test can be named from it.

use serde::{Deserialize, Serialize};

/// What the search is told to do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// The first rate tried.
    pub start: f64,
    /// Never offer more than this.
    pub max_rate: Option<f64>,
    /// Never offer less than this (the descent stops there).
    pub min_rate: f64,
    /// Stop bisecting when (first fail − last pass) / last pass is at most this.
    pub precision: f64,
    /// At most this many steps in all.
    pub max_steps: usize,
}

/// Which part of the search a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Doubling from the start rate.
    Ramp,
    /// Halving after the first step failed.
    Descend,
    /// Halving the interval between the last pass and the first failure.
    Bisect,
    /// Holding the final rate once more.
    Confirm,
}

/// How a step ended, as the search sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// Every SLO held and the offered rate was achieved.
    Pass,
    /// An SLO failed, or the service did not keep up.
    Fail,
    /// The generator could not send what was offered.
    GeneratorLimited,
}

/// How a search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The capacity lies between the last passing and the first failing rate, within the
    /// precision, and the last passing rate held again when confirmed.
    Capacity,
    /// A step could not be driven by this generator: no capacity is named.
    GeneratorLimited,
    /// Every step passed, up to the maximum rate.
    NoFailureUpToMax,
    /// Even the minimum rate failed.
    FailsAtMinimum,
    /// The step budget ran out before the interval was narrow enough.
    StepLimit,
    /// The search was stopped (Ctrl-C) or the run ended before it finished.
    Aborted,
}

/// Where a search ended: the verdict and the interval found so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conclusion {
    /// How it ended.
    pub verdict: Verdict,
    /// The highest passing rate below the first failing one.
    pub last_pass: Option<f64>,
    /// The lowest failing rate.
    pub first_fail: Option<f64>,
}

/// What to do after a step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    /// Offer this rate next.
    Step {
        /// Requests (or journeys) per second.
        rate: f64,
        /// Why.
        phase: Phase,
    },
    /// The search is over.
    Done(Conclusion),
}

/// The search's state: every rate tried and how it ended.
#[derive(Debug, Clone)]
pub struct Controller {
    settings: Settings,
    passes: Vec<f64>,
    fails: Vec<f64>,
    current: (f64, Phase),
    steps: usize,
}

impl Controller {
    /// A search that starts at `settings.start` (capped by the maximum).
    pub fn new(settings: Settings) -> Controller {
        let first = settings
            .max_rate
            .map_or(settings.start, |m| settings.start.min(m));
        Controller {
            settings,
            passes: Vec::new(),
            fails: Vec::new(),
            current: (first, Phase::Ramp),
            steps: 0,
        }
    }

    /// The step to run now.
    pub fn current(&self) -> (f64, Phase) {
        self.current
    }

    /// The lowest failing rate so far.
    fn first_fail(&self) -> Option<f64> {
        self.fails.iter().copied().reduce(f64::min)
    }

    /// The highest passing rate below the lowest failing one.
    fn last_pass(&self) -> Option<f64> {
        let hi = self.first_fail().unwrap_or(f64::INFINITY);
        self.passes
            .iter()
            .copied()
            .filter(|p| *p < hi)
            .reduce(f64::max)
    }

    /// The interval found so far, ended with `verdict`.
    pub fn conclude(&self, verdict: Verdict) -> Conclusion {
        Conclusion {
            verdict,
            last_pass: self.last_pass(),
            first_fail: self.first_fail(),
        }
    }

    /// Records how the current step ended and says what comes next.
    pub fn record(&mut self, outcome: StepOutcome) -> Next {
        let (rate, phase) = self.current;
        self.steps += 1;
        match outcome {
            StepOutcome::GeneratorLimited => {
                return Next::Done(self.conclude(Verdict::GeneratorLimited))
            }
            StepOutcome::Pass => self.passes.push(rate),
            StepOutcome::Fail => self.fails.push(rate),
        }
        if phase == Phase::Confirm && outcome == StepOutcome::Pass {
            return Next::Done(self.conclude(Verdict::Capacity));
        }
        let s = self.settings;
        let next = match (self.last_pass(), self.first_fail()) {
            (_, None) => match s.max_rate {
                Some(max) if rate >= max => {
                    return Next::Done(self.conclude(Verdict::NoFailureUpToMax))
                }
                Some(max) => (max.min(rate * 2.0), Phase::Ramp),
                None => (rate * 2.0, Phase::Ramp),
            },
            (None, Some(hi)) => {
                if hi / 2.0 < s.min_rate {
                    return Next::Done(self.conclude(Verdict::FailsAtMinimum));
                }
                (hi / 2.0, Phase::Descend)
            }
            (Some(lo), Some(hi)) if (hi - lo) / lo <= s.precision => (lo, Phase::Confirm),
            (Some(lo), Some(hi)) => ((lo + hi) / 2.0, Phase::Bisect),
        };
        if self.steps >= s.max_steps {
            return Next::Done(self.conclude(Verdict::StepLimit));
        }
        self.current = next;
        Next::Step {
            rate: next.0,
            phase: next.1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            start: 100.0,
            max_rate: None,
            min_rate: 1.0,
            precision: 0.05,
            max_steps: 40,
        }
    }

    /// Runs a search against a simulated service that passes below `capacity`.
    fn search(
        s: Settings,
        step: impl Fn(f64, Phase) -> StepOutcome,
    ) -> (Vec<(f64, Phase)>, Conclusion) {
        let mut c = Controller::new(s);
        let mut tried = Vec::new();
        loop {
            let (rate, phase) = c.current();
            tried.push((rate, phase));
            match c.record(step(rate, phase)) {
                Next::Step { .. } => {}
                Next::Done(done) => return (tried, done),
            }
        }
    }

    fn below(capacity: f64) -> impl Fn(f64, Phase) -> StepOutcome {
        move |r, _| {
            if r <= capacity {
                StepOutcome::Pass
            } else {
                StepOutcome::Fail
            }
        }
    }

    #[test]
    fn ramps_bisects_and_confirms_around_the_edge() {
        let (tried, done) = search(settings(), below(3030.0));
        assert_eq!(done.verdict, Verdict::Capacity);
        let (lo, hi) = (done.last_pass.unwrap(), done.first_fail.unwrap());
        assert!(lo <= 3030.0 && 3030.0 < hi, "[{lo}, {hi}]");
        assert!((hi - lo) / lo <= 0.05);
        let rates: Vec<f64> = tried.iter().map(|t| t.0).collect();
        assert_eq!(
            &rates[..7],
            &[100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 2400.0]
        );
        assert_eq!(tried.last().unwrap(), &(lo, Phase::Confirm));
        assert!(tried.iter().take(6).all(|t| t.1 == Phase::Ramp));
    }

    #[test]
    fn a_failing_confirmation_searches_on_below() {
        // The first confirmation at the last pass fails (a noisy service), the next holds.
        let failed_once = std::cell::Cell::new(false);
        let (tried, done) = search(settings(), |r, phase| {
            if r > 3030.0 || (phase == Phase::Confirm && !failed_once.replace(true)) {
                return StepOutcome::Fail;
            }
            StepOutcome::Pass
        });
        assert_eq!(done.verdict, Verdict::Capacity);
        let confirms: Vec<_> = tried.iter().filter(|t| t.1 == Phase::Confirm).collect();
        assert!(confirms.len() >= 2, "{tried:?}");
        assert!(done.last_pass.unwrap() < confirms[0].0);
        assert_eq!(
            done.first_fail.unwrap(),
            confirms[0].0,
            "the failed confirmation is the new edge"
        );
    }

    #[test]
    fn a_first_failure_descends() {
        let (tried, done) = search(settings(), below(30.0));
        assert_eq!(tried[1], (50.0, Phase::Descend));
        assert_eq!(done.verdict, Verdict::Capacity);
        assert!(done.last_pass.unwrap() <= 30.0 && done.first_fail.unwrap() > 30.0);
    }

    #[test]
    fn nothing_passes_down_to_the_minimum() {
        let (_, done) = search(
            Settings {
                min_rate: 10.0,
                ..settings()
            },
            |_, _| StepOutcome::Fail,
        );
        assert_eq!(done.verdict, Verdict::FailsAtMinimum);
        assert_eq!(done.last_pass, None);
        assert_eq!(done.first_fail, Some(12.5));
    }

    #[test]
    fn no_failure_up_to_the_maximum() {
        let s = Settings {
            max_rate: Some(1000.0),
            ..settings()
        };
        let (tried, done) = search(s, |_, _| StepOutcome::Pass);
        assert_eq!(done.verdict, Verdict::NoFailureUpToMax);
        assert_eq!(
            tried.last().unwrap().0,
            1000.0,
            "the maximum itself is tried"
        );
        assert_eq!(done.first_fail, None);
        assert_eq!(done.last_pass, Some(1000.0));
    }

    #[test]
    fn a_generator_limited_step_names_no_capacity() {
        let (tried, done) = search(settings(), |r, _| {
            if r >= 800.0 {
                StepOutcome::GeneratorLimited
            } else {
                StepOutcome::Pass
            }
        });
        assert_eq!(done.verdict, Verdict::GeneratorLimited);
        assert_eq!(tried.last().unwrap().0, 800.0);
        assert_eq!((done.last_pass, done.first_fail), (Some(400.0), None));
    }

    #[test]
    fn the_step_budget_ends_the_search() {
        let s = Settings {
            max_steps: 5,
            ..settings()
        };
        let (tried, done) = search(s, below(3030.0));
        assert_eq!(tried.len(), 5);
        assert_eq!(done.verdict, Verdict::StepLimit);
    }

    #[test]
    fn a_pass_above_a_failure_does_not_move_the_edge() {
        let mut c = Controller::new(settings());
        c.passes = vec![100.0, 200.0, 400.0];
        c.fails = vec![300.0];
        assert_eq!(c.last_pass(), Some(200.0));
        assert_eq!(c.first_fail(), Some(300.0));
    }
}
