//! Writing result files and handling Ctrl-C: shared by the commands.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use stampede_report::{render_html, RunResult};

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
