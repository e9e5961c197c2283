//! `stampede proxy` (or `stampede target`) as a child process for the fault tests, and a
//! small HTTP client for the proxy's Toxiproxy API. Everything on 127.0.0.1, every wait
//! bounded.

#![allow(dead_code)] // used by proxy.rs and faults.rs, not by every test crate

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// How long `stampede proxy` or `target` may take to print that it is listening.
const READY: Duration = Duration::from_secs(10);

/// A running `stampede proxy ARGS...` (or `target`); killed when dropped.
pub(crate) struct ProxyDaemon {
    child: Child,
    dir: TempDir,
    stdout: String,
}

impl ProxyDaemon {
    /// Starts `stampede proxy ARGS...` (use port 0 for `--listen` and `--api`) and waits
    /// until it has printed its addresses.
    pub(crate) fn start(args: &[&str]) -> ProxyDaemon {
        ProxyDaemon::start_command("proxy", args)
    }

    /// Starts `stampede COMMAND ARGS...`, a server that prints `Ctrl-C stops` once it
    /// listens (`proxy`, `target`), and waits for that line.
    pub(crate) fn start_command(command: &str, args: &[&str]) -> ProxyDaemon {
        let dir = tempfile::Builder::new()
            .prefix("stampede-proxy-")
            .tempdir()
            .expect("temporary directory");
        let out = File::create(dir.path().join("stdout")).expect("stdout file");
        let err = File::create(dir.path().join("stderr")).expect("stderr file");
        let child = Command::new(env!("CARGO_BIN_EXE_stampede"))
            .arg(command)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("running the stampede binary");
        let mut d = ProxyDaemon {
            child,
            dir,
            stdout: String::new(),
        };
        let deadline = Instant::now() + READY;
        loop {
            d.stdout = std::fs::read_to_string(d.dir.path().join("stdout")).unwrap_or_default();
            if d.stdout.contains("Ctrl-C stops") {
                return d;
            }
            if let Ok(Some(status)) = d.child.try_wait() {
                panic!(
                    "stampede {command} {args:?} exited with {status}\nstdout:\n{}\nstderr:\n{}",
                    d.stdout,
                    d.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "stampede {command} {args:?} not ready within {READY:?}"
            );
            sleep(Duration::from_millis(20));
        }
    }

    /// What it has printed on stdout so far.
    pub(crate) fn stdout_now(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout")).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    /// The standalone proxy's address (`proxy NAME listening on ADDR -> UPSTREAM`).
    pub(crate) fn listen(&self) -> String {
        self.field("listening on ")
    }

    /// The API's `host:port`.
    pub(crate) fn api(&self) -> String {
        self.field("Toxiproxy API on http://")
    }

    /// The word after the first `after` in what it printed when ready.
    pub(crate) fn field(&self, after: &str) -> String {
        let start = self
            .stdout
            .find(after)
            .unwrap_or_else(|| panic!("no `{after}` in\n{}", self.stdout))
            + after.len();
        self.stdout[start..]
            .split_whitespace()
            .next()
            .expect("an address")
            .to_string()
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ProxyDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request to the API at `addr` (`host:port`): the status and the JSON body
/// (`Null` when empty). Bounded by a 10 s socket timeout.
pub(crate) fn api(addr: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text)
        .expect("reading the API's answer");
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b).trim();
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
    };
    (status, json)
}

/// The directory the Node client is installed in: `STAMPEDE_NODE_MODULES`, or
/// `node_modules` under `npm-toxiproxy` in the target directory (where `.ci/run` runs
/// `npm install --prefix`).
pub(crate) fn node_modules() -> PathBuf {
    if let Some(p) = std::env::var_os("STAMPEDE_NODE_MODULES") {
        return PathBuf::from(p);
    }
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_stampede"));
    let target = bin
        .parent()
        .and_then(|p| p.parent())
        .expect("the binary is in target/PROFILE/");
    target.join("npm-toxiproxy").join("node_modules")
}
