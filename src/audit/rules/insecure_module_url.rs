//! `insecure-module-url`: a module fetched over `http://` or `git://`.
use super::super::inputs::call_label;
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding};
use super::rule;

rule!("insecure-module-url", ModulesAndTrust, High, High, Regular, Static, "a module URL uses http:// or git://");

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for m in &cx.inputs.modules {
            let Some(url) = m.url.as_deref() else { continue };
            if !(url.starts_with("http://") || url.starts_with("git://")) {
                continue;
            }
            let f = &cx.inputs.files[m.file];
            let call = &f.tree.calls[m.call];
            let bytes = call
                .positional(0)
                .map(|a| a.span.clone())
                .or_else(|| call.kwarg("url").map(|a| a.span.clone()))
                .unwrap_or_else(|| call.callee_span.clone());
            let span = f.span(bytes, "no transport security").with_call(call_label(call)).with_field("url");
            out.push(cx.finding(
                &META,
                span,
                format!("module({}).url", m.name),
                format!("module URL {url} has no transport security: anyone on the path can change what is fetched"),
                "use an https:// (or ssh) URL, and pin the module by commit",
            ));
        }
    }
}
