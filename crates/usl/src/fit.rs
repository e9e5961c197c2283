//! `fit`: checks the points, runs the solver from several starts, and derives the
//! statistics, the peak and the verdict.

use serde::{Deserialize, Serialize};

use crate::model::{self, Params, KAPPA, LAMBDA, SIGMA, UPPER};
use crate::verdict::{self, sig, Facts, Shape};
use crate::{linalg, solver};

/// Below this many points the fit warns that it may not be accurate (as the R package does).
pub const FEW_POINTS: usize = 6;

/// A fitted Universal Scalability Law model (the `fit` object of `stampede usl --out` and
/// `stampede scale --out`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UslFit {
    /// λ: throughput of one unit without contention (the slope of the linear ideal λN).
    pub lambda: f64,
    /// Standard error of λ; `None` when it cannot be computed (see `warnings`).
    pub lambda_std_error: Option<f64>,
    /// σ ∈ [0, 1]: contention, the serialized share of the work (Amdahl).
    pub sigma: f64,
    /// Standard error of σ.
    pub sigma_std_error: Option<f64>,
    /// κ ∈ [0, 1]: coherency, the cost each pair of units pays to agree.
    pub kappa: f64,
    /// Standard error of κ.
    pub kappa_std_error: Option<f64>,
    /// sqrt(SSE / (n−3)); `None` with exactly 3 points.
    pub residual_std_error: Option<f64>,
    /// n − 3.
    pub degrees_of_freedom: usize,
    /// 1 − SSE/SST; `None` when every X is the same (SST = 0).
    pub r_squared: Option<f64>,
    /// N\* = sqrt((1−σ)/κ), unrounded; `None` when κ = 0 (no peak).
    pub peak_n: Option<f64>,
    /// ⌊N\*⌋.
    pub peak_n_floor: Option<u64>,
    /// X(N\*), or X(1) when N\* < 1 (the curve then falls from N = 1 on).
    pub peak_throughput: Option<f64>,
    /// λ/σ, the ceiling that throughput approaches when κ = 0 (Amdahl's asymptote);
    /// `None` when σ = 0.
    pub limit_throughput: Option<f64>,
    /// What the fitted curve does over the measured range.
    pub shape: Shape,
    /// The shape in one line of words.
    pub verdict: String,
    /// Points fitted.
    pub points: usize,
    /// Solver iterations of the start that won.
    pub iterations: u32,
    /// Why the numbers deserve less trust, each with its cause.
    pub warnings: Vec<String>,
}

impl UslFit {
    /// The model's throughput at `n`.
    pub fn predict(&self, n: f64) -> f64 {
        model::throughput(&[self.lambda, self.sigma, self.kappa], n)
    }

    /// The peak in words: "N*=96.52 (⌊N*⌋=96), X(N*)=1884", or why there is none.
    pub fn peak_text(&self) -> String {
        match (self.peak_n, self.peak_n_floor, self.peak_throughput) {
            (Some(n), _, Some(x)) if n < 1.0 => {
                format!("N*={} < 1: highest at N=1, X(1)={}", sig(n), sig(x))
            }
            (Some(n), Some(floor), Some(x)) => {
                format!("N*={} (⌊N*⌋={floor}), X(N*)={}", sig(n), sig(x))
            }
            _ => match self.limit_throughput {
                Some(limit) => format!("no peak: throughput approaches λ/σ={}", sig(limit)),
                None => "no peak: σ=κ=0, throughput grows as λ·N".to_string(),
            },
        }
    }
}

/// Data the fit refuses, or a fit that did not converge.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FitError {
    /// Fewer than 3 points for 3 coefficients.
    #[error("{points} point(s): the USL has 3 coefficients, so it needs at least 3 points (6 or more for a trustworthy fit)")]
    TooFewPoints {
        /// Points given.
        points: usize,
    },
    /// Fewer than 3 different N values: σ and κ cannot be told apart.
    #[error("only {distinct} different N value(s): fitting σ and κ needs at least 3")]
    TooFewDistinctN {
        /// Different N values.
        distinct: usize,
    },
    /// N or X is NaN or infinite.
    #[error("point {}: N={n}, X={x}: not a finite number", index + 1)]
    NotFinite {
        /// 0-based position of the point.
        index: usize,
        /// N as given.
        n: f64,
        /// X as given.
        x: f64,
    },
    /// N is zero or negative.
    #[error("point {}: N={n}: N (concurrency or node count) must be greater than 0", index + 1)]
    NonPositiveN {
        /// 0-based position of the point.
        index: usize,
        /// N as given.
        n: f64,
    },
    /// X is negative.
    #[error("point {}: X={x}: throughput cannot be negative", index + 1)]
    NegativeThroughput {
        /// 0-based position of the point.
        index: usize,
        /// X as given.
        x: f64,
    },
    /// Every X is 0.
    #[error("every throughput is 0: there is no curve to fit")]
    ZeroThroughput,
    /// No start of the solver converged.
    #[error("the solver did not converge from any start (best sum of squares {sse:e} after {iterations} iterations): the data do not follow the USL closely enough to fit")]
    NoConvergence {
        /// Sum of squared residuals of the best start.
        sse: f64,
        /// Its iterations.
        iterations: u32,
    },
}

/// Fits the USL to `points`, each `(N, X)`: N > 0 (concurrency or node count), X ≥ 0
/// (throughput). Points need not be sorted; the same N may appear more than once.
pub fn fit(points: &[(f64, f64)]) -> Result<UslFit, FitError> {
    check(points)?;
    let lambda0 = points.iter().map(|&(n, x)| x / n).fold(0.0, f64::max);
    let starts = [
        [lambda0, 0.01, 0.0001],
        [lambda0, 0.1, 0.01],
        [lambda0, 0.5, 0.0],
        [lambda0, 0.0, 0.0],
    ];
    let solutions = starts.map(|s| solver::solve(points, s));
    let best = solutions
        .iter()
        .filter(|s| s.converged)
        .min_by(|a, b| a.sse.total_cmp(&b.sse));
    let Some(best) = best else {
        let worst_case = solutions
            .iter()
            .min_by(|a, b| a.sse.total_cmp(&b.sse))
            .expect("four starts");
        return Err(FitError::NoConvergence {
            sse: worst_case.sse,
            iterations: worst_case.iterations,
        });
    };
    let params = solver::snap_to_bounds(points, best.params);
    let sse = model::sum_of_squares(&params, points);
    Ok(describe(points, params, sse, best.iterations))
}

/// Refuses points the model cannot take.
fn check(points: &[(f64, f64)]) -> Result<(), FitError> {
    for (index, &(n, x)) in points.iter().enumerate() {
        if !n.is_finite() || !x.is_finite() {
            return Err(FitError::NotFinite { index, n, x });
        }
        if n <= 0.0 {
            return Err(FitError::NonPositiveN { index, n });
        }
        if x < 0.0 {
            return Err(FitError::NegativeThroughput { index, x });
        }
    }
    if points.len() < 3 {
        return Err(FitError::TooFewPoints {
            points: points.len(),
        });
    }
    let mut ns: Vec<f64> = points.iter().map(|p| p.0).collect();
    ns.sort_by(f64::total_cmp);
    ns.dedup();
    if ns.len() < 3 {
        return Err(FitError::TooFewDistinctN { distinct: ns.len() });
    }
    if points.iter().all(|p| p.1 == 0.0) {
        return Err(FitError::ZeroThroughput);
    }
    Ok(())
}

/// Statistics, peak, verdict and warnings of the solution `p`.
fn describe(points: &[(f64, f64)], p: Params, sse: f64, iterations: u32) -> UslFit {
    let mut warnings = Vec::new();
    let count = points.len();
    if count < FEW_POINTS {
        warnings.push(format!(
            "only {count} points: the fit may not be accurate; measure at {FEW_POINTS} or more values of N"
        ));
    }
    let df = count - 3;
    let variance = (df > 0).then(|| sse / df as f64);
    if df == 0 {
        warnings.push("3 points for 3 coefficients: no residual degrees of freedom, so no residual or standard errors".to_string());
    }
    let std_errors = variance.and_then(|v| standard_errors(points, &p, v));
    if variance.is_some() && std_errors.is_none() {
        warnings.push("standard errors unavailable: JᵀJ is singular at the solution (the points do not pin down all three coefficients)".to_string());
    }
    for (j, name) in [(SIGMA, "σ"), (KAPPA, "κ")] {
        if p[j] >= UPPER[j] {
            warnings.push(format!("{name} reached its upper bound 1: the data fall faster than the model can follow; check the measurements"));
        }
    }
    let mean = points.iter().map(|p| p.1).sum::<f64>() / count as f64;
    let sst: f64 = points.iter().map(|p| (p.1 - mean).powi(2)).sum();
    let (lambda, sigma, kappa) = (p[LAMBDA], p[SIGMA], p[KAPPA]);
    // Below N = 1 there is nothing to scale: a curve whose N* < 1 is highest at N = 1.
    let peak = (kappa > 0.0).then(|| {
        let n = ((1.0 - sigma) / kappa).sqrt();
        (n, model::throughput(&p, n.max(1.0)))
    });
    let max_n = points.iter().map(|p| p.0).fold(0.0, f64::max);
    let efficiency_at_max = model::throughput(&p, max_n) / (lambda * max_n);
    let (shape, verdict) = verdict::verdict(&Facts {
        lambda,
        sigma,
        kappa,
        max_n,
        efficiency_at_max,
        peak,
    });
    UslFit {
        lambda,
        lambda_std_error: std_errors.map(|s| s[LAMBDA]),
        sigma,
        sigma_std_error: std_errors.map(|s| s[SIGMA]),
        kappa,
        kappa_std_error: std_errors.map(|s| s[KAPPA]),
        residual_std_error: variance.map(f64::sqrt),
        degrees_of_freedom: df,
        r_squared: (sst > 0.0).then(|| 1.0 - sse / sst),
        peak_n: peak.map(|p| p.0),
        peak_n_floor: peak.map(|p| p.0.floor() as u64),
        peak_throughput: peak.map(|p| p.1),
        limit_throughput: (sigma > 0.0).then(|| lambda / sigma),
        shape,
        verdict,
        points: count,
        iterations,
        warnings,
    }
}

/// sqrt(diag((JᵀJ)⁻¹) · s²), as R's `nls` and the `usl` package compute them.
fn standard_errors(points: &[(f64, f64)], p: &Params, variance: f64) -> Option<Params> {
    let mut a = [[0.0; 3]; 3];
    for &(n, _) in points {
        let j = model::gradient(p, n);
        for row in 0..3 {
            for col in 0..3 {
                a[row][col] += j[row] * j[col];
            }
        }
    }
    let inv = linalg::inverse(&a)?;
    let se = [0, 1, 2].map(|j| (inv[j][j] * variance).sqrt());
    se.iter().all(|s| s.is_finite()).then_some(se)
}
