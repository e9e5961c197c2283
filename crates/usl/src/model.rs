//! The model function X(N) = λN / (1 + σ(N−1) + κN(N−1)) and its partial derivatives.

/// The three coefficients, in the order the solver keeps them: λ, σ, κ.
pub(crate) type Params = [f64; 3];

/// Index of λ (throughput of one unit, no contention) in [`Params`].
pub(crate) const LAMBDA: usize = 0;
/// Index of σ (contention) in [`Params`].
pub(crate) const SIGMA: usize = 1;
/// Index of κ (coherency) in [`Params`].
pub(crate) const KAPPA: usize = 2;

/// Lower bounds of λ, σ, κ (the R package `usl`: `lower = c(0, 0, 0)`).
pub(crate) const LOWER: Params = [0.0, 0.0, 0.0];
/// Upper bounds of λ, σ, κ (`upper = c(Inf, 1, 1)`).
pub(crate) const UPPER: Params = [f64::INFINITY, 1.0, 1.0];

/// The denominator 1 + σ(N−1) + κN(N−1).
fn denominator(p: &Params, n: f64) -> f64 {
    1.0 + p[SIGMA] * (n - 1.0) + p[KAPPA] * n * (n - 1.0)
}

/// X(N) for the coefficients `p`.
pub(crate) fn throughput(p: &Params, n: f64) -> f64 {
    p[LAMBDA] * n / denominator(p, n)
}

/// ∂X/∂λ, ∂X/∂σ, ∂X/∂κ at N (the R package's `gradient.usl`, derived the same way).
pub(crate) fn gradient(p: &Params, n: f64) -> Params {
    let d = denominator(p, n);
    let ln = p[LAMBDA] * n;
    let d2 = d * d;
    [n / d, -ln * (n - 1.0) / d2, -ln * n * (n - 1.0) / d2]
}

/// Sum of squared residuals of `p` over the points.
pub(crate) fn sum_of_squares(p: &Params, points: &[(f64, f64)]) -> f64 {
    points
        .iter()
        .map(|&(n, x)| {
            let r = x - throughput(p, n);
            r * r
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let p = [90.0, 0.0277, 1.04e-4];
        for n in [1.0, 18.0, 216.0] {
            let g = gradient(&p, n);
            for (k, &gk) in g.iter().enumerate() {
                let h = p[k].abs() * 1e-6;
                let (mut up, mut down) = (p, p);
                up[k] += h;
                down[k] -= h;
                let fd = (throughput(&up, n) - throughput(&down, n)) / (2.0 * h);
                assert!(
                    (fd - gk).abs() <= 1e-6 * gk.abs().max(1e-9),
                    "n={n} k={k}: {fd} vs {gk}"
                );
            }
        }
    }

    #[test]
    fn one_unit_gives_lambda() {
        assert_eq!(throughput(&[42.0, 0.3, 0.2], 1.0), 42.0);
        assert_eq!(gradient(&[42.0, 0.3, 0.2], 1.0), [1.0, 0.0, 0.0]);
    }
}
