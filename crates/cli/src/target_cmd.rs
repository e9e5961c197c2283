//! `stampede target`: the built-in test server in the foreground.

use std::sync::atomic::Ordering;
use std::time::Duration;

use stampede_target::{FaultProfile, TargetConfig, TargetHandle};

use crate::args::TargetArgs;
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
    let handle = TargetHandle::start(config).map_err(|e| usage(e.to_string()))?;
    for (addr, name) in handle.addrs().iter().zip(handle.names()) {
        println!("{name} listening on http://{addr}/");
    }
    println!("knobs: ?delay=20ms&jitter=5ms&status=503:0.05&size=1k&cpu=1ms  (Ctrl-C stops)");
    let stop = crate::run_cmd::abort_flag()?;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let served = handle.requests_served();
    handle.shutdown();
    println!("served {served} requests");
    Ok(EXIT_OK)
}
