//! A minimal HTTP/1.1 endpoint serving live metrics at `/metrics` (the CLI's
//! `--prometheus-listen`), updated once per second by its [`Exporter::feed`] observer
//! and set to the final numbers when the run ends; [`Exporter::hold`] keeps serving them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use stampede_engine::{LiveSecond, RunOutcome};
use stampede_metrics::{GeneratorStats, Stats};
use stampede_plan::RunPlan;
use stampede_report::prometheus::CONTENT_TYPE;
use stampede_report::{render_prometheus, MetricsSnapshot};

use crate::{Finish, Flow, Observer};

/// The endpoint could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExporterError {
    /// The address could not be bound (in use, not local, no permission).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS's error.
        source: std::io::Error,
    },
    /// The listener or its thread could not be set up.
    #[error("setting up the metrics endpoint: {0}")]
    Setup(std::io::Error),
}

/// Longest request head read from a scraper.
const MAX_HEAD: usize = 8 * 1024;
/// How long a scraper may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// The endpoint and the text it serves.
#[derive(Debug)]
pub struct Exporter {
    addr: SocketAddr,
    text: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    corrected: bool,
}

/// The observer that keeps an [`Exporter`]'s text up to date.
#[derive(Debug)]
pub struct ExporterFeed {
    text: Arc<Mutex<String>>,
    corrected: bool,
}

impl Exporter {
    /// Binds `addr` and starts serving (all counters zero until the first second).
    pub fn start(addr: SocketAddr, plan: &RunPlan) -> Result<Exporter, ExporterError> {
        let listener =
            TcpListener::bind(addr).map_err(|source| ExporterError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(ExporterError::Setup)?;
        listener
            .set_nonblocking(true)
            .map_err(ExporterError::Setup)?;
        let corrected = plan.is_scheduled();
        let empty = (Stats::new(), GeneratorStats::default());
        let text = Arc::new(Mutex::new(render_prometheus(&MetricsSnapshot {
            total: &empty.0,
            groups: Vec::new(),
            generator: &empty.1,
            elapsed: Duration::ZERO,
            finished: false,
            corrected,
        })));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (text, stop) = (text.clone(), stop.clone());
            std::thread::Builder::new()
                .name("stampede-metrics".into())
                .spawn(move || serve(listener, &text, &stop))
                .map_err(ExporterError::Setup)?
        };
        Ok(Exporter {
            addr,
            text,
            stop,
            thread: Some(thread),
            corrected,
        })
    }

    /// The address actually bound (port 0 resolved).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The observer that publishes each second of the run, and its final numbers.
    pub fn feed(&self) -> ExporterFeed {
        ExporterFeed {
            text: self.text.clone(),
            corrected: self.corrected,
        }
    }

    /// Keeps serving for `hold`, or until `interrupt` is set (a Ctrl-C), then stops.
    /// `interrupt` is cleared first: a stop that ended the run does not end the hold.
    pub fn hold(mut self, hold: Duration, interrupt: &AtomicBool, quiet: bool) {
        if !hold.is_zero() {
            if !quiet {
                eprintln!(
                    "prometheus: serving the final metrics on http://{}/metrics for {:.0}s (Ctrl-C to stop)",
                    self.addr,
                    hold.as_secs_f64()
                );
            }
            interrupt.store(false, Ordering::Relaxed);
            let until = Instant::now() + hold;
            while Instant::now() < until && !interrupt.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl ExporterFeed {
    fn set(&self, snapshot: &MetricsSnapshot<'_>) {
        let text = render_prometheus(snapshot);
        *self.text.lock().unwrap_or_else(PoisonError::into_inner) = text;
    }

    /// Publishes the run so far.
    fn update(&self, live: &LiveSecond<'_>) {
        self.set(&MetricsSnapshot {
            total: live.total,
            groups: live.groups.iter().map(|(k, s)| (k.as_str(), s)).collect(),
            generator: live.generator,
            elapsed: Duration::from_secs(live.second + 1),
            finished: false,
            corrected: self.corrected,
        });
    }

    /// Publishes the final numbers: the same stats the result document is built from.
    fn publish_final(&self, outcome: &RunOutcome) {
        self.set(&MetricsSnapshot {
            total: &outcome.total,
            groups: outcome
                .groups
                .iter()
                .map(|(k, s)| (k.as_str(), s))
                .collect(),
            generator: &outcome.generator,
            elapsed: outcome.elapsed,
            finished: true,
            corrected: self.corrected,
        });
    }
}

impl Observer for ExporterFeed {
    fn on_second(&mut self, live: &LiveSecond<'_>) -> Flow {
        self.update(live);
        Flow::Continue
    }

    fn on_finish(&mut self, finish: &mut Finish<'_>) {
        self.publish_final(finish.outcome);
    }
}

fn serve(listener: TcpListener, text: &Mutex<String>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = answer(stream, text);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Answers one request: `GET /metrics` (or `/`) gets the exposition, anything else 404.
fn answer(mut stream: TcpStream, text: &Mutex<String>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.set_write_timeout(Some(READ_TIMEOUT))?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let path = path.split(|b| *b == b'?').next().unwrap_or_default();
    let (status, content_type, body) = match (method, path) {
        (b"GET" | b"HEAD", b"/metrics" | b"/") => (
            "200 OK",
            CONTENT_TYPE,
            text.lock().unwrap_or_else(PoisonError::into_inner).clone(),
        ),
        _ => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "stampede serves metrics at /metrics\n".to_string(),
        ),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method != b"HEAD" {
        response.push_str(&body);
    }
    stream.write_all(response.as_bytes())?;
    stream.flush()
}
