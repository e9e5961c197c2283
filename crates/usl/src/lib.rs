//! The Universal Scalability Law (Gunther): fits
//!
//! > X(N) = λN / (1 + σ(N−1) + κN(N−1))
//!
//! to measured points (N = concurrency or node count, X = throughput) by bounded nonlinear
//! least squares on all three coefficients, σ, κ ∈ [0, 1], λ ≥ 0, and says what the curve
//! does: linear, contention-limited (it flattens towards λ/σ) or retrograde (past the peak
//! N\* = sqrt((1−σ)/κ), adding more makes it slower).
//!
//! Conventions follow the R package `usl` (version 2 and later; its `nls`/`port` solver):
//! starting values λ = max(X/N), σ = 0.01, κ = 0.0001; standard errors from the Jacobian at
//! the solution, sqrt(diag((JᵀJ)⁻¹)·s²); the residual standard error s with n−3 degrees of
//! freedom; R² = 1 − SSE/SST as version 2.0.0 printed it (3.0.0 dropped it as not valid for
//! nonlinear regression: read it as a rough measure only). A warning below 6 points, as the
//! package does.
//!
//! The solver is a bounded Levenberg–Marquardt (an active set of coefficients held on their
//! bounds, the other steps projected onto the box). It runs from the package's start and
//! three more (σ, κ = 0.1, 0.01; 0.5, 0; 0, 0) and keeps the converged solution with the
//! smallest sum of squares, so that a poor start cannot leave the fit in a worse valley.
//!
//! Also here: reading the points ([`parse_csv`], [`parse_scale_json`]) and the versioned
//! document `stampede usl --out` writes ([`UslDocument`], schema [`USL_SCHEMA`]).
//!
//! ```
//! let points = [(1.0, 1.0), (2.0, 1.8868), (4.0, 3.0769), (6.0, 3.5294), (8.0, 3.5398), (10.0, 3.3557)];
//! let fit = stampede_usl::fit(&points).unwrap();
//! assert!((fit.sigma - 0.02).abs() < 1e-3 && (fit.kappa - 0.02).abs() < 1e-3);
//! assert!((fit.lambda - 1.0).abs() < 1e-3);
//! assert_eq!(fit.peak_n_floor, Some(7));
//! assert_eq!(fit.shape, stampede_usl::Shape::Retrograde);
//! assert!((fit.predict(2.0) - 1.8868).abs() < 1e-3);
//! ```
#![deny(missing_docs)]

pub mod datasets;
mod doc;
mod fit;
mod input;
mod linalg;
mod model;
mod solver;
mod verdict;

pub use doc::{FittedPoint, UslDocument, USL_SCHEMA, USL_SCHEMA_VERSION};
pub use fit::{fit, FitError, UslFit, FEW_POINTS};
pub use input::{parse_csv, parse_scale_json, InputError};
pub use verdict::{sig, sig_digits, Shape, LINEAR_EFFICIENCY};
