//! `stampede report` and `stampede compare`: work on saved results (`--out FILE`).

use std::path::Path;

use stampede_report::{compare_results, render_comparison, render_table, RunResult};

use crate::args::{CompareArgs, ReportArgs};
use crate::outputs::write_html;
use crate::{UsageError, EXIT_OK, EXIT_THRESHOLD};

/// The `schema_version`s of result documents this stampede reads (the result crate's).
const READABLE_SCHEMA_VERSIONS: std::ops::RangeInclusive<u64> = (*stampede_result::READABLE_VERSIONS
    .start() as u64)
    ..=(*stampede_result::READABLE_VERSIONS.end() as u64);

/// Reads a saved result; a missing or invalid file, or one of a schema version this
/// stampede does not read, is a usage error naming the file.
pub(crate) fn load(path: &Path) -> anyhow::Result<RunResult> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
    let invalid = |why: String| {
        UsageError(format!(
            "{} is not a stampede result: {why}",
            path.display()
        ))
    };
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    match doc.get("schema_version").map(|v| (v, v.as_u64())) {
        None => return Err(invalid("it has no schema_version".into()).into()),
        Some((_, Some(v))) if READABLE_SCHEMA_VERSIONS.contains(&v) => {}
        Some((v, _)) => {
            return Err(UsageError(format!(
                "{}: schema_version {v} is not one this stampede reads ({} to {}); \
                 a newer stampede wrote it, or the file was edited",
                path.display(),
                READABLE_SCHEMA_VERSIONS.start(),
                READABLE_SCHEMA_VERSIONS.end()
            ))
            .into())
        }
    }
    RunResult::from_json(&text).map_err(|e| invalid(e.to_string()).into())
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
