//! `stampede init [FILE]`: write a commented example scenario file.

use std::io::Write;

use anyhow::Context;
use stampede_scenario::EXAMPLE;

use crate::args::InitArgs;
use crate::{UsageError, EXIT_OK};

/// Writes [`EXAMPLE`] to the file; an existing file is kept unless `--force`.
pub(crate) fn run(args: InitArgs) -> anyhow::Result<u8> {
    let path = &args.file;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if args.force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut f = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(UsageError(format!(
                "{} already exists; pass --force to overwrite it",
                path.display()
            ))
            .into());
        }
        Err(e) => return Err(UsageError(format!("cannot create {}: {e}", path.display())).into()),
    };
    // The example's comments name the file they are in.
    let example = EXAMPLE.replace("stampede.toml", &path.display().to_string());
    f.write_all(example.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    println!("next: `stampede target` in another terminal, then");
    println!(
        "      stampede check {p} && stampede run {p}",
        p = path.display()
    );
    Ok(EXIT_OK)
}
