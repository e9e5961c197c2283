//! A server probe (the CLI's `--watch-pid`): CPU time and memory of server processes
//! during a run, read from `/proc`, so latency can be read beside what the server spent.

use std::time::Instant;

use stampede_engine::LiveSecond;
use stampede_result::ServerDoc;

use crate::{Finish, Flow, Observer};

/// A process to watch does not exist (or `/proc` is unreadable).
#[derive(Debug, thiserror::Error)]
#[error("process {pid}: no such process (or /proc unreadable)")]
pub struct ProbeError {
    /// The process id asked for.
    pub pid: u32,
}

/// Clock ticks per second of `/proc/PID/stat` times (USER_HZ, 100 on Linux).
fn ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |t| t as f64)
}

/// utime + stime of a process in seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command may hold spaces; fields resume after the closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks_per_second())
}

/// Current resident memory of a process in bytes.
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

fn command(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim().to_string())
        .unwrap_or_default()
}

#[derive(Debug)]
struct Watched {
    pid: u32,
    command: String,
    cpu_start: f64,
    peak_rss: u64,
}

/// Samples watched processes at the start, once per second, and at the end; adds
/// their figures to the result's `servers`.
#[derive(Debug)]
pub struct ServerProbe {
    watched: Vec<Watched>,
    started: Instant,
}

impl ServerProbe {
    /// Starts watching `pids`.
    pub fn start(pids: &[u32]) -> Result<Self, ProbeError> {
        let mut watched = Vec::with_capacity(pids.len());
        for &pid in pids {
            let cpu_start = cpu_seconds(pid).ok_or(ProbeError { pid })?;
            watched.push(Watched {
                pid,
                command: command(pid),
                cpu_start,
                peak_rss: rss_bytes(pid).unwrap_or(0),
            });
        }
        Ok(ServerProbe {
            watched,
            started: Instant::now(),
        })
    }

    /// Records peak memory; called once per second.
    fn sample(&mut self) {
        for w in &mut self.watched {
            if let Some(rss) = rss_bytes(w.pid) {
                w.peak_rss = w.peak_rss.max(rss);
            }
        }
    }

    /// Final figures; `requests` is the run's request count, for CPU per request.
    fn figures(&mut self, requests: u64) -> Vec<ServerDoc> {
        self.sample();
        let wall = self.started.elapsed().as_secs_f64().max(1e-9);
        self.watched
            .iter()
            .map(|w| {
                let cpu = cpu_seconds(w.pid).map_or(0.0, |c| (c - w.cpu_start).max(0.0));
                ServerDoc {
                    pid: w.pid,
                    command: w.command.clone(),
                    cpu_s: (cpu * 1000.0).round() / 1000.0,
                    cpu_share: (cpu / wall * 1000.0).round() / 1000.0,
                    cpu_per_request_us: (requests > 0)
                        .then(|| (cpu / requests as f64 * 1e6 * 100.0).round() / 100.0),
                    peak_rss_bytes: w.peak_rss,
                }
            })
            .collect()
    }
}

impl Observer for ServerProbe {
    fn on_second(&mut self, _: &LiveSecond<'_>) -> Flow {
        self.sample();
        Flow::Continue
    }

    fn on_finish(&mut self, finish: &mut Finish<'_>) {
        finish.result.servers = self.figures(finish.outcome.total.requests);
    }
}
