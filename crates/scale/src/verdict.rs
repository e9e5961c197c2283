//! The sweep's verdict: the fit's, checked against what was measured.
//!
//! A closed system with one bottleneck (a lock, a connection pool, a saturated disk) bends
//! more sharply at its knee than the USL's Amdahl term can follow, so the fit borrows a
//! little κ to make the bend, and with steps far past the knee that κ puts a peak N* inside
//! the measured range although throughput never fell. "Retrograde: adding more makes it
//! slower" would then be false, so it is only said when the measurements fall past their
//! highest point by more than [`DECLINE`]; otherwise the sweep is called
//! contention-limited at the level it measured.

use stampede_usl::{sig, Shape, UslFit};

use crate::StepDoc;

/// A fall past the highest measured throughput smaller than this share of it is noise,
/// not retrograde scaling.
pub const DECLINE: f64 = 0.05;

/// The shape and the one-line verdict of `fit` over the included `steps`.
pub(crate) fn verdict(fit: &UslFit, steps: &[&StepDoc]) -> (Shape, String) {
    if fit.shape != Shape::Retrograde {
        return (fit.shape, fit.verdict.clone());
    }
    let Some(best) = steps
        .iter()
        .max_by(|a, b| a.throughput.total_cmp(&b.throughput))
    else {
        return (fit.shape, fit.verdict.clone());
    };
    let fell = steps
        .iter()
        .filter(|s| s.n > best.n)
        .any(|s| s.throughput < (1.0 - DECLINE) * best.throughput);
    if fell {
        return (fit.shape, fit.verdict.clone());
    }
    let from = steps
        .iter()
        .filter(|s| s.throughput >= 0.9 * best.throughput)
        .map(|s| s.n)
        .min()
        .unwrap_or(best.n);
    let peak = fit
        .peak_n
        .map_or_else(String::new, |n| format!(" N*={}", sig(n)));
    (
        Shape::ContentionLimited,
        format!(
            "contention-limited: throughput levels off at {} req/s from N={from}; no fall was \
             measured past the fit's peak{peak} (σ={}, κ={} bend the curve at the knee)",
            sig(best.throughput.round()),
            sig(fit.sigma),
            sig(fit.kappa)
        ),
    )
}
