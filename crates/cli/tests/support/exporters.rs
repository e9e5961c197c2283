//! Debian's Prometheus node exporter and Prometheus server, each a private instance on
//! a free 127.0.0.1 port (own temporary directory), killed by PID when dropped.
#![allow(dead_code)] // used by server_metrics.rs, not by every test crate

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::free_port;

/// Debian's `prometheus-node-exporter` (`.ci/run` installs it).
const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";
/// Debian's `prometheus`.
const PROMETHEUS: &str = "/usr/bin/prometheus";

/// The binary at `path`, or `None` when it is missing and `STAMPEDE_SKIP_EXTERNAL=1`
/// allows skipping (otherwise a missing binary fails the test).
pub(crate) fn binary(path: &str, test: &str) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    if p.is_file() {
        return Some(p);
    }
    if std::env::var("STAMPEDE_SKIP_EXTERNAL").is_ok_and(|v| v == "1") {
        eprintln!("{test}: skipped: {path} not found and STAMPEDE_SKIP_EXTERNAL=1");
        return None;
    }
    panic!("{test}: {path} not found (apt-get install prometheus prometheus-node-exporter; `bash .ci/run` does it)");
}

/// A spawned server process with its directory; killed when dropped.
pub(crate) struct Daemon {
    child: Child,
    dir: TempDir,
    port: u16,
    name: &'static str,
}

impl Daemon {
    fn spawn(name: &'static str, bin: &Path, args: &dyn Fn(&Path, u16) -> Vec<String>) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("stampede-exporter-")
            .tempdir()
            .expect("temporary directory");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("log")).expect("log file");
        let child = Command::new(bin)
            .args(args(dir.path(), port))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        Daemon {
            child,
            dir,
            port,
            name,
        }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The process' own log.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// Waits (bounded) until GET `path` answers 200.
    fn ready(mut self, path: &str, limit: Duration) -> Daemon {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited with {status}:\n{}", self.name, self.log());
            }
            if get_status(self.port, path) == Some(200) {
                return self;
            }
            if Instant::now() >= deadline {
                panic!("{} not ready within {limit:?}:\n{}", self.name, self.log());
            }
            sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status of `GET path` on 127.0.0.1:`port`, if it answers within a second.
fn get_status(port: u16, path: &str) -> Option<u16> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// A node exporter with the collectors stampede's defaults read (CPU, memory, network
/// devices, sockets, netstat).
pub(crate) fn node_exporter(bin: &Path) -> Daemon {
    Daemon::spawn("prometheus-node-exporter", bin, &|_, port| {
        [
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--collector.disable-defaults".into(),
            "--collector.cpu".into(),
            "--collector.meminfo".into(),
            "--collector.netdev".into(),
            "--collector.sockstat".into(),
            "--collector.netstat".into(),
        ]
        .into()
    })
    .ready("/metrics", Duration::from_secs(10))
}

/// A Prometheus server scraping `target` (`127.0.0.1:PORT`) every second as job `node`;
/// data in its temporary directory.
pub(crate) fn prometheus(bin: &Path, target: &str) -> Daemon {
    let target = target.to_string();
    Daemon::spawn("prometheus", bin, &move |dir, port| {
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{target}']\n"
        );
        let file = dir.join("prometheus.yml");
        std::fs::write(&file, config).expect("writing prometheus.yml");
        vec![
            format!("--config.file={}", file.display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ]
    })
    .ready("/-/ready", Duration::from_secs(20))
}

/// Where Debian installs them.
pub(crate) fn node_exporter_binary(test: &str) -> Option<PathBuf> {
    binary(NODE_EXPORTER, test)
}

/// Where Debian installs it.
pub(crate) fn prometheus_binary(test: &str) -> Option<PathBuf> {
    binary(PROMETHEUS, test)
}
