//! The fitter against published reference results and against data it must refuse.
//!
//! Reference data and coefficients come from the R package `usl` by Stefan Möding
//! (github.com/smoeding/usl, commit 480c97b, version 3.0.3), whose default solvers fit the same
//! bounded model. The data sets are `data/specsdm91.rda` and `data/raytracer.rda` (decoded
//! from R's serialization; Gunther, *Guerrilla Capacity Planning*, 2007, publishes both);
//! the expected numbers are those the package's own regression tests print
//! (`tests/*.Rout.save`), cited at each test.

use stampede_usl::datasets::{RAYTRACER, SPECSDM91};
use stampede_usl::{fit, FitError, Shape};

/// `got` equals `want` to a relative `tolerance`.
#[track_caller]
fn close(what: &str, got: f64, want: f64, tolerance: f64) {
    let rel = ((got - want) / want).abs();
    assert!(
        rel <= tolerance,
        "{what}: got {got}, want {want} (relative error {rel:e} > {tolerance:e})"
    );
}

/// `text` contains `part`.
#[track_caller]
fn says(text: &str, part: &str) {
    assert!(text.contains(part), "{text:?} does not say {part:?}");
}

/// Half a unit in the last printed digit of `printed`, relative to it, but at least 1e-3:
/// the published figure is only that precise.
fn printed_precision(printed: f64, last_digit: f64) -> f64 {
    (0.5 * last_digit / printed).max(1e-3)
}

#[test]
fn the_issue_synthetic_set_gives_sigma_kappa_002_lambda_1() {
    // Issue 11, also the R package's tests/coef.R and tests/usl-nls.R (alpha = beta = 0.02).
    let n = [1.0, 2.0, 4.0, 6.0, 8.0, 10.0];
    let x = [1.0, 1.8868, 3.0769, 3.5294, 3.5398, 3.3557];
    let points: Vec<_> = n.into_iter().zip(x).collect();
    let f = fit(&points).unwrap();
    assert!((f.sigma - 0.02).abs() <= 1e-3, "{f:?}");
    assert!((f.kappa - 0.02).abs() <= 1e-3, "{f:?}");
    assert!((f.lambda - 1.0).abs() <= 1e-3, "{f:?}");
    // N* = sqrt(0.98 / 0.02) = 7, X(7) = 7 / (1 + 0.12 + 0.84) = 3.5714.
    close("peak_n", f.peak_n.unwrap(), 7.0, 1e-3);
    close(
        "peak_throughput",
        f.peak_throughput.unwrap(),
        7.0 / 1.96,
        1e-3,
    );
    assert_eq!(f.shape, Shape::Retrograde);
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
}

#[test]
fn specsdm91_matches_the_r_package() {
    let f = fit(&SPECSDM91).unwrap();
    // tests/summary.Rout.save: alpha 2.773e-02 (se 9.122e-03), beta 1.044e-04
    // (se 1.988e-05), gamma 9.000e+01 (se 1.421e+01); residual standard error 82.85 on 4
    // degrees of freedom.
    close(
        "sigma",
        f.sigma,
        2.773e-2,
        printed_precision(2.773e-2, 1e-5),
    );
    close(
        "kappa",
        f.kappa,
        1.044e-4,
        printed_precision(1.044e-4, 1e-7),
    );
    close("lambda", f.lambda, 90.00, printed_precision(90.0, 1e-2));
    close("sigma se", f.sigma_std_error.unwrap(), 9.122e-3, 1e-3);
    close(
        "kappa se",
        f.kappa_std_error.unwrap(),
        1.988e-5,
        printed_precision(1.988e-5, 1e-8),
    );
    close("lambda se", f.lambda_std_error.unwrap(), 14.21, 1e-3);
    close(
        "residual standard error",
        f.residual_std_error.unwrap(),
        82.85,
        1e-3,
    );
    assert_eq!(f.degrees_of_freedom, 4);
    // tests/peak-scalability.R: all.equal(peak.scalability(u), 96.51956, 0.0001);
    // tests/optimal-scalability.R: 1 / alpha = 36.06401; tests/limit-scalability.R:
    // gamma / alpha = 3245.589. These pin all three coefficients to 7 digits.
    close("peak_n", f.peak_n.unwrap(), 96.51956, 1e-4);
    close("1/sigma", 1.0 / f.sigma, 36.06401, 1e-4);
    close(
        "limit_throughput",
        f.limit_throughput.unwrap(),
        3245.589,
        1e-4,
    );
    assert_eq!(f.peak_n_floor, Some(96));
    // summary.Rout.save: "peak: throughput 1884 at load 96.52".
    close("peak_throughput", f.peak_throughput.unwrap(), 1884.0, 1e-3);
    // R² as version 2.0.0 printed it (tests/summary.Rout.save before commit c08fd6c):
    // "Multiple R-squared: 0.9896".
    close("r_squared", f.r_squared.unwrap(), 0.9896, 1e-4);
    // tests/fitted.Rout.save: 90 1078 1541 1850 1879 1822 1646.
    for (&(n, _), want) in SPECSDM91
        .iter()
        .zip([90.0, 1078.0, 1541.0, 1850.0, 1879.0, 1822.0, 1646.0])
    {
        close("fitted", f.predict(n), want, printed_precision(want, 1.0));
    }
    assert_eq!(f.shape, Shape::Retrograde);
    assert_eq!(
        f.verdict,
        "retrograde past N*=96.52 (X=1884): adding more makes it slower"
    );
}

#[test]
fn raytracer_first_six_matches_the_r_package() {
    // tests/confint.Rout.save (r <- raytracer[1:6, ]): coef alpha 0.02444, beta 0.00163,
    // gamma 20.85605; confint 95%: alpha 0.00754..0.04135, gamma 19.26717..22.44492, which
    // is coef ± se · qt(0.95, df = 5) in that package, qt = 2.015048.
    let f = fit(&RAYTRACER[..6]).unwrap();
    close("sigma", f.sigma, 0.02444, printed_precision(0.02444, 1e-5));
    close("kappa", f.kappa, 0.00163, printed_precision(0.00163, 1e-5));
    close("lambda", f.lambda, 20.85605, 1e-6);
    let t = 2.015048;
    close(
        "sigma se",
        f.sigma_std_error.unwrap(),
        (0.04135 - 0.00754) / 2.0 / t,
        1e-3,
    );
    close(
        "lambda se",
        f.lambda_std_error.unwrap(),
        (22.44492 - 19.26717) / 2.0 / t,
        1e-5,
    );
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
}

#[test]
fn fewer_than_six_points_warn() {
    // tests/warn-accuracy.Rout.save (raytracer[1:5, ]): the warning "'data' has only a few
    // values; the result might not be accurate", and gamma 21.059 (alpha 0.028, beta 0.001
    // at one significant digit).
    let f = fit(&RAYTRACER[..5]).unwrap();
    close("lambda", f.lambda, 21.059, printed_precision(21.059, 1e-3));
    close("sigma", f.sigma, 0.028, printed_precision(0.028, 1e-3));
    assert_eq!(f.warnings.len(), 1, "{:?}", f.warnings);
    assert!(
        f.warnings[0].starts_with("only 5 points"),
        "{:?}",
        f.warnings
    );
}

#[test]
fn raytracer_has_no_coherency_so_no_peak() {
    // vignettes/usl.Rnw ("With beta = 0 the model indicates no coherency penalty for the
    // system ... the predicted throughput never reaches a maximum"), the full data set.
    let f = fit(&RAYTRACER).unwrap();
    assert_eq!(f.kappa, 0.0, "{f:?}");
    assert_eq!(
        (f.peak_n, f.peak_n_floor, f.peak_throughput),
        (None, None, None)
    );
    let limit = f.limit_throughput.unwrap();
    close("limit", limit, f.lambda / f.sigma, 1e-12);
    assert_eq!(f.shape, Shape::ContentionLimited);
    says(
        &f.verdict,
        "contention-limited: σ=0.05777, at most λ/σ=378.2 (κ=0: no peak)",
    );
    says(&f.peak_text(), "no peak: throughput approaches λ/σ=");
    // the standard error of κ still comes from the Jacobian at the bound, as in R
    assert!(f.kappa_std_error.unwrap() > 0.0);
}

#[test]
fn pure_amdahl_data_fit_kappa_zero() {
    // X = 500 N / (1 + 0.08 (N − 1)), Amdahl's law, with ±1% of alternating noise.
    let points: Vec<_> = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            (
                n,
                500.0 * n / (1.0 + 0.08 * (n - 1.0)) * if i % 2 == 0 { 1.01 } else { 0.99 },
            )
        })
        .collect();
    let f = fit(&points).unwrap();
    assert_eq!(f.kappa, 0.0, "{f:?}");
    close("sigma", f.sigma, 0.08, 0.05);
    assert_eq!(f.peak_n, None);
    close("limit", f.limit_throughput.unwrap(), 500.0 / 0.08, 0.05);
    assert_eq!(f.shape, Shape::ContentionLimited);
}

#[test]
fn linear_data_are_linear() {
    let points: Vec<_> = (1..=8).map(|n| (n as f64, 250.0 * n as f64)).collect();
    let f = fit(&points).unwrap();
    close("lambda", f.lambda, 250.0, 1e-9);
    assert!(f.sigma < 1e-9 && f.kappa < 1e-9, "{f:?}");
    assert_eq!(f.shape, Shape::Linear);
    says(
        &f.verdict,
        "linear up to N=8: the fit keeps 100% of λ·N there",
    );
}

#[test]
fn refuses_what_it_cannot_fit() {
    let good = [(1.0, 10.0), (2.0, 19.0), (4.0, 33.0), (8.0, 50.0)];
    let with = |i: usize, p: (f64, f64)| {
        let mut v = good.to_vec();
        v[i] = p;
        fit(&v).unwrap_err()
    };
    assert!(matches!(
        with(2, (4.0, f64::NAN)),
        FitError::NotFinite { index: 2, .. }
    ));
    assert!(matches!(
        with(1, (f64::INFINITY, 3.0)),
        FitError::NotFinite { index: 1, .. }
    ));
    assert!(matches!(
        with(0, (0.0, 3.0)),
        FitError::NonPositiveN { index: 0, .. }
    ));
    assert!(matches!(
        with(3, (-8.0, 3.0)),
        FitError::NonPositiveN { index: 3, .. }
    ));
    assert!(matches!(
        with(3, (8.0, -1.0)),
        FitError::NegativeThroughput { index: 3, .. }
    ));
    assert_eq!(fit(&[]).unwrap_err(), FitError::TooFewPoints { points: 0 });
    assert_eq!(
        fit(&[(1.0, 5.0)]).unwrap_err(),
        FitError::TooFewPoints { points: 1 }
    );
    let two_n = [(1.0, 5.0), (2.0, 9.0), (2.0, 9.5), (1.0, 5.1)];
    assert_eq!(
        fit(&two_n).unwrap_err(),
        FitError::TooFewDistinctN { distinct: 2 }
    );
    let zeros = [(1.0, 0.0), (2.0, 0.0), (3.0, 0.0)];
    assert_eq!(fit(&zeros).unwrap_err(), FitError::ZeroThroughput);
    assert_eq!(
        with(2, (4.0, f64::NAN)).to_string(),
        "point 3: N=4, X=NaN: not a finite number"
    );
}

#[test]
fn flat_and_falling_data_fit_with_a_warning_or_a_peak() {
    // every X equal: σ = 1 (nothing grows), said in a warning; R² undefined
    let flat = [
        (1.0, 100.0),
        (2.0, 100.0),
        (4.0, 100.0),
        (8.0, 100.0),
        (16.0, 100.0),
        (32.0, 100.0),
    ];
    let f = fit(&flat).unwrap();
    close("lambda", f.lambda, 100.0, 1e-9);
    assert_eq!(f.sigma, 1.0, "{f:?}");
    assert_eq!(f.r_squared, None);
    assert!(
        f.warnings
            .iter()
            .any(|w| w.starts_with("σ reached its upper bound 1")),
        "{:?}",
        f.warnings
    );
    // throughput falling from the start: retrograde before N = 2
    let falling = [
        (1.0, 100.0),
        (2.0, 80.0),
        (4.0, 60.0),
        (8.0, 40.0),
        (16.0, 25.0),
        (32.0, 15.0),
    ];
    let f = fit(&falling).unwrap();
    assert_eq!(f.shape, Shape::Retrograde, "{f:?}");
    assert!(f.peak_n.unwrap() < 2.0, "{f:?}");
}

#[test]
fn three_points_fit_without_standard_errors() {
    let f = fit(&[(1.0, 10.0), (2.0, 18.0), (4.0, 28.0)]).unwrap();
    assert_eq!(f.degrees_of_freedom, 0);
    assert_eq!((f.residual_std_error, f.sigma_std_error), (None, None));
    assert_eq!(f.warnings.len(), 2, "{:?}", f.warnings);
    close("fit through the points", f.predict(4.0), 28.0, 1e-6);
}

#[test]
fn serializes_and_reads_back() {
    let f = fit(&SPECSDM91).unwrap();
    let json = serde_json::to_value(&f).unwrap();
    assert_eq!(json["shape"], "retrograde");
    assert!(json["sigma"].is_f64() && json["peak_n"].is_f64());
    let back: stampede_usl::UslFit = serde_json::from_value(json).unwrap();
    assert_eq!(back, f);
    let none = serde_json::to_value(fit(&RAYTRACER).unwrap()).unwrap();
    assert!(none["peak_n"].is_null() && none["peak_throughput"].is_null());
}

/// xorshift64*: a reproducible stream of numbers in [0, 1) without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn random_usl_curves_with_noise_always_fit_within_bounds() {
    let mut rng = Rng(0x5eed);
    let mut refused = 0;
    for case in 0..3_000 {
        let truth = [
            10f64.powf(rng.next() * 12.0 - 4.0),
            rng.next() * 0.3,
            10f64.powf(-rng.next() * 7.0),
        ];
        let count = 3 + (rng.next() * 10.0) as usize;
        let noise = rng.next() * 0.2;
        let points: Vec<_> = (0..count)
            .map(|i| {
                let n = (1.0 + i as f64 * (1.0 + rng.next() * 30.0)).round();
                let x = truth[0] * n / (1.0 + truth[1] * (n - 1.0) + truth[2] * n * (n - 1.0));
                (n, x * (1.0 + noise * (rng.next() - 0.5)))
            })
            .collect();
        check_fit(case, &points, &mut refused);
    }
    assert_eq!(refused, 0, "fits refused on USL-shaped data");
}

#[test]
fn random_shapeless_data_never_panic() {
    let mut rng = Rng(0xbad_da7a);
    let mut refused = 0;
    for case in 0..3_000 {
        let count = 3 + (rng.next() * 8.0) as usize;
        let scale = 10f64.powf(rng.next() * 16.0 - 6.0);
        let points: Vec<_> = (0..count)
            .map(|_| ((1.0 + rng.next() * 64.0).round(), scale * rng.next()))
            .collect();
        check_fit(case, &points, &mut refused);
    }
    eprintln!("{refused} of 3000 shapeless data sets refused");
}

/// A fit of `points` is within bounds and finite, or a clear refusal (counted).
fn check_fit(case: usize, points: &[(f64, f64)], refused: &mut usize) {
    {
        match fit(points) {
            Ok(f) => {
                assert!(
                    (0.0..=1.0).contains(&f.sigma) && (0.0..=1.0).contains(&f.kappa),
                    "{case}: {f:?}"
                );
                assert!(f.lambda >= 0.0 && f.lambda.is_finite(), "{case}: {f:?}");
                let optional = [
                    f.lambda_std_error,
                    f.sigma_std_error,
                    f.kappa_std_error,
                    f.residual_std_error,
                    f.r_squared,
                    f.peak_n,
                    f.peak_throughput,
                    f.limit_throughput,
                ];
                assert!(
                    optional.iter().flatten().all(|v| v.is_finite()),
                    "{case}: {f:?}"
                );
            }
            Err(FitError::TooFewDistinctN { .. }) => {}
            Err(e) => {
                *refused += 1;
                eprintln!("case {case}: {e}: {points:?}");
            }
        }
    }
}
