//! Which variable is the smoking gun: a main-effects decomposition of one metric measured
//! over the cells of a matrix (one-way ANOVA per axis).
//!
//! For each axis, the cells are grouped by the axis' value (its *levels*); the axis'
//! share is the part of the total sum of squares around the grand mean that its level
//! means explain: `Σ n_l (mean_l − mean)² / Σ (y − mean)²` (η², between 0 and 1). In a
//! full factorial the axes' shares plus the interactions add up to 1; the rest is
//! reported as `unexplained` (interactions, and noise since every cell runs once).
//!
//! Latencies are compared on a log scale ([`Scale::Log`]): their effects are
//! multiplicative (a TLS handshake multiplies a 1 ms answer by 20 but a 200 ms answer by
//! 1.1), and on a linear scale one slow cell would decide the attribution alone. The
//! ratio between the worst and best level is then a ratio of geometric means. Rates of
//! errors can be zero, so they stay linear ([`Scale::Linear`]).
//!
//! ```
//! use stampede_analysis::variance::{attribute, Attribution, Better, Scale};
//!
//! let axes = ["protocol".to_string(), "resource".to_string()];
//! let cells = vec![
//!     (vec!["http".to_string(), "/".to_string()], Some(1.0)),
//!     (vec!["http".to_string(), "/slow".to_string()], Some(1.2)),
//!     (vec!["https".to_string(), "/".to_string()], Some(40.0)),
//!     (vec!["https".to_string(), "/slow".to_string()], Some(41.0)),
//! ];
//! let a = attribute(&axes, &cells, Scale::Log, Better::Lower);
//! match &a {
//!     Attribution::Explained(e) => {
//!         assert_eq!(e.axis, "protocol");
//!         assert!(e.share > 0.95);
//!         assert_eq!((e.worst.as_str(), e.best.as_str()), ("https", "http"));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

use serde::{Deserialize, Serialize};

/// How values are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// As measured (rates, error rates: zero is a value).
    Linear,
    /// Natural logarithm of the value (latencies: effects multiply). Values must be
    /// positive; a cell with zero has no data on this scale.
    Log,
}

/// Which direction is better for the metric (names the worst level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Lower is better (latency, error rate).
    Lower,
    /// Higher is better (achieved rate).
    Higher,
}

/// One axis' part of the variance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AxisShare {
    /// The axis' name.
    pub axis: String,
    /// Share of the total sum of squares its level means explain (0 to 1).
    pub share: f64,
    /// Mean of the metric per level (geometric mean on the log scale), in the order the
    /// levels first appear; levels without data are left out.
    pub level_means: Vec<LevelMean>,
}

/// The mean of a metric over the cells of one level of an axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelMean {
    /// The level (the axis' value).
    pub level: String,
    /// The mean (geometric on the log scale).
    pub mean: f64,
    /// Cells of this level with data.
    pub cells: usize,
}

/// The axis that explains the most, with the figures behind the claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explained {
    /// The axis.
    pub axis: String,
    /// Its share of the variance (0 to 1).
    pub share: f64,
    /// Its worst level (by [`Better`]).
    pub worst: String,
    /// The worst level's mean (geometric on the log scale).
    pub worst_mean: f64,
    /// Its best level.
    pub best: String,
    /// The best level's mean.
    pub best_mean: f64,
    /// Every axis' share, in axis order.
    pub shares: Vec<AxisShare>,
    /// What no axis explains alone: interactions and noise (0 to 1).
    pub unexplained: f64,
    /// Cells that had data for the metric.
    pub cells: usize,
}

impl Explained {
    /// `worst_mean / best_mean` when both are positive (how many times worse), else
    /// `None` (a zero error rate has no ratio).
    pub fn ratio(&self) -> Option<f64> {
        (self.best_mean > 0.0 && self.worst_mean > 0.0).then(|| {
            let (hi, lo) = if self.worst_mean >= self.best_mean {
                (self.worst_mean, self.best_mean)
            } else {
                (self.best_mean, self.worst_mean)
            };
            hi / lo
        })
    }
}

/// What the decomposition says about one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Attribution {
    /// One axis explains the most.
    Explained(Explained),
    /// Fewer than two cells had data for the metric: nothing to compare.
    NotEnoughData {
        /// Cells with data.
        cells: usize,
    },
    /// Every cell measured the same value: no variance to explain.
    NoVariance {
        /// Cells with data.
        cells: usize,
        /// The common value.
        value: f64,
    },
}

/// Relative sum of squares under which the values count as equal (rounding noise).
const NO_VARIANCE: f64 = 1e-12;

/// Attributes the variance of a metric across `cells` to `axes`. Each cell is its level
/// per axis (in axis order) and its value, `None` when the cell has no data for the
/// metric (it is left out, not counted as zero). On the log scale, values ≤ 0 count as
/// no data.
pub fn attribute(
    axes: &[String],
    cells: &[(Vec<String>, Option<f64>)],
    scale: Scale,
    better: Better,
) -> Attribution {
    let data: Vec<(&[String], f64)> = cells
        .iter()
        .filter_map(|(levels, v)| {
            let v = (*v)?;
            let y = match scale {
                Scale::Linear => v,
                Scale::Log if v > 0.0 => v.ln(),
                Scale::Log => return None,
            };
            y.is_finite().then_some((levels.as_slice(), y))
        })
        .collect();
    let n = data.len();
    if n < 2 {
        return Attribution::NotEnoughData { cells: n };
    }
    let mean = data.iter().map(|(_, y)| y).sum::<f64>() / n as f64;
    let total: f64 = data.iter().map(|(_, y)| (y - mean).powi(2)).sum();
    let back = |y: f64| match scale {
        Scale::Linear => y,
        Scale::Log => y.exp(),
    };
    if total <= NO_VARIANCE * mean.abs().max(1.0).powi(2) * n as f64 {
        return Attribution::NoVariance {
            cells: n,
            value: back(mean),
        };
    }
    let shares: Vec<AxisShare> = axes
        .iter()
        .enumerate()
        .map(|(i, axis)| {
            let levels = level_means(&data, i);
            let between: f64 = levels
                .iter()
                .map(|(_, m, count)| *count as f64 * (m - mean).powi(2))
                .sum();
            AxisShare {
                axis: axis.clone(),
                share: (between / total).clamp(0.0, 1.0),
                level_means: levels
                    .into_iter()
                    .map(|(level, m, cells)| LevelMean {
                        level,
                        mean: back(m),
                        cells,
                    })
                    .collect(),
            }
        })
        .collect();
    let Some(top) = shares
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.share.total_cmp(&b.1.share).then(b.0.cmp(&a.0)))
        .map(|(_, s)| s.clone())
    else {
        return Attribution::NotEnoughData { cells: n };
    };
    let by_mean = |a: &&LevelMean, b: &&LevelMean| a.mean.total_cmp(&b.mean);
    let (lowest, highest) = (
        top.level_means.iter().min_by(by_mean).cloned(),
        top.level_means.iter().max_by(by_mean).cloned(),
    );
    let (Some(lowest), Some(highest)) = (lowest, highest) else {
        return Attribution::NotEnoughData { cells: n };
    };
    let (worst, best) = match better {
        Better::Lower => (highest, lowest),
        Better::Higher => (lowest, highest),
    };
    let explained: f64 = shares.iter().map(|s| s.share).sum();
    Attribution::Explained(Explained {
        axis: top.axis.clone(),
        share: top.share,
        worst: worst.level,
        worst_mean: worst.mean,
        best: best.level,
        best_mean: best.mean,
        unexplained: (1.0 - explained).max(0.0),
        shares,
        cells: n,
    })
}

/// (level, mean, count) of axis `i` over `data`, levels in order of first appearance.
fn level_means(data: &[(&[String], f64)], i: usize) -> Vec<(String, f64, usize)> {
    let mut levels: Vec<(String, f64, usize)> = Vec::new();
    for (cell, y) in data {
        let Some(level) = cell.get(i) else { continue };
        match levels.iter_mut().find(|(l, _, _)| l == level) {
            Some(entry) => {
                entry.1 += y;
                entry.2 += 1;
            }
            None => levels.push((level.clone(), *y, 1)),
        }
    }
    for entry in &mut levels {
        entry.1 /= entry.2 as f64;
    }
    levels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(levels: &[&str], v: Option<f64>) -> (Vec<String>, Option<f64>) {
        (levels.iter().map(|s| s.to_string()).collect(), v)
    }

    fn axes(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn explained(a: Attribution) -> Explained {
        match a {
            Attribution::Explained(e) => e,
            other => panic!("expected an explained attribution, got {other:?}"),
        }
    }

    #[test]
    fn a_pure_main_effect_is_explained_entirely() {
        // y = 10 for a=x, 20 for a=y, whatever b is: a explains 100%, b 0%.
        let cells = [
            cell(&["x", "p"], Some(10.0)),
            cell(&["x", "q"], Some(10.0)),
            cell(&["y", "p"], Some(20.0)),
            cell(&["y", "q"], Some(20.0)),
        ];
        let e = explained(attribute(
            &axes(&["a", "b"]),
            &cells,
            Scale::Linear,
            Better::Lower,
        ));
        assert_eq!(e.axis, "a");
        assert!((e.share - 1.0).abs() < 1e-12, "{e:?}");
        assert!(e.shares[1].share.abs() < 1e-12);
        assert!(e.unexplained < 1e-12);
        assert_eq!((e.worst.as_str(), e.worst_mean), ("y", 20.0));
        assert_eq!((e.best.as_str(), e.best_mean), ("x", 10.0));
        assert_eq!(e.ratio(), Some(2.0));
    }

    #[test]
    fn shares_match_a_hand_computed_anova() {
        // Grand mean 5; a: level means 3 and 7 -> SS_a = 4*4 = 16;
        // b: level means 4 and 6 -> SS_b = 4*1 = 4; total = 9+1+1+... computed below.
        let ys = [
            (["x", "p"], 2.0),
            (["x", "q"], 4.0),
            (["y", "p"], 6.0),
            (["y", "q"], 8.0),
        ];
        let cells: Vec<_> = ys.iter().map(|(l, y)| cell(l, Some(*y))).collect();
        let total: f64 = ys.iter().map(|(_, y)| (y - 5.0f64).powi(2)).sum(); // 9+1+1+9 = 20
        let e = explained(attribute(
            &axes(&["a", "b"]),
            &cells,
            Scale::Linear,
            Better::Lower,
        ));
        assert!((e.shares[0].share - 16.0 / total).abs() < 1e-12);
        assert!((e.shares[1].share - 4.0 / total).abs() < 1e-12);
        assert!(e.unexplained.abs() < 1e-12, "additive: no interaction");
    }

    #[test]
    fn an_interaction_is_left_unexplained() {
        // XOR pattern: no main effect at all, all of it is interaction.
        let cells = [
            cell(&["x", "p"], Some(1.0)),
            cell(&["x", "q"], Some(3.0)),
            cell(&["y", "p"], Some(3.0)),
            cell(&["y", "q"], Some(1.0)),
        ];
        let e = explained(attribute(
            &axes(&["a", "b"]),
            &cells,
            Scale::Linear,
            Better::Lower,
        ));
        assert!(
            e.share < 1e-12 && (e.unexplained - 1.0).abs() < 1e-12,
            "{e:?}"
        );
    }

    #[test]
    fn log_scale_compares_ratios_with_geometric_means() {
        // https multiplies by 40 on both resources; /slow by 100. On the log scale the
        // effects are additive, so nothing is left to interactions.
        let cells = [
            cell(&["http", "/"], Some(1.0)),
            cell(&["http", "/slow"], Some(100.0)),
            cell(&["https", "/"], Some(40.0)),
            cell(&["https", "/slow"], Some(4000.0)),
        ];
        let ax = axes(&["protocol", "resource"]);
        let lin = explained(attribute(&ax, &cells, Scale::Linear, Better::Lower));
        let log = explained(attribute(&ax, &cells, Scale::Log, Better::Lower));
        assert!(lin.unexplained > 0.1, "linear: an interaction {lin:?}");
        assert!(log.unexplained < 1e-9, "log: none {log:?}");
        assert_eq!(log.axis, "resource"); // ln(100) > ln(40)
                                          // Geometric means: https = sqrt(40*4000) = 400, http = sqrt(100) = 10.
        let https = &log.shares[0].level_means[1];
        assert!((https.mean - 400.0).abs() < 1e-9, "{https:?}");
        let r = log.ratio().unwrap();
        assert!((r - 100.0).abs() < 1e-9, "{r}");
        // Shares are (ln 40)^2 and (ln 100)^2 over their sum.
        let (a, b) = (40f64.ln().powi(2), 100f64.ln().powi(2));
        assert!((log.shares[0].share - a / (a + b)).abs() < 1e-9);
    }

    #[test]
    fn higher_is_better_names_the_lowest_level_worst() {
        let cells = [cell(&["a"], Some(900.0)), cell(&["b"], Some(300.0))];
        let e = explained(attribute(
            &axes(&["x"]),
            &cells,
            Scale::Linear,
            Better::Higher,
        ));
        assert_eq!((e.worst.as_str(), e.best.as_str()), ("b", "a"));
        assert_eq!(e.ratio(), Some(3.0));
    }

    #[test]
    fn one_cell_or_no_data_names_no_axis() {
        let ax = axes(&["a"]);
        let one = [cell(&["x"], Some(5.0))];
        assert_eq!(
            attribute(&ax, &one, Scale::Linear, Better::Lower),
            Attribution::NotEnoughData { cells: 1 }
        );
        // Cells without data are left out, not taken as zero.
        let gaps = [cell(&["x"], Some(5.0)), cell(&["y"], None)];
        assert_eq!(
            attribute(&ax, &gaps, Scale::Linear, Better::Lower),
            Attribution::NotEnoughData { cells: 1 }
        );
        // Zero has no logarithm: no data on the log scale.
        let zero = [cell(&["x"], Some(5.0)), cell(&["y"], Some(0.0))];
        assert_eq!(
            attribute(&ax, &zero, Scale::Log, Better::Lower),
            Attribution::NotEnoughData { cells: 1 }
        );
    }

    #[test]
    fn equal_values_have_no_variance() {
        let cells = [cell(&["x"], Some(0.0)), cell(&["y"], Some(0.0))];
        assert_eq!(
            attribute(&axes(&["a"]), &cells, Scale::Linear, Better::Lower),
            Attribution::NoVariance {
                cells: 2,
                value: 0.0
            }
        );
        let cells = [cell(&["x"], Some(3.0)), cell(&["y"], Some(3.0))];
        assert!(matches!(
            attribute(&axes(&["a"]), &cells, Scale::Log, Better::Lower),
            Attribution::NoVariance { cells: 2, .. }
        ));
    }

    #[test]
    fn a_zero_error_rate_has_no_ratio() {
        let cells = [cell(&["x"], Some(0.0)), cell(&["y"], Some(0.05))];
        let e = explained(attribute(
            &axes(&["a"]),
            &cells,
            Scale::Linear,
            Better::Lower,
        ));
        assert_eq!(e.worst, "y");
        assert_eq!(e.ratio(), None);
    }
}
