//! `stampede usl`: the binary on a CSV and on a `stampede scale` document, its JSON against
//! the committed schema, bad input (exit 2 naming file:line:column), and the HTML page
//! rendered by headless Chromium (needs /usr/bin/chromium, as tests/html.rs).

mod report_support;

use std::path::Path;
use std::time::Duration;

use report_support::{
    assert_no_external_reference, browser_dom, read_json, run_bounded, stampede, svgs,
};

/// SPEC SDM91 (R package usl, data/specsdm91.rda), as a user would write it.
const SPECSDM91_CSV: &str = "# SPEC SDM91, Sun SPARCcenter 2000 (Gunther, GCaP 2007)\n\
    load,throughput\n1,64.9\n18,995.9\n36,1652.4\n72,1853.2\n108,1828.9\n144,1775.0\n216,1702.2\n";

fn usl(args: &[&Path]) -> std::process::Output {
    run_bounded(stampede().arg("usl").args(args), Duration::from_secs(30))
}

#[test]
fn fits_a_csv_and_writes_json_that_fits_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, json) = (
        dir.path().join("specsdm91.csv"),
        dir.path().join("usl.json"),
    );
    std::fs::write(&csv, SPECSDM91_CSV).unwrap();
    let o = usl(&[&csv, Path::new("--out"), &json]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for needle in [
        "7 points",
        "residual standard error 82.85 on 4 degrees of freedom, R² 0.9896",
        "peak: N*=96.52 (⌊N*⌋=96), X(N*)=1884",
        "verdict: retrograde past N*=96.52 (X=1884): adding more makes it slower",
    ] {
        assert!(stdout.contains(needle), "{needle:?} not in\n{stdout}");
    }
    let doc = read_json(&json);
    let schema: serde_json::Value = serde_json::from_str(stampede_usl::USL_SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let fit = &doc["fit"];
    // the R package's tests: 1/alpha = 36.06401, peak 96.51956, gamma/alpha = 3245.589
    let close =
        |v: &serde_json::Value, want: f64| (v.as_f64().unwrap() - want).abs() <= 1e-4 * want;
    assert!(close(&fit["peak_n"], 96.51956), "{fit}");
    assert!(close(&fit["limit_throughput"], 3245.589), "{fit}");
    assert!(
        (1.0 / fit["sigma"].as_f64().unwrap() - 36.06401).abs() < 36.06401e-4,
        "{fit}"
    );
    assert_eq!(fit["shape"], "retrograde");
    assert_eq!(doc["points"].as_array().unwrap().len(), 7);
    assert_eq!(doc["source"], csv.display().to_string());
}

#[test]
fn reads_the_steps_of_a_scale_document() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, scale) = (dir.path().join("d.csv"), dir.path().join("scale.json"));
    std::fs::write(&csv, SPECSDM91_CSV).unwrap();
    let steps: Vec<serde_json::Value> = SPECSDM91_CSV
        .lines()
        .filter_map(|l| l.split_once(',')?.0.parse::<f64>().ok().map(|n| (n, l)))
        .map(|(n, l)| {
            let x: f64 = l.split_once(',').unwrap().1.parse().unwrap();
            serde_json::json!({"n": n, "throughput": x, "p99_ms": 12.5, "errors": 0})
        })
        .collect();
    let doc = serde_json::json!({"schema_version": 1, "steps": steps, "fit": null});
    std::fs::write(&scale, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    let (a, b) = (usl(&[&csv]), usl(&[&scale]));
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    // the same points give the same fit; only the source line differs
    let body = |o: &std::process::Output| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .skip(1)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(body(&a), body(&b));
}

#[test]
fn bad_input_exits_2_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "cell.csv",
            "N,X\n1,10\n2, 19\n4,abc\n",
            ":4:3: X = \"abc\": not a number",
        ),
        (
            "negative.csv",
            "1,10\n2,-19\n",
            ":2:3: X = -19: throughput cannot be negative",
        ),
        (
            "zero.csv",
            "0,10\n",
            ":1:1: N = 0: N (concurrency or node count) must be greater than 0",
        ),
        (
            "fields.csv",
            "1,10,3\n",
            ":1:6: expected 2 fields `N,X`, found 3",
        ),
        (
            "steps.json",
            "{\"steps\": [\n  {\"n\": 1}\n]}",
            ":2:10: missing field `throughput`",
        ),
        (
            "one.csv",
            "1,10\n",
            ": cannot fit the USL: 1 point(s): the USL has 3 coefficients",
        ),
        (
            "two-n.csv",
            "1,10\n2,19\n1,11\n2,18\n",
            ": cannot fit the USL: only 2 different N value(s)",
        ),
        (
            "zeros.csv",
            "1,0\n2,0\n4,0\n",
            ": cannot fit the USL: every throughput is 0",
        ),
    ];
    for (name, text, message) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let o = usl(&[&path]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {stderr}");
        let want = format!("error: {}{message}", path.display());
        assert!(
            stderr.starts_with(&want),
            "{name}: {stderr:?} does not start with {want:?}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let o = usl(&[&dir.path().join("missing.csv")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read"));
    let good = dir.path().join("good.csv");
    std::fs::write(&good, SPECSDM91_CSV).unwrap();
    let o = usl(&[
        &good,
        Path::new("--out"),
        Path::new("/nonexistent/dir/usl.json"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--out /nonexistent/dir/usl.json"));
}

#[test]
fn html_page_renders_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, html) = (
        dir.path().join("specsdm91.csv"),
        dir.path().join("usl.html"),
    );
    std::fs::write(&csv, SPECSDM91_CSV).unwrap();
    let o = usl(&[&csv, Path::new("--html"), &html]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&html).unwrap();
    assert_no_external_reference(&text, "");
    let Some(dom) = browser_dom(&html, "usl_html") else {
        return;
    };
    assert!(!dom.contains("Chart not drawn"), "{dom}");
    let at = dom.find("data-chart=\"usl\"").expect("the USL chart");
    let svg = svgs(&dom[at..])[0];
    // the fitted curve is a polyline of 201 points; the measured points are markers
    let longest = svg
        .match_indices("<polyline")
        .map(|(i, _)| svg[i..].find('>').unwrap())
        .max()
        .unwrap_or(0);
    assert!(longest > 1000, "no fitted curve drawn");
    assert!(
        svg.matches("<circle").count() >= 7,
        "measured points not drawn"
    );
    for label in ["measured", "fitted X(N)", "linear ideal λN", "N*=96.52"] {
        assert!(svg.contains(label), "legend {label:?} missing");
    }
    for text in [
        "Verdict: retrograde past N*=96.52",
        "Coefficients",
        "0.02773",
        "Points",
    ] {
        assert!(dom.contains(text), "{text:?} missing");
    }
}
