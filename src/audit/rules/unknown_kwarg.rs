//! `unknown-kwarg`: a kwarg that Go yoe silently ignored: unknown on `project()`,
//! `machine()`, `module()` and friends (yoe refuses those), or a near-miss of a unit field
//! (`sha265`, `commmit`) that would land in `extra` and leave the real field unset.
use super::super::inputs::call_label;
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding};
use super::rule;
use crate::model::fields::suggest;
use crate::model::machine::{KERNEL_FIELDS, MACHINE_FIELDS, PARTITION_FIELDS, QEMU_FIELDS};
use crate::model::module::MODULE_FIELDS;
use crate::model::project::{CACHE_FIELDS, DEFAULTS_FIELDS, LOCAL_FIELDS, PROJECT_FIELDS};
use crate::model::unit::UNIT_FIELDS;

rule!(
    "unknown-kwarg",
    ProjectAndMeta,
    Medium,
    Medium,
    Regular,
    Static,
    "an unknown kwarg on project/machine/module (ignored by Go yoe), or a near-miss of a unit field"
);

const STRICT: &[(&str, &[&str])] = &[
    ("project", PROJECT_FIELDS),
    ("machine", MACHINE_FIELDS),
    ("module", MODULE_FIELDS),
    ("defaults", DEFAULTS_FIELDS),
    ("cache", CACHE_FIELDS),
    ("kernel", KERNEL_FIELDS),
    ("partition", PARTITION_FIELDS),
    ("qemu_config", QEMU_FIELDS),
    ("module_info", &["name", "description", "deps"]),
    ("local", LOCAL_FIELDS),
];

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for f in &cx.inputs.files {
            for c in &f.tree.calls {
                let name = c.callee.as_str();
                let strict = STRICT.iter().find(|(n, _)| *n == name).map(|(_, k)| *k);
                let unit = name == "unit" || name == "image";
                if strict.is_none() && !unit {
                    continue;
                }
                let known = strict.unwrap_or(UNIT_FIELDS);
                for a in &c.args {
                    let Some(k) = a.name.as_deref().filter(|k| !matches!(*k, "*" | "**")) else { continue };
                    if known.contains(&k) || (unit && k == "unit_class") {
                        continue;
                    }
                    let hint = suggest(k, known);
                    if unit && hint.is_none() {
                        continue; // an ordinary `extra` kwarg
                    }
                    let hint_text = hint.map(|h| format!(" (did you mean `{h}`?)")).unwrap_or_default();
                    let effect = if unit {
                        format!("it goes to `extra` and `{}` stays unset", hint.unwrap_or(""))
                    } else {
                        "Go yoe silently ignores it and yoe refuses to load it".to_string()
                    };
                    out.push(cx.finding(
                        &META,
                        f.span(a.span.clone(), "unknown field").with_call(call_label(c)).with_field(k),
                        format!("file({}).{}.{k}", f.rel.display(), call_label(c)),
                        format!("{}: unknown field `{k}`{hint_text}: {effect}", call_label(c)),
                        match hint {
                            Some(h) => format!("rename it to `{h}`"),
                            None => format!("remove it; known fields: {}", known.join(", ")),
                        },
                    ));
                }
            }
        }
        // Near-misses that reached unit() through a class (model units only).
        for u in cx.units.iter().filter(|u| u.from_model && u.callee != "unit" && u.callee != "image") {
            for k in u.fields.extra.keys() {
                let Some(h) = suggest(k, UNIT_FIELDS) else { continue };
                let file = &cx.inputs.files[u.file];
                let Some(call) = u.call.map(|c| &file.tree.calls[c]) else { continue };
                if call.kwarg(k).is_none() {
                    continue;
                }
                out.push(cx.finding(
                    &META,
                    u.field_span(&cx.inputs, k, "unknown field"),
                    format!("{}.{k}", u.route()),
                    format!("unit {:?}: unknown field `{k}` (did you mean `{h}`?): it goes to `extra` and `{h}` stays unset", u.name),
                    format!("rename it to `{h}`"),
                ));
            }
        }
    }
}
