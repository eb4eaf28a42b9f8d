//! `weak-source-hash`: only a SHA-1 based `apk_checksum` (or an md5/sha1 field) checks a source.
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding};
use super::rule;

rule!(
    "weak-source-hash",
    Sources,
    Medium,
    High,
    Regular,
    Static,
    "apk_checksum (SHA-1) is the only integrity check, or an md5/sha1 field is used"
);

const WEAK: &[&str] = &["md5", "sha1", "md5sum", "sha1sum"];

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for u in &cx.units {
            let f = &u.fields;
            if f.sha256.is_empty() && !f.apk_checksum.is_empty() {
                out.push(cx.finding(
                    &META,
                    u.field_span(&cx.inputs, "apk_checksum", "SHA-1 only"),
                    format!("{}.apk_checksum", u.route()),
                    format!("unit {:?} is checked only by apk_checksum, a SHA-1 of the control stream; SHA-1 collisions are practical", u.name),
                    "add sha256 = \"<hex of the whole file>\"",
                ));
            }
            for k in WEAK.iter().filter(|k| f.extra.contains_key(**k)) {
                out.push(cx.finding(
                    &META,
                    u.field_span(&cx.inputs, k, "weak hash"),
                    format!("{}.{k}", u.route()),
                    format!("unit {:?} sets {k}, a broken hash that yoe does not check", u.name),
                    "replace it with sha256 = \"<hex>\"",
                ));
            }
        }
    }
}
