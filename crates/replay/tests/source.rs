//! A file through the whole replay: gzip, bad lines, order, spread, loops, a cut input.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use stampede_plan::{ReplayArrival, ReplaySource};
use stampede_replay::{Format, Pace, Replay, ReplayOptions};

fn options(path: &Path) -> ReplayOptions {
    ReplayOptions {
        path: path.to_path_buf(),
        format: Format::Auto,
        pace: Pace::Speed(1.0),
        max_gap: Duration::from_secs(10),
        window: 100,
        repeat: false,
        filters: Vec::new(),
        include_hosts: Vec::new(),
        extra_headers: Vec::new(),
    }
}

fn line(sec: u32, req: &str) -> String {
    format!("1.2.3.4 - - [01/Jan/2024:00:00:{sec:02} +0000] \"{req} HTTP/1.1\" 200 5 \"-\" \"t\" 0.010\n")
}

fn all(r: &Replay) -> Vec<ReplayArrival> {
    std::iter::from_fn(|| r.next_arrival()).collect()
}

#[test]
fn a_gzip_log_out_of_order_replays_in_order_with_bad_lines_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let text = [
        line(1, "GET /b"),
        "garbage\n".into(),
        line(0, "GET /users/1"),
        line(1, "POST /c"),
        "\n".into(),
        line(3, "GET /users/2"),
    ]
    .concat();
    gz.write_all(text.as_bytes()).unwrap();
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    let r = Replay::open(options(&path)).unwrap();
    let got = all(&r);
    let paths: Vec<(&str, f64)> = got
        .iter()
        .map(|a| (a.path.as_str(), a.at.as_secs_f64()))
        .collect();
    assert_eq!(
        paths,
        [
            ("/users/1", 0.0),
            ("/b", 1.0),
            ("/c", 1.5),
            ("/users/2", 3.0)
        ]
    );
    assert_eq!(got[0].route, "GET /users/:id");
    let n = r.notes();
    assert_eq!((n.records, n.malformed, n.bodiless), (4, 1, 1));
    assert_eq!(n.malformed_first[0].0, 2);
    assert_eq!(r.original_times()[1].route, "GET /users/:id");
    assert_eq!(r.original_times()[1].count, 2);
    assert!((r.original_times()[1].p50_ms - 10.0).abs() < 0.01);
}

#[test]
fn a_truncated_gzip_ends_the_replay_and_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.log.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for i in 0..2000 {
        gz.write_all(line(i % 60, &format!("GET /p/{i}")).as_bytes())
            .unwrap();
    }
    let bytes = gz.finish().unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let r = Replay::open(options(&path)).unwrap();
    let got = all(&r);
    let n = r.notes();
    assert!(!got.is_empty() && got.len() < 2000, "{}", got.len());
    let (at, _) = n.read_error.clone().expect("said");
    assert!(at > 0 && at < 2000);
    assert!(
        n.warnings().iter().any(|w| w.contains("ended early")),
        "{:?}",
        n.warnings()
    );
}

#[test]
fn loops_continue_after_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    std::fs::write(&path, [line(0, "GET /a"), line(2, "GET /b")].concat()).unwrap();
    let r = Replay::open(ReplayOptions {
        repeat: true,
        ..options(&path)
    })
    .unwrap();
    let at: Vec<f64> = (0..5)
        .map(|_| r.next_arrival().unwrap().at.as_secs_f64())
        .collect();
    assert_eq!(at, [0.0, 2.0, 4.0, 6.0, 8.0]);
    assert_eq!(r.notes().records, 2, "counted once");
}
