//! `setuid-in-output`: a setuid or setgid file in a built destdir that is not listed in
//! `[[allow-setuid]] unit, path, sha256` (a wrong hash still fires).
use super::super::outputs::Kind;
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding, Origin, Span};
use super::rule;

rule!(
    "setuid-in-output",
    Outputs,
    High,
    High,
    Regular,
    Output,
    "a setuid or setgid file in a built output, not allow-listed with its sha256"
);

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for o in cx.outputs.iter().filter(|o| o.kind == Kind::File && o.mode & 0o6000 != 0) {
            let allowed: Vec<_> =
                cx.config.allow_setuid.iter().filter(|a| a.unit == o.unit && a.path == o.path).collect();
            let mut note = String::new();
            if !allowed.is_empty() {
                let actual = o.sha256().unwrap_or_default();
                if allowed.iter().any(|a| a.sha256.eq_ignore_ascii_case(&actual)) {
                    continue;
                }
                note = format!("; [[allow-setuid]] lists it with a different sha256 (the file's is {actual})");
            }
            let bits = match (o.mode & 0o4000 != 0, o.mode & 0o2000 != 0) {
                (true, true) => "setuid and setgid",
                (true, false) => "setuid",
                _ => "setgid",
            };
            let mut f = cx.finding(
                &META,
                Span::file(cx.inputs.rel(&o.abs), format!("mode {:04o}", o.mode)),
                format!("output({}){}", o.unit, o.path),
                format!("unit {:?} installs {} {bits} (mode {:04o}){note}", o.unit, o.path, o.mode),
                "drop the bit in the unit's steps, or list the file in yoe-audit.toml as [[allow-setuid]] unit, path, sha256",
            );
            f.origin = Origin::Output;
            out.push(f);
        }
    }
}
