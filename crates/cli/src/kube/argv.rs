//! `stampede run`'s arguments split between the workers and the coordinator of a
//! distributed run: outputs and pass/fail criteria go to the coordinator (they are about
//! the merged whole), everything else to every worker.

/// Flags that belong to the coordinator, and whether each takes a value.
const COORDINATOR_FLAGS: &[(&str, bool)] = &[
    ("--out", true),
    ("-o", true),
    ("--html", true),
    ("--threshold", true),
    ("--abort-on-fail", false),
    ("--prometheus-listen", true),
    ("--prometheus-hold", true),
    ("--server-metrics", true),
    ("--server-metric", true),
    ("--prometheus", true),
    ("--query", true),
];

/// Flags the generator sets itself (or that mean nothing in a pod), with the reason.
const REFUSED: &[(&str, &str)] = &[
    ("--shard", "the workers get --shard auto/N"),
    ("--start-at", "give stampede kubernetes --start-at"),
    (
        "--report-to",
        "the workers report to the coordinator's Service",
    ),
    (
        "--watch-pid",
        "a worker pod cannot see the server's processes",
    ),
    (
        "--outage-log",
        "a worker pod cannot read a local stampede target's outage log",
    ),
];

/// Flags dropped from the workers' arguments: a pod has no terminal.
const DROPPED: &[&str] = &["-q", "--quiet", "--no-dashboard"];

/// Flags whose value is a local file that must travel in the ConfigMap.
pub(crate) const FILE_FLAGS: &[&str] = &["--body-file", "--cacert", "--cert", "--key"];

/// The run's arguments, split.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Split {
    /// For every worker, in the order given.
    pub worker: Vec<String>,
    /// For the coordinator: `(flag, value)`.
    pub coordinator: Vec<(String, Option<String>)>,
}

/// Splits `args` (what follows `stampede run`). An error names a flag that cannot be
/// given here and why.
pub(crate) fn split(args: &[String]) -> Result<Split, String> {
    let mut out = Split::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        i += 1;
        if arg == "--" {
            out.worker.extend(args[i - 1..].iter().cloned());
            break;
        }
        if let Some((_, why)) = REFUSED.iter().find(|(f, _)| *f == flag) {
            return Err(format!(
                "{flag} cannot be given to stampede kubernetes: {why}"
            ));
        }
        if DROPPED.contains(&flag) {
            continue;
        }
        match COORDINATOR_FLAGS.iter().find(|(f, _)| *f == flag) {
            Some((_, takes_value)) => {
                let value = match (takes_value, inline) {
                    (false, _) => None,
                    (true, Some(v)) => Some(v),
                    (true, None) => {
                        let v = args
                            .get(i)
                            .ok_or_else(|| format!("{flag} needs a value"))?
                            .clone();
                        i += 1;
                        Some(v)
                    }
                };
                out.coordinator.push((flag.to_string(), value));
            }
            None => out.worker.push(arg.clone()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn outputs_and_criteria_go_to_the_coordinator() {
        let s = split(&strings(&[
            "http://api/",
            "-r",
            "4000",
            "--threshold",
            "p99 < 200ms",
            "-q",
            "--out=all.json",
            "--abort-on-fail",
            "-d",
            "30s",
        ]))
        .unwrap();
        assert_eq!(
            s.worker,
            strings(&["http://api/", "-r", "4000", "-d", "30s"])
        );
        assert_eq!(
            s.coordinator,
            vec![
                ("--threshold".into(), Some("p99 < 200ms".into())),
                ("--out".into(), Some("all.json".into())),
                ("--abort-on-fail".into(), None),
            ]
        );
    }

    #[test]
    fn refused_and_incomplete() {
        let e = split(&strings(&["x.toml", "--shard", "0/2"])).unwrap_err();
        assert!(e.contains("--shard") && e.contains("auto/N"), "{e}");
        let e = split(&strings(&["x.toml", "--start-at=+1m"])).unwrap_err();
        assert!(e.contains("--start-at"), "{e}");
        assert!(split(&strings(&["x.toml", "--html"]))
            .unwrap_err()
            .contains("--html needs a value"));
    }
}
