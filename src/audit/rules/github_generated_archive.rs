//! `github-generated-archive`: `github.com/<o>/<r>/archive/...` tarballs, generated on
//! demand and not promised to keep their checksum.
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding};
use super::rule;

rule!(
    "github-generated-archive",
    Sources,
    Low,
    Medium,
    Pedantic,
    Static,
    "a source is a GitHub auto-generated /archive/ tarball, whose checksum may change"
);

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for u in &cx.units {
            let f = &u.fields;
            let urls =
                std::iter::once(("source", f.source.as_str())).chain(f.mirrors.iter().map(|m| ("mirrors", m.as_str())));
            for (field, url) in urls {
                let Some(rest) = url.split_once("github.com/").map(|(_, r)| r) else { continue };
                if rest.split('/').nth(2) != Some("archive") {
                    continue;
                }
                out.push(cx.finding(
                    &META,
                    u.field_span(&cx.inputs, field, "generated on demand"),
                    format!("{}.{field}", u.route()),
                    format!("unit {:?} fetches a GitHub auto-generated archive ({url}); GitHub does not promise its bytes stay the same", u.name),
                    "use a release asset uploaded by the project, or a git source pinned by commit",
                ));
            }
        }
    }
}
