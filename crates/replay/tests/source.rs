//! A file through the whole replay: gzip, bad lines, order, spread, loops, a cut input.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use stampede_plan::{ReplayArrival, ReplaySource};
use stampede_replay::{Format, Pace, Replay, ReplayOptions, READ_AHEAD};

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
        routes: true,
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

/// Without `--group-by route` a route is folded only for a record with a recorded
/// response time (the JSON's `replay.routes` keeps those times per route); a log
/// without times folds none.
#[test]
fn routes_are_folded_only_where_used() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [line(0, "GET /users/1"), line(1, "GET /users/2")].concat();
    let timed = dir.path().join("timed.log");
    std::fs::write(&timed, &lines).unwrap();
    let untimed = dir.path().join("untimed.log");
    std::fs::write(&untimed, lines.replace(" 0.010\n", "\n")).unwrap();
    let without = |path: &Path| {
        Replay::open(ReplayOptions {
            routes: false,
            ..options(path)
        })
        .unwrap()
    };

    let r = without(&timed);
    let got = all(&r);
    let paths: Vec<&str> = got.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(paths, ["/users/1", "/users/2"]);
    let times = r.original_times();
    assert_eq!(times.len(), 1, "{times:?}");
    assert_eq!(
        (times[0].route.as_str(), times[0].count),
        ("GET /users/:id", 2)
    );

    let r = without(&untimed);
    let got = all(&r);
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|a| a.route.is_empty()), "nothing folded");
    assert!(r.original_times().is_empty());
    assert_eq!(r.notes().records, 2);
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

#[test]
fn a_failed_reopen_on_loop_ends_the_replay_and_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gone.log");
    // More records than are read ahead: the reader cannot reach the end of the first
    // pass (and try to open the file again) before they are taken.
    let records = READ_AHEAD + 200;
    let text: String = (0..records)
        .map(|i| line((i / 100 % 60) as u32, &format!("GET /p/{i}")))
        .collect();
    std::fs::write(&path, text).unwrap();
    let r = Replay::open(ReplayOptions {
        repeat: true,
        ..options(&path)
    })
    .unwrap();
    // The first pass reads the file opened above; the second cannot open it again.
    std::fs::remove_file(&path).unwrap();
    for _ in 0..records - 1 {
        r.next_arrival().unwrap();
    }
    // The reader has tried by now, but nothing ran out yet: not said.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        r.notes().reopen_error,
        None,
        "said before it ended anything"
    );
    assert!(r.next_arrival().is_some());
    assert_eq!(
        r.next_arrival(),
        None,
        "the replay ends with the failed reopen"
    );
    let n = r.notes();
    assert_eq!(n.records, records as u64);
    let (passes, why) = n.reopen_error.clone().expect("recorded");
    assert_eq!(passes, 1);
    assert!(why.contains("No such file"), "{why}");
    let said: Vec<String> = n.warnings();
    assert!(
        said.iter().any(|w| w
            .starts_with("--loop: the file could not be opened again after 1 pass: cannot read")
            && w.ends_with("; the replay ended there")),
        "{said:?}"
    );
}

/// The reader sleeps while the read-ahead is full and refills it as it is taken: takers
/// on two threads, one polling as the engine does and one waiting, get every arrival
/// exactly once through many refills. (How often the reader wakes is the benchmark's
/// business: bench/replay.sh.)
#[test]
fn a_full_read_ahead_refills_as_it_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    let records = 3 * READ_AHEAD + 37;
    let text: String = (0..records)
        .map(|i| line(0, &format!("GET /p/{i}")))
        .collect();
    std::fs::write(&path, text).unwrap();
    let r = std::sync::Arc::new(
        Replay::open(ReplayOptions {
            pace: Pace::Rate(1e6),
            ..options(&path)
        })
        .unwrap(),
    );
    r.wait_ready(Duration::from_secs(5));
    // Let the reader fill the read-ahead and go to sleep before anything is taken.
    std::thread::sleep(Duration::from_millis(100));
    let polling = {
        let r = r.clone();
        std::thread::spawn(move || {
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            let mut got = Vec::new();
            loop {
                match r.poll_next_arrival(&mut cx) {
                    std::task::Poll::Ready(Some(a)) => got.push(a.path),
                    std::task::Poll::Ready(None) => return got,
                    std::task::Poll::Pending => std::thread::yield_now(),
                }
            }
        })
    };
    let mut got: Vec<String> = std::iter::from_fn(|| r.next_arrival())
        .map(|a| a.path)
        .collect();
    got.extend(polling.join().unwrap());
    let n = got.len();
    got.sort();
    got.dedup();
    assert_eq!((n, got.len()), (records, records), "every arrival once");
}

#[test]
fn records_count_what_was_taken_not_what_was_read_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.log");
    let text: String = (0..300)
        .map(|i| line(i % 60, &format!("GET /p/{i}")))
        .collect();
    std::fs::write(&path, text).unwrap();
    let r = Replay::open(options(&path)).unwrap();
    for _ in 0..10 {
        r.next_arrival().unwrap();
    }
    // Let the reader run ahead (it reads the whole file into its channel).
    std::thread::sleep(Duration::from_millis(100));
    let n = r.notes();
    assert_eq!(n.records, 10);
    let timed: u64 = r.original_times().iter().map(|o| o.count).sum();
    assert_eq!(timed, 10, "recorded times of the requests taken only");
    assert_eq!(all(&r).len(), 290);
    assert_eq!(r.notes().records, 300);
}

/// A waker that counts its wakes.
struct Count(std::sync::atomic::AtomicUsize);

impl std::task::Wake for Count {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A read that stalls (a FIFO whose writer pauses, as a slow disk or network share
/// would) leaves the engine's ask pending, not blocked; the asker is woken once the
/// reader has more.
#[test]
fn a_stalled_read_never_blocks_the_one_asking_for_an_arrival() {
    use std::sync::{mpsc, Arc};
    use std::task::{Context, Poll, Waker};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&path).status();
    assert!(made.unwrap().success());
    let (go_on, resume) = mpsc::channel::<()>();
    let writer = {
        let path = path.clone();
        std::thread::spawn(move || {
            let mut w = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            // Three seconds of the log: the first is then complete and released; the
            // third comes a moment later.
            for s in 0..3 {
                w.write_all(line(s, &format!("GET /s{s}")).as_bytes())
                    .unwrap();
                w.flush().unwrap();
                if s == 1 {
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            let _ = resume.recv_timeout(Duration::from_secs(10));
            w.write_all(line(3, "GET /s3").as_bytes()).unwrap();
        })
    };
    let r = Arc::new(
        Replay::open(ReplayOptions {
            window: 1,
            ..options(&path)
        })
        .unwrap(),
    );
    let count = Arc::new(Count(0.into()));
    let waker = Waker::from(count.clone());
    // Polls on another thread, so that a poll that blocks fails the test, not hangs it.
    let poll = |r: &Arc<Replay>| {
        let (r, waker, (tx, rx)) = (r.clone(), waker.clone(), mpsc::channel());
        std::thread::spawn(move || {
            let got = r.poll_next_arrival(&mut Context::from_waker(&waker));
            let _ = tx.send(got.map(|a| a.map(|a| a.path)));
        });
        rx.recv_timeout(Duration::from_secs(2))
            .expect("a poll returns at once")
    };
    // Ready once the first arrival is read (the writer has sent its first seconds).
    r.wait_ready(Duration::from_secs(5));
    let first = match poll(&r) {
        Poll::Ready(a) => a,
        Poll::Pending => panic!("not read when said ready"),
    };
    assert_eq!(first.as_deref(), Some("/s0"));
    // The reader now waits for the writer: asking again does not wait with it.
    let woken = count.0.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(poll(&r), Poll::Pending);
    go_on.send(()).unwrap();
    writer.join().unwrap();
    let started = std::time::Instant::now();
    while count.0.load(std::sync::atomic::Ordering::SeqCst) == woken {
        assert!(started.elapsed() < Duration::from_secs(5), "never woken");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(poll(&r), Poll::Ready(Some("/s1".to_string())));
    let rest: Vec<String> = std::iter::from_fn(|| r.next_arrival())
        .map(|a| a.path)
        .collect();
    assert_eq!(rest, ["/s2", "/s3"]);
    assert_eq!(r.notes().records, 4);
}
