//! What a replay could not replay as recorded, counted (first pass only), each said as
//! one warning line with its count.

use std::collections::BTreeSet;

/// Malformed lines listed by number in the warning.
pub(crate) const LISTED: usize = 5;

/// Counts of what was skipped or changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notes {
    /// Records replayed (first pass).
    pub records: u64,
    /// Lines (or HAR entries) that could not be read.
    pub malformed: u64,
    /// The first few of them: line (or entry) number and why.
    pub malformed_first: Vec<(u64, String)>,
    /// The input ended early: the line it stopped at and why (a truncated gzip).
    pub read_error: Option<(u64, String)>,
    /// `--loop`: the file could not be opened again, which ended the replay: the passes
    /// replayed before and why.
    pub reopen_error: Option<(u64, String)>,
    /// HAR: entry numbers are counted from 0; access logs: lines from 1.
    pub har: bool,
    /// Access-log requests with a method that usually has a body (POST, PUT, PATCH):
    /// they are sent without one.
    pub bodiless: u64,
    /// HAR requests with neither a Cookie nor an Authorization header.
    pub no_credentials: u64,
    /// HAR requests to hosts not replayed.
    pub other_hosts: u64,
    /// Some of those hosts.
    pub other_host_names: BTreeSet<String>,
    /// Records that did not pass `--filter`.
    pub filtered: u64,
    /// Records more than the reorder window out of time order.
    pub late: u64,
    /// The reorder window, in records.
    pub window: usize,
    /// Seconds released in parts because they held more than the spread cap.
    pub crowded: u64,
    /// Gaps longer than the bound that were shortened.
    pub shortened: u64,
    /// Recorded seconds removed by shortening.
    pub removed_s: f64,
    /// The gap bound, in seconds.
    pub max_gap_s: f64,
}

impl Notes {
    pub(crate) fn malformed(&mut self, at: u64, why: String) {
        self.malformed += 1;
        if self.malformed_first.len() < LISTED {
            self.malformed_first.push((at, why));
        }
    }

    /// One line per kind of problem, with its count; none when all went as recorded.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        let unit = if self.har { "entry" } else { "line" };
        if self.malformed > 0 {
            let listed: Vec<String> = self
                .malformed_first
                .iter()
                .map(|(n, why)| format!("{unit} {n}: {why}"))
                .collect();
            let more = match self.malformed as usize > listed.len() {
                true => ", ...",
                false => "",
            };
            w.push(format!(
                "{} malformed {} skipped ({}{more})",
                self.malformed,
                plural(self.malformed, unit),
                listed.join("; ")
            ));
        }
        if let Some((line, why)) = &self.read_error {
            w.push(format!(
                "the input ended early after line {line}: {why}; the replay stops there"
            ));
        }
        if let Some((passes, why)) = &self.reopen_error {
            w.push(format!(
                "--loop: the file could not be opened again after {passes} {}: {why}; the replay ended there",
                plural(*passes, "pass")
            ));
        }
        if self.bodiless > 0 {
            w.push(format!(
                "{} POST/PUT/PATCH {} sent without a body: access logs do not record bodies",
                self.bodiless,
                plural(self.bodiless, "request")
            ));
        }
        if self.no_credentials > 0 {
            w.push(format!(
                "{} HAR {} without a Cookie or Authorization header (browsers export HAR files without them): replayed without credentials",
                self.no_credentials,
                plural(self.no_credentials, "request")
            ));
        }
        if self.other_hosts > 0 {
            let hosts: Vec<&str> = self.other_host_names.iter().map(String::as_str).collect();
            w.push(format!(
                "{} {} to other hosts skipped ({}): add --include-host HOST to replay them",
                self.other_hosts,
                plural(self.other_hosts, "request"),
                hosts.join(", ")
            ));
        }
        if self.filtered > 0 {
            w.push(format!(
                "{} {} left out by --filter",
                self.filtered,
                plural(self.filtered, "record")
            ));
        }
        if self.late > 0 {
            w.push(format!(
                "{} {} more than the reorder window ({} records) out of time order: sent at the time of the last record sent before",
                self.late,
                plural(self.late, "record"),
                self.window
            ));
        }
        if self.crowded > 0 {
            w.push(format!(
                "{} {} held more requests than are kept at once: spread over the second in parts",
                self.crowded,
                plural(self.crowded, "second")
            ));
        }
        if self.shortened > 0 {
            w.push(format!(
                "{} {} longer than {}s shortened to {}s ({:.1}s of recorded time left out)",
                self.shortened,
                plural(self.shortened, "gap"),
                self.max_gap_s,
                self.max_gap_s,
                self.removed_s
            ));
        }
        w
    }
}

fn plural(n: u64, word: &str) -> String {
    match (n, word) {
        (1, w) => w.to_string(),
        (_, "entry") => "entries".to_string(),
        (_, "pass") => "passes".to_string(),
        (_, w) => format!("{w}s"),
    }
}
