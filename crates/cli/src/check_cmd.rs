//! `stampede check FILE...`: validate scenario files without sending anything.

use stampede_scenario::{load_any, Journeys, ScenarioError, ScenarioFile, Step};

use crate::args::CheckArgs;
use crate::{EXIT_OK, EXIT_USAGE};

/// Prints `FILE: ok (N scenarios, M steps)` per valid file and the error (`FILE:line:col:
/// message`) per invalid one; exit code 2 when any file is invalid.
pub(crate) fn run(args: CheckArgs) -> anyhow::Result<u8> {
    let mut code = EXIT_OK;
    for file in &args.files {
        match load_any(file).and_then(|f| describe(&f)) {
            Ok(what) => println!("{}: ok ({what})", file.display()),
            Err(e) => {
                eprintln!("{e}");
                code = EXIT_USAGE;
            }
        }
    }
    Ok(code)
}

/// `N scenarios, M steps`, after a matrix's shape when it is one (every cell validated).
fn describe(file: &ScenarioFile) -> Result<String, ScenarioError> {
    let m = match file {
        ScenarioFile::Plain(j) => return Ok(size(j)),
        ScenarioFile::Matrix(m) => m,
    };
    let cells = m.cells();
    let mut first = None;
    for c in &cells {
        let j = m.cell(c)?;
        first.get_or_insert(j);
    }
    let shape: Vec<String> = m
        .axes()
        .iter()
        .map(|a| format!("{} × {}", a.levels.len(), a.name))
        .collect();
    Ok(format!(
        "matrix of {} cells: {}; {}",
        cells.len(),
        shape.join(", "),
        size(&first.expect("a matrix has a cell"))
    ))
}

fn size(j: &Journeys) -> String {
    let steps: usize = j.scenarios.iter().map(|s| count_steps(&s.steps)).sum();
    let n = j.scenarios.len();
    format!(
        "{n} scenario{}, {steps} step{}",
        if n == 1 { "" } else { "s" },
        if steps == 1 { "" } else { "s" }
    )
}

/// Steps that do something: a group counts as its steps, once (not times `repeat`).
fn count_steps(steps: &[Step]) -> usize {
    steps
        .iter()
        .map(|s| match s {
            Step::Group { steps, .. } => count_steps(steps),
            _ => 1,
        })
        .sum()
}
