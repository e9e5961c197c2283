//! The generator's self-check names the cause of its warnings (issue 9, defect b):
//! CPU taken by other processes is `cpu_contention`, its own overload is
//! `generator_saturated`, and a lag that does not matter against the latency is no
//! warning. Runs against the built-in test server on 127.0.0.1.

mod support;

use std::process::{Child, Command};
use std::time::Duration;

use stampede_analysis::{WarningCause, WarningKind};
use stampede_experiment::{start, Finished};
use stampede_plan::RunPlan;
use support::{open_plan, open_plan_with, testserver, url_of};

/// Pins the calling thread (and the threads it starts later) to `cpu`.
fn pin_this_thread(cpu: usize) {
    let tid = std::fs::read_link("/proc/thread-self").unwrap();
    let tid = tid.file_name().unwrap().to_str().unwrap().to_string();
    let ok = Command::new("taskset")
        .args(["-p", "-c", &cpu.to_string(), &tid])
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "taskset failed");
}

/// Busy loops pinned to `cpu` that end by themselves after `secs`, and are killed (by
/// their PID: `taskset` execs bash) on drop.
struct Hogs(Vec<Child>);

impl Hogs {
    fn start(cpu: usize, n: usize, secs: u64) -> Hogs {
        let script = format!("while [ $SECONDS -lt {secs} ]; do :; done");
        Hogs(
            (0..n)
                .map(|_| {
                    Command::new("taskset")
                        .args(["-c", &cpu.to_string(), "bash", "-c", &script])
                        .spawn()
                        .unwrap()
                })
                .collect(),
        )
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs `plan` with one worker thread on the last CPU.
fn run_pinned(mut plan: RunPlan) -> Finished {
    plan.threads = std::num::NonZeroUsize::MIN;
    // Workers start from the run thread, which starts from this one: all on the last
    // CPU, where the hogs are.
    let finished = std::thread::scope(|s| {
        s.spawn(|| {
            pin_this_thread(last_cpu());
            start(plan, Vec::new()).wait().unwrap()
        })
        .join()
        .unwrap()
    });
    finished
}

fn last_cpu() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()) - 1
}

fn describe(f: &Finished) -> String {
    format!(
        "warnings {:?}\ncontention {:?}\nlag {:?} latency p99 {} busy {:?} late {} of {}",
        f.result.generator.warnings,
        f.contention,
        f.result.generator.schedule_lag_ms,
        f.result.summary.core.latency_ms.p99,
        f.result.generator.worker_busy,
        f.result.summary.late_sends,
        f.result.generator.sends
    )
}

#[test]
fn cpu_hogs_on_the_generators_core_are_cpu_contention() {
    let target = testserver();
    let f = {
        let _hogs = Hogs::start(last_cpu(), 2, 20);
        run_pinned(open_plan(&url_of(&target, "/"), 1000.0, 4))
    };
    eprintln!("{}", describe(&f));
    let late = f
        .result
        .generator
        .warnings
        .iter()
        .find(|w| matches!(w.kind, WarningKind::LateSends { .. }))
        .unwrap_or_else(|| panic!("late sends expected: {}", describe(&f)));
    assert_eq!(late.cause, WarningCause::CpuContention, "{}", describe(&f));
    let text = late.explain();
    assert!(text.contains("CPU contention"), "{text}");
    assert!(text.contains("of latency p99"), "{text}");
    target.shutdown();
}

#[test]
fn a_single_thread_asked_for_too_much_is_generator_saturated() {
    let target = testserver();
    let mut plan = open_plan_with(&url_of(&target, "/"), 200_000.0, 3, 2000);
    plan.threads = std::num::NonZeroUsize::MIN;
    let f = start(plan, Vec::new()).wait().unwrap();
    eprintln!("{}", describe(&f));
    let w = &f.result.generator.warnings;
    assert!(
        w.iter().any(|w| matches!(
            w.kind,
            WarningKind::CpuSaturated { .. } | WarningKind::Dropped { .. }
        )),
        "{}",
        describe(&f)
    );
    for w in w {
        assert_eq!(
            w.cause,
            WarningCause::GeneratorSaturated,
            "{}",
            describe(&f)
        );
    }
    target.shutdown();
}

/// The silent case: with 3 s responses, a send lag of a few percent of the latency is
/// shown on the generator line and is no warning; a larger one is a warning. Which of
/// the two a run on a shared machine gets varies; the rule between them must not.
#[test]
fn a_lag_negligible_against_the_latency_is_no_warning() {
    let target = testserver();
    let f = {
        let _hogs = Hogs::start(last_cpu(), 1, 20);
        let mut plan = open_plan(&url_of(&target, "/?delay=3s"), 100.0, 5);
        plan.timeout = Duration::from_secs(10);
        run_pinned(plan)
    };
    eprintln!("{}", describe(&f));
    assert!(
        f.result.summary.late_sends > 0,
        "hogs make sends late: {}",
        describe(&f)
    );
    let lag = f.result.generator.schedule_lag_ms.unwrap().p99;
    let latency = f.result.summary.core.latency_ms.p99;
    assert!(latency >= 3000.0, "{}", describe(&f));
    let share = lag / latency;
    let warned = f
        .result
        .generator
        .warnings
        .iter()
        .any(|w| matches!(w.kind, WarningKind::LateSends { .. }));
    assert_eq!(
        warned,
        share >= stampede_analysis::NEGLIGIBLE_LAG,
        "{}",
        describe(&f)
    );
    let table = stampede_report::render_table(&f.result);
    let line = table.lines().find(|l| l.starts_with("generator:")).unwrap();
    let shown = format!("({:.0}% of latency p99)", share * 100.0);
    assert!(line.contains(&shown), "{shown} in {table}");
    assert_eq!(table.contains("WARNING"), warned, "{table}");
    target.shutdown();
}
