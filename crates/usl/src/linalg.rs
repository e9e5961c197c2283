//! The little linear algebra the fit needs: symmetric systems of at most three unknowns.
//!
//! Matrices are scaled to a unit diagonal first (the columns of the USL Jacobian differ by
//! many orders of magnitude: λ's column is about N, κ's about λN²), then solved by Gaussian
//! elimination with partial pivoting. Index loops read as the textbook does here.
#![allow(clippy::needless_range_loop)]

/// A square matrix of at most 3×3, of which the leading `k`×`k` block is used.
pub(crate) type Mat3 = [[f64; 3]; 3];

/// A pivot smaller than this (on the unit-diagonal scaled matrix) is taken as singular.
const SINGULAR: f64 = 1e-13;

/// Solves `a x = b` for the leading `k`×`k` block; `None` when `a` is singular.
pub(crate) fn solve(a: &Mat3, b: &[f64; 3], k: usize) -> Option<[f64; 3]> {
    let scale = unit_diagonal_scale(a, k)?;
    let mut m = [[0.0; 4]; 3];
    for i in 0..k {
        for j in 0..k {
            m[i][j] = a[i][j] * scale[i] * scale[j];
        }
        m[i][3] = b[i] * scale[i];
    }
    for col in 0..k {
        let pivot = (col..k).max_by(|&x, &y| m[x][col].abs().total_cmp(&m[y][col].abs()))?;
        if m[pivot][col].abs() < SINGULAR || !m[pivot][col].is_finite() {
            return None;
        }
        m.swap(col, pivot);
        for row in 0..k {
            if row != col {
                let f = m[row][col] / m[col][col];
                for c in col..4 {
                    m[row][c] -= f * m[col][c];
                }
            }
        }
    }
    let mut x = [0.0; 3];
    for i in 0..k {
        x[i] = m[i][3] / m[i][i] * scale[i];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// The inverse of a full 3×3 symmetric matrix; `None` when it is singular.
pub(crate) fn inverse(a: &Mat3) -> Option<Mat3> {
    let mut inv = [[0.0; 3]; 3];
    for col in 0..3 {
        let mut e = [0.0; 3];
        e[col] = 1.0;
        let x = solve(a, &e, 3)?;
        for row in 0..3 {
            inv[row][col] = x[row];
        }
    }
    Some(inv)
}

/// 1/sqrt(a_ii) for the leading block; `None` when a diagonal entry is not positive.
fn unit_diagonal_scale(a: &Mat3, k: usize) -> Option<[f64; 3]> {
    let mut s = [1.0; 3];
    for i in 0..k {
        let d = a[i][i];
        if !(d > 0.0 && d.is_finite()) {
            return None;
        }
        s[i] = 1.0 / d.sqrt();
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_badly_scaled_system() {
        let a = [[4.0, 2e3, 1e-3], [2e3, 2e6, 3e-1], [1e-3, 3e-1, 1e-6]];
        let want = [1.0, -2e-3, 5e2];
        let b = [0, 1, 2].map(|i| (0..3).map(|j| a[i][j] * want[j]).sum::<f64>());
        let x = solve(&a, &b, 3).unwrap();
        for i in 0..3 {
            assert!((x[i] - want[i]).abs() <= 1e-9 * want[i].abs(), "{x:?}");
        }
        let inv = inverse(&a).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let p: f64 = (0..3).map(|k| a[i][k] * inv[k][j]).sum();
                assert!(
                    (p - if i == j { 1.0 } else { 0.0 }).abs() < 1e-9,
                    "{i}{j}: {p}"
                );
            }
        }
    }

    #[test]
    fn singular_is_none() {
        let a = [[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, 1.0]];
        assert!(solve(&a, &[1.0, 1.0, 1.0], 3).is_none());
        assert!(inverse(&a).is_none());
        assert!(solve(&[[0.0; 3]; 3], &[1.0; 3], 1).is_none());
        assert_eq!(solve(&a, &[3.0, 0.0, 0.0], 1), Some([3.0, 0.0, 0.0]));
    }
}
