//! `world-writable-output`: a file, or a directory without the sticky bit, writable by
//! everyone in a built destdir.
use super::super::outputs::Kind;
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding, Origin, Span};
use super::rule;

rule!(
    "world-writable-output",
    Outputs,
    Medium,
    High,
    Regular,
    Output,
    "a world-writable file, or directory without the sticky bit, in a built output"
);

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for o in &cx.outputs {
            let bad = match o.kind {
                Kind::File => o.mode & 0o002 != 0,
                Kind::Dir => o.mode & 0o002 != 0 && o.mode & 0o1000 == 0,
                _ => false,
            };
            if !bad {
                continue;
            }
            let what = if o.kind == Kind::Dir { "directory (without the sticky bit)" } else { "file" };
            let mut f = cx.finding(
                &META,
                Span::file(cx.inputs.rel(&o.abs), format!("mode {:04o}", o.mode)),
                format!("output({}){}", o.unit, o.path),
                format!("unit {:?} installs the world-writable {what} {} (mode {:04o}): any user on the target can change it", o.unit, o.path, o.mode),
                "install it 0644/0755 (or 1777 for a shared temporary directory)",
            );
            f.origin = Origin::Output;
            out.push(f);
        }
    }
}
