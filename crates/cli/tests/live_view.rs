//! The live view: the dashboard under a real terminal (tmux: `new-session`,
//! `send-keys`, `capture-pane`; Debian's tmux package, fails without it unless
//! STAMPEDE_SKIP_EXTERNAL=1), and compact progress lines when stderr is a pipe.

mod report_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use report_support::{external_tool, grouped, run_bounded, stampede, target};

const TMUX: &str = "/usr/bin/tmux";

/// A private tmux server (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` in a detached 160x50 session.
    fn start(name: &str, command: &str) -> Tmux {
        let socket = format!("stampede-test-{}-{name}", std::process::id());
        let t = Tmux { socket };
        let ok = t
            .cmd()
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "160",
                "-y",
                "50",
            ])
            .args(["-s", "live", command])
            .status()
            .expect("tmux runs")
            .success();
        assert!(ok, "tmux new-session failed");
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(TMUX);
        c.args(["-L", &self.socket]).stdin(Stdio::null());
        c
    }

    fn screen(&self) -> String {
        let o = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "live"])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Waits until the screen contains `needle`; returns that screen.
    fn wait_for(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "'{needle}' did not appear within {limit:?}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn keys(&self, keys: &str) {
        self.cmd()
            .args(["send-keys", "-t", "live", keys])
            .status()
            .expect("send-keys");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").stderr(Stdio::null()).status();
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A screen is clean when no escape sequence leaked into it as text.
fn assert_not_garbled(screen: &str) {
    for junk in ["\u{1b}", "^[", "[0m", "[?1049", "[?25", ";1H", "38;5;"] {
        assert!(
            !screen.contains(junk),
            "escape junk {junk:?} on screen:\n{screen}"
        );
    }
    for line in screen.lines() {
        assert!(line.chars().count() <= 160, "overlong line: {line}");
    }
}

fn command_line(args: &[String]) -> String {
    let mut words = vec![shell_quote(env!("CARGO_BIN_EXE_stampede"))];
    words.extend(args.iter().map(|a| shell_quote(a)));
    // Keep the pane (and the exit code) after stampede exits.
    format!("{}; echo EXIT=$?; sleep 120", words.join(" "))
}

#[test]
fn dashboard_renders_in_tmux_and_q_stops_the_run() {
    if external_tool(TMUX, "tmux", "dashboard").is_none() {
        return;
    }
    let t = target(2);
    let mut args = vec!["run".to_string()];
    args.extend(grouped(&t));
    args.extend(["--rate", "100", "-d", "60s"].map(String::from));
    let tmux = Tmux::start("q", &command_line(&args));

    // Wait for a few seconds of data, then read the dashboard.
    let screen = tmux.wait_for("3s / 60s", Duration::from_secs(20));
    assert_not_garbled(&screen);
    for label in [
        "stampede GET http://127.0.0.1:",
        "Throughput req/s:",
        "achieved",
        "target",
        "Latency ms (corrected): p50",
        "Run so far",
        "Errors by class",
        "http_5xx",
        "Generator",
        "% of a core",
        "send lag",
        "target-1",
        "target-2",
        "q or Ctrl-C: stop the run",
    ] {
        assert!(screen.contains(label), "{label} missing:\n{screen}");
    }
    // Numbers, not placeholders: requests so far and this second's target rate.
    let requests: u64 = screen
        .lines()
        .find_map(|l| l.split("requests   ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count:\n{screen}"));
    assert!(requests >= 150, "{requests} requests after 3 s:\n{screen}");
    assert!(screen.contains("/ 100 target"), "{screen}");

    // `q` stops the run like Ctrl-C: the table follows on the normal screen.
    tmux.keys("q");
    let screen = tmux.wait_for("EXIT=3", Duration::from_secs(20));
    assert_not_garbled(&screen);
    assert!(screen.contains("INTERRUPTED"), "{screen}");
    assert!(
        screen.contains("X-Served-By") && screen.contains("total"),
        "{screen}"
    );
    assert!(
        !screen.contains("Throughput req/s"),
        "dashboard left behind:\n{screen}"
    );
}

#[test]
fn dashboard_gives_way_to_the_table_when_the_run_ends() {
    if external_tool(TMUX, "tmux", "dashboard").is_none() {
        return;
    }
    let t = target(1);
    let args: Vec<String> = [
        "run",
        &format!("http://{}/", t.addrs()[0]),
        "-c",
        "2",
        "-d",
        "3s",
    ]
    .map(String::from)
    .to_vec();
    let tmux = Tmux::start("end", &command_line(&args));
    let screen = tmux.wait_for("Latency ms (service time)", Duration::from_secs(20));
    assert_not_garbled(&screen);
    assert!(screen.contains("closed model, 2 connections"), "{screen}");
    let screen = tmux.wait_for("EXIT=0", Duration::from_secs(20));
    assert_not_garbled(&screen);
    assert!(
        screen.contains("time queued before sending is not included"),
        "{screen}"
    );
    assert!(!screen.contains("Run so far"), "{screen}");
}

#[test]
fn progress_lines_go_to_a_pipe() {
    let t = target(1);
    let o = run_bounded(
        stampede().args([
            "run",
            &format!("http://{}/", t.addrs()[0]),
            "--rate",
            "100",
            "-d",
            "6s",
        ]),
        Duration::from_secs(40),
    );
    assert!(o.status.success());
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(!err.contains('\u{1b}'), "escape codes in a pipe: {err:?}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with('[')).collect();
    // One line per 5 s when stderr is not a terminal, and one for the last second.
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with("[   5s]"), "{err}");
    assert!(lines[1].starts_with("[   6s]"), "{err}");
    assert!(
        lines[0].contains("req/s") && lines[0].contains("p99"),
        "{err}"
    );
    // Each line divides by the seconds it covers: 100 req/s, not 100/5 for the last.
    for line in &lines {
        let rate: f64 = line[8..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((90.0..=110.0).contains(&rate), "{line}");
    }

    let o = run_bounded(
        stampede().args([
            "run",
            &format!("http://{}/", t.addrs()[0]),
            "--rate",
            "100",
            "-d",
            "6s",
            "-q",
        ]),
        Duration::from_secs(40),
    );
    assert!(o.status.success());
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Issue 12 item 9: a 4 s run printed `[5s]` with its requests divided by 5 s.
#[test]
fn the_last_progress_line_divides_by_the_true_elapsed_time() {
    let t = target(1);
    let o = run_bounded(
        stampede().args([
            "run",
            &format!("http://{}/", t.addrs()[0]),
            "--rate",
            "200",
            "-d",
            "4s",
        ]),
        Duration::from_secs(40),
    );
    assert!(o.status.success());
    let err = String::from_utf8(o.stderr).unwrap();
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].starts_with("[   4s]"), "{err}");
    let rate: f64 = lines[0][8..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (180.0..=220.0).contains(&rate),
        "200 req/s, not 4/5 of it: {err}"
    );
}
