//! The live dashboard on a terminal (ratatui).
//!
//! The dashboard draws on stderr (stdout keeps the results table) on the terminal's
//! alternate screen, from its own thread, so that resizing and keys are handled between
//! the engine's once-per-second updates. `q`, `Esc` or Ctrl-C stop the run the way a
//! first Ctrl-C does; a second Ctrl-C exits at once.

use std::io::Stderr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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

use crate::{Control, Finish, Flow, Observer};

type Term = Terminal<CrosstermBackend<Stderr>>;

/// The dashboard: a view shared with the drawing thread, which starts with the run.
pub struct Dashboard {
    view: Arc<Mutex<LiveView>>,
    dirty: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    terminal: Option<Term>,
    thread: Option<JoinHandle<()>>,
    cpu: (Duration, Instant),
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard").finish_non_exhaustive()
    }
}

/// The terminal could not be set up for the dashboard.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct DashboardError {
    what: &'static str,
    source: std::io::Error,
}

fn setup(what: &'static str) -> impl FnOnce(std::io::Error) -> DashboardError {
    move |source| DashboardError { what, source }
}

fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(std::io::stderr(), LeaveAlternateScreen, cursor::Show);
}

impl Dashboard {
    /// Takes over the terminal (stderr, alternate screen, raw mode); the view draws once
    /// the run starts. `q`, `Esc` or Ctrl-C then stop the run.
    pub fn open(plan: &RunPlan) -> Result<Dashboard, DashboardError> {
        enable_raw_mode().map_err(setup("switching the terminal to raw mode"))?;
        let mut stderr = std::io::stderr();
        if let Err(e) = execute!(stderr, EnterAlternateScreen, cursor::Hide) {
            restore_terminal();
            return Err(setup("opening the dashboard")(e));
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
                return Err(setup("opening the dashboard")(e));
            }
        };
        Ok(Dashboard {
            view: Arc::new(Mutex::new(LiveView::new(plan))),
            dirty: Arc::new(AtomicBool::new(true)),
            done: Arc::new(AtomicBool::new(false)),
            terminal: Some(terminal),
            thread: None,
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

    fn stop(&mut self) {
        self.terminal = None;
        self.done.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        restore_terminal();
        // Drop the hook that restores the terminal; the default one comes back.
        let _ = std::panic::take_hook();
    }
}

impl Observer for Dashboard {
    fn on_start(&mut self, control: &Arc<Control>) {
        let Some(terminal) = self.terminal.take() else {
            return;
        };
        let ui = Ui {
            view: self.view.clone(),
            dirty: self.dirty.clone(),
            done: self.done.clone(),
            control: control.clone(),
        };
        match std::thread::Builder::new()
            .name("stampede-dashboard".into())
            .spawn(move || ui.run(terminal))
        {
            Ok(t) => self.thread = Some(t),
            Err(e) => {
                self.stop();
                eprintln!("stampede: no dashboard (starting its thread: {e})");
            }
        }
    }

    fn on_second(&mut self, live: &LiveSecond<'_>) -> Flow {
        self.second(live);
        Flow::Continue
    }

    /// Restores the terminal before the caller prints the table.
    fn on_finish(&mut self, _: &mut Finish<'_>) {
        self.stop();
    }

    fn on_abandon(&mut self) {
        self.stop();
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        if self.thread.is_some() || self.terminal.is_some() {
            self.stop();
        }
    }
}

/// The drawing thread's side.
struct Ui {
    view: Arc<Mutex<LiveView>>,
    dirty: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    control: Arc<Control>,
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
                    if ctrl_c && self.control.is_stopped() {
                        // A second Ctrl-C: leave now, as a second SIGINT would.
                        restore_terminal();
                        std::process::exit(130);
                    }
                    if ctrl_c || matches!(k.code, KeyCode::Char('q') | KeyCode::Esc) {
                        self.control.stop();
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
