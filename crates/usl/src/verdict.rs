//! The shape of a fitted curve and the one-line verdict in words.

use serde::{Deserialize, Serialize};

/// Below this share of the linear ideal λN at the largest measured N, the fit is not called
/// linear.
pub const LINEAR_EFFICIENCY: f64 = 0.9;

/// What the fitted curve does over the measured range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// The fit keeps at least [`LINEAR_EFFICIENCY`] of λN at the largest measured N.
    Linear,
    /// Throughput grows ever more slowly (σ or κ), without passing a peak where measured.
    ContentionLimited,
    /// The model's peak N* lies within the measured range: past it, more is slower.
    Retrograde,
}

/// What the verdict needs to know about a fit.
pub(crate) struct Facts {
    pub(crate) lambda: f64,
    pub(crate) sigma: f64,
    pub(crate) kappa: f64,
    /// The largest N measured.
    pub(crate) max_n: f64,
    /// Fitted X at `max_n` over λ·`max_n`.
    pub(crate) efficiency_at_max: f64,
    /// N* and X(N*), when κ > 0.
    pub(crate) peak: Option<(f64, f64)>,
}

/// The shape and the sentence that says it.
pub(crate) fn verdict(f: &Facts) -> (Shape, String) {
    let limit = if f.sigma > 0.0 {
        format!("λ/σ={}", sig(f.lambda / f.sigma))
    } else {
        String::new()
    };
    let beyond = |(n, x): (f64, f64)| {
        format!(
            "the model peaks at N*={} (X={}) beyond the measured N={}",
            sig(n),
            sig(x),
            sig(f.max_n)
        )
    };
    if f.efficiency_at_max >= LINEAR_EFFICIENCY {
        let tail = match f.peak {
            Some(peak) => beyond(peak),
            None if f.sigma > 0.0 => format!("no peak: throughput approaches {limit}"),
            None => "no contention or coherency measured (σ=κ=0)".to_string(),
        };
        let pct = (f.efficiency_at_max * 100.0).floor();
        let text = format!(
            "linear up to N={}: the fit keeps {pct}% of λ·N there; {tail}",
            sig(f.max_n)
        );
        return (Shape::Linear, text);
    }
    match f.peak {
        Some((n, _)) if n < 1.0 => (
            Shape::Retrograde,
            format!(
                "retrograde from N=1 on: throughput falls as N grows (N*={} < 1)",
                sig(n)
            ),
        ),
        Some((n, x)) if n <= f.max_n => (
            Shape::Retrograde,
            format!(
                "retrograde past N*={} (X={}): adding more makes it slower",
                sig(n),
                sig(x)
            ),
        ),
        peak => {
            let head = if f.sigma > 0.0 {
                format!("contention-limited: σ={}, at most {limit}", sig(f.sigma))
            } else {
                format!("coherency-limited: κ={} (σ=0)", sig(f.kappa))
            };
            let text = match peak {
                Some(peak) => format!("{head}; {}", beyond(peak)),
                // κ = 0 with σ = 0 is linear, handled above
                None => format!("{head} (κ=0: no peak)"),
            };
            (Shape::ContentionLimited, text)
        }
    }
}

/// `x` with four significant digits, without an exponent between 1e-4 and 1e15, trailing
/// zeros trimmed.
pub fn sig(x: f64) -> String {
    sig_digits(x, 4)
}

/// `x` with `digits` significant digits (at least 1), as [`sig`] writes it.
pub fn sig_digits(x: f64, digits: u32) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let magnitude = x.abs().log10().floor() as i32;
    let digits = digits.max(1) as i32;
    if !(-4..15).contains(&magnitude) {
        let decimals = (digits - 1) as usize;
        return format!("{x:.decimals$e}");
    }
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significant_digits() {
        assert_eq!(sig(0.02), "0.02");
        assert_eq!(sig(0.027728), "0.02773");
        assert_eq!(sig(96.51956), "96.52");
        assert_eq!(sig(3245.589), "3246");
        assert_eq!(sig(123456.7), "123457");
        assert_eq!(sig(1.044e-4), "0.0001044");
        assert_eq!(sig(1.044e-5), "1.044e-5");
        assert_eq!(sig(0.0), "0");
        assert_eq!(sig_digits(1652.4, 5), "1652.4");
        assert_eq!(sig_digits(-25.0952, 5), "-25.095");
        assert_eq!(sig_digits(1.98752e-5, 5), "1.9875e-5");
    }

    fn facts(sigma: f64, kappa: f64, efficiency_at_max: f64, peak: Option<(f64, f64)>) -> Facts {
        Facts {
            lambda: 90.0,
            sigma,
            kappa,
            max_n: 216.0,
            efficiency_at_max,
            peak,
        }
    }

    #[test]
    fn three_shapes_in_words() {
        let (shape, text) = verdict(&facts(0.0, 0.0, 1.0, None));
        assert_eq!(shape, Shape::Linear);
        assert_eq!(text, "linear up to N=216: the fit keeps 100% of λ·N there; no contention or coherency measured (σ=κ=0)");

        let (shape, text) = verdict(&facts(0.03, 0.0, 0.2, None));
        assert_eq!(shape, Shape::ContentionLimited);
        assert_eq!(
            text,
            "contention-limited: σ=0.03, at most λ/σ=3000 (κ=0: no peak)"
        );

        let (shape, text) = verdict(&facts(0.0277, 1.04e-4, 0.1, Some((96.5, 1884.0))));
        assert_eq!(shape, Shape::Retrograde);
        assert_eq!(
            text,
            "retrograde past N*=96.5 (X=1884): adding more makes it slower"
        );

        let (shape, text) = verdict(&facts(1.0, 0.5, 0.01, Some((0.0, 90.0))));
        assert_eq!(shape, Shape::Retrograde);
        assert_eq!(
            text,
            "retrograde from N=1 on: throughput falls as N grows (N*=0 < 1)"
        );

        let (shape, text) = verdict(&facts(0.0277, 1e-6, 0.2, Some((986.0, 2900.0))));
        assert_eq!(shape, Shape::ContentionLimited);
        assert!(
            text.ends_with("the model peaks at N*=986 (X=2900) beyond the measured N=216"),
            "{text}"
        );
    }
}
