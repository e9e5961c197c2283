//! Parses arbitrary UTF-8 as a scenario file. Nothing may panic, and an error must point at
//! a line and column inside the text.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use stampede_scenario::parse_str;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Relative files (feeders, body_file, cacert) resolve in a directory that does not exist.
    let path = Path::new("/nonexistent-stampede-fuzz/scenario.toml");
    match parse_str(path, text) {
        Ok(journeys) => {
            assert!(!journeys.scenarios.is_empty());
            assert!(!journeys.targets.is_empty());
        }
        Err(e) => {
            let lines = text.split('\n').count();
            assert!(e.line >= 1 && e.line <= lines, "line {} of {lines}: {e}", e.line);
            let line_len = text.split('\n').nth(e.line - 1).map_or(0, |l| l.chars().count());
            assert!(e.column >= 1 && e.column <= line_len + 1, "{e}");
            assert!(!e.message.is_empty());
        }
    }
});
