//! Scenario files end to end (issue #4): the `stampede` binary runs journeys from a TOML
//! file against the built-in target and against a small recording HTTP/1.1 server defined
//! here, which keeps every request it receives (connection, request line, headers, body,
//! arrival time) so a test can check what each virtual user actually sent.
//!
//! Every run targets 127.0.0.1 and lasts at most a few seconds; bounds are generous so the
//! tests hold on a loaded machine.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use stampede_testserver::{TargetConfig, TargetHandle};

/// A run still going after this long is killed and the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(90);

fn target() -> TargetHandle {
    TargetHandle::start(TargetConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)))).unwrap()
}

fn base(t: &TargetHandle) -> String {
    format!("http://{}", t.addrs()[0])
}

// ---------------------------------------------------------------------------------------
// Running the binary

/// One finished `stampede run`.
struct Run {
    code: Option<i32>,
    /// `result.json`, or `Null` when none was written.
    doc: Value,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    fn group(&self, key: &str) -> Option<&Value> {
        self.doc["groups"]
            .as_array()?
            .iter()
            .find(|g| g["key"] == key)
    }

    /// The requests of a step's row; 0 when the row is absent.
    fn requests(&self, key: &str) -> u64 {
        self.group(key)
            .map_or(0, |g| g["requests"].as_u64().unwrap())
    }

    fn expect_group(&self, key: &str) -> &Value {
        self.group(key).unwrap_or_else(|| {
            panic!(
                "no group {key:?} in {:?}\n{}",
                self.keys(),
                self.diagnostics()
            )
        })
    }

    fn keys(&self) -> Vec<String> {
        self.doc["groups"]
            .as_array()
            .map(|gs| {
                gs.iter()
                    .map(|g| g["key"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn diagnostics(&self) -> String {
        format!(
            "exit {:?} after {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.took, self.stdout, self.stderr
        )
    }

    fn assert_exit(&self, code: i32) {
        assert_eq!(self.code, Some(code), "{}", self.diagnostics());
    }
}

/// Writes `scenario` as `scenario.toml` (and `files` beside it) into a temporary
/// directory, runs `stampede run scenario.toml -q -o result.json ARGS`, and reads the
/// result.
fn run(scenario: &str, files: &[(&str, &str)], args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scenario.toml");
    std::fs::write(&file, scenario).unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let out = dir.path().join("result.json");
    let (stdout, stderr) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stampede"))
        .arg("run")
        .arg(&file)
        .args(["-q", "-o"])
        .arg(&out)
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout).unwrap())
        .stderr(File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > RUN_LIMIT {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!(
                "stampede run still going after {RUN_LIMIT:?}; stderr:\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    let doc = match std::fs::read_to_string(&out) {
        Ok(text) => serde_json::from_str(&text).unwrap(),
        Err(_) => Value::Null,
    };
    if !doc.is_null() {
        validate(&doc);
    }
    Run {
        code: status.code(),
        doc,
        stdout: std::fs::read_to_string(&stdout).unwrap(),
        stderr: std::fs::read_to_string(&stderr).unwrap(),
        took,
    }
}

fn validate(doc: &Value) {
    let schema: Value =
        serde_json::from_str(include_str!("../../result/schema/result.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "schema violations: {errors:#?}");
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// A recording HTTP/1.1 server

/// One request as the recording server received it.
#[derive(Debug, Clone)]
struct Seen {
    /// Which accepted connection it came on (0, 1, 2, ...).
    conn: usize,
    method: String,
    /// The request target: path and query.
    target: String,
    /// Header names lower-cased, in arrival order.
    headers: Vec<(String, String)>,
    body: String,
    /// When its request line arrived.
    at: Instant,
    /// The `sid` this server set on the response, if it set one.
    set_sid: Option<String>,
    /// The body it answered with.
    answer: String,
}

impl Seen {
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap()
    }

    fn param(&self, key: &str) -> Option<&str> {
        let (_, query) = self.target.split_once('?')?;
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.header("cookie")?
            .split(';')
            .filter_map(|c| c.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

/// An HTTP/1.1 server on 127.0.0.1:0 answering `200 ok` (keep-alive) to everything and
/// recording each request. With `sessions`, a request without a `sid` cookie gets
/// `Set-Cookie: sid=<new number>; Path=/`, and `/logout` expires the cookie. `/flaky`
/// answers `id=N` (N counting its requests) and takes 700 ms on every second one.
struct Recorder {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    fn start(sessions: bool) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let sids = Arc::new(AtomicUsize::new(0));
        let flaky = Arc::new(AtomicUsize::new(0));
        // The accept thread lives as long as the test process; each connection's thread
        // ends when the client closes it.
        std::thread::spawn(move || {
            for (conn, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { continue };
                let (log, sids, flaky) = (log.clone(), sids.clone(), flaky.clone());
                std::thread::spawn(move || serve(conn, stream, &log, &sids, &flaky, sessions));
            }
        });
        Recorder { addr, seen }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(
    conn: usize,
    stream: TcpStream,
    log: &Mutex<Vec<Seen>>,
    sids: &AtomicUsize,
    flaky: &AtomicUsize,
    sessions: bool,
) {
    let _ = stream.set_nodelay(true);
    let mut out = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let at = Instant::now();
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split(' ');
        let method = parts.next().unwrap_or_default().to_string();
        let target = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            match reader.read_line(&mut h) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let mut seen = Seen {
            conn,
            method,
            target,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            at,
            set_sid: None,
            answer: "ok\n".into(),
        };
        let mut extra = String::new();
        if sessions && seen.path() == "/logout" {
            // How Express's `clearCookie` (and many others) end a session: no Max-Age.
            extra = "Set-Cookie: sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT\r\n".into();
        } else if sessions && seen.cookie("sid").is_none() {
            let sid = (sids.fetch_add(1, Ordering::Relaxed) + 1).to_string();
            extra = format!("Set-Cookie: sid={sid}; Path=/\r\n");
            seen.set_sid = Some(sid);
        }
        let mut late = false;
        if seen.path() == "/flaky" {
            // Every second request answers too late for a 200 ms timeout.
            let n = flaky.fetch_add(1, Ordering::Relaxed) + 1;
            seen.answer = format!("id={n}");
            late = n.is_multiple_of(2);
        }
        let body = seen.answer.clone();
        log.lock().unwrap().push(seen);
        if late {
            std::thread::sleep(Duration::from_millis(700));
        }
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{extra}\r\n{body}",
            body.len()
        );
        if out.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------
// 1. Extraction feeds later steps

const SIGNUP: &str = r#"
[target]
base_url = "BASE"

[load]
vus = 2
duration = "1s"

[[scenarios]]
name = "signup"

  [[scenarios.steps]]
  name = "sign up"
  method = "POST"
  url = "/signup"
  headers = { content-type = "application/json" }
  body = '{"email": "{{ rand_email() }}", "name": "{{ rand_string(8) }}"}'
  extract = { token = { json = "$.token" }, uid = { json = "$.user_id" }, code = { json = "CODE_PATH" } }
  checks = { status = 201 }

  [[scenarios.steps]]
  name = "verify"
  method = "POST"
  url = "/verify"
  headers = { authorization = "Bearer {{ token }}", content-type = "application/json" }
  body = '{"user_id": {{ uid }}, "code": "{{ code }}"}'
  checks = { status = 200, json = { "$.verified" = true } }

  [[scenarios.steps]]
  name = "me"
  url = "/me"
  headers = { authorization = "Bearer {{ token }}" }
  checks = { status = 200, body_contains = "user_id" }
"#;

#[test]
fn extracted_token_user_id_and_code_feed_later_steps() {
    let t = target();
    let scenario = SIGNUP
        .replace("BASE", &base(&t))
        .replace("CODE_PATH", "$.verify_code");
    let r = run(&scenario, &[], &[]);
    r.assert_exit(0);
    let signup = r.requests("signup / sign up");
    assert!(signup >= 5, "{}", r.diagnostics());
    for key in ["signup / sign up", "signup / verify", "signup / me"] {
        let g = r.expect_group(key);
        assert_eq!(count(&g["errors"]), 0, "{key}: {g}");
        assert_eq!(count(&g["timeouts"]), 0, "{key}: {g}");
        let codes = g["status_codes"].as_object().unwrap();
        assert!(codes.keys().all(|c| c.starts_with('2')), "{key}: {g}");
        // A journey cut by the end of the run stops between steps: at most one per user.
        let n = count(&g["requests"]);
        assert!(
            n <= signup && n + 2 >= signup,
            "{key}: {n} vs {signup} sign-ups"
        );
    }
    assert_eq!(count(&r.doc["summary"]["errors"]), 0, "{}", r.diagnostics());
    assert_eq!(r.doc["errors_by_class"], serde_json::json!({}));
}

/// Issue 12 item 9: an extraction that fails on a 5xx response counts as `http_5xx` (the
/// status already made it an error), so its sample is listed under `http_5xx`; there was
/// an `extract_failed` sample with no `extract_failed` count, and no `http_5xx` sample.
#[test]
fn error_samples_name_exactly_the_classes_counted() {
    let t = target();
    let scenario = format!(
        r#"
[target]
base_url = "{}"

[load]
vus = 1
duration = "5s"

[[scenarios]]
name = "s"

  [[scenarios.steps]]
  name = "failing"
  url = "/?status=503"
  extract = {{ token = {{ json = "$.token" }} }}
"#,
        base(&t)
    );
    // A failed extraction ends the iteration at once: -n bounds the loop.
    let r = run(&scenario, &[], &["-n", "20"]);
    let by_class = r.doc["errors_by_class"].as_object().unwrap();
    let samples = r.doc["error_samples"].as_object().unwrap();
    assert!(count(&by_class["http_5xx"]) > 0, "{}", r.diagnostics());
    let counted: BTreeSet<&String> = by_class.keys().collect();
    let sampled: BTreeSet<&String> = samples.keys().collect();
    assert_eq!(counted, sampled, "{}", r.diagnostics());
    let sample = samples["http_5xx"].as_str().unwrap();
    assert!(sample.contains("503"), "{sample}");
}

#[test]
fn an_extraction_that_finds_nothing_ends_the_journey() {
    let t = target();
    // Valid JSONPath, but the answer has no such member.
    let scenario = SIGNUP
        .replace("BASE", &base(&t))
        .replace("CODE_PATH", "$.verification");
    let r = run(&scenario, &[], &[]);
    r.assert_exit(0);
    let g = r.expect_group("signup / sign up");
    let n = count(&g["requests"]);
    assert!(n >= 5, "{}", r.diagnostics());
    assert_eq!(count(&g["errors"]), n, "{g}");
    assert_eq!(count(&g["errors_by_class"]["extract_failed"]), n, "{g}");
    assert_eq!(count(&r.doc["errors_by_class"]["extract_failed"]), n);
    let sample = r.doc["error_samples"]["extract_failed"].as_str().unwrap();
    assert!(
        sample.contains("signup / sign up") && sample.contains("code"),
        "{sample}"
    );
    assert_eq!(r.requests("signup / verify"), 0, "{}", r.diagnostics());
    assert_eq!(r.requests("signup / me"), 0, "{}", r.diagnostics());
}

#[test]
fn regex_header_and_status_extraction_feed_a_second_target() {
    let t = target();
    let rec = Recorder::start(false);
    let scenario = format!(
        r#"
[targets.api]
base_url = "{}"

[targets.rec]
base_url = "{}/base"

[load]
vus = 1
duration = "10s"

[[scenarios]]
name = "x"
  [[scenarios.steps]]
  name = "sign up"
  target = "api"
  method = "POST"
  url = "/signup"
  body = '{{"email": "a@example.test"}}'
  extract = {{ tok = {{ regex = '"token":\s*"([^"]+)"', group = 1 }}, who = {{ header = "x-served-by" }}, st = {{ status = true }} }}
  [[scenarios.steps]]
  name = "report"
  target = "rec"
  url = "/got?tok={{{{ tok | url }}}}&who={{{{ who }}}}&st={{{{ st }}}}"
"#,
        base(&t),
        rec.base()
    );
    let r = run(&scenario, &[], &["-n", "4"]);
    r.assert_exit(0);
    let seen = rec.seen();
    assert_eq!(seen.len(), 2, "{}", r.diagnostics());
    for s in &seen {
        assert_eq!(s.path(), "/base/got", "{s:?}");
        let tok = s.param("tok").unwrap();
        let (id, mac) = tok.split_once('.').unwrap_or_else(|| panic!("{tok}"));
        assert!(id.parse::<u64>().is_ok() && mac.len() == 16, "{tok}");
        assert_eq!(s.param("who"), Some("target-1"));
        assert_eq!(s.param("st"), Some("201"));
    }
    assert_ne!(seen[0].param("tok"), seen[1].param("tok"));
    assert_eq!(count(&r.doc["summary"]["errors"]), 0, "{}", r.diagnostics());
}

#[test]
fn counter_and_iteration_run_on_through_a_repeated_group() {
    let rec = Recorder::start(false);
    let scenario = format!(
        r#"
[target]
base_url = "{}"

[load]
vus = 1
duration = "10s"

[[scenarios]]
name = "g"
  [[scenarios.steps]]
  name = "browse"
  repeat = 3
  steps = [{{ name = "page", url = "/page?n={{{{ counter() }}}}&it={{{{ iteration() }}}}" }}]
"#,
        rec.base()
    );
    let r = run(&scenario, &[], &["-n", "6"]);
    r.assert_exit(0);
    let got: Vec<(String, String)> = rec
        .seen()
        .iter()
        .map(|s| {
            let p = |k| s.param(k).unwrap().to_string();
            (p("n"), p("it"))
        })
        .collect();
    let want: Vec<(String, String)> = [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2), (6, 2)]
        .iter()
        .map(|(n, it)| (n.to_string(), it.to_string()))
        .collect();
    assert_eq!(got, want, "{}", r.diagnostics());
    assert_eq!(r.requests("g / page"), 6);
}

#[test]
fn scenario_weights_split_the_virtual_users() {
    let rec = Recorder::start(false);
    let scenario = format!(
        r#"
[target]
base_url = "{}"

[load]
vus = 4
duration = "1s"

[[scenarios]]
name = "many"
weight = 3
  [[scenarios.steps]]
  url = "/many?vu={{{{ vu() }}}}"

[[scenarios]]
name = "few"
  [[scenarios.steps]]
  url = "/few?vu={{{{ vu() }}}}"
"#,
        rec.base()
    );
    let r = run(&scenario, &[], &[]);
    r.assert_exit(0);
    let seen = rec.seen();
    let users = |path: &str| -> BTreeSet<String> {
        seen.iter()
            .filter(|s| s.path() == path)
            .map(|s| s.param("vu").unwrap().to_string())
            .collect()
    };
    assert_eq!(users("/many").len(), 3, "{}", r.diagnostics());
    assert_eq!(users("/few").len(), 1, "{}", r.diagnostics());
}

#[test]
fn a_failed_request_does_not_leave_stale_values_for_later_steps() {
    let rec = Recorder::start(false);
    let scenario = format!(
        r#"
[target]
base_url = "{}"

[load]
vus = 1
duration = "3s"
timeout = "200ms"

[[scenarios]]
name = "f"
  [[scenarios.steps]]
  name = "get id"
  url = "/flaky"
  extract = {{ id = {{ regex = 'id=(\d+)', group = 1 }} }}
  [[scenarios.steps]]
  name = "use id"
  url = "/use?id={{{{ id }}}}"
"#,
        rec.base()
    );
    let r = run(&scenario, &[], &[]);
    r.assert_exit(0);
    let mut seen = rec.seen();
    seen.sort_by_key(|s| s.at);
    let ids: Vec<&str> = seen.iter().filter_map(|s| s.param("id")).collect();
    assert!(ids.len() >= 3, "{}", r.diagnostics());
    // Each /use carries the id of the /flaky answer just before it, which came in time
    // (an odd one); a timed-out /flaky extracts nothing, so no /use follows it.
    for (i, s) in seen.iter().enumerate().filter(|(_, s)| s.path() == "/use") {
        let before = &seen[i - 1];
        assert_eq!(before.path(), "/flaky", "{:?}", &seen[..=i]);
        let id = s.param("id").unwrap();
        assert_eq!(
            before.answer,
            format!("id={id}"),
            "/use sent with a stale id after a timeout: {:?}",
            &seen[..=i]
        );
    }
    let g = r.expect_group("f / get id");
    assert!(count(&g["timeouts"]) >= 1, "{g}");
    assert_eq!(count(&r.expect_group("f / use id")["errors"]), 0);
}

// ---------------------------------------------------------------------------------------
// 2. Feeders

const USERS: &str = "name,id\nalice,1\nbob,2\ncarol,3\n";
const FIVE: &str = "name,id\nalice,1\nbob,2\ncarol,3\ndave,4\nerin,5\n";

fn feeder_scenario(base: &str, mode: &str, load: &str) -> String {
    format!(
        r#"
[target]
base_url = "{base}"

[load]
{load}

[feeders.users]
file = "users.csv"
mode = "{mode}"

[[scenarios]]
name = "f"
  [[scenarios.steps]]
  name = "get"
  method = "POST"
  url = "/row?vu={{{{ vu() }}}}&name={{{{ users.name }}}}&id={{{{ users.id }}}}"
  body = '{{"user": "{{{{ users.name }}}}"}}'
"#
    )
}

#[test]
fn sequential_feeder_hands_out_rows_in_file_order_and_wraps_around() {
    let rec = Recorder::start(false);
    // The request limit ends the run long before the duration.
    let scenario = feeder_scenario(&rec.base(), "sequential", "vus = 1\nduration = \"30s\"");
    let r = run(&scenario, &[("users.csv", USERS)], &["-n", "7"]);
    r.assert_exit(0);
    let names: Vec<String> = rec
        .seen()
        .iter()
        .map(|s| s.param("name").unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        ["alice", "bob", "carol", "alice", "bob", "carol", "alice"],
        "{}",
        r.diagnostics()
    );
    assert_eq!(r.requests("f / get"), 7);
    assert!(
        r.took < Duration::from_secs(20),
        "the run should end when the 7 requests are sent, not at the 30 s duration: {}",
        r.diagnostics()
    );
}

#[test]
fn unique_feeder_gives_each_user_its_own_row() {
    let rec = Recorder::start(false);
    let scenario = feeder_scenario(&rec.base(), "unique", "vus = 4\nduration = \"1s\"");
    let r = run(&scenario, &[("users.csv", FIVE)], &["--threads", "2"]);
    r.assert_exit(0);
    let mut rows: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut per_vu: BTreeMap<String, usize> = BTreeMap::new();
    for s in rec.seen() {
        let body = format!(r#"{{"user": "{}"}}"#, s.param("name").unwrap());
        assert_eq!(s.body, body, "{s:?}");
        let vu = s.param("vu").unwrap().to_string();
        rows.entry(vu.clone())
            .or_default()
            .insert(s.param("id").unwrap().to_string());
        *per_vu.entry(vu).or_default() += 1;
    }
    assert_eq!(rows.len(), 4, "{rows:?}\n{}", r.diagnostics());
    for (vu, ids) in &rows {
        assert_eq!(ids.len(), 1, "user {vu} got several rows: {ids:?}");
        assert!(per_vu[vu] >= 2, "user {vu} sent {} requests", per_vu[vu]);
    }
    let distinct: BTreeSet<&String> = rows.values().flatten().collect();
    assert_eq!(distinct.len(), 4, "rows shared between users: {rows:?}");
    assert!(r.doc["errors_by_class"].get("feeder_exhausted").is_none());
}

#[test]
fn unique_feeder_with_more_users_than_rows_counts_the_exhausted_ones() {
    let rec = Recorder::start(false);
    let scenario = feeder_scenario(&rec.base(), "unique", "vus = 5\nduration = \"2s\"");
    let r = run(&scenario, &[("users.csv", USERS)], &["--threads", "2"]);
    r.assert_exit(0);
    assert_eq!(
        count(&r.doc["errors_by_class"]["feeder_exhausted"]),
        2,
        "{}",
        r.diagnostics()
    );
    assert!(r.doc["error_samples"]["feeder_exhausted"].is_string());
    let seen = rec.seen();
    let vus: BTreeSet<&str> = seen.iter().map(|s| s.param("vu").unwrap()).collect();
    let ids: BTreeSet<&str> = seen.iter().map(|s| s.param("id").unwrap()).collect();
    assert_eq!(vus.len(), 3, "{vus:?}");
    assert_eq!(ids.len(), 3, "{ids:?}");
    let elapsed = r.doc["summary"]["elapsed_s"].as_f64().unwrap();
    assert!(elapsed < 6.0, "elapsed {elapsed} s for a 2 s run");
    assert!(r.took < Duration::from_secs(30), "{}", r.diagnostics());
}

#[test]
fn random_feeder_covers_the_rows() {
    let rec = Recorder::start(false);
    let scenario = feeder_scenario(&rec.base(), "random", "vus = 1\nduration = \"30s\"");
    let r = run(&scenario, &[("users.csv", FIVE)], &["-n", "200"]);
    r.assert_exit(0);
    let seen = rec.seen();
    assert_eq!(seen.len(), 200, "{}", r.diagnostics());
    let mut hits: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &seen {
        *hits.entry(s.param("name").unwrap()).or_default() += 1;
    }
    assert_eq!(hits.len(), 5, "{hits:?}");
    // 40 expected per row; 10 is more than five standard deviations below.
    assert!(hits.values().all(|&n| n >= 10), "{hits:?}");
    let order: Vec<&str> = seen.iter().map(|s| s.param("name").unwrap()).collect();
    let cyclic: Vec<&str> = ["alice", "bob", "carol", "dave", "erin"]
        .iter()
        .cycle()
        .take(200)
        .copied()
        .collect();
    assert_ne!(order, cyclic, "random mode handed rows out in file order");
}

// ---------------------------------------------------------------------------------------
// 3. Cookies per user, not across users

#[test]
fn each_user_keeps_its_own_cookie() {
    let rec = Recorder::start(true);
    let scenario = format!(
        r#"
[target]
base_url = "{}"

[load]
vus = 3
duration = "1s"

[[scenarios]]
name = "c"
  [[scenarios.steps]]
  name = "fixed"
  url = "/fixed"
  [[scenarios.steps]]
  name = "templated"
  url = "/templated?vu={{{{ vu() }}}}"
"#,
        rec.base()
    );
    let r = run(&scenario, &[], &["--threads", "2"]);
    r.assert_exit(0);
    let seen = rec.seen();
    // Each user owns one keep-alive connection: group by it.
    let mut by_conn: BTreeMap<usize, Vec<&Seen>> = BTreeMap::new();
    for s in &seen {
        by_conn.entry(s.conn).or_default().push(s);
    }
    assert_eq!(by_conn.len(), 3, "{}", r.diagnostics());
    let mut sids = BTreeSet::new();
    let mut vus = BTreeSet::new();
    for (conn, reqs) in &by_conn {
        assert!(
            reqs.len() >= 6,
            "connection {conn}: {} requests",
            reqs.len()
        );
        let first = reqs[0];
        assert_eq!(first.path(), "/fixed");
        assert_eq!(first.cookie("sid"), None, "a new user has no cookie yet");
        let sid = first.set_sid.clone().unwrap();
        let conn_vus: BTreeSet<&str> = reqs.iter().filter_map(|s| s.param("vu")).collect();
        assert_eq!(
            conn_vus.len(),
            1,
            "connection {conn} carried users {conn_vus:?}"
        );
        vus.extend(conn_vus);
        for s in &reqs[1..] {
            assert_eq!(
                s.cookie("sid"),
                Some(sid.as_str()),
                "connection {conn}: {} {}",
                s.method,
                s.target
            );
            assert!(s.set_sid.is_none());
        }
        sids.insert(sid);
    }
    assert_eq!(sids.len(), 3, "{sids:?}");
    assert_eq!(vus.len(), 3, "{vus:?}");
    let issued = seen.iter().filter(|s| s.set_sid.is_some()).count();
    assert_eq!(issued, 3, "only each user's first request lacks the cookie");
}

fn cookie_journey(base: &str, options: &str) -> String {
    format!(
        r#"
[target]
base_url = "{base}"

[load]
vus = 1
duration = "20s"

{options}

[[scenarios]]
name = "c"
  [[scenarios.steps]]
  url = "/login"
  [[scenarios.steps]]
  url = "/logout"
  [[scenarios.steps]]
  url = "/after"
"#
    )
}

#[test]
fn an_expired_cookie_is_no_longer_sent() {
    let rec = Recorder::start(true);
    let r = run(&cookie_journey(&rec.base(), ""), &[], &["-n", "3"]);
    r.assert_exit(0);
    let seen = rec.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path()).collect();
    assert_eq!(
        paths,
        ["/login", "/logout", "/after"],
        "{}",
        r.diagnostics()
    );
    assert_eq!(seen[1].cookie("sid"), Some("1"));
    assert_eq!(
        seen[2].header("cookie"),
        None,
        "Expires in the past deletes the cookie"
    );
}

#[test]
fn without_cookies_nothing_is_kept() {
    let rec = Recorder::start(true);
    let options = "[options]\ncookies = false";
    let r = run(&cookie_journey(&rec.base(), options), &[], &["-n", "6"]);
    r.assert_exit(0);
    let seen = rec.seen();
    assert_eq!(seen.len(), 6, "{}", r.diagnostics());
    assert!(
        seen.iter().all(|s| s.header("cookie").is_none()),
        "{seen:?}"
    );
}

#[test]
fn built_in_session_is_new_once_per_user() {
    let t = target();
    // The first answer to each user says `"new": true`, which fails the check; every later
    // one must find the user's own cookie.
    let scenario = format!(
        r#"
[target]
base_url = "{}"

[load]
vus = 3
duration = "1s"

[[scenarios]]
name = "s"
  [[scenarios.steps]]
  name = "session"
  url = "/session"
  checks = {{ status = 200, json = {{ "$.new" = false }} }}
"#,
        base(&t)
    );
    let r = run(&scenario, &[], &["--threads", "2"]);
    r.assert_exit(0);
    let g = r.expect_group("s / session");
    assert!(count(&g["requests"]) >= 10, "{}", r.diagnostics());
    assert_eq!(count(&g["errors_by_class"]["check_failed"]), 3, "{g}");
    assert_eq!(count(&g["errors"]), 3, "{g}");
}

// ---------------------------------------------------------------------------------------
// 4. Think times

/// The gaps between consecutive requests the server saw, and the run's diagnostics.
fn gaps_ms(think: &str) -> (Vec<f64>, String) {
    let rec = Recorder::start(false);
    let scenario = format!(
        r#"
[target]
base_url = "{}"

[load]
vus = 1
duration = "3s"

[[scenarios]]
name = "t"
  [[scenarios.steps]]
  url = "/t"
  [[scenarios.steps]]
  think = {think}
"#,
        rec.base()
    );
    let r = run(&scenario, &[], &["--threads", "1"]);
    r.assert_exit(0);
    let seen = rec.seen();
    let gaps: Vec<f64> = seen
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_secs_f64() * 1000.0)
        .collect();
    assert!(gaps.len() >= 20, "{} gaps\n{}", gaps.len(), r.diagnostics());
    (gaps, r.diagnostics())
}

fn mean_and_cv(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt() / mean)
}

#[test]
fn uniform_think_time_holds_its_range() {
    let (gaps, run) = gaps_ms(r#"{ uniform = ["20ms", "40ms"] }"#);
    let min = gaps.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(min >= 20.0, "a gap of {min:.2} ms: {gaps:?}\n{run}");
    let (mean, _) = mean_and_cv(&gaps);
    assert!(
        (25.0..=45.0).contains(&mean),
        "mean gap {mean:.2} ms: {gaps:?}\n{run}"
    );
}

#[test]
fn exponential_think_time_varies_like_one() {
    let (gaps, run) = gaps_ms(r#"{ exponential = "30ms" }"#);
    let (mean, cv) = mean_and_cv(&gaps);
    // The mean of ~90 draws is within 4 ms of 30 ms nineteen times in twenty; the request
    // itself adds a little.
    assert!(
        (20.0..=60.0).contains(&mean),
        "mean gap {mean:.2} ms: {gaps:?}\n{run}"
    );
    // An exponential's is 1; a fixed pause's would be about 0.
    assert!(
        cv > 0.5,
        "coefficient of variation {cv:.2}: {gaps:?}\n{run}"
    );
}

// ---------------------------------------------------------------------------------------
// 5. Thresholds

fn threshold_scenario(base: &str, top: &str, slow: &str, duration: &str) -> String {
    format!(
        r#"
{top}

[target]
base_url = "{base}"

[load]
vus = 1
duration = "{duration}"

[[scenarios]]
name = "s"
  [[scenarios.steps]]
  name = "slow"
  url = "/?delay=20ms"
  thresholds = [{slow}]
  [[scenarios.steps]]
  name = "fast"
  url = "/"
  thresholds = ["p99 < 5s", "error_rate < 1%"]
"#
    )
}

fn outcome<'a>(r: &'a Run, scope: Option<&str>, threshold: &str) -> &'a Value {
    r.doc["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["scope"].as_str() == scope && t["threshold"] == threshold)
        .unwrap_or_else(|| panic!("no {scope:?} {threshold}: {}", r.doc["thresholds"]))
}

#[test]
fn a_failing_step_threshold_exits_1_and_marks_the_step() {
    let t = target();
    let scenario = threshold_scenario(&base(&t), "", r#""p99 < 1ms""#, "1s");
    let r = run(&scenario, &[], &[]);
    r.assert_exit(1);
    let slow = outcome(&r, Some("s / slow"), "p99 < 1ms");
    assert_eq!(slow["passed"], false, "{slow}");
    assert!(slow["observed"].as_f64().unwrap() >= 20.0, "{slow}");
    assert_eq!(outcome(&r, Some("s / fast"), "p99 < 5s")["passed"], true);
    assert_eq!(
        outcome(&r, Some("s / fast"), "error_rate < 1%")["passed"],
        true
    );
    let row = |key: &str| {
        r.stdout
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no row {key}: {}", r.stdout))
            .to_string()
    };
    assert!(row("s / slow").contains('✗'), "{}", r.stdout);
    assert!(!row("s / fast").contains('✗'), "{}", r.stdout);
    assert_eq!(r.doc["aborted"], false);
}

#[test]
fn passing_thresholds_exit_0() {
    let t = target();
    let top = r#"thresholds = ["p99 < 5s", "error_rate < 1%"]"#;
    let scenario = threshold_scenario(&base(&t), top, r#""p99 < 5s""#, "1s");
    let r = run(&scenario, &[], &[]);
    r.assert_exit(0);
    let all = r.doc["thresholds"].as_array().unwrap();
    assert_eq!(all.len(), 5, "{all:?}");
    assert!(all.iter().all(|t| t["passed"] == true), "{all:?}");
    assert_eq!(outcome(&r, None, "error_rate < 1%")["passed"], true);
    assert!(!r.stdout.contains('✗'), "{}", r.stdout);
}

#[test]
fn abort_on_fail_ends_the_run_early() {
    let t = target();
    let top = r#"thresholds = ["max < 1ms"]"#;
    let scenario = threshold_scenario(&base(&t), top, r#""p99 < 5s""#, "30s");
    let r = run(&scenario, &[], &["--abort-on-fail"]);
    r.assert_exit(1);
    assert_eq!(r.doc["aborted"], true, "{}", r.diagnostics());
    assert_eq!(outcome(&r, None, "max < 1ms")["passed"], false);
    let elapsed = r.doc["summary"]["elapsed_s"].as_f64().unwrap();
    assert!(elapsed < 15.0, "ran {elapsed} s of 30");
    assert!(r.took < Duration::from_secs(20), "{}", r.diagnostics());
    assert!(r.stderr.contains("abort-on-fail"), "{}", r.stderr);
}

#[test]
fn windowed_thresholds_in_a_scenario_file_judge_every_window() {
    let t = target();
    let top = r#"thresholds = ["error_rate < 1% over 1s"]"#;
    let scenario = threshold_scenario(&base(&t), top, r#""p99 < 1ms over 1s""#, "3s");
    let r = run(&scenario, &[], &[]);
    r.assert_exit(1);
    let slow = outcome(&r, Some("s / slow"), "p99 < 1ms over 1s");
    assert_eq!(slow["passed"], false, "{slow}");
    assert_eq!(slow["window_s"], 1, "{slow}");
    assert!(
        slow["worst_window"]["observed"].as_f64().unwrap() >= 20.0,
        "{slow}"
    );
    let total = outcome(&r, None, "error_rate < 1% over 1s");
    assert_eq!(total["passed"], true, "{total}");
    assert_eq!(total["observed"], 0.0, "{total}");
    assert!(
        r.stdout.contains("FAIL [s / slow] p99 < 1ms over 1s"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_bad_window_names_the_file_line_and_column() {
    let t = target();
    let scenario = threshold_scenario(&base(&t), "", r#""p99 < 1ms over 500ms""#, "1s");
    let r = run(&scenario, &[], &[]);
    r.assert_exit(2);
    assert!(r.stderr.contains("whole seconds"), "{}", r.stderr);
    assert!(r.stderr.contains(".toml:"), "{}", r.stderr);
}

// ---------------------------------------------------------------------------------------
// 6. Checks

#[test]
fn failed_checks_are_counted_per_step() {
    let t = target();
    let scenario = format!(
        r#"
[target]
base_url = "{}"

[load]
vus = 1
duration = "1s"

[[scenarios]]
name = "c"
  [[scenarios.steps]]
  name = "wrong status"
  url = "/"
  checks = {{ status = 201 }}
  [[scenarios.steps]]
  name = "good"
  url = "/"
  checks = {{ status = "2xx", body_contains = "ok", header = {{ x-served-by = "target-" }} }}
  [[scenarios.steps]]
  name = "wrong header"
  url = "/"
  checks = {{ status = [200, 304], header = {{ x-served-by = "nginx" }} }}
  [[scenarios.steps]]
  name = "too slow"
  url = "/?delay=20ms"
  checks = {{ latency = "1ms" }}
  [[scenarios.steps]]
  name = "no word"
  url = "/echo"
  method = "POST"
  body = "hello"
  checks = {{ body_contains = "goodbye" }}
"#,
        "http://127.0.0.1:9/not-this-one"
    );
    // The file names another server: --base-url points the run at the target.
    let r = run(&scenario, &[], &["--base-url", &base(&t)]);
    r.assert_exit(0);
    let failing = [
        "c / wrong status",
        "c / wrong header",
        "c / too slow",
        "c / no word",
    ];
    for key in failing {
        let g = r.expect_group(key);
        let n = count(&g["requests"]);
        assert!(n >= 3, "{key}: {g}");
        assert_eq!(count(&g["errors"]), n, "{key}: {g}");
        assert_eq!(
            count(&g["errors_by_class"]["check_failed"]),
            n,
            "{key}: {g}"
        );
    }
    let good = r.expect_group("c / good");
    assert!(count(&good["requests"]) >= 3);
    assert_eq!(count(&good["errors"]), 0, "{good}");
    let sample = r.doc["error_samples"]["check_failed"].as_str().unwrap();
    assert!(sample.contains("c / wrong status"), "{sample}");
    let total: u64 = failing.iter().map(|k| r.requests(k)).sum();
    assert_eq!(count(&r.doc["errors_by_class"]["check_failed"]), total);
}

// ---------------------------------------------------------------------------------------
// 7. WebSocket steps

#[test]
fn websocket_steps_echo_and_are_timed() {
    let t = target();
    let scenario = format!(
        r#"
[target]
base_url = "{}"

[load]
vus = 2
duration = "1s"

[[scenarios]]
name = "ws"
  [[scenarios.steps]]
  ws_connect = "/ws"
  [[scenarios.steps]]
  ws_send = '{{"seq": {{{{ counter() }}}}, "vu": {{{{ vu() }}}}}}'
  [[scenarios.steps]]
  name = "echo"
  ws_expect = {{ contains = "seq", timeout = "5s" }}
  [[scenarios.steps]]
  ws_close = true
"#,
        base(&t)
    );
    let r = run(&scenario, &[], &[]);
    r.assert_exit(0);
    let connect = r.expect_group("ws / WS /ws");
    let echo = r.expect_group("ws / echo");
    assert!(count(&connect["requests"]) >= 2, "{connect}");
    let n = count(&echo["requests"]);
    assert!(n >= 2, "{}", r.diagnostics());
    assert_eq!(count(&echo["errors"]), 0, "{echo}");
    assert_eq!(count(&echo["timeouts"]), 0, "{echo}");
    assert!(echo["latency_ms"]["max"].as_f64().unwrap() > 0.0, "{echo}");
    assert!(echo["latency_ms"]["mean"].as_f64().unwrap() > 0.0, "{echo}");
    assert_eq!(count(&r.doc["summary"]["errors"]), 0, "{}", r.diagnostics());
}

#[test]
fn a_websocket_expect_that_never_matches_times_out() {
    let t = target();
    let scenario = format!(
        r#"
[target]
base_url = "{}"

[load]
vus = 1
duration = "1500ms"

[[scenarios]]
name = "ws"
  [[scenarios.steps]]
  ws_connect = "/ws"
  [[scenarios.steps]]
  ws_send = "ping {{{{ counter() }}}}"
  [[scenarios.steps]]
  name = "wait"
  ws_expect = {{ contains = "never echoed", timeout = "200ms" }}
"#,
        base(&t)
    );
    let r = run(&scenario, &[], &[]);
    r.assert_exit(0);
    let wait = r.expect_group("ws / wait");
    assert!(count(&wait["timeouts"]) >= 1, "{}", r.diagnostics());
    assert_eq!(count(&wait["errors"]), 0, "{wait}");
    assert_eq!(r.doc["summary"]["timeouts"], wait["timeouts"]);
    assert!(r.took < Duration::from_secs(20), "{}", r.diagnostics());
}

#[test]
fn a_value_extracted_from_a_websocket_message_feeds_an_http_step() {
    let t = target();
    let rec = Recorder::start(false);
    let scenario = format!(
        r#"
[targets.live]
base_url = "{}"

[targets.rec]
base_url = "{}"

[load]
vus = 1
duration = "10s"

[[scenarios]]
name = "w"
  [[scenarios.steps]]
  ws_connect = "/ws"
  target = "live"
  [[scenarios.steps]]
  ws_send = '{{"kind": "hello", "tok": "{{{{ uuid() }}}}"}}'
  [[scenarios.steps]]
  name = "echo"
  ws_expect = {{ json = {{ "$.kind" = "hello" }} }}
  extract = {{ echoed = {{ json = "$.tok" }} }}
  [[scenarios.steps]]
  ws_close = true
  [[scenarios.steps]]
  name = "report"
  target = "rec"
  url = "/got?tok={{{{ echoed }}}}"
"#,
        base(&t),
        rec.base()
    );
    let r = run(&scenario, &[], &["-n", "3"]);
    r.assert_exit(0);
    let seen = rec.seen();
    assert_eq!(seen.len(), 3, "{}", r.diagnostics());
    let toks: BTreeSet<&str> = seen.iter().map(|s| s.param("tok").unwrap()).collect();
    assert_eq!(toks.len(), 3, "{toks:?}");
    assert!(
        toks.iter()
            .all(|t| t.len() == 36 && t.matches('-').count() == 4),
        "{toks:?}"
    );
    assert_eq!(count(&r.expect_group("w / echo")["errors"]), 0);
}

#[test]
fn a_websocket_upgrade_refused_is_an_error_of_the_connect_step() {
    // The recorder answers 200, not 101.
    let rec = Recorder::start(false);
    let scenario = format!(
        r#"
[target]
base_url = "{}"

[load]
vus = 1
duration = "500ms"

[[scenarios]]
name = "w"
  [[scenarios.steps]]
  name = "open"
  ws_connect = "/ws"
  [[scenarios.steps]]
  ws_send = "hello"
  [[scenarios.steps]]
  name = "echo"
  ws_expect = {{ contains = "hello", timeout = "1s" }}
"#,
        rec.base()
    );
    let r = run(&scenario, &[], &[]);
    r.assert_exit(0);
    let open = r.expect_group("w / open");
    let n = count(&open["requests"]);
    assert!(n >= 1, "{}", r.diagnostics());
    assert_eq!(count(&open["errors"]), n, "{open}");
    assert_eq!(
        count(&open["errors_by_class"]["ws_upgrade_failed"]),
        n,
        "{open}"
    );
    assert_eq!(r.requests("w / echo"), 0, "{}", r.diagnostics());
    assert!(rec
        .seen()
        .iter()
        .all(|s| s.header("upgrade") == Some("websocket")));
}

// ---------------------------------------------------------------------------------------
// 8. Open model journeys

#[test]
fn open_model_starts_a_fresh_user_per_arrival() {
    let rec = Recorder::start(true);
    let scenario = format!(
        r#"
[target]
base_url = "{}"

[load]
model = "open"
rate = 50
duration = "2s"

[[scenarios]]
name = "o"
  [[scenarios.steps]]
  name = "first"
  url = "/first?vu={{{{ vu() }}}}"
  [[scenarios.steps]]
  name = "second"
  url = "/second?vu={{{{ vu() }}}}"
"#,
        rec.base()
    );
    let r = run(&scenario, &[], &[]);
    r.assert_exit(0);
    let seen = rec.seen();
    let firsts: Vec<&Seen> = seen.iter().filter(|s| s.path() == "/first").collect();
    assert!(
        (90..=110).contains(&firsts.len()),
        "{} journeys started\n{}",
        firsts.len(),
        r.diagnostics()
    );
    assert_eq!(r.requests("o / first"), firsts.len() as u64);
    let mut sid_of = BTreeMap::new();
    for s in &firsts {
        assert_eq!(s.cookie("sid"), None, "a new user carried a cookie: {s:?}");
        let fresh = sid_of.insert(s.param("vu").unwrap(), s.set_sid.clone().unwrap());
        assert!(
            fresh.is_none(),
            "user {} started twice",
            s.param("vu").unwrap()
        );
    }
    let seconds: Vec<&Seen> = seen.iter().filter(|s| s.path() == "/second").collect();
    assert!(seconds.len() + 5 >= firsts.len(), "{}", r.diagnostics());
    for s in seconds {
        let vu = s.param("vu").unwrap();
        assert_eq!(s.cookie("sid"), Some(sid_of[vu].as_str()), "user {vu}");
    }
}

// ---------------------------------------------------------------------------------------
// 9. Validation reaches the CLI

/// Runs an invalid file against a recorder and checks that stampede exits 2 before
/// sending anything, naming `scenario.toml:LINE:COL` with LINE the line holding `marker`.
fn assert_invalid(scenario: &str, marker: &str, files: &[(&str, &str)], expect: &str) {
    let rec = Recorder::start(false);
    let scenario = scenario.replace("BASE", &rec.base());
    let line = scenario
        .lines()
        .position(|l| l.contains(marker))
        .expect("marker in the file")
        + 1;
    let r = run(&scenario, files, &[]);
    eprintln!("{marker}: {}", r.stderr.trim_end());
    r.assert_exit(2);
    let at = format!("scenario.toml:{line}:");
    let pos = r
        .stderr
        .find(&at)
        .unwrap_or_else(|| panic!("expected {at}COL in:\n{}", r.stderr));
    let col = &r.stderr[pos + at.len()..];
    assert!(
        col.starts_with(|c: char| c.is_ascii_digit()),
        "no column after {at}: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains(expect),
        "{expect:?} not in:\n{}",
        r.stderr
    );
    assert!(
        rec.seen().is_empty(),
        "requests were sent: {:?}",
        rec.seen()
    );
    assert!(r.doc.is_null(), "a result was written");
}

const VALID: &str = r#"
[target]
base_url = "BASE"

[load]
vus = 1
duration = "1s"

[feeders.users]
file = "users.csv"

[[scenarios]]
name = "v"
  [[scenarios.steps]]
  name = "a"
  url = "/a?u={{ users.name }}"
  extract = { id = { json = "$.id" } }
  [[scenarios.steps]]
  name = "b"
  url = "/b?id={{ id }}"
"#;

#[test]
fn validation_errors_name_file_line_and_column() {
    // The base file is valid (and runs): each case breaks one thing.
    {
        let rec = Recorder::start(false);
        let r = run(
            &VALID.replace("BASE", &rec.base()),
            &[("users.csv", USERS)],
            &["-n", "2"],
        );
        r.assert_exit(0);
        assert_eq!(rec.seen().len(), 2);
    }
    let csv = [("users.csv", USERS)];
    // (file, a marker on the line at fault, whether users.csv exists, part of the message)
    let cases: [(String, &str, bool, &str); 7] = [
        (
            VALID.replace(r#"name = "b""#, "name = \"b\"\n  bdy = \"x\""),
            "bdy",
            true,
            "unknown field `bdy`",
        ),
        (
            VALID.replace(r#"duration = "1s""#, r#"duration = "1 parsec""#),
            "parsec",
            true,
            "bad duration",
        ),
        (
            VALID.replace("{{ id }}", "{{ rnd_int(1, 2) }}"),
            "rnd_int",
            true,
            "rnd_int",
        ),
        (VALID.replace("{{ id }}", "{{ idd }}"), "idd", true, "idd"),
        (VALID.to_string(), "users.csv", false, "not found"),
        (VALID.replace("$.id", "$[?bad"), "bad", true, "bad JSONPath"),
        (
            VALID.replace(
                r#"{ json = "$.id" }"#,
                r#"{ regex = "id=(\\d+", group = 1 }"#,
            ),
            "regex",
            true,
            "bad regex",
        ),
    ];
    for (scenario, marker, with_csv, expect) in &cases {
        let files: &[(&str, &str)] = if *with_csv { &csv } else { &[] };
        assert_invalid(scenario, marker, files, expect);
    }
}

#[test]
fn each_scenario_runs_at_its_own_rate() {
    let rec = Recorder::start(false);
    let scenario = format!(
        r#"
[target]
base_url = "{}"

[load]
duration = "2s"

[[scenarios]]
name = "busy"
load = {{ model = "open", rate = 40 }}
  [[scenarios.steps]]
  url = "/busy"

[[scenarios]]
name = "quiet"
load = {{ model = "open", rate = 10 }}
  [[scenarios.steps]]
  url = "/quiet"
"#,
        rec.base()
    );
    let r = run(&scenario, &[], &[]);
    r.assert_exit(0);
    let seen = rec.seen();
    let n = |path: &str| seen.iter().filter(|s| s.path() == path).count();
    // 2 s at 40/s and at 10/s, uniform arrivals.
    assert!(
        (72..=88).contains(&n("/busy")),
        "{} busy\n{}",
        n("/busy"),
        r.diagnostics()
    );
    assert!(
        (16..=24).contains(&n("/quiet")),
        "{} quiet\n{}",
        n("/quiet"),
        r.diagnostics()
    );
}

#[test]
fn closed_virtual_users_follow_their_ramp() {
    let rec = Recorder::start(false);
    // 0 -> 4 virtual users over 1 s, then 4 for 1 s, then down to 1 over 0.1 s and 1 for
    // 0.9 s; each user paces itself at one request per 50 ms.
    let scenario = format!(
        r#"
[target]
base_url = "{}"

[load]
model = "closed"
start = 0
stages = [
  {{ duration = "1s", target = 4 }},
  {{ duration = "1s", target = 4 }},
  {{ duration = "100ms", target = 1 }},
  {{ duration = "900ms", target = 1 }},
]

[[scenarios]]
name = "r"
  [[scenarios.steps]]
  url = "/r?vu={{{{ vu() }}}}"
  [[scenarios.steps]]
  think = "50ms"
"#,
        rec.base()
    );
    let r = run(&scenario, &[], &[]);
    r.assert_exit(0);
    let seen = rec.seen();
    let start = seen.first().expect("requests arrived").at;
    let users_between = |from: f64, to: f64| -> BTreeSet<String> {
        seen.iter()
            .filter(|s| {
                let t = s.at.duration_since(start).as_secs_f64();
                t >= from && t < to
            })
            .map(|s| s.param("vu").unwrap().to_string())
            .collect()
    };
    let all = users_between(0.0, 10.0);
    assert_eq!(
        all.len(),
        4,
        "at most 4 users ever: {all:?}\n{}",
        r.diagnostics()
    );
    assert_eq!(users_between(1.2, 1.9).len(), 4, "all 4 at the plateau");
    let tail = users_between(2.4, 2.9);
    assert_eq!(
        tail.len(),
        1,
        "ramped down to 1: {tail:?}\n{}",
        r.diagnostics()
    );
}
