//! `module-lock-mismatch`: a remote module that yoe.lock does not pin, or pins to another
//! commit or ref than its declaration. Reads yoe.lock (strictly, as a load does); fires only
//! when the project has one (without one, every load fails and `unpinned-module` applies).
use super::super::inputs::call_label;
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding};
use super::rule;
use crate::audit::finding::Origin;
use crate::module::source::lock_entry;

rule!(
    "module-lock-mismatch",
    ModulesAndTrust,
    High,
    High,
    Regular,
    Static,
    "a remote module is missing from yoe.lock, or locked to another commit or ref"
);

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        let Some(lock) = cx.lockfile() else { return };
        let in_project = |m: &&super::super::inputs::ModuleDecl| cx.inputs.files[m.file].origin == Origin::Project;
        let project_names: Vec<&str> = cx.inputs.modules.iter().filter(in_project).map(|m| m.name.as_str()).collect();
        for m in &cx.inputs.modules {
            if m.url.as_deref().is_none_or(str::is_empty) {
                continue;
            }
            if m.dynamic || m.local.as_deref().is_some_and(|l| !l.is_empty()) {
                continue;
            }
            // A transitive declaration that the project overrides is not what gets locked.
            if !in_project(&m) && project_names.contains(&m.name.as_str()) {
                continue;
            }
            let Err(why) = lock_entry(Some(lock), &m.as_ref()) else { continue };
            let f = &cx.inputs.files[m.file];
            let call = &f.tree.calls[m.call];
            let span = f.span(call.callee_span.clone(), "not what yoe.lock pins").with_call(call_label(call));
            out.push(cx.finding(
                &META,
                span,
                format!("module({})", m.name),
                why,
                "run `yoe module lock`, review the change it prints, and commit yoe.lock",
            ));
        }
    }
}
