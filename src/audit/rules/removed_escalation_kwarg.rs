//! `removed-escalation-kwarg`: `run(..., host=True)` / `run(..., privileged=True)` anywhere
//! (classes included), and units of the `container` class (a host `docker build`). yoe
//! refuses all of them; the audit reports every occurrence, not just the first.
use super::super::ast::Val;
use super::super::registry::{Rule, RuleMeta};
use super::super::{Confidence, Context, Finding};
use super::rule;

rule!(
    "removed-escalation-kwarg",
    Steps,
    High,
    High,
    Regular,
    Static,
    "run(host=True) or run(privileged=True), or a container-class unit (host docker build)"
);

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for f in &cx.inputs.files {
            let mut counts = std::collections::HashMap::<String, usize>::new();
            for c in f.tree.calls.iter().filter(|c| c.callee == "run") {
                let def = c.def.clone().unwrap_or_else(|| "<top>".into());
                let n = counts.entry(def.clone()).or_default();
                let k = *n;
                *n += 1;
                for kw in ["privileged", "host"] {
                    let Some(arg) = c.kwarg(kw) else { continue };
                    let (confidence, how) = match &arg.value.val {
                        Val::Bool(true) => (Confidence::High, ""),
                        Val::Dynamic => (Confidence::Medium, " (computed: it may be True at build time)"),
                        _ => continue,
                    };
                    let what = if kw == "host" {
                        "runs the command on the build host, outside any sandbox"
                    } else {
                        "runs the command as root in a privileged container"
                    };
                    let span = f.span(arg.span.clone(), "refused by yoe").with_call("run").with_field(kw);
                    out.push(
                        cx.finding(
                            &META,
                            span,
                            format!("file({}).def({def}).run[{k}].{kw}", f.rel.display()),
                            format!("run({kw}=True){how} {what}; yoe refuses to load this file"),
                            if kw == "host" {
                                "drop host=True: run the command as a sandboxed step of a unit"
                            } else {
                                "drop privileged=True: images, filesystems and ownership are produced by yoe's drivers from a manifest"
                            },
                        )
                        .confidence(confidence),
                    );
                }
            }
        }
        for u in cx.units.iter().filter(|u| u.fields.unit_class == "container") {
            out.push(cx.finding(
                &META,
                u.field_span(&cx.inputs, "unit_class", "container class"),
                format!("{}.unit_class", u.route()),
                format!(
                    "unit {:?} is of class \"container\": Go yoe builds it with docker on the host (run(host=True))",
                    u.name
                ),
                "declare the toolchain as a unit whose output is a root filesystem, built in the sandbox",
            ));
        }
    }
}
