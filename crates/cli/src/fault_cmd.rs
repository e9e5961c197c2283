//! `stampede run --fault`: the run's plan pointed at in-process fault proxies, one in front
//! of each address of the target; `--outage-log`: the target's outages imported.

use stampede_experiment::{FaultInjector, Observer, OutageImport};
use stampede_plan::RunPlan;

use crate::args::RunArgs;
use crate::UsageError;

/// Starts the fault proxies for `plan` (one per `--connect-to` address, else one for the
/// URL's host and port) and returns the run's flags connected to them (`--connect-to` the
/// proxies), with the proxies' observer. The URL is unchanged, so the Host header and TLS
/// SNI still name the target.
pub(crate) fn through_proxies(
    a: &RunArgs,
    plan: &RunPlan,
) -> anyhow::Result<(RunArgs, FaultInjector)> {
    let requests = plan
        .requests()
        .ok_or_else(|| UsageError("--fault applies to a URL's run".into()))?;
    let upstreams: Vec<String> = if requests.connect_to.is_empty() {
        let host = &requests.target.host;
        vec![if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{}", requests.target.port)
        } else {
            format!("{host}:{}", requests.target.port)
        }]
    } else {
        requests
            .connect_to
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    let injector = FaultInjector::start(&upstreams, a.faults.clone())
        .map_err(|e| UsageError(format!("--fault: {e}")))?;
    let mut proxied = a.clone();
    proxied.request.connect_to = injector
        .listen_addrs()
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok((proxied, injector))
}

/// The observer that imports `--outage-log` into the fault timeline, when given; the log
/// must be readable now (a usage error naming the flag, the file, line and column).
pub(crate) fn outage_import(a: &RunArgs) -> anyhow::Result<Vec<Box<dyn Observer>>> {
    let Some(path) = &a.outage_log else {
        return Ok(Vec::new());
    };
    let import = OutageImport::new(path).map_err(|e| UsageError(format!("--outage-log {e}")))?;
    Ok(vec![Box::new(import)])
}
