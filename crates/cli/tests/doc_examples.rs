//! Every example command in README.md and docs/*.md runs (issue 12 item 11: the README's
//! device-fleet example sent GET to a POST-only endpoint, every request was a 405, and the
//! documented `compare` reported a regression against a run that was all errors).
//!
//! Each fenced ```` ```sh ```` block is one example session, run in a fresh directory
//! (with `examples/` linked in) against the built-in target:
//!
//! * `stampede target ...` starts in the background (as "in another terminal"); a block
//!   without one gets a plain `stampede target` on the documented port 8080.
//! * Every `stampede ...` line runs and must exit 0 (`compare`: 0 or 1; `run`: 1 only when
//!   its table marks a failed threshold, or a step's threshold had no data because the
//!   shortened run never reached that step). Every run saves its result (`-o`, added when the
//!   line has none), which must have requests and at most 50% failures (`plan --check`: 0
//!   or 1, a shortened run may differ from its plan): a documented run
//!   that is mostly errors is a broken example (and a `compare` against it is meaningless).
//! * `cargo run --release -- ARGS` runs as `stampede ARGS`; `cargo build`, `bash .ci/run`
//!   are skipped; `echo`/`printf ... > FILE` lines write fixtures through `sh`. Any other
//!   command fails the test: document it, or mark the block `<!-- examples: skip -->` on
//!   the line before (with a reason).
//!
//! Bounded and local: documented ports (`127.0.0.1:8080`, `localhost:8443`, ...) move to
//! free ports (offsets kept, so `--instances 3` and `--connect-to :8081` still match);
//! durations become about 1 s, rates at most 300/s, `-n` at most 200, fleets 20 clients;
//! `/tmp/` is the session's directory; `$URL` is the target's URL.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The longest any one documented command may take (after substitutions).
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One ```sh block: where it is and its logical lines (continuations joined).
#[derive(Debug)]
struct Block {
    file: String,
    line: usize,
    lines: Vec<(usize, String)>,
}

/// The ```sh blocks of a Markdown file, minus those marked `<!-- examples: skip ... -->`.
fn sh_blocks(path: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(path).unwrap();
    let file = path
        .strip_prefix(repo())
        .unwrap_or(path)
        .display()
        .to_string();
    let mut blocks = Vec::new();
    // Inside a fence: `Some(block)` collects an sh block, `None` passes over another one.
    let mut fence: Option<Option<Block>> = None;
    let mut skip_next = false;
    let mut pending = String::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let is_fence = line.trim_start().starts_with("```");
        match &mut fence {
            Some(current) if is_fence => {
                blocks.extend(current.take());
                fence = None;
            }
            Some(Some(block)) => {
                let start = n - pending.lines().count();
                match line.strip_suffix('\\') {
                    Some(head) => pending.push_str(head),
                    None => {
                        pending.push_str(line);
                        block.lines.push((start, std::mem::take(&mut pending)));
                    }
                }
            }
            Some(None) => {}
            None if is_fence => {
                let info = line.trim_start().trim_start_matches('`').trim();
                let sh = info.split_whitespace().next() == Some("sh");
                fence = Some((sh && !skip_next).then(|| Block {
                    file: file.clone(),
                    line: n,
                    lines: Vec::new(),
                }));
                skip_next = false;
            }
            None if line.trim().starts_with("<!-- examples: skip") => skip_next = true,
            None if !line.trim().is_empty() => skip_next = false,
            None => {}
        }
    }
    assert!(fence.is_none(), "{file}: unterminated code block");
    blocks
}

/// Splits a shell line into words: quotes, `$VAR` from `env`, `#` comments, a trailing `&`.
fn words(line: &str, env: &BTreeMap<&str, String>) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '$' => word.push_str(&variable(&mut chars, env)),
                        c => word.push(c),
                    }
                }
            }
            '$' => {
                in_word = true;
                word.push_str(&variable(&mut chars, env));
            }
            '#' if !in_word => break,
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        out.push(word);
    }
    let background = out.last().is_some_and(|w| w == "&");
    if background {
        out.pop();
    }
    (out, background)
}

fn variable(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    env: &BTreeMap<&str, String>,
) -> String {
    let mut name = String::new();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_alphanumeric() || c == '_' {
            name.push(c);
            chars.next();
        } else {
            break;
        }
    }
    env.get(name.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("documented command uses ${name}, which the test does not set"))
}

/// Documented ports move to `base + (port - 8000)`, so neighbours stay neighbours.
fn free_port_base() -> u16 {
    let documented = [80u16, 81, 82, 83, 443, 444, 1464];
    for _ in 0..200 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let base = 20_000 + (nanos / 1000 % 30_000) as u16;
        let free = documented
            .iter()
            .all(|off| TcpListener::bind(("127.0.0.1", base + off)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no free port range");
}

/// Rewrites `host:PORT` of the documented hosts (ports 8000-9999) to the session's ports.
fn map_ports(word: &str, base: u16) -> String {
    let mut out = word.to_string();
    for host in ["127.0.0.1:", "localhost:"] {
        let mut from = 0;
        while let Some(i) = out[from..].find(host) {
            let start = from + i + host.len();
            let digits: String = out[start..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let port: u16 = match digits.parse() {
                Ok(p) if (8000..10_000).contains(&p) => p,
                _ => {
                    from = start;
                    continue;
                }
            };
            let mapped = (base + (port - 8000)).to_string();
            out.replace_range(start..start + digits.len(), &mapped);
            from = start + mapped.len();
        }
    }
    out
}

/// Shortens a duration-bearing value: `-d 30s` runs 1 s, and so on.
fn substitute(args: &mut [String], base: u16, dir: &Path) {
    let tmp = format!("{}/", dir.display());
    for a in args.iter_mut() {
        *a = map_ports(a, base).replace("/tmp/", &tmp);
        // Long-poll holds in URLs: `hold=30s` answers after 300 ms.
        if a.contains("hold=") {
            let (head, tail) = a.split_once("hold=").unwrap();
            let end = tail.find('&').unwrap_or(tail.len());
            *a = format!("{head}hold=300ms{}", &tail[end..]);
        }
    }
    let cap = |v: &str, max: f64| -> String {
        let n: f64 = v.parse().unwrap_or(max);
        format!("{}", n.min(max))
    };
    let mut i = 0;
    while i + 1 < args.len() {
        let value = args[i + 1].clone();
        let new = match args[i].as_str() {
            "-d" | "--duration" => Some("1s".to_string()),
            "-r" | "--rate" | "--peak-rate" => Some(cap(&value, 300.0)),
            "-n" | "--requests" => Some(cap(&value, 200.0)),
            "--clients" | "--devices" => Some(cap(&value, 20.0)),
            "--every" => Some("200ms".to_string()),
            "--hold" => Some("500ms".to_string()),
            "--prometheus-hold" => Some("1s".to_string()),
            "--stage" => {
                let (_, rate) = value.split_once(':').expect("D:R");
                Some(format!("300ms:{}", cap(rate, 300.0)))
            }
            _ => None,
        };
        if let Some(v) = new {
            args[i + 1] = v;
            i += 1;
        }
        i += 1;
    }
}

/// A background `stampede target` of one session.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        // Our own child, stopped by its handle.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `stampede target ARGS` and waits until it listens.
fn start_target(args: &[String], dir: &Path, at: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.starts_with("protocols:") => return server,
            Ok(_) => {}
            Err(_) => panic!("{at}: `stampede {}` did not start", args.join(" ")),
        }
    }
}

/// Runs one command to completion (bounded), returning (exit code, stdout, stderr).
fn run_bounded(args: &[String], dir: &Path, at: &str) -> (Option<i32>, String, String) {
    let (out, err) = (dir.join(".stdout"), dir.join(".stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > COMMAND_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{at}: `stampede {}` still running after {COMMAND_LIMIT:?}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status.code(),
        std::fs::read_to_string(out).unwrap(),
        std::fs::read_to_string(err).unwrap(),
    )
}

/// The value of `-o`/`--out` in `args`.
fn out_flag(args: &[String]) -> Option<&str> {
    args.windows(2)
        .find(|w| w[0] == "-o" || w[0] == "--out")
        .map(|w| w[1].as_str())
}

/// What one session ran, for the coverage check.
#[derive(Default)]
struct Ran {
    subcommands: BTreeMap<String, usize>,
}

fn run_block(block: &Block, ran: &mut Ran) {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo().join("examples"), dir.path().join("examples")).unwrap();
    let base = free_port_base();
    let env = BTreeMap::from([("URL", format!("http://127.0.0.1:{}/", base + 80))]);
    let mut servers = Vec::new();
    let commands: Vec<(usize, Vec<String>, bool)> = block
        .lines
        .iter()
        .map(|(n, l)| {
            let (w, bg) = words(l, &env);
            (*n, w, bg)
        })
        .filter(|(_, w, _)| !w.is_empty())
        .collect();
    // The documented default target (127.0.0.1:8080), unless the block starts its own.
    let own_8080 = commands.iter().any(|(_, w, _)| {
        w.first().is_some_and(|c| c == "stampede")
            && w.get(1).is_some_and(|s| s == "target")
            && (w.iter().any(|a| a == "127.0.0.1:8080") || !w.iter().any(|a| a == "--listen"))
    });
    if !own_8080 {
        let mut args = ["target", "--listen", "127.0.0.1:8080"]
            .map(String::from)
            .to_vec();
        substitute(&mut args, base, dir.path());
        let at = format!("{}:{}", block.file, block.line);
        servers.push(start_target(&args, dir.path(), &at));
    }
    for (n, mut w, _background) in commands {
        let at = format!("{}:{n}", block.file);
        match w[0].as_str() {
            "stampede" => {}
            "cargo" if w.get(1).is_some_and(|s| s == "run") => {
                let sep = w.iter().position(|a| a == "--").unwrap_or(w.len());
                w = std::iter::once("stampede".to_string())
                    .chain(w[sep + 1..].iter().cloned())
                    .collect();
            }
            "cargo" if w.get(1).is_some_and(|s| s == "build") => continue,
            "bash" if w.get(1).is_some_and(|s| s == ".ci/run") => continue,
            "echo" | "printf" => {
                let line = &block.lines.iter().find(|(m, _)| *m == n).unwrap().1;
                let o = Command::new("sh")
                    .args(["-c", line])
                    .current_dir(dir.path())
                    .output()
                    .unwrap();
                assert!(o.status.success(), "{at}: {line}");
                continue;
            }
            other => panic!(
                "{at}: `{other}` is not a command this test knows how to run; \
                 mark the block `<!-- examples: skip (why) -->` or teach the test"
            ),
        }
        let mut args: Vec<String> = w[1..].to_vec();
        substitute(&mut args, base, dir.path());
        let sub = args.first().cloned().unwrap_or_default();
        *ran.subcommands.entry(sub.clone()).or_default() += 1;
        match sub.as_str() {
            "target" => {
                if !args.iter().any(|a| a == "--listen") {
                    args.extend(["--listen".into(), format!("127.0.0.1:{}", base + 80)]);
                }
                servers.push(start_target(&args, dir.path(), &at));
                continue;
            }
            "run" => {
                if args.get(1).is_some_and(|f| f.ends_with(".toml"))
                    && !args.iter().any(|a| a == "--base-url")
                {
                    args.extend([
                        "--base-url".into(),
                        format!("http://127.0.0.1:{}", base + 80),
                    ]);
                }
                if !args.iter().any(|a| a == "-d" || a == "--duration") {
                    args.extend(["-d".into(), "1s".into()]);
                }
                if out_flag(&args).is_none() {
                    args.extend(["-o".into(), format!(".auto-{n}.json")]);
                }
            }
            "demo" => {
                if !args.iter().any(|a| a == "--duration") {
                    args.extend(["--duration".into(), "2s".into()]);
                }
                args.push("-q".into());
            }
            _ => {}
        }
        let (code, stdout, stderr) = run_bounded(&args, dir.path(), &at);
        let shown = format!(
            "{at}: `stampede {}` exited {code:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            args.join(" ")
        );
        let allowed = match sub.as_str() {
            "compare" => matches!(code, Some(0 | 1)),
            // A plan's check of a shortened run may find a figure that differs; it says so.
            "plan" if args.iter().any(|a| a == "--check") => {
                matches!(code, Some(0 | 1)) && stdout.contains("checking a")
            }
            // A latency threshold may break on a busy test machine, and a step's
            // threshold has no data when the shortened run never reached the step (a
            // criterion without data is not met); the table says which.
            "run" => {
                code == Some(0)
                    || (code == Some(1)
                        && (stdout.contains('✗') || stdout.contains("(observed no data)")))
            }
            _ => code == Some(0),
        };
        assert!(allowed, "{shown}");
        if sub == "run" {
            let out = dir.path().join(out_flag(&args).unwrap());
            let doc: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
            let s = &doc["summary"];
            let requests = s["requests"].as_u64().unwrap();
            assert!(requests > 0, "no requests: {shown}");
            let error_rate = s["error_rate"].as_f64().unwrap();
            assert!(
                error_rate <= 0.5,
                "{:.0}% of the requests failed ({}): a documented example must work\n{shown}",
                error_rate * 100.0,
                doc["errors_by_class"]
            );
        }
    }
    drop(servers);
}

fn documents() -> Vec<PathBuf> {
    let mut docs = vec![repo().join("README.md")];
    let mut more: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    more.sort();
    docs.extend(more);
    docs
}

#[test]
fn every_documented_command_runs_against_the_built_in_target() {
    let mut ran = Ran::default();
    for doc in documents() {
        for block in sh_blocks(&doc) {
            run_block(&block, &mut ran);
        }
    }
    // The documented commands cover every subcommand: a block the parser lost would show.
    for sub in [
        "run", "target", "demo", "report", "compare", "check", "init", "plan", "usl",
    ] {
        assert!(
            ran.subcommands.get(sub).is_some_and(|n| *n > 0),
            "no documented `stampede {sub}` ran: {:?}",
            ran.subcommands
        );
    }
    assert!(ran.subcommands["run"] >= 20, "{:?}", ran.subcommands);
}

#[test]
fn words_handle_quotes_comments_variables_and_background() {
    let env = BTreeMap::from([("URL", "http://x/".to_string())]);
    let (w, bg) = words(r#"stampede run "$URL" -H 'A: b c' --x=1 & "#, &env);
    assert_eq!(w, ["stampede", "run", "http://x/", "-H", "A: b c", "--x=1"]);
    assert!(bg);
    let (w, bg) = words("stampede init j.toml   # write # it", &env);
    assert_eq!(w, ["stampede", "init", "j.toml"]);
    assert!(!bg);
}

#[test]
fn substitutions_keep_neighbouring_ports_and_bound_the_load() {
    let dir = Path::new("/work");
    let mut a: Vec<String> = [
        "run",
        "http://127.0.0.1:8080/poll?hold=30s&x=1",
        "--connect-to",
        "127.0.0.1:8082",
        "https://localhost:8443/",
        "--rate",
        "2000",
        "--stage",
        "10s:5000",
        "-d",
        "1m",
        "--cacert",
        "/tmp/ca.pem",
    ]
    .map(String::from)
    .to_vec();
    substitute(&mut a, 30_000, dir);
    assert_eq!(
        a,
        [
            "run",
            "http://127.0.0.1:30080/poll?hold=300ms&x=1",
            "--connect-to",
            "127.0.0.1:30082",
            "https://localhost:30443/",
            "--rate",
            "300",
            "--stage",
            "300ms:300",
            "-d",
            "1s",
            "--cacert",
            "/work/ca.pem",
        ]
    );
}
