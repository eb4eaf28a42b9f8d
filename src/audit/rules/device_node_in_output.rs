//! `device-node-in-output`: a device node, fifo or socket in a (non-image) package output.
use super::super::outputs::Kind;
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding, Origin, Span};
use super::rule;

rule!(
    "device-node-in-output",
    Outputs,
    Medium,
    High,
    Regular,
    Output,
    "a device node, fifo or socket in a package output"
);

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for o in &cx.outputs {
            let what = match o.kind {
                Kind::CharDevice => "character device",
                Kind::BlockDevice => "block device",
                Kind::Fifo => "fifo",
                Kind::Socket => "socket",
                _ => continue,
            };
            if cx.units.iter().any(|u| u.name == o.unit && u.fields.unit_class == "image") {
                continue;
            }
            let mut f = cx.finding(
                &META,
                Span::file(cx.inputs.rel(&o.abs), what),
                format!("output({}){}", o.unit, o.path),
                format!("unit {:?} installs a {what} at {}: packages should not create special files", o.unit, o.path),
                "create device nodes at boot (devtmpfs/mdev/udev) or list them in the image manifest",
            );
            f.origin = Origin::Output;
            out.push(f);
        }
    }
}
