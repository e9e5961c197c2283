//! Building blocks for self-contained HTML pages, shared by every report stampede
//! writes (a run, a capacity search, a matrix, a scalability fit): the page shell with
//! its Content-Security-Policy and style, escaped tables, figures, tiles, and charts
//! drawn as inline SVG.
//!
//! ```
//! use stampede_report::kit::{xy_chart, Page, Series, XyChart};
//!
//! let mut page = Page::new("capacity search", "http://127.0.0.1:8080/");
//! page.h2("Steps");
//! page.table(&[
//!     vec!["offered".into(), "p99 ms".into()],
//!     vec!["100".into(), "2.1".into()],
//! ]);
//! let chart = XyChart {
//!     x_desc: "offered req/s".into(),
//!     y_desc: "p99 ms".into(),
//!     log_x: false,
//!     series: vec![Series::line("p99", vec![(100.0, 2.1), (200.0, 2.4)])],
//!     y_lines: vec![("SLO".into(), 5.0)],
//! };
//! page.figure("p99", "p99 vs offered rate", "", xy_chart(&chart));
//! let html = page.finish("a capacity document");
//! assert!(html.contains("<svg") && html.contains("Content-Security-Policy"));
//! ```

use std::fmt::Write as _;

pub use super::charts::{bar_chart, xy_chart, Drawn, Series, SeriesStyle, XyChart};
use super::CSP;

/// One HTML page being written: [`Page::new`] writes the head, the methods append
/// sections, [`Page::finish`] closes it.
#[derive(Debug)]
pub struct Page {
    out: String,
}

impl Page {
    /// Opens a page with a title (also the `<h1>`) and a subtitle line under it.
    pub fn new(title: &str, subtitle: &str) -> Page {
        let mut out = String::with_capacity(128 * 1024);
        head(&mut out, title);
        let _ = writeln!(out, "<h1>{}</h1>", esc(title));
        if !subtitle.is_empty() {
            let _ = writeln!(out, "<p class=\"sub\">{}</p>", esc(subtitle));
        }
        Page { out }
    }

    /// A section heading.
    pub fn h2(&mut self, text: &str) {
        let _ = writeln!(self.out, "<h2>{}</h2>", esc(text));
    }

    /// A paragraph of text; `class` is `""`, `"warn"`, `"ok"` or `"note"`.
    pub fn para(&mut self, class: &str, text: &str) {
        if class.is_empty() {
            let _ = writeln!(self.out, "<p>{}</p>", esc(text));
        } else {
            let _ = writeln!(self.out, "<p class=\"{}\">{}</p>", esc(class), esc(text));
        }
    }

    /// A row of tiles, each a (label, value) pair.
    pub fn tiles(&mut self, tiles: &[(&str, String)]) {
        self.out.push_str("<div class=\"tiles\">");
        for (k, v) in tiles {
            tile(&mut self.out, k, v);
        }
        self.out.push_str("</div>\n");
    }

    /// A table: the first row is the header; cells after the first are numeric.
    pub fn table(&mut self, rows: &[Vec<String>]) {
        table(&mut self.out, rows);
    }

    /// A two-column table of settings (text values).
    pub fn settings(&mut self, rows: &[Vec<String>]) {
        settings(&mut self.out, rows);
    }

    /// A chart with its title and caption, or the reason it could not be drawn.
    pub fn figure(&mut self, id: &str, title: &str, caption: &str, drawn: Drawn) {
        figure(&mut self.out, id, title, caption, drawn);
    }

    /// Closes the page with a footer naming what it was rendered from.
    pub fn finish(mut self, rendered_from: &str) -> String {
        let _ = writeln!(
            self.out,
            "<footer>Rendered by stampede {} from {}.</footer>",
            esc(env!("CARGO_PKG_VERSION")),
            esc(rendered_from)
        );
        self.out.push_str("</main>\n</body>\n</html>\n");
        self.out
    }
}

/// The document head (charset, viewport, CSP, title, style) and the opening of `<main>`.
pub(crate) fn head(out: &mut String, title: &str) {
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // The page loads nothing: the browser refuses any fetch, whatever the data holds.
    let _ = writeln!(
        out,
        "<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
    );
    let _ = writeln!(out, "<title>{}</title>", esc(title));
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>\n<main>");
}

pub(crate) const STYLE: &str = r#"
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: #222; margin: 0; background: #f4f5f7; }
main { max-width: 1000px; margin: 0 auto; padding: 24px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 20px 0 6px; }
.sub { color: #555; margin: 0 0 16px; word-break: break-all; }
.tiles { display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0; }
.tile { flex: 1 1 0; border: 1px solid #ddd; border-radius: 6px; padding: 8px 10px; min-width: 90px; }
.tile .v { font-size: 20px; font-weight: 600; }
.tile .k { font-size: 12px; color: #666; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; }
th { background: #f0f2f5; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.bad { color: #b00020; font-weight: 600; }
figure { margin: 8px 0 16px; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { font-size: 12px; color: #666; }
.warn { background: #fff4e5; border: 1px solid #f0a030; padding: 8px 12px; border-radius: 6px; }
.ok { background: #eef8ee; border: 1px solid #5cb85c; padding: 8px 12px; border-radius: 6px; }
.note { color: #666; font-style: italic; }
footer { margin-top: 32px; font-size: 12px; color: #888; }
"#;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An HTML table: a header row and body rows; cells after the first are numeric.
pub(crate) fn table(out: &mut String, rows: &[Vec<String>]) {
    table_of(out, rows, true);
}

/// A two-column table of settings: the values are text, left-aligned.
pub(crate) fn settings(out: &mut String, rows: &[Vec<String>]) {
    table_of(out, rows, false);
}

fn table_of(out: &mut String, rows: &[Vec<String>], numeric: bool) {
    out.push_str("<table>\n");
    for (i, r) in rows.iter().enumerate() {
        out.push_str("<tr>");
        for (j, cell) in r.iter().enumerate() {
            let cell = esc(cell);
            if i == 0 {
                let _ = write!(out, "<th>{cell}</th>");
            } else if j == 0 || !numeric {
                let _ = write!(out, "<td>{cell}</td>");
            } else {
                let _ = write!(out, "<td class=\"n\">{cell}</td>");
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

pub(crate) fn figure(out: &mut String, id: &str, title: &str, caption: &str, drawn: Drawn) {
    let _ = writeln!(out, "<figure data-chart=\"{id}\"><h3>{}</h3>", esc(title));
    match drawn {
        Ok(svg) => out.push_str(&svg),
        Err(why) => {
            let _ = write!(out, "<p class=\"note\">Chart not drawn: {}</p>", esc(&why));
        }
    }
    if !caption.is_empty() {
        let _ = write!(out, "<figcaption>{}</figcaption>", esc(caption));
    }
    out.push_str("</figure>\n");
}

pub(crate) fn tile(out: &mut String, key: &str, value: &str) {
    let _ = write!(
        out,
        "<div class=\"tile\"><div class=\"v\">{}</div><div class=\"k\">{}</div></div>",
        esc(value),
        esc(key)
    );
}
