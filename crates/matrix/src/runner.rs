//! Running the cells one after another through the experiment layer, each with a
//! warm-up whose data is discarded.
//!
//! A cell is one run of `warm-up + duration` on the cell's settings. Its first seconds
//! (the warm-up, whole seconds) are dropped by a [`WarmupRecorder`]: connections are
//! opened, TLS sessions made and the server's caches filled then, and the measured
//! window goes on over the *same* connections, so a keep-alive cell's latency does not
//! carry the handshakes of its first requests (a separate warm-up run would open its
//! connections again). The window becomes the cell's result document, judged on its own
//! data only (it has no per-group rows). What the warm-up did is kept in
//! `cells[].warmup` so that a server's own counts can be reconciled with stampede's:
//! the server saw `warmup.requests + result.summary.requests` requests.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use stampede_experiment::{Control, Observer, RunError, RunResult, WarmupRecorder};
use stampede_plan::RunPlan;

use crate::doc::{attribute_all, AxisDoc, CellDoc, MatrixResult, WarmupDoc, MATRIX_SCHEMA_VERSION};
use crate::order::run_order;
use crate::Matrix;

/// The default warm-up: 1 s.
pub const DEFAULT_WARMUP: Duration = Duration::from_secs(1);

/// A warm-up as the run drops it: whole seconds, rounded up (`--warmup 200ms` drops the
/// first second).
pub fn whole_seconds(warmup: Duration) -> Duration {
    Duration::from_secs(warmup.as_secs_f64().ceil() as u64)
}

/// The run of a cell: `plan` lengthened by the warm-up (which must be whole seconds).
pub fn cell_plan(plan: &RunPlan, warmup: Duration) -> RunPlan {
    let mut p = plan.clone();
    p.stop.duration = plan.stop.duration.map(|d| d + warmup);
    p
}

/// What the runner tells its caller as it goes (progress lines).
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A cell's run starts (with its warm-up).
    Start {
        /// 1-based position in the run order.
        position: usize,
        /// Cells in all.
        of: usize,
        /// `name=value` per axis.
        cell: &'a str,
        /// Its warm-up.
        warmup: Duration,
    },
    /// A cell's measured run ended.
    Done {
        /// 1-based position in the run order.
        position: usize,
        /// Cells in all.
        of: usize,
        /// `name=value` per axis.
        cell: &'a str,
        /// Its measured result.
        result: &'a RunResult,
    },
}

/// Runs every cell of `matrix` with its plan (`plans[i]` for display cell `i`, which
/// must stop on a duration), in the balanced run order, each after a `warmup` of whole
/// seconds (none when zero). `stop` (set by a signal handler) ends the cell going on,
/// which is kept as measured so far, and skips the rest. `observers` gives the
/// observers of each cell's run (progress lines).
pub fn run_matrix(
    matrix: &Matrix,
    plans: &[RunPlan],
    warmup: Duration,
    stop: &Arc<AtomicBool>,
    mut observers: impl FnMut(&RunPlan) -> Vec<Box<dyn Observer>>,
    mut on_event: impl FnMut(Event<'_>),
) -> Result<MatrixResult, RunError> {
    assert_eq!(plans.len(), matrix.cells().len(), "one plan per cell");
    let warmup = whole_seconds(warmup);
    let order = run_order(matrix.cells());
    let of = order.len();
    let mut done: Vec<Option<CellDoc>> = vec![None; of];
    for (pos, &cell) in order.iter().enumerate() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let label = matrix.label(cell);
        let position = pos + 1;
        on_event(Event::Start {
            position,
            of,
            cell: &label,
            warmup,
        });
        let plan = cell_plan(&plans[cell], warmup);
        let recorder = WarmupRecorder::new(warmup, plan.stop.duration);
        let window = recorder.window();
        let mut watchers: Vec<Box<dyn Observer>> = vec![Box::new(recorder)];
        watchers.extend(observers(&plan));
        let control = Control::with_stop_flag(stop.clone());
        let finished = stampede_experiment::run(&plan, watchers, &control)?;
        let window = window.lock().unwrap_or_else(|p| p.into_inner()).take();
        // Stopped during its warm-up: nothing of the cell was measured.
        let Some(window) = window.filter(|w| w.seconds() > 0) else {
            break;
        };
        let mut result = window.result(&plans[cell]);
        result.aborted = finished.result.aborted;
        // The first message of each class the window saw (taken over the whole run).
        result.error_samples = finished
            .result
            .error_samples
            .iter()
            .filter(|(class, _)| result.errors_by_class.contains_key(*class))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let whole = &finished.result.summary.core;
        let measured = &result.summary.core;
        let warm = WarmupDoc {
            seconds: warmup.as_secs(),
            requests: whole.requests.saturating_sub(measured.requests),
            errors: whole.errors.saturating_sub(measured.errors),
            timeouts: whole.timeouts.saturating_sub(measured.timeouts),
        };
        on_event(Event::Done {
            position,
            of,
            cell: &label,
            result: &result,
        });
        done[cell] = Some(CellDoc {
            axes: matrix.values(cell).into_iter().collect(),
            run_index: pos,
            warmup: warm,
            result,
        });
    }
    let interrupted =
        done.iter().any(Option::is_none) || done.iter().flatten().any(|c| c.result.aborted);
    let not_run: Vec<BTreeMap<String, String>> = done
        .iter()
        .enumerate()
        .filter(|(_, d)| d.is_none())
        .map(|(i, _)| matrix.values(i).into_iter().collect())
        .collect();
    let cells: Vec<CellDoc> = done.into_iter().flatten().collect();
    let axes: Vec<AxisDoc> = matrix
        .axes()
        .iter()
        .map(|a| AxisDoc {
            name: a.name.clone(),
            values: a.values.clone(),
        })
        .collect();
    let attribution = attribute_all(&axes, &cells);
    Ok(MatrixResult {
        schema_version: MATRIX_SCHEMA_VERSION,
        stampede_version: env!("CARGO_PKG_VERSION").to_string(),
        url_template: matrix.url_template().to_string(),
        axes,
        warmup_s: warmup.as_secs_f64(),
        interrupted,
        cells,
        not_run,
        attribution,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmups_are_whole_seconds_added_to_the_cell() {
        assert_eq!(whole_seconds(Duration::ZERO), Duration::ZERO);
        assert_eq!(
            whole_seconds(Duration::from_millis(200)),
            Duration::from_secs(1)
        );
        assert_eq!(
            whole_seconds(Duration::from_secs(2)),
            Duration::from_secs(2)
        );
        let plan = RunPlan::builder("http://127.0.0.1:1/")
            .duration(Duration::from_secs(5))
            .build()
            .unwrap();
        let cell = cell_plan(&plan, Duration::from_secs(1));
        assert_eq!(cell.stop.duration, Some(Duration::from_secs(6)));
    }
}
