//! Output files: checked before anything is sent (a one-hour soak must not lose its
//! result to a typo in `--out` discovered at the end), then written atomically; and the
//! Ctrl-C handling that ends a run so its result is still written.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use stampede_report::{render_html, RunResult};

use crate::args::OutputArgs;
use crate::UsageError;

/// Checks that `path` (given with `flag`) can be written: it is not a directory, and a file
/// can be created beside it (the directory exists and is writable). Nothing is left behind.
pub(crate) fn check_writable(flag: &str, path: &Path) -> Result<(), UsageError> {
    let fail = |why: String| UsageError(format!("{flag} {}: {why}", path.display()));
    if path.is_dir() {
        return Err(fail("is a directory".into()));
    }
    let probe = probe_path(path);
    match OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(file) => {
            drop(file);
            // Best effort: the probe is empty and named after the output.
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(fail(format!("cannot write there: {e}"))),
    }
}

/// A file name beside `path` that no one else uses.
fn probe_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".stampede-check-{}", std::process::id()));
    PathBuf::from(name)
}

/// Checks `--out` and every path of the shared output flags (`--html`).
pub(crate) fn check_run_outputs(out: Option<&Path>, output: &OutputArgs) -> Result<(), UsageError> {
    if let Some(path) = out {
        check_writable("--out", path)?;
    }
    if let Some(path) = &output.html {
        check_writable("--html", path)?;
    }
    Ok(())
}

/// Writes `text` to a temporary file beside `path`, then renames it into place.
pub(crate) fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// Writes the HTML report of `result` to `path`.
pub(crate) fn write_html(path: &Path, result: &RunResult) -> anyhow::Result<()> {
    write_atomically(path, &render_html(result))
        .with_context(|| format!("writing the HTML report {}", path.display()))
}

/// Makes the first SIGINT/SIGTERM set `flag` (a run stops and reports what it
/// measured); a second one, with the flag already set, exits at once.
pub(crate) fn stop_on_signals(flag: &Arc<AtomicBool>) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::flag;
    for sig in [SIGINT, SIGTERM] {
        flag::register_conditional_shutdown(sig, 130, flag.clone())
            .context("installing the signal handler")?;
        flag::register(sig, flag.clone()).context("installing the signal handler")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writable_paths_pass_and_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        check_writable("--out", &path).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        // An existing file is fine: it will be replaced.
        std::fs::write(&path, "old").unwrap();
        check_writable("--out", &path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
    }

    #[test]
    fn missing_directories_and_directories_are_refused_naming_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let e = check_writable("--out", &dir.path().join("no/such/r.json")).unwrap_err();
        assert!(
            e.0.starts_with("--out ") && e.0.contains("cannot write"),
            "{e}"
        );
        let e = check_writable("--html", dir.path()).unwrap_err();
        assert!(
            e.0.starts_with("--html ") && e.0.ends_with("is a directory"),
            "{e}"
        );
    }
}
