//! `unsigned-module`: a remote module, fetched and verified against yoe.lock, that carries
//! no valid signature by a key the project trusts. Reads the verified module tree in the
//! cache (the signature file) and the project's `trusted_keys`; runs nothing.
use super::super::inputs::{ModuleStatus, call_label};
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding, Severity};
use super::rule;
use crate::module::signature::{SignatureState, TrustedKeys, check};
use crate::module::source::lock_entry;

rule!(
    "unsigned-module",
    ModulesAndTrust,
    Medium,
    High,
    Regular,
    Cache,
    "a remote module has no valid signature by a key the project trusts"
);

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        let Some(model) = &cx.model else { return };
        // Without a lock no remote module is fetched, so none is audited here.
        let Some(lock) = cx.lockfile() else { return };
        // Keys that do not parse make every load fail with their own error; none is trusted here.
        let keys = TrustedKeys::parse(&cx.inputs.root, &model.loaded.project.decl.trusted_keys).unwrap_or_default();
        for m in &cx.inputs.modules {
            let Some(url) = m.url.as_deref().filter(|u| !u.is_empty()) else { continue };
            let ModuleStatus::Found(dir) = &m.status else { continue };
            if m.local.as_deref().is_some_and(|l| !l.is_empty()) {
                continue;
            }
            let Ok((_, entry)) = lock_entry(Some(lock), &m.as_ref()) else { continue };
            let state = check(dir, &entry.tree, &keys);
            if matches!(state, SignatureState::Trusted { .. }) {
                continue;
            }
            let f = &cx.inputs.files[m.file];
            let call = &f.tree.calls[m.call];
            let span = f.span(call.callee_span.clone(), state.word()).with_call(call_label(call));
            let no_keys = if keys.is_empty() { " (the project trusts no key: project(trusted_keys=[]))" } else { "" };
            let mut finding = cx.finding(
                &META,
                span,
                format!("module({})", m.name),
                format!("module {:?} ({url} @ {}) is {}{no_keys}", m.name, entry.commit, state.describe()),
                "ask the module's maintainers to sign its tree (`yoe module sign` or minisign) and add their \
                 public key to project(trusted_keys=[...]); --paranoid refuses unsigned modules",
            );
            if cx.opts.paranoid || matches!(state, SignatureState::Bad { .. }) {
                finding.severity = Severity::High;
            }
            out.push(finding);
        }
    }
}
