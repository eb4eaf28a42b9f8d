//! `module-build-dir`: a module tree that ships `build/`, `repo/`, `cache/` or `destdir/`.
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding, Origin, Span};
use super::rule;

rule!(
    "module-build-dir",
    ModulesAndTrust,
    High,
    High,
    Regular,
    Cache,
    "a module tree contains build/, repo/, cache/ or destdir/"
);

const NAMES: &[&str] = &["build", "repo", "cache", "destdir"];

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for (dir, origin) in &cx.inputs.roots {
            let Origin::Module(name) = origin else { continue };
            let Ok(rd) = std::fs::read_dir(dir) else { continue };
            let mut found: Vec<_> = rd
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter(|e| NAMES.contains(&e.file_name().to_string_lossy().as_ref()))
                .map(|e| e.path())
                .collect();
            found.sort();
            for p in found {
                let rel = cx.inputs.rel(&p);
                let base = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                out.push(cx.finding(
                    &META,
                    Span::file(rel.clone(), "shipped by the module"),
                    format!("module({name}).tree({base}/)"),
                    format!("module {name:?} ships a {base}/ directory: build results are not reviewable and may be used instead of building"),
                    "remove the directory from the module repository (and add it to .gitignore); outputs are built, never shipped",
                ));
            }
        }
    }
}
