//! TEMPORARY stand-in for `stampede_engine::Control` until the engine's lands on main
//! (same API); removed at that merge.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Steers a run while it goes on.
#[derive(Debug, Default)]
pub struct Control {
    stop: Arc<AtomicBool>,
}

impl Control {
    /// A new control.
    pub fn new() -> Arc<Control> {
        Arc::new(Control::default())
    }
    /// Stops the run.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
    /// True once stopped.
    pub fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
    /// The stop flag, for signal handlers.
    pub fn stop_flag(&self) -> &Arc<AtomicBool> {
        &self.stop
    }
    /// Not yet applied by the engine.
    pub fn set_rate(&self, _per_second: f64) {}
}
