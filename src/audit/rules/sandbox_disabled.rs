//! `sandbox-disabled`: `sandbox=False`, set on a unit or by its class.
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding};
use super::rule;

rule!("sandbox-disabled", Steps, High, High, Regular, Static, "sandbox=False is set on a unit or by its class");

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for u in cx.units.iter().filter(|u| u.fields.sandbox == Some(false)) {
            let mut finding = cx.finding(
                &META,
                u.field_span(&cx.inputs, "sandbox", "sandbox disabled"),
                format!("{}.sandbox", u.route()),
                format!(
                    "unit {:?} asks to run its steps without a sandbox (Go yoe runs them on the host); yoe sandboxes them anyway, so the unit was written for host access it will not get",
                    u.name
                ),
                "remove sandbox=False; if the unit needs network or host files, fetch them as sources with hashes",
            );
            finding.secondary.extend(u.frames.iter().cloned());
            out.push(finding);
        }
    }
}
