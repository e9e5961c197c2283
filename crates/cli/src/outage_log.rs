//! `stampede target`'s outages as they happen: a line on stdout for each instance going
//! down or coming back, and with `--outage-log FILE` the same as JSON Lines
//! ([`stampede_result::OutageEventDoc`]), which `stampede run --outage-log FILE` imports.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use stampede_result::{OutageChange, OutageEventDoc, OUTAGE_LOG_VERSION};
use stampede_testserver::{OutageEvent, TargetHandle};

/// Prints and writes the target's outage events not yet reported.
pub(crate) struct OutageReporter {
    file: Option<(File, String)>,
    reported: usize,
}

impl OutageReporter {
    /// Creates (or empties) `path` when given, so that a run reading it sees a log, not
    /// a missing file, before the first outage.
    pub(crate) fn create(path: Option<&Path>) -> anyhow::Result<Self> {
        let file = match path {
            Some(p) => Some((
                File::create(p).with_context(|| format!("--outage-log {}", p.display()))?,
                p.display().to_string(),
            )),
            None => None,
        };
        Ok(OutageReporter { file, reported: 0 })
    }

    /// Reports the events that happened since the last call.
    pub(crate) fn report(&mut self, target: &TargetHandle) -> anyhow::Result<()> {
        let events = target.outage_events();
        for e in events.iter().skip(self.reported) {
            let doc = doc_of(e);
            println!(
                "{} {} at {} ({:.3} s after start){}",
                doc.instance,
                if e.down { "down" } else { "up" },
                doc.at,
                doc.since_start_s,
                if e.down {
                    ": connects refused, open connections closed"
                } else {
                    ""
                }
            );
            if let Some((file, name)) = &mut self.file {
                let line = serde_json::to_string(&doc).expect("an outage event serializes");
                writeln!(file, "{line}")
                    .and_then(|()| file.flush())
                    .with_context(|| format!("writing --outage-log {name}"))?;
            }
        }
        self.reported = events.len();
        Ok(())
    }
}

fn doc_of(e: &OutageEvent) -> OutageEventDoc {
    OutageEventDoc {
        version: OUTAGE_LOG_VERSION,
        instance: e.instance.clone(),
        addr: e.addr.to_string(),
        event: if e.down {
            OutageChange::Down
        } else {
            OutageChange::Up
        },
        at: humantime::format_rfc3339_millis(e.at).to_string(),
        since_start_s: (e.since_start.as_secs_f64() * 1000.0).round() / 1000.0,
    }
}
