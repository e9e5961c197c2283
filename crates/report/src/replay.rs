//! A replay's route table: the latency each route had when it was recorded beside the
//! latency the replay measured.

use std::fmt::Write;

/// One route: recorded and replayed latency, in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteComparison {
    /// `METHOD /pattern`.
    pub route: String,
    /// Requests with a recorded response time.
    pub recorded: u64,
    /// Recorded median and 99th percentile.
    pub original_ms: (f64, f64),
    /// Replayed requests in the route's row.
    pub replayed: u64,
    /// Replayed median and 99th percentile (from intended send times).
    pub replayed_ms: (f64, f64),
}

/// The table, one line per route, or an empty string for no routes.
pub fn render_route_comparison(rows: &[RouteComparison]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let width = rows.iter().map(|r| r.route.len()).max().unwrap_or(0).max(5);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {:>8}  {:>10}  {:>10}  {:>8}  {:>10}  {:>10}",
        "route", "recorded", "orig p50", "orig p99", "replayed", "p50 ms", "p99 ms"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<width$}  {:>8}  {:>10.1}  {:>10.1}  {:>8}  {:>10.2}  {:>10.2}",
            r.route,
            r.recorded,
            r.original_ms.0,
            r.original_ms.1,
            r.replayed,
            r.replayed_ms.0,
            r.replayed_ms.1
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_route() {
        let t = render_route_comparison(&[RouteComparison {
            route: "GET /users/:id".into(),
            recorded: 10,
            original_ms: (4.0, 12.0),
            replayed: 10,
            replayed_ms: (1.25, 3.5),
        }]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].starts_with("GET /users/:id"), "{t}");
        assert!(
            lines[1].contains("12.0") && lines[1].contains("3.50"),
            "{t}"
        );
        assert_eq!(render_route_comparison(&[]), "");
    }
}
