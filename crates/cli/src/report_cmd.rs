//! `stampede report` and `stampede compare`: work on saved results (`--out FILE`).

use std::path::Path;

use anyhow::Context;
use stampede_report::{compare_results, render_comparison, render_html, render_table, RunResult};

use crate::args::{CompareArgs, ReportArgs};
use crate::run_cmd::write_atomically;
use crate::{UsageError, EXIT_OK, EXIT_THRESHOLD};

/// Reads a saved result; a missing or invalid file is a usage error naming the file.
fn load(path: &Path) -> anyhow::Result<RunResult> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
    RunResult::from_json(&text)
        .map_err(|e| UsageError(format!("{} is not a stampede result: {e}", path.display())).into())
}

/// Writes the HTML report of `result` to `path`.
pub(crate) fn write_html(path: &Path, result: &RunResult) -> anyhow::Result<()> {
    write_atomically(path, &render_html(result))
        .with_context(|| format!("writing the HTML report {}", path.display()))
}

pub(crate) fn report(a: ReportArgs) -> anyhow::Result<u8> {
    if let Some(path) = &a.html {
        crate::outputs::check_writable("--html", path)?;
    }
    let result = load(&a.result)?;
    print!("{}", render_table(&result));
    if let Some(path) = &a.html {
        write_html(path, &result).map_err(|e| UsageError(format!("{e:#}")))?;
    }
    Ok(EXIT_OK)
}

pub(crate) fn compare(a: CompareArgs) -> anyhow::Result<u8> {
    let baseline = load(&a.baseline)?;
    let candidate = load(&a.candidate)?;
    let cmp = compare_results(&baseline, &candidate, a.threshold);
    print!(
        "{}",
        render_comparison(
            (&a.baseline.display().to_string(), &baseline),
            (&a.candidate.display().to_string(), &candidate),
            &cmp,
        )
    );
    Ok(if cmp.has_regression() {
        EXIT_THRESHOLD
    } else {
        EXIT_OK
    })
}
