//! A cheap, deterministic stand-in for the fuzzer (fuzz/fuzz_targets/scenario.rs) that runs
//! with `cargo test`: every prefix of the examples, and random edits of them, parse or fail
//! with a position inside the text, and never panic.

use std::path::Path;

use stampede_scenario::{parse_str, EXAMPLE};

fn check(text: &str) {
    if let Err(e) = parse_str(Path::new("/nonexistent-stampede/s.toml"), text) {
        let lines = text.split('\n').count();
        assert!(e.line >= 1 && e.line <= lines, "{e}\n---\n{text}");
        let len = text
            .split('\n')
            .nth(e.line - 1)
            .map_or(0, |l| l.chars().count());
        assert!(e.column >= 1 && e.column <= len + 1, "{e}\n---\n{text}");
        assert!(!e.message.is_empty());
    }
}

#[test]
fn every_prefix_of_the_example() {
    for (i, _) in EXAMPLE.char_indices() {
        check(&EXAMPLE[..i]);
    }
}

#[test]
fn random_edits_of_the_example() {
    let pieces = [
        "{{",
        "}}",
        "\"",
        "'''",
        "\\",
        "[",
        "]",
        "=",
        "\n",
        "é",
        "{{ x }}",
        "{{ uuid( }}",
        "0",
        "-1",
        "1e999",
        "\"0s\"",
        "[[scenarios.steps]]\n",
        "ws_close = true\n",
    ];
    let mut rng = fastrand::Rng::with_seed(4);
    for _ in 0..3000 {
        let mut text = EXAMPLE.to_string();
        for _ in 0..rng.usize(1..4) {
            let mut at = rng.usize(0..=text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            if rng.bool() {
                text.insert_str(at, pieces[rng.usize(0..pieces.len())]);
            } else {
                let mut end = (at + rng.usize(1..20)).min(text.len());
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                text.replace_range(at..end, "");
            }
        }
        check(&text);
    }
}
