//! The readers never panic, whatever the bytes.

use proptest::prelude::*;
use stampede_plan::ReplaySource;
use stampede_replay::access::{parse_line, LogFlavor};
use stampede_replay::{Format, Pace, Replay, ReplayOptions};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn access_lines(line in ".{0,200}") {
        let _ = parse_line(&line, LogFlavor::Nginx);
        let _ = parse_line(&line, LogFlavor::Apache);
    }

    #[test]
    fn log_like_lines(
        ip in "[0-9.:a-f]{1,20}",
        time in "[0-9A-Za-z/: +-]{0,30}",
        req in "[A-Z]{0,6} ?/?[ -~]{0,30}",
        tail in "[ -~]{0,40}",
    ) {
        let line = format!("{ip} - - [{time}] \"{req}\" {tail}");
        let _ = parse_line(&line, LogFlavor::Nginx);
    }

    #[test]
    fn whole_files(bytes in proptest::collection::vec(any::<u8>(), 0..2000), har in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, &bytes).unwrap();
        let opened = Replay::open(ReplayOptions {
            path,
            format: if har { Format::Har } else { Format::Auto },
            pace: Pace::Speed(1.0),
            max_gap: std::time::Duration::from_secs(10),
            window: 16,
            repeat: false,
            filters: Vec::new(),
            include_hosts: Vec::new(),
            extra_headers: Vec::new(),
            routes: true,
        });
        if let Ok(r) = opened {
            let mut n = 0;
            while r.next_arrival().is_some() {
                n += 1;
                prop_assert!(n < 10_000);
            }
            let _ = r.notes().warnings();
        }
    }
}
