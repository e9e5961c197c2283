//! Helpers for the report tests (HTML, compare, Prometheus, live view): the built-in
//! target on 127.0.0.1, the `stampede` binary, external tools from Debian, and children
//! that are always reaped.
//!
//! Every wait is bounded, and only processes these helpers started are ever killed.
#![allow(dead_code)]

use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use stampede_testserver::{FaultProfile, TargetConfig, TargetHandle};

/// Set to `1` to let tests that need an external tool pass without it.
pub(crate) const SKIP_ENV: &str = "STAMPEDE_SKIP_EXTERNAL";

/// The `stampede` binary under test.
pub(crate) fn stampede() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stampede"))
}

/// `instances` built-in targets on 127.0.0.1; the last one answers 503 to 10%.
pub(crate) fn target(instances: u16) -> TargetHandle {
    let mut c = TargetConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    c.instances = instances;
    if instances > 1 {
        c.instance_profiles.insert(
            instances,
            FaultProfile {
                error_rate: 0.1,
                error_status: 503,
                ..FaultProfile::default()
            },
        );
    }
    TargetHandle::start(c).expect("the built-in target starts")
}

/// Arguments that send to every instance of `t` and group rows by instance.
pub(crate) fn grouped(t: &TargetHandle) -> Vec<String> {
    let mut args = vec![
        format!("http://{}/?jitter=1ms", t.addrs()[0]),
        "--group-by".into(),
        "header:X-Served-By".into(),
    ];
    for a in t.addrs() {
        args.push("--connect-to".into());
        args.push(a.to_string());
    }
    args
}

/// An external tool: `Some(path)` when installed; `None` when it is missing and
/// `STAMPEDE_SKIP_EXTERNAL=1` allows skipping; otherwise the test fails, so that the
/// acceptance tests never pass vacuously.
pub(crate) fn external_tool(path: &str, package: &str, test: &str) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    if p.is_file() {
        return Some(p);
    }
    if std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") {
        eprintln!("{test}: skipped: {path} not found and {SKIP_ENV}=1");
        return None;
    }
    panic!(
        "{test}: {path} not found. Install Debian's {package} (`apt-get install {package}`, \
         which `bash .ci/run` does), or set {SKIP_ENV}=1 to skip this test."
    );
}

/// A child in its own process group, killed (the whole group) when dropped.
pub(crate) struct Guarded {
    child: Option<Child>,
}

impl Guarded {
    /// Spawns `cmd` as the leader of a new process group.
    pub(crate) fn spawn(cmd: &mut Command) -> Guarded {
        let child = cmd.process_group(0).spawn().expect("the child starts");
        Guarded { child: Some(child) }
    }

    /// The child, for its pipes.
    pub(crate) fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("not yet waited for")
    }

    /// Waits at most `limit` for the child's exit and output (pipes are drained
    /// meanwhile); kills its group on timeout and fails the test.
    pub(crate) fn wait(mut self, limit: Duration) -> Output {
        let mut child = self.child.take().expect("not yet waited for");
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut buf);
                }
                buf
            })
        };
        let out = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let err = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let deadline = Instant::now() + limit;
        let status = loop {
            match child.try_wait().expect("waiting for the child") {
                Some(status) => break status,
                None if Instant::now() >= deadline => {
                    kill_group(&mut child);
                    panic!("child did not finish within {limit:?}");
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        Output {
            status,
            stdout: out.join().expect("stdout reader"),
            stderr: err.join().expect("stderr reader"),
        }
    }
}

fn kill_group(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_group(&mut c);
        }
    }
}

/// Runs `cmd` to completion within `limit` (output captured).
pub(crate) fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Guarded::spawn(cmd).wait(limit)
}

/// Reads a JSON file.
pub(crate) fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

/// Where tests leave artifacts for a person to look at (screenshots).
pub(crate) fn artifact_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("stampede-reports");
    std::fs::create_dir_all(&dir).expect("artifact directory");
    dir
}

/// Debian's Chromium, which renders the HTML pages in the report tests.
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
/// The SVG namespace, the one URL an inline chart carries.
const SVG_NS: &str = "xmlns=\"http://www.w3.org/2000/svg\"";

/// Chromium without sandbox, GPU, sign-in, updates or any name resolution, so that
/// neither the page nor the browser itself reaches beyond this machine.
pub(crate) fn chromium(binary: &Path, profile: &Path) -> Command {
    let mut c = Command::new(binary);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--enable-logging=stderr",
        "--v=0",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// Every `http://` or `https://` is the SVG namespace or the run's own URL shown as
/// text; and nothing on the page could load anything.
pub(crate) fn assert_no_external_reference(html: &str, own_url: &str) {
    let rest = html
        .replace(SVG_NS, "")
        .replace(&own_url.replace('&', "&amp;"), "");
    for scheme in ["http://", "https://"] {
        if let Some(i) = rest.find(scheme) {
            panic!(
                "external URL in the report: {}",
                &rest[i..(i + 80).min(rest.len())]
            );
        }
    }
    for tag in ["<script", "<link", "<img", "<iframe", "<object", "<embed"] {
        assert!(!html.contains(tag), "{tag} in the report");
    }
    for attr in ["src=", "href=", "url(", "@import"] {
        assert!(!html.contains(attr), "{attr} in the report");
    }
}

/// The `<svg>…</svg>` elements of a document.
pub(crate) fn svgs(doc: &str) -> Vec<&str> {
    doc.match_indices("<svg")
        .map(|(start, _)| {
            let end = doc[start..].find("</svg>").expect("closed svg") + start;
            &doc[start..end]
        })
        .collect()
}

/// The DOM that headless Chromium builds from the page at `html`, after checking that the
/// page tried to load nothing (its CSP refused nothing, no failed load); `None` when
/// Chromium is missing and skipping is allowed.
pub(crate) fn browser_dom(html: &Path, test: &str) -> Option<String> {
    let chromium_bin = external_tool(CHROMIUM, "chromium", test)?;
    let profile = tempfile::tempdir().unwrap();
    let o = run_bounded(
        chromium(&chromium_bin, profile.path())
            .arg("--dump-dom")
            .arg(format!("file://{}", html.display())),
        Duration::from_secs(90),
    );
    assert!(
        o.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(
        !log.contains("Content Security Policy") && !log.contains("Failed to load"),
        "the page tried to load something: {log}"
    );
    Some(String::from_utf8(o.stdout).unwrap())
}
