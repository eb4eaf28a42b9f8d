//! `module-ships-commands`: `commands/*.star` (custom CLI verbs whose `ctx.shell()` runs on
//! the host, unsandboxed, in Go yoe). yoe refuses to load them.
use super::super::registry::{Rule, RuleMeta};
use super::super::{Context, Finding, Origin};
use super::rule;

rule!(
    "module-ships-commands",
    ModulesAndTrust,
    Medium,
    High,
    Regular,
    Static,
    "a module (or the project) ships commands/*.star, which run ctx.shell() on the host"
);

impl Rule for Check {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context, out: &mut Vec<Finding>) {
        for (dir, origin) in &cx.inputs.roots {
            let cmd_dir = dir.join("commands");
            for f in cx.inputs.files.iter().filter(|f| f.path.parent() == Some(cmd_dir.as_path())) {
                let primary = match f.tree.calls_named("command").next() {
                    Some((_, c)) => f.call_span(c, "a custom command"),
                    None => super::super::Span::file(f.rel.clone(), "a custom command file"),
                };
                let mut finding = cx.finding(
                    &META,
                    primary,
                    format!("{}.commands({})", super::module_binary_artifact::origin_route(origin), f.rel.display()),
                    format!(
                        "{} ships {}: custom commands run ctx.shell() on the host, outside any sandbox; yoe refuses to load them",
                        match origin {
                            Origin::Module(m) => format!("module {m:?}"),
                            _ => "the project".to_string(),
                        },
                        f.rel.display()
                    ),
                    "delete commands/; do the work in a unit's steps (sandboxed) or in a script outside the project",
                );
                for (_, c) in f.tree.calls_named("ctx.shell") {
                    finding = finding.secondary(f.call_span(c, "host command"));
                }
                out.push(finding);
            }
        }
    }
}
