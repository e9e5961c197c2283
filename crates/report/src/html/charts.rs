//! The report's charts, drawn with plotters as standalone SVG text.
//!
//! Every chart function returns the SVG, or a short reason when the data cannot be
//! drawn; the page shows the reason in place of the chart.

use plotters::coord::combinators::{LogCoord, WithKeyPoints};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use stampede_metrics::LatencyHistogram;

use crate::table::ms;
use stampede_result::{PointPercentiles, RunResult, SeriesPoint};

/// A drawn chart or why it could not be drawn.
pub type Drawn = Result<String, String>;

const WIDTH: u32 = 960;
const HEIGHT: u32 = 340;
const FONT: &str = "sans-serif";

const BLUE: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(230, 120, 10);
const GREEN: RGBColor = RGBColor(44, 160, 44);
const RED: RGBColor = RGBColor(214, 39, 40);
const PURPLE: RGBColor = RGBColor(148, 103, 189);
const BROWN: RGBColor = RGBColor(140, 86, 75);
const GREY: RGBColor = RGBColor(110, 110, 110);
const AXIS: RGBColor = RGBColor(90, 90, 90);

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Runs `draw` on a white SVG canvas and returns the SVG text.
fn svg(draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String>) -> Drawn {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(buf)
}

/// One line of a line chart.
struct Line {
    label: String,
    color: RGBColor,
    dashed: bool,
    /// Drawn as markers only, not joined.
    markers: bool,
    points: Vec<(f64, f64)>,
}

impl Line {
    fn new(label: impl Into<String>, color: RGBColor, points: Vec<(f64, f64)>) -> Self {
        Line {
            label: label.into(),
            color,
            dashed: false,
            markers: false,
            points,
        }
    }

    fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }
}

/// A shaded span of the x axis with a label at its top (a fault's window).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Band {
    /// Where it starts (x).
    pub(crate) from: f64,
    /// Where it ends (x).
    pub(crate) to: f64,
    /// Its label.
    pub(crate) label: String,
}

/// The colour of bands.
const BAND: RGBColor = RGBColor(214, 39, 40);

/// A line chart's text and data.
struct LinePlot<'a> {
    x_desc: &'a str,
    y_desc: &'a str,
    lines: Vec<Line>,
    /// Shaded spans behind the lines.
    bands: Vec<Band>,
    x_fmt: &'a dyn Fn(&f64) -> String,
    y_fmt: &'a dyn Fn(&f64) -> String,
}

fn draw_lines<X, Y>(p: &LinePlot<'_>, x: X, y: Y) -> Drawn
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    svg(|root| {
        // The legend gets its own band above the plot, so it never hides data.
        let (band, body) = root.split_vertically(LEGEND_BAND);
        legend(&band, &p.lines)?;
        let mut chart = ChartBuilder::on(&body)
            .margin(12)
            .margin_top(4)
            .margin_right(40)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x, y)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(p.x_desc)
            .y_desc(p.y_desc)
            .x_label_formatter(p.x_fmt)
            .y_label_formatter(p.y_fmt)
            .label_style((FONT, 13).into_font().color(&AXIS))
            .axis_desc_style((FONT, 14).into_font().color(&AXIS))
            .light_line_style(RGBColor(238, 238, 238))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(err)?;
        let (y_lo, y_hi) = {
            let y = chart.y_range();
            (y.start, y.end)
        };
        for b in &p.bands {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(b.from, y_lo), (b.to, y_hi)],
                    BAND.mix(0.12).filled(),
                )))
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    b.label.clone(),
                    (b.from, y_hi),
                    (FONT, 12).into_font().color(&BAND),
                )))
                .map_err(err)?;
        }
        for line in &p.lines {
            let style = line.color.stroke_width(2);
            if line.markers {
                chart
                    .draw_series(
                        line.points
                            .iter()
                            .map(|p| Circle::new(*p, 4, line.color.filled())),
                    )
                    .map_err(err)?;
            } else if line.dashed {
                chart
                    .draw_series(DashedLineSeries::new(
                        line.points.iter().copied(),
                        6,
                        4,
                        style,
                    ))
                    .map_err(err)?;
            } else {
                chart
                    .draw_series(LineSeries::new(line.points.iter().copied(), style))
                    .map_err(err)?;
            }
        }
        Ok(())
    })
}

/// Height of the band above a line chart that holds its legend.
pub(crate) const LEGEND_BAND: u32 = 26;

/// The legend of a line chart, in one row: a swatch (dashed for dashed lines) and the
/// label of each line.
fn legend(band: &DrawingArea<SVGBackend<'_>, Shift>, lines: &[Line]) -> Result<(), String> {
    let y = (LEGEND_BAND / 2) as i32;
    let mut x = 76;
    let font = (FONT, 13).into_font().color(&AXIS);
    for line in lines {
        let style = line.color.stroke_width(2);
        if line.markers {
            band.draw(&Circle::new((x + 10, y), 4, line.color.filled()))
                .map_err(err)?;
        } else if line.dashed {
            for dash in [0, 8, 16] {
                band.draw(&PathElement::new(
                    vec![(x + dash, y), (x + dash + 5, y)],
                    style,
                ))
                .map_err(err)?;
            }
        } else {
            band.draw(&PathElement::new(vec![(x, y), (x + 20, y)], style))
                .map_err(err)?;
        }
        let text = Text::new(
            line.label.clone(),
            (x + 26, y),
            font.clone().pos(Pos::new(HPos::Left, VPos::Center)),
        );
        band.draw(&text).map_err(err)?;
        // About 7 px per character at 13 px, and a gap before the next entry.
        x += 26 + 7 * line.label.chars().count() as i32 + 22;
    }
    Ok(())
}

fn fmt_number(v: &f64) -> String {
    let a = v.abs();
    if a >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if a >= 100.0 || *v == v.round() {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_ms(v: &f64) -> String {
    ms(*v)
}

fn fmt_seconds(v: &f64) -> String {
    if v.fract().abs() < 1e-9 {
        format!("{v:.0}s")
    } else {
        format!("{v:.1}s")
    }
}

fn max_of<'a>(values: impl Iterator<Item = &'a f64>) -> f64 {
    values.fold(0.0, |m, v| m.max(*v))
}

/// A log axis from `lo` to `hi` labelled at 1, 2 and 5 times each power of ten.
fn log_axis(lo: f64, hi: f64) -> WithKeyPoints<LogCoord<f64>> {
    let mut bold = Vec::new();
    let mut light = Vec::new();
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi {
        for m in 1..10 {
            let v = decade * f64::from(m);
            if (lo..=hi).contains(&v) {
                light.push(v);
                if matches!(m, 1 | 2 | 5) {
                    bold.push(v);
                }
            }
        }
        decade *= 10.0;
    }
    LogCoord::from((lo..hi).log_scale())
        .with_key_points(bold)
        .with_light_points(light)
}

/// The x range of the time charts: the whole run, at least one second.
fn time_range(r: &RunResult) -> std::ops::Range<f64> {
    let end = r
        .series
        .iter()
        .map(|p| p.t as f64 + 1.0)
        .fold(r.summary.elapsed_s, f64::max);
    0.0..end.max(1.0)
}

/// The series with one point per second: points that share a second are merged
/// (counts added, percentiles the larger), so a chart never doubles back.
fn per_second(r: &RunResult) -> Vec<SeriesPoint> {
    let mut out: Vec<SeriesPoint> = Vec::with_capacity(r.series.len());
    for p in &r.series {
        match out.last_mut() {
            Some(last) if last.t == p.t => {
                last.requests += p.requests;
                last.errors += p.errors;
                last.timeouts += p.timeouts;
                last.sends += p.sends;
                last.late_sends += p.late_sends;
                last.dropped += p.dropped;
                for (a, b) in [
                    (&mut last.latency_ms, &p.latency_ms),
                    (&mut last.service_time_ms, &p.service_time_ms),
                ] {
                    a.p50 = a.p50.max(b.p50);
                    a.p90 = a.p90.max(b.p90);
                    a.p99 = a.p99.max(b.p99);
                    a.max = a.max.max(b.max);
                }
            }
            _ => out.push(p.clone()),
        }
    }
    out
}

/// Throughput per second: achieved (requests finished) and the schedule's target
/// (over the sending window only).
pub(crate) fn throughput(r: &RunResult) -> Drawn {
    let mid = |t: u64| t as f64 + 0.5;
    let series = per_second(r);
    let achieved: Vec<(f64, f64)> = series
        .iter()
        .map(|p| (mid(p.t), p.requests as f64))
        .collect();
    let target: Vec<(f64, f64)> = series
        .iter()
        .filter(|p| (p.t as f64) < r.summary.elapsed_s)
        .filter_map(|p| p.target_rate.map(|t| (mid(p.t), t)))
        .collect();
    let top = max_of(achieved.iter().chain(&target).map(|(_, y)| y)).max(1.0) * 1.08;
    let mut lines = vec![Line::new("achieved req/s", BLUE, achieved)];
    if !target.is_empty() {
        // A scenario file schedules journeys, each of several requests.
        let label = match r.config.scenario_file {
            Some(_) => "scheduled journeys/s",
            None => "target req/s",
        };
        lines.push(Line::new(label, GREY, target).dashed());
    }
    let plot = LinePlot {
        x_desc: "time since start",
        y_desc: "requests per second",
        lines,
        bands: super::faults::bands(r, time_range(r).end),
        x_fmt: &fmt_seconds,
        y_fmt: &fmt_number,
    };
    draw_lines(&plot, time_range(r), 0.0..top)
}

/// Latency percentiles per second (on a log scale when they span more than a decade
/// and a half); service time dashed in the open model.
pub(crate) fn latency_over_time(r: &RunResult) -> Drawn {
    let mid = |t: u64| t as f64 + 0.5;
    let series = per_second(r);
    let pick = |f: fn(&PointPercentiles) -> f64, service: bool| -> Vec<(f64, f64)> {
        series
            .iter()
            .map(|p| {
                let v = if service {
                    f(&p.service_time_ms)
                } else {
                    f(&p.latency_ms)
                };
                (mid(p.t), v)
            })
            .filter(|(_, v)| *v > 0.0)
            .collect()
    };
    let corrected = r.latency_model == "corrected";
    let name = if corrected { "latency" } else { "service time" };
    let mut lines = vec![
        Line::new(format!("{name} p50"), BLUE, pick(|p| p.p50, false)),
        Line::new(format!("{name} p90"), GREEN, pick(|p| p.p90, false)),
        Line::new(format!("{name} p99"), ORANGE, pick(|p| p.p99, false)),
        Line::new(format!("{name} max"), RED, pick(|p| p.max, false)),
    ];
    if corrected {
        lines.push(Line::new("service time p50", PURPLE, pick(|p| p.p50, true)).dashed());
        lines.push(Line::new("service time p99", BROWN, pick(|p| p.p99, true)).dashed());
    }
    let values = || lines.iter().flat_map(|l| l.points.iter().map(|(_, y)| *y));
    let lo = values().fold(f64::INFINITY, f64::min);
    let hi = values().fold(0.0, f64::max);
    if !lo.is_finite() || hi <= 0.0 {
        return Err("no response was received, so there is no latency to plot".into());
    }
    let log = hi / lo > 30.0;
    let plot = LinePlot {
        x_desc: "time since start",
        y_desc: if log {
            "milliseconds (log scale)"
        } else {
            "milliseconds"
        },
        lines,
        bands: super::faults::bands(r, time_range(r).end),
        x_fmt: &fmt_seconds,
        y_fmt: &fmt_ms,
    };
    if log {
        draw_lines(&plot, time_range(r), log_axis(lo * 0.7, hi * 1.5))
    } else {
        draw_lines(&plot, time_range(r), 0.0..hi * 1.12)
    }
}

/// Errors, timeouts and (open model) dropped requests per second.
pub(crate) fn errors_over_time(r: &RunResult) -> Drawn {
    let mid = |t: u64| t as f64 + 0.5;
    let points = per_second(r);
    let series = |f: fn(&SeriesPoint) -> u64| -> Vec<(f64, f64)> {
        points.iter().map(|p| (mid(p.t), f(p) as f64)).collect()
    };
    let mut lines = vec![
        Line::new("errors", RED, series(|p| p.errors)),
        Line::new("timeouts", PURPLE, series(|p| p.timeouts)),
    ];
    if r.config.model == "open" {
        lines.push(Line::new("dropped", BROWN, series(|p| p.dropped)).dashed());
    }
    let top = max_of(lines.iter().flat_map(|l| l.points.iter().map(|(_, y)| y))).max(1.0) * 1.15;
    let plot = LinePlot {
        x_desc: "time since start",
        y_desc: "per second",
        lines,
        bands: super::faults::bands(r, time_range(r).end),
        x_fmt: &fmt_seconds,
        y_fmt: &fmt_number,
    };
    draw_lines(&plot, time_range(r), 0.0..top)
}

/// The x position of quantile `q` on a percentile plot: 1 / (1 - q).
fn percentile_x(q: f64) -> f64 {
    1.0 / (1.0 - q)
}

/// Labels a percentile plot's x axis: 1 -> 0%, 10 -> 90%, 1000 -> 99.9%.
fn fmt_percentile(x: &f64) -> String {
    let pct = 100.0 * (1.0 - 1.0 / x.max(1.0));
    let decimals = (x.max(1.0).log10().ceil() as i64 - 2).clamp(0, 6) as usize;
    format!("{pct:.decimals$}%")
}

/// Points of a percentile plot: quantiles spaced evenly on the 1/(1-q) log axis up to
/// `x_max`, then the maximum.
fn percentile_points(h: &LatencyHistogram, x_max: f64) -> Vec<(f64, f64)> {
    const PER_DECADE: f64 = 24.0;
    let steps = (x_max.log10() * PER_DECADE).round() as i64;
    let mut points: Vec<(f64, f64)> = (0..steps)
        .map(|k| {
            let x = 10f64.powf(k as f64 / PER_DECADE);
            (x, h.quantile_ms(1.0 - 1.0 / x))
        })
        .collect();
    points.push((x_max, h.max_ms()));
    points
}

/// The latency distribution as a percentile plot (x = percentile on a 1/(1-q) log
/// scale, the way HdrHistogram plots are read), from the full histograms.
pub(crate) fn distribution(r: &RunResult) -> Drawn {
    let latency = LatencyHistogram::from_v2_base64(&r.histograms.latency)
        .map_err(|e| format!("the latency histogram cannot be read: {e}"))?;
    if latency.is_empty() {
        return Err("no response was received, so there is no distribution to plot".into());
    }
    // Beyond 1 - 1/count every quantile is the maximum.
    let decades = (latency.count() as f64).log10().ceil().clamp(1.0, 6.0);
    let x_max = 10f64.powf(decades);
    let corrected = r.latency_model == "corrected";
    let name = if corrected { "latency" } else { "service time" };
    let mut lines = vec![Line::new(name, BLUE, percentile_points(&latency, x_max))];
    if corrected {
        if let Ok(service) = LatencyHistogram::from_v2_base64(&r.histograms.service_time) {
            if !service.is_empty() {
                lines.push(
                    Line::new("service time", ORANGE, percentile_points(&service, x_max)).dashed(),
                );
            }
        }
    }
    let top = max_of(lines.iter().flat_map(|l| l.points.iter().map(|(_, y)| y))).max(0.001) * 1.1;
    let plot = LinePlot {
        x_desc: "percentile",
        y_desc: "milliseconds",
        lines,
        bands: Vec::new(),
        x_fmt: &fmt_percentile,
        y_fmt: &fmt_ms,
    };
    draw_lines(&plot, (percentile_x(0.0)..x_max).log_scale(), 0.0..top)
}

/// One series of a grouped bar chart.
pub(crate) struct Bars {
    pub(crate) label: String,
    pub(crate) values: Vec<f64>,
}

const BAR_COLORS: [RGBColor; 5] = [BLUE, GREEN, ORANGE, RED, PURPLE];

/// A grouped bar chart: one cluster per category, one bar per series.
pub(crate) fn bars(
    categories: &[String],
    series: &[Bars],
    y_desc: &str,
    y_fmt: &dyn Fn(&f64) -> String,
) -> Drawn {
    if categories.is_empty() || series.is_empty() {
        return Err("nothing to compare".into());
    }
    let n = categories.len() as f64;
    // Headroom above the tallest bar for the legend.
    let top = max_of(series.iter().flat_map(|s| s.values.iter())).max(0.001)
        * (1.15 + 0.1 * series.len() as f64);
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .margin_right(40)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5..n - 0.5, 0.0..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc(y_desc)
            .y_label_formatter(y_fmt)
            .label_style((FONT, 13).into_font().color(&AXIS))
            .axis_desc_style((FONT, 14).into_font().color(&AXIS))
            .light_line_style(RGBColor(238, 238, 238))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(err)?;
        let width = 0.8 / series.len() as f64;
        for (si, s) in series.iter().enumerate() {
            let color = BAR_COLORS[si % BAR_COLORS.len()];
            chart
                .draw_series(s.values.iter().enumerate().map(|(ci, v)| {
                    let x0 = ci as f64 - 0.4 + si as f64 * width;
                    Rectangle::new([(x0 + 0.01, 0.0), (x0 + width - 0.01, *v)], color.filled())
                }))
                .map_err(err)?
                .label(s.label.clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .draw()
            .map_err(err)?;
        // Category names under each cluster, in backend pixels.
        let style = TextStyle::from((FONT, 13).into_font())
            .color(&AXIS)
            .pos(Pos::new(HPos::Center, VPos::Top));
        for (i, name) in categories.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(i as f64, 0.0));
            root.draw(&Text::new(name.clone(), (px, py + 8), style.clone()))
                .map_err(err)?;
        }
        Ok(())
    })
}

/// How a series of an [`XyChart`] is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesStyle {
    /// A solid line through the points.
    Solid,
    /// A dashed line (a model, a target, an ideal).
    Dashed,
    /// Markers only (measured points).
    Points,
}

/// One named series of an [`XyChart`]; colours follow the series' order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend label.
    pub label: String,
    /// How it is drawn.
    pub style: SeriesStyle,
    /// (x, y) points, in x order for lines.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A solid line.
    pub fn line(label: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            label: label.into(),
            style: SeriesStyle::Solid,
            points,
        }
    }

    /// A dashed line.
    pub fn dashed(label: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            style: SeriesStyle::Dashed,
            ..Series::line(label, points)
        }
    }

    /// Markers only.
    pub fn points(label: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            style: SeriesStyle::Points,
            ..Series::line(label, points)
        }
    }
}

/// An x/y chart: lines and markers, and horizontal reference lines (an SLO).
#[derive(Debug, Clone, PartialEq)]
pub struct XyChart {
    /// The x axis' description.
    pub x_desc: String,
    /// The y axis' description.
    pub y_desc: String,
    /// A logarithmic x axis (positive x only).
    pub log_x: bool,
    /// The series, drawn in order.
    pub series: Vec<Series>,
    /// Horizontal reference lines: (legend label, y).
    pub y_lines: Vec<(String, f64)>,
}

const PALETTE: [RGBColor; 6] = [BLUE, ORANGE, GREEN, PURPLE, BROWN, GREY];

/// Draws an [`XyChart`]: the y axis from 0 to above the highest point or reference line,
/// the x axis over the points' span.
pub fn xy_chart(c: &XyChart) -> Drawn {
    let all = || c.series.iter().flat_map(|s| s.points.iter());
    let finite = |v: f64| v.is_finite();
    if all().count() == 0 {
        return Err("no points to draw".into());
    }
    if !all().all(|(x, y)| finite(*x) && finite(*y)) {
        return Err("a point is not a finite number".into());
    }
    let (mut x_lo, mut x_hi) = all().fold((f64::MAX, f64::MIN), |(lo, hi), (x, _)| {
        (lo.min(*x), hi.max(*x))
    });
    if c.log_x && x_lo <= 0.0 {
        return Err("a logarithmic axis needs positive x".into());
    }
    if x_hi <= x_lo {
        x_lo = if c.log_x { x_lo / 2.0 } else { x_lo - 1.0 };
        x_hi += 1.0;
    }
    let plot = LinePlot {
        x_desc: &c.x_desc,
        y_desc: &c.y_desc,
        lines: lines_of(c, x_lo..x_hi),
        bands: Vec::new(),
        x_fmt: &fmt_number,
        y_fmt: &fmt_number,
    };
    if c.log_x {
        draw_lines(&plot, log_axis(x_lo, x_hi), 0.0..y_top(c))
    } else {
        draw_lines(&plot, x_lo..x_hi, 0.0..y_top(c))
    }
}

/// Draws an [`XyChart`] whose x is seconds since the run's start on the run's own time
/// axis, with its fault bands, so that it lines up with the throughput and latency charts
/// above it (`c.log_x` is ignored).
pub(crate) fn over_run_time(r: &RunResult, c: &XyChart) -> Drawn {
    let points = || c.series.iter().flat_map(|s| s.points.iter());
    if points().count() == 0 {
        return Err("no points to draw".into());
    }
    if !points().all(|(x, y)| x.is_finite() && y.is_finite()) {
        return Err("a point is not a finite number".into());
    }
    let time = time_range(r);
    let plot = LinePlot {
        x_desc: &c.x_desc,
        y_desc: &c.y_desc,
        lines: lines_of(c, time.clone()),
        bands: super::faults::bands(r, time.end),
        x_fmt: &fmt_seconds,
        y_fmt: &fmt_number,
    };
    draw_lines(&plot, time, 0.0..y_top(c))
}

/// The top of an [`XyChart`]'s y axis: above the highest point or reference line.
fn y_top(c: &XyChart) -> f64 {
    let ys = c
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|(_, y)| y));
    max_of(ys.chain(c.y_lines.iter().map(|(_, y)| y))).max(1e-9) * 1.08
}

/// An [`XyChart`]'s series as lines, and its reference lines across `x`.
fn lines_of(c: &XyChart, x: std::ops::Range<f64>) -> Vec<Line> {
    let mut lines: Vec<Line> = c
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut l = Line::new(
                s.label.clone(),
                PALETTE[i % PALETTE.len()],
                s.points.clone(),
            );
            l.dashed = s.style == SeriesStyle::Dashed;
            l.markers = s.style == SeriesStyle::Points;
            l
        })
        .collect();
    for (label, y) in &c.y_lines {
        lines.push(Line::new(label.clone(), RED, vec![(x.start, *y), (x.end, *y)]).dashed());
    }
    lines
}

/// A grouped bar chart: one cluster per category, one bar per (label, values) series.
pub fn bar_chart(categories: &[String], series: &[(String, Vec<f64>)], y_desc: &str) -> Drawn {
    let series: Vec<Bars> = series
        .iter()
        .map(|(label, values)| Bars {
            label: label.clone(),
            values: values.clone(),
        })
        .collect();
    bars(categories, &series, y_desc, &fmt_number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_axis_labels_read_as_percentiles() {
        assert_eq!(fmt_percentile(&1.0), "0%");
        assert_eq!(fmt_percentile(&2.0), "50%");
        assert_eq!(fmt_percentile(&10.0), "90%");
        assert_eq!(fmt_percentile(&100.0), "99%");
        assert_eq!(fmt_percentile(&1000.0), "99.9%");
        assert_eq!(fmt_percentile(&100_000.0), "99.999%");
    }

    #[test]
    fn percentile_points_rise_to_the_maximum() {
        let mut h = LatencyHistogram::new();
        for us in 1..=10_000u64 {
            h.record_us(us);
        }
        let points = percentile_points(&h, 10_000.0);
        assert_eq!(points.first().unwrap().0, 1.0);
        assert_eq!(points.last().unwrap(), &(10_000.0, h.max_ms()));
        assert!(points
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
        // x = 10 is the 90th percentile.
        let p90 = points.iter().find(|p| (p.0 - 10.0).abs() < 1e-9).unwrap();
        assert!((p90.1 - 9.0).abs() < 0.02, "{p90:?}");
    }

    #[test]
    fn bars_draw_rectangles_and_labels() {
        let svg = bars(
            &["a<b".to_string(), "c".to_string()],
            &[Bars {
                label: "p50".into(),
                values: vec![1.0, 2.0],
            }],
            "ms",
            &fmt_ms,
        )
        .unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.matches("<rect").count() >= 3);
        assert!(svg.contains("a&lt;b"));
        assert!(bars(&[], &[], "ms", &fmt_ms).is_err());
    }
}
