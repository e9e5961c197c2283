//! `stampede check FILE...`: validate scenario files without sending anything.

use stampede_scenario::{load_file, Step};

use crate::args::CheckArgs;
use crate::{EXIT_OK, EXIT_USAGE};

/// Prints `FILE: ok (N scenarios, M steps)` per valid file and the error (`FILE:line:col:
/// message`) per invalid one; exit code 2 when any file is invalid.
pub(crate) fn run(args: CheckArgs) -> anyhow::Result<u8> {
    let mut code = EXIT_OK;
    for file in &args.files {
        match load_file(file) {
            Ok(j) => {
                let steps: usize = j.scenarios.iter().map(|s| count_steps(&s.steps)).sum();
                let n = j.scenarios.len();
                println!(
                    "{}: ok ({n} scenario{}, {steps} step{})",
                    file.display(),
                    if n == 1 { "" } else { "s" },
                    if steps == 1 { "" } else { "s" }
                );
            }
            Err(e) => {
                eprintln!("{e}");
                code = EXIT_USAGE;
            }
        }
    }
    Ok(code)
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
