//! Integration tests: a real target on 127.0.0.1 driven by a tiny raw HTTP/1.1 client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use stampede_testserver::{FaultProfile, TargetConfig, TargetError, TargetHandle};

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn served_by(&self) -> &str {
        self.header("x-served-by").expect("X-Served-By header")
    }
}

/// One keep-alive connection.
struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            reader: BufReader::new(stream),
        }
    }

    fn request(&mut self, method: &str, path: &str, body: &[u8]) -> std::io::Result<Resp> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let stream = self.reader.get_mut();
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        self.read_response()
    }

    fn get(&mut self, path: &str) -> Resp {
        self.request("GET", path, b"").expect("GET")
    }

    fn read_response(&mut self) -> std::io::Result<Resp> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').expect("header line");
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
        };
        let len: usize = resp
            .header("content-length")
            .expect("Content-Length header")
            .parse()
            .unwrap();
        resp.body = vec![0; len];
        self.reader.read_exact(&mut resp.body)?;
        Ok(resp)
    }
}

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn start(config: TargetConfig) -> TargetHandle {
    TargetHandle::start(config).expect("start target")
}

fn start_default() -> TargetHandle {
    start(TargetConfig::new(local()))
}

#[test]
fn instances_are_named_and_counted() {
    let mut config = TargetConfig::new(local());
    config.instances = 3;
    let target = start(config);
    assert_eq!(target.names(), ["target-1", "target-2", "target-3"]);
    assert_eq!(target.addrs().len(), 3);
    for (addr, name) in target.addrs().iter().zip(target.names()) {
        assert_eq!(addr.ip().to_string(), "127.0.0.1");
        assert_ne!(addr.port(), 0);
        let resp = Client::connect(*addr).get("/");
        assert_eq!(resp.status, 200);
        assert_eq!(resp.served_by(), name);
        assert_eq!(resp.body, b"ok\n");
    }
    assert_eq!(target.requests_served(), 3);
}

#[test]
fn custom_prefix_and_multi_thread_runtime() {
    let mut config = TargetConfig::new(local());
    config.instances = 2;
    config.name_prefix = "api".into();
    config.threads = 2;
    let target = start(config);
    let resp = Client::connect(target.addrs()[1]).get("/x?cpu=2ms");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.served_by(), "api-2");
}

#[test]
fn consecutive_ports() {
    // The probed port (or the next) may be taken meanwhile; retry a few times.
    for _ in 0..10 {
        let port = TcpListener::bind(local())
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if port == u16::MAX {
            continue;
        }
        let mut config = TargetConfig::new(SocketAddr::new([127, 0, 0, 1].into(), port));
        config.instances = 2;
        match TargetHandle::start(config) {
            Ok(target) => {
                let ports: Vec<u16> = target.addrs().iter().map(|a| a.port()).collect();
                assert_eq!(ports, [port, port + 1]);
                let resp = Client::connect(target.addrs()[1]).get("/");
                assert_eq!(resp.served_by(), "target-2");
                return;
            }
            Err(TargetError::Bind { .. }) => continue,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("no two consecutive free ports found");
}

#[test]
fn bind_error_names_the_address() {
    let taken = TcpListener::bind(local()).unwrap();
    let addr = taken.local_addr().unwrap();
    let err = TargetHandle::start(TargetConfig::new(addr)).unwrap_err();
    assert!(matches!(err, TargetError::Bind { addr: a, .. } if a == addr));
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[test]
fn size_knob_sets_exact_length() {
    let target = start_default();
    let mut c = Client::connect(target.addrs()[0]);
    for (knob, len) in [
        ("0", 0),
        ("17", 17),
        ("1k", 1024),
        ("70k", 70 * 1024),
        ("1m", 1 << 20),
    ] {
        let resp = c.get(&format!("/?size={knob}"));
        assert_eq!(resp.status, 200);
        assert_eq!(
            resp.header("content-length"),
            Some(len.to_string().as_str())
        );
        assert_eq!(resp.body.len(), len);
    }
}

#[test]
fn status_knob_always() {
    let target = start_default();
    let mut c = Client::connect(target.addrs()[0]);
    for _ in 0..5 {
        let resp = c.get("/missing?status=404");
        assert_eq!(resp.status, 404);
        assert_eq!(resp.served_by(), "target-1");
    }
    // The size knob still applies to error statuses.
    let resp = c.get("/?status=500&size=10");
    assert_eq!((resp.status, resp.body.len()), (500, 10));
}

#[test]
fn status_mix_is_roughly_honoured() {
    let target = start_default();
    let mut c = Client::connect(target.addrs()[0]);
    let mut errors = 0;
    for _ in 0..400 {
        match c.get("/?status=503:0.5").status {
            503 => errors += 1,
            200 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    // Binomial(400, 0.5): mean 200, sd 10; the band is six sd wide on each side.
    assert!((140..=260).contains(&errors), "{errors} of 400 were 503");
}

#[test]
fn delay_knob_delays() {
    let target = start_default();
    let mut c = Client::connect(target.addrs()[0]);
    let t = Instant::now();
    let resp = c.get("/?delay=60ms");
    assert_eq!(resp.status, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(60),
        "{:?}",
        t.elapsed()
    );

    let t = Instant::now();
    c.get("/?delay=10ms&jitter=20ms");
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(10), "{took:?}");
}

#[test]
fn profile_delay_adds_to_knob_delay() {
    let mut config = TargetConfig::new(local());
    config.default_profile = FaultProfile::default()
        .parse_overrides("delay=40ms")
        .unwrap();
    let target = start(config);
    let mut c = Client::connect(target.addrs()[0]);
    let t = Instant::now();
    c.get("/?delay=40ms");
    assert!(
        t.elapsed() >= Duration::from_millis(80),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn error_rate_profile_per_instance() {
    let mut config = TargetConfig::new(local());
    config.instances = 3;
    config.instance_profiles.insert(
        2,
        FaultProfile {
            error_rate: 1.0,
            ..FaultProfile::default()
        },
    );
    config.instance_profiles.insert(
        3,
        FaultProfile::default()
            .parse_overrides("error-rate=1,error-status=500")
            .unwrap(),
    );
    let target = start(config);
    let statuses: Vec<u16> = target
        .addrs()
        .iter()
        .map(|a| Client::connect(*a).get("/").status)
        .collect();
    assert_eq!(statuses, [200, 503, 500]);
    // The instance error wins over the query status mix.
    let resp = Client::connect(target.addrs()[1]).get("/?status=404");
    assert_eq!(resp.status, 503);
    assert_eq!(resp.served_by(), "target-2");
}

#[test]
fn stall_window_holds_responses() {
    let _alone = QUIET
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Windows are [300ms, 500ms), [600ms, 800ms), ... after start.
    let mut config = TargetConfig::new(local());
    config.default_profile = FaultProfile::default()
        .parse_overrides("stall=200ms,stall-every=300ms")
        .unwrap();
    let t0 = Instant::now();
    let target = start(config);
    let started = t0.elapsed();
    let mut c = Client::connect(target.addrs()[0]);

    // Before the first window: answered at once.
    let t = Instant::now();
    assert_eq!(c.get("/").status, 200);
    assert!(
        t.elapsed() < Duration::from_millis(250),
        "{:?}",
        t.elapsed()
    );

    // Inside the first window: held until it ends (at >= t0 + 500ms).
    std::thread::sleep(Duration::from_millis(350).saturating_sub(t0.elapsed()));
    let sent = Instant::now();
    assert_eq!(c.get("/").status, 200);
    let held = sent.elapsed();
    assert!(
        t0.elapsed() >= Duration::from_millis(500),
        "answered at {:?} (start took {started:?})",
        t0.elapsed()
    );
    assert!(held >= Duration::from_millis(100), "held only {held:?}");
}

#[test]
fn echo_returns_the_body() {
    let target = start_default();
    let mut c = Client::connect(target.addrs()[0]);
    let resp = c.request("POST", "/echo", b"hello, target").unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"hello, target");

    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let resp = c.request("PUT", "/echo?delay=1ms", &big).unwrap();
    assert_eq!(resp.body, big);

    let resp = c.request("POST", "/echo", b"").unwrap();
    assert_eq!(resp.header("content-length"), Some("0"));
    assert_eq!(target.body_bytes_received(), 13 + 200_000);
}

#[test]
fn bodies_of_other_paths_are_discarded() {
    let target = start_default();
    let mut c = Client::connect(target.addrs()[0]);
    let resp = c.request("POST", "/upload", &[b'x'; 5000]).unwrap();
    assert_eq!(resp.body, b"ok\n");
    assert_eq!(target.body_bytes_received(), 5000);
}

#[test]
fn bad_knob_is_400_with_reason() {
    let target = start_default();
    let mut c = Client::connect(target.addrs()[0]);
    for (query, key) in [
        ("delay=soon", "delay"),
        ("size=1g", "size"),
        ("status=503:2", "status"),
        ("cpu=10s", "cpu"),
    ] {
        let resp = c.get(&format!("/?{query}&unknown=1"));
        assert_eq!(resp.status, 400, "{query}");
        let text = String::from_utf8(resp.body).unwrap();
        assert!(text.contains(key), "{query}: {text}");
        assert_eq!(
            resp.headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("x-served-by"))
                .count(),
            1
        );
    }
    // The connection stays usable after a 400.
    assert_eq!(c.get("/?unknown=zzz").status, 200);
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let target = start_default();
    let mut c = Client::connect(target.addrs()[0]);
    for i in 0..20 {
        let resp = if i % 2 == 0 {
            c.get("/")
        } else {
            c.request("POST", "/submit?size=100", b"payload").unwrap()
        };
        assert_eq!(resp.status, 200);
        assert_ne!(resp.header("connection"), Some("close"));
    }
    assert_eq!(target.requests_served(), 20);
}

#[test]
fn shutdown_is_prompt_with_requests_in_flight() {
    let target = start_default();
    let addr = target.addrs()[0];
    let mut c = Client::connect(addr);
    let waiting = std::thread::spawn(move || c.request("GET", "/?delay=30s", b""));
    // Let the request reach the server before stopping it.
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    target.shutdown();
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert!(
        waiting.join().unwrap().is_err(),
        "in-flight request was dropped"
    );
    assert!(TcpStream::connect(addr).is_err(), "listener is closed");
}

#[test]
fn drop_stops_the_server() {
    let target = start_default();
    let addr = target.addrs()[0];
    drop(target);
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn invalid_config_is_rejected() {
    let mut config = TargetConfig::new(local());
    config.default_profile.stall = Some(Duration::from_secs(1));
    assert!(matches!(
        TargetHandle::start(config),
        Err(TargetError::InvalidValue { .. })
    ));
    let mut config = TargetConfig::new(local());
    config.instances = 0;
    assert!(matches!(
        TargetHandle::start(config),
        Err(TargetError::InvalidConfig(_))
    ));
}

#[test]
fn usable_from_inside_an_async_context() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let target = start_default();
        let addr = target.addrs()[0];
        let resp = tokio::task::spawn_blocking(move || Client::connect(addr).get("/"))
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
        // A failed start must not panic here either.
        let taken = TargetHandle::start(TargetConfig::new(addr));
        assert!(taken.is_err());
        drop(target);
    });
}

/// Held by the tests that load the machine (a 400 ms CPU burn, 500 connects) and by those
/// that measure time, so that they do not run at the same time (tests in one binary run in
/// parallel).
static QUIET: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The first quartile of `samples`: what a request gets unless the (shared, busy) test
/// machine preempted a thread at the wrong moment.
fn first_quartile(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 4]
}

/// Issue 12 item 7: `delay=` knobs used to overshoot by 1-1.3 ms (tokio's millisecond
/// timer; this test measured 0.94-0.97 ms before the fix). The round trip with a delay,
/// minus the delay, minus the round trip without one, is what a client sees of the
/// server's timer. The timer itself wakes within 100 µs (`clock`'s unit test); end to end,
/// the server thread that parked meanwhile must also be scheduled again, which on a shared
/// 2-core machine under load took 110-200 µs and once, in CI, 405 µs; the bound here is
/// 600 µs, still well below the old 940 µs (first quartiles of 16, so that preemptions do
/// not count; the old overshoot was there every time).
#[test]
fn delay_knob_overshoots_by_far_less_than_a_millisecond() {
    let _alone = QUIET
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let target = start_default();
    let mut c = Client::connect(target.addrs()[0]);
    let rtt = |c: &mut Client, path: &str| {
        first_quartile(
            (0..16)
                .map(|_| {
                    let t = Instant::now();
                    assert_eq!(c.get(path).status, 200);
                    t.elapsed()
                })
                .collect(),
        )
    };
    rtt(&mut c, "/"); // warm up
    let base = rtt(&mut c, "/");
    for (knob, delay) in [("250us", 250), ("1ms", 1_000), ("10ms", 10_000)] {
        let delay = Duration::from_micros(delay);
        let took = rtt(&mut c, &format!("/?delay={knob}"));
        assert!(took >= delay, "delay={knob}: {took:?}");
        let over = took.saturating_sub(delay + base);
        assert!(
            over < Duration::from_micros(600),
            "delay={knob}: round trip {took:?} (without delay {base:?}): {over:?} too long"
        );
    }
}

/// Opens `n` connections to `addr` at once and returns each one's connect time.
fn connect_burst(addr: SocketAddr, n: usize) -> Vec<Duration> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                tokio::spawn(async move {
                    let t = Instant::now();
                    let stream = tokio::time::timeout(
                        Duration::from_secs(5),
                        tokio::net::TcpStream::connect(addr),
                    )
                    .await
                    .expect("connect within 5 s")
                    .expect("connect");
                    (t.elapsed(), stream)
                })
            })
            .collect();
        let mut times = Vec::with_capacity(n);
        let mut streams = Vec::with_capacity(n);
        for task in tasks {
            let (took, stream) = task.await.unwrap();
            times.push(took);
            streams.push(stream);
        }
        times
    })
}

/// 500 clients connecting while the (one-thread) server is busy for 400 ms: every SYN
/// the full accept queue drops costs the client a 1 s retransmit.
fn burst_while_busy(backlog: u32) -> Vec<Duration> {
    let _alone = QUIET
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut config = TargetConfig::new(local());
    config.backlog = backlog;
    let target = start(config);
    let addr = target.addrs()[0];
    let busy = std::thread::spawn(move || Client::connect(addr).get("/?cpu=400ms").status);
    std::thread::sleep(Duration::from_millis(100));
    let times = connect_burst(addr, 500);
    assert_eq!(busy.join().unwrap(), 200);
    times
}

/// Issue 12 item 8: with `std`'s backlog of 128, the README's 500-client examples saw
/// connect p90 of about 1 s. The default backlog queues them all.
#[test]
fn default_backlog_queues_500_simultaneous_connects() {
    let times = burst_while_busy(stampede_testserver::DEFAULT_BACKLOG);
    let slow = times
        .iter()
        .filter(|t| **t >= Duration::from_millis(900))
        .count();
    assert_eq!(
        slow, 0,
        "{slow} of 500 connects waited for a SYN retransmit"
    );
}

/// The control for the test above: the burst does overflow a backlog of 128, so the test
/// would catch the old default.
#[test]
fn small_backlog_makes_connects_wait_for_retransmits() {
    let times = burst_while_busy(128);
    let slow = times
        .iter()
        .filter(|t| **t >= Duration::from_millis(900))
        .count();
    assert!(slow > 100, "only {slow} of 500 connects were slow");
}

/// `clients` keep-alive clients, spread over the target's instances, each sending `each`
/// requests for `path` back to back; returns every request's round trip and the wall time.
fn closed_loop(
    target: &TargetHandle,
    clients: usize,
    each: usize,
    path: &str,
) -> (Vec<Duration>, Duration) {
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let addr = target.addrs()[i % target.addrs().len()];
            let path = path.to_owned();
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                (0..each)
                    .map(|_| {
                        let t = Instant::now();
                        assert_eq!(c.get(&path).status, 200);
                        t.elapsed()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let times = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    (times, start.elapsed())
}

/// The contention knob: one serial section shared by every instance, so 4 clients on 2
/// instances get through 20 requests of 10 ms sections in no less than 200 ms, where the
/// same 10 ms as a parallel delay takes about 50 ms.
#[test]
fn serial_section_is_one_lock_across_instances() {
    let mut config = TargetConfig::new(local());
    config.instances = 2;
    config.serial_section = Duration::from_millis(10);
    let target = start(config);
    let (_, serial) = closed_loop(&target, 4, 5, "/");
    assert!(serial >= Duration::from_millis(200), "{serial:?}");
    assert!(serial < Duration::from_millis(400), "{serial:?}");

    let mut config = TargetConfig::new(local());
    config.instances = 2;
    let target = start(config);
    let (_, parallel) = closed_loop(&target, 4, 5, "/?delay=10ms");
    assert!(parallel < Duration::from_millis(150), "{parallel:?}");
}

/// The coherency knob: with 4 clients in flight on 2 instances, a request waits
/// `d·4·3` on top of its delay: 5 ms + 0.5 ms × 12 = 11 ms, where one client alone takes
/// 5 ms. The median of the rounds after the first (where clients arrive one by one).
#[test]
fn coherency_delay_grows_with_pairs_in_flight() {
    let mut config = TargetConfig::new(local());
    config.instances = 2;
    config.coherency_delay = Duration::from_micros(500);
    let target = start(config);
    let (alone, _) = closed_loop(&target, 1, 8, "/?delay=5ms");
    let alone = first_quartile(alone);
    assert!(
        alone >= Duration::from_millis(5) && alone < Duration::from_millis(7),
        "{alone:?}"
    );

    let (mut four, _) = closed_loop(&target, 4, 12, "/?delay=5ms");
    four.sort();
    let median = four[four.len() / 2];
    assert!(
        median >= Duration::from_millis(11) && median < Duration::from_millis(14),
        "median {median:?} of {four:?}"
    );
}

#[test]
fn scalability_knobs_longer_than_an_hour_are_refused() {
    let mut config = TargetConfig::new(local());
    config.coherency_delay = Duration::from_secs(3601);
    let e = TargetHandle::start(config).unwrap_err().to_string();
    assert!(e.contains("coherency-delay"), "{e}");
}
