//! `invalid-name`: a literal name that is not an identifier (`name = "../x"`, a machine
//! called `/root`, a dep with a newline). yoe refuses to load such a declaration; Go yoe
//! joined it verbatim onto host paths (`build/<name>.<scope>/`, `<dir>/<name>/`), so as root
//! it created, wiped and chowned directories outside the project, and a control character
//! in it reached terminals and forged lines of output. Static: reads literals only, so it
//! reports files the loader refused, too.
use super::super::ast::{Call, Node, Val};
use super::super::inputs::{SourceFile, call_label};
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding};
use super::rule;
use crate::model::unit::is_external_image;
use crate::model::{Ident, NameKind};

rule!(
    "invalid-name",
    ProjectAndMeta,
    High,
    High,
    Regular,
    Static,
    "a declared name that is not an identifier (a path, `..`, a control character)"
);

/// Name-bearing kwargs of the builtins: (callee, kwarg, what it names, is a list).
const BUILTIN_FIELDS: &[(&str, &str, NameKind, bool)] = &[
    ("project", "name", NameKind::Project, false),
    ("project", "version", NameKind::Version, false),
    ("defaults", "machine", NameKind::Machine, false),
    ("defaults", "image", NameKind::Unit, false),
    ("defaults", "distro", NameKind::Distro, false),
    ("local", "machine", NameKind::Machine, false),
    ("local", "image", NameKind::Unit, false),
    ("local", "default_distro_override", NameKind::Distro, false),
    ("machine", "name", NameKind::Machine, false),
    ("machine", "packages", NameKind::Reference, true),
    ("kernel", "unit", NameKind::Reference, false),
    ("kernel", "provides", NameKind::Reference, false),
    ("partition", "label", NameKind::PartitionLabel, false),
    ("task", "name", NameKind::Task, false),
    ("module_info", "name", NameKind::Module, false),
    ("alpine_feed", "name", NameKind::Feed, false),
    ("apt_feed", "name", NameKind::Feed, false),
];

/// Name-bearing kwargs of `unit()`, `image()` and of calls to classes that declare units.
const UNIT_FIELDS: &[(&str, NameKind, bool)] = &[
    ("name", NameKind::Unit, false),
    ("unit_class", NameKind::Class, false),
    ("version", NameKind::Version, false),
    ("distro", NameKind::Distro, false),
    ("container", NameKind::Reference, false),
    ("unbuildable_machine", NameKind::Machine, false),
    ("deps", NameKind::Reference, true),
    ("runtime_deps", NameKind::Reference, true),
    ("provides", NameKind::Reference, true),
    ("replaces", NameKind::Reference, true),
    ("artifacts", NameKind::Reference, true),
    ("artifacts_explicit", NameKind::Reference, true),
    ("exclude", NameKind::Reference, true),
    ("services", NameKind::Service, true),
];

/// Unit kwargs whose presence makes a call with `name=` look like a class call.
const UNITISH: &[&str] = &["source", "tasks", "sandbox", "container", "sha256", "version", "deps", "runtime_deps"];

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for f in &cx.inputs.files {
            for c in &f.tree.calls {
                for (kwarg, kind, list) in fields_of(c) {
                    let Some(arg) = c.kwarg(kwarg).or_else(|| positional_name(c, kwarg)) else { continue };
                    let values: Vec<&Node> = match (&arg.value.val, list) {
                        (Val::List(items), true) => items.iter().collect(),
                        (Val::Str(_), false) => vec![&arg.value],
                        _ => continue,
                    };
                    for (i, v) in values.into_iter().enumerate() {
                        let Some(s) = v.str() else { continue };
                        if kwarg == "container" && is_external_image(s) {
                            continue; // unpinned-container-image reports those
                        }
                        let Err(e) = Ident::new(kind, s) else { continue };
                        let field = if list { format!("{kwarg}[{i}]") } else { kwarg.to_string() };
                        out.push(finding(cx, f, c, v, &field, &e.to_string()));
                    }
                }
            }
        }
    }
}

fn finding(cx: &Context, f: &SourceFile, c: &Call, v: &Node, field: &str, why: &str) -> Finding {
    cx.finding(
        &META,
        f.span(v.span.clone(), "not a valid name").with_call(call_label(c)).with_field(field),
        format!("file({}).{}.{field}", f.rel.display(), call_label(c)),
        format!("{}: field `{field}`: {why}", call_label(c)),
        "rename it; yoe refuses to load a declaration whose name could become another path, \
         an option or a line of output",
    )
}

/// The name fields a call has, by what it calls.
fn fields_of(c: &Call) -> Vec<(&'static str, NameKind, bool)> {
    if let Some(fixed) = BUILTIN_FIELDS.iter().find(|(callee, ..)| *callee == c.callee) {
        return BUILTIN_FIELDS
            .iter()
            .filter(|(callee, ..)| *callee == fixed.0)
            .map(|(_, k, n, l)| (*k, *n, *l))
            .collect();
    }
    let declares_unit = c.callee == "unit"
        || c.callee == "image"
        || (c.kwarg("name").is_some()
            && c.args.iter().any(|a| a.name.as_deref().is_some_and(|n| UNITISH.contains(&n))));
    if declares_unit { UNIT_FIELDS.to_vec() } else { Vec::new() }
}

/// `task("build")` names its task positionally.
fn positional_name<'a>(c: &'a Call, kwarg: &str) -> Option<&'a super::super::ast::Arg> {
    (c.callee == "task" && kwarg == "name").then(|| c.positional(0)).flatten()
}
