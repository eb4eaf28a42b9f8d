//! `unpinned-module`: a module declared by branch or tag (or nothing) instead of a commit.
use super::super::inputs::call_label;
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding};
use super::rule;
use crate::model::module::is_full_commit;

rule!(
    "unpinned-module",
    ModulesAndTrust,
    High,
    High,
    Regular,
    Static,
    "a module is declared by branch or tag (or nothing), not by a full commit"
);

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for m in &cx.inputs.modules {
            let Some(url) = m.url.as_deref().filter(|u| !u.is_empty()) else { continue };
            if m.commit.as_deref().is_some_and(is_full_commit) {
                continue;
            }
            let f = &cx.inputs.files[m.file];
            let call = &f.tree.calls[m.call];
            if call.kwarg("commit").is_some_and(|a| a.value.is_dynamic()) {
                continue;
            }
            let (field, what) = match (&m.commit, &m.git_ref) {
                (Some(c), _) => ("commit", format!("a short commit {c:?}")),
                (None, Some(r)) => ("ref", format!("ref {r:?}, a branch or tag that can move")),
                (None, None) => ("url", "nothing (the default branch)".to_string()),
            };
            let span = f.arg_span(call, field, "not a commit").with_call(call_label(call));
            out.push(cx.finding(
                &META,
                span,
                format!("module({}).commit", m.name),
                format!("module {url} is pinned by {what}"),
                "add commit = \"<40-hex commit id>\" (yoe module lock writes it); keep ref only as a note",
            ));
        }
    }
}
