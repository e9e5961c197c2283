//! The running server: configuration, listeners, the runtime thread, connections (HTTP/1.1,
//! h2c, TLS with ALPN) and the request handler.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONTENT_LENGTH};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::body::ResponseBody;
use crate::instance::{Instance, Stats};
use crate::knobs::{Knobs, MAX_DELAY};
use crate::outage::Outage;
use crate::reply::{apply_knobs, bad_knob, plain_status, read_body, text_response, RequestBody};
use crate::scaling::Scaling;
use crate::stall::StallSchedule;
use crate::tls::{TlsSetup, ALPN_H2, ALPN_HTTP11};
use crate::{journey, poll, ws, FaultProfile, TargetError};

/// Header naming the instance that produced a response.
const SERVED_BY: HeaderName = HeaderName::from_static("x-served-by");
/// Header naming the HTTP version a request arrived with (`HTTP/1.1`, `HTTP/2`).
const PROTOCOL: HeaderName = HeaderName::from_static("x-protocol");
/// Path whose responses echo the request body.
const ECHO_PATH: &str = "/echo";
/// How long runtime shutdown waits for tasks still running on worker threads.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(200);
/// How long a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How to run a target: where to listen, how many instances, and which faults to inject.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    /// Address of the first instance. Port 0 gives every instance its own ephemeral port;
    /// otherwise instance `i` (0-based) listens on `listen.port() + i`.
    pub listen: SocketAddr,
    /// Number of instances (at least 1).
    pub instances: u16,
    /// Instance names are `{name_prefix}-{i}` with `i` starting at 1, e.g. `target-1`.
    pub name_prefix: String,
    /// Fault profile of every instance without an entry in
    /// [`instance_profiles`](Self::instance_profiles).
    pub default_profile: FaultProfile,
    /// 1-based instance index -> full profile replacing the default for that instance.
    pub instance_profiles: BTreeMap<u16, FaultProfile>,
    /// Worker threads of the server runtime (1 = a current-thread runtime).
    pub threads: usize,
    /// Serve TLS (HTTPS) on every instance instead of plain TCP. `None` (the default) serves
    /// plain HTTP.
    pub tls: Option<TlsSetup>,
    /// With TLS: require a client certificate issued by one of the CA certificates in this PEM
    /// file (mutual TLS). Ignored without [`tls`](Self::tls).
    pub tls_client_ca: Option<PathBuf>,
    /// Serve HTTP/2 as well as HTTP/1.1 (default `true`): over TLS `h2` is offered through
    /// ALPN, over plain TCP a client may speak h2c with prior knowledge. `false` serves
    /// HTTP/1.1 only.
    pub http2: bool,
    /// Long-poll events: every period, all requests held on `/poll` are answered with `200`.
    /// The first event comes one period after start. `None` (the default): no periodic events.
    pub poll_event_every: Option<Duration>,
    /// Length of each listener's queue of connections not yet accepted
    /// ([`DEFAULT_BACKLOG`] by default; the kernel caps it at `net.core.somaxconn`).
    pub backlog: u32,
    /// Contention knob: every request holds one lock shared by all instances for this long
    /// (waiting, not burning CPU), so throughput can never pass one request per serial
    /// section. Zero (the default) turns it off. See the crate README, "Scalability knobs".
    pub serial_section: Duration,
    /// Coherency knob: a request that finds `n` requests in flight on the target (itself
    /// included) waits `coherency_delay × n(n−1)` more, so that a closed loop of `N` clients
    /// gets the Universal Scalability Law's `κN(N−1)` term with `κ = coherency_delay / D`
    /// (`D` the parallel delay). Zero (the default) turns it off.
    pub coherency_delay: Duration,
}

/// The default listen backlog: enough for thousands of clients connecting at once (the
/// documented long-poll and fleet examples); `std`'s 128 made the 129th simultaneous connect
/// wait a second for a SYN retransmit.
pub const DEFAULT_BACKLOG: u32 = 4096;

impl TargetConfig {
    /// One instance on `listen` named `target-1`, no faults, one thread, plain HTTP/1.1 and
    /// h2c, no periodic poll events, a listen backlog of [`DEFAULT_BACKLOG`].
    pub fn new(listen: SocketAddr) -> Self {
        TargetConfig {
            listen,
            instances: 1,
            name_prefix: "target".to_owned(),
            default_profile: FaultProfile::default(),
            instance_profiles: BTreeMap::new(),
            threads: 1,
            tls: None,
            tls_client_ca: None,
            http2: true,
            poll_event_every: None,
            backlog: DEFAULT_BACKLOG,
            serial_section: Duration::ZERO,
            coherency_delay: Duration::ZERO,
        }
    }

    /// The fault profile of the 1-based instance `index`.
    fn profile_of(&self, index: u16) -> &FaultProfile {
        self.instance_profiles
            .get(&index)
            .unwrap_or(&self.default_profile)
    }

    fn validate(&self) -> Result<(), TargetError> {
        if self.instances == 0 {
            return Err(TargetError::InvalidConfig(
                "instances must be at least 1".into(),
            ));
        }
        if self.threads == 0 {
            return Err(TargetError::InvalidConfig(
                "threads must be at least 1".into(),
            ));
        }
        if let Some(&bad) = self
            .instance_profiles
            .keys()
            .find(|&&i| i == 0 || i > self.instances)
        {
            return Err(TargetError::InvalidConfig(format!(
                "instance profile for instance {bad}, but instances are numbered 1..={}",
                self.instances
            )));
        }
        let port = self.listen.port();
        if port != 0 && u32::from(port) + u32::from(self.instances) - 1 > u32::from(u16::MAX) {
            return Err(TargetError::InvalidConfig(format!(
                "{} instances starting at port {port} run past port 65535",
                self.instances
            )));
        }
        if self.backlog == 0 {
            return Err(TargetError::InvalidConfig(
                "backlog must be at least 1".into(),
            ));
        }
        if self.poll_event_every.is_some_and(|p| p.is_zero()) {
            return Err(TargetError::InvalidConfig(
                "poll_event_every must be longer than zero".into(),
            ));
        }
        for (key, value) in [
            ("serial-section", self.serial_section),
            ("coherency-delay", self.coherency_delay),
        ] {
            if value > MAX_DELAY {
                return Err(TargetError::invalid(
                    key,
                    &humantime::format_duration(value).to_string(),
                    "at most 1h is allowed",
                ));
            }
        }
        self.default_profile.validate()?;
        for profile in self.instance_profiles.values() {
            profile.validate()?;
        }
        Ok(())
    }
}

/// How connections are served: the HTTP builders and the TLS acceptor.
struct ConnServer {
    /// HTTP/1.1 and HTTP/2 by prior knowledge, told apart by the client's first bytes.
    auto: auto::Builder<TokioExecutor>,
    /// HTTP/1.1 only.
    http1: http1::Builder,
    /// HTTP/2 only (ALPN `h2`).
    http2: http2::Builder<TokioExecutor>,
    /// Whether HTTP/2 is served at all.
    http2_enabled: bool,
    tls: Option<TlsAcceptor>,
}

/// The protocol a connection is served with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnProtocol {
    /// HTTP/1.1, or HTTP/2 when the client starts with its preface.
    Auto,
    Http1,
    Http2,
}

impl ConnServer {
    fn new(http2_enabled: bool, tls: Option<TlsAcceptor>) -> Self {
        let mut auto = auto::Builder::new(TokioExecutor::new());
        auto.http1().keep_alive(true);
        let mut http1 = http1::Builder::new();
        http1.keep_alive(true);
        ConnServer {
            auto,
            http1,
            http2: http2::Builder::new(TokioExecutor::new()),
            http2_enabled,
            tls,
        }
    }

    /// The protocol for a connection whose ALPN result is `alpn` (`None`: plain TCP, or TLS
    /// without ALPN).
    fn protocol(&self, alpn: Option<&[u8]>) -> ConnProtocol {
        match alpn {
            Some(ALPN_H2) if self.http2_enabled => ConnProtocol::Http2,
            _ if !self.http2_enabled => ConnProtocol::Http1,
            Some(ALPN_HTTP11) => ConnProtocol::Http1,
            _ => ConnProtocol::Auto,
        }
    }

    /// Serves HTTP on `io` until the connection ends. HTTP/1.1 connections may be upgraded
    /// (WebSocket).
    async fn serve<I>(&self, io: I, protocol: ConnProtocol, instance: Arc<Instance>)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let io = TokioIo::new(io);
        let service = service_fn(move |req| handle(Arc::clone(&instance), req));
        // Connection errors (resets, malformed requests) end only this connection.
        let _ = match protocol {
            ConnProtocol::Auto => self.auto.serve_connection_with_upgrades(io, service).await,
            ConnProtocol::Http1 => self
                .http1
                .serve_connection(io, service)
                .with_upgrades()
                .await
                .map_err(Into::into),
            ConnProtocol::Http2 => self
                .http2
                .serve_connection(io, service)
                .await
                .map_err(Into::into),
        };
    }
}

/// A running target: a background OS thread (named `stampede-testserver`) with its own tokio
/// runtime, serving every instance.
///
/// Dropping the handle, or calling [`shutdown`](Self::shutdown), stops the server: accept loops
/// end, in-flight connections are dropped and the thread is joined.
#[derive(Debug)]
pub struct TargetHandle {
    addrs: Vec<SocketAddr>,
    names: Vec<String>,
    stats: Arc<Stats>,
    certificate_pem: Option<String>,
    stop: Option<watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl TargetHandle {
    /// Validates `config`, prepares TLS (generating a certificate for
    /// [`TlsSetup::SelfSigned`]), binds every listener and starts serving.
    ///
    /// All listeners are bound before this returns, so bind and TLS errors are reported here
    /// and [`addrs`](Self::addrs) holds the real (possibly ephemeral) ports.
    pub fn start(config: TargetConfig) -> Result<TargetHandle, TargetError> {
        config.validate()?;
        let tls = match &config.tls {
            None => None,
            Some(setup) => Some(crate::tls::build(
                setup,
                config.tls_client_ca.as_deref(),
                config.http2,
            )?),
        };
        let (certificate_pem, acceptor) = match tls {
            None => (None, None),
            Some(t) => (Some(t.trust_pem), Some(t.acceptor)),
        };
        let conn = Arc::new(ConnServer::new(config.http2, acceptor));

        let stats = Arc::new(Stats {
            started: Instant::now(),
            outages: Default::default(),
            served: AtomicU64::new(0),
            body_bytes: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            tls_handshakes: AtomicU64::new(0),
            tls_resumed: AtomicU64::new(0),
            ws_upgrades: AtomicU64::new(0),
            ws_open: AtomicU64::new(0),
            ws_messages: AtomicU64::new(0),
            ws_dropped: AtomicU64::new(0),
            polls_waiting: AtomicU64::new(0),
            poll_event_seq: AtomicU64::new(0),
            poll_events: watch::Sender::new(0),
            journey_requests: AtomicU64::new(0),
        });

        let scaling = Arc::new(Scaling::new(config.serial_section, config.coherency_delay));
        let mut names = Vec::with_capacity(config.instances.into());
        let mut instances = Vec::with_capacity(config.instances.into());
        for index in 1..=config.instances {
            let name = format!("{}-{index}", config.name_prefix);
            let header = HeaderValue::from_str(&name).map_err(|_| {
                TargetError::InvalidConfig(format!(
                    "instance name `{name}` is not a valid header value"
                ))
            })?;
            let profile = config.profile_of(index).clone();
            instances.push(Arc::new(Instance {
                name: header,
                stall: StallSchedule::new(profile.stall, profile.stall_every),
                outage: Outage::new(profile.down_at, profile.up_at),
                down: watch::Sender::new(false),
                profile,
                stats: Arc::clone(&stats),
                scaling: Arc::clone(&scaling),
            }));
            names.push(name);
        }

        let runtime = if config.threads == 1 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(config.threads)
                .thread_name("stampede-testserver-worker")
                .enable_all()
                .build()
        }
        .map_err(TargetError::Runtime)?;
        let runtime = OwnedRuntime(Some(runtime));

        let mut listeners = Vec::with_capacity(instances.len());
        let mut addrs = Vec::with_capacity(instances.len());
        {
            // Registering a listener needs the runtime's reactor.
            let _guard = runtime.enter();
            for i in 0..config.instances {
                let addr = match config.listen.port() {
                    0 => config.listen,
                    // Cannot overflow: checked by `validate`.
                    port => SocketAddr::new(config.listen.ip(), port + i),
                };
                let listener = listen(addr, config.backlog)
                    .map_err(|source| TargetError::Bind { addr, source })?;
                addrs.push(
                    listener
                        .local_addr()
                        .map_err(|source| TargetError::Bind { addr, source })?,
                );
                listeners.push(listener);
            }
        }

        let (stop_tx, stop_rx) = watch::channel(false);
        let poll_every = config.poll_event_every;
        let backlog = config.backlog;
        let served_stats = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name("stampede-testserver".to_owned())
            .spawn(move || {
                let mut runtime = runtime;
                if let Some(rt) = runtime.0.take() {
                    rt.block_on(serve(
                        listeners,
                        instances,
                        conn,
                        served_stats,
                        poll_every,
                        backlog,
                        stop_rx,
                    ));
                    rt.shutdown_timeout(SHUTDOWN_GRACE);
                }
            })
            .map_err(TargetError::Runtime)?;

        Ok(TargetHandle {
            addrs,
            names,
            stats,
            certificate_pem,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The bound address of each instance, in instance order.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The name of each instance (`{prefix}-{i}`), in instance order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The URL scheme clients use: `"https"` with TLS, `"http"` without.
    pub fn scheme(&self) -> &'static str {
        if self.certificate_pem.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// With TLS, the PEM a client should trust: for [`TlsSetup::SelfSigned`] the generated CA
    /// certificate, for [`TlsSetup::Files`] the contents of the certificate file. `None`
    /// without TLS.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.certificate_pem.as_deref()
    }

    /// Writes [`certificate_pem`](Self::certificate_pem) to `path` (replacing the file), so
    /// that a client outside this process can trust the target (`--cacert FILE`).
    pub fn write_certificate_pem(&self, path: impl AsRef<Path>) -> Result<(), TargetError> {
        let path = path.as_ref();
        let pem = self.certificate_pem.as_deref().ok_or_else(|| {
            TargetError::InvalidConfig("TLS is off: there is no certificate to write".into())
        })?;
        std::fs::write(path, pem).map_err(|source| TargetError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// The instances' outages so far (`down-at`, `up-at`), in the order they happened, with
    /// their wall-clock times.
    pub fn outage_events(&self) -> Vec<crate::OutageEvent> {
        self.stats
            .outages
            .lock()
            .map(|log| log.clone())
            .unwrap_or_default()
    }

    /// Total responses produced across all instances (WebSocket upgrades and long-poll answers
    /// included).
    pub fn requests_served(&self) -> u64 {
        self.stats.served.load(Ordering::Relaxed)
    }

    /// Total request body bytes read across all instances.
    pub fn body_bytes_received(&self) -> u64 {
        self.stats.body_bytes.load(Ordering::Relaxed)
    }

    /// TCP connections accepted across all instances.
    pub fn connections_accepted(&self) -> u64 {
        self.stats.connections.load(Ordering::Relaxed)
    }

    /// TLS handshakes completed (full and resumed).
    pub fn tls_handshakes(&self) -> u64 {
        self.stats.tls_handshakes.load(Ordering::Relaxed)
    }

    /// TLS handshakes that resumed an earlier session (tickets are on).
    pub fn tls_resumed(&self) -> u64 {
        self.stats.tls_resumed.load(Ordering::Relaxed)
    }

    /// WebSocket upgrades completed on `/ws`.
    pub fn ws_upgrades(&self) -> u64 {
        self.stats.ws_upgrades.load(Ordering::Relaxed)
    }

    /// WebSocket connections open now.
    pub fn ws_open(&self) -> u64 {
        self.stats.ws_open.load(Ordering::Relaxed)
    }

    /// WebSocket messages (text and binary) echoed.
    pub fn ws_messages(&self) -> u64 {
        self.stats.ws_messages.load(Ordering::Relaxed)
    }

    /// WebSocket messages received but deliberately not echoed (`drop` knob).
    pub fn ws_dropped(&self) -> u64 {
        self.stats.ws_dropped.load(Ordering::Relaxed)
    }

    /// Requests held on `/poll` now.
    pub fn polls_waiting(&self) -> u64 {
        self.stats.polls_waiting.load(Ordering::Relaxed)
    }

    /// Requests answered by the journey API (`/signup`, `/verify`, `/me`, `/picture`,
    /// `/stream`, `/checkin`, `/session`), whatever their status.
    pub fn journey_requests(&self) -> u64 {
        self.stats.journey_requests.load(Ordering::Relaxed)
    }

    /// Stops the server and waits for its thread to finish.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            // An error only means the server thread is already gone.
            let _ = stop.send(true);
        }
        if let Some(thread) = self.thread.take() {
            // A panic on the server thread has already been reported; nothing to add here.
            let _ = thread.join();
        }
    }
}

impl Drop for TargetHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// A runtime that is shut down in the background if dropped unused (on an error path of
/// [`TargetHandle::start`]), because dropping a runtime panics when the caller is itself inside
/// an async context.
#[derive(Debug)]
struct OwnedRuntime(Option<tokio::runtime::Runtime>);

impl std::ops::Deref for OwnedRuntime {
    type Target = tokio::runtime::Runtime;

    fn deref(&self) -> &Self::Target {
        self.0
            .as_ref()
            .expect("runtime present until the server thread takes it")
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Binds `addr` (with `SO_REUSEADDR`, as `std` does) and listens with `backlog`, so that a
/// burst of connects is queued by the kernel instead of losing SYNs (a client would wait
/// for a retransmit, one second or more).
fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Runs every accept loop (and the poll-event ticker) until the stop signal, then returns
/// (dropping the runtime cancels the connection tasks).
async fn serve(
    listeners: Vec<TcpListener>,
    instances: Vec<Arc<Instance>>,
    conn: Arc<ConnServer>,
    stats: Arc<Stats>,
    poll_every: Option<Duration>,
    backlog: u32,
    mut stop: watch::Receiver<bool>,
) {
    for (listener, instance) in listeners.into_iter().zip(instances) {
        tokio::spawn(accept_loop(
            listener,
            instance,
            Arc::clone(&conn),
            backlog,
            stop.clone(),
        ));
    }
    if let Some(every) = poll_every {
        tokio::spawn(poll::tick_events(stats, every));
    }
    // `changed` fails once the sender is gone, which also means stop.
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            break;
        }
    }
}

/// Accepts connections of one instance until the stop signal; during the instance's
/// outage the listener is closed (connects are refused) and bound again on the same address
/// when it comes back.
async fn accept_loop(
    listener: TcpListener,
    instance: Arc<Instance>,
    conn: Arc<ConnServer>,
    backlog: u32,
    mut stop: watch::Receiver<bool>,
) {
    let addr = listener.local_addr().ok();
    let mut listener = Some(listener);
    let started = instance.stats.started;
    loop {
        let elapsed = started.elapsed();
        let down = instance.outage.is_some_and(|o| o.is_down(elapsed));
        if down && listener.is_some() {
            listener = None;
            instance.down.send_replace(true);
            if let Some(addr) = addr {
                instance.record_outage(addr, true);
            }
        } else if !down && listener.is_none() {
            // Bound on the same address again; should another socket hold it meanwhile,
            // try again shortly instead of spinning.
            match addr.map(|a| listen(a, backlog)) {
                Some(Ok(l)) => {
                    listener = Some(l);
                    instance.down.send_replace(false);
                    if let Some(addr) = addr {
                        instance.record_outage(addr, false);
                    }
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
            continue;
        }
        let change = instance
            .outage
            .and_then(|o| o.next_change(elapsed))
            .map(|t| tokio::time::Instant::from_std(started + t));
        let accepted = tokio::select! {
            biased;
            _ = stop.changed() => return,
            _ = sleep_until(change) => continue,
            accepted = accept(listener.as_ref()) => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(_) => {
                // Usually out of file descriptors: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        instance.stats.connections.fetch_add(1, Ordering::Relaxed);
        // Best effort: a socket that refuses NODELAY still works.
        let _ = stream.set_nodelay(true);
        let mut down = instance.down.subscribe();
        let serve = serve_connection(stream, Arc::clone(&instance), Arc::clone(&conn));
        tokio::spawn(async move {
            // The instance going down closes the connection (the stream is dropped).
            tokio::select! {
                _ = serve => {}
                _ = down.wait_for(|d| *d) => {}
            }
        });
    }
}

/// Sleeps until `at`, or forever when there is no `at`.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Accepts on `listener`, or waits forever while there is none (the instance is down).
async fn accept(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Serves one accepted connection: TLS handshake if configured, then HTTP/1.1 (with upgrades)
/// or HTTP/2, chosen by ALPN or, without it, by the client's first bytes.
async fn serve_connection(stream: TcpStream, instance: Arc<Instance>, conn: Arc<ConnServer>) {
    let Some(acceptor) = &conn.tls else {
        conn.serve(stream, conn.protocol(None), instance).await;
        return;
    };
    // A failed or stalled handshake ends only this connection.
    let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(_)) | Err(_) => return,
    };
    let session = tls.get_ref().1;
    let stats = &instance.stats;
    stats.tls_handshakes.fetch_add(1, Ordering::Relaxed);
    if session.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
        stats.tls_resumed.fetch_add(1, Ordering::Relaxed);
    }
    let protocol = conn.protocol(session.alpn_protocol());
    conn.serve(tls, protocol, instance).await;
}

/// Answers one request: routes it to `/ws`, `/poll`, the journey API or the echo handler,
/// waits out stalls and adds the common headers.
async fn handle(
    instance: Arc<Instance>,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, hyper::Error> {
    let received = Instant::now();
    let version = req.version();
    let response = match req.uri().path() {
        ws::PATH => ws::upgrade(&instance, req, received).await,
        poll::PATH => poll::respond(&instance, req, received).await?,
        path if journey::is_journey_path(path) => {
            journey::respond(&instance, req, received).await?
        }
        _ => echo(&instance, req, received).await?,
    };
    instance.wait_out_stall().await;
    Ok(finish(&instance, response, version))
}

/// The echo handler (every path but `/ws`, `/poll` and the journey API): read the body, apply
/// knobs and faults.
async fn echo(
    instance: &Instance,
    req: Request<Incoming>,
    received: Instant,
) -> Result<Response<ResponseBody>, hyper::Error> {
    let knobs = Knobs::parse(req.uri().query());
    let echo = req.uri().path() == ECHO_PATH && knobs.is_ok();
    let body = read_body(req.into_body(), echo, &instance.stats).await?;

    Ok(match knobs {
        Err(e) => bad_knob(&e),
        Ok(_) if body == RequestBody::TooLarge => text_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            Bytes::from_static(b"request body too large to echo (at most 64m)\n"),
        ),
        Ok(knobs) => respond(instance, &knobs, body, received).await,
    })
}

/// Applies delay, CPU burn and the status decision to a request with valid knobs.
async fn respond(
    instance: &Instance,
    knobs: &Knobs,
    body: RequestBody,
    received: Instant,
) -> Response<ResponseBody> {
    let status = apply_knobs(instance, knobs, received)
        .await
        .unwrap_or(StatusCode::OK);

    match (body, knobs.size) {
        (RequestBody::Echo(bytes), _) => {
            let mut resp = Response::new(ResponseBody::full(bytes));
            *resp.status_mut() = status;
            resp
        }
        (_, Some(size)) => {
            let mut resp = Response::new(ResponseBody::filler(size));
            *resp.status_mut() = status;
            resp
        }
        _ => plain_status(status),
    }
}

/// Adds the common headers and counts the response.
fn finish(
    instance: &Instance,
    mut resp: Response<ResponseBody>,
    version: Version,
) -> Response<ResponseBody> {
    let status = resp.status();
    if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        // These statuses carry no body; hyper decides about Content-Length.
        *resp.body_mut() = ResponseBody::full(Bytes::new());
    } else {
        let len = resp.body().len();
        resp.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    let headers = resp.headers_mut();
    headers.insert(SERVED_BY, instance.name.clone());
    headers.insert(PROTOCOL, protocol_name(version));
    instance.stats.served.fetch_add(1, Ordering::Relaxed);
    resp
}

/// The `X-Protocol` value of an HTTP version.
fn protocol_name(version: Version) -> HeaderValue {
    HeaderValue::from_static(match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation() {
        let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut c = TargetConfig::new(local);
        assert!(c.validate().is_ok());
        c.instances = 0;
        assert!(c.validate().is_err());
        c.instances = 2;
        c.instance_profiles.insert(3, FaultProfile::default());
        assert!(c.validate().is_err());
        c.instance_profiles.clear();
        c.instance_profiles.insert(2, FaultProfile::default());
        assert!(c.validate().is_ok());
        c.threads = 0;
        assert!(c.validate().is_err());
        c.threads = 1;
        c.listen = "127.0.0.1:65535".parse().unwrap();
        assert!(c.validate().is_err());
        c.instance_profiles.insert(
            1,
            FaultProfile {
                error_rate: 2.0,
                ..FaultProfile::default()
            },
        );
        c.listen = local;
        assert!(c.validate().is_err());
    }
}
