//! `stampede matrix`: one test across variables. Each cell's run flags are the matrix's
//! own with the cell's values in their `{NAME}` placeholders, turned into a plan by
//! `run`'s own [`plan_from_args`].

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use stampede_experiment::{Observer, Progress};
use stampede_matrix::{render_matrix_table, run_matrix, Axis, Event, Matrix, MatrixError};
use stampede_plan::RunPlan;

use crate::args::{MatrixArgs, RunArgs};
use crate::outputs::{check_run_outputs, stop_on_signals, write_atomically};
use crate::run_cmd::{plan_from_args, run_error};
use crate::scenario_cmd::{plan_from_journeys, refuse_flags_set_in_file};
use crate::{UsageError, EXIT_ABORTED, EXIT_OK};
use stampede_scenario::load_matrix;

fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

impl From<MatrixError> for UsageError {
    fn from(e: MatrixError) -> Self {
        UsageError(e.to_string())
    }
}

/// Flags of `run` that a matrix does not take, with the reason.
fn refuse_run_only_flags(a: &RunArgs) -> anyhow::Result<()> {
    let refused = [
        (
            a.requests.is_some(),
            "-n/--requests: a matrix cell runs for a duration (its warm-up is the first seconds of it); use -d",
        ),
        (
            !a.thresholds.is_empty() || a.abort_on_fail,
            "--threshold/--abort-on-fail are not supported by matrix: compare the cells in the table or the --out document",
        ),
        (
            a.request.base_url.is_some() && !crate::scenario_cmd::is_scenario(&a.url),
            "--base-url applies to scenario files",
        ),
        (
            a.group_by.is_some(),
            "--group-by is not supported by matrix: a cell's result is the window after its warm-up, which has no per-group rows",
        ),
        (
            a.output.prometheus_listen.is_some() || a.output.prometheus_hold.is_some(),
            "--prometheus-listen/--prometheus-hold are not supported by matrix (one run per cell)",
        ),
        (
            !a.output.watch_pid.is_empty(),
            "--watch-pid is not supported by matrix",
        ),
        (
            a.shard.is_some() || a.start_at.is_some(),
            "--shard/--start-at are not supported by matrix (one run per cell); shard a stampede run",
        ),
        (
            !a.faults.is_empty(),
            "--fault is not supported by matrix: schedule faults into one run (stampede run --fault)",
        ),
        (
            a.outage_log.is_some(),
            "--outage-log is not supported by matrix: import outages into one run (stampede run --outage-log)",
        ),
    ];
    match refused.iter().find(|(given, _)| *given) {
        Some((_, why)) => Err(usage(*why)),
        None => Ok(()),
    }
}

/// The matrix of the flags: axes checked against the URL, `-H` values and
/// `--connect-to`.
fn matrix_of(a: &MatrixArgs) -> anyhow::Result<Matrix> {
    let axes = a
        .axes
        .iter()
        .map(|s| Axis::parse(s).map_err(UsageError::from))
        .collect::<Result<Vec<_>, _>>()?;
    let mut templates: Vec<(&str, &str)> = Vec::new();
    for (_, value) in &a.run.request.headers {
        templates.push(("-H", value));
    }
    for addr in &a.run.request.connect_to {
        templates.push(("--connect-to", addr));
    }
    Ok(Matrix::new(&a.run.url, axes, &templates).map_err(UsageError::from)?)
}

/// Cell `i`'s run flags: the matrix's with the cell's values filled in.
fn cell_args(m: &Matrix, i: usize, run: &RunArgs) -> RunArgs {
    let mut cell = run.clone();
    cell.url = m.fill(i, &run.url);
    for (_, value) in &mut cell.request.headers {
        *value = m.fill(i, value);
    }
    for addr in &mut cell.request.connect_to {
        *addr = m.fill(i, addr);
    }
    cell
}

/// A scenario file's matrix and every cell's plan: each cell is the file with its
/// levels applied, validated before anything is sent.
fn file_matrix(a: &MatrixArgs) -> anyhow::Result<(Matrix, Vec<RunPlan>)> {
    if !a.axes.is_empty() {
        return Err(usage(format!(
            "--axis does not apply to a scenario file: its axes are the [matrix.AXIS] tables of {}",
            a.run.url
        )));
    }
    if a.run.request.base_url.is_some() {
        return Err(usage(
            "--base-url does not apply to a matrix file: set base_url in its [target] or in a [matrix] level",
        ));
    }
    refuse_flags_set_in_file(&a.run)?;
    let file = load_matrix(Path::new(&a.run.url)).map_err(|e| usage(e.to_string()))?;
    let axes = file
        .axes()
        .iter()
        .map(|x| Axis {
            name: x.name.clone(),
            values: x.levels.clone(),
        })
        .collect();
    let matrix = Matrix::of_file(&a.run.url, axes).map_err(UsageError::from)?;
    let plans = matrix
        .cells()
        .iter()
        .map(|cell| {
            let journeys = file.cell(&cell.levels).map_err(|e| usage(e.to_string()))?;
            plan_from_journeys(&a.run, journeys)
        })
        .collect::<anyhow::Result<Vec<RunPlan>>>()?;
    Ok((matrix, plans))
}

/// The matrix of a URL template and every cell's plan.
fn template_matrix(a: &MatrixArgs) -> anyhow::Result<(Matrix, Vec<RunPlan>)> {
    let matrix = matrix_of(a)?;
    // Every cell's plan before anything is sent: a value that makes a bad URL or address
    // is a usage error now, not after half the matrix ran.
    let plans = (0..matrix.cells().len())
        .map(|i| {
            plan_from_args(&cell_args(&matrix, i, &a.run)).map_err(|e| {
                match e.downcast::<UsageError>() {
                    Ok(u) => usage(format!("cell {}: {u}", matrix.label(i))),
                    Err(other) => other,
                }
            })
        })
        .collect::<anyhow::Result<Vec<RunPlan>>>()?;
    Ok((matrix, plans))
}

pub(crate) fn run(a: MatrixArgs) -> anyhow::Result<u8> {
    refuse_run_only_flags(&a.run)?;
    check_run_outputs(a.run.out.as_deref(), &a.run.output)?;
    let (matrix, plans) = if crate::scenario_cmd::is_scenario(&a.run.url) {
        file_matrix(&a)?
    } else {
        template_matrix(&a)?
    };
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signals(&stop)?;
    let quiet = a.run.quiet;
    if !quiet {
        eprintln!(
            "stampede: matrix of {} cells ({}), {}s warm-up + {} each, in a balanced order",
            matrix.cells().len(),
            matrix
                .axes()
                .iter()
                .map(|x| format!("{} × {}", x.values.len(), x.name))
                .collect::<Vec<_>>()
                .join(", "),
            stampede_matrix::whole_seconds(a.warmup).as_secs(),
            plans[0]
                .stop
                .duration
                .map_or("?".to_string(), |d| format!("{:.1}s", d.as_secs_f64()))
        );
    }
    let observers = |plan: &RunPlan| -> Vec<Box<dyn Observer>> {
        if quiet {
            Vec::new()
        } else {
            vec![Box::new(Progress::every(5).until(plan.stop.duration))]
        }
    };
    let on_event = |e: Event<'_>| {
        if quiet {
            return;
        }
        match e {
            Event::Start {
                position, of, cell, ..
            } => eprintln!("matrix: cell {position}/{of}: {cell}"),
            Event::Done {
                position,
                of,
                cell,
                result,
            } => {
                let c = &result.summary.core;
                eprintln!(
                    "matrix: cell {position}/{of} done: {cell}: {} requests, {} errors, {} timeouts, p99 {} ms{}",
                    c.requests,
                    c.errors,
                    c.timeouts,
                    stampede_report::fmt_ms(c.latency_ms.p99),
                    if result.aborted { " (stopped)" } else { "" }
                );
            }
            _ => {}
        }
    };
    let doc =
        run_matrix(&matrix, &plans, a.warmup, &stop, observers, on_event).map_err(run_error)?;
    print!("{}", render_matrix_table(&doc));
    if let Some(path) = &a.run.out {
        write_atomically(path, &doc.to_json())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &a.run.output.html {
        write_atomically(path, &stampede_matrix::render_matrix_html(&doc))
            .with_context(|| format!("writing the HTML page {}", path.display()))?;
    }
    Ok(if doc.interrupted {
        EXIT_ABORTED
    } else {
        EXIT_OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> MatrixArgs {
        let mut all = vec!["stampede", "matrix"];
        all.extend_from_slice(args);
        match crate::Cli::try_parse_from(all).unwrap().command {
            crate::Command::Matrix(m) => *m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_cell_gets_its_values_in_url_headers_and_addresses() {
        let a = parse(&[
            "http://{host}{path}",
            "--axis",
            "host=a.test,b.test",
            "--axis",
            "path=/,/slow",
            "--axis",
            "port=1,2",
            "-H",
            "X-Path: {path}",
            "--connect-to",
            "127.0.0.1:808{port}",
        ]);
        let m = matrix_of(&a).unwrap();
        assert_eq!(m.cells().len(), 8);
        let last = cell_args(&m, 7, &a.run);
        assert_eq!(last.url, "http://b.test/slow");
        assert_eq!(
            last.request.headers,
            [("X-Path".to_string(), "/slow".to_string())]
        );
        assert_eq!(last.request.connect_to, ["127.0.0.1:8082"]);
        let plan = plan_from_args(&last).unwrap();
        assert_eq!(plan.requests().unwrap().connect_to[0].port(), 8082);
    }

    #[test]
    fn bad_matrices_are_usage_errors_naming_the_flag() {
        let e = |args: &[&str]| -> String {
            let a = parse(args);
            let err = matrix_of(&a)
                .and_then(|m| {
                    (0..m.cells().len())
                        .try_for_each(|i| plan_from_args(&cell_args(&m, i, &a.run)).map(drop))
                })
                .unwrap_err();
            assert!(err.downcast_ref::<UsageError>().is_some(), "{err:#}");
            err.to_string()
        };
        assert!(e(&["http://h{p}", "--axis", "p=/,", "--axis", "q=1"]).contains("--axis 'p=/,'"));
        assert!(e(&["http://h{p}", "--axis", "p=/a", "--axis", "p=/b"]).contains("twice"));
        assert!(e(&["http://h{p}{q}", "--axis", "p=/a"]).contains("{q} in the URL"));
        assert!(e(&["http://h{p}", "--axis", "p=/a", "--axis", "q=1"]).contains("--axis q:"));
        assert!(
            e(&["http://h/", "--axis", "a=1", "--connect-to", "{a}"]).contains("--connect-to '1'")
        );
    }
}
