//! `yoe doctor`: every sandbox layer with its state and what to do; non-zero when a
//! required layer is missing (a build would refuse to start).
use super::{Global, exit, output};

pub fn run(g: &Global) -> anyhow::Result<u8> {
    let report = crate::sandbox::doctor_report();
    if g.json {
        output::json(&report)?;
    } else {
        for line in report.to_string().lines() {
            output::line(line);
        }
    }
    Ok(if report.missing_required() { exit::FAILURE } else { exit::OK })
}
