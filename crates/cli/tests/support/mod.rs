//! Helpers for the external suite: a private nginx per test, the `stampede` binary run
//! as a child process, and readers for its JSON result.
//!
//! Everything listens on and connects to 127.0.0.1 only, and every wait is bounded.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

pub(crate) mod exporters;
pub(crate) mod hdrh;
pub(crate) mod proxy;

/// Where Debian installs nginx (`apt-get install nginx`; `.ci/run` does it).
const NGINX: &str = "/usr/sbin/nginx";
/// Set to `1` to let the external suite pass without nginx.
const SKIP_ENV: &str = "STAMPEDE_SKIP_EXTERNAL";
/// How long nginx may take to accept its first connection.
const NGINX_READY: Duration = Duration::from_secs(5);

/// The tests of this suite must not overlap: each one saturates the machine's cores
/// (stampede and nginx compete for them), so a second test running beside it would
/// falsify both results. The harness runs tests on several threads by default; every
/// test takes this lock first instead of relying on `--test-threads=1`.
static SERIAL: Mutex<()> = Mutex::new(());

/// Takes the suite-wide lock (a failed test poisons it; the next one still runs).
pub(crate) fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The nginx binary, or `None` when it is missing and `STAMPEDE_SKIP_EXTERNAL=1` allows
/// skipping. Without that variable a missing nginx fails the test: the suite is an
/// acceptance test and must not pass vacuously.
pub(crate) fn nginx_binary(test: &str) -> Option<PathBuf> {
    let path = PathBuf::from(NGINX);
    if path.is_file() {
        return Some(path);
    }
    if std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") {
        eprintln!("{test}: skipped: {NGINX} not found and {SKIP_ENV}=1");
        return None;
    }
    panic!(
        "{test}: {NGINX} not found. The external suite needs Debian's nginx \
         (`apt-get install nginx`, which `bash .ci/run` does); set {SKIP_ENV}=1 to skip it."
    );
}

/// A private nginx in single-process mode (`master_process off`): the child we spawn
/// is the only nginx process, so it is also the one that serves requests, and SIGSTOP
/// to its PID freezes the server. Killed when dropped.
pub(crate) struct Nginx {
    child: Child,
    dir: TempDir,
    #[allow(dead_code)] // read by Nginx::url, not used by every test crate
    port: u16,
    /// All ports of the config (`port` is the first); see [`Nginx::start_with`].
    ports: Vec<u16>,
}

impl Nginx {
    /// Starts nginx answering `200 "ok\n"` on `/` and `503` on `/fail`.
    pub(crate) fn start(binary: &Path) -> Nginx {
        // The port is picked by binding port 0 and releasing it; another process could
        // take it in between, so a start that fails on the address is retried.
        let mut last_error = String::new();
        for _ in 0..3 {
            match Nginx::try_start(binary) {
                Ok(n) => return n,
                Err(e) => last_error = e,
            }
        }
        panic!("nginx did not start: {last_error}");
    }

    fn try_start(binary: &Path) -> Result<Nginx, String> {
        Nginx::try_start_with(binary, 1, &|_, ports| default_server(ports[0]))
    }

    /// Starts nginx with `ports` free 127.0.0.1 ports and the `server` blocks (and any
    /// other `http`-level directives, such as `log_format`) that `servers(dir, ports)`
    /// returns. They are placed inside `http {}` after the shared settings (the access
    /// log `DIR/access.log` that [`Nginx::access_log_lines`] counts, keep-alive, temporary
    /// paths); `dir` is nginx's private directory. Retried like [`Nginx::start`].
    #[allow(dead_code)] // used by protocols_external.rs, not by every test crate
    pub(crate) fn start_with(
        binary: &Path,
        ports: usize,
        servers: &dyn Fn(&Path, &[u16]) -> String,
    ) -> Nginx {
        let mut last_error = String::new();
        for _ in 0..3 {
            match Nginx::try_start_with(binary, ports, servers) {
                Ok(n) => return n,
                Err(e) => last_error = e,
            }
        }
        panic!("nginx did not start: {last_error}");
    }

    fn try_start_with(
        binary: &Path,
        ports: usize,
        servers: &dyn Fn(&Path, &[u16]) -> String,
    ) -> Result<Nginx, String> {
        let dir = tempfile::Builder::new()
            .prefix("stampede-nginx-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let ports: Vec<u16> = (0..ports.max(1)).map(|_| free_port()).collect();
        let port = ports[0];
        let servers = servers(dir.path(), &ports);
        let d = dir.path().display().to_string();
        let config = format!(
            r#"daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{
    worker_connections 4096;
}}
http {{
    access_log {d}/access.log;
    keepalive_requests 1000000;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{servers}
}}
"#
        );
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config).map_err(|e| format!("cannot write {conf:?}: {e}"))?;
        let output = File::create(dir.path().join("nginx.out"))
            .map_err(|e| format!("cannot create nginx.out: {e}"))?;
        let output2 = output
            .try_clone()
            .map_err(|e| format!("cannot clone a file handle: {e}"))?;
        let child = Command::new(binary)
            // -e: never touch the compiled-in /var/log/nginx/error.log.
            .args(["-p", &d, "-c", &conf.display().to_string()])
            .args(["-e", &format!("{d}/error.log")])
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(output2)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let mut nginx = Nginx {
            child,
            dir,
            port,
            ports,
        };
        let deadline = Instant::now() + NGINX_READY;
        // Ready when every port accepts (nginx binds them all before serving any).
        let mut ready = 0;
        loop {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                return Err(format!(
                    "nginx exited with {status} before accepting connections:\n{}",
                    nginx.diagnostics()
                ));
            }
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, nginx.ports[ready]));
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                ready += 1;
                if ready == nginx.ports.len() {
                    return Ok(nginx);
                }
                continue;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "nginx did not accept connections on {addr} within {NGINX_READY:?}:\n{}",
                    nginx.diagnostics()
                ));
            }
            sleep(Duration::from_millis(20));
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    #[allow(dead_code)] // used by nginx.rs and others, not by every test crate
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The `i`-th port of [`Nginx::start_with`] (0 is the first).
    #[allow(dead_code)] // used by protocols_external.rs, not by every test crate
    pub(crate) fn port(&self, i: usize) -> u16 {
        self.ports[i]
    }

    /// The access log's lines as they are now (call [`Nginx::access_log_lines`] first to
    /// let nginx finish writing).
    #[allow(dead_code)] // used by protocols_external.rs, not by every test crate
    pub(crate) fn access_log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// nginx's private directory (config, logs).
    #[allow(dead_code)] // used by nginx.rs, not by every test crate
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The PID of the (only) nginx process.
    #[allow(dead_code)] // used by nginx.rs and others, not by every test crate
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Freezes the server (SIGSTOP): connections queue in the kernel, nothing is answered.
    #[allow(dead_code)] // used by nginx.rs and others, not by every test crate
    pub(crate) fn pause(&self) {
        signal(self.pid(), "STOP");
    }

    /// Lets a paused server run again (SIGCONT).
    #[allow(dead_code)] // used by nginx.rs and others, not by every test crate
    pub(crate) fn resume(&self) {
        signal(self.pid(), "CONT");
    }

    /// Requests nginx has logged so far. nginx writes the access-log line right after
    /// the response, so the count is read until it stops changing (bounded to 3 s).
    pub(crate) fn access_log_lines(&self) -> u64 {
        let path = self.dir.path().join("access.log");
        let count = || -> u64 {
            match File::open(&path) {
                Ok(f) => BufReader::new(f).split(b'\n').count() as u64,
                Err(_) => 0,
            }
        };
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut last = count();
        loop {
            sleep(Duration::from_millis(100));
            let now = count();
            if now == last || Instant::now() >= deadline {
                return now;
            }
            last = now;
        }
    }

    /// nginx's own output and error log, for failure messages.
    fn diagnostics(&self) -> String {
        let read = |name: &str| {
            std::fs::read_to_string(self.dir.path().join(name))
                .unwrap_or_else(|e| format!("({name}: {e})"))
        };
        format!(
            "--- nginx output ---\n{}--- error.log ---\n{}",
            read("nginx.out"),
            read("error.log")
        )
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGKILL also ends a stopped process; wait reaps it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `server` block of [`Nginx::start`]: `200 "ok\n"` on `/`, `503` on `/fail`.
fn default_server(port: u16) -> String {
    format!(
        r#"    server {{
        listen 127.0.0.1:{port};
        location / {{
            return 200 "ok\n";
        }}
        location /fail {{
            return 503;
        }}
    }}"#
    )
}

/// A port that was free a moment ago on 127.0.0.1.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0")
}

/// Sends a signal by name to a process with the shell's `kill` builtin (the test has
/// no libc binding, and `/bin/sh` is present where a `kill` binary may not be).
fn signal(pid: u32, name: &str) {
    let status = Command::new("/bin/sh")
        .args(["-c", "kill -s \"$1\" \"$2\"", "sh", name, &pid.to_string()])
        .stdin(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot run /bin/sh to send SIG{name}: {e}"));
    assert!(status.success(), "kill -s {name} {pid} failed: {status}");
}

/// A running `stampede run`; killed when dropped unfinished.
pub(crate) struct Stampede {
    child: Child,
    dir: TempDir,
    args: Vec<String>,
}

/// A finished `stampede run`: exit status, console output and the `--out` document.
pub(crate) struct RunOutput {
    pub(crate) status: ExitStatus,
    pub(crate) json: Value,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) args: Vec<String>,
}

impl Stampede {
    /// Starts `stampede run URL ARGS... -q --out FILE`.
    pub(crate) fn spawn(url: &str, args: &[&str]) -> Stampede {
        Stampede::spawn_command("run", url, args)
    }

    /// Starts `stampede COMMAND URL ARGS... -q --out FILE` (`run`, `matrix`, ...).
    pub(crate) fn spawn_command(command: &str, url: &str, args: &[&str]) -> Stampede {
        let mut all = vec![command, url];
        all.extend(args);
        Stampede::spawn_args(&all)
    }

    /// Starts `stampede ARGS... -q --out FILE` (`coordinator --listen ...`).
    pub(crate) fn spawn_args(args: &[&str]) -> Stampede {
        Stampede::spawn_env(args, &[])
    }

    /// [`Stampede::spawn_args`] with extra environment variables
    /// (`JOB_COMPLETION_INDEX`).
    pub(crate) fn spawn_env(args: &[&str], env: &[(&str, &str)]) -> Stampede {
        let dir = tempfile::Builder::new()
            .prefix("stampede-run-")
            .tempdir()
            .expect("temporary directory");
        let out = dir.path().join("result.json").display().to_string();
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend(["-q".into(), "--out".into(), out]);
        let stdout = File::create(dir.path().join("stdout")).expect("stdout file");
        let stderr = File::create(dir.path().join("stderr")).expect("stderr file");
        let child = Command::new(env!("CARGO_BIN_EXE_stampede"))
            .args(&all)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("running the stampede binary");
        Stampede {
            child,
            dir,
            args: all,
        }
    }

    /// Sends SIGINT (Ctrl-C) to the run.
    #[allow(dead_code)] // used by matrix.rs, not by every test crate
    pub(crate) fn interrupt(&self) {
        signal(self.child.id(), "INT");
    }

    /// Sends SIGKILL: the process dies at once, without a word to anyone.
    #[allow(dead_code)] // used by coordinator.rs, not by every test crate
    pub(crate) fn kill_hard(&self) {
        signal(self.child.id(), "KILL");
    }

    /// Waits for the run to end (at most `limit`, then it is killed and the test fails)
    /// and reads its result.
    pub(crate) fn wait(mut self, limit: Duration) -> RunOutput {
        let deadline = Instant::now() + limit;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => sleep(Duration::from_millis(20)),
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!(
                        "stampede {} did not finish within {limit:?}\nstderr:\n{}",
                        self.args.join(" "),
                        self.read("stderr")
                    );
                }
                Err(e) => panic!("waiting for stampede: {e}"),
            }
        };
        let stdout = self.read("stdout");
        let stderr = self.read("stderr");
        let path = self.dir.path().join("result.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "stampede {} ({status}) wrote no result ({e})\nstdout:\n{stdout}\nstderr:\n{stderr}",
                self.args.join(" ")
            )
        });
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("the result is not JSON: {e}\n{text}"));
        RunOutput {
            status,
            json,
            stdout,
            stderr,
            args: std::mem::take(&mut self.args),
        }
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

impl Drop for Stampede {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `stampede run URL ARGS...` to completion (bounded by `limit`).
pub(crate) fn stampede(url: &str, args: &[&str], limit: Duration) -> RunOutput {
    Stampede::spawn(url, args).wait(limit)
}

impl RunOutput {
    /// The unsigned integer at a JSON pointer (`/summary/requests`).
    pub(crate) fn u64(&self, pointer: &str) -> u64 {
        self.json
            .pointer(pointer)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("{pointer} is not an unsigned integer\n{}", self.context()))
    }

    /// The number at a JSON pointer (`/summary/latency_ms/p99`).
    pub(crate) fn f64(&self, pointer: &str) -> f64 {
        self.json
            .pointer(pointer)
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("{pointer} is not a number\n{}", self.context()))
    }

    /// The string at a JSON pointer.
    #[allow(dead_code)] // used by nginx.rs and others, not by every test crate
    pub(crate) fn str(&self, pointer: &str) -> &str {
        self.json
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{pointer} is not a string\n{}", self.context()))
    }

    /// Asserts exit code 0.
    pub(crate) fn assert_success(&self) {
        assert!(
            self.status.success(),
            "stampede exited with {}\n{}",
            self.status,
            self.context()
        );
    }

    /// The command, the summary and the console output, for assertion messages.
    pub(crate) fn context(&self) -> String {
        let summary = self
            .json
            .get("summary")
            .map(|s| serde_json::to_string_pretty(s).unwrap_or_default())
            .unwrap_or_default();
        let extra = serde_json::json!({
            "errors_by_class": self.json.get("errors_by_class"),
            "status_codes": self.json.get("status_codes"),
            "warnings": self.json.pointer("/generator/warnings"),
            "peak_rss_bytes": self.json.pointer("/generator/peak_rss_bytes"),
        });
        format!(
            "command: stampede {}\nsummary: {summary}\n{extra}\nstdout:\n{}\nstderr:\n{}",
            self.args.join(" "),
            self.stdout,
            self.stderr
        )
    }
}

/// True when `got` is within `fraction` (0.01 = 1%) of `want`.
#[allow(dead_code)] // used by nginx.rs and others, not by every test crate
pub(crate) fn within(got: f64, want: f64, fraction: f64) -> bool {
    (got - want).abs() <= want.abs() * fraction
}

/// An external program the suite needs besides nginx (`openssl`, `h2load`, a Python
/// with `websockets`): `found` when the caller located it; otherwise `None` when
/// `STAMPEDE_SKIP_EXTERNAL=1` allows skipping, and a failed test when it does not
/// (`install` says how to get it).
#[allow(dead_code)] // used by protocols_external.rs, not by every test crate
pub(crate) fn external_tool(
    test: &str,
    what: &str,
    found: Option<PathBuf>,
    install: &str,
) -> Option<PathBuf> {
    if found.is_some() {
        return found;
    }
    if std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") {
        eprintln!("{test}: skipped: {what} not found and {SKIP_ENV}=1");
        return None;
    }
    panic!("{test}: {what} not found ({install}, which `bash .ci/run` does); set {SKIP_ENV}=1 to skip it.");
}

/// The first of `candidates` that is an existing file; a bare name (no `/`) is looked
/// up in `PATH`.
#[allow(dead_code)] // used by protocols_external.rs, not by every test crate
pub(crate) fn find_program(candidates: &[&str]) -> Option<PathBuf> {
    for c in candidates {
        if c.contains('/') {
            let p = PathBuf::from(c);
            if p.is_file() {
                return Some(p);
            }
        } else if let Some(paths) = std::env::var_os("PATH") {
            if let Some(p) = std::env::split_paths(&paths)
                .map(|dir| dir.join(c))
                .find(|p| p.is_file())
            {
                return Some(p);
            }
        }
    }
    None
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port` (at most `limit`).
#[allow(dead_code)] // used by protocols_external.rs, not by every test crate
pub(crate) fn wait_for_listener(port: u16, limit: Duration) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return true;
        }
        sleep(Duration::from_millis(20));
    }
    false
}

/// `openssl` (Debian's `openssl` package), or `None` as [`external_tool`] allows.
#[allow(dead_code)] // used by protocols_external.rs and matrix.rs, not by every test crate
pub(crate) fn openssl(test: &str) -> Option<PathBuf> {
    external_tool(
        test,
        "openssl",
        find_program(&["/usr/bin/openssl", "openssl"]),
        "`apt-get install openssl`",
    )
}

/// The key of a test certificate.
#[allow(dead_code)] // used by protocols_external.rs and matrix.rs, not by every test crate
#[derive(Debug, Clone, Copy)]
pub(crate) enum CertKey {
    /// ECDSA P-256: cheap handshakes.
    EcP256,
    /// RSA 4096: every full handshake costs the server a few milliseconds of signing.
    Rsa4096,
}

/// A self-signed end-entity certificate for `localhost` and `127.0.0.1`.
/// `CA:FALSE`: webpki refuses a CA certificate as a server's own certificate, and a
/// self-signed end-entity certificate is its own trust anchor with `--cacert`.
#[allow(dead_code)] // used by protocols_external.rs and matrix.rs, not by every test crate
pub(crate) fn make_certificate(
    openssl: &Path,
    dir: &Path,
    key_type: CertKey,
) -> (PathBuf, PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let mut cmd = Command::new(openssl);
    cmd.args(["req", "-x509"]);
    match key_type {
        CertKey::EcP256 => cmd
            .args(["-newkey", "ec"])
            .args(["-pkeyopt", "ec_paramgen_curve:prime256v1"]),
        CertKey::Rsa4096 => cmd.args(["-newkey", "rsa:4096"]),
    };
    let (status, _, stderr) = run_bounded(
        cmd.arg("-nodes")
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .args(["-days", "2", "-subj", "/CN=localhost"])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]),
        dir,
        Duration::from_secs(60),
    );
    assert!(status.success(), "openssl req failed ({status}):\n{stderr}");
    (cert, key)
}

/// Runs a command with its output in files (no pipe to fill up), killed after `limit`.
#[allow(dead_code)] // used by protocols_external.rs and matrix.rs, not by every test crate
pub(crate) fn run_bounded(
    cmd: &mut Command,
    dir: &Path,
    limit: Duration,
) -> (ExitStatus, String, String) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let tag = NEXT.fetch_add(1, Ordering::Relaxed);
    let out_path = dir.join(format!("cmd-{tag}.stdout"));
    let err_path = dir.join(format!("cmd-{tag}.stderr"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("stdout file"))
        .stderr(File::create(&err_path).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        sleep(Duration::from_millis(20));
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    (status, read(&out_path), read(&err_path))
}

/// Asserts that `doc` follows the committed result schema.
#[allow(dead_code)] // used by coordinator.rs, not by every test crate
pub(crate) fn assert_result_schema(doc: &Value) {
    let schema: Value = serde_json::from_str(stampede_result::RESULT_SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "schema violations: {errors:#?}");
}
