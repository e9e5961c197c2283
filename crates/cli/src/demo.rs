//! `stampede demo`: three built-in targets (healthy, slow with pauses, flaky) and a
//! ramping open-model run against them, grouped by instance.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use stampede_plan::{Arrival, GroupBy, Load, RateProfile, RunPlan, Stage};
use stampede_testserver::{FaultProfile, TargetConfig, TargetHandle};

use crate::args::DemoArgs;
use crate::UsageError;

pub(crate) fn run(a: DemoArgs) -> anyhow::Result<u8> {
    if a.duration.is_zero() {
        return Err(UsageError("--duration must be longer than 0s".into()).into());
    }
    crate::outputs::check_run_outputs(a.out.as_deref(), &a.output)?;
    let mut config = TargetConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    config.instances = 3;
    config.name_prefix = "instance".into();
    config.threads = 1;
    config.instance_profiles.insert(
        2,
        FaultProfile {
            delay: Duration::from_millis(25),
            stall: Some(Duration::from_millis(400)),
            stall_every: Duration::from_secs(5),
            ..FaultProfile::default()
        },
    );
    config.instance_profiles.insert(
        3,
        FaultProfile {
            error_rate: 0.05,
            error_status: 503,
            ..FaultProfile::default()
        },
    );
    let target = TargetHandle::start(config)?;
    let first = target.addrs()[0];
    if !a.quiet {
        eprintln!("demo: three built-in targets on {:?}", target.addrs());
        eprintln!("  instance-1 healthy; instance-2 +25 ms and a 400 ms pause every 5 s; instance-3 answers 503 to 5%");
        eprintln!(
            "  ramping 0 -> {} req/s over a third of {:.0}s, then holding (open model, latency corrected)",
            a.peak_rate,
            a.duration.as_secs_f64()
        );
    }
    let third = a.duration / 3;
    let plan = RunPlan::builder(format!("http://{first}/?jitter=2ms"))
        .load(Load::Open {
            profile: RateProfile {
                start_rate: 0.0,
                stages: vec![
                    Stage {
                        duration: third,
                        target_rate: a.peak_rate,
                    },
                    Stage {
                        duration: a.duration - third,
                        target_rate: a.peak_rate,
                    },
                ],
            },
            arrival: Arrival::Poisson,
            max_connections: NonZeroUsize::new(600).expect("non-zero"),
        })
        .duration(a.duration)
        .timeout(Duration::from_secs(5))
        .group_by(Some(GroupBy::Header("X-Served-By".into())))
        .connect_to(target.addrs().to_vec())
        .build()
        .map_err(|e| UsageError(e.to_string()))?;
    let code = crate::run_cmd::execute(&plan, a.out.as_deref(), a.quiet, &a.output, Vec::new())?;
    target.shutdown();
    Ok(code)
}
