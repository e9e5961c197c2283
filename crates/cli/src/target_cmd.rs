//! `stampede target`: the built-in test server in the foreground.

use std::sync::atomic::Ordering;
use std::time::Duration;

use stampede_testserver::{FaultProfile, TargetConfig, TargetHandle, TlsSetup};

use crate::args::TargetArgs;
use crate::outage_log::OutageReporter;
use crate::{UsageError, EXIT_OK};

fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// Builds the target configuration from flags.
pub(crate) fn config_from_args(a: &TargetArgs) -> anyhow::Result<TargetConfig> {
    let mut config = TargetConfig::new(a.listen);
    config.instances = a.instances;
    config.name_prefix = a.name.clone();
    config.threads = a.threads;
    config.http2 = !a.no_http2;
    config.poll_event_every = a.poll_event_every;
    config.backlog = a.backlog;
    for (flag, value) in [
        ("--serial-section", a.serial_section),
        ("--coherency-delay", a.coherency_delay),
    ] {
        if value.is_some_and(|d| d > Duration::from_secs(3600)) {
            return Err(usage(format!("{flag}: at most 1h is allowed")));
        }
    }
    config.serial_section = a.serial_section.unwrap_or_default();
    config.coherency_delay = a.coherency_delay.unwrap_or_default();
    config.tls = match (&a.cert, &a.key) {
        (Some(cert), Some(key)) => Some(TlsSetup::Files {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ if a.tls => Some(TlsSetup::SelfSigned),
        _ => None,
    };
    if config.tls.is_none() && (a.client_ca.is_some() || a.cert_out.is_some()) {
        return Err(usage(
            "--client-ca and --cert-out need --tls or --cert/--key",
        ));
    }
    config.tls_client_ca = a.client_ca.clone();
    let mut profile = FaultProfile {
        error_status: a.error_status,
        ..FaultProfile::default()
    };
    if let Some(d) = a.delay {
        profile.delay = d;
    }
    if let Some(r) = a.error_rate {
        if !(0.0..=1.0).contains(&r) {
            return Err(usage(format!("--error-rate {r} must be between 0 and 1")));
        }
        profile.error_rate = r;
    }
    if let Some(s) = a.stall {
        profile.stall = Some(s);
        profile.stall_every = a.stall_every.unwrap_or_default();
    }
    for spec in &a.instance_faults {
        let (n, rest) = spec.split_once(':').ok_or_else(|| {
            usage(format!(
                "--instance-fault '{spec}': expected N:KEY=VALUE,..."
            ))
        })?;
        let n: u16 = n.trim().parse().map_err(|_| {
            usage(format!(
                "--instance-fault '{spec}': '{n}' is not an instance number"
            ))
        })?;
        let p = profile
            .parse_overrides(rest)
            .map_err(|e| usage(format!("--instance-fault '{spec}': {e}")))?;
        config.instance_profiles.insert(n, p);
    }
    config.default_profile = profile;
    Ok(config)
}

pub(crate) fn run(a: TargetArgs) -> anyhow::Result<u8> {
    let config = config_from_args(&a)?;
    for (flag, path) in [("--cert-out", &a.cert_out), ("--outage-log", &a.outage_log)] {
        if let Some(path) = path {
            crate::outputs::check_writable(flag, path)?;
        }
    }
    let mut outages = OutageReporter::create(a.outage_log.as_deref())?;
    let handle = TargetHandle::start(config).map_err(|e| usage(e.to_string()))?;
    let scheme = handle.scheme();
    for (addr, name) in handle.addrs().iter().zip(handle.names()) {
        println!("{name} listening on {scheme}://{addr}/");
    }
    if handle.certificate_pem().is_some() {
        let path = a.cert_out.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("stampede-testserver-{}.pem", std::process::id()))
        });
        handle
            .write_certificate_pem(&path)
            .map_err(|e| usage(format!("--cert-out: {e}")))?;
        println!(
            "certificate to trust written to {} (e.g. --cacert {})",
            path.display(),
            path.display()
        );
    }
    let protocols = match (a.no_http2, scheme) {
        (true, _) => "HTTP/1.1",
        (false, "https") => "HTTP/1.1 and h2 (ALPN)",
        (false, _) => "HTTP/1.1 and h2c (prior knowledge)",
    };
    println!("protocols: {protocols}");
    if let Some(s) = a.serial_section.filter(|s| !s.is_zero()) {
        println!(
            "serial section: every request holds one shared lock for {s:?} (at most {:.0} req/s)",
            1.0 / s.as_secs_f64()
        );
    }
    if let Some(d) = a.coherency_delay.filter(|d| !d.is_zero()) {
        println!("coherency delay: a request with n in flight waits {d:?} x n(n-1) more");
    }
    println!("knobs: ?delay=20ms&jitter=5ms&status=503:0.05&size=1k&cpu=1ms  (Ctrl-C stops)");
    println!("/ws: WebSocket echo ?delay=20ms&drop=0.01&close-after=30s&reject=1");
    println!("/poll: long-poll ?hold=30s&event-after=2s");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    crate::outputs::stop_on_signals(&stop)?;
    while !stop.load(Ordering::Relaxed) {
        // Outages are reported within this sleep of happening.
        std::thread::sleep(Duration::from_millis(50));
        outages.report(&handle)?;
    }
    let served = handle.requests_served();
    handle.shutdown();
    println!("served {served} requests");
    Ok(EXIT_OK)
}
