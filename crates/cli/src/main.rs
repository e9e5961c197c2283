//! The `stampede` binary: parse flags, run, exit with the documented code.

use std::process::ExitCode;

fn main() -> ExitCode {
    stampede::main_with_args(std::env::args_os())
}
