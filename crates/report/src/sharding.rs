//! The lines under a table's title that say which shards of a run a result holds and
//! how its planned start went (`--shard`, `--start-at`, `stampede merge`).

use std::fmt::Write;

use stampede_result::RunResult;

/// Zero, one or two lines, each ending with a newline.
pub(crate) fn shard_lines(r: &RunResult) -> String {
    let mut out = String::new();
    if let Some(s) = &r.shard {
        if let [only] = s.indexes[..] {
            let _ = writeln!(
                out,
                "shard {only}/{} of a sharded run: merge the shards' results with `stampede merge`",
                s.count
            );
        } else {
            let held: Vec<String> = s.indexes.iter().map(|i| i.to_string()).collect();
            let _ = write!(
                out,
                "shards: {} of {} merged ({})",
                s.indexes.len(),
                s.count,
                held.join(", ")
            );
            let missing: Vec<String> = (0..s.count)
                .filter(|i| !s.indexes.contains(i))
                .map(|i| format!("{i}/{}", s.count))
                .collect();
            match missing.is_empty() {
                true => out.push('\n'),
                false => {
                    let _ = writeln!(
                        out,
                        "; MISSING {}: these figures hold only part of the run's load",
                        missing.join(", ")
                    );
                }
            }
        }
    }
    if let Some(st) = &r.start {
        let e = st.error_ms;
        let how = match e {
            e if e >= 0.0 => format!("{e:.1} ms late"),
            e => format!("{:.1} ms early", -e),
        };
        let merged = match r.shard.as_ref().map_or(1, |s| s.indexes.len()) {
            1 => "",
            _ => " (the furthest shard)",
        };
        let _ = writeln!(out, "start: planned {}, {how}{merged}", st.planned_at);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use stampede_result::{ShardDoc, StartDoc};

    fn result() -> RunResult {
        let plan = crate::testing::plan(false);
        stampede_analysis::assemble(&plan, &crate::testing::outcome(false, false))
    }

    #[test]
    fn says_which_shards_and_how_the_start_went() {
        let mut r = result();
        assert_eq!(shard_lines(&r), "");
        r.shard = Some(ShardDoc {
            count: 4,
            indexes: vec![2],
        });
        r.start = Some(StartDoc {
            planned_at: "2026-11-29T21:00:00.000000Z".into(),
            error_ms: 1.26,
        });
        assert_eq!(
            shard_lines(&r),
            "shard 2/4 of a sharded run: merge the shards' results with `stampede merge`\n\
             start: planned 2026-11-29T21:00:00.000000Z, 1.3 ms late\n"
        );
        r.shard = Some(ShardDoc {
            count: 4,
            indexes: vec![0, 1, 3],
        });
        r.start.as_mut().unwrap().error_ms = -0.5;
        let text = shard_lines(&r);
        assert!(
            text.starts_with("shards: 3 of 4 merged (0, 1, 3); MISSING 2/4"),
            "{text}"
        );
        assert!(
            text.ends_with("0.5 ms early (the furthest shard)\n"),
            "{text}"
        );
    }
}
