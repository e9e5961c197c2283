//! Running the cells one after another through the experiment layer, each after a
//! warm-up whose data is discarded.
//!
//! The warm-up is a run of its own on the cell's settings (same URL, load, protocol)
//! just before the measured run: it opens connections, fills the server's caches and
//! lets the TCP and TLS session state settle, then ends; the measured run starts from
//! a clean histogram. This is simpler to trust than cutting the first seconds out of
//! one run's series (no per-second merge boundary to get right), and what the warm-up
//! did is kept in the document (`cells[].warmup`) so that a server's own counts can be
//! reconciled with stampede's. Connections are not carried over: the measured run opens
//! its own, as every cell's does.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use stampede_engine::Control;
use stampede_experiment::{Finished, Observer, RunError, Verdict};
use stampede_plan::RunPlan;

use crate::doc::{attribute_all, AxisDoc, CellDoc, MatrixResult, WarmupDoc, MATRIX_SCHEMA_VERSION};
use crate::order::run_order;
use crate::Matrix;

/// The default warm-up: 1 s, or 10% of the cell's duration when that is shorter.
pub fn default_warmup(duration: Option<Duration>) -> Duration {
    let one = Duration::from_secs(1);
    duration.map_or(one, |d| one.min(d / 10))
}

/// The warm-up run of `plan`: the same settings for `warmup`, without a request limit,
/// thresholds or abort.
pub fn warmup_plan(plan: &RunPlan, warmup: Duration) -> RunPlan {
    let mut w = plan.clone();
    w.stop.duration = Some(warmup);
    w.stop.requests = None;
    w.thresholds.clear();
    w.abort_on_fail = false;
    w
}

/// What the runner tells its caller as it goes (progress lines).
#[derive(Debug)]
pub enum Event<'a> {
    /// A cell's warm-up starts.
    Warmup {
        /// 1-based position in the run order.
        position: usize,
        /// Cells in all.
        of: usize,
        /// `name=value` per axis.
        cell: &'a str,
        /// Its length.
        length: Duration,
    },
    /// A cell's measured run starts.
    Start {
        /// 1-based position in the run order.
        position: usize,
        /// Cells in all.
        of: usize,
        /// `name=value` per axis.
        cell: &'a str,
    },
    /// A cell's measured run ended.
    Done {
        /// 1-based position in the run order.
        position: usize,
        /// Cells in all.
        of: usize,
        /// `name=value` per axis.
        cell: &'a str,
        /// How it ended.
        finished: &'a Finished,
    },
}

/// A matrix that ran (in full or until stopped).
#[derive(Debug)]
pub struct MatrixRun {
    /// The document.
    pub result: MatrixResult,
    /// Each measured cell's verdict, in the document's cell order.
    pub verdicts: Vec<Verdict>,
}

/// Runs every cell of `matrix` with its plan (`plans[i]` for display cell `i`), in the
/// balanced run order, each after a `warmup` (none when zero). `stop` (set by a signal
/// handler) ends the cell going on, which is kept as measured so far, and skips the rest.
/// `observers` gives the observers of each measured run (progress lines).
pub fn run_matrix(
    matrix: &Matrix,
    plans: &[RunPlan],
    warmup: Duration,
    stop: &Arc<AtomicBool>,
    mut observers: impl FnMut(&RunPlan) -> Vec<Box<dyn Observer>>,
    mut on_event: impl FnMut(Event<'_>),
) -> Result<MatrixRun, RunError> {
    assert_eq!(plans.len(), matrix.cells().len(), "one plan per cell");
    let order = run_order(matrix.cells());
    let of = order.len();
    let mut done: Vec<Option<(CellDoc, Verdict)>> = vec![None; 0];
    done.resize_with(of, || None);
    for (pos, &cell) in order.iter().enumerate() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let label = matrix.label(cell);
        let position = pos + 1;
        let warm = if warmup.is_zero() {
            None
        } else {
            on_event(Event::Warmup {
                position,
                of,
                cell: &label,
                length: warmup,
            });
            let control = Control::with_stop_flag(stop.clone());
            let w = stampede_experiment::run(&warmup_plan(&plans[cell], warmup), Vec::new(), &control)?;
            Some(WarmupDoc::of(&w.result))
        };
        if stop.load(Ordering::SeqCst) {
            break;
        }
        on_event(Event::Start {
            position,
            of,
            cell: &label,
        });
        let control = Control::with_stop_flag(stop.clone());
        let finished = stampede_experiment::run(&plans[cell], observers(&plans[cell]), &control)?;
        on_event(Event::Done {
            position,
            of,
            cell: &label,
            finished: &finished,
        });
        let doc = CellDoc {
            axes: matrix.values(cell).into_iter().collect(),
            run_index: pos,
            warmup: warm,
            result: finished.result,
        };
        done[cell] = Some((doc, finished.verdict));
    }
    let interrupted = done.iter().any(Option::is_none)
        || done.iter().flatten().any(|(c, _)| c.result.aborted);
    let not_run: Vec<BTreeMap<String, String>> = done
        .iter()
        .enumerate()
        .filter(|(_, d)| d.is_none())
        .map(|(i, _)| matrix.values(i).into_iter().collect())
        .collect();
    let (cells, verdicts): (Vec<CellDoc>, Vec<Verdict>) = done.into_iter().flatten().unzip();
    let axes: Vec<AxisDoc> = matrix
        .axes()
        .iter()
        .map(|a| AxisDoc {
            name: a.name.clone(),
            values: a.values.clone(),
        })
        .collect();
    let attribution = attribute_all(&axes, &cells);
    Ok(MatrixRun {
        result: MatrixResult {
            schema_version: MATRIX_SCHEMA_VERSION,
            stampede_version: env!("CARGO_PKG_VERSION").to_string(),
            url_template: matrix.url_template().to_string(),
            axes,
            warmup_s: warmup.as_secs_f64(),
            interrupted,
            cells,
            not_run,
            attribution,
        },
        verdicts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_defaults_to_a_second_or_a_tenth() {
        assert_eq!(default_warmup(None), Duration::from_secs(1));
        assert_eq!(default_warmup(Some(Duration::from_secs(30))), Duration::from_secs(1));
        assert_eq!(
            default_warmup(Some(Duration::from_secs(2))),
            Duration::from_millis(200)
        );
    }
}
