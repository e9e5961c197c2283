//! `stampede compare`: a planted regression (the same target with `?delay=20ms`) fails
//! with exit 1; the same result twice passes with exit 0; bad input is exit 2.

mod report_support;

use std::path::Path;
use std::time::Duration;

use report_support::{run_bounded, stampede, target};

/// A short closed-model run of `url`, saved to `out`.
fn saved_run(url: &str, out: &Path) {
    let o = run_bounded(
        stampede()
            .args(["run", url, "-c", "2", "-n", "200", "-q", "-o"])
            .arg(out),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn compare(a: &Path, b: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let o = run_bounded(
        stampede().arg("compare").arg(a).arg(b).args(extra),
        Duration::from_secs(10),
    );
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn a_slower_target_is_flagged_and_equal_runs_pass() {
    let t = target(1);
    let dir = tempfile::tempdir().unwrap();
    let (fast, slow) = (dir.path().join("fast.json"), dir.path().join("slow.json"));
    let base = format!("http://{}/", t.addrs()[0]);
    saved_run(&base, &fast);
    saved_run(&format!("{base}?delay=20ms"), &slow);

    let (code, out, err) = compare(&fast, &slow, &[]);
    assert_eq!(code, Some(1), "{out}{err}");
    let p50 = out
        .lines()
        .find(|l| l.starts_with("latency p50 ms"))
        .expect("a p50 row");
    assert!(p50.ends_with("REGRESSION"), "{out}");
    let verdict = out.lines().last().unwrap();
    assert!(verdict.starts_with("REGRESSION beyond 10%:"), "{out}");
    assert!(verdict.contains("latency p50 ms"), "{out}");
    for row in [
        "requests",
        "error rate %",
        "achieved rate/s",
        "latency p99.9 ms",
        "service p99 ms",
    ] {
        assert!(out.lines().any(|l| l.starts_with(row)), "{row}: {out}");
    }

    // The same result against itself: no change, exit 0.
    let (code, out, _) = compare(&slow, &slow, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("OK: no regression beyond 10%"),
        "{out}"
    );

    // A threshold wider than the change lets it pass.
    let (code, out, _) = compare(&fast, &slow, &["--threshold", "1000000%"]);
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn bad_input_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "not json").unwrap();
    for file in [&missing, &garbage] {
        let (code, _, err) = compare(file, file, &[]);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains(&file.display().to_string()), "{err}");
    }
    let (code, _, err) = compare(&missing, &missing, &["--threshold", "ten"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("percentage"), "{err}");
}

/// Issue 12 item 9: a candidate that got no response at all (every connect refused) showed
/// latency -100% (its empty histograms read as 0 ms). Its latency rows are n/a, and the
/// comparison fails on the error rate, with a note saying why latency is not compared.
#[test]
fn a_run_without_responses_shows_latency_as_na() {
    let t = target(1);
    let dir = tempfile::tempdir().unwrap();
    let (good, dead) = (dir.path().join("good.json"), dir.path().join("dead.json"));
    saved_run(&format!("http://{}/", t.addrs()[0]), &good);
    // A port nothing listens on: every connect is refused.
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let o = run_bounded(
        stampede()
            .args(["run", &format!("http://{refused}/"), "-c", "1", "-d", "1s"])
            .args(["-q", "-o"])
            .arg(&dead),
        Duration::from_secs(30),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let (code, out, err) = compare(&good, &dead, &[]);
    assert_eq!(code, Some(1), "{out}{err}");
    for line in out
        .lines()
        .filter(|l| l.starts_with("latency") || l.starts_with("service"))
    {
        assert!(line.contains("n/a"), "{line}\n{out}");
        assert!(
            !line.contains("REGRESSION") && !line.contains('%'),
            "{line}"
        );
    }
    assert!(out.contains("got no response"), "{out}");
    let verdict = out.lines().last().unwrap();
    assert!(verdict.contains("error rate"), "{out}");
    assert!(!verdict.contains("latency"), "{out}");
}
