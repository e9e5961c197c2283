//! A failing service must never get more load than planned (issue 12, items 1 and 2), and
//! connections go where they are sent (items 4 to 6). Each test runs the `stampede` binary
//! for two or three seconds against the built-in target, or against a small Python server
//! (a server stampede did not write), all on 127.0.0.1, and counts what the *server* saw.
//!
//! Before the fixes these runs sent thousands of requests or connections a second; the
//! bounds below are a few times what the pacing and back-off allow, so they hold on a
//! loaded machine and still fail on a flood.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use stampede_testserver::{FaultProfile, TargetConfig, TargetHandle, TlsSetup};

fn stampede() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stampede"))
}

fn local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn start(config: TargetConfig) -> TargetHandle {
    TargetHandle::start(config).expect("target starts")
}

/// A built-in target answering `503` to every request.
fn failing_target() -> TargetHandle {
    let mut c = TargetConfig::new(local());
    c.default_profile = FaultProfile {
        error_rate: 1.0,
        error_status: 503,
        ..FaultProfile::default()
    };
    start(c)
}

/// The runs compete for the machine's cores: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `stampede` with `args` and `-q -o FILE`, returns the result document.
fn run(args: &[&str]) -> Value {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let o = stampede()
        .args(args)
        .args(["-q", "-o"])
        .arg(&out)
        .stdin(Stdio::null())
        .output()
        .expect("stampede runs");
    let text = std::fs::read_to_string(&out).unwrap_or_else(|_| {
        panic!(
            "no result (exit {:?}): {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    serde_json::from_str(&text).unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// A closed-model journey whose first step extracts from a JSON body, then thinks.
fn extracting_journey(base: &str, vus: u32, think: &str) -> String {
    let think = match think {
        "" => String::new(),
        t => format!("  [[scenarios.steps]]\n  think = \"{t}\"\n"),
    };
    format!(
        r#"[target]
base_url = "{base}"

[load]
vus = {vus}
duration = "2s"
timeout = "2s"

[[scenarios]]
name = "s"
  [[scenarios.steps]]
  name = "first"
  url = "/stream?page=1"
  extract = {{ next = {{ json = "$.next" }} }}
{think}  [[scenarios.steps]]
  name = "second"
  url = "/stream?page={{{{ next }}}}"
{think}"#
    )
}

fn requests(doc: &Value) -> u64 {
    doc["summary"]["requests"].as_u64().unwrap()
}

// ---------------------------------------------------------------------------------------
// Item 1: a failed extraction keeps the iteration's pacing.

#[test]
fn a_failed_extraction_keeps_the_think_time() {
    let t = failing_target();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "j.toml",
        &extracting_journey(&format!("http://{}", t.addrs()[0]), 4, "500ms"),
    );
    let doc = run(&["run", &file]);
    // 4 users, one iteration per second of think time at most: 2 s -> ~8 iterations of
    // one request each. Before the fix: tens of thousands.
    let n = requests(&doc);
    assert!(n >= 4, "every user tried: {n}");
    assert!(
        n <= 24,
        "{n} requests: the failing service got more than planned"
    );
    assert!(
        t.requests_served() <= 24,
        "server saw {}",
        t.requests_served()
    );
    assert!(
        doc["summary"]["errors"].as_u64().unwrap() >= n / 2,
        "{}",
        doc["summary"]
    );
}

#[test]
fn a_journey_without_think_time_backs_off_while_it_fails() {
    let t = failing_target();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "j.toml",
        &extracting_journey(&format!("http://{}", t.addrs()[0]), 2, ""),
    );
    run(&["run", &file]);
    // Back-off 10, 20, 40, ... ms up to 1 s: about 8 iterations per user in 2 s.
    let n = t.requests_served();
    assert!(
        (2..=40).contains(&n),
        "server saw {n} requests from 2 users"
    );
}

/// The documented soak example sends no more to a service that fails everything than to
/// a healthy one.
#[test]
fn the_soak_example_sends_no_more_to_a_failing_service() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/stream-soak.toml"
    );
    let healthy = start(TargetConfig::new(local()));
    let failing = failing_target();
    for t in [&healthy, &failing] {
        let base = format!("http://{}", t.addrs()[0]);
        run(&["run", example, "--base-url", &base, "-d", "3s"]);
    }
    let (h, f) = (healthy.requests_served(), failing.requests_served());
    assert!(h > 50, "the healthy run sent {h}");
    assert!(
        f <= h + h / 5 + 20,
        "failing service got {f} requests, healthy {h}"
    );
}

/// Python's http.server answering 503 to everything: the same pacing against a server we
/// did not write.
#[test]
fn a_failed_extraction_keeps_the_think_time_against_python() {
    let py = PythonServer::start(PY_503);
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "j.toml",
        &extracting_journey(&format!("http://{}", py.addr), 4, "500ms"),
    );
    let doc = run(&["run", &file]);
    let seen = py.count();
    assert!(requests(&doc) <= 24, "{}", requests(&doc));
    assert!(
        (4..=24).contains(&seen),
        "python server saw {seen} requests"
    );
}

// ---------------------------------------------------------------------------------------
// Item 2: every failure before a first response backs off.

#[test]
fn h2c_against_an_http1_only_server_backs_off() {
    let mut c = TargetConfig::new(local());
    c.http2 = false;
    let t = start(c);
    let url = format!("http://{}/", t.addrs()[0]);
    let doc = run(&["run", &url, "--http2", "-c", "2", "-d", "2s"]);
    let accepted = t.connections_accepted();
    // Two slots backing off 10 ms .. 1 s: ~9 attempts each in 2 s. Before: ~28,000.
    assert!(accepted <= 40, "{accepted} connections in 2 s");
    assert!(requests(&doc) <= 40, "{}", requests(&doc));
}

#[test]
fn a_server_that_closes_every_connection_is_not_hammered() {
    let py = PythonServer::start(PY_CLOSE);
    let url = format!("http://{}/", py.addr);
    run(&["run", &url, "-c", "4", "-d", "2s"]);
    let seen = py.count();
    assert!((4..=80).contains(&seen), "python server accepted {seen}");
}

#[test]
fn mtls_without_a_client_certificate_is_a_tls_failure_and_backs_off() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = params.self_signed(&key).unwrap();
    let mut c = TargetConfig::new(local());
    c.tls = Some(TlsSetup::SelfSigned);
    c.tls_client_ca = Some(dir.path().join("ca.pem"));
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
    let t = start(c);
    let url = format!("https://localhost:{}/", t.addrs()[0].port());
    let to = t.addrs()[0].to_string();
    let doc = run(&[
        "run",
        &url,
        "-k",
        "--connect-to",
        &to,
        "-c",
        "2",
        "-d",
        "2s",
    ]);
    let classes = &doc["errors_by_class"];
    assert!(
        classes["tls_handshake"].as_u64().unwrap_or(0) > 0,
        "{classes}"
    );
    assert!(classes.get("malformed_response").is_none(), "{classes}");
    let sample = doc["error_samples"]["tls_handshake"].as_str().unwrap_or("");
    assert!(sample.contains("CertificateRequired"), "{sample:?}");
    let handshakes = t.connections_accepted();
    assert!(handshakes <= 40, "{handshakes} connections in 2 s");
}

#[test]
fn websocket_steps_on_an_http2_tls_target_negotiate_http1() {
    let t = start({
        let mut c = TargetConfig::new(local());
        c.tls = Some(TlsSetup::SelfSigned);
        c
    });
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "ws.toml",
        &format!(
            r#"[target]
base_url = "https://127.0.0.1:{port}"
http2 = true
insecure = true

[load]
vus = 2
duration = "2s"

[[scenarios]]
name = "s"
  [[scenarios.steps]]
  name = "page"
  url = "/"
  [[scenarios.steps]]
  ws_connect = "/ws"
  [[scenarios.steps]]
  ws_send = "hello"
  [[scenarios.steps]]
  name = "echo"
  ws_expect = {{ contains = "hello", timeout = "1s" }}
  [[scenarios.steps]]
  ws_close = true
  [[scenarios.steps]]
  think = "200ms"
"#,
            port = t.addrs()[0].port()
        ),
    );
    let o = stampede()
        .args(["check", &file])
        .output()
        .expect("check runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc = run(&["run", &file]);
    let errors = doc["summary"]["errors"].as_u64().unwrap();
    assert_eq!(errors, 0, "{}", doc["error_samples"]);
    assert!(t.ws_upgrades() >= 2, "upgrades: {}", t.ws_upgrades());
    // Both protocols were used: h2 for the page, http/1.1 upgraded for the socket.
    assert!(doc["summary"]["protocols"]["h2"].as_u64().unwrap_or(0) >= 1);
    assert!(t.ws_upgrades() <= 40, "{} upgrades", t.ws_upgrades());
}

// ---------------------------------------------------------------------------------------
// Items 4 to 6: where connections go, and what latency means in the closed model.

fn served_by(doc: &Value) -> Vec<(String, u64)> {
    doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().to_string(),
                g["requests"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn three_instances() -> TargetHandle {
    let mut c = TargetConfig::new(local());
    c.instances = 3;
    start(c)
}

fn connect_to_all(t: &TargetHandle) -> Vec<String> {
    t.addrs()
        .iter()
        .flat_map(|a| ["--connect-to".to_string(), a.to_string()])
        .collect()
}

#[test]
fn round_robin_starts_at_the_first_address_and_spreads_evenly() {
    let t = three_instances();
    let url = format!("http://{}/", t.addrs()[0]);
    let to = connect_to_all(&t);
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    let group = ["--group-by", "header:X-Served-By"];

    let one = run(&[&["run", &url, "-c", "1", "-n", "50"][..], &to, &group].concat());
    assert_eq!(served_by(&one), [("target-1".to_string(), 50)]);

    let three = run(&[&["run", &url, "-c", "3", "-n", "300"][..], &to, &group].concat());
    let rows = served_by(&three);
    let names: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["target-1", "target-2", "target-3"], "{rows:?}");

    // The open model opens a connection only when every open one is busy: against an
    // instant answer 600 req/s may need only one or two, which round-robin cannot spread
    // over three. 20 ms per answer keeps about 12 busy, so every instance gets its share.
    let slow = format!("{url}?delay=20ms");
    let open = run(&[
        &["run", &slow, "--rate", "600", "-d", "2s"][..],
        &to,
        &group,
    ]
    .concat());
    let rows = served_by(&open);
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (k, n) in &rows {
        assert!(*n >= 100, "{k} got {n} of {:?}", rows);
    }
}

#[test]
fn a_dead_instance_gets_its_own_row_under_group_by_peer() {
    let t = start(TargetConfig::new(local()));
    let dead = TcpListener::bind(local()).unwrap().local_addr().unwrap(); // closed at once
    let live = t.addrs()[0];
    let url = format!("http://{live}/");
    let doc = run(&[
        "run",
        &url,
        "--connect-to",
        &live.to_string(),
        "--connect-to",
        &dead.to_string(),
        "--group-by",
        "peer",
        "-c",
        "2",
        "-d",
        "1s",
    ]);
    let rows = doc["groups"].as_array().unwrap();
    let dead_row = rows
        .iter()
        .find(|g| g["key"] == dead.to_string())
        .unwrap_or_else(|| panic!("no row for {dead}: {rows:?}"));
    assert!(dead_row["errors"].as_u64().unwrap() > 0, "{dead_row}");
    let live_row = rows.iter().find(|g| g["key"] == live.to_string()).unwrap();
    assert_eq!(live_row["errors"].as_u64().unwrap(), 0, "{live_row}");
}

#[test]
fn closed_model_latency_is_service_time_without_connect() {
    let t = start(TargetConfig::new(local()));
    let url = format!("http://{}/", t.addrs()[0]);
    let doc = run(&["run", &url, "-c", "20", "-n", "4000", "--no-keep-alive"]);
    let s = &doc["summary"];
    assert_eq!(doc["latency_model"], "service_time");
    assert_eq!(
        s["latency_ms"], s["service_time_ms"],
        "latency must be service time in the closed model"
    );
    assert!(doc["summary"]["connections_opened"].as_u64().unwrap() >= 4000);
}

/// Round-robin against three Python servers: each counts what it got.
#[test]
fn round_robin_spreads_over_python_servers() {
    let servers: Vec<PythonServer> = (0..3)
        .map(|_| PythonServer::start_with(PY_HTTP, &["200"]))
        .collect();
    let mut to = Vec::new();
    for s in &servers {
        to.push("--connect-to".to_string());
        to.push(s.addr.to_string());
    }
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    let url = format!("http://{}/", servers[0].addr);
    run(&[&["run", &url, "-c", "1", "-n", "30"][..], &to].concat());
    let first: Vec<u64> = servers.iter().map(PythonServer::count).collect();
    assert_eq!(
        first,
        [30, 0, 0],
        "one connection goes to the first address"
    );
    run(&[&["run", &url, "--rate", "300", "-d", "2s"][..], &to].concat());
    let after: Vec<u64> = servers.iter().map(PythonServer::count).collect();
    for (i, n) in after.iter().enumerate() {
        assert!(
            *n >= first[i] + 100,
            "server {i}: {after:?} (was {first:?})"
        );
    }
}

/// A refused address next to a live Python server: its own row, with its errors.
#[test]
fn a_dead_instance_beside_python_gets_its_own_row() {
    let live = PythonServer::start_with(PY_HTTP, &["200"]);
    let dead = TcpListener::bind(local()).unwrap().local_addr().unwrap();
    let url = format!("http://{}/", live.addr);
    let doc = run(&[
        "run",
        &url,
        "--connect-to",
        &live.addr.to_string(),
        "--connect-to",
        &dead.to_string(),
        "--group-by",
        "peer",
        "-c",
        "2",
        "-d",
        "1s",
    ]);
    let rows = doc["groups"].as_array().unwrap();
    let row = |a: SocketAddr| rows.iter().find(|g| g["key"] == a.to_string()).cloned();
    let dead_row = row(dead).unwrap_or_else(|| panic!("no row for {dead}: {rows:?}"));
    assert!(dead_row["errors"].as_u64().unwrap() > 0, "{dead_row}");
    let live_row = row(live.addr).expect("live row");
    assert_eq!(live_row["errors"].as_u64(), Some(0), "{live_row}");
    // One request per connection may still have been in flight when the run ended.
    let (answered, seen) = (live_row["requests"].as_u64().unwrap(), live.count());
    assert!(answered.abs_diff(seen) <= 2, "{answered} vs {seen}");
}

// ---------------------------------------------------------------------------------------
// A Python server on 127.0.0.1 that counts what it gets.

/// Answers every request with 503 and a JSON error body.
const PY_503: &str = PY_HTTP;

/// Answers every request with the status in the first argument (503 when none) and a
/// JSON body; prints the running count.
const PY_HTTP: &str = r#"
import http.server, sys, threading
STATUS = int(sys.argv[1]) if len(sys.argv) > 1 else 503
count = 0
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        global count
        with lock:
            count += 1
            # One write per line, under the lock: print() from two handler threads at
            # once can interleave into "78\n\n" for the counts 7 and 8.
            sys.stdout.write(f"{count}\n")
            sys.stdout.flush()
        body = b'{"error": "unavailable"}' if STATUS >= 400 else b'{"ok": true}'
        self.send_response(STATUS)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

/// Accepts every connection and closes it at once, without a word.
const PY_CLOSE: &str = r#"
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1024)
print(s.getsockname()[1], flush=True)
n = 0
while True:
    c, _ = s.accept()
    c.close()
    n += 1
    print(n, flush=True)
"#;

struct PythonServer {
    child: Child,
    addr: SocketAddr,
    lines: std::sync::mpsc::Receiver<u64>,
    /// The last count read.
    seen: std::sync::Mutex<u64>,
}

impl PythonServer {
    fn start(script: &str) -> Self {
        Self::start_with(script, &[])
    }

    fn start_with(script: &str, args: &[&str]) -> Self {
        let mut child = Command::new("python3")
            .args(["-c", script])
            .args(args)
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let port: u16 = first.trim().parse().expect("port");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { break };
                if let Ok(n) = line.trim().parse() {
                    let _ = tx.send(n);
                }
            }
        });
        PythonServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            lines,
            seen: std::sync::Mutex::new(0),
        }
    }

    /// What the server counted so far (waits a moment for its last lines).
    fn count(&self) -> u64 {
        std::thread::sleep(Duration::from_millis(200));
        let last = self.lines.try_iter().last();
        let mut seen = self.seen.lock().unwrap();
        if let Some(n) = last {
            *seen = n;
        }
        *seen
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
