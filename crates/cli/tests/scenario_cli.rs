//! `stampede check` and `stampede init`, driven through the binary.

use std::process::Command;

fn stampede(args: &[&str], dir: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn init_writes_an_example_that_checks_ok() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = stampede(&["init"], dir.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("wrote stampede.toml"), "{out}");
    let text = std::fs::read_to_string(dir.path().join("stampede.toml")).unwrap();
    assert_eq!(text, stampede_scenario::EXAMPLE);

    let (code, out, err) = stampede(&["check", "stampede.toml"], dir.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "stampede.toml: ok (2 scenarios, 12 steps)\n");
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mine.toml"), "keep me").unwrap();
    let (code, _, err) = stampede(&["init", "mine.toml"], dir.path());
    assert_eq!(code, 2);
    assert!(
        err.contains("mine.toml already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("mine.toml")).unwrap(),
        "keep me"
    );
    let (code, _, err) = stampede(&["init", "mine.toml", "--force"], dir.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("mine.toml")).unwrap(),
        // The example, its comments naming the file written.
        stampede_scenario::EXAMPLE.replace("stampede.toml", "mine.toml")
    );
}

#[test]
fn check_reports_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[target]\nbase_url = \"http://127.0.0.1:8080\"\n[[scenarios]]\nname = \"s\"\n  [[scenarios.steps]]\n  url = \"/\"\n  bdy = \"x\"\n",
    )
    .unwrap();
    let (code, out, err) = stampede(&["check", "bad.toml"], dir.path());
    assert_eq!(code, 2);
    assert_eq!(out, "");
    assert!(
        err.starts_with("bad.toml:7:3: unknown field `bdy`, expected one of"),
        "{err}"
    );
    let (code, _, err) = stampede(&["check", "missing.toml"], dir.path());
    assert_eq!(code, 2);
    assert!(
        err.starts_with("missing.toml:1:1: cannot read the file"),
        "{err}"
    );
}
