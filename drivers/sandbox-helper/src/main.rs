//! The `yoe-sandbox-helper` binary: exec'ed by bwrap inside the sandbox; see the library.
fn main() -> std::process::ExitCode {
    yoe_sandbox_helper::helper::run(std::env::args_os().skip(1).collect())
}
