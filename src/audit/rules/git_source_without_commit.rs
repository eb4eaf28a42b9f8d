//! `git-source-without-commit`: a git source named by tag or branch, with no commit.
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding};
use super::{is_git_url, rule};

rule!(
    "git-source-without-commit",
    Sources,
    High,
    High,
    Regular,
    Static,
    "a git source has a tag or branch but no commit (sha256 is ignored for git)"
);

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for u in &cx.units {
            let f = &u.fields;
            if u.partial || !is_git_url(&f.source) || !f.commit.is_empty() {
                continue;
            }
            let (field, what) = if !f.tag.is_empty() {
                ("tag", format!("tag {:?}", f.tag))
            } else if !f.branch.is_empty() {
                ("branch", format!("branch {:?}", f.branch))
            } else {
                ("source", "its default branch".to_string())
            };
            let hash_note = if f.sha256.is_empty() { "" } else { " (its sha256 is ignored for git sources)" };
            let mut finding = cx.finding(
                &META,
                u.field_span(&cx.inputs, field, "mutable reference"),
                format!("{}.commit", u.route()),
                format!("unit {:?} builds {} at {what}, which can be moved to other code{hash_note}", u.name, f.source),
                "add commit = \"<40-hex commit id>\"; keep the tag as a note",
            );
            finding.secondary.extend(u.frames.iter().cloned());
            out.push(finding);
        }
    }
}
