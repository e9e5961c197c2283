//! Simulated workers for `bench/coordinator.sh`: WORKERS workers say hello to a
//! coordinator (`stampede coordinator`), then each posts one second of deltas per second
//! for SECONDS seconds, as `stampede run --report-to` does (one connection per POST), with
//! the histograms of a worker sending RATE requests per second (GROUPS rows, default 1,
//! each a copy of the total as one URL's row is; 0 for a run without groups). Every worker
//! posts its second at the same instant, as workers started by one `--start-at` do.
//!
//! ```sh
//! cargo run --release -p stampede-experiment --example coordinator_load -- \
//!     127.0.0.1:7070 1000 20 100000 8
//! ```
//!
//! Prints one line per second (how long the burst of posts took, its slowest answer) and
//! a summary: bytes per worker per second, answers, failures.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use stampede_experiment::distributed::wire::{
    Deltas, GeneratorDelta, Hello, HelloReply, SecondDelta, StatsDelta, ViewLoad, PROTOCOL_VERSION,
};
use stampede_metrics::{GeneratorStats, Stats};

/// A deterministic stream of uniforms in (0, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Microseconds: `base` plus an exponential tail of mean `mean`.
    fn latency(&mut self, base: f64, mean: f64) -> Duration {
        Duration::from_micros((base - mean * self.next().ln()) as u64)
    }
}

/// One worker's second at `rate` requests per second, with `groups` group rows (each a
/// copy of the total, as one URL's row is).
fn second(rate: u64, seed: u64, groups: usize) -> SecondDelta {
    let mut rng = Lcg(seed);
    let mut stats = Stats::new();
    let mut generator = GeneratorStats::default();
    for _ in 0..rate {
        let service = rng.latency(400.0, 1_500.0);
        let lag = rng.latency(5.0, 40.0);
        stats.record_response(200, service + lag, service);
        stats.ttfb.record(service);
        generator.sends += 1;
        generator.schedule_lag.record(lag);
    }
    for _ in 0..(rate / 1000).max(1) {
        stats.record_connect(rng.latency(30.0, 50.0));
    }
    stats.bytes_received = rate * 230;
    stats.bytes_sent = rate * 80;
    let total = StatsDelta::encode(&stats);
    SecondDelta {
        second: 0,
        groups: (0..groups)
            .map(|g| (format!("GET /{g}"), total.clone()))
            .collect::<BTreeMap<_, _>>(),
        total,
        generator: GeneratorDelta::encode(&generator),
    }
}

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0
}

/// One POST on a connection of its own; the answer's body.
fn post(addr: SocketAddr, path: &str, body: &[u8]) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_nodelay(true)?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    if !answer.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(
            answer.lines().next().unwrap_or("no answer").to_string(),
        ));
    }
    Ok(answer
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string()))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: coordinator_load ADDR WORKERS SECONDS RATE THREADS [GROUPS]";
    let (addr, workers, seconds, rate, threads, groups) = match args.as_slice() {
        [a, w, s, r, t] => (a, w, s, r, t, "1"),
        [a, w, s, r, t, g] => (a, w, s, r, t, g.as_str()),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let groups: usize = groups.parse().expect(usage);
    let addr: SocketAddr = addr.parse().expect(usage);
    let workers: u32 = workers.parse().expect(usage);
    let seconds: u64 = seconds.parse().expect(usage);
    let rate: u64 = rate.parse().expect(usage);
    let threads: u32 = threads.parse::<u32>().expect(usage).clamp(1, workers);

    // A few distinct seconds, cycled, so that the merge sees varying histograms.
    let variants: Vec<SecondDelta> = (0..4).map(|i| second(rate, 17 + i, groups)).collect();
    let hello = |index: u32| Hello {
        protocol: PROTOCOL_VERSION,
        shard: Some(stampede_experiment::distributed::wire::ShardId {
            index,
            count: workers,
        }),
        scenario_hash: "bench".into(),
        method: "GET".into(),
        url: "http://127.0.0.1:9/".into(),
        load: ViewLoad::Open {
            start_rate: rate as f64,
            stages: Vec::new(),
        },
        duration_s: Some(seconds as f64),
        clock_unix_ms: unix_ms(),
        start_at_unix_ms: None,
    };
    for w in 0..workers {
        let body = serde_json::to_vec(&hello(w)).expect("hello");
        let reply: HelloReply =
            serde_json::from_str(&post(addr, "/v1/hello", &body).expect("hello answered"))
                .expect("hello reply");
        assert_eq!(reply.worker, Some(w), "{reply:?}");
    }
    eprintln!("coordinator_load: {workers} workers said hello");

    let bytes = Arc::new(AtomicU64::new(0));
    let posts = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let slowest_us = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(threads as usize + 1));
    let variants = Arc::new(variants);
    let start = Instant::now() + Duration::from_millis(500);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (bytes, posts, failures, slowest, barrier, variants) = (
                bytes.clone(),
                posts.clone(),
                failures.clone(),
                slowest_us.clone(),
                barrier.clone(),
                variants.clone(),
            );
            std::thread::spawn(move || {
                for k in 0..seconds {
                    let due = start + Duration::from_secs(k + 1);
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    for w in (t..workers).step_by(threads as usize) {
                        let mut second = variants[((w as u64 + k) % 4) as usize].clone();
                        second.second = k;
                        let body = serde_json::to_vec(&Deltas {
                            worker: w,
                            clock: None,
                            seconds: vec![second],
                        })
                        .expect("deltas");
                        let sent = Instant::now();
                        match post(addr, "/v1/deltas", &body) {
                            Ok(_) => {
                                posts.fetch_add(1, Ordering::Relaxed);
                                bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                            }
                            Err(_) => {
                                failures.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        slowest.fetch_max(sent.elapsed().as_micros() as u64, Ordering::Relaxed);
                    }
                    barrier.wait();
                }
            })
        })
        .collect();
    for k in 0..seconds {
        barrier.wait();
        let due = start + Duration::from_secs(k + 1);
        println!(
            "second {k}: all {workers} posts done {:.0} ms after the second ended (slowest answer {:.1} ms)",
            due.elapsed().as_secs_f64() * 1000.0,
            slowest_us.swap(0, Ordering::Relaxed) as f64 / 1000.0
        );
    }
    for h in handles {
        h.join().expect("poster");
    }
    let posts = posts.load(Ordering::Relaxed);
    println!(
        "workers {workers}  seconds {seconds}  rate/worker {rate}  posts {posts}  failed {}  bytes/worker/s {:.0}",
        failures.load(Ordering::Relaxed),
        bytes.load(Ordering::Relaxed) as f64 / posts.max(1) as f64
    );
}
