//! `stampede report` and `stampede compare`: work on saved results (`--out FILE`).

use std::path::Path;

use stampede_report::{compare_results, render_comparison, render_table, RunResult};

use crate::args::{CompareArgs, ReportArgs};
use crate::output::write_html;
use crate::{UsageError, EXIT_OK, EXIT_THRESHOLD};

/// Reads a saved result; a missing or invalid file is a usage error naming the file.
fn load(path: &Path) -> anyhow::Result<RunResult> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
    RunResult::from_json(&text)
        .map_err(|e| UsageError(format!("{} is not a stampede result: {e}", path.display())).into())
}

pub(crate) fn report(a: ReportArgs) -> anyhow::Result<u8> {
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
