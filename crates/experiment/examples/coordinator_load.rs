//! Simulated workers for `bench/coordinator.sh`: WORKERS workers say hello to a
//! coordinator (`stampede coordinator`), then each posts one second of deltas per second
//! for SECONDS seconds, as `stampede run --report-to` does (the same [`Channel`]: one
//! keep-alive connection per worker), with
//! the histograms of a worker sending RATE requests per second (GROUPS rows, default 1,
//! each a copy of the total as one URL's row is; 0 for a run without groups). Every worker
//! posts its second at the same instant, as workers started by one `--start-at` do.
//!
//! ```sh
//! cargo run --release -p stampede-experiment --example coordinator_load -- \
//!     127.0.0.1:7070 1000 20 100000
//! ```
//!
//! Prints one line per second (how long the burst of posts took, its slowest answer) and
//! a summary: bytes per worker per second, answers, failures.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use stampede_experiment::distributed::wire::{
    Deltas, GeneratorDelta, Hello, HelloReply, Reply, SecondDelta, ShardId, StatsDelta, ViewLoad,
    PROTOCOL_VERSION,
};
use stampede_experiment::distributed::Channel;
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

/// The figures of one second's burst.
#[derive(Default)]
struct Burst {
    done: usize,
    last_answer: Option<Instant>,
    slowest: Duration,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: coordinator_load ADDR WORKERS SECONDS RATE [GROUPS]";
    let (addr, workers, seconds, rate, groups) = match args.as_slice() {
        [a, w, s, r] => (a, w, s, r, "1"),
        [a, w, s, r, g] => (a, w, s, r, g.as_str()),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let groups: usize = groups.parse().expect(usage);
    let base = url::Url::parse(&format!("http://{addr}")).expect(usage);
    let workers: u32 = workers.parse().expect(usage);
    let seconds: u64 = seconds.parse().expect(usage);
    let rate: u64 = rate.parse().expect(usage);

    // A few distinct seconds, cycled, so that the merge sees varying histograms.
    let variants: Arc<Vec<SecondDelta>> =
        Arc::new((0..4).map(|i| second(rate, 17 + i, groups)).collect());
    let hello = move |index: u32| Hello {
        protocol: PROTOCOL_VERSION,
        shard: Some(ShardId {
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
        thresholds: Vec::new(),
        abort_on_fail: false,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let timeout = Duration::from_secs(30);
    runtime.block_on(async move {
        // Every worker's connection, opened and introduced one after another.
        let mut channels = Vec::with_capacity(workers as usize);
        for w in 0..workers {
            let mut channel = Channel::new(&base);
            let reply: HelloReply = channel
                .post("/v1/hello", &hello(w), timeout)
                .await
                .expect("hello answered");
            assert_eq!(reply.worker, Some(w), "{reply:?}");
            channels.push(channel);
        }
        eprintln!("coordinator_load: {workers} workers said hello");
        let bytes: u64 = (0..workers as u64)
            .map(|w| {
                (0..seconds)
                    .map(|k| {
                        let mut second = variants[((w + k) % 4) as usize].clone();
                        second.second = k;
                        serde_json::to_vec(&Deltas {
                            worker: w as u32,
                            clock: None,
                            seconds: vec![second],
                        })
                        .expect("deltas")
                        .len() as u64
                    })
                    .sum::<u64>()
            })
            .sum();
        let bursts = Rc::new(RefCell::new(
            (0..seconds).map(|_| Burst::default()).collect::<Vec<_>>(),
        ));
        let failures = Rc::new(Cell::new(0u64));
        let start = tokio::time::Instant::now() + Duration::from_millis(500);
        let local = tokio::task::LocalSet::new();
        for (w, mut channel) in channels.into_iter().enumerate() {
            let (variants, bursts, failures) = (variants.clone(), bursts.clone(), failures.clone());
            local.spawn_local(async move {
                for k in 0..seconds {
                    tokio::time::sleep_until(start + Duration::from_secs(k + 1)).await;
                    let mut second = variants[((w as u64 + k) % 4) as usize].clone();
                    second.second = k;
                    let deltas = Deltas {
                        worker: w as u32,
                        clock: None,
                        seconds: vec![second],
                    };
                    let sent = Instant::now();
                    let answer: Result<Reply, String> =
                        channel.post("/v1/deltas", &deltas, timeout).await;
                    if answer.is_err() {
                        failures.set(failures.get() + 1);
                    }
                    let mut bursts = bursts.borrow_mut();
                    let b = &mut bursts[k as usize];
                    b.done += 1;
                    b.last_answer = Some(Instant::now());
                    b.slowest = b.slowest.max(sent.elapsed());
                }
            });
        }
        local.await;
        let start = start.into_std();
        for (k, b) in bursts.borrow().iter().enumerate() {
            let due = start + Duration::from_secs(k as u64 + 1);
            let done = b.last_answer.map_or(0.0, |t| {
                t.saturating_duration_since(due).as_secs_f64() * 1000.0
            });
            println!(
                "second {k}: all {} posts done {done:.0} ms after the second ended (slowest answer {:.1} ms)",
                b.done,
                b.slowest.as_secs_f64() * 1000.0
            );
        }
        let posts = u64::from(workers) * seconds;
        println!(
            "workers {workers}  seconds {seconds}  rate/worker {rate}  posts {posts}  failed {}  bytes/worker/s {:.0}",
            failures.get(),
            bytes as f64 / posts.max(1) as f64
        );
    });
}
