//! The cells of a matrix (the cartesian product of its axes) and the order they run in.
//!
//! Cells are *displayed* in axis order (the first axis varies slowest, as in a nested
//! loop), but they do not *run* in that order: a machine drifts (caches warm, a
//! neighbour starts a backup, the CPU heats and throttles), and in display order that
//! drift would line up with the first axis and be blamed on it. [`run_order`] picks a
//! fixed permutation instead: among candidate orders (every permutation up to 8 cells,
//! else 4,000 seeded shuffles), the one in which, for every axis, each level's mean run
//! position is closest to the middle of the run. A linear drift then adds about the same
//! to every level of every axis, so it is not attributed to any. The seed is fixed, so
//! the same matrix always runs in the same order (reproducible, and listed in the
//! result as `run_index`).

/// One cell: the index of its value on each axis (in axis order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// `levels[i]` is the index into axis `i`'s values.
    pub levels: Vec<usize>,
}

/// Every cell of the axes (given by their number of values), in display order: the
/// first axis varies slowest.
pub fn expand(sizes: &[usize]) -> Vec<Cell> {
    let mut cells = vec![Cell { levels: Vec::new() }];
    for &n in sizes {
        cells = cells
            .into_iter()
            .flat_map(|c| {
                (0..n).map(move |v| {
                    let mut levels = c.levels.clone();
                    levels.push(v);
                    Cell { levels }
                })
            })
            .collect();
    }
    if sizes.is_empty() {
        cells.clear();
    }
    cells
}

/// Cell counts up to this are ordered by trying every permutation.
const EXHAUSTIVE_UP_TO: usize = 8;
/// Seeded shuffles tried for larger matrices.
const CANDIDATES: usize = 4_000;
/// The fixed seed of those shuffles.
const SEED: u64 = 0x5eed_ca11_ab1e;

/// The order in which to run `cells` (indices into it): balanced against drift, see the
/// module documentation. Deterministic.
pub fn run_order(cells: &[Cell]) -> Vec<usize> {
    let n = cells.len();
    let identity: Vec<usize> = (0..n).collect();
    if n <= 2 {
        return identity;
    }
    let mut best = (imbalance(cells, &identity), identity.clone());
    let mut consider = |order: &[usize]| {
        let score = imbalance(cells, order);
        // Ties keep the earlier candidate (deterministic).
        if score < best.0 - 1e-9 {
            best = (score, order.to_vec());
        }
    };
    if n <= EXHAUSTIVE_UP_TO {
        permutations(&mut identity.clone(), 0, &mut consider);
    } else {
        let mut rng = fastrand::Rng::with_seed(SEED);
        let mut order = identity;
        for _ in 0..CANDIDATES {
            rng.shuffle(&mut order);
            consider(&order);
        }
    }
    best.1
}

/// How far the levels' mean run positions are from the middle, summed over axes and
/// levels (squared, weighted by the level's cell count), plus a small penalty for
/// consecutive cells that share a level (a slow burst of drift between two neighbours
/// then hits both). 0 is perfect.
pub fn imbalance(cells: &[Cell], order: &[usize]) -> f64 {
    let n = order.len();
    let middle = (n as f64 - 1.0) / 2.0;
    let axes = cells.first().map_or(0, |c| c.levels.len());
    let mut score = 0.0;
    for axis in 0..axes {
        let levels = cells
            .iter()
            .map(|c| c.levels[axis])
            .max()
            .map_or(0, |m| m + 1);
        for level in 0..levels {
            let positions: Vec<usize> = order
                .iter()
                .enumerate()
                .filter(|(_, &c)| cells[c].levels[axis] == level)
                .map(|(pos, _)| pos)
                .collect();
            if positions.is_empty() {
                continue;
            }
            let mean = positions.iter().sum::<usize>() as f64 / positions.len() as f64;
            score += positions.len() as f64 * (mean - middle).powi(2);
        }
    }
    let repeats = order
        .windows(2)
        .map(|w| {
            let (a, b) = (&cells[w[0]].levels, &cells[w[1]].levels);
            a.iter().zip(b).filter(|(x, y)| x == y).count()
        })
        .sum::<usize>();
    score + 0.01 * repeats as f64
}

/// Calls `f` with every permutation of `items[k..]` (Heap-free recursive swap).
fn permutations(items: &mut Vec<usize>, k: usize, f: &mut impl FnMut(&[usize])) {
    if k == items.len() {
        f(items);
        return;
    }
    for i in k..items.len() {
        items.swap(k, i);
        permutations(items, k + 1, f);
        items.swap(k, i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_is_the_cartesian_product_in_display_order() {
        let cells = expand(&[2, 3]);
        let levels: Vec<Vec<usize>> = cells.into_iter().map(|c| c.levels).collect();
        assert_eq!(
            levels,
            [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]].map(|l| l.to_vec())
        );
        assert_eq!(expand(&[2, 2, 2]).len(), 8);
        assert_eq!(expand(&[1]).len(), 1);
        assert!(expand(&[]).is_empty());
    }

    #[test]
    fn run_order_is_a_deterministic_permutation() {
        for sizes in [vec![2, 2], vec![3, 3], vec![2, 2, 3], vec![4, 5]] {
            let cells = expand(&sizes);
            let order = run_order(&cells);
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..cells.len()).collect::<Vec<_>>(), "{sizes:?}");
            assert_eq!(order, run_order(&cells), "{sizes:?}: same order every time");
        }
    }

    #[test]
    fn run_order_spreads_every_level_over_the_run() {
        // Display order puts axis 0's first level entirely in the first half: the
        // worst possible alignment with a drift. The chosen order is much better.
        for sizes in [
            vec![2, 2],
            vec![2, 3],
            vec![3, 3],
            vec![2, 2, 2],
            vec![4, 5],
        ] {
            let cells = expand(&sizes);
            let display: Vec<usize> = (0..cells.len()).collect();
            let order = run_order(&cells);
            let (before, after) = (imbalance(&cells, &display), imbalance(&cells, &order));
            assert!(
                after < before / 4.0,
                "{sizes:?}: {before} -> {after} {order:?}"
            );
        }
        // 3 x 3 admits a perfect balance (a Latin-square order): found exhaustively?
        // 9 cells are shuffled, not enumerated; still within a small margin.
        let cells = expand(&[3, 3]);
        assert!(imbalance(&cells, &run_order(&cells)) < 1.0);
    }

    #[test]
    fn in_a_two_by_two_each_axis_changes_level_halfway_at_most_once() {
        let cells = expand(&[2, 2]);
        let order = run_order(&cells);
        // For every axis, the two levels' mean positions differ by at most 1 (0..3).
        for axis in 0..2 {
            let mean = |level: usize| {
                let p: Vec<usize> = order
                    .iter()
                    .enumerate()
                    .filter(|(_, &c)| cells[c].levels[axis] == level)
                    .map(|(i, _)| i)
                    .collect();
                p.iter().sum::<usize>() as f64 / p.len() as f64
            };
            assert!((mean(0) - mean(1)).abs() <= 1.0, "axis {axis}: {order:?}");
        }
    }
}
