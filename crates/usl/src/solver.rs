//! A bounded Levenberg–Marquardt solver for the three USL coefficients.
//!
//! Each iteration fixes the coefficients that sit on a bound with the descent direction
//! pointing out of the box (an active set, as bounded solvers such as PORT's do), solves the
//! Marquardt-damped normal equations (JᵀJ + μ·diag(JᵀJ)) δ = Jᵀr for the others, and projects
//! the step back onto the box. A step is taken only when it lowers the sum of squares;
//! otherwise μ grows, so every accepted iterate is better than the last.

use crate::linalg::{self, Mat3};
use crate::model::{self, Params, KAPPA, LOWER, SIGMA, UPPER};

/// At most this many iterations from one start.
const MAX_ITERATIONS: u32 = 2_000;
/// Converged when every free coefficient's column is this close to orthogonal to the
/// residual vector (the relative-offset test of Bates and Watts, per coefficient).
const ORTHOGONAL: f64 = 1e-9;
/// A sum of squares this small relative to Σ X² is an exact fit up to rounding (the
/// residuals are noise, so their angle to the columns says nothing).
const EXACT: f64 = 1e-20;
/// A damping this large means no step along the gradient lowers the sum of squares any more.
const MAX_DAMPING: f64 = 1e16;

/// Where one start of the solver ended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Solution {
    /// λ, σ, κ.
    pub(crate) params: Params,
    /// Sum of squared residuals at `params`.
    pub(crate) sse: f64,
    /// Iterations used.
    pub(crate) iterations: u32,
    /// Whether a convergence test passed (rather than the iteration limit).
    pub(crate) converged: bool,
}

/// Minimizes the sum of squares from `start` within the bounds.
pub(crate) fn solve(points: &[(f64, f64)], start: Params) -> Solution {
    let mut p = project(start);
    let mut sse = model::sum_of_squares(&p, points);
    let mut mu = 1e-3;
    let exact = EXACT * points.iter().map(|p| p.1 * p.1).sum::<f64>();
    for iteration in 0..MAX_ITERATIONS {
        let (a, g) = normal_equations(&p, points);
        let free = free_coefficients(&p, &a, &g);
        if sse <= exact || free.is_empty() || offset(&a, &g, sse, &free) <= ORTHOGONAL {
            return Solution {
                params: p,
                sse,
                iterations: iteration,
                converged: true,
            };
        }
        loop {
            let Some(step) = damped_step(&a, &g, &free, mu) else {
                mu *= 4.0;
                if mu > MAX_DAMPING {
                    return stalled(p, sse, sse <= exact, iteration, (&a, &g, &free));
                }
                continue;
            };
            let mut candidate = p;
            for (k, &j) in free.iter().enumerate() {
                candidate[j] += step[k];
            }
            let candidate = project(candidate);
            let candidate_sse = model::sum_of_squares(&candidate, points);
            if candidate_sse.is_finite() && candidate_sse < sse {
                let tiny_gain = sse - candidate_sse <= 1e-15 * sse;
                p = candidate;
                sse = candidate_sse;
                mu = (mu / 3.0).max(1e-12);
                if tiny_gain {
                    let (a, g) = normal_equations(&p, points);
                    let free = free_coefficients(&p, &a, &g);
                    return stalled(p, sse, sse <= exact, iteration + 1, (&a, &g, &free));
                }
                break;
            }
            mu *= 4.0;
            if mu > MAX_DAMPING {
                return stalled(p, sse, sse <= exact, iteration, (&a, &g, &free));
            }
        }
    }
    Solution {
        params: p,
        sse,
        iterations: MAX_ITERATIONS,
        converged: false,
    }
}

/// Puts σ or κ on a bound when it is so close that no fitted value changes by more than
/// 1e-9 relative: rounding leaves κ = 4e-17 where the data say κ = 0, which would turn "no
/// peak" into a peak at a meaningless N\*.
pub(crate) fn snap_to_bounds(points: &[(f64, f64)], p: Params) -> Params {
    let mut p = p;
    for j in [SIGMA, KAPPA] {
        for bound in [LOWER[j], UPPER[j]] {
            let mut q = p;
            q[j] = bound;
            let same = points.iter().all(|&(n, _)| {
                let (before, after) = (model::throughput(&p, n), model::throughput(&q, n));
                (after - before).abs() <= 1e-9 * before.abs()
            });
            if same {
                p = q;
            }
        }
    }
    p
}

/// No further decrease is possible: converged if the fit is exact or the gradient is
/// (nearly) zero there.
fn stalled(
    p: Params,
    sse: f64,
    exact: bool,
    iterations: u32,
    (a, g, free): (&Mat3, &Params, &[usize]),
) -> Solution {
    let converged = exact || free.is_empty() || offset(a, g, sse, free) <= 1e-6;
    Solution {
        params: p,
        sse,
        iterations,
        converged,
    }
}

/// JᵀJ and Jᵀr at `p` (r = X − X̂, so Jᵀr points downhill).
fn normal_equations(p: &Params, points: &[(f64, f64)]) -> (Mat3, Params) {
    let mut a = [[0.0; 3]; 3];
    let mut g = [0.0; 3];
    for &(n, x) in points {
        let j = model::gradient(p, n);
        let r = x - model::throughput(p, n);
        for row in 0..3 {
            g[row] += j[row] * r;
            for col in 0..3 {
                a[row][col] += j[row] * j[col];
            }
        }
    }
    (a, g)
}

/// The coefficients free to move: not held by a bound that the descent direction pushes
/// against, and with a non-zero column (a zero column does not change the fit).
fn free_coefficients(p: &Params, a: &Mat3, g: &Params) -> Vec<usize> {
    (0..3)
        .filter(|&j| {
            let held = (p[j] <= LOWER[j] && g[j] <= 0.0) || (p[j] >= UPPER[j] && g[j] >= 0.0);
            !held && a[j][j] > 0.0
        })
        .collect()
}

/// The largest |cos| between a free coefficient's column and the residual vector.
fn offset(a: &Mat3, g: &Params, sse: f64, free: &[usize]) -> f64 {
    free.iter()
        .map(|&j| g[j].abs() / (a[j][j] * sse).sqrt())
        .fold(0.0, f64::max)
}

/// The damped Gauss–Newton step for the free coefficients.
fn damped_step(a: &Mat3, g: &Params, free: &[usize], mu: f64) -> Option<[f64; 3]> {
    let k = free.len();
    let mut m = [[0.0; 3]; 3];
    let mut b = [0.0; 3];
    for (r, &i) in free.iter().enumerate() {
        for (c, &j) in free.iter().enumerate() {
            m[r][c] = a[i][j];
        }
        m[r][r] *= 1.0 + mu;
        b[r] = g[i];
    }
    linalg::solve(&m, &b, k)
}

/// Clamps every coefficient into its bounds.
fn project(p: Params) -> Params {
    [0, 1, 2].map(|j| p[j].clamp(LOWER[j], UPPER[j]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(p: &Params, ns: &[f64]) -> Vec<(f64, f64)> {
        ns.iter().map(|&n| (n, model::throughput(p, n))).collect()
    }

    #[test]
    fn recovers_exact_coefficients() {
        let truth = [1000.0, 0.05, 0.0002];
        let pts = points(&truth, &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]);
        let s = solve(&pts, [1000.0, 0.01, 0.0001]);
        assert!(s.converged, "{s:?}");
        for (got, want) in s.params.iter().zip(truth) {
            assert!((got - want).abs() <= 1e-7 * want, "{s:?}");
        }
    }

    #[test]
    fn stops_on_the_lower_bound_of_kappa() {
        // Pure Amdahl data: the unconstrained optimum has κ = 0 exactly; noise that bends
        // the curve upwards would push κ below 0, which the bound forbids.
        let truth = [50.0, 0.1, 0.0];
        let mut pts = points(&truth, &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0]);
        pts[5].1 *= 1.02;
        let s = solve(&pts, [50.0, 0.01, 0.0001]);
        assert!(s.converged, "{s:?}");
        assert_eq!(s.params[2], 0.0, "{s:?}");
    }

    #[test]
    fn snaps_rounding_noise_onto_a_bound() {
        let pts = points(&[100.0, 1.0, 0.0], &[1.0, 2.0, 4.0, 8.0]);
        assert_eq!(
            snap_to_bounds(&pts, [100.0, 1.0 - 2e-15, 4e-17]),
            [100.0, 1.0, 0.0]
        );
        let real = [100.0, 0.02, 1e-6];
        assert_eq!(snap_to_bounds(&pts, real), real);
    }

    #[test]
    fn keeps_start_inside_bounds() {
        assert_eq!(project([-1.0, 2.0, -0.5]), [0.0, 1.0, 0.0]);
    }
}
