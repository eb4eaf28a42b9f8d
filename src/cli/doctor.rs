//! `yoe doctor`: every sandbox layer with its state and what to do; non-zero when a
//! required layer is missing (a build would refuse to start).
use super::{Global, exit, output};

pub fn run(g: &Global) -> anyhow::Result<u8> {
    let report = crate::sandbox::doctor_report();
    if g.json {
        super::json::print(super::json::schema::DOCTOR, &report)?;
    } else {
        for line in report.to_string().lines() {
            output::line(line);
        }
    }
    let mut failed = report.missing_required();
    if g.paranoid {
        for r in crate::paranoid::refusals(&crate::paranoid::Request { sandbox: Some(&report), ..Default::default() }) {
            output::status(&r.to_string());
            failed = true;
        }
    }
    Ok(if failed { exit::FAILURE } else { exit::OK })
}
