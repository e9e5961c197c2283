//! `stampede kubernetes`: prints the manifests of a distributed run (see
//! `manifests.rs` for what they hold, README "Distributed runs" for the walk-through).
//!
//! The workers' shared time zero is fixed when the manifests are generated: an absolute
//! `--start-at` (default: two minutes from now) written into every worker's arguments,
//! so the pods of the Indexed Job start together however long they took to schedule
//! and pull the image; manifests applied after that instant must be generated again.

mod argv;
mod manifests;
mod yaml;

use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::Parser;
use stampede_plan::{parse_start_at, Shard};

use crate::args::{Cli, Command, KubernetesArgs, RunArgs, ShardArg};
use crate::UsageError;
use manifests::{ConfigFile, Resources, Spec, MOUNT, RESULTS};

/// A ConfigMap holds at most this much (Kubernetes' limit is 1 MiB for the object).
const CONFIG_MAP_LIMIT: usize = 1_000_000;

/// Margin of the Jobs' `activeDeadlineSeconds` beyond the lead time and the run.
const DEADLINE_MARGIN: Duration = Duration::from_secs(600);

/// How long the coordinator waits for the workers beyond the lead time.
const WAIT_MARGIN: Duration = Duration::from_secs(120);

fn usage(m: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(m.into()))
}

pub(crate) fn run(a: KubernetesArgs) -> anyhow::Result<u8> {
    print!("{}", render(&a, SystemTime::now())?);
    Ok(crate::EXIT_OK)
}

/// The manifests as one YAML stream, with a comment that says how to use them.
fn render(a: &KubernetesArgs, now: SystemTime) -> anyhow::Result<String> {
    check_name(&a.name)?;
    for (flag, q) in [
        ("--worker-cpu", &a.worker_cpu),
        ("--worker-memory", &a.worker_memory),
        ("--coordinator-cpu", &a.coordinator_cpu),
        ("--coordinator-memory", &a.coordinator_memory),
    ] {
        check_quantity(flag, q)?;
    }
    let at = parse_start_at(&a.start_at, now).map_err(|e| usage(e.to_string()))?;
    let lead = at.duration_since(now).unwrap_or_default();
    let at_text = humantime::format_rfc3339_millis(at).to_string();
    let split = argv::split(&a.run).map_err(usage)?;
    let local = parse_run(&split.worker)?;

    // The run must be valid for the smallest shard (the last one) before anything is
    // printed: a scenario file that does not parse, or too few users to deal, is an
    // error here rather than N failed pods.
    let mut last = local.clone();
    let n = a.workers as usize;
    let shard = Shard::new(n - 1, n).map_err(|e| usage(e.to_string()))?;
    last.shard = Some(ShardArg::Fixed(shard));
    let plan = match crate::scenario_cmd::is_scenario(&local.url) {
        true => crate::scenario_cmd::plan_from_file(&last)?,
        false => crate::run_cmd::plan_from_args(&last)?,
    };

    let mut files = Vec::new();
    let mut worker = split.worker.clone();
    if let Some(j) = plan.journeys() {
        let scenario = Path::new(&local.url);
        let dir = scenario.parent().unwrap_or(Path::new(""));
        let name = file_name(scenario)?;
        files.push(config_file(scenario, &name)?);
        for f in &j.files {
            let rel = relative(Path::new(&f.written)).ok_or_else(|| {
                usage(format!(
                    "{} refers to '{}', outside its directory: stampede kubernetes ships the \
                     scenario's directory only; use a path relative to the scenario file",
                    local.url, f.written
                ))
            })?;
            files.push(config_file(&dir.join(&rel), &rel)?);
        }
        replace_first(&mut worker, &local.url, format!("{MOUNT}/{name}"));
    }
    for i in 0..worker.len().saturating_sub(1) {
        if argv::FILE_FLAGS.contains(&worker[i].as_str()) {
            let path = PathBuf::from(&worker[i + 1]);
            let rel = format!("files/{}", file_name(&path)?);
            files.push(config_file(&path, &rel)?);
            worker[i + 1] = format!("{MOUNT}/{rel}");
        }
    }
    let size: usize = files.iter().map(|f| f.content.len() + f.key.len()).sum();
    if size > CONFIG_MAP_LIMIT {
        return Err(usage(format!(
            "the scenario and its files are {size} bytes; a ConfigMap holds about 1 MB: \
             build them into the image instead"
        )));
    }

    let port = a.port;
    let (coordinator_args, metrics_port) =
        coordinator_args(a, &split.coordinator, lead + WAIT_MARGIN)?;
    worker.insert(0, "run".into());
    let spec = Spec {
        worker_args: {
            worker.extend([
                "--shard".into(),
                format!("auto/{}", a.workers),
                "--start-at".into(),
                at_text.clone(),
                "--report-to".into(),
                format!("http://{}-coordinator:{port}", a.name),
                "-q".into(),
            ]);
            worker
        },
        coordinator_args,
        name: a.name.clone(),
        namespace: a.namespace.clone(),
        image: a.image.clone(),
        workers: n,
        port,
        metrics_port,
        worker_resources: Resources {
            cpu: a.worker_cpu.clone(),
            memory: a.worker_memory.clone(),
        },
        coordinator_resources: Resources {
            cpu: a.coordinator_cpu.clone(),
            memory: a.coordinator_memory.clone(),
        },
        spread: a.spread,
        files,
        results_pvc: a.results_pvc.clone(),
        deadline_s: (lead
            + plan.stop.duration.unwrap_or(Duration::from_secs(3600))
            + DEADLINE_MARGIN)
            .as_secs(),
    };
    let mut out = header(&spec, &at_text);
    for m in manifests::manifests(&spec) {
        out.push_str("---\n");
        out.push_str(&yaml::to_yaml(&m));
    }
    Ok(out)
}

/// Parses the workers' `stampede run` arguments as `stampede run` would.
fn parse_run(args: &[String]) -> anyhow::Result<RunArgs> {
    let argv = ["stampede", "run"]
        .into_iter()
        .map(String::from)
        .chain(args.iter().cloned());
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Command::Run(r),
        }) => Ok(*r),
        Ok(_) => unreachable!("parsed as run"),
        Err(e) => Err(usage(format!(
            "the run's arguments: {}",
            e.render().to_string().trim_end()
        ))),
    }
}

/// `stampede coordinator ...` and the Prometheus port it serves, if any.
fn coordinator_args(
    a: &KubernetesArgs,
    moved: &[(String, Option<String>)],
    wait: Duration,
) -> anyhow::Result<(Vec<String>, Option<u16>)> {
    let mut args: Vec<String> = vec![
        "coordinator".into(),
        "--listen".into(),
        format!("0.0.0.0:{}", a.port),
        "--workers".into(),
        a.workers.to_string(),
        "--wait".into(),
        format!("{}s", wait.as_secs()),
        "--no-dashboard".into(),
    ];
    let mut metrics = None;
    for (flag, value) in moved {
        let value = match (flag.as_str(), value) {
            ("--out" | "-o" | "--html", Some(v)) => {
                if a.results_pvc.is_none() {
                    return Err(usage(format!(
                        "{flag} {v}: the coordinator writes files to a volume; give \
                         --results-pvc CLAIM (its table is in `kubectl logs` either way)"
                    )));
                }
                Some(format!("{RESULTS}/{}", file_name(Path::new(v))?))
            }
            ("--prometheus-listen", Some(v)) => {
                let addr: std::net::SocketAddr = v
                    .parse()
                    .map_err(|_| usage(format!("--prometheus-listen '{v}' is not IP:PORT")))?;
                metrics = Some(addr.port());
                Some(format!("0.0.0.0:{}", addr.port()))
            }
            (_, v) => v.clone(),
        };
        args.push(flag.clone());
        args.extend(value);
    }
    Ok((args, metrics))
}

fn header(spec: &Spec, at: &str) -> String {
    let n = &spec.name;
    let mut h = format!(
        "# stampede kubernetes: {} workers (Indexed Job {n}-workers, --shard auto/{}) report to\n\
         # a coordinator (Job {n}-coordinator, Service {n}-coordinator:{}), which merges them.\n\
         # Every worker starts at {at} (--start-at, fixed now): apply before then.\n\
         #   kubectl apply -f THIS.yaml\n\
         #   kubectl logs -f job/{n}-coordinator   # live progress, then the merged table\n\
         #   kubectl wait --for=condition=complete job/{n}-coordinator --timeout={}s\n",
        spec.workers, spec.workers, spec.port, spec.deadline_s,
    );
    if let Some(claim) = &spec.results_pvc {
        h.push_str(&format!(
            "# The coordinator writes its files under {RESULTS} on the volume of claim {claim}.\n"
        ));
    }
    h.push_str(&format!(
        "#   kubectl delete job {n}-workers {n}-coordinator && kubectl delete service {n}-coordinator{}\n",
        match spec.files.is_empty() {
            true => String::new(),
            false => format!(" && kubectl delete configmap {n}-scenario"),
        }
    ));
    h
}

/// A DNS label short enough for `NAME-coordinator`.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    match ok {
        true => Ok(()),
        false => Err(usage(format!(
            "--name '{name}': lower-case letters, digits and '-', starting with a letter, \
             at most 40 characters (it names Kubernetes objects)"
        ))),
    }
}

/// A Kubernetes quantity such as `500m`, `2`, `1.5`, `512Mi`, `1G`.
fn check_quantity(flag: &str, q: &str) -> anyhow::Result<()> {
    let digits = q.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &q[digits.len()..];
    let number = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.parse::<f64>().is_ok_and(|v| v > 0.0);
    let suffixes = ["", "m", "k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti"];
    match number && suffixes.contains(&suffix) {
        true => Ok(()),
        false => Err(usage(format!(
            "{flag} '{q}' is not a Kubernetes quantity (e.g. 500m or 2 for CPU, 512Mi or 2Gi for memory)"
        ))),
    }
}

fn file_name(p: &Path) -> anyhow::Result<String> {
    p.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| usage(format!("'{}' has no file name", p.display())))
}

/// `p` as a relative path without `..`, with `/` separators; `None` if it leaves its
/// directory.
fn relative(p: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// The file at `path`, shipped at `rel` under the mount.
fn config_file(path: &Path, rel: &str) -> anyhow::Result<ConfigFile> {
    let content =
        std::fs::read(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
    // ConfigMap keys allow letters, digits, '-', '_' and '.'.
    let key = rel
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
            _ => '_',
        })
        .collect();
    Ok(ConfigFile {
        key,
        path: rel.to_string(),
        content,
    })
}

fn replace_first(args: &mut [String], old: &str, new: String) {
    if let Some(a) = args.iter_mut().find(|a| a.as_str() == old) {
        *a = new;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> KubernetesArgs {
        let mut argv = vec![
            "stampede",
            "kubernetes",
            "--workers",
            "4",
            "--image",
            "img:1",
        ];
        argv.extend(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Kubernetes(k) => *k,
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_url_run() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let a = args(&[
            "--start-at",
            "+90s",
            "http://api.internal/",
            "-r",
            "4000",
            "-d",
            "30s",
            "--threshold",
            "p99 < 200ms",
            "-q",
        ]);
        let y = render(&a, now).unwrap();
        assert!(y.contains("starts at 2027-01-15T08:01:30.000Z"), "{y}");
        assert!(y.contains("  - auto/4\n"), "{y}");
        assert!(y.contains("--report-to\"\n") && y.contains("http://stampede-coordinator:7070"));
        // The criterion is judged by the coordinator, not by each quarter.
        let coordinator = y.split("name: stampede-coordinator").nth(2).unwrap();
        assert!(coordinator.contains("p99 < 200ms"), "{y}");
        assert_eq!(y.matches("p99 < 200ms").count(), 1, "{y}");
        assert!(!y.contains("kind: ConfigMap"));
        // 90 s lead + 30 s run + 600 s.
        assert!(y.contains("activeDeadlineSeconds: 720"), "{y}");
    }

    #[test]
    fn refusals() {
        let now = SystemTime::now();
        let e = |extra: &[&str]| render(&args(extra), now).unwrap_err().to_string();
        assert!(e(&["http://x/", "-c", "2"]).contains("use at most 2 shards"));
        assert!(e(&["http://x/", "--out", "r.json"]).contains("--results-pvc"));
        assert!(e(&["--name", "Load", "http://x/"]).contains("--name 'Load'"));
        assert!(e(&["--worker-memory", "lots", "http://x/"]).contains("--worker-memory"));
        assert!(e(&["http://x/", "--bogus"]).contains("the run's arguments"));
        assert!(e(&["http://x/", "--shard", "0/4"]).contains("auto/N"));
        assert_eq!(
            relative(Path::new("./data/u.csv")).as_deref(),
            Some("data/u.csv")
        );
        assert_eq!(relative(Path::new("../u.csv")), None);
        assert_eq!(relative(Path::new("/etc/u.csv")), None);
    }
}
