//! The running server: configuration, listeners, the runtime thread and the request handler.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::body::ResponseBody;
use crate::knobs::{Knobs, MAX_SIZE};
use crate::stall::StallSchedule;
use crate::{FaultProfile, TargetError};

/// Header naming the instance that produced a response.
const SERVED_BY: HeaderName = HeaderName::from_static("x-served-by");
/// Body of successful responses without a `size` knob.
const OK_BODY: &[u8] = b"ok\n";
/// Body of 4xx/5xx responses without a `size` knob.
const ERROR_BODY: &[u8] = b"error\n";
/// Path whose responses echo the request body.
const ECHO_PATH: &str = "/echo";
/// How long runtime shutdown waits for tasks still running on worker threads.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(200);

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
}

impl TargetConfig {
    /// One instance on `listen` named `target-1`, no faults, one thread.
    pub fn new(listen: SocketAddr) -> Self {
        TargetConfig {
            listen,
            instances: 1,
            name_prefix: "target".to_owned(),
            default_profile: FaultProfile::default(),
            instance_profiles: BTreeMap::new(),
            threads: 1,
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
        self.default_profile.validate()?;
        for profile in self.instance_profiles.values() {
            profile.validate()?;
        }
        Ok(())
    }
}

/// Counters shared by all instances of one target.
#[derive(Debug)]
struct Stats {
    /// When the target started; stall windows are measured from here.
    started: Instant,
    /// Responses handed to the connection for writing.
    served: AtomicU64,
    /// Request body bytes read.
    body_bytes: AtomicU64,
}

/// One instance: its name, its faults and the shared counters.
#[derive(Debug)]
struct Instance {
    name: HeaderValue,
    profile: FaultProfile,
    stall: Option<StallSchedule>,
    stats: Arc<Stats>,
}

/// A running target: a background OS thread (named `stampede-target`) with its own tokio
/// runtime, serving every instance.
///
/// Dropping the handle, or calling [`shutdown`](Self::shutdown), stops the server: accept loops
/// end, in-flight connections are dropped and the thread is joined.
#[derive(Debug)]
pub struct TargetHandle {
    addrs: Vec<SocketAddr>,
    names: Vec<String>,
    stats: Arc<Stats>,
    stop: Option<watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl TargetHandle {
    /// Validates `config`, binds every listener and starts serving.
    ///
    /// All listeners are bound before this returns, so bind errors are reported here and
    /// [`addrs`](Self::addrs) holds the real (possibly ephemeral) ports.
    pub fn start(config: TargetConfig) -> Result<TargetHandle, TargetError> {
        config.validate()?;
        let stats = Arc::new(Stats {
            started: Instant::now(),
            served: AtomicU64::new(0),
            body_bytes: AtomicU64::new(0),
        });

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
                profile,
                stats: Arc::clone(&stats),
            }));
            names.push(name);
        }

        let mut std_listeners = Vec::with_capacity(instances.len());
        let mut addrs = Vec::with_capacity(instances.len());
        for i in 0..config.instances {
            let addr = match config.listen.port() {
                0 => config.listen,
                // Cannot overflow: checked by `validate`.
                port => SocketAddr::new(config.listen.ip(), port + i),
            };
            let bind_err = |source| TargetError::Bind { addr, source };
            let listener = StdListener::bind(addr).map_err(bind_err)?;
            listener.set_nonblocking(true).map_err(bind_err)?;
            addrs.push(listener.local_addr().map_err(bind_err)?);
            std_listeners.push(listener);
        }

        let runtime = if config.threads == 1 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(config.threads)
                .thread_name("stampede-target-worker")
                .enable_all()
                .build()
        }
        .map_err(TargetError::Runtime)?;
        let runtime = OwnedRuntime(Some(runtime));

        let listeners = {
            let _guard = runtime.enter();
            std_listeners
                .into_iter()
                .zip(&addrs)
                .map(|(l, &addr)| {
                    TcpListener::from_std(l).map_err(|source| TargetError::Bind { addr, source })
                })
                .collect::<Result<Vec<_>, _>>()?
        };

        let (stop_tx, stop_rx) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("stampede-target".to_owned())
            .spawn(move || {
                let mut runtime = runtime;
                if let Some(rt) = runtime.0.take() {
                    rt.block_on(serve(listeners, instances, stop_rx));
                    rt.shutdown_timeout(SHUTDOWN_GRACE);
                }
            })
            .map_err(TargetError::Runtime)?;

        Ok(TargetHandle {
            addrs,
            names,
            stats,
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

    /// Total responses produced across all instances.
    pub fn requests_served(&self) -> u64 {
        self.stats.served.load(Ordering::Relaxed)
    }

    /// Total request body bytes read across all instances.
    pub fn body_bytes_received(&self) -> u64 {
        self.stats.body_bytes.load(Ordering::Relaxed)
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

/// Runs every accept loop until the stop signal, then returns (dropping the runtime cancels
/// the connection tasks).
async fn serve(
    listeners: Vec<TcpListener>,
    instances: Vec<Arc<Instance>>,
    mut stop: watch::Receiver<bool>,
) {
    for (listener, instance) in listeners.into_iter().zip(instances) {
        tokio::spawn(accept_loop(listener, instance, stop.clone()));
    }
    // `changed` fails once the sender is gone, which also means stop.
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            break;
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    instance: Arc<Instance>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stop.changed() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(_) => {
                // Usually out of file descriptors: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Best effort: a socket that refuses NODELAY still works.
        let _ = stream.set_nodelay(true);
        let instance = Arc::clone(&instance);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(Arc::clone(&instance), req));
            // Connection errors (resets, malformed requests) end only this connection.
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Answers one request: read the body, apply knobs and faults, wait out stalls, respond.
async fn handle(
    instance: Arc<Instance>,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, hyper::Error> {
    let received = Instant::now();
    let knobs = Knobs::parse(req.uri().query());
    let echo = req.uri().path() == ECHO_PATH && knobs.is_ok();
    let body = read_body(req.into_body(), echo, &instance.stats).await?;

    let response = match knobs {
        Err(e) => {
            let mut resp = Response::new(ResponseBody::full(Bytes::from(format!("{e}\n"))));
            *resp.status_mut() = StatusCode::BAD_REQUEST;
            resp.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            resp
        }
        Ok(_) if body == RequestBody::TooLarge => {
            let mut resp = Response::new(ResponseBody::full(Bytes::from_static(
                b"request body too large to echo (at most 64m)\n",
            )));
            *resp.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            resp
        }
        Ok(knobs) => respond(&instance, &knobs, body, received).await,
    };

    if let Some(stall) = instance.stall {
        while let Some(wait) = stall.remaining(instance.stats.started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
    Ok(finish(&instance, response))
}

/// Applies delay, CPU burn and the status decision to a request with valid knobs.
async fn respond(
    instance: &Instance,
    knobs: &Knobs,
    body: RequestBody,
    received: Instant,
) -> Response<ResponseBody> {
    let jitter = if knobs.jitter.is_zero() {
        Duration::ZERO
    } else {
        let nanos = u64::try_from(knobs.jitter.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    };
    let delay = instance
        .profile
        .delay
        .saturating_add(knobs.delay)
        .saturating_add(jitter);
    let wait = delay.saturating_sub(received.elapsed());
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    if !knobs.cpu.is_zero() {
        burn_cpu(knobs.cpu);
    }

    let profile = &instance.profile;
    let status = if profile.error_rate > 0.0 && fastrand::f64() < profile.error_rate {
        profile.effective_error_status()
    } else if knobs.status.is_empty() {
        200
    } else {
        knobs.status.pick(fastrand::f64()).unwrap_or(200)
    };
    // Valid by construction: knobs and profiles only admit 200..=999.
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);

    let body = match (body, knobs.size) {
        (RequestBody::Echo(bytes), _) => ResponseBody::full(bytes),
        (_, Some(size)) => ResponseBody::filler(size),
        _ if status.as_u16() >= 400 => ResponseBody::full(Bytes::from_static(ERROR_BODY)),
        _ => ResponseBody::full(Bytes::from_static(OK_BODY)),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp
}

/// Adds the common headers and counts the response.
fn finish(instance: &Instance, mut resp: Response<ResponseBody>) -> Response<ResponseBody> {
    let status = resp.status();
    if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        // These statuses carry no body; hyper decides about Content-Length.
        *resp.body_mut() = ResponseBody::full(Bytes::new());
    } else {
        let len = resp.body().len();
        resp.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    resp.headers_mut().insert(SERVED_BY, instance.name.clone());
    instance.stats.served.fetch_add(1, Ordering::Relaxed);
    resp
}

/// Busy-loops on the current worker for `duration` of wall time.
fn burn_cpu(duration: Duration) {
    let start = Instant::now();
    let mut x = 0u64;
    while start.elapsed() < duration {
        for _ in 0..64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

/// What was read from a request body.
#[derive(Debug, PartialEq)]
enum RequestBody {
    /// Read and discarded.
    Discarded,
    /// Kept for `/echo`.
    Echo(Bytes),
    /// Too large to echo (read and discarded).
    TooLarge,
}

/// Reads the whole request body, counting its bytes; keeps it only when `keep` is set.
async fn read_body(
    mut body: Incoming,
    keep: bool,
    stats: &Stats,
) -> Result<RequestBody, hyper::Error> {
    let mut total = 0u64;
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue; // trailers
        };
        total += data.len() as u64;
        stats
            .body_bytes
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        if !keep || total > MAX_SIZE {
            continue;
        }
        match (&first, &mut joined) {
            (None, _) => first = Some(data),
            (Some(_), Some(buf)) => buf.extend_from_slice(&data),
            (Some(f), None) => {
                let mut buf = BytesMut::with_capacity(f.len() + data.len());
                buf.extend_from_slice(f);
                buf.extend_from_slice(&data);
                joined = Some(buf);
            }
        }
    }
    Ok(if !keep {
        RequestBody::Discarded
    } else if total > MAX_SIZE {
        RequestBody::TooLarge
    } else {
        RequestBody::Echo(joined.map_or_else(|| first.unwrap_or_default(), BytesMut::freeze))
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

    #[test]
    fn burn_cpu_takes_its_time() {
        let start = Instant::now();
        burn_cpu(Duration::from_millis(5));
        assert!(start.elapsed() >= Duration::from_millis(5));
    }
}
