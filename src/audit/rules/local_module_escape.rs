//! `local-module-escape`: a `local=` (or `path=`) module directory outside its root.
use super::super::inputs::{ModuleStatus, call_label};
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding};
use super::rule;

rule!(
    "local-module-escape",
    ModulesAndTrust,
    Medium,
    High,
    Regular,
    Static,
    "a local= module resolves outside the project root"
);

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for m in &cx.inputs.modules {
            let ModuleStatus::Escapes(why) = &m.status else { continue };
            let f = &cx.inputs.files[m.file];
            let call = &f.tree.calls[m.call];
            let field = if m.local.as_deref().is_some_and(|l| !l.is_empty()) { "local" } else { "path" };
            let span = f.arg_span(call, field, "escapes the root").with_call(call_label(call));
            out.push(cx.finding(
                &META,
                span,
                format!("module({}).{field}", m.name),
                format!("module {:?}: {field}={why}, outside the root it must stay in", m.name),
                "vendor the module inside the project (e.g. local = \"modules/<name>\") or declare it by url and commit",
            ));
        }
    }
}
