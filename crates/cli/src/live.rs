//! Watching a run: the ratatui dashboard on a terminal, progress lines elsewhere (CI,
//! pipes), or nothing with `--quiet`.
//!
//! The dashboard draws on stderr (stdout keeps the results table) on the terminal's
//! alternate screen, from its own thread, so that resizing and keys are handled between
//! the engine's once-per-second updates. `q`, `Esc` or Ctrl-C stop the run the way a
//! first Ctrl-C does; a second Ctrl-C exits at once.

use std::io::{IsTerminal, Stderr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::crossterm::{cursor, execute};
use ratatui::prelude::CrosstermBackend;
use ratatui::Terminal;
use stampede_engine::LiveSecond;
use stampede_plan::RunPlan;
use stampede_report::live::LiveView;

use crate::run_cmd::Progress;

/// How a run is watched.
pub(crate) enum Watch {
    /// Nothing (`--quiet`).
    Quiet,
    /// Compact progress lines on stderr.
    Lines(Box<Progress>),
    /// The terminal dashboard.
    Dashboard(Dashboard),
}

impl Watch {
    /// Picks the dashboard when stderr is a terminal (unless `no_dashboard`), progress
    /// lines otherwise or when the terminal cannot be set up, nothing when `quiet`.
    pub(crate) fn start(
        plan: &RunPlan,
        quiet: bool,
        no_dashboard: bool,
        abort: Arc<AtomicBool>,
    ) -> Watch {
        if quiet {
            return Watch::Quiet;
        }
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        if no_dashboard || dumb || !std::io::stderr().is_terminal() {
            return Watch::Lines(Box::new(Progress::new(false)));
        }
        match Dashboard::start(plan, abort) {
            Ok(d) => Watch::Dashboard(d),
            Err(e) => {
                eprintln!("stampede: no dashboard ({e:#}); printing progress lines");
                Watch::Lines(Box::new(Progress::new(false)))
            }
        }
    }

    /// Takes in one completed second of the run.
    pub(crate) fn second(&mut self, live: &LiveSecond<'_>) {
        match self {
            Watch::Quiet => {}
            Watch::Lines(p) => p.second(live.second, live.interval, live.interval_generator),
            Watch::Dashboard(d) => d.second(live),
        }
    }

    /// Ends the view; the dashboard restores the terminal before the table is printed.
    pub(crate) fn finish(self) {
        if let Watch::Dashboard(d) = self {
            d.finish();
        }
    }
}

type Term = Terminal<CrosstermBackend<Stderr>>;

/// The dashboard: a view shared with the drawing thread.
pub(crate) struct Dashboard {
    view: Arc<Mutex<LiveView>>,
    dirty: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    cpu: (Duration, Instant),
}

fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(std::io::stderr(), LeaveAlternateScreen, cursor::Show);
}

impl Dashboard {
    fn start(plan: &RunPlan, abort: Arc<AtomicBool>) -> anyhow::Result<Dashboard> {
        enable_raw_mode().context("switching the terminal to raw mode")?;
        let mut stderr = std::io::stderr();
        if let Err(e) = execute!(stderr, EnterAlternateScreen, cursor::Hide) {
            restore_terminal();
            return Err(e).context("opening the dashboard");
        }
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
        let terminal = match Terminal::new(CrosstermBackend::new(stderr)) {
            Ok(t) => t,
            Err(e) => {
                restore_terminal();
                return Err(e).context("opening the dashboard");
            }
        };
        let view = Arc::new(Mutex::new(LiveView::new(plan)));
        let dirty = Arc::new(AtomicBool::new(true));
        let done = Arc::new(AtomicBool::new(false));
        let ui = Ui {
            view: view.clone(),
            dirty: dirty.clone(),
            done: done.clone(),
            abort,
        };
        let thread = std::thread::Builder::new()
            .name("stampede-dashboard".into())
            .spawn(move || ui.run(terminal))
            .context("starting the dashboard thread")?;
        Ok(Dashboard {
            view,
            dirty,
            done,
            thread: Some(thread),
            cpu: (stampede_engine::process_cpu(), Instant::now()),
        })
    }

    fn second(&mut self, live: &LiveSecond<'_>) {
        let (cpu, now) = (stampede_engine::process_cpu(), Instant::now());
        let wall = now.duration_since(self.cpu.1).as_secs_f64();
        let busy = if wall > 0.0 {
            cpu.saturating_sub(self.cpu.0).as_secs_f64() / wall
        } else {
            0.0
        };
        self.cpu = (cpu, now);
        self.view
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .update(live, busy);
        self.dirty.store(true, Ordering::Release);
    }

    fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.done.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        restore_terminal();
        // Drop the hook that restores the terminal; the default one comes back.
        let _ = std::panic::take_hook();
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop();
        }
    }
}

/// The drawing thread's side.
struct Ui {
    view: Arc<Mutex<LiveView>>,
    dirty: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    abort: Arc<AtomicBool>,
}

impl Ui {
    fn run(self, mut terminal: Term) {
        while !self.done.load(Ordering::Acquire) {
            if self.dirty.swap(false, Ordering::AcqRel) {
                let view = self.view.lock().unwrap_or_else(PoisonError::into_inner);
                if terminal.draw(|f| view.draw(f)).is_err() {
                    return;
                }
            }
            match event::poll(Duration::from_millis(100)) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => return,
            }
            match event::read() {
                Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => {
                    let ctrl_c =
                        k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                    if ctrl_c && self.abort.load(Ordering::Relaxed) {
                        // A second Ctrl-C: leave now, as a second SIGINT would.
                        restore_terminal();
                        std::process::exit(130);
                    }
                    if ctrl_c || matches!(k.code, KeyCode::Char('q') | KeyCode::Esc) {
                        self.abort.store(true, Ordering::Relaxed);
                        self.view
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .set_stopping();
                        self.dirty.store(true, Ordering::Release);
                    }
                }
                Ok(Event::Resize(..)) => self.dirty.store(true, Ordering::Release),
                Ok(_) => {}
                Err(_) => return,
            }
        }
    }
}
