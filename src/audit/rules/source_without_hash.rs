//! `source-without-hash`: a downloaded archive with neither `sha256` nor `apk_checksum`.
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding};
use super::{is_remote_archive, rule};

rule!(
    "source-without-hash",
    Sources,
    High,
    High,
    Regular,
    Static,
    "an http(s) source has neither sha256 nor apk_checksum"
);

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for u in &cx.units {
            let f = &u.fields;
            if u.partial || !is_remote_archive(&f.source) || !f.sha256.is_empty() || !f.apk_checksum.is_empty() {
                continue;
            }
            let mut finding = cx.finding(
                &META,
                u.field_span(&cx.inputs, "source", "no sha256 for this download"),
                format!("{}.source", u.route()),
                format!(
                    "unit {:?} downloads {} without a sha256: whatever the server returns is built",
                    u.name, f.source
                ),
                "add sha256 = \"<hex of the archive>\" (sha256sum of a download you checked)",
            );
            finding.secondary.extend(u.frames.iter().cloned());
            out.push(finding);
        }
    }
}
