//! Published measurements with published fits, for tests and examples: the data sets the R
//! package `usl` ships (github.com/smoeding/usl, `data/*.rda`, decoded from R's
//! serialization), both from Gunther, *Guerrilla Capacity Planning*, Springer 2007.
//! Each is `(N, X)`.

/// SPEC SDM91 on a 16-CPU Sun SPARCcenter 2000 (October 1994): simulated users, script
/// executions per hour. The package fits σ = 0.02773, κ = 0.0001044, λ = 90.00, a peak at
/// N\* = 96.52 (its `tests/summary.Rout.save`, `tests/peak-scalability.R`).
pub const SPECSDM91: [(f64, f64); 7] = [
    (1.0, 64.9),
    (18.0, 995.9),
    (36.0, 1652.4),
    (72.0, 1853.2),
    (108.0, 1828.9),
    (144.0, 1775.0),
    (216.0, 1702.2),
];

/// A ray tracer (BRL-CAD) on an SGI Origin 2000 with 64 R12000 processors: processors,
/// ray-geometry intersections per second. The package's vignette finds κ = 0 (no peak) on
/// all 11 points; its `tests/confint.Rout.save` fits the first 6.
pub const RAYTRACER: [(f64, f64); 11] = [
    (1.0, 20.0),
    (4.0, 78.0),
    (8.0, 130.0),
    (12.0, 170.0),
    (16.0, 190.0),
    (20.0, 200.0),
    (24.0, 210.0),
    (28.0, 230.0),
    (32.0, 260.0),
    (48.0, 280.0),
    (64.0, 310.0),
];
