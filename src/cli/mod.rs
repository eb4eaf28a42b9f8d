//! Command-line entry point; owns argument parsing and exit codes.
use std::process::ExitCode;

pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
