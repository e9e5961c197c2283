//! The live terminal dashboard: what a run looks like while it goes on.
//!
//! [`LiveView`] keeps a bounded window of per-second points and the cumulative numbers
//! the engine hands over each second ([`LiveSecond`]); [`LiveView::draw`] renders it
//! with ratatui onto any backend. Terminal setup and input belong to the caller.

use std::collections::VecDeque;
use std::time::Duration;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Chart, Dataset, Gauge, GraphType, LegendPosition, Paragraph, Row, Table,
};
use ratatui::Frame;
use stampede_metrics::LiveSecond;
use stampede_plan::scenario::JourneyLoad;
use stampede_plan::{Cumulative, Load, RunPlan, Workload};

use crate::table::ms;

/// Seconds of history the charts show.
pub const WINDOW_S: usize = 120;

/// The dashboard's table shows at most this many groups (those with the most requests).
pub const MAX_ROWS: usize = 32;

/// One completed second.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    t: f64,
    achieved: f64,
    target: Option<f64>,
    p50: f64,
    p99: f64,
    max: f64,
}

/// A group's row.
#[derive(Debug, Clone, PartialEq)]
struct GroupRow {
    key: String,
    requests: u64,
    errors: u64,
    timeouts: u64,
    rate: f64,
    p50: f64,
    p99: f64,
    max: f64,
}

/// The state behind the dashboard.
#[derive(Debug, Clone)]
pub struct LiveView {
    title: String,
    open_model: bool,
    planned: Option<Duration>,
    schedule: Option<Cumulative>,
    history: VecDeque<Point>,
    seconds: u64,
    requests: u64,
    errors: u64,
    timeouts: u64,
    error_rate: f64,
    total_p: [f64; 4],
    classes: Vec<(&'static str, u64)>,
    statuses: Vec<(u16, u64)>,
    groups: Vec<GroupRow>,
    group_count: usize,
    sends: u64,
    late_sends: u64,
    dropped: u64,
    lag_p99_ms: f64,
    cpu_busy: f64,
    stopping: bool,
}

impl LiveView {
    /// An empty view of the run `plan` describes.
    pub fn new(plan: &RunPlan) -> Self {
        let (open_model, schedule, load) = match &plan.workload {
            Workload::Requests(w) => match &w.load {
                Load::Open { profile, .. } => (
                    true,
                    Some(Cumulative::new(profile)),
                    "open model".to_string(),
                ),
                Load::Closed { connections } => (
                    false,
                    None,
                    format!(
                        "closed model, {}",
                        crate::table::counted(connections.get() as u64, "connection")
                    ),
                ),
                Load::Replay { .. } => (
                    true,
                    plan.schedule_profile().map(|p| Cumulative::new(&p)),
                    "replay".to_string(),
                ),
                Load::Fleet { clients, .. } => (
                    plan.is_scheduled(),
                    plan.schedule_profile().map(|p| Cumulative::new(&p)),
                    format!(
                        "fleet of {}",
                        crate::table::counted(clients.get() as u64, "client")
                    ),
                ),
            },
            // A scenario's schedule counts journeys, not requests: no request schedule.
            Workload::Journeys(j) => match j.reported_load() {
                JourneyLoad::Open { .. } => (true, None, "open model".to_string()),
                JourneyLoad::Closed { profile } => (
                    false,
                    None,
                    format!(
                        "closed model, {}",
                        crate::table::counted(profile.peak_rate().round() as u64, "connection")
                    ),
                ),
            },
        };
        let title = format!("{}  ({load})", plan.subject());
        LiveView {
            title,
            open_model,
            planned: plan.stop.duration,
            schedule,
            history: VecDeque::with_capacity(WINDOW_S + 1),
            seconds: 0,
            requests: 0,
            errors: 0,
            timeouts: 0,
            error_rate: 0.0,
            total_p: [0.0; 4],
            classes: Vec::new(),
            statuses: Vec::new(),
            groups: Vec::new(),
            group_count: 0,
            sends: 0,
            late_sends: 0,
            dropped: 0,
            lag_p99_ms: 0.0,
            cpu_busy: 0.0,
            stopping: false,
        }
    }

    /// Takes in one completed second; `cpu_busy` is the generator process's CPU time
    /// over that second divided by its length (1.0 = one core).
    pub fn update(&mut self, live: &LiveSecond<'_>, cpu_busy: f64) {
        let i = live.interval;
        let target = self.schedule.as_ref().map(|c| {
            let at = |s: u64| c.at(Duration::from_secs(s));
            at(live.second + 1) - at(live.second)
        });
        self.history.push_back(Point {
            t: live.second as f64 + 1.0,
            achieved: i.requests as f64,
            target,
            p50: i.latency.quantile_ms(0.5),
            p99: i.latency.quantile_ms(0.99),
            max: i.latency.max_ms(),
        });
        while self.history.len() > WINDOW_S {
            self.history.pop_front();
        }
        self.seconds = live.second + 1;
        let t = live.total;
        self.requests = t.requests;
        self.errors = t.errors;
        self.timeouts = t.timeouts;
        self.error_rate = t.failure_rate();
        self.total_p = [
            t.latency.quantile_ms(0.5),
            t.latency.quantile_ms(0.99),
            t.latency.quantile_ms(0.999),
            t.latency.max_ms(),
        ];
        self.classes = t
            .errors_by_class
            .non_zero()
            .map(|(c, n)| (c.as_str(), n))
            .collect();
        self.statuses = t.status_codes.non_zero().collect();
        let secs = self.seconds.max(1) as f64;
        let mut groups: Vec<GroupRow> = live
            .groups
            .iter()
            .map(|(key, s)| GroupRow {
                key: key.clone(),
                requests: s.requests,
                errors: s.errors,
                timeouts: s.timeouts,
                rate: s.requests as f64 / secs,
                p50: s.latency.quantile_ms(0.5),
                p99: s.latency.quantile_ms(0.99),
                max: s.latency.max_ms(),
            })
            .collect();
        self.group_count = groups.len();
        if groups.len() > MAX_ROWS {
            groups.sort_by_key(|g| std::cmp::Reverse(g.requests));
            groups.truncate(MAX_ROWS);
            groups.sort_by(|a, b| a.key.cmp(&b.key));
        }
        self.groups = groups;
        let g = live.generator;
        self.sends = g.sends;
        self.late_sends = g.late_sends;
        self.dropped = g.dropped;
        self.lag_p99_ms = live.interval_generator.schedule_lag.quantile_ms(0.99);
        self.cpu_busy = cpu_busy;
    }

    /// Marks the run as stopping (the user asked to stop; results follow).
    pub fn set_stopping(&mut self) {
        self.stopping = true;
    }

    /// Renders the dashboard onto the whole frame.
    pub fn draw(&self, frame: &mut Frame<'_>) {
        let [head, gauge, charts, stats, groups, help] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Fill(3),
            Constraint::Length(8),
            Constraint::Fill(2),
            Constraint::Length(1),
        ])
        .areas(frame.area());
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled("stampede ", Style::new().bold().fg(Color::Cyan)),
                Span::raw(self.title.as_str()),
            ])),
            head,
        );
        self.draw_gauge(frame, gauge);
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(charts);
        self.draw_throughput(frame, left);
        self.draw_latency(frame, right);
        let [now, errors, generator] = Layout::horizontal([
            Constraint::Percentage(36),
            Constraint::Percentage(30),
            Constraint::Percentage(34),
        ])
        .areas(stats);
        self.draw_now(frame, now);
        self.draw_errors(frame, errors);
        self.draw_generator(frame, generator);
        self.draw_groups(frame, groups);
        let help_text = if self.stopping {
            "stopping: finishing in-flight requests, then the results table"
        } else {
            "q or Ctrl-C: stop the run and print the results"
        };
        frame.render_widget(
            Paragraph::new(Span::styled(help_text, Style::new().fg(Color::DarkGray))),
            help,
        );
    }

    fn draw_gauge(&self, frame: &mut Frame<'_>, area: Rect) {
        let elapsed = self.seconds as f64;
        let (ratio, label) = match self.planned {
            Some(d) if !d.is_zero() => (
                (elapsed / d.as_secs_f64()).clamp(0.0, 1.0),
                format!("{elapsed:.0}s / {:.0}s", d.as_secs_f64()),
            ),
            _ => (0.0, format!("{elapsed:.0}s")),
        };
        frame.render_widget(
            Gauge::default()
                .gauge_style(Style::new().fg(Color::Cyan).bg(Color::Black))
                .ratio(ratio)
                .label(label),
            area,
        );
    }

    fn window(&self) -> [f64; 2] {
        let end = self.history.back().map_or(1.0, |p| p.t).max(1.0);
        let start = self.history.front().map_or(0.0, |p| p.t - 1.0).max(0.0);
        [start, end.max(start + 1.0)]
    }

    fn x_axis(&self) -> Axis<'static> {
        let [a, b] = self.window();
        Axis::default()
            .bounds([a, b])
            .labels([format!("{a:.0}s"), format!("{b:.0}s")])
            .style(Style::new().fg(Color::Gray))
    }

    fn y_axis(top: f64, fmt: fn(f64) -> String) -> Axis<'static> {
        Axis::default()
            .bounds([0.0, top])
            .labels([fmt(0.0), fmt(top / 2.0), fmt(top)])
            .style(Style::new().fg(Color::Gray))
    }

    fn draw_throughput(&self, frame: &mut Frame<'_>, area: Rect) {
        let achieved: Vec<(f64, f64)> = self.history.iter().map(|p| (p.t, p.achieved)).collect();
        let target: Vec<(f64, f64)> = self
            .history
            .iter()
            .filter_map(|p| p.target.map(|r| (p.t, r)))
            .collect();
        let top = achieved
            .iter()
            .chain(&target)
            .fold(1.0f64, |m, (_, y)| m.max(*y))
            * 1.1;
        let mut sets = vec![Dataset::default()
            .name("achieved")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(Color::Cyan))
            .data(&achieved)];
        if !target.is_empty() {
            sets.push(
                Dataset::default()
                    .name("target")
                    .marker(Marker::Braille)
                    .graph_type(GraphType::Line)
                    .style(Style::new().fg(Color::DarkGray))
                    .data(&target),
            );
        }
        let title = match self.history.back() {
            Some(p) => match p.target {
                Some(t) => format!(
                    " Throughput req/s: {:.0} achieved / {t:.0} target ",
                    p.achieved
                ),
                None => format!(" Throughput req/s: {:.0} ", p.achieved),
            },
            None => " Throughput req/s ".to_string(),
        };
        frame.render_widget(
            Chart::new(sets)
                .block(Block::bordered().title(title))
                .x_axis(self.x_axis())
                .y_axis(Self::y_axis(top, |v| format!("{v:.0}")))
                .legend_position(Some(LegendPosition::TopLeft))
                .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2))),
            area,
        );
    }

    fn draw_latency(&self, frame: &mut Frame<'_>, area: Rect) {
        let pick = |f: fn(&Point) -> f64| -> Vec<(f64, f64)> {
            self.history.iter().map(|p| (p.t, f(p))).collect()
        };
        let (p50, p99, max) = (pick(|p| p.p50), pick(|p| p.p99), pick(|p| p.max));
        let top = max.iter().fold(0.1f64, |m, (_, y)| m.max(*y)) * 1.1;
        let sets = vec![
            Dataset::default()
                .name("p50")
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(Color::Green))
                .data(&p50),
            Dataset::default()
                .name("p99")
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(Color::Yellow))
                .data(&p99),
            Dataset::default()
                .name("max")
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(Color::Red))
                .data(&max),
        ];
        let which = if self.open_model {
            "corrected"
        } else {
            "service time"
        };
        let title = match self.history.back() {
            Some(p) => format!(
                " Latency ms ({which}): p50 {}  p99 {}  max {} ",
                ms(p.p50),
                ms(p.p99),
                ms(p.max)
            ),
            None => format!(" Latency ms ({which}) "),
        };
        frame.render_widget(
            Chart::new(sets)
                .block(Block::bordered().title(title))
                .x_axis(self.x_axis())
                .y_axis(Self::y_axis(top, ms))
                .legend_position(Some(LegendPosition::TopLeft))
                .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2))),
            area,
        );
    }

    fn draw_now(&self, frame: &mut Frame<'_>, area: Rect) {
        let secs = self.seconds.max(1) as f64;
        let rate = self.requests as f64 / secs;
        let lines = vec![
            Line::from(format!("requests   {}", self.requests)),
            Line::from(format!("rate/s     {rate:.1} (average)")),
            Line::from(vec![
                Span::raw(format!(
                    "errors     {}   timeouts {}   ",
                    self.errors, self.timeouts
                )),
                Span::styled(
                    format!("{:.2}%", self.error_rate * 100.0),
                    if self.error_rate > 0.0 {
                        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
                    } else {
                        Style::new()
                    },
                ),
            ]),
            Line::from(format!(
                "p50 {}  p99 {}  p99.9 {}  max {} ms",
                ms(self.total_p[0]),
                ms(self.total_p[1]),
                ms(self.total_p[2]),
                ms(self.total_p[3])
            )),
            Line::from(format!(
                "status     {}",
                join(
                    self.statuses.iter().map(|(c, n)| format!("{c}:{n}")),
                    "none"
                )
            )),
        ];
        frame.render_widget(
            Paragraph::new(lines).block(Block::bordered().title(" Run so far ")),
            area,
        );
    }

    fn draw_errors(&self, frame: &mut Frame<'_>, area: Rect) {
        let mut lines: Vec<Line<'_>> = self
            .classes
            .iter()
            .map(|(c, n)| Line::from(format!("{c:<20} {n:>8}")))
            .collect();
        if self.timeouts > 0 {
            lines.push(Line::from(format!(
                "{:<20} {:>8}",
                "(timeouts)", self.timeouts
            )));
        }
        if lines.is_empty() {
            lines.push(Line::from("none"));
        }
        frame.render_widget(
            Paragraph::new(lines).block(Block::bordered().title(" Errors by class ")),
            area,
        );
    }

    fn draw_generator(&self, frame: &mut Frame<'_>, area: Rect) {
        let mut lines = vec![
            Line::from(format!(
                "CPU        {:.0}% of a core",
                self.cpu_busy * 100.0
            )),
            Line::from(format!("sent       {}", self.sends)),
        ];
        if self.open_model {
            lines.push(Line::from(format!(
                "send lag   p99 {} ms",
                ms(self.lag_p99_ms)
            )));
            let style = if self.late_sends > 0 || self.dropped > 0 {
                Style::new().fg(Color::Yellow)
            } else {
                Style::new()
            };
            lines.push(Line::styled(
                format!("late sends {}   dropped {}", self.late_sends, self.dropped),
                style,
            ));
            // The same limits as the end-of-run check: >1% late, or any drop.
            if self.late_sends * 100 > self.sends || self.dropped > 0 {
                lines.push(Line::styled(
                    "the generator is limiting this run",
                    Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
                ));
            }
        }
        frame.render_widget(
            Paragraph::new(lines).block(Block::bordered().title(" Generator ")),
            area,
        );
    }

    fn draw_groups(&self, frame: &mut Frame<'_>, area: Rect) {
        let header = Row::new([
            "group", "requests", "errors", "timeouts", "rate/s", "p50 ms", "p99 ms", "max ms",
        ])
        .style(Style::new().add_modifier(Modifier::BOLD));
        let rows: Vec<Row<'_>> = self
            .groups
            .iter()
            .map(|g| {
                Row::new([
                    g.key.clone(),
                    g.requests.to_string(),
                    g.errors.to_string(),
                    g.timeouts.to_string(),
                    format!("{:.1}", g.rate),
                    ms(g.p50),
                    ms(g.p99),
                    ms(g.max),
                ])
            })
            .collect();
        let title = if self.groups.is_empty() {
            " Groups (none: use --group-by) ".to_string()
        } else if self.group_count > self.groups.len() {
            format!(" Groups ({} of {}) ", self.groups.len(), self.group_count)
        } else {
            " Groups ".to_string()
        };
        let key_width = self
            .groups
            .iter()
            .map(|g| g.key.chars().count())
            .max()
            .unwrap_or(0)
            .clamp(12, 48) as u16;
        let widths = [
            Constraint::Length(key_width),
            Constraint::Length(10),
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(8),
        ];
        frame.render_widget(
            Table::new(rows, widths)
                .header(header)
                .block(Block::bordered().title(title)),
            area,
        );
    }
}

fn join(items: impl Iterator<Item = String>, empty: &str) -> String {
    let v: Vec<String> = items.collect();
    if v.is_empty() {
        empty.to_string()
    } else {
        v.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{outcome, plan};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    use stampede_metrics::{GeneratorStats, Stats};
    use std::collections::BTreeMap;

    fn screen(view: &LiveView, w: u16, h: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| view.draw(f)).unwrap();
        let buf = t.backend().buffer().clone();
        let mut out = String::new();
        for y in 0..h {
            for x in 0..w {
                out.push_str(buf[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    #[test]
    fn title_hides_a_password_in_the_url() {
        let p = RunPlan::builder("http://bob:hunter2@127.0.0.1:8080/")
            .build()
            .unwrap();
        let text = screen(&LiveView::new(&p), 120, 30);
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("bob:****@127.0.0.1:8080"), "{text}");
    }

    fn view_after_run() -> LiveView {
        let run = outcome(true, false);
        let mut view = LiveView::new(&plan(true));
        let mut total = Stats::new();
        let groups: BTreeMap<String, Stats> = run.groups.iter().cloned().collect();
        let generator = GeneratorStats::default();
        for p in 0..5u64 {
            let interval = crate::testing::second_stats(20 * (p + 1), 2 + p);
            total.merge(&interval);
            view.update(
                &LiveSecond {
                    second: p,
                    interval: &interval,
                    interval_generator: &generator,
                    total: &total,
                    groups: &groups,
                    generator: &generator,
                },
                0.25,
            );
        }
        view
    }

    #[test]
    fn draws_every_panel() {
        let text = screen(&view_after_run(), 160, 50);
        for label in [
            "stampede",
            "http://127.0.0.1:8080/api?delay=2ms",
            "Throughput req/s: 102 achieved / 100 target",
            "Latency ms (corrected)",
            "Run so far",
            "Errors by class",
            "http_5xx",
            "Generator",
            "25% of a core",
            "instance-1",
            "instance-<2>",
            "5s / 5s",
            "q or Ctrl-C",
        ] {
            assert!(text.contains(label), "{label} missing:\n{text}");
        }
    }

    #[test]
    fn small_terminals_and_empty_views_do_not_panic() {
        let view = LiveView::new(&plan(false));
        for (w, h) in [(80, 24), (40, 12), (10, 5), (1, 1)] {
            screen(&view, w, h);
            screen(&view_after_run(), w, h);
        }
        assert!(screen(&view, 120, 40).contains("use --group-by"));
    }

    #[test]
    fn history_is_bounded() {
        let mut view = LiveView::new(&plan(false));
        let s = Stats::new();
        let g = GeneratorStats::default();
        let groups = BTreeMap::new();
        for second in 0..(WINDOW_S as u64 * 3) {
            view.update(
                &LiveSecond {
                    second,
                    interval: &s,
                    interval_generator: &g,
                    total: &s,
                    groups: &groups,
                    generator: &g,
                },
                0.0,
            );
        }
        assert_eq!(view.history.len(), WINDOW_S);
    }
}
