//! A span of consecutive seconds of a run, recorded apart from the rest: one step of a
//! capacity search after its warm-up, one step of a sweep, one matrix cell. A [`Window`]
//! is fed the run's seconds and becomes a result document of its own, judged on its own
//! data and never on what came before it.
//!
//! What a window holds: every count, histogram and error class of its seconds, the
//! generator's own figures (sends, late sends, drops, schedule lag), its per-second
//! series, and the worker threads' CPU over the window (from `/proc`, so the generator
//! check judges the window's own saturation). Rows per group and error samples are the
//! whole run's only: a window's document has no groups.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use stampede_metrics::{GeneratorStats, IntervalPoint, Stats};
use stampede_plan::RunPlan;

use crate::contention::{self, Contention};
use crate::observer::{Flow, Observer};
use crate::{Control, LiveSecond, RunOutcome, RunResult};

/// Seconds of a run recorded together.
#[derive(Debug)]
pub struct Window {
    started_at: SystemTime,
    first_second: Option<u64>,
    stats: Stats,
    generator: GeneratorStats,
    series: Vec<IntervalPoint>,
    /// Seconds of sending (the drain after the end of sending is not one).
    seconds: u64,
    contention: Contention,
    process_cpu_start: Duration,
    process_cpu: Duration,
}

impl Window {
    /// A window that starts now: the next second the run completes is its first. Call it
    /// from an observer at the end of the second before (or before the run starts).
    pub fn start() -> Window {
        let cpu = stampede_engine::process_cpu();
        Window {
            started_at: SystemTime::now(),
            first_second: None,
            stats: Stats::new(),
            generator: GeneratorStats::default(),
            series: Vec::new(),
            seconds: 0,
            contention: Contention::from_now(),
            process_cpu_start: cpu,
            process_cpu: Duration::ZERO,
        }
    }

    /// Adds one completed second of the run.
    pub fn add(&mut self, live: &LiveSecond<'_>) {
        self.seconds += 1;
        self.add_drain(live);
    }

    /// Adds what completed after sending ended (responses to the last second's
    /// requests): counted, but not a second of the window's length.
    pub fn add_drain(&mut self, live: &LiveSecond<'_>) {
        let first = *self.first_second.get_or_insert(live.second);
        self.stats.merge(live.interval);
        self.generator.merge(live.interval_generator);
        self.series.push(IntervalPoint::new(
            live.second.saturating_sub(first),
            live.interval,
            live.interval_generator,
        ));
        self.contention.sample();
        self.process_cpu = stampede_engine::process_cpu().saturating_sub(self.process_cpu_start);
    }

    /// How many seconds the window holds.
    pub fn seconds(&self) -> u64 {
        self.seconds
    }

    /// The run's second this window started at, once it has one.
    pub fn first_second(&self) -> Option<u64> {
        self.first_second
    }

    /// Everything measured in the window.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The generator's figures over the window.
    pub fn generator(&self) -> &GeneratorStats {
        &self.generator
    }

    /// One point per second of the window (`second` counts from the window's start).
    pub fn series(&self) -> &[IntervalPoint] {
        &self.series
    }

    /// The window as the engine's measurements of a run of its own.
    pub fn outcome(&self) -> RunOutcome {
        let elapsed = Duration::from_secs(self.seconds());
        let worker_cpu = self.contention.worker_cpu();
        RunOutcome {
            started_at: self.started_at,
            elapsed,
            total: self.stats.clone(),
            groups: Vec::new(),
            generator: self.generator.clone(),
            series: self.series.clone(),
            aborted: false,
            threads: worker_cpu.len().max(1),
            worker_wall: vec![elapsed; worker_cpu.len()],
            worker_cpu,
            process_cpu: self.process_cpu,
            peak_rss_bytes: None,
            error_samples: Default::default(),
            scheduled_groups: Vec::new(),
            group_timeouts: Vec::new(),
            start: None,
        }
    }

    /// The window's result document, as if `plan` had run for exactly these seconds;
    /// pass a plan that says what the window ran (a capacity step's rate, for example),
    /// since the document's configuration and target rate come from it.
    pub fn result(&self, plan: &RunPlan) -> RunResult {
        let mut result = stampede_analysis::assemble(plan, &self.outcome());
        contention::classify(&mut result, &self.contention.finish());
        result
    }
}

/// An observer that drops a run's first seconds (its warm-up) and records the rest into
/// a [`Window`], shared through [`WarmupRecorder::window`].
#[derive(Debug)]
pub struct WarmupRecorder {
    warmup: u64,
    /// The end of sending: later seconds are the drain.
    until: Option<u64>,
    /// Leave the drain out (see [`WarmupRecorder::without_drain`]).
    skip_drain: bool,
    window: Arc<Mutex<Option<Window>>>,
}

impl WarmupRecorder {
    /// Records every second after the first `warmup` seconds of a run that sends for
    /// `duration` (`plan.stop.duration`); what completes after that is the drain.
    pub fn new(warmup: Duration, duration: Option<Duration>) -> WarmupRecorder {
        WarmupRecorder {
            warmup: warmup.as_secs_f64().ceil() as u64,
            until: duration.map(|d| d.as_secs_f64().ceil() as u64),
            skip_drain: false,
            window: Arc::new(Mutex::new(None)),
        }
    }

    /// Leaves out what completes after sending ended. Right for the closed model, where
    /// the drain is the responses to every connection's last request: counted over the
    /// window's seconds they would report more throughput than was sustained (a 10 ms
    /// serial section measured 107 req/s). In the open model the drain holds the
    /// responses to the window's own last arrivals, so it is counted by default.
    pub fn without_drain(mut self) -> WarmupRecorder {
        self.skip_drain = true;
        self
    }

    /// The recorded window: `None` until the warm-up is over.
    pub fn window(&self) -> Arc<Mutex<Option<Window>>> {
        self.window.clone()
    }
}

impl Observer for WarmupRecorder {
    fn on_start(&mut self, _control: &Arc<Control>) {
        if self.warmup == 0 {
            *self.window.lock().expect("window lock") = Some(Window::start());
        }
    }

    fn on_second(&mut self, live: &LiveSecond<'_>) -> Flow {
        let mut window = self.window.lock().expect("window lock");
        if live.second >= self.warmup {
            let window = window.get_or_insert_with(Window::start);
            match self.until {
                Some(end) if live.second >= end && self.skip_drain => {}
                Some(end) if live.second >= end => window.add_drain(live),
                _ => window.add(live),
            }
        } else if live.second + 1 == self.warmup {
            // The warm-up's last second: the window starts with the next one.
            *window = Some(Window::start());
        }
        Flow::Continue
    }
}
