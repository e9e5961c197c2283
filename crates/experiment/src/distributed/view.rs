//! Between a worker's plan and the coordinator's live view: the hello that describes a
//! worker's run, and the plan the coordinator's observers (live view, progress lines,
//! exporter, thresholds) see: the workers' loads summed, the coordinator's criteria.

use std::num::NonZeroUsize;
use std::time::Duration;

use stampede_plan::{
    Arrival, Load, PlanError, RateProfile, RequestSpec, RunPlan, ScopedThreshold, Stage, Workload,
};

use super::reporter::unix_ms;
use super::wire::{Hello, ShardId, ViewLoad, WireThreshold, PROTOCOL_VERSION};

impl Hello {
    /// The hello of a worker that runs `plan` (its share, when sharded).
    /// Its shard (`--shard`) becomes its index; its `--start-at` the instant its start
    /// error is measured from.
    pub fn for_plan(plan: &RunPlan, scenario_hash: String) -> Self {
        let shard = (!plan.shard.is_whole()).then(|| ShardId {
            index: plan.shard.index() as u32,
            count: plan.shard.count() as u32,
        });
        let (method, load) = match &plan.workload {
            Workload::Requests(w) => (
                w.request.method.clone(),
                match &w.load {
                    Load::Open { profile, .. } => ViewLoad::Open {
                        start_rate: profile.start_rate,
                        stages: profile
                            .stages
                            .iter()
                            .map(|s| [s.duration.as_secs_f64(), s.target_rate])
                            .collect(),
                    },
                    Load::Closed { connections } => ViewLoad::Closed {
                        connections: connections.get(),
                    },
                    Load::Fleet { clients, every, .. } => ViewLoad::Fleet {
                        clients: clients.get(),
                        every_s: every.map(|d| d.as_secs_f64()),
                    },
                    // A replay's schedule is its file's (and refuses --shard).
                    _ => ViewLoad::Other,
                },
            ),
            Workload::Journeys(_) => ("GET".to_string(), ViewLoad::Other),
        };
        Hello {
            protocol: PROTOCOL_VERSION,
            shard,
            scenario_hash,
            method,
            url: plan.url().to_string(),
            load,
            duration_s: plan.stop.duration.map(|d| d.as_secs_f64()),
            clock_unix_ms: 0.0,
            start_at_unix_ms: plan.start_at.map(unix_ms),
            thresholds: plan.thresholds.iter().map(WireThreshold::of).collect(),
            abort_on_fail: plan.abort_on_fail,
        }
    }
}

/// The workers' loads summed: rates and stage rates add up when every worker is open
/// with the same stage durations, connections and clients add up; anything else is
/// shown as its first worker's kind with the counts summed where they exist.
fn summed(loads: &[&ViewLoad]) -> Load {
    let one = NonZeroUsize::MIN;
    let n = |v: usize| NonZeroUsize::new(v).unwrap_or(one);
    match loads.first() {
        Some(ViewLoad::Open { stages, .. })
            if loads.iter().all(|l| {
                matches!(l, ViewLoad::Open { stages: s, .. }
                    if s.len() == stages.len()
                        && s.iter().zip(stages).all(|(a, b)| a[0] == b[0]))
            }) =>
        {
            let mut profile = RateProfile {
                start_rate: 0.0,
                stages: stages
                    .iter()
                    .map(|s| Stage {
                        duration: Duration::from_secs_f64(s[0]),
                        target_rate: 0.0,
                    })
                    .collect(),
            };
            for l in loads {
                if let ViewLoad::Open { start_rate, stages } = l {
                    profile.start_rate += start_rate;
                    for (sum, s) in profile.stages.iter_mut().zip(stages) {
                        sum.target_rate += s[1];
                    }
                }
            }
            Load::Open {
                profile,
                arrival: Arrival::Uniform,
                max_connections: NonZeroUsize::new(stampede_plan::DEFAULT_CONNECTIONS.get())
                    .unwrap_or(one),
            }
        }
        Some(ViewLoad::Fleet { every_s, .. }) => Load::Fleet {
            clients: n(loads
                .iter()
                .map(|l| match l {
                    ViewLoad::Fleet { clients, .. } => *clients,
                    _ => 0,
                })
                .sum()),
            every: every_s.map(Duration::from_secs_f64),
            hold: None,
        },
        _ => Load::Closed {
            connections: n(loads
                .iter()
                .map(|l| match l {
                    ViewLoad::Closed { connections } => *connections,
                    _ => 0,
                })
                .sum::<usize>()
                .max(loads.len())),
        },
    }
}

/// The plan the coordinator's observers see. Its criteria are the coordinator's own
/// and the workers' (the board made sure every worker sent the same), each once; it
/// aborts on a failed criterion when the coordinator or the workers ask for it.
pub(crate) fn view_plan(
    hellos: &[&Hello],
    thresholds: &[ScopedThreshold],
    abort_on_fail: bool,
) -> Result<RunPlan, PlanError> {
    let first = hellos.first().copied();
    let mut criteria: Vec<ScopedThreshold> = thresholds.to_vec();
    // Every hello carries the same criteria (the board refused other ones, and any that
    // does not parse): the first worker's stand for all.
    for t in first.iter().flat_map(|h| &h.thresholds) {
        if let Ok(t) = t.parse() {
            if !criteria.contains(&t) {
                criteria.push(t);
            }
        }
    }
    let abort_on_fail = abort_on_fail || first.is_some_and(|h| h.abort_on_fail);
    let url = first.map_or("http://127.0.0.1/", |h| h.url.as_str());
    let loads: Vec<&ViewLoad> = hellos.iter().map(|h| &h.load).collect();
    let mut plan = RunPlan::builder(url)
        .request(RequestSpec {
            method: first.map_or_else(|| "GET".into(), |h| h.method.clone()),
            ..RequestSpec::default()
        })
        .load(summed(&loads))
        .abort_on_fail(abort_on_fail);
    let longest = hellos
        .iter()
        .filter_map(|h| h.duration_s)
        .fold(0.0, f64::max);
    if longest > 0.0 {
        plan = plan.duration(Duration::from_secs_f64(longest));
    }
    for t in criteria {
        plan = plan.threshold(t);
    }
    plan.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_loads_sum_stage_by_stage() {
        let open = |r: f64| ViewLoad::Open {
            start_rate: r,
            stages: vec![[5.0, 2.0 * r]],
        };
        let (a, b) = (open(100.0), open(300.0));
        match summed(&[&a, &b]) {
            Load::Open { profile, .. } => {
                assert_eq!(profile.start_rate, 400.0);
                assert_eq!(profile.stages[0].target_rate, 800.0);
                assert_eq!(profile.stages[0].duration, Duration::from_secs(5));
            }
            other => panic!("{other:?}"),
        }
        let c = ViewLoad::Closed { connections: 7 };
        let d = ViewLoad::Closed { connections: 3 };
        assert!(
            matches!(summed(&[&c, &d]), Load::Closed { connections } if connections.get() == 10)
        );
    }
    /// The coordinator's criteria and the workers' make the plan's, each once; a worker's
    /// `abort_on_fail` makes the coordinator abort.
    #[test]
    fn criteria_of_coordinator_and_workers_are_judged_once() {
        let run = RunPlan::builder("http://127.0.0.1/")
            .threshold(ScopedThreshold::total(
                stampede_plan::Threshold::parse("p99 < 200ms").unwrap(),
            ))
            .threshold(ScopedThreshold {
                scope: stampede_plan::ThresholdScope::Group("s/page".into()),
                threshold: stampede_plan::Threshold::parse("error_rate < 1% over 5s").unwrap(),
            })
            .abort_on_fail(true)
            .build()
            .unwrap();
        let hello = Hello::for_plan(&run, "h".into());
        assert!(hello.abort_on_fail);
        let back: Vec<ScopedThreshold> = hello
            .thresholds
            .iter()
            .map(|t| t.parse().unwrap())
            .collect();
        assert_eq!(back, run.thresholds, "a criterion survives the wire");
        let own = [run.thresholds[0].clone()];
        let plan = view_plan(&[&hello, &hello], &own, false).unwrap();
        assert_eq!(plan.thresholds, run.thresholds, "each once");
        assert!(plan.abort_on_fail);
    }
}
