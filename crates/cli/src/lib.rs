//! The `stampede` command line: clap subcommands wired to the experiment layer (a run
//! as a library call), the built-in target and the reports. Kept thin: it parses flags,
//! picks observers, prints, and maps verdicts to exit codes; every decision of
//! substance lives in a library crate.
//!
//! Exit codes: 0 ok, 1 thresholds failed, 2 bad usage or input, 3 run aborted.
#![deny(missing_docs)]

mod args;
mod capacity_cmd;
mod check_cmd;
mod coordinator_cmd;
mod demo;
mod fault_cmd;
mod forecast_args;
mod forecast_cmd;
mod init_cmd;
mod kube;
mod matrix_cmd;
mod merge_cmd;
mod outage_log;
mod outputs;
mod proxy_cmd;
mod replay_cmd;
mod report_cmd;
mod report_to;
mod request_args;
mod run_cmd;
mod run_flags;
mod scale_cmd;
mod scenario_cmd;
mod target_cmd;
mod usl_cmd;
mod value_parsers;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

pub use args::{Cli, Command, RunArgs, TargetArgs, UslArgs};
pub use proxy_cmd::ProxyArgs;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: a threshold failed.
pub const EXIT_THRESHOLD: u8 = 1;
/// Exit code: bad usage or input.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the run was aborted.
pub const EXIT_ABORTED: u8 = 3;

/// Parses `args` (program name first) and runs the command.
pub fn main_with_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(
                e.downcast_ref::<UsageError>()
                    .map_or(EXIT_ABORTED, |_| EXIT_USAGE),
            )
        }
    }
}

/// Bad usage or input detected after flag parsing (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Runs a parsed command and returns its exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Run(a) => run_cmd::run(*a),
        Command::Target(a) => target_cmd::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Report(a) => report_cmd::report(a),
        Command::Compare(a) => report_cmd::compare(a),
        Command::Merge(a) => merge_cmd::run(a),
        Command::Kubernetes(a) => kube::run(*a),
        Command::Matrix(a) => matrix_cmd::run(*a),
        Command::Check(a) => check_cmd::run(a),
        Command::Init(a) => init_cmd::run(a),
        Command::Scale(a) => scale_cmd::run(*a),
        Command::Plan(a) => forecast_cmd::run(*a),
        Command::Capacity(a) => capacity_cmd::run(*a),
        Command::Usl(a) => usl_cmd::run(a),
        Command::Coordinator(a) => coordinator_cmd::run(*a),
        Command::Replay(a) => replay_cmd::run(*a),
        Command::Proxy(a) => proxy_cmd::run(*a),
    }
}
