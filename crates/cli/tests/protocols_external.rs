//! The external protocol suite (issue 3): the real `stampede` binary against servers it
//! did not write: Debian's nginx with TLS and HTTP/2 (a self-signed certificate made
//! here with `openssl`), cross-checked with `h2load` (Debian's `nghttp2-client`), and a
//! WebSocket echo server written with Python's `websockets` package (Debian's
//! `python3-websockets`).
//!
//! Every server listens on 127.0.0.1 only, every run is bounded, and the tests hold
//! `support::serial()` (the same lock as the nginx suite) so that they never overlap.
//! A missing tool fails the test unless `STAMPEDE_SKIP_EXTERNAL=1` is set.
//!
//! ```sh
//! cargo test --release -p stampede --test protocols_external
//! ```
//!
//! About 30 s in all; HTTP/2 at 20,000 requests wants an optimized stampede.

#[allow(dead_code)] // the helpers serve nginx.rs too; not all of them are used here
mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use stampede_metrics::LatencyHistogram;
use support::{
    external_tool, find_program, free_port, make_certificate, openssl, run_bounded, serial,
    stampede, wait_for_listener, CertKey, Nginx, RunOutput, Stampede,
};

/// Slack on top of a run's own length before the run counts as hung (runs that must
/// end on time are checked against a tighter bound, [`ON_TIME`]).
const GRACE: Duration = Duration::from_secs(30);
/// How late after its `--duration` a run may end and still count as ending on time.
const ON_TIME: Duration = Duration::from_secs(3);

// ---------------------------------------------------------------------------------
// Tools and servers
// ---------------------------------------------------------------------------------

fn nginx(test: &str) -> Option<PathBuf> {
    support::nginx_binary(test)
}

fn h2load(test: &str) -> Option<PathBuf> {
    external_tool(
        test,
        "h2load",
        find_program(&["/usr/bin/h2load", "h2load"]),
        "`apt-get install nghttp2-client`",
    )
}

/// A Python 3 that can `import websockets`: Debian's `/usr/bin/python3` with
/// `python3-websockets` first (a `python3` earlier in PATH may be another build without
/// the Debian packages), then `$STAMPEDE_PYTHON`, then `python3` in PATH.
fn python_with_websockets(test: &str) -> Option<PathBuf> {
    let mut candidates: Vec<String> = vec!["/usr/bin/python3".into()];
    if let Ok(p) = std::env::var("STAMPEDE_PYTHON") {
        candidates.insert(0, p);
    }
    candidates.push("python3".into());
    let found = candidates.iter().find_map(|c| {
        let path = find_program(&[c.as_str()])?;
        let ok = Command::new(&path)
            .args(["-c", "import websockets"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(path)
    });
    external_tool(
        test,
        "a python3 with the websockets package",
        found,
        "`apt-get install python3-websockets`",
    )
}

/// nginx's access-log format for this suite: port, protocol as nginx saw it
/// (`HTTP/1.1`, `HTTP/2.0`), TLS version (`-` without TLS), `r` for a resumed TLS
/// session (`.` otherwise), status.
const LOG_FORMAT: &str =
    "log_format proto '$server_port $server_protocol $ssl_protocol $ssl_session_reused $status';";

/// One `server` block answering `200 "ok\n"` everywhere, logging in [`LOG_FORMAT`].
fn server_block(dir: &Path, listen: &str, tls: Option<(&Path, &Path)>) -> String {
    let tls = tls
        .map(|(cert, key)| {
            format!(
                "        ssl_certificate {};\n        ssl_certificate_key {};\n",
                cert.display(),
                key.display()
            )
        })
        .unwrap_or_default();
    format!(
        r#"    server {{
        listen {listen};
{tls}        access_log {d}/access.log proto;
        location / {{
            return 200 "ok\n";
        }}
    }}
"#,
        d = dir.display()
    )
}

/// The ports of [`protocol_nginx`].
const TLS_H2: usize = 0; // `ssl http2`: HTTPS with ALPN h2 and http/1.1
const PLAIN: usize = 1; // plain HTTP/1.1
const H2C: usize = 2; // `http2` without TLS: prior-knowledge h2c
const TLS_H1: usize = 3; // `ssl`: HTTPS, HTTP/1.1 only

/// An nginx with the four listeners above (Debian 12's nginx 1.22 `listen` syntax).
fn protocol_nginx(bin: &Path, cert: &Path, key: &Path) -> Nginx {
    Nginx::start_with(bin, 4, &|dir, ports| {
        let tls = Some((cert, key));
        [
            LOG_FORMAT.to_string(),
            server_block(dir, &format!("127.0.0.1:{} ssl http2", ports[TLS_H2]), tls),
            server_block(dir, &format!("127.0.0.1:{}", ports[PLAIN]), None),
            server_block(dir, &format!("127.0.0.1:{} http2", ports[H2C]), None),
            server_block(dir, &format!("127.0.0.1:{} ssl", ports[TLS_H1]), tls),
        ]
        .join("\n")
    })
}

/// A parsed line of [`LOG_FORMAT`].
struct LogLine {
    protocol: String,
    tls: String,
    reused: bool,
    status: String,
}

fn parse_log(lines: &[String]) -> Vec<LogLine> {
    lines
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 5, "unexpected access.log line {l:?}");
            LogLine {
                protocol: f[1].to_string(),
                tls: f[2].to_string(),
                reused: f[3] == "r",
                status: f[4].to_string(),
            }
        })
        .collect()
}

/// The number of values in one of the result's histograms (`tls_handshake`, ...).
fn histogram_count(run: &RunOutput, name: &str) -> u64 {
    let text = run.str(&format!("/histograms/{name}"));
    LatencyHistogram::from_v2_base64(text)
        .unwrap_or_else(|e| panic!("histograms.{name} does not decode: {e}\n{}", run.context()))
        .count()
}

/// `summary.protocols` as (name, connections) pairs.
fn protocols(run: &RunOutput) -> Vec<(String, u64)> {
    run.json
        .pointer("/summary/protocols")
        .and_then(|p| p.as_object())
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs stampede and returns the run, nginx's access-log lines it caused, and the wall
/// time of the run.
fn run_logged(
    nginx: &Nginx,
    url: &str,
    args: &[&str],
    limit: Duration,
) -> (RunOutput, Vec<LogLine>, Duration) {
    let before = nginx.access_log_lines() as usize;
    let started = Instant::now();
    let run = stampede(url, args, limit);
    let took = started.elapsed();
    nginx.access_log_lines();
    let lines = nginx.access_log();
    (run, parse_log(&lines[before.min(lines.len())..]), took)
}

// ---------------------------------------------------------------------------------
// 1. TLS and HTTP/2 against nginx
// ---------------------------------------------------------------------------------

/// HTTPS against nginx (self-signed certificate trusted with `--cacert`): HTTP/1.1
/// keep-alive, HTTP/1.1 with a handshake per request (session resumption on and off),
/// HTTP/2 with 10 streams, and a run by host name (SNI, `--connect-to`). Every run's
/// request count equals the lines it added to nginx's access log, nginx saw the
/// protocol stampede reports, the TLS handshake phase is measured once per connection,
/// and per-request handshakes make each request clearly more expensive. These are
/// closed-model runs, whose latency is service time (issue 12 item 6): a request's
/// handshake is in the handshake phase, so a request's cost is its service time plus the
/// handshake it waited for; and a full handshake costs more than a resumed one.
#[test]
fn tls_and_http2_against_nginx() {
    let _serial = serial();
    let test = "tls_and_http2_against_nginx";
    let (Some(bin), Some(openssl)) = (nginx(test), openssl(test)) else {
        return;
    };
    let certs = tempfile::tempdir().expect("temporary directory");
    let (cert, key) = make_certificate(&openssl, certs.path(), CertKey::EcP256);
    let cacert = cert.display().to_string();
    let nginx = protocol_nginx(&bin, &cert, &key);
    let port = nginx.port(TLS_H2);
    let url = format!("https://127.0.0.1:{port}/");
    let by_name = format!("https://localhost:{port}/");
    let connect_to = format!("127.0.0.1:{port}");

    struct Case<'a> {
        name: &'a str,
        url: &'a str,
        args: Vec<&'a str>,
        requests: u64,
        protocol: &'a str,
        nginx_protocol: &'a str,
    }
    let cases = [
        Case {
            name: "keep-alive",
            url: &url,
            args: vec!["-c", "4", "-n", "2000"],
            requests: 2000,
            protocol: "http/1.1",
            nginx_protocol: "HTTP/1.1",
        },
        Case {
            name: "no-keep-alive",
            url: &url,
            args: vec!["--no-keep-alive", "-c", "4", "-n", "1000"],
            requests: 1000,
            protocol: "http/1.1",
            nginx_protocol: "HTTP/1.1",
        },
        Case {
            name: "no-keep-alive, no resumption",
            url: &url,
            args: vec![
                "--no-keep-alive",
                "--tls-resume",
                "off",
                "-c",
                "4",
                "-n",
                "500",
            ],
            requests: 500,
            protocol: "http/1.1",
            nginx_protocol: "HTTP/1.1",
        },
        Case {
            name: "http2",
            url: &url,
            args: vec!["--http2", "--streams", "10", "-c", "2", "-n", "2000"],
            requests: 2000,
            protocol: "h2",
            nginx_protocol: "HTTP/2.0",
        },
        Case {
            name: "by name (SNI)",
            url: &by_name,
            args: vec!["--connect-to", &connect_to, "-c", "1", "-n", "100"],
            requests: 100,
            protocol: "http/1.1",
            nginx_protocol: "HTTP/1.1",
        },
    ];

    let mut failures = Vec::new();
    let mut p50 = Vec::new();
    let mut handshake_p50 = Vec::new();
    let mut reused = Vec::new();
    for case in &cases {
        let mut args = case.args.clone();
        args.extend(["--cacert", &cacert]);
        let (run, log, _) = run_logged(&nginx, case.url, &args, GRACE);
        let ctx = run.context();
        run.assert_success();
        let requests = run.u64("/summary/requests");
        let connections = run.u64("/summary/connections_opened");
        let latency_p50 = run.f64("/summary/latency_ms/p50");
        let tls_count = histogram_count(&run, "tls_handshake");
        let tls_p50 = run.f64("/phases_ms/tls_handshake/p50");
        let resumed = log.iter().filter(|l| l.reused).count();
        eprintln!(
            "{}: requests {requests}, access.log +{}, connections {connections}, protocols {:?}, \
             latency p50 {latency_p50} ms, tls handshakes {tls_count} (p50 {tls_p50} ms, \
             mean {} ms), resumed sessions in nginx's log {resumed}",
            case.name,
            log.len(),
            protocols(&run),
            run.f64("/phases_ms/tls_handshake/mean"),
        );
        let mut problems = Vec::new();
        if requests != case.requests {
            problems.push(format!(
                "summary.requests {requests}, want {}",
                case.requests
            ));
        }
        if run.u64("/summary/errors") != 0 || run.u64("/summary/timeouts") != 0 {
            problems.push("errors or timeouts, want none".to_string());
        }
        if log.len() as u64 != requests {
            problems.push(format!(
                "nginx logged {} requests, stampede counted {requests}",
                log.len()
            ));
        }
        let wrong: Vec<String> = log
            .iter()
            .filter(|l| l.protocol != case.nginx_protocol || l.status != "200")
            .take(3)
            .map(|l| format!("{} {} {}", l.protocol, l.tls, l.status))
            .collect();
        if !wrong.is_empty() {
            problems.push(format!(
                "nginx logged requests that were not {} 200: {wrong:?}",
                case.nginx_protocol
            ));
        }
        if log.iter().any(|l| !l.tls.starts_with("TLSv1.")) {
            problems.push("nginx logged requests without TLS".to_string());
        }
        if protocols(&run) != vec![(case.protocol.to_string(), connections)] {
            problems.push(format!(
                "summary.protocols {:?}, want {{\"{}\": {connections}}}",
                protocols(&run),
                case.protocol
            ));
        }
        if tls_count != connections || connections == 0 {
            problems.push(format!(
                "{tls_count} TLS handshakes measured for {connections} connections"
            ));
        }
        if tls_p50 <= 0.0 {
            problems.push(format!("phases_ms.tls_handshake.p50 {tls_p50}, want > 0"));
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}\n{ctx}", case.name, problems.join("; ")));
        }
        p50.push(latency_p50);
        handshake_p50.push(tls_p50);
        reused.push(resumed);
    }
    // Per-request handshakes: each request clearly costs more than on a reused connection.
    let (keep_alive, per_request, full) = (p50[0], p50[1], p50[2]);
    let (resumed_hs, full_hs) = (handshake_p50[1], handshake_p50[2]);
    eprintln!(
        "latency p50 (service time): keep-alive {keep_alive} ms, handshake per request \
         {per_request} ms (resumed), {full} ms (full); TLS handshake p50 resumed {resumed_hs} \
         ms, full {full_hs} ms"
    );
    for (name, service, handshake) in [
        ("--no-keep-alive", per_request, resumed_hs),
        ("--tls-resume off", full, full_hs),
    ] {
        if service + handshake < keep_alive * 1.5 {
            failures.push(format!(
                "{name}: service p50 {service} ms + handshake p50 {handshake} ms is not clearly \
                 above keep-alive's {keep_alive} ms (want >= 1.5x)"
            ));
        }
    }
    if full_hs <= resumed_hs {
        failures.push(format!(
            "a full TLS handshake (p50 {full_hs} ms) should cost more than a resumed one \
             (p50 {resumed_hs} ms)"
        ));
    }
    // Session resumption: nginx resumed most sessions with it, none without it.
    if reused[1] < 1000 / 2 {
        failures.push(format!(
            "--tls-resume on: nginx resumed {} of 1000 sessions, want most",
            reused[1]
        ));
    }
    if reused[2] != 0 {
        failures.push(format!(
            "--tls-resume off: nginx resumed {} sessions, want 0",
            reused[2]
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------------------------
// 2. HTTP/2 cross-checked with h2load
// ---------------------------------------------------------------------------------

/// What h2load printed.
#[derive(Debug)]
struct H2load {
    succeeded: u64,
    failed: u64,
    /// Mean of "time for request", ms.
    mean_ms: f64,
    /// "finished in X, Y req/s".
    rate: f64,
    protocol: String,
}

/// `12.34ms`, `567us`, `1.2s` in milliseconds.
fn h2load_time(s: &str) -> Option<f64> {
    let (num, factor) = if let Some(v) = s.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1000.0)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|v| v * factor)
}

fn parse_h2load(out: &str) -> Option<H2load> {
    let mut succeeded = None;
    let mut failed = None;
    let mut mean_ms = None;
    let mut rate = None;
    let mut protocol = String::new();
    for line in out.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("requests:") {
            // requests: 20000 total, 20000 started, 20000 done, 20000 succeeded, 0 failed, ...
            for part in rest.split(',') {
                let mut w = part.split_whitespace();
                let (Some(n), Some(what)) = (w.next(), w.next()) else {
                    continue;
                };
                match what {
                    "succeeded" => succeeded = n.parse().ok(),
                    "failed" => failed = n.parse().ok(),
                    _ => {}
                }
            }
        } else if let Some(rest) = line.strip_prefix("time for request:") {
            // min max mean sd +/-sd
            mean_ms = rest.split_whitespace().nth(2).and_then(h2load_time);
        } else if let Some(rest) = line.strip_prefix("finished in") {
            // finished in 1.24s, 16188.85 req/s, 1.07MB/s
            rate = rest
                .split(',')
                .nth(1)
                .and_then(|p| p.split_whitespace().next())
                .and_then(|v| v.parse().ok());
        } else if let Some(rest) = line.strip_prefix("Application protocol:") {
            protocol = rest.trim().to_string();
        }
    }
    Some(H2load {
        succeeded: succeeded?,
        failed: failed?,
        mean_ms: mean_ms?,
        rate: rate?,
        protocol,
    })
}

/// 20,000 HTTP/2 requests, 10 connections of 10 streams, once with h2load and once
/// with stampede, over TLS (ALPN h2) and over h2c: both complete exactly 20,000, nginx
/// logs exactly 20,000 HTTP/2 requests for each, and the mean request times agree
/// within a factor of 5.
#[test]
fn http2_matches_h2load() {
    let _serial = serial();
    let test = "http2_matches_h2load";
    let (Some(bin), Some(openssl), Some(h2load)) = (nginx(test), openssl(test), h2load(test))
    else {
        return;
    };
    let work = tempfile::tempdir().expect("temporary directory");
    let (cert, key) = make_certificate(&openssl, work.path(), CertKey::EcP256);
    let cacert = cert.display().to_string();
    let nginx = protocol_nginx(&bin, &cert, &key);
    let tls_url = format!("https://127.0.0.1:{}/", nginx.port(TLS_H2));
    let h2c_url = format!("http://127.0.0.1:{}/", nginx.port(H2C));
    const N: u64 = 20_000;
    let n = N.to_string();

    let mut failures = Vec::new();
    for (label, url, want_protocol, extra) in [
        (
            "h2 over TLS",
            &tls_url,
            "h2",
            vec!["--cacert", cacert.as_str()],
        ),
        ("h2c", &h2c_url, "h2c", vec![]),
    ] {
        // h2load (it does not verify certificates).
        let before = nginx.access_log_lines();
        let (status, out, err) = run_bounded(
            Command::new(&h2load).args(["-n", &n, "-c", "10", "-m", "10", url.as_str()]),
            work.path(),
            Duration::from_secs(60),
        );
        let h2load_logged = nginx.access_log_lines() - before;
        let h = parse_h2load(&out).unwrap_or_else(|| {
            panic!("{label}: cannot parse h2load's output ({status}):\n{out}\n{err}")
        });

        // stampede.
        let mut args = vec!["--http2", "--streams", "10", "-c", "10", "-n", &n];
        args.extend(extra);
        let (run, log, took) = run_logged(&nginx, url, &args, GRACE);
        let ctx = run.context();
        run.assert_success();
        let requests = run.u64("/summary/requests");
        let mean = run.f64("/summary/latency_ms/mean");
        let ratio = mean / h.mean_ms;
        eprintln!(
            "{label}: h2load ({}) {} succeeded, {} failed, access.log +{h2load_logged}, \
             {:.0} req/s, mean request time {:.3} ms",
            h.protocol, h.succeeded, h.failed, h.rate, h.mean_ms
        );
        eprintln!(
            "{label}: stampede {requests} requests, {} errors, access.log +{}, {:.0} req/s \
             ({:.2} s wall), latency mean {mean:.3} ms, p50 {} ms, protocols {:?}; \
             mean ratio stampede/h2load {ratio:.2}",
            run.u64("/summary/errors"),
            log.len(),
            run.f64("/summary/achieved_rate"),
            took.as_secs_f64(),
            run.f64("/summary/latency_ms/p50"),
            protocols(&run),
        );
        let mut problems = Vec::new();
        if !status.success() || h.succeeded != N || h.failed != 0 {
            problems.push(format!(
                "h2load ({status}): {} succeeded, {} failed, want {N} and 0",
                h.succeeded, h.failed
            ));
        }
        if h.protocol != want_protocol {
            problems.push(format!(
                "h2load negotiated {:?}, want {want_protocol}",
                h.protocol
            ));
        }
        if h2load_logged != N {
            problems.push(format!(
                "nginx logged {h2load_logged} h2load requests, want {N}"
            ));
        }
        if requests != h.succeeded || requests != N {
            problems.push(format!(
                "stampede counted {requests} requests, h2load {}, want both {N}",
                h.succeeded
            ));
        }
        if run.u64("/summary/errors") != 0 || run.u64("/summary/timeouts") != 0 {
            problems.push("stampede saw errors or timeouts".to_string());
        }
        if log.len() as u64 != requests {
            problems.push(format!(
                "nginx logged {} stampede requests, stampede counted {requests}",
                log.len()
            ));
        }
        if log.iter().any(|l| l.protocol != "HTTP/2.0") {
            problems.push("nginx logged stampede requests that were not HTTP/2.0".to_string());
        }
        if protocols(&run) != vec![("h2".to_string(), 10)] {
            problems.push(format!(
                "summary.protocols {:?}, want {{\"h2\": 10}}",
                protocols(&run)
            ));
        }
        if !(0.2..=5.0).contains(&ratio) {
            problems.push(format!(
                "stampede's mean latency {mean:.3} ms vs h2load's mean request time {:.3} ms: \
                 ratio {ratio:.2}, want within 0.2..5",
                h.mean_ms
            ));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{label}: {}\nh2load output:\n{out}\n{ctx}",
                problems.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------------------------
// 3. WebSocket against Python's websockets
// ---------------------------------------------------------------------------------

/// An echo server with Python's `websockets` (works with 10.x, Debian 12, and later).
const ECHO_SERVER: &str = r#"
import asyncio
import sys

import websockets


async def echo(ws, path=None):
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def main(port):
    async with websockets.serve(echo, "127.0.0.1", port):
        print("listening on", port, flush=True)
        await asyncio.Future()


asyncio.run(main(int(sys.argv[1])))
"#;

/// A running Python echo server; killed (SIGKILL) when dropped.
struct EchoServer {
    child: Child,
    port: u16,
}

impl EchoServer {
    /// Starts the server on `port` (0: a free one), waiting until it accepts.
    fn start(python: &Path, dir: &Path, port: u16) -> EchoServer {
        let script = dir.join("echo_server.py");
        std::fs::write(&script, ECHO_SERVER).expect("writing the echo server");
        let mut last = String::new();
        for _ in 0..3 {
            let port = if port == 0 { free_port() } else { port };
            let log = dir.join(format!("echo-{port}.log"));
            let out = File::create(&log).expect("log file");
            let child = Command::new(python)
                .arg(&script)
                .arg(port.to_string())
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("log file"))
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
            let mut server = EchoServer { child, port };
            if wait_for_listener(port, Duration::from_secs(10)) {
                return server;
            }
            server.kill();
            last = std::fs::read_to_string(&log).unwrap_or_default();
        }
        panic!("the Python echo server did not listen:\n{last}");
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// 20 WebSocket clients, a message every 100 ms each, for 3 s against Python's
/// `websockets` echo server: about 600 round trips, all answered, upgrade and RTT
/// measured. Then a 4 s run in which the server is killed after 1.5 s and started
/// again at 2.5 s: the drops are counted as `ws_dropped`, the reconnect attempts in
/// between as `connect_refused`, the clients reconnect and get answers again, and the
/// run ends on time with exit code 0.
#[test]
fn websocket_against_python_echo_server() {
    let _serial = serial();
    let test = "websocket_against_python_echo_server";
    let Some(python) = python_with_websockets(test) else {
        return;
    };
    let work = tempfile::tempdir().expect("temporary directory");

    // Steady state.
    let server = EchoServer::start(&python, work.path(), 0);
    let url = format!("ws://127.0.0.1:{}/", server.port);
    let fleet = ["--clients", "20", "--every", "100ms"];
    let mut args = fleet.to_vec();
    args.extend(["-d", "3s"]);
    let run = stampede(&url, &args, Duration::from_secs(3) + GRACE);
    let ctx = run.context();
    run.assert_success();
    let requests = run.u64("/summary/requests");
    let rtt_p50 = run.f64("/summary/latency_ms/p50");
    let service_p50 = run.f64("/summary/service_time_ms/p50");
    let upgrade_p50 = run.f64("/phases_ms/upgrade/p50");
    eprintln!(
        "steady: {requests} messages, errors {}, timeouts {}, latency p50 {rtt_p50} ms, \
         rtt (service) p50 {service_p50} ms, upgrade p50 {upgrade_p50} ms, protocols {:?}",
        run.u64("/summary/errors"),
        run.u64("/summary/timeouts"),
        protocols(&run)
    );
    assert!(
        (570..=630).contains(&requests),
        "summary.requests {requests}, want about 600 (20 clients x 10/s x 3 s)\n{ctx}"
    );
    assert_eq!(run.u64("/summary/errors"), 0, "errors\n{ctx}");
    assert_eq!(run.u64("/summary/timeouts"), 0, "timeouts\n{ctx}");
    assert!(
        rtt_p50 > 0.0 && service_p50 > 0.0,
        "RTT not measured\n{ctx}"
    );
    assert!(upgrade_p50 > 0.0, "upgrade time not measured\n{ctx}");
    assert_eq!(
        protocols(&run),
        vec![("websocket".to_string(), 20)],
        "one WebSocket per client\n{ctx}"
    );

    // The server dies at 1.5 s and comes back at 2.5 s.
    let mut server = server;
    let port = server.port;
    let started = Instant::now();
    let running = Stampede::spawn(&url, &[&fleet[..], &["-d", "4s"]].concat());
    sleep(Duration::from_millis(1500));
    server.kill();
    let killed_at = started.elapsed();
    sleep(Duration::from_millis(2500).saturating_sub(started.elapsed()));
    let restarted = EchoServer::start(&python, work.path(), port);
    let restarted_at = started.elapsed();
    let run = running.wait(Duration::from_secs(4) + GRACE);
    let took = started.elapsed();
    drop(restarted);
    let ctx = run.context();
    let class = |name: &str| {
        run.json
            .pointer(&format!("/errors_by_class/{name}"))
            .and_then(|v| v.as_u64())
            .unwrap_or(0)
    };
    let (dropped, refused) = (class("ws_dropped"), class("connect_refused"));
    // Seconds 3 and later: after the restart.
    let answered_after: u64 = run.json["series"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter(|p| p["t"].as_u64().is_some_and(|t| t >= 3))
                .map(|p| {
                    let n = |k: &str| p[k].as_u64().unwrap_or(0);
                    n("requests").saturating_sub(n("errors") + n("timeouts"))
                })
                .sum()
        })
        .unwrap_or(0);
    eprintln!(
        "kill at {:.2} s, restart at {:.2} s, run took {:.2} s: requests {}, errors {}, \
         timeouts {}, errors_by_class {}, answered from 3 s on {answered_after}, protocols {:?}",
        killed_at.as_secs_f64(),
        restarted_at.as_secs_f64(),
        took.as_secs_f64(),
        run.u64("/summary/requests"),
        run.u64("/summary/errors"),
        run.u64("/summary/timeouts"),
        run.json["errors_by_class"],
        protocols(&run),
    );
    run.assert_success();
    assert!(
        took <= Duration::from_secs(4) + ON_TIME,
        "a 4 s run took {took:?}\n{ctx}"
    );
    assert!(
        dropped > 0,
        "no ws_dropped after the server was killed\n{ctx}"
    );
    assert!(
        refused > 0,
        "no connect_refused: the clients did not try to reconnect while the server was down\n{ctx}"
    );
    assert!(
        answered_after > 0,
        "no message answered after the server came back: the clients did not reconnect\n{ctx}"
    );
}

// ---------------------------------------------------------------------------------
// 4. Classified errors, never a hang
// ---------------------------------------------------------------------------------

/// Failures that never get a response: each is counted under its own class with a
/// sample message, the run ends within its duration plus [`ON_TIME`], exits 0, and
/// nothing panics.
#[test]
fn protocol_failures_are_classified() {
    let _serial = serial();
    let test = "protocol_failures_are_classified";
    let (Some(bin), Some(openssl)) = (nginx(test), openssl(test)) else {
        return;
    };
    let certs = tempfile::tempdir().expect("temporary directory");
    let (cert, key) = make_certificate(&openssl, certs.path(), CertKey::EcP256);
    let cacert = cert.display().to_string();
    let nginx = protocol_nginx(&bin, &cert, &key);
    let tls = nginx.port(TLS_H2);
    let plain = nginx.port(PLAIN);
    let connect_to = format!("127.0.0.1:{tls}");
    let closed = ["-c", "2", "-d", "2s"];
    let fleet = ["--clients", "5", "--every", "100ms", "-d", "2s"];

    // (what, URL, arguments, accepted classes)
    let cases: Vec<(&str, String, Vec<&str>, &[&str])> = vec![
        (
            "https:// to a plain-HTTP port",
            format!("https://127.0.0.1:{plain}/"),
            [&closed[..], &["--cacert", &cacert]].concat(),
            &["tls_handshake"],
        ),
        (
            "untrusted self-signed certificate (no --cacert)",
            format!("https://127.0.0.1:{tls}/"),
            closed.to_vec(),
            &["tls_certificate"],
        ),
        (
            "certificate for another name",
            format!("https://wrong.invalid:{tls}/"),
            [
                &closed[..],
                &["--cacert", &cacert, "--connect-to", &connect_to],
            ]
            .concat(),
            &["tls_hostname"],
        ),
        (
            "ws:// to a server answering 200 (no upgrade)",
            format!("ws://127.0.0.1:{plain}/"),
            fleet.to_vec(),
            &["ws_upgrade_failed"],
        ),
        (
            "--http2 to an HTTPS server without h2",
            format!("https://127.0.0.1:{}/", nginx.port(TLS_H1)),
            [&closed[..], &["--http2", "--cacert", &cacert]].concat(),
            // nginx refuses with the no_application_protocol alert (RFC 7301).
            &["alpn_mismatch"],
        ),
    ];
    let mut failures = Vec::new();
    for (what, url, args, classes) in &cases {
        let started = Instant::now();
        let run = stampede(url, args, Duration::from_secs(2) + GRACE);
        let took = started.elapsed();
        let ctx = run.context();
        let requests = run.u64("/summary/requests");
        let errors = run.u64("/summary/errors");
        let by_class = run.json["errors_by_class"].clone();
        let samples = run.json["error_samples"].clone();
        eprintln!(
            "{what}: {}, {:.2} s, requests {requests}, errors {errors}, \
             errors_by_class {by_class}, error_samples {samples}",
            run.status,
            took.as_secs_f64()
        );
        let mut problems = Vec::new();
        if run.status.code() != Some(0) {
            problems.push(format!("exit status {}, want 0", run.status));
        }
        if took > Duration::from_secs(2) + ON_TIME {
            problems.push(format!("a 2 s run took {took:?}"));
        }
        if run.stderr.contains("panicked") {
            problems.push("stampede panicked".to_string());
        }
        let class = classes
            .iter()
            .find(|c| by_class.get(**c).is_some())
            .copied();
        match class {
            None => problems.push(format!("no {classes:?} errors")),
            Some(c) => {
                let n = by_class[c].as_u64().unwrap_or(0);
                if n == 0 || n != errors || errors != requests {
                    problems.push(format!(
                        "{c} {n}, errors {errors}, requests {requests}: want every request \
                         to fail as {c}"
                    ));
                }
                if samples[c].as_str().is_none_or(str::is_empty) {
                    problems.push(format!("no error_samples.{c}"));
                }
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{what}: {}\n{ctx}", problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
