//! `load-label-escape`: a `load()` label that leaves its module or project root (by `..` or
//! through a symlink).
use std::path::{Path, PathBuf};

use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding, Origin};
use super::rule;
use crate::starlark::labels::normalize;

rule!(
    "load-label-escape",
    ModulesAndTrust,
    High,
    High,
    Regular,
    Static,
    "a load() label leaves its module or project root"
);

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for f in &cx.inputs.files {
            let Some(parsed) = &f.parsed else { continue };
            let own_root = root_of(cx, &f.origin);
            for load in parsed.loads() {
                let label = load.label.as_str();
                let (base, rel, root): (PathBuf, &str, PathBuf) = if let Some(rest) = label.strip_prefix('@') {
                    let Some((name, rel)) = rest.split_once("//") else { continue };
                    let Some(dir) = root_of(cx, &Origin::Module(name.to_string())) else { continue };
                    (dir.clone(), rel, dir)
                } else if let Some(rel) = label.strip_prefix("//") {
                    let Some(r) = own_root.clone() else { continue };
                    (r.clone(), rel, r)
                } else {
                    let Some(r) = own_root.clone() else { continue };
                    (f.path.parent().unwrap_or(Path::new("/")).to_path_buf(), label, r)
                };
                let joined = base.join(rel);
                let lexical = normalize(&joined);
                let why = if Path::new(rel).is_absolute() || !lexical.starts_with(&root) {
                    Some(format!("resolves to {}", lexical.display()))
                } else {
                    match joined.canonicalize() {
                        Ok(c) if !c.starts_with(&root) => {
                            Some(format!("resolves through a symlink to {}", c.display()))
                        }
                        _ => None,
                    }
                };
                let Some(why) = why else { continue };
                let span = f.span(load.span.clone(), "leaves its root").with_call("load").with_field("label");
                out.push(cx.finding(
                    &META,
                    span,
                    format!("file({}).load({label})", f.rel.display()),
                    format!("load({label:?}) {why}, outside the {} root {}", f.origin, root.display()),
                    "load only files of the same module (\"//classes/x.star\") or of a declared module (\"@core//classes/x.star\")",
                ));
            }
        }
    }
}

fn root_of(cx: &Context, origin: &Origin) -> Option<PathBuf> {
    cx.inputs.roots.iter().find(|(_, o)| o == origin).map(|(d, _)| d.clone())
}
