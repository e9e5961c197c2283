//! `stampede merge`: one exact result from the results of a run's shards.

use stampede_analysis::rejudge::{rejudge, Judged};
use stampede_report::render_table;

use crate::args::MergeArgs;
use crate::outputs::{check_writable, write_atomically, write_html};
use crate::report_cmd::load;
use crate::{UsageError, EXIT_OK, EXIT_THRESHOLD};

pub(crate) fn run(a: MergeArgs) -> anyhow::Result<u8> {
    check_writable("--out", &a.out)?;
    if let Some(path) = &a.html {
        check_writable("--html", path)?;
    }
    let docs = a
        .results
        .iter()
        .map(|p| load(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut merged = stampede_result::merge(&docs).map_err(|e| UsageError(e.to_string()))?;
    let judged = rejudge(&merged).map_err(|e| UsageError(format!("merged result: {e}")))?;
    let kept: Vec<String> = judged
        .iter()
        .filter(|(_, j)| *j == Judged::Kept)
        .map(|(o, _)| o.label())
        .collect();
    merged.thresholds = judged.into_iter().map(|(o, _)| o).collect();
    write_atomically(&a.out, &merged.to_json())
        .map_err(|e| UsageError(format!("cannot write {}: {e}", a.out.display())))?;
    if let Some(path) = &a.html {
        write_html(path, &merged).map_err(|e| UsageError(format!("{e:#}")))?;
    }
    if !a.quiet {
        print!("{}", render_table(&merged));
    }
    eprintln!(
        "merged {} results into {}{}",
        docs.len(),
        a.out.display(),
        match merged.thresholds.len() - kept.len() {
            0 => String::new(),
            n => format!("; {n} threshold(s) judged on the merged data"),
        }
    );
    if !kept.is_empty() {
        eprintln!(
            "note: {} judged per step over windows: the results keep no per-step series, \
             so the merge's verdict stands (passed only if it passed in every shard)",
            kept.join(", ")
        );
    }
    if let Some(missing) = missing_shards(&merged) {
        eprintln!("WARNING: {missing}");
    }
    Ok(match merged.thresholds_passed() {
        true => EXIT_OK,
        false => EXIT_THRESHOLD,
    })
}

/// What is missing when the results hold only some shards of a run.
fn missing_shards(merged: &stampede_result::RunResult) -> Option<String> {
    let s = merged.shard.as_ref()?;
    let missing: Vec<String> = (0..s.count)
        .filter(|i| !s.indexes.contains(i))
        .map(|i| format!("{i}/{}", s.count))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "shard(s) {} are missing: the merged result holds {} of {} shards, so only part \
             of the run's load",
            missing.join(", "),
            s.indexes.len(),
            s.count
        )
    })
}
