//! Faults scheduled into a run (`stampede run --fault 'at 20s for 10s: latency 200ms'`).
//!
//! A [`FaultInjector`] starts one in-process fault proxy ([`stampede_proxy::Proxy`]) in
//! front of each address of the target; the run connects to the proxies instead (the URL,
//! and so the Host header and TLS SNI, stay the target's). As an [`Observer`] it switches
//! each fault on and off on the run's clock ([`Control::started`]) from a timer thread, and
//! at the end writes the fault timeline, with the times each fault actually took effect,
//! into the result document (`faults`).

mod outages;
mod spec;

use std::net::SocketAddr;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use stampede_proxy::{Proxy, ProxyError};
use stampede_result::FaultDoc;

pub use outages::{outage_faults, read_outage_log, OutageImport, OutageLogReadError};
pub use spec::{FaultAction, FaultSpec};

use crate::observer::{Finish, Flow, Observer};
use crate::{Control, LiveSecond};

/// Why the fault proxies could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FaultError {
    /// The proxies' runtime could not be built.
    #[error("cannot start the fault proxies' runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// A proxy could not start.
    #[error("cannot start a fault proxy to {upstream}: {source}")]
    Proxy {
        /// The address it was to forward to.
        upstream: String,
        /// Why.
        #[source]
        source: ProxyError,
    },
}

/// What the timer thread shares with the observer.
#[derive(Debug, Default)]
struct Timeline {
    /// Per fault (in the order given): when it was switched on and off.
    faults: Vec<Option<FaultDoc>>,
    /// Faults that could not be applied, in words.
    problems: Vec<String>,
}

/// The fault proxies of a run and the schedule that switches their faults; an
/// [`Observer`] of the run.
pub struct FaultInjector {
    runtime: Option<tokio::runtime::Runtime>,
    proxies: Arc<Vec<Proxy>>,
    faults: Arc<Vec<FaultSpec>>,
    timeline: Arc<Mutex<Timeline>>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FaultInjector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultInjector")
            .field("proxies", &self.proxies)
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

impl FaultInjector {
    /// Starts one proxy on 127.0.0.1 (a free port) per upstream (`host:port`), on a runtime
    /// of its own, with no fault on yet.
    pub fn start(upstreams: &[String], faults: Vec<FaultSpec>) -> Result<Self, FaultError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("stampede-fault-proxy")
            .enable_all()
            .build()
            .map_err(FaultError::Runtime)?;
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let proxies = upstreams
            .iter()
            .enumerate()
            .map(|(i, up)| {
                runtime
                    .block_on(Proxy::start(&format!("fault-{i}"), listen, up.clone()))
                    .map_err(|source| FaultError::Proxy {
                        upstream: up.clone(),
                        source,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FaultInjector {
            runtime: Some(runtime),
            proxies: Arc::new(proxies),
            timeline: Arc::new(Mutex::new(Timeline {
                faults: vec![None; faults.len()],
                problems: Vec::new(),
            })),
            faults: Arc::new(faults),
            stop: None,
            thread: None,
        })
    }

    /// The proxies' addresses, in the order of the upstreams: connect the run to these.
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.proxies.iter().map(Proxy::listen_addr).collect()
    }

    /// The proxies in words: `proxy 127.0.0.1:40123 -> 127.0.0.1:8080; ...`.
    pub fn describe(&self) -> String {
        self.proxies
            .iter()
            .map(|p| format!("proxy {} -> {}", p.listen_addr(), p.upstream()))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Stops the timer thread and waits for it.
    fn stop_schedule(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            // A panic there has been reported on stderr; the timeline holds what it did.
            let _ = t.join();
        }
    }
}

impl Observer for FaultInjector {
    fn on_start(&mut self, control: &Arc<Control>) {
        let (tx, rx) = mpsc::channel();
        self.stop = Some(tx);
        let schedule = Schedule {
            control: control.clone(),
            proxies: self.proxies.clone(),
            faults: self.faults.clone(),
            timeline: self.timeline.clone(),
            target: self.describe(),
            stop: rx,
        };
        self.thread = std::thread::Builder::new()
            .name("stampede-faults".into())
            .spawn(move || schedule.run())
            .map_err(|e| {
                let why = format!("no fault was applied: cannot start the timer thread ({e})");
                self.timeline.lock().expect("timeline").problems.push(why);
            })
            .ok();
    }

    fn on_second(&mut self, _live: &LiveSecond<'_>) -> Flow {
        Flow::Continue
    }

    fn on_finish(&mut self, finish: &mut Finish<'_>) {
        self.stop_schedule();
        let timeline = self.timeline.lock().expect("timeline");
        for p in &timeline.problems {
            eprintln!("stampede: {p}");
        }
        for (spec, doc) in self.faults.iter().zip(&timeline.faults) {
            if doc.is_none() {
                eprintln!(
                    "stampede: fault '{}' never took effect: the run ended after {:.1}s",
                    spec.text, finish.result.summary.elapsed_s
                );
            }
        }
        // Beside what other observers put there (imported outages).
        let faults = &mut finish.result.faults;
        faults.extend(timeline.faults.iter().flatten().cloned());
        faults.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    }

    fn on_abandon(&mut self) {
        self.stop_schedule();
    }
}

impl Drop for FaultInjector {
    fn drop(&mut self) {
        self.stop_schedule();
        if let Some(rt) = self.runtime.take() {
            // Closes the proxies' listeners and connections without blocking.
            rt.shutdown_background();
        }
    }
}

/// The timer thread's state.
struct Schedule {
    control: Arc<Control>,
    proxies: Arc<Vec<Proxy>>,
    faults: Arc<Vec<FaultSpec>>,
    timeline: Arc<Mutex<Timeline>>,
    target: String,
    stop: mpsc::Receiver<()>,
}

impl Schedule {
    /// Waits for the run's clock, then switches each fault on and off at its times.
    fn run(self) {
        let Some(start) = self.wait_for_start() else {
            return;
        };
        let mut events: Vec<(Duration, usize, bool)> = Vec::new();
        for (i, f) in self.faults.iter().enumerate() {
            events.push((f.at, i, true));
            if let Some(length) = f.length {
                events.push((f.at + length, i, false));
            }
        }
        // At equal times a fault is switched off before the next one is switched on.
        events.sort_by_key(|&(t, i, on)| (t, on, i));
        for (when, i, on) in events {
            let wait = (start + when).saturating_duration_since(Instant::now());
            match self.stop.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            let applied = self.switch(i, on);
            let t = (start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
            let mut timeline = self.timeline.lock().expect("timeline");
            match applied {
                Err(e) => timeline
                    .problems
                    .push(format!("fault '{}': {e}", self.faults[i].text)),
                Ok(()) if on => {
                    timeline.faults[i] = Some(FaultDoc {
                        kind: self.faults[i].kind().to_owned(),
                        spec: self.faults[i].text.clone(),
                        target: self.target.clone(),
                        start_s: t,
                        end_s: None,
                    })
                }
                Ok(()) => {
                    if let Some(doc) = &mut timeline.faults[i] {
                        doc.end_s = Some(t);
                    }
                }
            }
        }
    }

    /// The start of the run's clock, once the engine has set it; `None` when told to stop
    /// first.
    fn wait_for_start(&self) -> Option<Instant> {
        loop {
            if let Some(start) = self.control.started() {
                return Some(start);
            }
            match self.stop.recv_timeout(Duration::from_millis(1)) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => return None,
            }
        }
    }

    /// Switches fault `i` on or off on every proxy.
    fn switch(&self, i: usize, on: bool) -> Result<(), ProxyError> {
        for proxy in self.proxies.iter() {
            match &self.faults[i].action {
                FaultAction::Down => proxy.set_enabled(!on),
                FaultAction::Toxics(toxics) => {
                    for t in toxics {
                        let name = format!("fault{i}-{}", t.name);
                        if on {
                            proxy.add_toxic(stampede_proxy::Toxic { name, ..t.clone() })?;
                        } else {
                            proxy.remove_toxic(&name)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
