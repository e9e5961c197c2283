//! `stampede kubernetes` prints manifests that a current Kubernetes accepts: each
//! generated file passes `kubernetes-validate --strict` (PyPI `kubernetes-validate`,
//! which `.ci/run` installs) against Kubernetes [`KUBERNETES`], and PyYAML reads back
//! what the run needs: the Indexed Job, the workers' shard and start arguments, the
//! coordinator's outputs and the ConfigMap's files byte for byte. Nothing is applied to
//! a cluster and no image is built.
//!
//! ```sh
//! cargo test -p stampede --test kubernetes
//! ```

#[allow(dead_code)] // the shared helpers of the external suites; this test uses a few
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use serde_json::Value;

/// The Kubernetes version validated against (the newest `kubernetes-validate` knows
/// at the time of writing).
const KUBERNETES: &str = "1.37.0";

/// Reads a YAML stream and prints its documents as one JSON array.
const YAML_TO_JSON: &str = r#"
import json, sys, yaml
with open(sys.argv[1]) as f:
    print(json.dumps([d for d in yaml.safe_load_all(f) if d is not None]))
"#;

/// A Python with `kubernetes_validate` (and so PyYAML, its dependency).
fn python_with_validator() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("STAMPEDE_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.extend(support::find_program(&["python3"]));
    candidates.push(PathBuf::from("/usr/bin/python3"));
    candidates.into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import kubernetes_validate, yaml"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Runs `stampede kubernetes ARGS` in `dir` and returns the YAML it printed.
fn generate(dir: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stampede"));
    cmd.arg("kubernetes").args(args).current_dir(dir);
    let (status, stdout, stderr) = support::run_bounded(&mut cmd, dir, Duration::from_secs(30));
    assert!(
        status.success(),
        "stampede kubernetes {args:?}: {status}\n{stderr}"
    );
    stdout
}

/// Validates `yaml` strictly and returns its documents as JSON.
fn validate(python: &Path, dir: &Path, name: &str, yaml: &str) -> Vec<Value> {
    let file = dir.join(name);
    std::fs::write(&file, yaml).unwrap();
    let mut cmd = Command::new(python);
    cmd.args(["-m", "kubernetes_validate", "--strict", "-k", KUBERNETES])
        .arg(&file);
    let (status, stdout, stderr) = support::run_bounded(&mut cmd, dir, Duration::from_secs(60));
    let report = format!("{stdout}{stderr}");
    assert!(
        status.success() && !report.contains("ERROR"),
        "kubernetes-validate --strict -k {KUBERNETES} {name}: {status}\n{report}\n{yaml}"
    );
    let mut cmd = Command::new(python);
    cmd.args(["-c", YAML_TO_JSON]).arg(&file);
    let (status, stdout, stderr) = support::run_bounded(&mut cmd, dir, Duration::from_secs(30));
    assert!(status.success(), "PyYAML could not read {name}: {stderr}");
    let docs: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        report.matches("passed for resource").count(),
        docs.len(),
        "every document validated\n{report}"
    );
    docs
}

fn kind<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {docs:#?}"))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

/// The value after `flag` in `args`.
fn after<'a>(args: &[&'a str], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| *a == flag)
        .and_then(|i| args.get(i + 1).copied())
}

#[test]
fn generated_manifests_pass_kubernetes_validate_strict() {
    let test = "generated_manifests_pass_kubernetes_validate_strict";
    let Some(python) = support::external_tool(
        test,
        "a Python with the kubernetes-validate package",
        python_with_validator(),
        "pip install kubernetes-validate",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A scenario file in a directory of its own, with a unique feeder in a subdirectory
    // and text that YAML must keep exactly (quotes, colons, a tab, blank lines).
    std::fs::create_dir_all(d.join("plan/data")).unwrap();
    let scenario = "# checkout: \"quoted\": yes\n\nthresholds = [\"p99 < 250ms\"]\n\n\
        [target]\nbase_url = \"http://shop.internal:8080\"\n\n\
        [load]\nmodel = \"open\"\nrate = 400\nduration = \"20s\"\n\n\
        [feeders.users]\nfile = \"data/users.csv\"\nmode = \"unique\"\n\n\
        [[scenarios]]\nname = \"buy\"\n\n  [[scenarios.steps]]\n  url = \"/cart?user={{ users.id }}\"\n";
    let csv = "id,name\n1,\tAda: \"the first\"\n2,no\n";
    std::fs::write(d.join("plan/shop.toml"), scenario).unwrap();
    std::fs::write(d.join("plan/data/users.csv"), csv).unwrap();
    let at =
        humantime::format_rfc3339_millis(SystemTime::now() + Duration::from_secs(300)).to_string();

    let yaml = generate(
        d,
        &[
            "--workers",
            "4",
            "--image",
            "registry.example/stampede:0.1",
            "--name",
            "shop",
            "--namespace",
            "perf",
            "--start-at",
            &at,
            "--worker-cpu",
            "2",
            "--worker-memory",
            "1Gi",
            "--spread",
            "required",
            "--results-pvc",
            "results",
            "plan/shop.toml",
            "-d",
            "30s",
            "--threshold",
            "requests >= 10000",
            "--out",
            "out/all.json",
            "--html",
            "all.html",
            "--prometheus-listen",
            "127.0.0.1:9464",
        ],
    );
    let docs = validate(&python, d, "scenario.yaml", &yaml);
    assert_eq!(docs.len(), 4, "ConfigMap, Service, two Jobs");

    let workers = &kind(&docs, "Job", "shop-workers")["spec"];
    assert_eq!(workers["completionMode"], "Indexed");
    assert_eq!(workers["completions"], 4);
    assert_eq!(workers["parallelism"], 4);
    let pod = &workers["template"]["spec"];
    let args = strings(&pod["containers"][0]["args"]);
    assert_eq!(args[..2], ["run", "/scenario/shop.toml"]);
    assert_eq!(after(&args, "--shard"), Some("auto/4"));
    assert_eq!(after(&args, "--start-at"), Some(at.as_str()));
    assert_eq!(
        after(&args, "--report-to"),
        Some("http://shop-coordinator:7070")
    );
    assert_eq!(after(&args, "-d"), Some("30s"));
    assert!(
        !args.contains(&"--threshold"),
        "the whole is judged by the coordinator"
    );
    assert_eq!(pod["containers"][0]["resources"]["requests"]["cpu"], "2");
    assert_eq!(pod["containers"][0]["resources"]["limits"]["memory"], "1Gi");
    let anti =
        &pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(anti["topologyKey"], "kubernetes.io/hostname");
    assert_eq!(
        anti["labelSelector"]["matchLabels"],
        workers["template"]["metadata"]["labels"]
    );

    // The ConfigMap carries the files byte for byte, where the scenario expects them.
    let cm = kind(&docs, "ConfigMap", "shop-scenario");
    assert_eq!(cm["data"]["shop.toml"], scenario);
    assert_eq!(cm["data"]["data_users.csv"], csv);
    let items = &pod["volumes"][0]["configMap"]["items"];
    assert!(items
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["key"] == "data_users.csv" && i["path"] == "data/users.csv"));

    let coordinator = &kind(&docs, "Job", "shop-coordinator")["spec"]["template"]["spec"];
    let c = strings(&coordinator["containers"][0]["args"]);
    assert_eq!(c[0], "coordinator");
    assert_eq!(after(&c, "--listen"), Some("0.0.0.0:7070"));
    assert_eq!(after(&c, "--workers"), Some("4"));
    assert_eq!(after(&c, "--threshold"), Some("requests >= 10000"));
    assert_eq!(after(&c, "--out"), Some("/results/all.json"));
    assert_eq!(after(&c, "--html"), Some("/results/all.html"));
    assert_eq!(after(&c, "--prometheus-listen"), Some("0.0.0.0:9464"));
    assert_eq!(
        coordinator["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "results"
    );
    let service = kind(&docs, "Service", "shop-coordinator");
    assert_eq!(
        service["spec"]["selector"],
        kind(&docs, "Job", "shop-coordinator")["spec"]["template"]["metadata"]["labels"]
    );
    assert!(docs.iter().all(|d| d["metadata"]["namespace"] == "perf"));

    // A URL run: no scenario, a body file shipped in the ConfigMap instead.
    std::fs::write(d.join("body.json"), "{\"sku\": 42}\n").unwrap();
    let yaml = generate(
        d,
        &[
            "--workers",
            "2",
            "--image",
            "stampede:dev",
            "http://api.internal/orders",
            "-m",
            "POST",
            "--body-file",
            "body.json",
            "-r",
            "2000",
            "-d",
            "1m",
        ],
    );
    let docs = validate(&python, d, "url.yaml", &yaml);
    let cm = kind(&docs, "ConfigMap", "stampede-scenario");
    assert_eq!(cm["data"]["files_body.json"], "{\"sku\": 42}\n");
    let w = &kind(&docs, "Job", "stampede-workers")["spec"]["template"]["spec"];
    let args = strings(&w["containers"][0]["args"]);
    assert_eq!(
        after(&args, "--body-file"),
        Some("/scenario/files/body.json")
    );
    assert_eq!(after(&args, "--shard"), Some("auto/2"));
    assert!(
        w["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            .is_array()
    );
}

/// What cannot work is refused before anything is printed (exit code 2).
#[test]
fn impossible_runs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (args, want) in [
        (
            &["--workers", "3", "--image", "i", "http://x/", "-c", "2"][..],
            "use at most 2 shards",
        ),
        (
            &[
                "--workers",
                "2",
                "--image",
                "i",
                "http://x/",
                "-o",
                "r.json",
            ][..],
            "--results-pvc",
        ),
        (
            &[
                "--workers",
                "2",
                "--image",
                "i",
                "--start-at",
                "2020-01-01T00:00:00Z",
                "http://x/",
            ][..],
            "in the past",
        ),
        (
            &["--workers", "0", "--image", "i", "http://x/"][..],
            "--workers",
        ),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stampede"));
        cmd.arg("kubernetes").args(args);
        let (status, stdout, stderr) =
            support::run_bounded(&mut cmd, dir.path(), Duration::from_secs(30));
        assert_eq!(status.code(), Some(2), "{args:?}\n{stderr}");
        assert!(stdout.is_empty(), "{args:?} printed {stdout}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}
