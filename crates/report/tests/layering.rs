//! The renderers never depend on the engine, not even through another crate: reports
//! are drawn from the result document and plain measurements only.

use std::collections::BTreeSet;
use std::path::Path;

/// The `stampede-*` crates in the `[dependencies]` section of a crate's manifest.
fn stampede_dependencies(crate_dir: &Path) -> Vec<String> {
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    let mut section = "";
    let mut deps = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == "[dependencies]" && line.starts_with("stampede-") {
            let name = line.split(['.', ' ', '=']).next().unwrap();
            deps.push(name.to_string());
        }
    }
    deps
}

#[test]
fn report_does_not_depend_on_the_engine() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut seen = BTreeSet::new();
    let mut todo = vec!["stampede-report".to_string()];
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let dir = crates.join(name.trim_start_matches("stampede-"));
        assert!(
            dir.is_dir(),
            "no crate directory {} for {name}",
            dir.display()
        );
        todo.extend(stampede_dependencies(&dir));
    }
    assert!(seen.contains("stampede-result"), "{seen:?}");
    assert!(
        !seen.contains("stampede-engine"),
        "report reaches the engine: {seen:?}"
    );
}
