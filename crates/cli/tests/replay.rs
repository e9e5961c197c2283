//! `stampede replay` against real producers and a real server: an access log that nginx
//! wrote while stampede drove a known mix at it, replayed into a second nginx; a HAR
//! that mitmproxy's `mitmdump` recorded, replayed with its bodies and headers; and
//! broken input (malformed lines, a truncated gzip) counted and said, never a panic.
//!
//! ```sh
//! cargo test --release -p stampede --test replay
//! ```

#[allow(dead_code)] // the shared helpers of the external suites; this test uses a few
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{external_tool, find_program, nginx_binary, serial, Nginx, Stampede};

/// The access-log format of both nginx: combined, then `$request_time` and `$msec`
/// (the log time with milliseconds: the request started `$msec - $request_time`).
const TIMED: &str = r#"log_format timed '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $msec';"#;

/// The replay's speed: 6 s recorded play in 4 s, so ±2% is ±80 ms.
const SPEED: &str = "1.5";

fn timed_server(dir: &Path, ports: &[u16]) -> String {
    let d = dir.display();
    format!(
        r#"    {TIMED}
    server {{
        listen 127.0.0.1:{};
        access_log {d}/timed.log timed;
        location / {{
            return 200 "ok\n";
        }}
    }}"#,
        ports[0]
    )
}

/// The request lines and start times (epoch seconds) of a `timed` log.
fn read_timed(path: &Path) -> Vec<(String, f64)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            let request = l.split('"').nth(1).expect("a quoted request").to_string();
            let mut f = l.rsplit(' ');
            let msec: f64 = f.next().unwrap().parse().expect("$msec");
            let took: f64 = f.next().unwrap().parse().expect("$request_time");
            (request, msec - took)
        })
        .collect()
}

/// The result document follows the committed schema (`config.model: "replay"`).
fn validate(doc: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../result/schema/result.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "schema violations: {errors:#?}");
}

fn span(lines: &[(String, f64)]) -> f64 {
    let (lo, hi) = lines.iter().fold((f64::MAX, f64::MIN), |(lo, hi), (_, t)| {
        (lo.min(*t), hi.max(*t))
    });
    hi - lo
}

/// Waits until nginx's log stops growing (it writes a line after each response).
fn settled(path: &Path) -> Vec<(String, f64)> {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut last = read_timed(path).len();
    loop {
        std::thread::sleep(Duration::from_millis(150));
        let now = read_timed(path);
        if now.len() == last || Instant::now() >= deadline {
            return now;
        }
        last = now.len();
    }
}

#[test]
fn an_nginx_log_replays_into_another_nginx_with_the_same_requests_and_span() {
    let _serial = serial();
    let Some(bin) = nginx_binary("replay") else {
        return;
    };
    let recorder = Nginx::start_with(&bin, 1, &timed_server);
    // The known mix: three runs at once, 6 s each (ids in the paths).
    let mix: [(&str, &[&str]); 3] = [
        ("/users/17?tab=2", &["-r", "40", "-d", "6s"]),
        ("/items/9f86d081884c7d65", &["-r", "20", "-d", "6s"]),
        (
            "/orders",
            &["-r", "10", "-d", "6s", "-m", "POST", "--body", "x=1"],
        ),
    ];
    let runs: Vec<Stampede> = mix
        .iter()
        .map(|(path, args)| Stampede::spawn(&recorder.url(path), args))
        .collect();
    for r in runs {
        r.wait(Duration::from_secs(30)).assert_success();
    }
    let recorded = settled(&recorder.dir().join("timed.log"));
    assert!(recorded.len() >= 300, "{} lines recorded", recorded.len());
    let log = recorder.dir().join("timed.log");

    let replayer = Nginx::start_with(&bin, 1, &timed_server);
    let out = Stampede::spawn_command(
        "replay",
        &log.display().to_string(),
        &[
            "--base-url",
            &replayer.url("/"),
            "--speed",
            SPEED,
            "--group-by",
            "route",
        ],
    )
    .wait(Duration::from_secs(30));
    out.assert_success();
    validate(&out.json);
    assert_eq!(out.json["config"]["model"], "replay");
    let replayed = settled(&replayer.dir().join("timed.log"));

    let mut want: Vec<&str> = recorded.iter().map(|(r, _)| r.as_str()).collect();
    let mut got: Vec<&str> = replayed.iter().map(|(r, _)| r.as_str()).collect();
    want.sort_unstable();
    got.sort_unstable();
    assert_eq!(
        got,
        want,
        "the same multiset of request lines\n{}",
        out.context()
    );
    let (span_recorded, span_replayed) = (span(&recorded), span(&replayed));
    let speed: f64 = SPEED.parse().unwrap();
    let starts = |l: &[(String, f64)]| {
        let mut t: Vec<f64> = l.iter().map(|x| x.1).collect();
        t.sort_by(f64::total_cmp);
        let t0 = t[0];
        let o: Vec<String> = t.iter().map(|x| format!("{:.3}", x - t0)).collect();
        format!("{:?} .. {:?}", &o[..6], &o[o.len() - 4..])
    };
    eprintln!(
        "recorded {}\nreplayed {}",
        starts(&recorded),
        starts(&replayed)
    );
    assert!(
        (span_replayed - span_recorded / speed).abs() <= span_recorded / speed * 0.02,
        "span {span_replayed:.3}s, want {:.3}s ± 2%\n{}",
        span_recorded / speed,
        out.context()
    );
    // Rows per route, and the POSTs' missing bodies said with their count.
    let keys: Vec<&str> = out.json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["GET /items/:id", "GET /users/:id", "POST /orders"],
        "{}",
        out.context()
    );
    let posts = want.iter().filter(|r| r.starts_with("POST")).count();
    assert!(
        out.stderr.contains(&format!(
            "warning: {posts} POST/PUT/PATCH requests sent without a body"
        )),
        "{}",
        out.context()
    );
    // The JSON says what the replay read: records, the warning, recorded times per route.
    let doc = &out.json["replay"];
    assert_eq!(doc["records"], want.len() as u64, "{}", out.context());
    assert_eq!(doc["warnings"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["routes"].as_array().unwrap().len(), 3, "{doc}");
    let users = want.iter().filter(|r| r.starts_with("GET /users/")).count();
    assert_eq!(doc["routes"][1]["route"], "GET /users/:id", "{doc}");
    assert_eq!(doc["routes"][1]["recorded"], users as u64, "{doc}");
    // Recorded vs replayed latency per route.
    assert!(
        out.stdout.contains("orig p99") && out.stdout.contains("GET /users/:id"),
        "{}",
        out.context()
    );
    eprintln!(
        "replay: {} request lines, recorded span {span_recorded:.3}s, replayed at --speed {SPEED} in {span_replayed:.3}s",
        want.len()
    );
}

/// nginx in front of a second nginx: the front reads each request body (to proxy it)
/// and logs it, with the `X-Test` header.
fn body_logging_servers(dir: &Path, ports: &[u16]) -> String {
    let d = dir.display();
    format!(
        r#"    log_format seen escape=json '$request|$http_x_test|$request_body';
    server {{
        listen 127.0.0.1:{front};
        access_log {d}/seen.log seen;
        location / {{
            proxy_pass http://127.0.0.1:{back};
        }}
    }}
    server {{
        listen 127.0.0.1:{back};
        access_log off;
        location / {{
            return 200 "ok\n";
        }}
    }}"#,
        front = ports[0],
        back = ports[1]
    )
}

fn mitmdump(test: &str) -> Option<PathBuf> {
    let env = std::env::var("STAMPEDE_MITMDUMP").ok();
    let mut candidates: Vec<&str> = env.iter().map(String::as_str).collect();
    // `.ci/run` installs it in /opt/mitmproxy (`pip install mitmproxy` in a venv).
    candidates.extend(["/opt/mitmproxy/bin/mitmdump", "mitmdump"]);
    external_tool(
        test,
        "mitmdump",
        find_program(&candidates),
        "pip install mitmproxy",
    )
}

#[test]
fn a_har_recorded_by_mitmdump_replays_with_its_bodies_and_headers() {
    let _serial = serial();
    let Some(bin) = nginx_binary("har") else {
        return;
    };
    let Some(mitm) = mitmdump("har") else {
        return;
    };
    let nginx = Nginx::start_with(&bin, 2, &body_logging_servers);
    let dir = tempfile::tempdir().unwrap();
    let har = dir.path().join("recorded.har");
    let proxy_port = support::free_port();
    let mut proxy = Command::new(&mitm)
        .args(["--listen-host", "127.0.0.1", "-p", &proxy_port.to_string()])
        .args(["--set", &format!("hardump={}", har.display())])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("running mitmdump");
    assert!(
        support::wait_for_listener(proxy_port, Duration::from_secs(20)),
        "mitmdump did not listen"
    );
    let proxy_url = format!("http://127.0.0.1:{proxy_port}");
    let sent = [
        ("POST", "/orders", "item=7&qty=2", "har-1"),
        ("PUT", "/users/42", "name=ada", "har-2"),
        ("GET", "/items/9?x=1", "", "har-3"),
    ];
    for (method, path, body, tag) in sent {
        let mut curl = Command::new("curl");
        curl.args(["-s", "-o", "/dev/null", "-x", &proxy_url, "-X", method])
            .args(["-H", &format!("X-Test: {tag}")]);
        if !body.is_empty() {
            curl.args(["--data-binary", body]);
        }
        curl.arg(nginx.url(path));
        let (status, _, err) = support::run_bounded(&mut curl, dir.path(), Duration::from_secs(10));
        assert!(status.success(), "curl: {err}");
    }
    // A request to another host (the back server's port) that the replay skips.
    let other = format!("http://127.0.0.1:{}/elsewhere", nginx.port(1));
    let mut curl = Command::new("curl");
    curl.args(["-s", "-o", "/dev/null", "-x", &proxy_url, &other]);
    support::run_bounded(&mut curl, dir.path(), Duration::from_secs(10));
    // mitmdump writes the HAR when it shuts down (SIGINT).
    let _ = Command::new("kill")
        .args(["-INT", &proxy.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while proxy.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert!(har.is_file(), "mitmdump wrote no HAR");
    let seen_log = nginx.dir().join("seen.log");
    let recorded = std::fs::read_to_string(&seen_log).unwrap_or_default();
    assert_eq!(recorded.lines().count(), 3, "{recorded}");

    let out = Stampede::spawn_command(
        "replay",
        &har.display().to_string(),
        &["--base-url", &nginx.url("/"), "--speed", "4"],
    )
    .wait(Duration::from_secs(30));
    out.assert_success();
    std::thread::sleep(Duration::from_millis(300));
    let all = std::fs::read_to_string(&seen_log).unwrap();
    let replayed: Vec<&str> = all.lines().skip(3).collect();
    for (method, path, body, tag) in sent {
        let want = format!("{method} {path} HTTP/1.1|{tag}|{body}");
        assert!(
            replayed.contains(&want.as_str()),
            "missing {want:?} in the replay's log:\n{all}\n{}",
            out.context()
        );
    }
    assert_eq!(replayed.len(), 3, "{all}");
    assert!(
        out.stderr.contains("1 request to other hosts skipped"),
        "{}",
        out.context()
    );
    assert!(
        out.stderr
            .contains("3 HAR requests without a Cookie or Authorization header"),
        "{}",
        out.context()
    );
}

#[test]
fn malformed_lines_and_a_truncated_gzip_are_counted_and_said() {
    let _serial = serial();
    let Some(bin) = nginx_binary("malformed") else {
        return;
    };
    let nginx = Nginx::start(&bin);
    let dir = tempfile::tempdir().unwrap();
    let line = |s: u32, p: &str| {
        format!("127.0.0.1 - - [01/Jan/2024:00:00:{s:02} +0000] \"GET {p} HTTP/1.1\" 200 3 \"-\" \"t\"\n")
    };
    // Malformed lines at 2, 4 and 5; binary junk at 6.
    let mut text = line(0, "/a");
    text.push_str("this is not a log line\n");
    text.push_str(&line(0, "/b"));
    text.push_str("1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] \"-\" 400 0 \"-\" \"-\"\n");
    text.push_str("[31/Feb/2024:99:00:00 +0000] \"GET / HTTP/1.1\" 200 0\n");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"\xff\xfe\x00junk\n");
    bytes.extend_from_slice(line(1, "/c").as_bytes());
    let plain = dir.path().join("bad.log");
    std::fs::write(&plain, &bytes).unwrap();
    let html = dir.path().join("replay.html");
    let out = Stampede::spawn_command(
        "replay",
        &plain.display().to_string(),
        &[
            "--base-url",
            &nginx.url("/"),
            "--html",
            &html.display().to_string(),
        ],
    )
    .wait(Duration::from_secs(20));
    out.assert_success();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("replay at the recorded timing"),
        "the HTML report says what ran"
    );
    assert_eq!(out.json["summary"]["requests"], 3, "{}", out.context());
    assert!(
        out.stderr
            .contains("warning: 4 malformed lines skipped (line 2: no [time] field; line 4: request '-' is not METHOD /path; line 5:"),
        "{}",
        out.context()
    );
    assert!(
        out.stderr.contains("line 6: not UTF-8"),
        "{}",
        out.context()
    );

    // A gzip cut in half: what was readable is replayed, where it broke off is said.
    let mut gz = Vec::new();
    {
        let mut w = GzWriter::new(&mut gz);
        for i in 0..3000u32 {
            w.write_all(line(i % 2, &format!("/p/{i}")).as_bytes())
                .unwrap();
        }
    }
    let cut = dir.path().join("cut.log.gz");
    std::fs::write(&cut, &gz[..gz.len() / 2]).unwrap();
    let out = Stampede::spawn_command(
        "replay",
        &cut.display().to_string(),
        &["--base-url", &nginx.url("/"), "--rate", "2000"],
    )
    .wait(Duration::from_secs(20));
    out.assert_success();
    let n = out.json["summary"]["requests"].as_u64().unwrap();
    assert!(n > 0 && n < 3000, "{n}\n{}", out.context());
    assert!(
        out.stderr.contains("the input ended early after line"),
        "{}",
        out.context()
    );
}

/// gzip through the system's `gzip` (the test crate does not link flate2).
struct GzWriter<'a> {
    out: &'a mut Vec<u8>,
    text: Vec<u8>,
}

impl<'a> GzWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        GzWriter {
            out,
            text: Vec::new(),
        }
    }
}

impl Write for GzWriter<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for GzWriter<'_> {
    fn drop(&mut self) {
        let mut child = Command::new("gzip")
            .arg("-c")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("gzip");
        child.stdin.take().unwrap().write_all(&self.text).unwrap();
        let out = child.wait_with_output().unwrap();
        *self.out = out.stdout;
    }
}

/// Never flood: replayed into a service that closes every connection before answering,
/// 50 recorded requests over 5 log seconds stay 50 requests (each an error), paced as
/// recorded, and the service itself counts no more connections than requests: no
/// reconnect loop, no retry.
#[test]
fn a_replay_into_a_failing_service_keeps_its_pacing() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let mut f = std::fs::File::create(&log).unwrap();
    for i in 0..50 {
        writeln!(
            f,
            "127.0.0.1 - - [29/Nov/2026:10:00:0{} +0000] \"GET /item/{i} HTTP/1.1\" 200 12 \"-\" \"curl\"",
            i / 10
        )
        .unwrap();
    }
    drop(f);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let accepted = std::sync::Arc::new(AtomicU64::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::Relaxed);
            drop(conn);
        }
    });
    let started = Instant::now();
    let run = Stampede::spawn_command("replay", log.to_str().unwrap(), &["--base-url", &base])
        .wait(Duration::from_secs(30));
    let took = started.elapsed();
    let s = &run.json["summary"];
    assert_eq!(s["requests"], 50, "{}", run.context());
    assert_eq!(s["errors"], 50, "{}", run.context());
    // The log spans 4 s (seconds 0..=4, the last second's requests spread over it).
    assert!(
        took >= Duration::from_secs(4),
        "{took:?}: not paced\n{}",
        run.context()
    );
    assert!(
        accepted.load(Ordering::Relaxed) <= 50,
        "{} connections for 50 requests",
        accepted.load(Ordering::Relaxed)
    );
}
