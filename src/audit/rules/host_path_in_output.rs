//! `host-path-in-output`: a built file that embeds the build host's project path (a
//! reproducibility leak and a hint of host paths baked into the target).
use super::super::outputs::Kind;
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding, Origin, Span};
use super::rule;

rule!(
    "host-path-in-output",
    Outputs,
    Low,
    Medium,
    Auditor,
    Output,
    "a built file contains the build host's project or build path"
);

/// Files larger than this are not searched.
const MAX_BYTES: u64 = 64 << 20;

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        let mut needles: Vec<Vec<u8>> = vec![cx.inputs.root.as_os_str().as_encoded_bytes().to_vec()];
        if let Some(o) = &cx.opts.outputs
            && let Ok(c) = o.canonicalize()
        {
            needles.push(c.as_os_str().as_encoded_bytes().to_vec());
        }
        needles.retain(|n| n.len() > 4);
        for o in cx.outputs.iter().filter(|o| o.kind == Kind::File && o.size <= MAX_BYTES) {
            // Opened beneath the destdir's fd: never a symlink, never a fifo (which would hang).
            let Ok(data) = o.read(MAX_BYTES) else { continue };
            let Some(n) = needles.iter().find(|n| data.windows(n.len()).any(|w| w == n.as_slice())) else { continue };
            let mut f = cx.finding(
                &META,
                Span::file(cx.inputs.rel(&o.abs), "embeds a host path"),
                format!("output({}){}", o.unit, o.path),
                format!("{} of unit {:?} contains the host path {}", o.path, o.unit, String::from_utf8_lossy(n)),
                "build with -ffile-prefix-map=$SRCDIR=. (or the tool's equivalent) so outputs do not depend on where they were built",
            );
            f.origin = Origin::Output;
            out.push(f);
        }
    }
}
