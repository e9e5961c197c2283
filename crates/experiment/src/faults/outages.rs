//! Instance outages of the built-in target imported into a run's fault timeline
//! (`stampede run --outage-log FILE`): `stampede target --outage-log FILE` writes each
//! instance going down and coming back with its wall-clock time; at the end of the run the
//! log is read again and every outage that overlaps the run becomes a `down` entry of
//! `faults[]`, placed on the run's clock by wall-clock time. The before / during / after
//! tables and the chart bands then cover the outages as they do `--fault`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use stampede_result::{parse_outage_log, FaultDoc, OutageChange, OutageEventDoc};

use crate::observer::{Finish, Flow, Observer};
use crate::{Control, LiveSecond};

/// An outage log that cannot be read or is not one.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct OutageLogReadError {
    /// The file.
    pub path: String,
    /// What is wrong (a parse error names line and column).
    pub message: String,
}

/// Reads and checks an outage log.
pub fn read_outage_log(path: &Path) -> Result<Vec<OutageEventDoc>, OutageLogReadError> {
    let error = |message: String| OutageLogReadError {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    parse_outage_log(&text).map_err(|e| error(e.to_string()))
}

/// The outages in `events` that overlap a run whose time zero was `zero` and which ended
/// `end_s` seconds later, as `down` faults on its clock, in start order; and how many
/// outages were outside the run. An outage that began before time zero starts at 0 (its
/// `spec` keeps the real time); one still on at the end has `end_s: None`. `source` names
/// the log in each fault's `target`.
pub fn outage_faults(
    events: &[OutageEventDoc],
    zero: SystemTime,
    end_s: f64,
    source: &str,
) -> (Vec<FaultDoc>, usize) {
    let run_s = |e: &OutageEventDoc| match e.at().duration_since(zero) {
        Ok(d) => d.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    };
    let ms = |s: f64| (s * 1000.0).round() / 1000.0;
    let (mut faults, mut outside) = (Vec::new(), 0);
    for (i, down) in events.iter().enumerate() {
        if down.event != OutageChange::Down {
            continue;
        }
        let up = events[i + 1..]
            .iter()
            .find(|e| e.instance == down.instance && e.addr == down.addr);
        let up = up.filter(|e| e.event == OutageChange::Up);
        let (from, to) = (run_s(down), up.map(run_s));
        if from >= end_s || to.is_some_and(|t| t <= 0.0) {
            outside += 1;
            continue;
        }
        faults.push(FaultDoc {
            kind: "down".into(),
            spec: match up {
                Some(up) => format!("{} down at {}, up at {}", down.instance, down.at, up.at),
                None => format!("{} down at {}", down.instance, down.at),
            },
            target: format!(
                "instance {} {} (outage log {source})",
                down.instance, down.addr
            ),
            start_s: ms(from.max(0.0)),
            end_s: to.filter(|&t| t < end_s).map(ms),
        });
    }
    faults.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    (faults, outside)
}

/// The observer: reads the log at the end of the run into `faults[]`.
#[derive(Debug)]
pub struct OutageImport {
    path: PathBuf,
    control: Option<Arc<Control>>,
}

impl OutageImport {
    /// Checks now that `path` is a readable outage log (it is read again at the end of
    /// the run, when the target has written the outages that happened meanwhile).
    pub fn new(path: impl Into<PathBuf>) -> Result<Self, OutageLogReadError> {
        let path = path.into();
        read_outage_log(&path)?;
        Ok(OutageImport {
            path,
            control: None,
        })
    }
}

impl Observer for OutageImport {
    fn on_start(&mut self, control: &Arc<Control>) {
        self.control = Some(control.clone());
    }

    fn on_second(&mut self, _live: &LiveSecond<'_>) -> Flow {
        Flow::Continue
    }

    fn on_finish(&mut self, finish: &mut Finish<'_>) {
        let zero = self
            .control
            .as_ref()
            .and_then(|c| c.started())
            .map_or(finish.outcome.started_at, crate::clock::wall_clock);
        let events = match read_outage_log(&self.path) {
            Ok(events) => events,
            Err(e) => {
                eprintln!("stampede: --outage-log: no outage imported: {e}");
                return;
            }
        };
        let source = self.path.display().to_string();
        let result = &mut *finish.result;
        let (faults, outside) = outage_faults(&events, zero, result.summary.elapsed_s, &source);
        if outside > 0 {
            eprintln!(
                "stampede: --outage-log {source}: {outside} outage(s) outside the run left out"
            );
        }
        result.faults.extend(faults);
        result
            .faults
            .sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn event(instance: &str, down: bool, at_s: f64) -> OutageEventDoc {
        let zero = humantime::parse_rfc3339("2026-11-30T00:00:00Z").unwrap();
        let at = zero + Duration::from_secs_f64(at_s);
        OutageEventDoc {
            version: 1,
            instance: instance.into(),
            addr: format!("127.0.0.1:80{}", &instance[instance.len() - 1..]),
            event: if down {
                OutageChange::Down
            } else {
                OutageChange::Up
            },
            at: humantime::format_rfc3339_millis(at).to_string(),
            since_start_s: at_s,
        }
    }

    fn zero_plus(s: f64) -> SystemTime {
        humantime::parse_rfc3339("2026-11-30T00:00:00Z").unwrap() + Duration::from_secs_f64(s)
    }

    #[test]
    fn outages_land_on_the_run_clock_by_wall_time() {
        // The target started 5 s before the run: its 7 s..9.5 s is the run's 2 s..4.5 s.
        let events = [
            event("target-2", true, 7.0),
            event("target-3", true, 8.25),
            event("target-2", false, 9.5),
        ];
        let (faults, outside) = outage_faults(&events, zero_plus(5.0), 10.0, "o.jsonl");
        assert_eq!(outside, 0);
        let spans: Vec<_> = faults.iter().map(|f| (f.start_s, f.end_s)).collect();
        // target-3 never came back: still on at the end.
        assert_eq!(spans, [(2.0, Some(4.5)), (3.25, None)]);
        assert_eq!(faults[0].kind, "down");
        assert_eq!(
            faults[0].spec,
            "target-2 down at 2026-11-30T00:00:07.000Z, up at 2026-11-30T00:00:09.500Z"
        );
        assert_eq!(
            faults[0].target,
            "instance target-2 127.0.0.1:802 (outage log o.jsonl)"
        );
    }

    #[test]
    fn outages_outside_the_run_are_left_out_and_edges_are_clamped() {
        let events = [
            event("target-1", true, 1.0),
            event("target-1", false, 2.0), // over before the run
            event("target-2", true, 3.0),
            event("target-2", false, 6.0), // began before the run, ended in it
            event("target-3", true, 8.0),
            event("target-3", false, 20.0), // back after the run's end
            event("target-4", true, 30.0),  // after the run
        ];
        let (faults, outside) = outage_faults(&events, zero_plus(5.0), 10.0, "o");
        assert_eq!(outside, 2);
        let spans: Vec<_> = faults.iter().map(|f| (f.start_s, f.end_s)).collect();
        assert_eq!(spans, [(0.0, Some(1.0)), (3.0, None)]);
        assert!(faults[0].spec.contains("down at 2026-11-30T00:00:03.000Z"));
    }
}
