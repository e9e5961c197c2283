//! `stampede scale` end to end (issue 11 part 2): a sweep of the built-in target with a
//! coherency knob prints the table and a retrograde verdict, writes a JSON document that
//! validates against the committed schema (each step's result against the result schema),
//! and an HTML page that headless Chromium renders with its chart drawn; bad flags exit 2
//! naming the flag.

mod report_support;

use std::net::SocketAddr;
use std::time::Duration;

use report_support::{
    assert_no_external_reference, browser_dom, read_json, run_bounded, stampede, svgs,
};
use stampede_testserver::{TargetConfig, TargetHandle};

/// The scale schema with its `$defs.result` and `$defs.fit` replaced by the real result
/// schema and the fit of the USL document's schema.
fn scale_validator() -> jsonschema::Validator {
    let mut schema: serde_json::Value =
        serde_json::from_str(stampede_scale::SCALE_SCHEMA).expect("scale schema is JSON");
    let mut result: serde_json::Value =
        serde_json::from_str(stampede_result::RESULT_SCHEMA).expect("result schema is JSON");
    let mut usl: serde_json::Value =
        serde_json::from_str(stampede_usl::USL_SCHEMA).expect("usl schema is JSON");
    // A nested schema keeps its own `$defs` reachable under its new place.
    rebase_refs(&mut result, "#/$defs/result");
    rebase_refs(&mut usl, "#/$defs/usl");
    schema["$defs"]["result"] = result;
    schema["$defs"]["usl"] = usl;
    schema["$defs"]["fit"] = serde_json::json!({"$ref": "#/$defs/usl/$defs/fit"});
    jsonschema::validator_for(&schema).expect("schema compiles")
}

/// Rewrites the local `$ref`s (`#/...`) of a schema moved to `at`.
fn rebase_refs(v: &mut serde_json::Value, at: &str) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, x) in map.iter_mut() {
                match x {
                    serde_json::Value::String(s) if k == "$ref" && s.starts_with("#/") => {
                        *s = format!("{at}/{}", &s[2..]);
                    }
                    _ => rebase_refs(x, at),
                }
            }
            map.remove("$schema");
            map.remove("$id");
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|x| rebase_refs(x, at)),
        _ => {}
    }
}

#[test]
fn scale_sweeps_fits_and_writes_json_and_html() {
    let mut config = TargetConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    config.coherency_delay = Duration::from_micros(250);
    let target = TargetHandle::start(config).unwrap();
    let url = format!("http://{}/?delay=50ms", target.addrs()[0]);
    let dir = tempfile::tempdir().unwrap();
    let (json, html) = (dir.path().join("scale.json"), dir.path().join("scale.html"));
    let o = run_bounded(
        stampede()
            .args(["scale", &url, "--concurrency", "1,2,4,8,16,32"])
            .args(["-d", "2s", "--warmup", "1s", "--out"])
            .arg(&json)
            .arg("--html")
            .arg(&html),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("verdict: retrograde past N*="), "{stdout}");
    assert!(
        stdout.contains("throughput/s") && stdout.contains("residual"),
        "{stdout}"
    );
    assert!(stderr.contains("stampede: N=32:"), "{stderr}");

    let doc = read_json(&json);
    let errors: Vec<String> = scale_validator()
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The substituted schemas do check the nested documents.
    for (path, bad) in [
        (
            "/steps/0/result/summary/requests",
            serde_json::json!("many"),
        ),
        ("/fit/kappa", serde_json::json!("small")),
        ("/steps/0/n", serde_json::json!(0)),
    ] {
        let mut broken = doc.clone();
        *broken.pointer_mut(path).unwrap() = bad;
        assert!(!scale_validator().is_valid(&broken), "{path} not checked");
    }
    let steps = doc["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 6);
    for s in steps {
        // The names `stampede usl` reads.
        assert!(s["n"].as_u64().is_some() && s["throughput"].as_f64().is_some());
        assert_eq!(s["result"]["summary"]["elapsed_s"], 2.0);
    }
    let fit = &doc["fit"];
    let kappa = fit["kappa"].as_f64().unwrap();
    assert!((kappa - 0.005).abs() < 0.3 * 0.005, "{fit}");
    assert!(fit["peak_n"].as_f64().is_some(), "{fit}");
    // `stampede usl` reads the sweep and fits the same points to the same coefficients.
    let refit = dir.path().join("usl.json");
    let o = run_bounded(
        stampede().arg("usl").arg(&json).arg("--out").arg(&refit),
        Duration::from_secs(10),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let refit = read_json(&refit);
    for k in ["sigma", "kappa", "lambda"] {
        let (a, b) = (fit[k].as_f64().unwrap(), refit["fit"][k].as_f64().unwrap());
        assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0), "{k}: {a} vs {b}");
    }

    // The page, in a real browser: the chart with the measured points, the fitted curve,
    // the linear ideal and N*.
    let text = std::fs::read_to_string(&html).unwrap();
    assert_no_external_reference(&text, &format!("GET {url}"));
    let Some(dom) = browser_dom(&html, "scale_page") else {
        return;
    };
    assert!(!dom.contains("Chart not drawn"), "{dom}");
    let at = dom.find("data-chart=\"scale\"").expect("the scale chart");
    let svg = svgs(&dom[at..])[0];
    for label in ["measured", "USL fit", "linear ideal", "N*="] {
        assert!(svg.contains(label), "legend {label} missing");
    }
    let longest = svg
        .match_indices("<polyline")
        .map(|(i, _)| svg[i..].find('>').unwrap())
        .max()
        .unwrap_or(0);
    assert!(longest > 500, "the fitted curve is not drawn");
    assert!(dom.contains("retrograde past N*="), "{dom}");
}

#[test]
fn bad_scale_flags_exit_2_naming_the_flag() {
    for (args, names) in [
        (
            vec!["scale", "http://127.0.0.1:9/", "--concurrency", "4,2"],
            "'2'",
        ),
        (
            vec!["scale", "http://127.0.0.1:9/", "--concurrency", "0"],
            "'0'",
        ),
        (vec!["scale", "http://127.0.0.1:9/"], "--concurrency"),
        (
            vec![
                "scale",
                "http://127.0.0.1:9/",
                "--concurrency",
                "1",
                "-d",
                "0s",
            ],
            "--duration",
        ),
        (
            vec!["scale", "ftp://127.0.0.1/", "--concurrency", "1,2,3"],
            "ftp",
        ),
    ] {
        let o = run_bounded(stampede().args(&args), Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(names), "{args:?}: {stderr}");
    }
}
