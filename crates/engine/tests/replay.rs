//! Replays in the engine: each arrival is its own request (method, path, headers, body),
//! sent at its own time, counted in its route's row, with latency from its intended
//! time. The server is a small recorder on 127.0.0.1 that notes what it received and when.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stampede_engine::{run, Control};
use stampede_plan::{GroupBy, Load, ReplayArrival, ReplayFeed, ReplaySource, RunPlan};

/// The tests measure send times: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug)]
struct Feed(Mutex<VecDeque<ReplayArrival>>);

impl ReplaySource for Feed {
    fn next_arrival(&self) -> Option<ReplayArrival> {
        self.0.lock().unwrap().pop_front()
    }
}

/// What the recorder saw: when, the request line, the `X-Tag` header and the body.
type Seen = Arc<Mutex<Vec<(Instant, String, String, Vec<u8>)>>>;

fn recorder() -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let s = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(64) {
            let Ok(conn) = conn else { return };
            let s = s.clone();
            std::thread::spawn(move || {
                conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let mut w = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let at = Instant::now();
                    let (mut len, mut tag) = (0, String::new());
                    loop {
                        let mut h = String::new();
                        r.read_line(&mut h).unwrap();
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        let (name, value) = h.split_once(':').unwrap();
                        match name.to_ascii_lowercase().as_str() {
                            "content-length" => len = value.trim().parse().unwrap(),
                            "x-tag" => tag = value.trim().to_string(),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).unwrap();
                    s.lock()
                        .unwrap()
                        .push((at, line.trim_end().to_string(), tag, body));
                    w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .unwrap();
                }
            });
        }
    });
    (port, seen)
}

fn arrival(ms: u64, method: &str, path: &str, route: &str, body: &str) -> ReplayArrival {
    ReplayArrival {
        at: Duration::from_millis(ms),
        method: method.into(),
        path: path.into(),
        headers: vec![("X-Tag".into(), format!("t{ms}"))],
        body: body.as_bytes().to_vec(),
        route: route.into(),
    }
}

#[test]
fn arrivals_leave_at_their_times_with_their_own_requests() {
    let _serial = serial();
    let (port, seen) = recorder();
    let arrivals = [
        arrival(0, "GET", "/users/1", "GET /users/:id", ""),
        arrival(200, "POST", "/orders?x=1", "POST /orders", "item=7"),
        arrival(300, "GET", "/users/2", "GET /users/:id", ""),
        arrival(700, "PUT", "/users/3", "PUT /users/:id", "name=ada"),
    ];
    let feed = Arc::new(Feed(Mutex::new(arrivals.iter().cloned().collect())));
    let plan = RunPlan::builder(format!("http://127.0.0.1:{port}/base/").as_str())
        .load(Load::Replay {
            feed: ReplayFeed(feed),
            rate: None,
            max_connections: NonZeroUsize::new(8).unwrap(),
        })
        .group_by(Some(GroupBy::Route))
        .threads(2)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    assert_eq!(plan.stop.duration, None, "a replay ends with its file");
    let started = Instant::now();
    let out = run(&plan, Control::new(), |_| {}).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(out.total.requests, 4);
    let rows: Vec<(&str, u64)> = out
        .groups
        .iter()
        .map(|(k, s)| (k.as_str(), s.requests))
        .collect();
    assert_eq!(
        rows,
        [
            ("GET /users/:id", 2),
            ("POST /orders", 1),
            ("PUT /users/:id", 1)
        ]
    );
    let mut seen = seen.lock().unwrap().clone();
    seen.sort_by_key(|s| s.0);
    let lines: Vec<(&str, &str, &[u8])> = seen
        .iter()
        .map(|(_, l, t, b)| (l.as_str(), t.as_str(), b.as_slice()))
        .collect();
    assert_eq!(
        lines,
        [
            ("GET /base/users/1 HTTP/1.1", "t0", &b""[..]),
            ("POST /base/orders?x=1 HTTP/1.1", "t200", b"item=7"),
            ("GET /base/users/2 HTTP/1.1", "t300", b""),
            ("PUT /base/users/3 HTTP/1.1", "t700", b"name=ada"),
        ]
    );
    // The gaps between arrivals are kept (a connect may delay only the first).
    let offsets: Vec<f64> = seen
        .iter()
        .map(|s| (s.0 - seen[0].0).as_secs_f64() * 1000.0)
        .collect();
    for (got, want) in offsets.iter().zip([0.0, 200.0, 300.0, 700.0]) {
        assert!((got - want).abs() < 30.0, "{offsets:?}");
    }
}

/// A feed whose arrivals after the first `at_once` are read only after a while (a slow
/// disk or gunzip, a large reorder window), as `stampede_replay::Replay` says:
/// `poll_next_arrival` is pending until then (and wakes the worker then) while
/// `next_arrival` would block, and `wait_ready` waits for the first.
#[derive(Debug)]
struct Gated {
    arrivals: Mutex<VecDeque<ReplayArrival>>,
    total: usize,
    at_once: usize,
    readable_at: Instant,
    waker: Arc<Mutex<Option<std::task::Waker>>>,
}

impl Gated {
    fn new(arrivals: Vec<ReplayArrival>, at_once: usize, after: Duration) -> Arc<Gated> {
        let waker: Arc<Mutex<Option<std::task::Waker>>> = Arc::default();
        let w = waker.clone();
        std::thread::spawn(move || {
            std::thread::sleep(after);
            if let Some(w) = w.lock().unwrap().take() {
                w.wake();
            }
        });
        Arc::new(Gated {
            total: arrivals.len(),
            arrivals: Mutex::new(arrivals.into()),
            at_once,
            readable_at: Instant::now() + after,
            waker,
        })
    }

    fn readable(&self, left: usize) -> bool {
        self.total - left < self.at_once || Instant::now() >= self.readable_at
    }

    fn wait(&self) -> Duration {
        self.readable_at.saturating_duration_since(Instant::now())
    }
}

impl ReplaySource for Gated {
    fn next_arrival(&self) -> Option<ReplayArrival> {
        if !self.readable(self.arrivals.lock().unwrap().len()) {
            std::thread::sleep(self.wait());
        }
        self.arrivals.lock().unwrap().pop_front()
    }

    fn poll_next_arrival(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<ReplayArrival>> {
        let mut arrivals = self.arrivals.lock().unwrap();
        if self.readable(arrivals.len()) {
            return std::task::Poll::Ready(arrivals.pop_front());
        }
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        std::task::Poll::Pending
    }

    fn wait_ready(&self, limit: Duration) {
        if !self.readable(self.total) {
            std::thread::sleep(limit.min(self.wait()));
        }
    }
}

fn replay_plan(port: u16, feed: Arc<Gated>) -> RunPlan {
    RunPlan::builder(format!("http://127.0.0.1:{port}/").as_str())
        .load(Load::Replay {
            feed: ReplayFeed(feed),
            rate: None,
            max_connections: NonZeroUsize::new(2).unwrap(),
        })
        .threads(1)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

/// While the feed reads its next arrival, the worker goes on sending what it has: the
/// first request leaves at its time, not when the second is read.
#[test]
fn a_slow_feed_does_not_hold_up_the_requests_already_read() {
    let _serial = serial();
    let (port, seen) = recorder();
    let feed = Gated::new(
        vec![
            arrival(0, "GET", "/first", "GET /first", ""),
            arrival(600, "GET", "/second", "GET /second", ""),
        ],
        1,
        Duration::from_millis(400),
    );
    let started = Instant::now();
    let out = run(&replay_plan(port, feed), Control::new(), |_| {}).unwrap();
    assert_eq!(out.total.requests, 2);
    let seen = seen.lock().unwrap().clone();
    let at: Vec<(String, u128)> = seen
        .iter()
        .map(|s| (s.1.clone(), (s.0 - started).as_millis()))
        .collect();
    assert_eq!(at.len(), 2, "{at:?}");
    assert!(at[0].0.starts_with("GET /first") && at[0].1 < 250, "{at:?}");
    assert!(
        at[1].0.starts_with("GET /second") && at[1].1 >= 550,
        "{at:?}"
    );
}

/// The replay's clock starts once its first request is read: reading the start of the
/// file does not make the first sends late.
#[test]
fn the_clock_starts_once_the_first_arrival_is_read() {
    let _serial = serial();
    let (port, _seen) = recorder();
    let feed = Gated::new(
        vec![
            arrival(0, "GET", "/a", "GET /a", ""),
            arrival(100, "GET", "/b", "GET /b", ""),
        ],
        0,
        Duration::from_millis(300),
    );
    let out = run(&replay_plan(port, feed), Control::new(), |_| {}).unwrap();
    assert_eq!(out.total.requests, 2);
    let lag = out.generator.schedule_lag.max_ms();
    assert!(lag < 100.0, "the first send left {lag} ms late");
}
