//! `mirror-without-hash`: `mirrors=[...]` on a unit with no hash (every mirror must serve the
//! same bytes, which only a hash can say).
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding};
use super::rule;

rule!("mirror-without-hash", Sources, High, High, Regular, Static, "a unit lists mirrors but has no sha256");

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for u in &cx.units {
            let f = &u.fields;
            if u.partial || f.mirrors.is_empty() || !f.sha256.is_empty() || !f.apk_checksum.is_empty() {
                continue;
            }
            out.push(cx.finding(
                &META,
                u.field_span(&cx.inputs, "mirrors", "any of these may serve other bytes"),
                format!("{}.mirrors", u.route()),
                format!(
                    "unit {:?} lists {} mirror(s) and no sha256: each mirror may serve different bytes and none is checked",
                    u.name,
                    f.mirrors.len()
                ),
                "add sha256 = \"<hex>\": one hash shared by the source and every mirror",
            ));
        }
    }
}
