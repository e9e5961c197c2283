//! Progress lines on stderr: one every few seconds, for logs and CI.

use std::time::Duration;

use stampede_engine::LiveSecond;
use stampede_metrics::{GeneratorStats, Stats};

use crate::{Finish, Flow, Observer};

/// Prints one line every `every` seconds of the run. A line divides by the time its
/// seconds really covered: the last one ends at the run's planned duration (the
/// responses that arrive after it belong to it), or, when the run ended otherwise, at
/// its measured end.
#[derive(Debug)]
pub struct Progress {
    every: u64,
    /// The plan's duration, when it has one.
    until: Option<Duration>,
    window: Stats,
    window_sends: u64,
    /// The second the current window started at.
    window_start: u64,
    /// Where lines go (stderr, or a buffer in tests).
    sink: fn(&str),
}

/// One progress line's numbers.
fn line(end: Duration, span: Duration, w: &Stats, sends: u64) -> String {
    let secs = span.as_secs_f64();
    let rate = if secs > 0.0 {
        format!("{:>8.0} req/s", w.requests as f64 / secs)
    } else {
        format!("{:>8} req/s", "-")
    };
    let at = if end.subsec_millis() == 0 {
        format!("{:>4}s", end.as_secs())
    } else {
        format!("{:>4.1}s", end.as_secs_f64())
    };
    let ms = |q: f64| match w.latency.is_empty() {
        true => format!("{:>8}", "-"),
        false => format!("{:>8.2}", w.latency.quantile_ms(q)),
    };
    format!(
        "[{at}] {rate}  sent {sends:>8}  errors {:>6}  timeouts {:>6}  p50 {} ms  p99 {} ms",
        w.errors,
        w.timeouts,
        ms(0.5),
        ms(0.99),
    )
}

fn to_stderr(line: &str) {
    eprintln!("{line}");
}

impl Progress {
    /// A line every `every` seconds (at least 1), on stderr.
    pub fn every(every: u64) -> Self {
        Progress {
            every: every.max(1),
            until: None,
            window: Stats::new(),
            window_sends: 0,
            window_start: 0,
            sink: to_stderr,
        }
    }

    /// Caps every line's end at the run's planned duration (a run of `-d 4s` has a
    /// last second of late responses: they are not a fifth second of sending).
    pub fn until(mut self, duration: Option<Duration>) -> Self {
        self.until = duration;
        self
    }

    /// Sends lines to `sink` instead of stderr.
    pub fn with_sink(mut self, sink: fn(&str)) -> Self {
        self.sink = sink;
        self
    }

    fn take(&mut self, second: u64, stats: &Stats, generator: &GeneratorStats) {
        self.window.merge(stats);
        self.window_sends += generator.sends;
        if (second + 1).is_multiple_of(self.every) {
            let start = Duration::from_secs(self.window_start);
            let mut end = Duration::from_secs(second + 1);
            if let Some(until) = self.until {
                end = end.min(until).max(start);
            }
            (self.sink)(&line(end, end - start, &self.window, self.window_sends));
            self.reset(second + 1);
        }
    }

    fn reset(&mut self, start: u64) {
        self.window.reset();
        self.window_sends = 0;
        self.window_start = start;
    }
}

impl Observer for Progress {
    fn on_second(&mut self, live: &LiveSecond<'_>) -> Flow {
        self.take(live.second, live.interval, live.interval_generator);
        Flow::Continue
    }

    fn on_finish(&mut self, finish: &mut Finish<'_>) {
        if self.window.requests == 0 && self.window_sends == 0 {
            return;
        }
        // The run's measured span ends at `elapsed`, not at the next whole interval.
        let start = Duration::from_secs(self.window_start);
        let end = finish.outcome.elapsed.max(start);
        let end = self.until.map_or(end, |u| end.min(u).max(start));
        (self.sink)(&line(end, end - start, &self.window, self.window_sends));
        self.reset(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

    fn keep(line: &str) {
        LINES.lock().unwrap().push(line.to_string());
    }

    #[test]
    fn a_four_second_run_is_not_divided_by_five() {
        // `-d 4s` with a line every 5 s: seconds 0..=3 send, second 4 holds the
        // responses that arrived after the end. One line, over 4 s.
        let mut p = Progress::every(5)
            .until(Some(Duration::from_secs(4)))
            .with_sink(keep);
        let mut s = Stats::new();
        for _ in 0..1000 {
            s.record_response(200, Duration::from_millis(1), Duration::from_millis(1));
        }
        let g = GeneratorStats::default();
        for second in 0..5 {
            p.take(second, &s, &g);
        }
        let lines = LINES.lock().unwrap().clone();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with("[   4s]     1250 req/s"), "{lines:?}");
    }

    #[test]
    fn the_last_line_divides_by_the_time_it_covers() {
        let mut w = Stats::new();
        for _ in 0..4000 {
            w.record_response(200, Duration::from_millis(1), Duration::from_millis(1));
        }
        let text = line(Duration::from_secs(4), Duration::from_secs(4), &w, 4000);
        assert!(text.starts_with("[   4s]     1000 req/s"), "{text}");
        let text = line(
            Duration::from_millis(4500),
            Duration::from_millis(500),
            &w,
            4000,
        );
        assert!(text.starts_with("[ 4.5s]     8000 req/s"), "{text}");
        let text = line(Duration::from_secs(5), Duration::ZERO, &w, 0);
        assert!(text.contains("       - req/s"), "{text}");
        let text = line(
            Duration::from_secs(5),
            Duration::from_secs(5),
            &Stats::new(),
            0,
        );
        assert!(
            text.contains("p50        - ms"),
            "no latency sample: {text}"
        );
    }
}
