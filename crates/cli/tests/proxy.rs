//! `stampede proxy` against real clients and servers: the unmodified Toxiproxy clients
//! (Python `toxiproxy-python`, Node `toxiproxy-node-client`) drive its API in front of a
//! real nginx, and stampede runs through it; each toxic's effect is measured from outside.
//!
//! Needs nginx, a `python3` that can `import toxiproxy` and `node` with the Node client in
//! the target directory (`.ci/run` installs all three); `STAMPEDE_SKIP_EXTERNAL=1` skips
//! a test whose tool is missing. About 30 s in all, 10 s of it the bandwidth test.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::proxy::{api, node_modules, ProxyDaemon};
use support::{external_tool, find_program, nginx_binary, run_bounded, serial, stampede, Nginx};

/// Slack on top of a run's own length before the run counts as hung.
const GRACE: Duration = Duration::from_secs(30);

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/proxy_clients")
}

/// Runs a client script; its stdout's last line.
fn client(cmd: &mut Command) -> String {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (status, out, err) = run_bounded(cmd, dir.path(), Duration::from_secs(30));
    assert!(status.success(), "{cmd:?} failed ({status}):\n{out}\n{err}");
    out.lines().last().unwrap_or_default().trim().to_string()
}

/// p50 of a 2 s closed-model run (4 connections) through `addr`.
fn p50_through(addr: &str) -> f64 {
    let run = stampede(&format!("http://{addr}/"), &["-c", "4", "-d", "2s"], GRACE);
    run.assert_success();
    assert!(run.u64("/summary/requests") > 20, "{}", run.context());
    run.f64("/summary/latency_ms/p50")
}

/// A client creates a proxy to nginx and adds a 100 ms latency toxic: p50 in [100, 115)
/// ms; removing the toxic brings it back under 20 ms.
fn latency_through_client(test: &str, run_client: &dyn Fn(&[&str]) -> String) {
    let _serial = serial();
    let Some(bin) = nginx_binary(test) else {
        return;
    };
    let nginx = Nginx::start(&bin);
    let daemon = ProxyDaemon::start(&["--api", "127.0.0.1:0"]);
    let api_addr = daemon.api();
    let upstream = format!("127.0.0.1:{}", nginx.port(0));
    let listen = run_client(&[&api_addr, "create", "web", &upstream]);
    assert!(listen.starts_with("127.0.0.1:"), "listen address: {listen}");
    let before = p50_through(&listen);
    run_client(&[&api_addr, "latency", "web", "100"]);
    let (_, toxics) = api(&api_addr, "GET", "/proxies/web/toxics", "");
    assert_eq!(toxics[0]["attributes"]["latency"], 100, "{toxics}");
    let with = p50_through(&listen);
    run_client(&[&api_addr, "remove", "web", "latency_downstream"]);
    let after = p50_through(&listen);
    eprintln!(
        "{test}: p50 before {before} ms, with 100 ms latency {with} ms, after removal {after} ms"
    );
    assert!(
        (100.0..115.0).contains(&with),
        "p50 with a 100 ms toxic: {with} ms (before {before} ms)"
    );
    assert!(after < 20.0, "p50 after removing the toxic: {after} ms");
    assert!(nginx.access_log_lines() > 60, "the runs reached nginx");
}

#[test]
fn python_client_drives_the_api() {
    let test = "python_client_drives_the_api";
    let python = [
        find_program(&["python3"]),
        Some(PathBuf::from("/usr/bin/python3")),
    ]
    .into_iter()
    .flatten()
    .find(|p| {
        Command::new(p)
            .args(["-c", "import toxiproxy"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(python) = external_tool(
        test,
        "python3 with toxiproxy-python",
        python,
        "`python3 -m pip install toxiproxy-python`",
    ) else {
        return;
    };
    let script = clients_dir().join("toxiproxy_python.py");
    latency_through_client(test, &|args| {
        client(Command::new(&python).arg(&script).args(args))
    });
}

#[test]
fn node_client_drives_the_api() {
    let test = "node_client_drives_the_api";
    let modules = node_modules();
    let node = find_program(&["node", "nodejs"])
        .filter(|_| modules.join("toxiproxy-node-client").is_dir());
    let Some(node) = external_tool(
        test,
        &format!("node with toxiproxy-node-client in {}", modules.display()),
        node,
        "`npm install --prefix TARGET/npm-toxiproxy toxiproxy-node-client@4`",
    ) else {
        return;
    };
    let script = clients_dir().join("toxiproxy_node.js");
    latency_through_client(test, &|args| {
        client(
            Command::new(&node)
                .env("NODE_PATH", &modules)
                .arg(&script)
                .args(args),
        )
    });
}

/// A standalone proxy to nginx with the given toxics.
fn standalone(nginx: &Nginx, toxics: &[&str]) -> ProxyDaemon {
    let upstream = format!("127.0.0.1:{}", nginx.port(0));
    let mut args = vec!["--listen", "127.0.0.1:0", "--upstream", &upstream];
    for t in toxics {
        args.extend(["--toxic", t]);
    }
    ProxyDaemon::start(&args)
}

#[test]
fn reset_peer_gives_reset_errors() {
    let _serial = serial();
    let Some(bin) = nginx_binary("reset_peer_gives_reset_errors") else {
        return;
    };
    let nginx = Nginx::start(&bin);
    let proxy = standalone(&nginx, &["reset_peer=0s,stream=upstream"]);
    let run = stampede(
        &format!("http://{}/", proxy.listen()),
        &["--rate", "50", "-d", "2s"],
        GRACE,
    );
    let resets = run.json["errors_by_class"]["reset"].as_u64().unwrap_or(0);
    assert!(resets > 50, "{}", run.context());
    assert_eq!(run.u64("/summary/errors"), run.u64("/summary/requests"));
    assert_eq!(nginx.access_log_lines(), 0, "upstream data is swallowed");
}

#[test]
fn timeout_gives_timeouts_and_the_run_ends_on_time() {
    let _serial = serial();
    let Some(bin) = nginx_binary("timeout_gives_timeouts_and_the_run_ends_on_time") else {
        return;
    };
    let nginx = Nginx::start(&bin);
    // timeout 0: data is held forever, as Toxiproxy does
    let proxy = standalone(&nginx, &["timeout=0s"]);
    let started = Instant::now();
    let run = stampede(
        &format!("http://{}/", proxy.listen()),
        &["--rate", "20", "-d", "2s", "--timeout", "500ms"],
        GRACE,
    );
    let took = started.elapsed();
    assert!(run.u64("/summary/timeouts") >= 20, "{}", run.context());
    assert_eq!(
        run.json["status_codes"].as_object().map(|m| m.len()),
        Some(0),
        "{}",
        run.context()
    );
    // 2 s of load, then at most the 500 ms request timeout to drain, plus process start-up
    assert!(took < Duration::from_secs(5), "the run took {took:?}");
    assert!(
        nginx.access_log_lines() >= 20,
        "requests reached nginx, answers were held"
    );
}

#[test]
fn bandwidth_paces_a_megabyte_at_100kb_per_second() {
    let _serial = serial();
    let Some(bin) = nginx_binary("bandwidth_paces_a_megabyte_at_100kb_per_second") else {
        return;
    };
    let nginx = Nginx::start_with(&bin, 1, &|dir, ports| {
        std::fs::write(dir.join("mb.bin"), vec![b'x'; 1_000_000]).expect("writing 1 MB");
        format!(
            "    server {{\n        listen 127.0.0.1:{};\n        root {};\n    }}",
            ports[0],
            dir.display()
        )
    });
    let proxy = standalone(&nginx, &["bandwidth=100KB"]);
    let run = stampede(
        &format!("http://{}/mb.bin", proxy.listen()),
        &["-n", "1", "-c", "1", "--timeout", "30s"],
        GRACE,
    );
    run.assert_success();
    assert_eq!(run.json["status_codes"]["200"], 1, "{}", run.context());
    let ms = run.f64("/summary/latency_ms/max");
    eprintln!("1 MB through bandwidth=100KB: {ms} ms");
    assert!(
        (9_000.0..11_000.0).contains(&ms),
        "1 MB at 100 KB/s took {ms} ms"
    );
}

/// Sends one HTTP/1.0 request through `addr`: the bytes received until the proxy closed.
fn fetch_raw(addr: &str, path: &str) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).expect("connecting to the proxy");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut got = Vec::new();
    // an error (a reset) ends the read too; what arrived before it counts
    let _ = s.read_to_end(&mut got);
    (got, started.elapsed())
}

#[test]
fn limit_data_closes_after_the_bytes() {
    let _serial = serial();
    let Some(bin) = nginx_binary("limit_data_closes_after_the_bytes") else {
        return;
    };
    let nginx = Nginx::start(&bin);
    let full = fetch_raw(&format!("127.0.0.1:{}", nginx.port(0)), "/").0;
    assert!(full.len() > 100, "nginx's answer is longer than the limit");
    let proxy = standalone(&nginx, &["limit_data=100B"]);
    let (got, took) = fetch_raw(&proxy.listen(), "/");
    assert_eq!(got.len(), 100, "{}", String::from_utf8_lossy(&got));
    assert_eq!(got[..], full[..100]);
    assert!(
        took < Duration::from_secs(5),
        "closed at once, not by a timeout"
    );
}

#[test]
fn toxicity_half_affects_about_half_the_connections() {
    let _serial = serial();
    let Some(bin) = nginx_binary("toxicity_half_affects_about_half_the_connections") else {
        return;
    };
    let nginx = Nginx::start(&bin);
    let proxy = standalone(&nginx, &["latency=100ms,toxicity=0.5"]);
    let addr = proxy.listen();
    const CONNECTIONS: usize = 240;
    const THREADS: usize = 8;
    let delayed: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    (0..CONNECTIONS / THREADS)
                        .filter(|_| {
                            let (got, took) = fetch_raw(&addr, "/");
                            assert!(got.starts_with(b"HTTP/1.1 200"), "{got:?}");
                            took >= Duration::from_millis(80)
                        })
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    eprintln!("toxicity 0.5: {delayed} of {CONNECTIONS} connections delayed");
    // Binomial(240, 0.5): mean 120, sd 7.7; 4 sd either side fails 1 run in ~16,000.
    assert!(
        (89..=151).contains(&delayed),
        "{delayed} of {CONNECTIONS} connections delayed with toxicity 0.5"
    );
}

#[test]
fn bad_api_input_is_refused_over_http_and_running_proxies_keep_working() {
    let _serial = serial();
    let Some(bin) = nginx_binary("bad_api_input_is_refused_over_http") else {
        return;
    };
    let nginx = Nginx::start(&bin);
    // the standalone form with --api as well: both in one process
    let upstream = format!("127.0.0.1:{}", nginx.port(0));
    let daemon = ProxyDaemon::start(&[
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream,
        "--api",
        "127.0.0.1:0",
    ]);
    let a = daemon.api();
    let listen = daemon.listen();
    let before = api(&a, "GET", "/proxies", "").1;
    assert_eq!(before["standalone"]["listen"], listen.as_str());
    for (method, path, body, status, needle) in [
        (
            "POST",
            "/proxies/standalone/toxics",
            r#"{"type":"packet_loss"}"#,
            400,
            "invalid toxic type",
        ),
        (
            "POST",
            "/proxies/standalone/toxics",
            r#"{"type":"latency","attributes":{"latency":-100}}"#,
            400,
            "must be a whole number >= 0",
        ),
        (
            "POST",
            "/proxies/standalone/toxics",
            r#"{"type":"latency","#,
            400,
            "bad request body",
        ),
        (
            "POST",
            "/proxies",
            &format!(r#"{{"name":"clash","listen":"{listen}","upstream":"{upstream}"}}"#),
            409,
            "Address already in use",
        ),
        (
            "POST",
            "/proxies/nope/toxics",
            r#"{"type":"latency"}"#,
            404,
            "proxy not found",
        ),
    ] {
        let (got, json) = api(&a, method, path, body);
        assert_eq!(got, status, "{path} {body}: {json}");
        assert_eq!(json["status"], status, "{json}");
        let msg = json["error"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{path} {body}: {msg}");
    }
    assert_eq!(api(&a, "GET", "/proxies", "").1, before);
    let (got, _) = fetch_raw(&listen, "/");
    assert!(got.starts_with(b"HTTP/1.1 200"), "the proxy still forwards");
}
