//! Instance steps: step `k` sends to the first `k` instances of a list of addresses, and its
//! throughput is the **capacity at the SLO** that `stampede capacity`'s search finds there,
//! so the curve is "capacity against instances": the answer to "do 10 machines give 10×?".

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use stampede_capacity::{search, validate, CapacityDoc, SearchSpec, StepVerdict};
use stampede_experiment::{Control, Observer};
use stampede_plan::Workload;

use crate::closed::StopFlag;
use crate::{ScaleError, StepDoc, StepRunner};

/// Called with each step of every capacity search as soon as it is judged.
pub type OnSearchStep = Box<dyn FnMut(usize, &stampede_capacity::StepDoc) + Send>;

/// Runs each step as a capacity search of an open-model plan sent to the first `k` of
/// `addrs` (round-robin per connection, the URL's host in `Host`).
pub struct InstanceSteps {
    /// The search of every step, but for its addresses and start rate.
    search: SearchSpec,
    addrs: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    /// The last step with a capacity: its `k` and the capacity.
    last: Option<(usize, f64)>,
    on_search_step: Arc<Mutex<OnSearchStep>>,
}

impl std::fmt::Debug for InstanceSteps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceSteps")
            .field("search", &self.search)
            .field("addrs", &self.addrs)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

impl InstanceSteps {
    /// Searches like `search` (an open-model URL plan with its SLOs, settings and step
    /// lengths) against the first `k` of `addrs`. The first search starts at
    /// `search.settings.start`; each later one at the last capacity scaled linearly to its
    /// `k` (a guess the search corrects by halving or doubling). Setting `stop` stops the
    /// search under way.
    pub fn new(
        search: SearchSpec,
        addrs: Vec<SocketAddr>,
        stop: Arc<AtomicBool>,
        on_search_step: OnSearchStep,
    ) -> Result<InstanceSteps, ScaleError> {
        if addrs.is_empty() {
            return Err(ScaleError::Plan(
                "an instance sweep needs the instances' addresses (--connect-to, repeated)".into(),
            ));
        }
        let steps = InstanceSteps {
            search,
            addrs,
            stop,
            last: None,
            on_search_step: Arc::new(Mutex::new(on_search_step)),
        };
        validate(&steps.spec(1, steps.search.settings.start)).map_err(|e| ScaleError::Plan(e.0))?;
        Ok(steps)
    }

    /// The search of the first `k` instances, starting at `start`.
    fn spec(&self, k: usize, start: f64) -> SearchSpec {
        let mut spec = self.search.clone();
        if let Workload::Requests(w) = &mut spec.plan.workload {
            w.connect_to = self.addrs[..k.min(self.addrs.len())].to_vec();
        }
        spec.settings.start = start;
        spec
    }
}

impl StepRunner for InstanceSteps {
    fn run_step(&mut self, n: NonZeroUsize) -> Result<StepDoc, ScaleError> {
        let k = n.get();
        if k > self.addrs.len() {
            return Err(ScaleError::Steps(format!(
                "'{k}': only {} instance addresses were given",
                self.addrs.len()
            )));
        }
        let start = match self.last {
            Some((prev, capacity)) => capacity * k as f64 / prev as f64,
            None => self.search.settings.start,
        };
        let spec = self.spec(k, start);
        let observers: Vec<Box<dyn Observer>> = vec![Box::new(StopFlag(self.stop.clone()))];
        let on = self.on_search_step.clone();
        let doc = search(
            spec,
            observers,
            Control::new(),
            Box::new(move |s| {
                let mut on = on.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                on(k, s);
            }),
        )?;
        let step = StepDoc::of_capacity(k as u64, doc);
        if step.included() {
            self.last = Some((k, step.throughput));
        }
        Ok(step)
    }
}

impl StepDoc {
    /// The step of `n` instances whose capacity search ended as `doc` says: its throughput
    /// is the capacity (the last passing rate) when the search found one; otherwise the
    /// step is left out, with the search's reason. Its result document is the window of
    /// the last passing step (else of the last step).
    pub fn of_capacity(n: u64, doc: CapacityDoc) -> StepDoc {
        use stampede_capacity::Verdict as V;
        let outcome = &doc.result;
        let excluded = match outcome.verdict {
            V::Capacity => None,
            V::GeneratorLimited => Some(format!(
                "the generator could not drive this search: {}",
                outcome.reason.as_deref().unwrap_or("see its steps")
            )),
            V::NoFailureUpToMax => {
                Some("no step failed up to the maximum rate: the capacity is above it".into())
            }
            V::FailsAtMinimum => Some("the SLO failed even at the minimum rate".into()),
            V::StepLimit => Some(
                "the step budget ran out before the capacity was found within the precision".into(),
            ),
            V::Aborted => Some("the search was stopped".into()),
        };
        let passing = doc.steps.iter().rev().find(|s| {
            s.verdict == StepVerdict::Pass && Some(s.offered_rate) == outcome.last_pass_rate
        });
        let mut result = passing.or(doc.steps.last()).map(|s| s.result.clone());
        if outcome.verdict == V::Aborted {
            if let Some(r) = &mut result {
                r.aborted = true;
            }
        }
        let (p50, p99, errors, error_rate) = result.as_ref().map_or((0.0, 0.0, 0, 0.0), |r| {
            let c = &r.summary.core;
            (
                c.latency_ms.p50,
                c.latency_ms.p99,
                c.errors + c.timeouts,
                c.error_rate,
            )
        });
        StepDoc {
            n,
            throughput: outcome.last_pass_rate.unwrap_or(0.0),
            p50_ms: p50,
            p99_ms: p99,
            errors,
            error_rate,
            excluded,
            predicted: None,
            residual: None,
            result,
            capacity: Some(doc),
        }
    }
}
